using System.Net;

namespace FlexChain.EndToEnd.Tests;

/// <summary>Grid prequalification over HTTP: the connecting DSO and the impacted TSO answer; offers and clearing obey.</summary>
[Collection(MarketCollection.Name)]
public sealed class GridPrequalificationTests(MarketFixture market)
{
    private readonly MarketClient _api = new(market.Client);

    private static readonly object Where = new { latitude = 42.5636m, longitude = 12.6427m };

    private sealed record Grid(Caller Tso, Caller Dso, Caller Cpo, string Transformer, string Station);

    /// <summary>A TSO's substation, a DSO's transformer below it, and a CPO's prequalified 22 kW station behind that.</summary>
    private async Task<Grid> GridAsync(MarketClient api, string meter)
    {
        var tso = await api.RegisterAsync("Tso", "Terna", MarketFixture.RuleDsoKey);
        var dso = await api.RegisterAsync("Dso", "ASM Terni", MarketFixture.DsoKey);
        var cpo = await api.RegisterAsync("Cpo", "Be Charge", MarketFixture.CpoAKey);
        var substation = (await api.PostAsync("/v1/grid/nodes", tso, new { kind = "HvMvSubstation", name = "Terni HV/MV", ratedPowerKw = 40_000m, location = Where }))["id"]!.GetValue<string>();
        var transformer = (await api.PostAsync("/v1/transformers", dso, new { name = "Terni Nord 3", ratedPowerKw = 630, location = Where, parentId = substation }))["id"]!.GetValue<string>();
        return new Grid(tso, dso, cpo, transformer, await api.StationAsync(cpo, transformer, meter));
    }

    private static object Offer(string station, decimal kwh) => new { stationIds = new[] { station }, energyKwh = kwh, priceEurPerKwh = 0.2m, divisible = false };

    [Fact]
    public async Task ConditionalApproval_CapsWhatTheStationMayOffer_AndARefusalBeforeClearingRejectsTheOffer()
    {
        var g = await GridAsync(_api, "IT001E00000201");
        var grid = await _api.GetAsync($"/v1/stations/{g.Station}/grid-prequalification", g.Cpo);
        Assert.Equal(("Pending", g.Dso.Id), (grid["status"]!.GetValue<string>(), grid["case"]!["connectingOperatorId"]!.GetValue<string>()));
        Assert.Equal([g.Tso.Id], grid["case"]!["impactedOperatorIds"]!.AsArray().Select(o => o!.GetValue<string>()));

        await _api.SendOkAsync(HttpMethod.Put, $"/v1/grid/prequalifications/{g.Station}", g.Dso, new { verdict = "ConditionallyApproved", maxKw = 5m });
        grid = await _api.GetAsync($"/v1/stations/{g.Station}/grid-prequalification", g.Cpo);
        Assert.Equal(("Pending", 5m), (grid["status"]!.GetValue<string>(), grid["maxKw"]!.GetValue<decimal>()));

        var t0 = market.Clock.GetUtcNow();
        var request = await _api.RequestAsync(g.Dso, g.Transformer, t0.AddHours(1), t0.AddHours(2), kwh: 5m);
        using (var over = await _api.SendAsync(HttpMethod.Post, $"/v1/requests/{request}/offers", g.Cpo, Offer(g.Station, 5.5m)))
            Assert.Contains("5 kW", (await MarketClient.ProblemAsync(over, HttpStatusCode.UnprocessableEntity, "energyKwh", "grid-max-power"))["detail"]!.GetValue<string>());
        var offer = (await _api.PostAsync($"/v1/requests/{request}/offers", g.Cpo, Offer(g.Station, 5m)))["id"]!.GetValue<string>();

        // The TSO refuses after the offer: clearing re-checks, and the offer loses.
        using (var unjustified = await _api.SendAsync(HttpMethod.Put, $"/v1/grid/prequalifications/{g.Station}", g.Tso, new { verdict = "NotApproved", justification = "Line 220 kV Terni-Villavalle overloads." }))
            await MarketClient.ProblemAsync(unjustified, HttpStatusCode.UnprocessableEntity, "whyNoTemporaryLimit", "required");
        await _api.SendOkAsync(HttpMethod.Put, $"/v1/grid/prequalifications/{g.Station}", g.Tso,
            new { verdict = "NotApproved", justification = "Line 220 kV Terni-Villavalle overloads.", whyNoTemporaryLimit = "The overload is structural until 2028." });
        grid = await _api.GetAsync($"/v1/stations/{g.Station}/grid-prequalification", g.Cpo);
        Assert.Equal("NotApproved", grid["status"]!.GetValue<string>());
        Assert.Equal([g.Tso.Id], grid["refusedBy"]!.AsArray().Select(o => o!.GetValue<string>()));

        market.Clock.SetTo(t0.AddHours(1));
        var unfilled = await _api.WaitForStateAsync(request, g.Dso, "Unfilled");
        var outcome = Assert.Single(unfilled["outcomes"]!.AsArray())!;
        Assert.Equal((offer, "RejectedNotEligible"), (outcome["offerId"]!.GetValue<string>(), outcome["outcome"]!.GetValue<string>()));

        // Refused, the station cannot be offered; the yearly report lists both cases, in JSON and CSV.
        var next = await _api.RequestAsync(g.Dso, g.Transformer, t0.AddHours(2), t0.AddHours(3), kwh: 1m);
        using (var refused = await _api.SendAsync(HttpMethod.Post, $"/v1/requests/{next}/offers", g.Cpo, Offer(g.Station, 1m)))
            await MarketClient.ProblemAsync(refused, HttpStatusCode.UnprocessableEntity, "stationIds", "grid-not-approved");
        var year = t0.UtcDateTime.Year;
        var report = await _api.GetAsync($"/v1/grid/prequalifications/report?year={year}", g.Tso);
        Assert.Equal((0, 1), (report["conditional"]!.GetValue<int>(), report["refused"]!.GetValue<int>()));
        Assert.Equal(g.Station, Assert.Single(report["cases"]!.AsArray())!["stationId"]!.GetValue<string>());
        Assert.Equal(1, (await _api.GetAsync($"/v1/grid/prequalifications/report?year={year}", g.Dso))["conditional"]!.GetValue<int>());
        using var csv = await _api.SendAsync(HttpMethod.Get, $"/v1/grid/prequalifications/report?year={year}&format=csv", g.Tso, null);
        Assert.Equal("text/csv", csv.Content.Headers.ContentType?.MediaType);
        var lines = (await csv.Content.ReadAsStringAsync()).TrimEnd('\n').Split('\n');
        Assert.Equal(2, lines.Length);
        Assert.StartsWith("stationId,cpoId,nodeId,", lines[0]);
        Assert.Contains("NotApproved", lines[1]);
        Assert.Contains("\"Line 220 kV Terni-Villavalle overloads.\"".Trim('"'), lines[1]);
        Assert.Equal(0, (await _api.GetAsync($"/v1/grid/prequalifications/report?year={year - 1}", g.Tso))["refused"]!.GetValue<int>());
    }

