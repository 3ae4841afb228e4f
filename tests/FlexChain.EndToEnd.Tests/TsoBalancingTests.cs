using System.Net;

namespace FlexChain.EndToEnd.Tests;

/// <summary>
/// A TSO's balancing requests over HTTP: posted on its own HV/MV substation (role and ownership checked), drawing on
/// stations below it in two DSOs' grids, locked in escrow from the TSO's wallet; and the global bookings keep a station
/// awarded by one buyer from being awarded by the other for an overlapping window, both ways.
/// </summary>
[Collection(MarketCollection.Name)]
public sealed class TsoBalancingTests(MarketFixture market)
{
    private readonly MarketClient _api = new(market.Client);

    private static readonly object Where = new { latitude = 42.5636m, longitude = 12.6427m };

    private static object Offer(decimal price, params string[] stations) => new { stationIds = stations, energyKwh = 5m, priceEurPerKwh = price, divisible = false };

    private sealed record Grid(Caller Tso, Caller DsoA, Caller DsoB, Caller CpoA, Caller CpoB, string Substation, string TransformerA, string TransformerB,
        string StationA, string StationB, string Outside);

    /// <summary>A TSO's substation with one DSO's transformer right below it and another DSO's below a feeder; a third transformer elsewhere.</summary>
    private async Task<Grid> GridAsync(string meters)
    {
        var (wallet, _) = await market.FundedWalletAsync(1_000_000_000);
        var tso = await _api.RegisterAsync("Tso", "Terna", wallet);
        var (dsoWallet, _) = await market.FundedWalletAsync(1_000_000_000);
        var dsoA = await _api.RegisterAsync("Dso", "ASM Terni", dsoWallet);
        var (dsoBWallet, _) = await market.FundedWalletAsync(1_000_000_000);
        var dsoB = await _api.RegisterAsync("Dso", "E-Distribuzione", dsoBWallet);
        var cpoA = await _api.RegisterAsync("Cpo", "Be Charge", MarketFixture.CpoAKey);
        var cpoB = await _api.RegisterAsync("Cpo", "Enel X", MarketFixture.CpoBKey);
        var substation = (await _api.PostAsync("/v1/grid/nodes", tso, new { kind = "HvMvSubstation", name = "Terni HV/MV", ratedPowerKw = 40_000m, location = Where }))["id"]!.GetValue<string>();
        var transformerA = (await _api.PostAsync("/v1/transformers", dsoA, new { name = "Terni Nord 3", ratedPowerKw = 630, location = Where, parentId = substation }))["id"]!.GetValue<string>();
        var feeder = (await _api.PostAsync("/v1/grid/nodes", dsoB, new { kind = "MvFeeder", name = "Narni 12", ratedPowerKw = 5_000m, location = Where, parentId = substation }))["id"]!.GetValue<string>();
        var transformerB = (await _api.PostAsync("/v1/transformers", dsoB, new { name = "Narni 1", ratedPowerKw = 400, location = Where, parentId = feeder }))["id"]!.GetValue<string>();
        var elsewhere = await _api.TransformerAsync(dsoA);
        // 8 kW stations: one 5 kW award fills a station for its window, so two overlapping awards never share one.
        return new Grid(tso, dsoA, dsoB, cpoA, cpoB, substation, transformerA, transformerB,
            await _api.StationAsync(cpoA, transformerA, meters + "1", acKw: 8m), await _api.StationAsync(cpoB, transformerB, meters + "2", acKw: 8m),
            await _api.StationAsync(cpoB, elsewhere, meters + "3", acKw: 8m));
    }

