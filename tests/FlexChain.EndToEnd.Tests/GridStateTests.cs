using System.Globalization;
using System.Net;
using System.Text.Json.Nodes;

namespace FlexChain.EndToEnd.Tests;

/// <summary>
/// Grid states over HTTP: a forecast colours its transformer and every node above it (bottom-up), the states are read per
/// node and per subtree, each change is an event, and the market honours them (green: no DSO request; orange: only
/// dynamic connections; red: no request, no offer, and clearing rejects the offers made before).
/// </summary>
[Collection(MarketCollection.Name)]
public sealed class GridStateTests(MarketFixture market)
{
    private readonly MarketClient _api = new(market.Client);

    private static readonly object Where = new { latitude = 42.5636m, longitude = 12.6427m };

    // The four quarter hours from 10:00: the first two at one load, the last two at another.
    private static object Forecast(DateTimeOffset dayStart, decimal tenToTenThirty, decimal tenThirtyToEleven) => new
    {
        points = Enumerable.Range(0, 4).Select(q => new
        {
            start = dayStart.AddHours(10).AddMinutes(15 * q), end = dayStart.AddHours(10).AddMinutes(15 * (q + 1)),
            expectedLoadKw = q < 2 ? tenToTenThirty : tenThirtyToEleven, limitKw = 630m,
        }),
    };

    private static object Request(string transformer, DateTimeOffset start, DateTimeOffset gate) => new
    {
        transformerId = transformer, deliveryStart = start, deliveryEnd = start.AddHours(1), energyKwh = 5m, direction = "ReduceConsumption",
        maxPriceEurPerKwh = 0.5m, gateClosure = gate, pricing = "PayAsBid",
    };

    private static object Offer(string station) => new { stationIds = new[] { station }, energyKwh = 5m, priceEurPerKwh = 0.2m, divisible = false };

    private static string[] Colours(JsonNode state) =>
        state["intervals"]!.AsArray().Select(i => i!["colour"]?.GetValue<string>() ?? "none").ToArray();

    [Fact]
    public async Task GridState_EveryColourAndTransition_IsPublished_AndTheMarketHonoursIt()
    {
        var tso = await _api.RegisterAsync("Tso", "Terna", MarketFixture.RuleDsoKey);
        var dso = await _api.RegisterAsync("Dso", "ASM Terni", MarketFixture.DsoKey);
        var cpo = await _api.RegisterAsync("Cpo", "Be Charge", MarketFixture.CpoAKey);
        var substation = (await _api.PostAsync("/v1/grid/nodes", tso, new { kind = "HvMvSubstation", name = "Terni HV/MV", ratedPowerKw = 40_000m, location = Where }))["id"]!.GetValue<string>();
        var feeder = (await _api.PostAsync("/v1/grid/nodes", dso, new
        {
            kind = "MvFeeder", name = "Feeder 12", ratedPowerKw = 1_000m, location = Where, parentId = substation, planningLimitKw = 700m, operationalLimitKw = 900m,
        }))["id"]!.GetValue<string>();
        Assert.Equal(700m, (await _api.GetAsync($"/v1/grid/nodes/{feeder}", dso))["planningLimitKw"]!.GetValue<decimal>());
        async Task<string> TransformerAsync(string name) => (await _api.PostAsync("/v1/transformers", dso, new
        {
            name, ratedPowerKw = 630m, location = Where, parentId = feeder, planningLimitKw = 400m, operationalLimitKw = 500m,
        }))["id"]!.GetValue<string>();
        var trA = await TransformerAsync("Terni Nord 3");
        var trB = await TransformerAsync("Terni Nord 4");
        var plain = await _api.StationAsync(cpo, trA, "IT001E00000401");
        var dynamic = (await _api.PostAsync("/v1/stations", cpo, new
        {
            transformerId = trA, model = "Alfen Eve", country = "IT", city = "Terni", address = "Via Roma 2", maxAcKw = 22m, maxDcKw = 0m,
            connectorTypes = new[] { "Type2" }, meteringPointId = "IT001E00000402", realTimeMonitoring = true, status = "Operational", dynamicConnection = true,
        }))["id"]!.GetValue<string>();
        await _api.PostAsync($"/v1/stations/{dynamic}/prequalification", cpo, new { });

        // The refusals of limits out of order, and of a node's state asked without a day.
        using (var r = await _api.SendAsync(HttpMethod.Post, "/v1/transformers", dso, new { name = "x", ratedPowerKw = 630m, location = Where, planningLimitKw = 500m, operationalLimitKw = 400m }))
            await MarketClient.ProblemAsync(r, HttpStatusCode.UnprocessableEntity, "planningLimitKw", "limit-order");
        using (var r = await _api.SendAsync(HttpMethod.Post, "/v1/transformers", dso, new { name = "x", ratedPowerKw = 630m, location = Where, planningLimitKw = 500m }))
            await MarketClient.ProblemAsync(r, HttpStatusCode.BadRequest, "operationalLimitKw", "not-null");
        using (var r = await _api.SendAsync(HttpMethod.Get, $"/v1/grid/nodes/{trA}/state", cpo, null))
            await MarketClient.ProblemAsync(r, HttpStatusCode.BadRequest, "day", "required");

        var streams = (Dso: await OpenStreamAsync(dso), Tso: await OpenStreamAsync(tso), Cpo: await OpenStreamAsync(cpo));
        var t0 = market.Clock.GetUtcNow();
        var dayStart = new DateTimeOffset(t0.UtcDateTime.Date.AddDays(1), TimeSpan.Zero);
        var day = dayStart.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);
        var window = dayStart.AddHours(10);
        var gate = t0.AddHours(1);
        Assert.Equal(0, (await _api.GetAsync($"/v1/grid/nodes/{trA}/state?day={day}", cpo))["version"]!.GetValue<int>());

