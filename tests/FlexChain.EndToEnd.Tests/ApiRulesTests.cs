using System.Net;
using System.Text.Json.Nodes;

namespace FlexChain.EndToEnd.Tests;

/// <summary>Authentication, roles, sealed offers and input validation, over HTTP against the real stack.</summary>
[Collection(MarketCollection.Name)]
public sealed class ApiRulesTests(MarketFixture market)
{
    private readonly MarketClient _api = new(market.Client);

    private async Task<(Caller Dso, Caller CpoA, Caller CpoB, string Transformer, string StationA, string StationB, string Request)> MarketAsync()
    {
        var dso = await _api.RegisterAsync("Dso", "DSO", MarketFixture.RuleDsoKey);
        var cpoA = await _api.RegisterAsync("Cpo", "CPO A", MarketFixture.RuleCpoAKey);
        var cpoB = await _api.RegisterAsync("Cpo", "CPO B", MarketFixture.RuleCpoBKey);
        var transformer = await _api.TransformerAsync(dso);
        var stationA = await _api.StationAsync(cpoA, transformer);
        var stationB = await _api.StationAsync(cpoB, transformer);
        var now = market.Clock.GetUtcNow();
        var request = await _api.RequestAsync(dso, transformer, now.AddHours(1), now.AddHours(2));
        return (dso, cpoA, cpoB, transformer, stationA, stationB, request);
    }