    [Fact]
    public async Task ConditionalMaximumPower_HoldsForTheStationsAwardsTogether_TheSecondOfferLosesNamingTheCap()
    {
        var g = await GridAsync(_api, "IT001E00000204");
        await _api.SendOkAsync(HttpMethod.Put, $"/v1/grid/prequalifications/{g.Station}", g.Dso, new { verdict = "ConditionallyApproved", maxKw = 5m });

        // Two requests of one gate cycle with overlapping windows; the 22 kW station offers 5 kW to each, each within the cap alone.
        var t0 = market.Clock.GetUtcNow();
        var first = await _api.RequestAsync(g.Dso, g.Transformer, t0.AddHours(1), t0.AddHours(2), kwh: 5m);
        var second = await _api.RequestAsync(g.Dso, g.Transformer, t0.AddHours(1), t0.AddHours(2).AddMinutes(30), kwh: 5m);
        var won = (await _api.PostAsync($"/v1/requests/{first}/offers", g.Cpo, Offer(g.Station, 5m)))["id"]!.GetValue<string>();
        var lost = (await _api.PostAsync($"/v1/requests/{second}/offers", g.Cpo, Offer(g.Station, 5m)))["id"]!.GetValue<string>();

        market.Clock.SetTo(t0.AddHours(1));
        var awarded = await _api.WaitForStateAsync(first, g.Dso, "Awarded");
        Assert.Equal(won, Assert.Single(awarded["awards"]!.AsArray())!["offerId"]!.GetValue<string>());
        var unfilled = await _api.WaitForStateAsync(second, g.Dso, "Unfilled");
        var outcome = Assert.Single(unfilled["outcomes"]!.AsArray())!;
        Assert.Equal((lost, "RejectedCapacityConflict"), (outcome["offerId"]!.GetValue<string>(), outcome["outcome"]!.GetValue<string>()));
        Assert.Contains($"cap station {g.Station} at 5 kW", outcome["detail"]!.GetValue<string>());
    }