        // Green for the whole window, on the transformer and every node above it: no DSO market is needed.
        await _api.SendOkAsync(HttpMethod.Put, $"/v1/transformers/{trA}/forecasts/{day}", dso, Forecast(dayStart, 100m, 100m));
        var green = await _api.GetAsync($"/v1/grid/nodes/{trA}/state?day={day}", cpo);
        Assert.Equal(1, green["version"]!.GetValue<int>());
        Assert.Equal(["Green", "Green", "Green", "Green"], Colours(green));
        using (var r = await _api.SendAsync(HttpMethod.Post, "/v1/requests", dso, Request(trA, window, gate)))
            await MarketClient.ProblemAsync(r, HttpStatusCode.UnprocessableEntity, "transformerId", "grid-green");
        // A transformer without a forecast has no state: its market runs as before.
        var onB = (await _api.PostAsync("/v1/requests", dso, Request(trB, window, gate)))["id"]!.GetValue<string>();

        // Yellow in the last half hour: the market is open to every station ...
        await _api.SendOkAsync(HttpMethod.Put, $"/v1/transformers/{trA}/forecasts/{day}", dso, Forecast(dayStart, 100m, 450m));
        Assert.Equal(["Green", "Green", "Yellow", "Yellow"], Colours(await _api.GetAsync($"/v1/grid/nodes/{trA}/state?day={day}", cpo)));
        var request = (await _api.PostAsync("/v1/requests", dso, Request(trA, window, gate)))["id"]!.GetValue<string>();
        var offer = (await _api.PostAsync($"/v1/requests/{request}/offers", cpo, Offer(plain)))["id"]!.GetValue<string>();
        // ... but to a station under a dynamic connection agreement: such resources take part only in orange.
        using (var r = await _api.SendAsync(HttpMethod.Put, $"/v1/requests/{request}/offers/{offer}", cpo, Offer(dynamic), ifMatch: "\"1\""))
            await MarketClient.ProblemAsync(r, HttpStatusCode.UnprocessableEntity, "stationIds", "grid-dynamic-connection");

        // Orange: all flexibility, including stations under a dynamic connection agreement.
        await _api.SendOkAsync(HttpMethod.Put, $"/v1/transformers/{trA}/forecasts/{day}", dso, Forecast(dayStart, 100m, 550m));
        await _api.SendOkAsync(HttpMethod.Put, $"/v1/requests/{request}/offers/{offer}", cpo, Offer(dynamic));

        // The feeder sums its transformers against its own limits: 550 + 450 kW = 1,000 kW is orange there while trB alone is yellow,
        // and a market on trB sees the worst state on its path.
        await _api.SendOkAsync(HttpMethod.Put, $"/v1/transformers/{trB}/forecasts/{day}", dso, Forecast(dayStart, 100m, 450m));
        var subtree = await _api.GetAsync($"/v1/grid/nodes/{substation}/subtree-state?day={day}", cpo);
        var byNode = subtree["nodes"]!.AsArray().ToDictionary(n => n!["nodeId"]!.GetValue<string>(), n => n!);
        Assert.Equal(new[] { substation, feeder, trA, trB }.Order(), byNode.Keys.Order());
        Assert.Equal(["none", "none", "none", "none"], Colours(byNode[substation]));   // the TSO gave its substation no limits
        Assert.Equal(["Green", "Green", "Orange", "Orange"], Colours(byNode[feeder]));
        Assert.Equal(1_000m, byNode[feeder]["intervals"]![3]!["loadKw"]!.GetValue<decimal>());
        Assert.Equal(["Green", "Green", "Yellow", "Yellow"], Colours(byNode[trB]));

