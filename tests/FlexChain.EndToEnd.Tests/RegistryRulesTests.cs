using System.Globalization;
using System.Net;
using System.Text.Json.Nodes;

namespace FlexChain.EndToEnd.Tests;

/// <summary>
/// Registry and input rules a new user ran into: one active station per metering point, times on the wire always with
/// their offset (UTC), substations only for TSOs, and a problem naming the body when there is none.
/// </summary>
[Collection(MarketCollection.Name)]
public sealed class RegistryRulesTests(MarketFixture market)
{
    private readonly MarketClient _api = new(market.Client);

    private static readonly object Where = new { latitude = 42.5636m, longitude = 12.6427m };

    /// <summary>A station's body on exactly <paramref name="meter"/>.</summary>
    private static JsonObject StationOn(string transformer, string meter)
    {
        var body = System.Text.Json.JsonSerializer.SerializeToNode(MarketClient.Station(transformer))!.AsObject();
        body["meteringPointId"] = meter;
        return body;
    }

    private async Task<(Caller CpoA, Caller CpoB, string Transformer)> CpOsAsync(string name)
    {
        var dso = await _api.RegisterAsync("Dso", name + " DSO", MarketFixture.RuleDsoKey);
        var cpoA = await _api.RegisterAsync("Cpo", name + " CPO A", MarketFixture.RuleCpoAKey);
        var cpoB = await _api.RegisterAsync("Cpo", name + " CPO B", MarketFixture.RuleCpoBKey);
        return (cpoA, cpoB, await _api.TransformerAsync(dso));
    }

    [Fact]
    public async Task MeteringPoint_BelongsToOneActiveStation_UntilItIsDeactivated()
    {
        var (cpoA, cpoB, transformer) = await CpOsAsync("Meter");
        var meter = MarketClient.UniqueMeter("IT001E");
        var first = (await _api.PostAsync("/v1/stations", cpoA, StationOn(transformer, meter)))["id"]!.GetValue<string>();

        // Another CPO: refused, without learning whose station holds the meter.
        using (var other = await _api.SendAsync(HttpMethod.Post, "/v1/stations", cpoB, StationOn(transformer, meter)))
            Assert.DoesNotContain(first, (await MarketClient.ProblemAsync(other, HttpStatusCode.Conflict, "meteringPointId", "unique"))["detail"]!.GetValue<string>());
        // The same CPO (in another case): refused, and told which of its stations has it.
        using (var own = await _api.SendAsync(HttpMethod.Post, "/v1/stations", cpoA, StationOn(transformer, meter.ToLowerInvariant())))
            Assert.Contains(first, (await MarketClient.ProblemAsync(own, HttpStatusCode.Conflict, "meteringPointId", "unique"))["detail"]!.GetValue<string>());
        // Changing another station to that metering point: refused, and that station keeps its own.
        var second = (await _api.PostAsync("/v1/stations", cpoA, StationOn(transformer, meter + "-2")))["id"]!.GetValue<string>();
        using (var moved = await _api.SendAsync(HttpMethod.Put, $"/v1/stations/{second}", cpoA, StationOn(transformer, meter)))
            await MarketClient.ProblemAsync(moved, HttpStatusCode.Conflict, "meteringPointId", "unique");
        Assert.Equal(meter + "-2", (await _api.GetAsync($"/v1/stations/{second}", cpoA))["meteringPointId"]!.GetValue<string>());
        // In bulk, per item: the held one and a duplicate within the call are refused, the first of the pair is stored.
        var fresh = MarketClient.UniqueMeter("IT001E");
        using (var bulk = await _api.SendAsync(HttpMethod.Post, "/v1/stations/bulk", cpoB,
            new { stations = new[] { StationOn(transformer, meter), StationOn(transformer, fresh), StationOn(transformer, fresh) } }))
        {
            var items = JsonNode.Parse(await bulk.Content.ReadAsStringAsync())!["items"]!.AsArray();
            Assert.Equal([409, 201, 409], items.Select(i => i!["status"]!.GetValue<int>()));
            Assert.Equal(("stations[0].meteringPointId", "unique"), (items[0]!["problem"]!["field"]!.GetValue<string>(), items[0]!["problem"]!["rule"]!.GetValue<string>()));
            Assert.Equal("stations[2].meteringPointId", items[2]!["problem"]!["field"]!.GetValue<string>());
        }

        // Deactivating the station releases its metering point: another CPO's station may then take it, and a moved
        // station releases its old one.
        await _api.SendOkAsync(HttpMethod.Delete, $"/v1/stations/{first}", cpoA, null);
        var successor = (await _api.PostAsync("/v1/stations", cpoB, StationOn(transformer, meter)))["id"]!.GetValue<string>();
        Assert.Equal(meter, (await _api.GetAsync($"/v1/stations/{successor}", cpoB))["meteringPointId"]!.GetValue<string>());
        await _api.SendOkAsync(HttpMethod.Put, $"/v1/stations/{second}", cpoA, StationOn(transformer, meter + "-3"));
        await _api.PostAsync("/v1/stations", cpoB, StationOn(transformer, meter + "-2"));
    }

