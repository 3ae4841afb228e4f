using System.Net;

namespace FlexChain.EndToEnd.Tests;

/// <summary>Temporary limits over HTTP: announced an hour ahead of affected gates, enforced in offers and in clearing.</summary>
[Collection(MarketCollection.Name)]
public sealed class TemporaryLimitTests(MarketFixture market)
{
    private readonly MarketClient _api = new(market.Client);

    private static readonly object Where = new { latitude = 42.5636m, longitude = 12.6427m };

    private static object Limit(string? node, string? station, DateTimeOffset start, DateTimeOffset end, decimal kw) =>
        new { nodeId = node, stationId = station, periodStart = start, periodEnd = end, maxKw = kw, reason = "Cable fault on feeder 12." };

    private static object Offer(string station, decimal kwh) => new { stationIds = new[] { station }, energyKwh = kwh, priceEurPerKwh = 0.2m, divisible = false };

    [Fact]
    public async Task Limit_AnnouncedTooLate_IsRefused_InTimeItCapsOffersAndClearing()
    {
        var tso = await _api.RegisterAsync("Tso", "Terna", MarketFixture.RuleDsoKey);
        var dso = await _api.RegisterAsync("Dso", "ASM Terni", MarketFixture.DsoKey);
        var cpo = await _api.RegisterAsync("Cpo", "Be Charge", MarketFixture.CpoAKey);
        var substation = (await _api.PostAsync("/v1/grid/nodes", tso, new { kind = "HvMvSubstation", name = "Terni HV/MV", ratedPowerKw = 40_000m, location = Where }))["id"]!.GetValue<string>();
        var feeder = (await _api.PostAsync("/v1/grid/nodes", dso, new { kind = "MvFeeder", name = "Feeder 12", ratedPowerKw = 5_000m, location = Where, parentId = substation }))["id"]!.GetValue<string>();
        var transformer = (await _api.PostAsync("/v1/transformers", dso, new { name = "Terni Nord 3", ratedPowerKw = 630, location = Where, parentId = feeder }))["id"]!.GetValue<string>();
        var station = await _api.StationAsync(cpo, transformer, "IT001E00000301");
        var t0 = market.Clock.GetUtcNow();
        await _api.RequestAsync(dso, transformer, t0.AddMinutes(30), t0.AddHours(1), kwh: 5m);
        var later = await _api.RequestAsync(dso, transformer, t0.AddHours(2), t0.AddHours(3), kwh: 5m);
        var offer = (await _api.PostAsync($"/v1/requests/{later}/offers", cpo, Offer(station, 5m)))["id"]!.GetValue<string>();

        // The first request's gate closes in 30 minutes: a limit over its delivery, on any node above it, is too late.
        using (var r = await _api.SendAsync(HttpMethod.Post, "/v1/grid/limits", tso, Limit(substation, null, t0.AddHours(1), t0.AddHours(4), 0m)))
            await MarketClient.ProblemAsync(r, HttpStatusCode.UnprocessableEntity, "periodStart", "announcement-lead");
        using (var r = await _api.SendAsync(HttpMethod.Post, "/v1/grid/limits", dso, Limit(null, station, t0.AddHours(1), t0.AddHours(2), 0m)))
            await MarketClient.ProblemAsync(r, HttpStatusCode.UnprocessableEntity, "periodStart", "announcement-lead");
        // Other operators' nodes and bad inputs.
        var other = await _api.RegisterAsync("Dso", "Other DSO", MarketFixture.RuleDsoKey);
        using (var r = await _api.SendAsync(HttpMethod.Post, "/v1/grid/limits", other, Limit(feeder, null, t0.AddHours(3), t0.AddHours(4), 0m)))
            await MarketClient.ProblemAsync(r, HttpStatusCode.Forbidden, "nodeId", "own-node");
        using (var r = await _api.SendAsync(HttpMethod.Post, "/v1/grid/limits", other, Limit(null, station, t0.AddHours(3), t0.AddHours(4), 0m)))
            await MarketClient.ProblemAsync(r, HttpStatusCode.Forbidden, "stationId", "own-grid");
        using (var r = await _api.SendAsync(HttpMethod.Post, "/v1/grid/limits", dso, Limit(feeder, station, t0.AddHours(3), t0.AddHours(4), 0m)))
            await MarketClient.ProblemAsync(r, HttpStatusCode.BadRequest, "stationId", "target");
        using (var r = await _api.SendAsync(HttpMethod.Post, "/v1/grid/limits", dso, Limit(feeder, null, t0.AddHours(4), t0.AddHours(3), 0m)))
            await MarketClient.ProblemAsync(r, HttpStatusCode.BadRequest, "periodEnd", "greater-than");
        using (var r = await _api.SendAsync(HttpMethod.Post, "/v1/grid/limits", dso, Limit(feeder, null, t0.AddHours(3), t0.AddHours(4), -1m)))
            await MarketClient.ProblemAsync(r, HttpStatusCode.BadRequest, "maxKw", "greater-than-or-equal");

        // In time for the second request (its gate closes in 2 hours, its delivery is the limit's period): the TSO caps everything below its substation at 2 kW.
        var limit = await _api.PostAsync("/v1/grid/limits", tso, Limit(substation, null, t0.AddHours(3), t0.AddHours(4), 2m));
        Assert.Equal((substation, 2m), (limit["targetId"]!.GetValue<string>(), limit["maxKw"]!.GetValue<decimal>()));
        Assert.Single((await _api.GetAsync($"/v1/grid/limits?targetId={substation}", cpo))["items"]!.AsArray());
        using (var r = await _api.SendAsync(HttpMethod.Put, $"/v1/requests/{later}/offers/{offer}", cpo, Offer(station, 5m), ifMatch: "\"1\""))
            await MarketClient.ProblemAsync(r, HttpStatusCode.UnprocessableEntity, "energyKwh", "grid-max-power");
        // The offer made before the limit stands until clearing, which re-checks it.
        market.Clock.SetTo(t0.AddHours(2));
        var unfilled = await _api.WaitForStateAsync(later, dso, "Unfilled");
        var outcome = Assert.Single(unfilled["outcomes"]!.AsArray())!;
        Assert.Equal((offer, "RejectedNotEligible"), (outcome["offerId"]!.GetValue<string>(), outcome["outcome"]!.GetValue<string>()));
    }
}