        // Red on the feeder (trA 640 + trB 450 = 1,090 kW above its 1,000 kW): the market below it is suspended.
        await _api.SendOkAsync(HttpMethod.Put, $"/v1/transformers/{trA}/forecasts/{day}", dso, Forecast(dayStart, 100m, 640m));
        Assert.Equal(["Green", "Green", "Red", "Red"], Colours(await _api.GetAsync($"/v1/grid/nodes/{feeder}/state?day={day}", tso)));
        using (var r = await _api.SendAsync(HttpMethod.Post, "/v1/requests", dso, Request(trB, window, gate)))
            await MarketClient.ProblemAsync(r, HttpStatusCode.UnprocessableEntity, "transformerId", "grid-red");
        using (var r = await _api.SendAsync(HttpMethod.Put, $"/v1/requests/{request}/offers/{offer}", cpo, Offer(dynamic), ifMatch: "\"2\""))
            await MarketClient.ProblemAsync(r, HttpStatusCode.UnprocessableEntity, "stationIds", "grid-red");

        // Every change reached the stream: the DSO owns the transformer, the TSO owns the node above it.
        var versions = (await _api.GetAsync($"/v1/grid/nodes/{trA}/state?day={day}", dso))["version"]!.GetValue<int>();
        Assert.Equal(4, versions);
        await ReadUntilAsync(streams.Dso, Enumerable.Range(1, versions).Select(v => $"{trA}:grid-state:{dso.Id}:{day}:v{v}"));
        await ReadUntilAsync(streams.Tso, [$"{feeder}:grid-state:{tso.Id}:{day}:v5", $"{trA}:grid-state:{tso.Id}:{day}:v4"]);
        await ReadUntilAsync(streams.Cpo, [$"{feeder}:grid-state:role:Cpo:{day}:v5"]);

        // Clearing re-checks: the offer made in orange by a dynamic station is rejected now that its grid is red.
        market.Clock.SetTo(gate);
        var unfilled = await _api.WaitForStateAsync(request, dso, "Unfilled");
        var outcome = Assert.Single(unfilled["outcomes"]!.AsArray())!;
        Assert.Equal((offer, "RejectedNotEligible"), (outcome["offerId"]!.GetValue<string>(), outcome["outcome"]!.GetValue<string>()));
        Assert.NotNull(onB);