    [Fact]
    public async Task MeteringPoint_ConcurrentRegistrations_ExactlyOneWins()
    {
        var (cpoA, cpoB, transformer) = await CpOsAsync("Meter race");
        var meter = MarketClient.UniqueMeter("IT001E");
        var attempts = await Task.WhenAll(Enumerable.Range(0, 8).Select(async i =>
        {
            using var response = await _api.SendAsync(HttpMethod.Post, "/v1/stations", i % 2 == 0 ? cpoA : cpoB, StationOn(transformer, meter));
            return (response.StatusCode, Body: JsonNode.Parse(await response.Content.ReadAsStringAsync())!);
        }));
        Assert.Single(attempts, a => a.StatusCode == HttpStatusCode.Created);
        Assert.All(attempts.Where(a => a.StatusCode != HttpStatusCode.Created), a =>
            Assert.Equal((HttpStatusCode.Conflict, "meteringPointId", "unique"), (a.StatusCode, a.Body["field"]!.GetValue<string>(), a.Body["rule"]!.GetValue<string>())));
        var stored = 0;
        foreach (var cpo in new[] { cpoA, cpoB })
            stored += (await _api.GetAsync($"/v1/stations?transformerId={transformer}", cpo))["items"]!.AsArray().Count(s => s!["meteringPointId"]!.GetValue<string>() == meter);
        Assert.Equal(1, stored);
    }

    [Theory]
    [InlineData("")]
    [InlineData("+01:00")]
    public async Task Times_WithoutUtcOffset_AreRefusedAsUtc(string offset)
    {
        var dso = await _api.RegisterAsync("Dso", "Rome time DSO", MarketFixture.RuleDsoKey);
        var transformer = await _api.TransformerAsync(dso);
        var start = market.Clock.GetUtcNow().AddHours(3);
        string At(DateTimeOffset t) => t.ToString("yyyy-MM-dd'T'HH:mm:ss", CultureInfo.InvariantCulture) + offset;
        using var response = await _api.SendAsync(HttpMethod.Post, "/v1/requests", dso, new
        {
            transformerId = transformer, deliveryStart = At(start), deliveryEnd = At(start.AddHours(1)), energyKwh = 10m,
            direction = "ReduceConsumption", maxPriceEurPerKwh = 0.5m, gateClosure = At(start.AddHours(-1)), pricing = "PayAsBid",
        });
        var problem = await MarketClient.ProblemAsync(response, HttpStatusCode.BadRequest, "deliveryStart", "utc");
        Assert.Contains("Z or +00:00", problem["detail"]!.GetValue<string>());
    }

    [Fact]
    public async Task QueryTime_WithoutOffset_IsRefused()
    {
        var dso = await _api.RegisterAsync("Dso", "Query time DSO", MarketFixture.RuleDsoKey);
        using var response = await _api.SendAsync(HttpMethod.Get, "/v1/requests?from=2026-12-08T02:00:00", dso, null);
        await MarketClient.ProblemAsync(response, HttpStatusCode.BadRequest, "from", "utc-time");
    }

    [Fact]
    public async Task Dso_CannotRegisterSubstation()
    {
        var dso = await _api.RegisterAsync("Dso", "Substation DSO", MarketFixture.RuleDsoKey);
        using var response = await _api.SendAsync(HttpMethod.Post, "/v1/grid/nodes", dso, new { kind = "HvMvSubstation", name = "X", ratedPowerKw = 40_000m, location = Where });
        await MarketClient.ProblemAsync(response, HttpStatusCode.UnprocessableEntity, "kind", "dso-kind");
        Assert.Empty((await _api.GetAsync("/v1/grid/nodes", dso))["items"]!.AsArray());
    }

    [Theory]
    [InlineData("/v1/participants", "")]
    [InlineData("/v1/participants", "null")]
    [InlineData("/v1/stations", "")]
    [InlineData("/v1/stations", "null")]
    public async Task MissingBody_IsRefusedAsRequired(string path, string body)
    {
        var cpo = await _api.RegisterAsync("Cpo", "Bodiless CPO", MarketFixture.RuleCpoAKey);
        using var response = await _api.SendRawAsync(HttpMethod.Post, path, cpo, body);
        var problem = await MarketClient.ProblemAsync(response, HttpStatusCode.BadRequest, "body", "required");
        Assert.DoesNotContain("Implicit body", problem["detail"]!.GetValue<string>());
    }
}