    private static async Task<JsonNode> ProblemAsync(HttpResponseMessage response, HttpStatusCode status)
    {
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(status == response.StatusCode, $"expected {(int)status}, got {(int)response.StatusCode}: {text}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        return JsonNode.Parse(text)!;
    }

    private static object Offer(string station, decimal kwh = 5m, decimal price = 0.2m) =>
        new { stationIds = new[] { station }, energyKwh = kwh, priceEurPerKwh = price, divisible = true };

    [Fact]
    public async Task Get_WithoutApiKey_IsUnauthorizedProblem()
    {
        using var response = await market.Client.GetAsync("/v1/participants/me");
        await ProblemAsync(response, HttpStatusCode.Unauthorized);
    }

    [Fact]
    public async Task Get_WithForgedApiKey_IsUnauthorized()
    {
        var real = await _api.RegisterAsync("Cpo", "CPO", MarketFixture.RuleCpoAKey);
        var forged = real with { ApiKey = real.ApiKey[..^4] + "0000" };
        using var response = await _api.SendAsync(HttpMethod.Get, "/v1/participants/me", forged, null);
        await ProblemAsync(response, HttpStatusCode.Unauthorized);
        Assert.Equal(real.Id, (await _api.GetAsync("/v1/participants/me", real))["id"]!.GetValue<string>());
    }

    [Fact]
    public async Task PostOffer_AsDso_IsForbidden()
    {
        var m = await MarketAsync();
        using var response = await _api.SendAsync(HttpMethod.Post, $"/v1/requests/{m.Request}/offers", m.Dso, Offer(m.StationA));
        await ProblemAsync(response, HttpStatusCode.Forbidden);
    }

    [Fact]
    public async Task PostAndModifyOffer_MoreThanTheStationsCanShift_ArePhysicalLimitProblems()
    {
        // One 22 kW station over the one-hour window shifts at most 22 kWh.
        var m = await MarketAsync();
        using var posted = await _api.SendAsync(HttpMethod.Post, $"/v1/requests/{m.Request}/offers", m.CpoA, Offer(m.StationA, kwh: 50m));
        var problem = await ProblemAsync(posted, HttpStatusCode.UnprocessableEntity);
        Assert.Equal(("energyKwh", "physical-limit"), (problem["field"]!.GetValue<string>(), problem["rule"]!.GetValue<string>()));
        Assert.Contains("22 kWh", problem["detail"]!.GetValue<string>());

        var offer = (await _api.PostAsync($"/v1/requests/{m.Request}/offers", m.CpoA, Offer(m.StationA, kwh: 22m)))["id"]!.GetValue<string>();
        using var modified = await _api.SendAsync(HttpMethod.Put, $"/v1/requests/{m.Request}/offers/{offer}", m.CpoA, Offer(m.StationA, kwh: 22.001m));
        problem = await ProblemAsync(modified, HttpStatusCode.UnprocessableEntity);
        Assert.Equal("physical-limit", problem["rule"]!.GetValue<string>());
    }

    [Fact]
    public async Task PostRequest_GateClosingTooCloseToDelivery_IsLeadTimeProblem()
    {
        // The default activation lead time is 5 minutes; this gate closes one minute before delivery.
        var m = await MarketAsync();
        var start = market.Clock.GetUtcNow().AddHours(2);
        using var response = await _api.SendAsync(HttpMethod.Post, "/v1/requests", m.Dso, new
        {
            transformerId = m.Transformer, deliveryStart = start, deliveryEnd = start.AddHours(1), energyKwh = 1m,
            maxPriceEurPerKwh = 0.5m, gateClosure = start.AddMinutes(-1),
        });
        var problem = await ProblemAsync(response, HttpStatusCode.UnprocessableEntity);
        Assert.Equal(("gateClosure", "lead-time"), (problem["field"]!.GetValue<string>(), problem["rule"]!.GetValue<string>()));
    }

    [Fact]
    public async Task PostRequest_AsCpo_IsForbidden()
    {
        var m = await MarketAsync();
        var now = market.Clock.GetUtcNow();
        using var response = await _api.SendAsync(HttpMethod.Post, "/v1/requests", m.CpoA, new
        {
            transformerId = m.Transformer, deliveryStart = now.AddHours(2), deliveryEnd = now.AddHours(3), energyKwh = 1m,
            maxPriceEurPerKwh = 0.5m, gateClosure = now.AddHours(1),
        });
        await ProblemAsync(response, HttpStatusCode.Forbidden);
    }

    [Fact]
    public async Task PostRequest_OnAnotherDsosTransformer_NamesTheRule()
    {
        var m = await MarketAsync();
        var other = await _api.RegisterAsync("Dso", "Other DSO", MarketFixture.RuleDsoKey);
        using var response = await _api.SendAsync(HttpMethod.Post, "/v1/requests", other, new
        {
            transformerId = m.Transformer, deliveryStart = market.Clock.GetUtcNow().AddHours(2), deliveryEnd = market.Clock.GetUtcNow().AddHours(3),
            energyKwh = 1m, maxPriceEurPerKwh = 0.5m, gateClosure = market.Clock.GetUtcNow().AddHours(1),
        });
        var problem = await ProblemAsync(response, HttpStatusCode.Forbidden);
        Assert.Equal("transformerId", problem["field"]!.GetValue<string>());
        Assert.Equal("own-transformer", problem["rule"]!.GetValue<string>());
    }

    [Theory]
    [InlineData("energyKwh", -1, "energyKwh")]
    [InlineData("energyKwh", 1.0001, "energyKwh")]
    [InlineData("maxPriceEurPerKwh", 0, "maxPriceEurPerKwh")]
    [InlineData("maxPriceEurPerKwh", 0.12345, "maxPriceEurPerKwh")]
    public async Task PostRequest_BadQuantity_ProblemNamesTheField(string field, double value, string expected)
    {
        var m = await MarketAsync();
        var now = market.Clock.GetUtcNow();
        var body = new JsonObject
        {
            ["transformerId"] = m.Transformer, ["deliveryStart"] = now.AddHours(2), ["deliveryEnd"] = now.AddHours(3),
            ["energyKwh"] = 1m, ["maxPriceEurPerKwh"] = 0.5m, ["gateClosure"] = now.AddHours(1),
        };
        body[field] = (decimal)value;
        using var response = await _api.SendRawAsync(HttpMethod.Post, "/v1/requests", m.Dso, body.ToJsonString());
        var problem = await ProblemAsync(response, HttpStatusCode.BadRequest);
        Assert.NotNull(problem["errors"]![expected]);
    }

    [Theory]
    [InlineData("{\"name\": \"T\", \"ratedPowerKw\": ", "json")]
    [InlineData("{\"name\": \"T\", \"ratedPowerKw\": \"630\"}", "json")]
    [InlineData("{\"name\": \"T\", \"ratedPowerKw\": 630, \"owner\": \"me\"}", "json")]
    [InlineData("[1, 2]", "json")]
    public async Task PostTransformer_MalformedBody_IsProblem(string body, string rule)
    {
        var dso = await _api.RegisterAsync("Dso", "DSO", MarketFixture.RuleDsoKey);
        using var response = await _api.SendRawAsync(HttpMethod.Post, "/v1/transformers", dso, body);
        var problem = await ProblemAsync(response, HttpStatusCode.BadRequest);
        Assert.Equal(rule, problem["rule"]!.GetValue<string>());
    }

    [Fact]
    public async Task PostTransformer_WrongContentType_Is415()
    {
        var dso = await _api.RegisterAsync("Dso", "DSO", MarketFixture.RuleDsoKey);
        using var response = await _api.SendRawAsync(HttpMethod.Post, "/v1/transformers", dso, "name=T", "application/x-www-form-urlencoded");
        await ProblemAsync(response, HttpStatusCode.UnsupportedMediaType);
    }

    [Fact]
    public async Task PostParticipant_BadWallet_NamesTheField()
    {
        using var response = await _api.SendAsync(HttpMethod.Post, "/v1/participants", null,
            new { role = "Cpo", legalName = "X", contact = "x@example.org", walletAddress = "0x1234" });
        var problem = await ProblemAsync(response, HttpStatusCode.BadRequest);
        Assert.NotNull(problem["errors"]!["walletAddress"]);
    }

    [Fact]
    public async Task Offers_AreSealed_UntilGateClosure()
    {
        var m = await MarketAsync();
        await _api.PostAsync($"/v1/requests/{m.Request}/offers", m.CpoA, Offer(m.StationA, price: 0.2m));
        await _api.PostAsync($"/v1/requests/{m.Request}/offers", m.CpoB, Offer(m.StationB, price: 0.3m));

        var byDso = await _api.GetAsync($"/v1/requests/{m.Request}", m.Dso);
        Assert.Null(byDso["offers"]);
        Assert.Null(byDso["offerCount"]);
        var byA = (await _api.GetAsync($"/v1/requests/{m.Request}", m.CpoA))["offers"]!.AsArray();
        Assert.Equal(m.CpoA.Id, Assert.Single(byA)!["cpoId"]!.GetValue<string>());
        var stranger = await _api.RegisterAsync("Cpo", "Stranger", MarketFixture.RuleCpoBKey);
        Assert.Null((await _api.GetAsync($"/v1/requests/{m.Request}", stranger))["offers"]);
    }

    [Fact]
    public async Task PostOffer_Direction_DefaultsToReduceAndMustMatchTheRequest()
    {
        var m = await MarketAsync(); // a request without direction: a reduction
        object WithDirection(string station, string direction) =>
            new { stationIds = new[] { station }, energyKwh = 5m, priceEurPerKwh = 0.2m, divisible = true, direction };

        using var sideways = await _api.SendAsync(HttpMethod.Post, $"/v1/requests/{m.Request}/offers", m.CpoA, WithDirection(m.StationA, "Sideways"));
        Assert.NotNull((await ProblemAsync(sideways, HttpStatusCode.BadRequest))["errors"]!["direction"]);
        using var increase = await _api.SendAsync(HttpMethod.Post, $"/v1/requests/{m.Request}/offers", m.CpoA, WithDirection(m.StationA, "IncreaseConsumption"));
        var problem = await ProblemAsync(increase, HttpStatusCode.UnprocessableEntity);
        Assert.Equal(("direction", "direction"), (problem["field"]!.GetValue<string>(), problem["rule"]!.GetValue<string>()));

        var old = await _api.PostAsync($"/v1/requests/{m.Request}/offers", m.CpoA, Offer(m.StationA));
        Assert.Equal("ReduceConsumption", old["direction"]!.GetValue<string>());
        var explicitly = await _api.PostAsync($"/v1/requests/{m.Request}/offers", m.CpoB, WithDirection(m.StationB, "reduceconsumption"));
        Assert.Equal("ReduceConsumption", explicitly["direction"]!.GetValue<string>());
        Assert.Equal("ReduceConsumption", (await _api.GetAsync($"/v1/requests/{m.Request}/offers/{old["id"]!.GetValue<string>()}", m.CpoA))["direction"]!.GetValue<string>());
    }

    [Fact]
    public async Task PostOffer_Twice_IsConflict()
    {
        var m = await MarketAsync();
        await _api.PostAsync($"/v1/requests/{m.Request}/offers", m.CpoA, Offer(m.StationA));
        using var response = await _api.SendAsync(HttpMethod.Post, $"/v1/requests/{m.Request}/offers", m.CpoA, Offer(m.StationA));
        var problem = await ProblemAsync(response, HttpStatusCode.Conflict);
        Assert.Equal("one-offer-per-cpo", problem["rule"]!.GetValue<string>());
    }

    [Fact]
    public async Task PostOffer_OnAnotherCposStation_NamesTheRule()
    {
        var m = await MarketAsync();
        using var response = await _api.SendAsync(HttpMethod.Post, $"/v1/requests/{m.Request}/offers", m.CpoA, Offer(m.StationB));
        var problem = await ProblemAsync(response, HttpStatusCode.Forbidden);
        Assert.Equal("own-station", problem["rule"]!.GetValue<string>());
    }

    [Fact]
    public async Task PostOffer_OnUnmonitoredStation_IsNotQualified()
    {
        var m = await MarketAsync();
        var unmonitored = await _api.StationAsync(m.CpoA, m.Transformer, "IT001E00000099", monitoring: false);
        using var response = await _api.SendAsync(HttpMethod.Post, $"/v1/requests/{m.Request}/offers", m.CpoA, Offer(unmonitored));
        var problem = await ProblemAsync(response, HttpStatusCode.UnprocessableEntity);
        Assert.Equal("qualified", problem["rule"]!.GetValue<string>());
    }

    [Fact]
    public async Task PostOffer_AfterGateClosure_IsConflict()
    {
        var m = await MarketAsync();
        var gateClosure = (await _api.GetAsync($"/v1/requests/{m.Request}", m.CpoA))["gateClosure"]!.GetValue<DateTimeOffset>();
        market.Clock.Advance(TimeSpan.FromHours(1));
        using var response = await _api.SendAsync(HttpMethod.Post, $"/v1/requests/{m.Request}/offers", m.CpoA, Offer(m.StationA));
        var problem = await ProblemAsync(response, HttpStatusCode.Conflict);
        Assert.Equal("gate-closed", problem["rule"]!.GetValue<string>());
        Assert.Contains($"closed at {gateClosure:O}", problem["detail"]!.GetValue<string>());
    }

    [Fact]
    public async Task PostReadings_ForAnotherCposStation_IsNotFound()
    {
        var m = await MarketAsync();
        var now = market.Clock.GetUtcNow();
        using var response = await _api.SendAsync(HttpMethod.Post, $"/v1/stations/{m.StationB}/readings", m.CpoA,
            new { readings = new[] { new { start = now.AddMinutes(-15), end = now, energyKwh = 1m } } });
        await ProblemAsync(response, HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task PostReadings_InTheFuture_IsRejected()
    {
        var m = await MarketAsync();
        var now = market.Clock.GetUtcNow();
        using var response = await _api.SendAsync(HttpMethod.Post, $"/v1/stations/{m.StationA}/readings", m.CpoA,
            new { readings = new[] { new { start = now.AddHours(1), end = now.AddHours(1).AddMinutes(15), energyKwh = 1m } } });
        await ProblemAsync(response, HttpStatusCode.BadRequest);
    }

    [Fact]
    public async Task OpenApi_IsServed()
    {
        var doc = JsonNode.Parse(await market.Client.GetStringAsync("/v1/openapi.json"))!;
        Assert.NotNull(doc["paths"]!["/v1/requests/{id}/offers"]);
        // Every operation is rate limited, so every one documents the 429 and when to come back.
        var operations = doc["paths"]!.AsObject().SelectMany(p => p.Value!.AsObject()).ToList();
        Assert.NotEmpty(operations);
        Assert.All(operations, o => Assert.NotNull(o.Value!["responses"]!["429"]?["headers"]?["Retry-After"]));
    }
}