        // Back to green: the market is not needed again.
        await _api.SendOkAsync(HttpMethod.Put, $"/v1/transformers/{trA}/forecasts/{day}", dso, Forecast(dayStart, 100m, 100m));
        await _api.SendOkAsync(HttpMethod.Put, $"/v1/transformers/{trB}/forecasts/{day}", dso, Forecast(dayStart, 100m, 100m));
        using (var r = await _api.SendAsync(HttpMethod.Post, "/v1/requests", dso, Request(trB, window, market.Clock.GetUtcNow().AddHours(1))))
            await MarketClient.ProblemAsync(r, HttpStatusCode.UnprocessableEntity, "transformerId", "grid-green");
    }

    /// <summary>A day of <paramref name="count"/> points of <paramref name="minutes"/> minutes from midnight, the load varying by the point.</summary>
    private static object DayForecast(DateTimeOffset dayStart, int minutes, int count) => new
    {
        points = Enumerable.Range(0, count).Select(i => new
        {
            start = dayStart.AddMinutes(minutes * i), end = dayStart.AddMinutes(minutes * (i + 1)), expectedLoadKw = 300m + i % 400 + 0.125m, limitKw = 630m,
        }),
    };

    [Fact]
    public async Task Forecast_WholeDayAtFiveAndOneMinute_Accepted_AndARefusedOneStoresNothing()
    {
        // A one-minute market (states per minute: the largest state and forecast) on storage of its own, so the
        // refusals can be checked against every event stored.
        var (app, storage) = await market.IsolatedInstanceAsync(("GateCycle:MarketIntervalMinutes", "1"));
        try
        {
            var api = new MarketClient(app.CreateClient());
            var dso = await api.RegisterAsync("Dso", "Elektro Ljubljana", MarketFixture.RuleDsoKey);
            var transformer = (await api.PostAsync("/v1/transformers", dso, new
            {
                name = "Vic 7", ratedPowerKw = 630m, location = Where, planningLimitKw = 400m, operationalLimitKw = 500m,
            }))["id"]!.GetValue<string>();
            var dayStart = new DateTimeOffset(market.Clock.GetUtcNow().UtcDateTime.Date.AddDays(1), TimeSpan.Zero);
            var path = $"/v1/transformers/{transformer}/forecasts/{dayStart:yyyy-MM-dd}";
            var statePath = $"/v1/grid/nodes/{transformer}/state?day={dayStart:yyyy-MM-dd}";
            var events = new Azure.Data.Tables.TableServiceClient(storage.ConnectionString).GetTableClient("notifications");
            async Task<int> EventRowsAsync() => (await events.QueryAsync<Azure.Data.Tables.TableEntity>(select: ["RowKey"]).ToListAsync()).Count;

            Assert.Equal(288, (await api.SendOkAsync(HttpMethod.Put, path, dso, DayForecast(dayStart, 5, 288)))["points"]!.AsArray().Count);
            var full = await api.SendOkAsync(HttpMethod.Put, path, dso, DayForecast(dayStart, 1, 1_440));
            Assert.Equal(1_440, full["points"]!.AsArray().Count);
            Assert.Equal(dayStart.AddMinutes(1_439), (await api.GetAsync(path, dso))["points"]!.AsArray()[^1]!["start"]!.GetValue<DateTimeOffset>());
            var state = await api.GetAsync(statePath, dso);
            Assert.Equal(2, state["version"]!.GetValue<int>());
            Assert.Equal(1_440, state["intervals"]!.AsArray().Count);
            Assert.Equal(["Green", "Yellow", "Orange", "Red"], Colours(state).Distinct());
            var eventRows = await EventRowsAsync();
            Assert.True(eventRows > 0);

            // Refused whole: one point too many, and a whole day whose last point overlaps the one before.
            using (var r = await api.SendAsync(HttpMethod.Put, path, dso, DayForecast(dayStart, 1, 1_441)))
                await MarketClient.ProblemAsync(r, HttpStatusCode.BadRequest, "points", "count");
            var overlapping = JsonNode.Parse(System.Text.Json.JsonSerializer.Serialize(DayForecast(dayStart, 1, 1_440)))!;
            overlapping["points"]![1_439]!["start"] = dayStart.AddMinutes(1_438).AddSeconds(30);
            overlapping["points"]![0]!["expectedLoadKw"] = 10m;
            using (var r = await api.SendAsync(HttpMethod.Put, path, dso, overlapping))
                await MarketClient.ProblemAsync(r, HttpStatusCode.UnprocessableEntity, "points[1439].start", "forecast-order");

            Assert.Equal(300.125m, (await api.GetAsync(path, dso))["points"]![0]!["expectedLoadKw"]!.GetValue<decimal>());
            Assert.Equal(2, (await api.GetAsync(statePath, dso))["version"]!.GetValue<int>());
            Assert.Equal(eventRows, await EventRowsAsync());
        }
        finally
        {
            await app.DisposeAsync();
            await storage.DisposeAsync();
        }
    }

    /// <summary>Opens the caller's event stream (from now on).</summary>
    private async Task<(HttpResponseMessage Response, StreamReader Reader)> OpenStreamAsync(Caller caller)
    {
        using var message = new HttpRequestMessage(HttpMethod.Get, "/v1/events");
        message.Headers.Add("X-Api-Key", caller.ApiKey);
        var response = await market.Client.SendAsync(message, HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return (response, new StreamReader(await response.Content.ReadAsStreamAsync()));
    }

    /// <summary>Reads <paramref name="stream"/> until every one of <paramref name="ids"/> has arrived, then closes it.</summary>
    private static async Task ReadUntilAsync((HttpResponseMessage Response, StreamReader Reader) stream, IEnumerable<string> ids)
    {
        using var response = stream.Response;
        using var reader = stream.Reader;
        var missing = ids.ToHashSet();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while (missing.Count > 0 && await reader.ReadLineAsync(timeout.Token) is { } line)
            if (line.StartsWith("id:", StringComparison.Ordinal)) missing.Remove(line[3..].Trim());
        Assert.Empty(missing);
    }
}
