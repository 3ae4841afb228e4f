using System.Globalization;
using System.Net;
using System.Text.Json.Nodes;

namespace FlexChain.EndToEnd.Tests;

/// <summary>Imbalance-adjustment records over HTTP: written with the verification, read by the TSO, the connecting DSO and the station's CPO.</summary>
[Collection(MarketCollection.Name)]
public sealed class ImbalanceAdjustmentTests(MarketFixture market)
{
    private readonly MarketClient _api = new(market.Client);

    private static string Q(DateTimeOffset t) => Uri.EscapeDataString(t.ToString("O", CultureInfo.InvariantCulture));

    [Fact]
    public async Task VerifiedActivation_YieldsARecordPerStationAndInterval_ReadByRole()
    {
        var t0 = market.Clock.GetUtcNow();
        var tso = await _api.RegisterAsync("Tso", "Imbalance TSO", MarketFixture.RuleCpoBKey);
        var dso = await _api.RegisterAsync("Dso", "Imbalance DSO", MarketFixture.RuleDsoKey);
        var cpo = await _api.RegisterAsync("Cpo", "Imbalance CPO", MarketFixture.RuleCpoAKey);
        var other = await _api.RegisterAsync("Cpo", "Other CPO", MarketFixture.CpoBKey);
        var transformer = await _api.TransformerAsync(dso);
        var station = (await _api.PostAsync("/v1/stations", cpo, new
        {
            transformerId = transformer, model = "Alfen Eve", country = "IT", city = "Terni", address = "Via Roma 3", maxAcKw = 22m, maxDcKw = 0m,
            connectorTypes = new[] { "Type2" }, meteringPointId = "IT001E00000501", realTimeMonitoring = true, status = "Operational",
            balanceResponsiblePartyId = "10X1001A1001A094",
        }))["id"]!.GetValue<string>();
        Assert.Equal("10X1001A1001A094", (await _api.GetAsync($"/v1/stations/{station}", cpo))["balanceResponsiblePartyId"]!.GetValue<string>());
        await _api.PostAsync($"/v1/stations/{station}/prequalification", cpo, new { });
        var window = new DateTimeOffset(t0.Year, t0.Month, t0.Day, t0.Hour, 0, 0, TimeSpan.Zero).AddHours(3);
        var request = await _api.RequestAsync(dso, transformer, t0.AddHours(1), window, 10m);
        await _api.PostAsync($"/v1/requests/{request}/offers", cpo, new { stationIds = new[] { station }, energyKwh = 10m, priceEurPerKwh = 0.25m, divisible = false });
        market.Clock.SetTo(t0.AddHours(1));
        await _api.WaitForStateAsync(request, dso, "Awarded");
        market.Clock.SetTo(window.AddHours(1));
        await _api.PostQuarterReadingsAsync(cpo, station, window.AddHours(-1), 5m);
        await _api.PostAsync($"/v1/stations/{station}/readings", cpo, new
        {
            readings = new[] { 2m, 2m, 2m, 6m }.Select((kwh, i) => new { start = window.AddMinutes(15 * i), end = window.AddMinutes(15 * (i + 1)), energyKwh = kwh }),
        });
        market.Clock.SetTo(window.AddHours(1).AddMinutes(20));
        await _api.WaitForStateAsync(request, dso, "Settled");

        var period = $"from={Q(window.AddHours(-1))}&to={Q(window.AddHours(1))}";
        var record = Assert.Single((await _api.GetAsync($"/v1/imbalance-adjustments?{period}&brp=10X1001A1001A094", tso))["items"]!.AsArray())!;
        Assert.Equal((request, station, "IT001E00000501", "ReduceConsumption", dso.Id, dso.Id),
            (record["requestId"]!.GetValue<string>(), record["stationId"]!.GetValue<string>(), record["meteringPointId"]!.GetValue<string>(),
             record["direction"]!.GetValue<string>(), record["buyerId"]!.GetValue<string>(), record["connectingOperatorId"]!.GetValue<string>()));
        Assert.Equal([3m, 3m, 3m, -1m], record["intervals"]!.AsArray().Select(i => i!["energyKwh"]!.GetValue<decimal>()));
        Assert.Equal(8m, record["totalKwh"]!.GetValue<decimal>());

        JsonArray Items(JsonNode page) => page["items"]!.AsArray();
        Assert.Empty(Items(await _api.GetAsync($"/v1/imbalance-adjustments?{period}&brp=10XOTHER", tso)));
        Assert.Single(Items(await _api.GetAsync($"/v1/imbalance-adjustments?{period}", dso)), r => r!["requestId"]!.GetValue<string>() == request);
        Assert.Single(Items(await _api.GetAsync($"/v1/imbalance-adjustments?{period}", cpo)), r => r!["requestId"]!.GetValue<string>() == request);
        Assert.DoesNotContain(Items(await _api.GetAsync($"/v1/imbalance-adjustments?{period}", other)), r => r!["requestId"]!.GetValue<string>() == request);
        var otherDso = await _api.RegisterAsync("Dso", "Unconnected DSO", MarketFixture.DsoKey);
        Assert.DoesNotContain(Items(await _api.GetAsync($"/v1/imbalance-adjustments?{period}", otherDso)), r => r!["requestId"]!.GetValue<string>() == request);
        using var tooLong = await _api.SendAsync(HttpMethod.Get, $"/v1/imbalance-adjustments?from={Q(window.AddDays(-40))}&to={Q(window)}", tso, null);
        await MarketClient.ProblemAsync(tooLong, HttpStatusCode.BadRequest, "to", "range");
    }
}