    [Fact]
    public async Task BalancingRequest_OnlyATsoOnItsOwnSubstation_DrawsOnStationsBelowItInAnyDsosGrid()
    {
        var g = await GridAsync("IT001E0000201");
        var t0 = market.Clock.GetUtcNow();
        var otherTso = await _api.RegisterAsync("Tso", "Other TSO", MarketFixture.RuleDsoKey);

        // Roles and ownership: a DSO cannot post on the TSO's substation, nor a TSO on a DSO's transformer or another TSO's substation.
        using (var r = await _api.SendAsync(HttpMethod.Post, "/v1/requests", g.DsoA, Body(g.Substation, t0)))
            await MarketClient.ProblemAsync(r, HttpStatusCode.Forbidden, "transformerId", "own-transformer");
        using (var r = await _api.SendAsync(HttpMethod.Post, "/v1/requests", g.Tso, Body(g.TransformerA, t0)))
            await MarketClient.ProblemAsync(r, HttpStatusCode.Forbidden, "transformerId", "own-transformer");
        using (var r = await _api.SendAsync(HttpMethod.Post, "/v1/requests", otherTso, Body(g.Substation, t0)))
            await MarketClient.ProblemAsync(r, HttpStatusCode.Forbidden, "transformerId", "own-transformer");
        using (var r = await _api.SendAsync(HttpMethod.Post, "/v1/requests", g.CpoA, Body(g.Substation, t0)))
            Assert.Equal(HttpStatusCode.Forbidden, r.StatusCode);
        // HV/MV substations are the TSO's: a DSO registers none; and a DSO's requests are on its transformers, not on its feeders.
        using (var r = await _api.SendAsync(HttpMethod.Post, "/v1/grid/nodes", g.DsoB, new { kind = "HvMvSubstation", name = "Own HV/MV", ratedPowerKw = 40_000m, location = Where }))
            await MarketClient.ProblemAsync(r, HttpStatusCode.UnprocessableEntity, "kind", "dso-kind");
        var dsoFeeder = (await _api.PostAsync("/v1/grid/nodes", g.DsoB, new { kind = "MvFeeder", name = "Own feeder", ratedPowerKw = 10_000m, location = Where }))["id"]!.GetValue<string>();
        using (var r = await _api.SendAsync(HttpMethod.Post, "/v1/requests", g.DsoB, Body(dsoFeeder, t0)))
            await MarketClient.ProblemAsync(r, HttpStatusCode.UnprocessableEntity, "transformerId", "node-kind");

        var request = (await _api.PostAsync("/v1/requests", g.Tso, Body(g.Substation, t0)))["id"]!.GetValue<string>();
        // A temporary limit below the substation is announced at least an hour before the TSO's gate too (it closes in 30 minutes).
        var soon = (await _api.PostAsync("/v1/requests", g.Tso, Body(g.Substation, t0, gate: t0.AddMinutes(30), start: t0.AddHours(1))))["id"]!.GetValue<string>();
        using (var r = await _api.SendAsync(HttpMethod.Post, "/v1/grid/limits", g.DsoA,
            new { nodeId = g.TransformerA, periodStart = t0.AddHours(1), periodEnd = t0.AddHours(2), maxKw = 0m, reason = "Cable fault." }))
            Assert.Contains(soon, (await MarketClient.ProblemAsync(r, HttpStatusCode.UnprocessableEntity, "periodStart", "announcement-lead"))["detail"]!.GetValue<string>());
        var posted = await _api.GetAsync($"/v1/requests/{request}", g.Tso);
        Assert.Equal(("Tso", g.Tso.Id, g.Substation), (posted["buyer"]!.GetValue<string>(), posted["dsoId"]!.GetValue<string>(), posted["transformerId"]!.GetValue<string>()));

        // A station outside the substation's grid is refused; stations below it in both DSOs' grids are accepted.
        using (var r = await _api.SendAsync(HttpMethod.Post, $"/v1/requests/{request}/offers", g.CpoB, Offer(0.2m, g.StationB, g.Outside)))
            Assert.Contains("not in the grid below", (await MarketClient.ProblemAsync(r, HttpStatusCode.UnprocessableEntity, "stationIds", "qualified"))["detail"]!.GetValue<string>());
        await _api.PostAsync($"/v1/requests/{request}/offers", g.CpoA, Offer(0.1m, g.StationA));
        await _api.PostAsync($"/v1/requests/{request}/offers", g.CpoB, Offer(0.2m, g.StationB));
        // Sealed: the DSOs below see nothing; the TSO sees the offers only after gate closure.
        using (var r = await _api.SendAsync(HttpMethod.Get, $"/v1/requests/{request}/offers", g.DsoA, null))
            await MarketClient.ProblemAsync(r, HttpStatusCode.Forbidden, "id", "sealed");

        market.Clock.SetTo(t0.AddHours(1));
        var awarded = await _api.WaitForStateAsync(request, g.Tso, "Awarded");
        Assert.Equal(new[] { g.CpoA.Id, g.CpoB.Id }.Order(), awarded["awards"]!.AsArray().Select(a => a!["cpoId"]!.GetValue<string>()).Order());
        Assert.Equal(2, (await _api.GetAsync($"/v1/requests/{request}/offers", g.Tso))["items"]!.AsArray().Count);
    }

    [Fact]
    public async Task Bookings_AStationAwardedByTheDso_IsNotAwardedByTheTsoForAnOverlappingWindow_AndTheReverse()
    {
        var g = await GridAsync("IT001E0000202");
        var t0 = market.Clock.GetUtcNow();
        var start = t0.AddHours(2);
        // DSO first (cycle at t0+1h), then the TSO (cycle 15 minutes later) on an overlapping window, both offered station A.
        var dsoRequest = await _api.RequestAsync(g.DsoA, g.TransformerA, t0.AddHours(1), start, kwh: 5m);
        var tsoRequest = (await _api.PostAsync("/v1/requests", g.Tso, Body(g.Substation, t0, gate: t0.AddHours(1).AddMinutes(15), start: start.AddMinutes(30))))["id"]!.GetValue<string>();
        await _api.PostAsync($"/v1/requests/{dsoRequest}/offers", g.CpoA, Offer(0.1m, g.StationA));
        var lost = (await _api.PostAsync($"/v1/requests/{tsoRequest}/offers", g.CpoA, Offer(0.1m, g.StationA)))["id"]!.GetValue<string>();
        await _api.PostAsync($"/v1/requests/{tsoRequest}/offers", g.CpoB, Offer(0.2m, g.StationB));
        // Then the reverse: the TSO's later request wins station B first, and the DSO's request after it cannot have it.
        var tsoFirst = (await _api.PostAsync("/v1/requests", g.Tso, Body(g.Substation, t0, gate: t0.AddHours(1).AddMinutes(30), start: start.AddHours(2))))["id"]!.GetValue<string>();
        var dsoAfter = await _api.RequestAsync(g.DsoB, g.TransformerB, t0.AddHours(1).AddMinutes(45), start.AddHours(2).AddMinutes(30), kwh: 5m);
        await _api.PostAsync($"/v1/requests/{tsoFirst}/offers", g.CpoB, Offer(0.2m, g.StationB));
        var lostToTso = (await _api.PostAsync($"/v1/requests/{dsoAfter}/offers", g.CpoB, Offer(0.2m, g.StationB)))["id"]!.GetValue<string>();

        market.Clock.SetTo(t0.AddHours(1));
        var byDso = Assert.Single((await _api.WaitForStateAsync(dsoRequest, g.DsoA, "Awarded"))["awards"]!.AsArray())!;
        market.Clock.SetTo(t0.AddHours(1).AddMinutes(15));
        var tso = await _api.WaitForStateAsync(tsoRequest, g.Tso, "Awarded");
        Assert.Equal(g.CpoB.Id, Assert.Single(tso["awards"]!.AsArray())!["cpoId"]!.GetValue<string>());
        var conflict = tso["outcomes"]!.AsArray().Single(o => o!["offerId"]!.GetValue<string>() == lost)!;
        Assert.Equal("RejectedCapacityConflict", conflict["outcome"]!.GetValue<string>());
        Assert.Contains(byDso["id"]!.GetValue<string>(), conflict["detail"]!.GetValue<string>());

        market.Clock.SetTo(t0.AddHours(1).AddMinutes(30));
        var byTso = Assert.Single((await _api.WaitForStateAsync(tsoFirst, g.Tso, "Awarded"))["awards"]!.AsArray())!;
        market.Clock.SetTo(t0.AddHours(1).AddMinutes(45));
        var dso = await FlexChain.Testing.Poll.UntilAsync(() => _api.GetAsync($"/v1/requests/{dsoAfter}", g.DsoB), r => r["state"]!.GetValue<string>() == "Unfilled",
            TimeSpan.FromSeconds(90), "the DSO's request after the TSO's award ending unfilled");
        var refused = Assert.Single(dso["outcomes"]!.AsArray())!;
        Assert.Equal((lostToTso, "RejectedCapacityConflict"), (refused["offerId"]!.GetValue<string>(), refused["outcome"]!.GetValue<string>()));
        Assert.Contains(byTso["id"]!.GetValue<string>(), refused["detail"]!.GetValue<string>());
    }