    [Fact]
    public async Task Silence_ByTheDeadline_IsApproval_AndALateAnswerIsRefused()
    {
        await using var quick = market.NewInstance(("Market:GridAnswerPeriod", "00:10:00"));
        var api = new MarketClient(quick.CreateClient());
        var g = await GridAsync(api, "IT001E00000202");
        await api.SendOkAsync(HttpMethod.Put, $"/v1/grid/prequalifications/{g.Station}", g.Dso, new { verdict = "Approved" });
        Assert.Equal("Pending", (await api.GetAsync($"/v1/stations/{g.Station}/grid-prequalification", g.Cpo))["status"]!.GetValue<string>());

        market.Clock.Advance(TimeSpan.FromMinutes(10));
        var grid = await api.GetAsync($"/v1/stations/{g.Station}/grid-prequalification", g.Cpo);
        Assert.Equal("Approved", grid["status"]!.GetValue<string>());
        using var late = await api.SendAsync(HttpMethod.Put, $"/v1/grid/prequalifications/{g.Station}", g.Tso,
            new { verdict = "NotApproved", justification = "Too late.", whyNoTemporaryLimit = "None." });
        await MarketClient.ProblemAsync(late, HttpStatusCode.UnprocessableEntity, "stationId", "answer-deadline");
    }

    [Fact]
    public async Task Answer_ByAnOperatorOutsideTheStationsGrid_IsForbidden_AndBadInputsNameFieldAndRule()
    {
        var g = await GridAsync(_api, "IT001E00000203");
        var other = await _api.RegisterAsync("Dso", "Other DSO", MarketFixture.RuleDsoKey);
        using (var r = await _api.SendAsync(HttpMethod.Put, $"/v1/grid/prequalifications/{g.Station}", other, new { verdict = "Approved" }))
            await MarketClient.ProblemAsync(r, HttpStatusCode.Forbidden, "stationId", "own-grid");
        using (var r = await _api.SendAsync(HttpMethod.Put, $"/v1/grid/prequalifications/{g.Station}", g.Cpo, new { verdict = "Approved" }))
            Assert.Equal(HttpStatusCode.Forbidden, r.StatusCode);
        using (var r = await _api.SendAsync(HttpMethod.Put, $"/v1/grid/prequalifications/{g.Station}", g.Dso, new { verdict = "ConditionallyApproved" }))
            await MarketClient.ProblemAsync(r, HttpStatusCode.UnprocessableEntity, "verdict", "conditions");
        using (var r = await _api.SendAsync(HttpMethod.Put, $"/v1/grid/prequalifications/{g.Station}", g.Dso, new { verdict = "ConditionallyApproved", allowedHours = new { fromHour = 6, toHour = 24 } }))
            await MarketClient.ProblemAsync(r, HttpStatusCode.BadRequest, "allowedHours.toHour", "inclusive-between");
        using (var r = await _api.SendAsync(HttpMethod.Put, $"/v1/grid/prequalifications/{g.Station}", g.Dso, new { verdict = "Maybe" }))
            await MarketClient.ProblemAsync(r, HttpStatusCode.BadRequest, "verdict", "enum");
        using (var r = await _api.SendAsync(HttpMethod.Get, "/v1/grid/prequalifications/report", g.Dso, null))
            await MarketClient.ProblemAsync(r, HttpStatusCode.BadRequest, "year", "range");

        // Hours across midnight: a daytime window is outside them.
        await _api.SendOkAsync(HttpMethod.Put, $"/v1/grid/prequalifications/{g.Station}", g.Dso, new { verdict = "ConditionallyApproved", allowedHours = new { fromHour = 22, toHour = 6 } });
        var cases = (await _api.GetAsync("/v1/grid/prequalifications", g.Dso))["items"]!.AsArray();
        var mine = cases.Single(c => c!["stationId"]!.GetValue<string>() == g.Station)!;
        Assert.Equal([0, 1, 2, 3, 4, 5, 22, 23], mine["answer"]!["allowedHoursUtc"]!.AsArray().Select(h => h!.GetValue<int>()));
        var t0 = market.Clock.GetUtcNow();
        var start = new DateTimeOffset(t0.UtcDateTime.Date.AddDays(1).AddHours(12), TimeSpan.Zero);
        var request = await _api.RequestAsync(g.Dso, g.Transformer, start.AddHours(-2), start, kwh: 1m);
        using var outside = await _api.SendAsync(HttpMethod.Post, $"/v1/requests/{request}/offers", g.Cpo, Offer(g.Station, 1m));
        await MarketClient.ProblemAsync(outside, HttpStatusCode.UnprocessableEntity, "stationIds", "grid-hours");
    }
}