    [Fact]
    public async Task Coordination_DsoFirst_TheDsoRequestOfTheSameCycleGetsTheSharedStation_OnlyItsOwnerSetsIt()
    {
        var g = await GridAsync("IT001E0000203");
        var t0 = market.Clock.GetUtcNow();
        Assert.Equal("Separate", (await _api.GetAsync($"/v1/grid/nodes/{g.Substation}/coordination", g.CpoA))["model"]!.GetValue<string>());
        using (var r = await _api.SendAsync(HttpMethod.Put, $"/v1/grid/nodes/{g.Substation}/coordination", g.DsoA, new { model = "DsoFirst" }))
            await MarketClient.ProblemAsync(r, HttpStatusCode.Forbidden, "id", "own-node");
        using (var r = await _api.SendAsync(HttpMethod.Put, $"/v1/grid/nodes/{g.TransformerA}/coordination", g.DsoA, new { model = "DsoFirst" }))
            await MarketClient.ProblemAsync(r, HttpStatusCode.UnprocessableEntity, "id", "top-node");
        using (var r = await _api.SendAsync(HttpMethod.Put, $"/v1/grid/nodes/{g.Substation}/coordination", g.Tso, new { model = "Common2" }))
            await MarketClient.ProblemAsync(r, HttpStatusCode.BadRequest, "model", "enum");
        var set = await _api.SendOkAsync(HttpMethod.Put, $"/v1/grid/nodes/{g.Substation}/coordination", g.Tso, new { model = "DsoFirst" });
        Assert.Equal("DsoFirst", set["model"]!.GetValue<string>());

        // One gate cycle: the TSO's request on the substation and the DSO's on its transformer below, overlapping windows.
        // The TSO's sorts first in the usual order (earlier delivery) and is offered station A cheaper, yet the DSO gets it.
        var tsoRequest = (await _api.PostAsync("/v1/requests", g.Tso, Body(g.Substation, t0, start: t0.AddHours(2))))["id"]!.GetValue<string>();
        var dsoRequest = await _api.RequestAsync(g.DsoA, g.TransformerA, t0.AddHours(1), t0.AddHours(2).AddMinutes(30), kwh: 5m);
        var forwarded = (await _api.PostAsync($"/v1/requests/{tsoRequest}/offers", g.CpoA, Offer(0.1m, g.StationA)))["id"]!.GetValue<string>();
        await _api.PostAsync($"/v1/requests/{dsoRequest}/offers", g.CpoA, Offer(0.3m, g.StationA));
        await _api.PostAsync($"/v1/requests/{tsoRequest}/offers", g.CpoB, Offer(0.2m, g.StationB));

        market.Clock.SetTo(t0.AddHours(1));
        var dso = await _api.WaitForStateAsync(dsoRequest, g.DsoA, "Awarded");
        var tso = await _api.WaitForStateAsync(tsoRequest, g.Tso, "Awarded");
        Assert.Equal(dso["gateCycleId"]!.GetValue<string>(), tso["gateCycleId"]!.GetValue<string>());
        Assert.Equal(g.CpoA.Id, Assert.Single(dso["awards"]!.AsArray())!["cpoId"]!.GetValue<string>());
        Assert.Equal(g.CpoB.Id, Assert.Single(tso["awards"]!.AsArray())!["cpoId"]!.GetValue<string>());
        var lost = tso["outcomes"]!.AsArray().Single(o => o!["offerId"]!.GetValue<string>() == forwarded)!;
        Assert.Equal("RejectedCapacityConflict", lost["outcome"]!.GetValue<string>());
    }

    [Fact]
    public async Task Forwarding_DsoFirst_AnUnboughtOfferWithConsentGoesToTheTsoRequest_TheCpoIsToldAndMayChangeIt()
    {
        var g = await GridAsync("IT001E0000204");
        var t0 = market.Clock.GetUtcNow();
        var cpoC = await _api.RegisterAsync("Cpo", "Duferco", MarketFixture.RuleCpoAKey);
        var stationB2 = await _api.StationAsync(g.CpoB, g.TransformerA, "IT001E00002045");
        var stationC = await _api.StationAsync(cpoC, g.TransformerA, "IT001E00002046");
        await _api.SendOkAsync(HttpMethod.Put, $"/v1/grid/nodes/{g.Substation}/coordination", g.Tso, new { model = "DsoFirst" });
        var dsoRequest = await _api.RequestAsync(g.DsoA, g.TransformerA, t0.AddHours(1), t0.AddHours(2), kwh: 5m);
        var tsoRequest = (await _api.PostAsync("/v1/requests", g.Tso, Body(g.Substation, t0, gate: t0.AddHours(1).AddMinutes(30))))["id"]!.GetValue<string>();

        // On the DSO's request: B wins; A loses with consent to forward; C loses without it. Consent is refused on a TSO's request.
        await _api.PostAsync($"/v1/requests/{dsoRequest}/offers", g.CpoB, Offer(0.1m, stationB2));
        var local = (await _api.PostAsync($"/v1/requests/{dsoRequest}/offers", g.CpoA, Forwardable(0.3m, g.StationA)))["id"]!.GetValue<string>();
        Assert.True((await _api.GetAsync($"/v1/requests/{dsoRequest}/offers/{local}", g.CpoA))["forwardToTso"]!.GetValue<bool>());
        await _api.PostAsync($"/v1/requests/{dsoRequest}/offers", cpoC, Offer(0.4m, stationC));
        using (var r = await _api.SendAsync(HttpMethod.Post, $"/v1/requests/{tsoRequest}/offers", g.CpoB, Forwardable(0.2m, stationB2)))
            await MarketClient.ProblemAsync(r, HttpStatusCode.UnprocessableEntity, "forwardToTso", "dso-request");
        var tsoOffer = (await _api.PostAsync($"/v1/requests/{tsoRequest}/offers", g.CpoB, Offer(0.2m, stationB2)))["id"]!.GetValue<string>();
        Assert.False((await _api.GetAsync($"/v1/requests/{tsoRequest}/offers/{tsoOffer}", g.CpoB))["selectedElsewhere"]!.GetValue<bool>());

        using var stream = new HttpRequestMessage(HttpMethod.Get, "/v1/events") { Headers = { { "X-Api-Key", g.CpoA.ApiKey } } };
        using var events = await market.Client.SendAsync(stream, HttpCompletionOption.ResponseHeadersRead);
        using var reader = new StreamReader(await events.Content.ReadAsStreamAsync());
        market.Clock.SetTo(t0.AddHours(1));
        await _api.WaitForStateAsync(dsoRequest, g.DsoA, "Awarded");

        // A is told, and finds its offer on the TSO's request; C's offer went nowhere; B sees its station taken by the DSO.
        using (var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(90)))
        {
            string? data = null;
            var fields = new Dictionary<string, string>();
            while (data is null && await reader.ReadLineAsync(timeout.Token) is { } line)
            {
                if (line.Length == 0 && fields.GetValueOrDefault("id") == $"{tsoRequest}:offer.forwarded:{g.CpoA.Id}") data = fields["data"];
                else if (line.Length == 0) fields.Clear();
                else if (line.IndexOf(':') is > 0 and var colon) fields[line[..colon]] = line[(colon + 1)..].TrimStart();
            }
            Assert.Equal(local, System.Text.Json.Nodes.JsonNode.Parse(data!)!["data"]!["forwardedFrom"]!.GetValue<string>());
        }
        var forwarded = Assert.Single((await _api.GetAsync($"/v1/requests/{tsoRequest}/offers", g.CpoA))["items"]!.AsArray())!;
        Assert.Equal((local, 0.3m, false), (forwarded["forwardedFrom"]!.GetValue<string>(), forwarded["priceEurPerKwh"]!.GetValue<decimal>(), forwarded["selectedElsewhere"]!.GetValue<bool>()));
        Assert.Empty((await _api.GetAsync($"/v1/requests/{tsoRequest}/offers", cpoC))["items"]!.AsArray());
        Assert.True((await _api.GetAsync($"/v1/requests/{tsoRequest}/offers/{tsoOffer}", g.CpoB))["selectedElsewhere"]!.GetValue<bool>());

        // A lowers its price before the TSO's gate; the offer stays a forwarded one and wins.
        var id = forwarded["id"]!.GetValue<string>();
        var changed = await _api.SendOkAsync(HttpMethod.Put, $"/v1/requests/{tsoRequest}/offers/{id}", g.CpoA, Offer(0.25m, g.StationA));
        Assert.Equal((local, 0.25m), (changed["forwardedFrom"]!.GetValue<string>(), changed["priceEurPerKwh"]!.GetValue<decimal>()));
        market.Clock.SetTo(t0.AddHours(1).AddMinutes(30));
        var tso = await _api.WaitForStateAsync(tsoRequest, g.Tso, "Awarded");
        var award = Assert.Single(tso["awards"]!.AsArray())!;
        Assert.Equal((id, 0.25m), (award["offerId"]!.GetValue<string>(), award["priceEurPerKwh"]!.GetValue<decimal>()));
        Assert.Equal("RejectedCapacityConflict", tso["outcomes"]!.AsArray().Single(o => o!["offerId"]!.GetValue<string>() == tsoOffer)!["outcome"]!.GetValue<string>());
    }

    [Fact]
    public async Task Forwarding_ToATsoWindowSharingHalfTheDsos_TheOfferKeepsItsPowerInTheSharedQuarters()
    {
        var g = await GridAsync("IT001E0000208");
        var t0 = market.Clock.GetUtcNow();
        var stationB2 = await _api.StationAsync(g.CpoB, g.TransformerA, "IT001E00002085", acKw: 8m);
        await _api.SendOkAsync(HttpMethod.Put, $"/v1/grid/nodes/{g.Substation}/coordination", g.Tso, new { model = "DsoFirst" });
        var dsoRequest = await _api.RequestAsync(g.DsoA, g.TransformerA, t0.AddHours(1), t0.AddHours(2), kwh: 5m);
        // The TSO's hour starts half an hour into the DSO's.
        var tsoBody = System.Text.Json.Nodes.JsonNode.Parse(System.Text.Json.JsonSerializer.Serialize(
            Body(g.Substation, t0, gate: t0.AddHours(1).AddMinutes(30), start: t0.AddHours(2).AddMinutes(30)), Web))!.AsObject();
        tsoBody.Remove("minimumOfferKwh");
        var tsoRequest = (await _api.PostAsync("/v1/requests", g.Tso, tsoBody))["id"]!.GetValue<string>();
        await _api.PostAsync($"/v1/requests/{dsoRequest}/offers", g.CpoB, Offer(0.1m, stationB2));
        var local = (await _api.PostAsync($"/v1/requests/{dsoRequest}/offers", g.CpoA, Forwardable(0.3m, g.StationA)))["id"]!.GetValue<string>();

        market.Clock.SetTo(t0.AddHours(1));
        await _api.WaitForStateAsync(dsoRequest, g.DsoA, "Awarded");
        var forwarded = (await FlexChain.Testing.Poll.UntilAsync(() => _api.GetAsync($"/v1/requests/{tsoRequest}/offers", g.CpoA),
            page => page["items"]!.AsArray().Count > 0, TimeSpan.FromSeconds(90), "the offer forwarded to the TSO's request"))["items"]!.AsArray().Single()!;
        // 5 kWh over the DSO's hour is 5 kW: the TSO gets that power in the two quarters the windows share, none after.
        Assert.Equal(local, forwarded["forwardedFrom"]!.GetValue<string>());
        Assert.Equal([5m, 5m, 0m, 0m], forwarded["profileKw"]!.AsArray().Select(k => k!.GetValue<decimal>()));
        Assert.Equal(2.5m, forwarded["energyKwh"]!.GetValue<decimal>());

        market.Clock.SetTo(t0.AddHours(1).AddMinutes(30));
        var award = Assert.Single((await _api.WaitForStateAsync(tsoRequest, g.Tso, "Awarded"))["awards"]!.AsArray())!;
        Assert.Equal((forwarded["id"]!.GetValue<string>(), 2.5m), (award["offerId"]!.GetValue<string>(), award["energyKwh"]!.GetValue<decimal>()));
        Assert.Equal([5m, 5m, 0m, 0m], award["profileKw"]!.AsArray().Select(k => k!.GetValue<decimal>()));
    }

    [Fact]
    public async Task TradeApproval_ARedAnswerKeepsTheTsoFromAwardingTheTrade_LimitsApproveAutomatically_SilenceAboveTheLimitIsNoApproval()
    {
        var g = await GridAsync("IT001E0000205");
        var t0 = market.Clock.GetUtcNow();
        // DSO B approves trades of up to 10 kW through its transformer automatically; DSO A's limit (3 kW) is below these trades.
        using (var r = await _api.SendAsync(HttpMethod.Put, $"/v1/grid/nodes/{g.TransformerB}/approval-limit", g.DsoA, new { maxKw = 10m }))
            await MarketClient.ProblemAsync(r, HttpStatusCode.Forbidden, "id", "own-node");
        await _api.SendOkAsync(HttpMethod.Put, $"/v1/grid/nodes/{g.TransformerB}/approval-limit", g.DsoB, new { maxKw = 10m });
        await _api.SendOkAsync(HttpMethod.Put, $"/v1/grid/nodes/{g.TransformerA}/approval-limit", g.DsoA, new { maxKw = 3m });
        Assert.Equal(10m, (await _api.GetAsync($"/v1/grid/nodes/{g.TransformerB}/approval-limit", g.Tso))["maxKw"]!.GetValue<decimal>());

        // A DSO's request takes no approval deadline; the TSO's clears 30 minutes after its gate.
        var dsoBody = System.Text.Json.Nodes.JsonNode.Parse(System.Text.Json.JsonSerializer.Serialize(Body(g.TransformerA, t0), Web))!.AsObject();
        dsoBody["approvalDeadline"] = t0.AddHours(1).AddMinutes(30);
        using (var r = await _api.SendAsync(HttpMethod.Post, "/v1/requests", g.DsoA, dsoBody))
            await MarketClient.ProblemAsync(r, HttpStatusCode.UnprocessableEntity, "approvalDeadline", "tso-only");
        var request = (await _api.PostAsync("/v1/requests", g.Tso, Body(g.Substation, t0, kwh: 15m, approval: t0.AddHours(1).AddMinutes(30))))["id"]!.GetValue<string>();
        var red = (await _api.PostAsync($"/v1/requests/{request}/offers", g.CpoA, Offer(0.1m, g.StationA)))["id"]!.GetValue<string>();
        var auto = (await _api.PostAsync($"/v1/requests/{request}/offers", g.CpoB, Offer(0.2m, g.StationB)))["id"]!.GetValue<string>();
        var cpoC = await _api.RegisterAsync("Cpo", "Duferco", MarketFixture.RuleCpoAKey);
        var silent = (await _api.PostAsync($"/v1/requests/{request}/offers", cpoC, Offer(0.3m, await _api.StationAsync(cpoC, g.TransformerA, "IT001E00002056"))))["id"]!.GetValue<string>();

        // Before gate closure the trades are sealed and cannot be answered.
        using (var r = await _api.SendAsync(HttpMethod.Put, $"/v1/requests/{request}/trades/{red}", g.DsoA, new { verdict = "Red", reason = "Feeder 12 at its limit." }))
            await MarketClient.ProblemAsync(r, HttpStatusCode.UnprocessableEntity, "id", "approval-deadline");
        market.Clock.SetTo(t0.AddHours(1));
        Assert.Equal("Open", (await _api.GetAsync($"/v1/requests/{request}", g.Tso))["state"]!.GetValue<string>());

        // Each DSO sees the trades in its grid; the TSO sees them all.
        var seenByA = (await _api.GetAsync($"/v1/requests/{request}/trades", g.DsoA))["items"]!.AsArray();
        Assert.Equal(new[] { red, silent }.Order(), seenByA.Select(t => t!["offerId"]!.GetValue<string>()).Order());
        Assert.Equal(5m, seenByA[0]!["powerKw"]!.GetValue<decimal>());
        var seenByB = Assert.Single((await _api.GetAsync($"/v1/requests/{request}/trades", g.DsoB))["items"]!.AsArray())!;
        Assert.Equal((auto, true), (seenByB["offerId"]!.GetValue<string>(), seenByB["autoApproved"]!.GetValue<bool>()));
        Assert.Equal(3, (await _api.GetAsync($"/v1/requests/{request}/trades", g.Tso))["items"]!.AsArray().Count);

        // Red needs a reason; an automatically approved trade takes only green; a DSO answers only in its grid.
        using (var r = await _api.SendAsync(HttpMethod.Put, $"/v1/requests/{request}/trades/{red}", g.DsoA, new { verdict = "Red" }))
            await MarketClient.ProblemAsync(r, HttpStatusCode.UnprocessableEntity, "reason", "required");
        using (var r = await _api.SendAsync(HttpMethod.Put, $"/v1/requests/{request}/trades/{auto}", g.DsoB, new { verdict = "Red", reason = "Transformer hot." }))
            await MarketClient.ProblemAsync(r, HttpStatusCode.UnprocessableEntity, "verdict", "auto-approved");
        using (var r = await _api.SendAsync(HttpMethod.Put, $"/v1/requests/{request}/trades/{auto}", g.DsoA, new { verdict = "Red", reason = "Not mine." }))
            await MarketClient.ProblemAsync(r, HttpStatusCode.Forbidden, "offerId", "own-grid");
        var answer = await _api.SendOkAsync(HttpMethod.Put, $"/v1/requests/{request}/trades/{red}", g.DsoA, new { verdict = "Red", reason = "Feeder 12 at its limit." });
        Assert.Equal(("Red", g.DsoA.Id), (answer["verdict"]!.GetValue<string>(), answer["operatorId"]!.GetValue<string>()));
        await _api.SendOkAsync(HttpMethod.Put, $"/v1/requests/{request}/trades/{auto}", g.DsoB, new { verdict = "Green" });

        // At the approval deadline the request clears: the red trade is not awarded, nor the silent one (5 kW, above DSO A's
        // 3 kW limit, with no answer from DSO A); the automatically approved one is.
        market.Clock.SetTo(t0.AddHours(1).AddMinutes(30));
        var cleared = await _api.WaitForStateAsync(request, g.Tso, "Awarded");
        Assert.Equal([auto], cleared["awards"]!.AsArray().Select(a => a!["offerId"]!.GetValue<string>()));
        foreach (var refused in new[] { red, silent })
            Assert.Equal("RejectedNotEligible", cleared["outcomes"]!.AsArray().Single(o => o!["offerId"]!.GetValue<string>() == refused)!["outcome"]!.GetValue<string>());
        using (var r = await _api.SendAsync(HttpMethod.Put, $"/v1/requests/{request}/trades/{silent}", g.DsoA, new { verdict = "Red", reason = "Too late." }))
            await MarketClient.ProblemAsync(r, HttpStatusCode.UnprocessableEntity, "id", "approval-deadline");
    }

    [Fact]
    public async Task Pooling_ForwardedOffersBelowTheTsosMinimumBlock_WinAsOneBlock_EachMemberAwardedItsOwn_SeenByTheDsoAfterTheTsosGate()
    {
        var g = await GridAsync("IT001E0000206");
        var t0 = market.Clock.GetUtcNow();
        var cpoC = await _api.RegisterAsync("Cpo", "Duferco", MarketFixture.RuleCpoAKey);
        var cpoD = await _api.RegisterAsync("Cpo", "Ewiva", MarketFixture.RuleCpoBKey);
        var stationB2 = await _api.StationAsync(g.CpoB, g.TransformerA, "IT001E00002065");
        var stationC = await _api.StationAsync(cpoC, g.TransformerA, "IT001E00002066");
        var stationD = await _api.StationAsync(cpoD, g.TransformerA, "IT001E00002067");
        await _api.SendOkAsync(HttpMethod.Put, $"/v1/grid/nodes/{g.Substation}/coordination", g.Tso, new { model = "DsoFirst" });

        // The minimum block is a TSO's, at most its request's own power (15 kWh over an hour: 15 kW).
        var dsoBody = System.Text.Json.Nodes.JsonNode.Parse(System.Text.Json.JsonSerializer.Serialize(Body(g.TransformerA, t0), Web))!.AsObject();
        dsoBody["minBlockKw"] = 1m;
        using (var r = await _api.SendAsync(HttpMethod.Post, "/v1/requests", g.DsoA, dsoBody))
            await MarketClient.ProblemAsync(r, HttpStatusCode.UnprocessableEntity, "minBlockKw", "tso-only");
        using (var r = await _api.SendAsync(HttpMethod.Post, "/v1/requests", g.Tso, Body(g.Substation, t0, gate: t0.AddHours(1).AddMinutes(30), kwh: 15m, minBlock: 15.001m)))
            await MarketClient.ProblemAsync(r, HttpStatusCode.UnprocessableEntity, "minBlockKw", "min-block-size");
        var dsoRequest = await _api.RequestAsync(g.DsoA, g.TransformerA, t0.AddHours(1), t0.AddHours(2), kwh: 5m);
        var tsoRequest = (await _api.PostAsync("/v1/requests", g.Tso, Body(g.Substation, t0, gate: t0.AddHours(1).AddMinutes(30), kwh: 15m, minBlock: 10m)))["id"]!.GetValue<string>();
        Assert.Equal(10m, (await _api.GetAsync($"/v1/requests/{tsoRequest}", g.CpoA))["minBlockKw"]!.GetValue<decimal>());
        // A direct offer below the block can never win, so it is refused; forwarded ones below it are pooled.
        using (var r = await _api.SendAsync(HttpMethod.Post, $"/v1/requests/{tsoRequest}/offers", g.CpoB, Offer(0.1m, g.StationB)))
            await MarketClient.ProblemAsync(r, HttpStatusCode.UnprocessableEntity, "energyKwh", "min-block");

        // B wins the DSO's request; A, C and D lose it with consent to forward, 5 kW each.
        await _api.PostAsync($"/v1/requests/{dsoRequest}/offers", g.CpoB, Offer(0.1m, stationB2));
        var a = (await _api.PostAsync($"/v1/requests/{dsoRequest}/offers", g.CpoA, Forwardable(0.3m, g.StationA)))["id"]!.GetValue<string>();
        var c = (await _api.PostAsync($"/v1/requests/{dsoRequest}/offers", cpoC, Forwardable(0.35m, stationC)))["id"]!.GetValue<string>();
        var d = (await _api.PostAsync($"/v1/requests/{dsoRequest}/offers", cpoD, Forwardable(0.4m, stationD)))["id"]!.GetValue<string>();
        market.Clock.SetTo(t0.AddHours(1));
        await _api.WaitForStateAsync(dsoRequest, g.DsoA, "Awarded");
        var forwarded = new Dictionary<string, string>();
        foreach (var (cpo, local) in new[] { (g.CpoA, a), (cpoC, c), (cpoD, d) })
            forwarded[local] = (await FlexChain.Testing.Poll.UntilAsync(() => _api.GetAsync($"/v1/requests/{tsoRequest}/offers", cpo), r => r["items"]!.AsArray().Count == 1,
                TimeSpan.FromSeconds(60), "the offer forwarded"))["items"]![0]!["id"]!.GetValue<string>();

        // Before the TSO's gate its offers are sealed for the DSO too: the request is only counted.
        var sealedView = await _api.GetAsync($"/v1/grid/nodes/{g.TransformerA}/tso-offers", g.DsoA);
        Assert.Equal((1, 0), (sealedView["sealedRequests"]!.GetValue<int>(), sealedView["items"]!.AsArray().Count));
        Assert.Empty((await _api.GetAsync($"/v1/requests/{tsoRequest}/pools", g.Tso))["items"]!.AsArray());

        market.Clock.SetTo(t0.AddHours(1).AddMinutes(30));
        var tso = await _api.WaitForStateAsync(tsoRequest, g.Tso, "Awarded");

        // A and C (10 kW together) are pool-1, one block at its dearest member's price; D, left alone at 5 kW, loses.
        var awards = tso["awards"]!.AsArray().Select(x => (x!["offerId"]!.GetValue<string>(), x["cpoId"]!.GetValue<string>(), x["energyKwh"]!.GetValue<decimal>(),
            x["priceEurPerKwh"]!.GetValue<decimal>(), x["poolId"]!.GetValue<string>())).ToList();
        Assert.Equal([(forwarded[a], g.CpoA.Id, 5m, 0.35m, "pool-1"), (forwarded[c], cpoC.Id, 5m, 0.35m, "pool-1")], awards);
        var lost = tso["outcomes"]!.AsArray().Single(o => o!["offerId"]!.GetValue<string>() == forwarded[d])!;
        Assert.Equal("RejectedBelowMinimumBlock", lost["outcome"]!.GetValue<string>());
        Assert.Contains("minimum block", lost["detail"]!.GetValue<string>());

        // The pool: all of it to the TSO, a member's CPO sees only its own offer in it, others nothing.
        var pool = Assert.Single((await _api.GetAsync($"/v1/requests/{tsoRequest}/pools", g.Tso))["items"]!.AsArray())!;
        Assert.Equal(("pool-1", "Accepted", 10m, 10m, 0.35m, 2), (pool["poolId"]!.GetValue<string>(), pool["outcome"]!.GetValue<string>(), pool["energyKwh"]!.GetValue<decimal>(),
            pool["powerKw"]!.GetValue<decimal>(), pool["priceEurPerKwh"]!.GetValue<decimal>(), pool["memberCount"]!.GetValue<int>()));
        Assert.Equal(new[] { forwarded[a], forwarded[c] }.Order(), pool["members"]!.AsArray().Select(m => m!["offerId"]!.GetValue<string>()).Order());
        var mine = Assert.Single(Assert.Single((await _api.GetAsync($"/v1/requests/{tsoRequest}/pools", g.CpoA))["items"]!.AsArray())!["members"]!.AsArray())!;
        Assert.Equal((forwarded[a], a, $"{tsoRequest}/{forwarded[a]}", 0.3m), (mine["offerId"]!.GetValue<string>(), mine["forwardedFrom"]!.GetValue<string>(),
            mine["awardId"]!.GetValue<string>(), mine["priceEurPerKwh"]!.GetValue<decimal>()));
        Assert.Empty((await _api.GetAsync($"/v1/requests/{tsoRequest}/pools", cpoD))["items"]!.AsArray());
        Assert.Empty((await _api.GetAsync($"/v1/requests/{tsoRequest}/pools", g.DsoB))["items"]!.AsArray());

        // The DSO sees the TSO's offers in its grid with their state; the other DSO sees none of them and cannot ask for A's grid.
        var inGrid = (await _api.GetAsync($"/v1/grid/nodes/{g.TransformerA}/tso-offers", g.DsoA))["items"]!.AsArray()
            .Where(i => i!["requestId"]!.GetValue<string>() == tsoRequest)
            .ToDictionary(i => i!["offerId"]!.GetValue<string>(), i => (i!["state"]!.GetValue<string>(), i["forwardedFrom"]!.GetValue<string>(), i["poolId"]?.GetValue<string>()));
        Assert.Equal(new Dictionary<string, (string, string, string?)>
        {
            [forwarded[a]] = ("Accepted", a, "pool-1"), [forwarded[c]] = ("Accepted", c, "pool-1"), [forwarded[d]] = ("RejectedBelowMinimumBlock", d, null),
        }, inGrid);
        Assert.DoesNotContain((await _api.GetAsync($"/v1/grid/nodes/{g.TransformerB}/tso-offers", g.DsoB))["items"]!.AsArray(),
            i => i!["requestId"]!.GetValue<string>() == tsoRequest);
        using (var r = await _api.SendAsync(HttpMethod.Get, $"/v1/grid/nodes/{g.TransformerA}/tso-offers", g.DsoB, null))
            await MarketClient.ProblemAsync(r, HttpStatusCode.Forbidden, "id", "own-grid");
        Assert.Equal(3, (await _api.GetAsync($"/v1/grid/nodes/{g.Substation}/tso-offers", g.Tso))["items"]!.AsArray().Count(i => i!["requestId"]!.GetValue<string>() == tsoRequest));
    }

    /// <summary>
    /// The runner fixes the answers at the approval deadline before it reads them. An answer acknowledged before is cleared; one
    /// from an instance whose clock has not reached the deadline yet, coming after the fixing, is refused 409 and stored nowhere.
    /// </summary>
    [Fact]
    public async Task TradeAnswers_FixedAtTheApprovalDeadline_ALaterAnswerFromALaggingClockIsRefusedAndNeverApplied()
    {
        var g = await GridAsync("IT001E0000207");
        var t0 = market.Clock.GetUtcNow();
        var deadline = t0.AddHours(1).AddMinutes(30);
        // DSO B approves trades of up to 10 kW automatically, so its silence lets the trade in its grid go.
        await _api.SendOkAsync(HttpMethod.Put, $"/v1/grid/nodes/{g.TransformerB}/approval-limit", g.DsoB, new { maxKw = 10m });
        var request = (await _api.PostAsync("/v1/requests", g.Tso, Body(g.Substation, t0, approval: deadline)))["id"]!.GetValue<string>();
        var inA = (await _api.PostAsync($"/v1/requests/{request}/offers", g.CpoA, Offer(0.1m, g.StationA)))["id"]!.GetValue<string>();
        var inB = (await _api.PostAsync($"/v1/requests/{request}/offers", g.CpoB, Offer(0.2m, g.StationB)))["id"]!.GetValue<string>();
        market.Clock.SetTo(t0.AddHours(1));
        await _api.SendOkAsync(HttpMethod.Put, $"/v1/requests/{request}/trades/{inA}", g.DsoA, new { verdict = "Red", reason = "Feeder 12 at its limit." });

        // The runner of an instance whose clock reached the deadline fixes the answers; the app's clock still reads before it.
        var store = await StoreCollection.NewStoreAsync(market.StorageConnectionString);
        var fixedAnswers = await store.FixTradeAnswersAsync(request, deadline, default);
        Assert.Equal(new[] { (inA, "Red") }, fixedAnswers.Select(x => (x.OfferId, x.Verdict.ToString())));

        foreach (var (dso, offer, verdict) in new[] { (g.DsoA, inA, "Green"), (g.DsoB, inB, "Green") })
            using (var r = await _api.SendAsync(HttpMethod.Put, $"/v1/requests/{request}/trades/{offer}", dso, new { verdict }))
                Assert.Contains(deadline.ToString("O"), (await MarketClient.ProblemAsync(r, HttpStatusCode.Conflict, "id", "approval-deadline"))["detail"]!.GetValue<string>());
        var trades = (await _api.GetAsync($"/v1/requests/{request}/trades", g.Tso))["items"]!.AsArray()
            .ToDictionary(t => t!["offerId"]!.GetValue<string>(), t => t!["answers"]!.AsArray().Select(x => x!["verdict"]!.GetValue<string>()).ToList());
        Assert.Equal(["Red"], trades[inA]);
        Assert.Empty(trades[inB]);

        market.Clock.SetTo(deadline);
        var cleared = await _api.WaitForStateAsync(request, g.Tso, "Awarded");
        Assert.Equal([inB], cleared["awards"]!.AsArray().Select(x => x!["offerId"]!.GetValue<string>()));
        Assert.Equal("RejectedNotEligible", cleared["outcomes"]!.AsArray().Single(o => o!["offerId"]!.GetValue<string>() == inA)!["outcome"]!.GetValue<string>());
    }

    private static readonly System.Text.Json.JsonSerializerOptions Web = new(System.Text.Json.JsonSerializerDefaults.Web);

    private static object Forwardable(decimal price, string station) => new { stationIds = new[] { station }, energyKwh = 5m, priceEurPerKwh = price, divisible = false, forwardToTso = true };

    private static object Body(
        string node, DateTimeOffset t0, DateTimeOffset? gate = null, DateTimeOffset? start = null, decimal kwh = 10m, DateTimeOffset? approval = null, decimal? minBlock = null) => new
    {
        transformerId = node, deliveryStart = start ?? t0.AddHours(2), deliveryEnd = (start ?? t0.AddHours(2)).AddHours(1), energyKwh = kwh,
        direction = "ReduceConsumption", maxPriceEurPerKwh = 0.5m, gateClosure = gate ?? t0.AddHours(1), pricing = "PayAsBid", minimumOfferKwh = 5m,
        approvalDeadline = approval, minBlockKw = minBlock,
    };
}
