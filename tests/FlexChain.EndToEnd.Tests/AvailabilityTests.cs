using System.Net;
using System.Numerics;
using System.Text.Json.Nodes;
using FlexChain.Ethereum;
using FlexChain.Verification;
using FlexChain.Verification.Cli;
using Nethereum.Contracts;

namespace FlexChain.EndToEnd.Tests;

/// <summary>Availability over HTTP: capacity reserved in merit order at the gate, the holders' stations booked, arming releases unarmed days.</summary>
[Collection(MarketCollection.Name)]
public sealed class AvailabilityTests(MarketFixture market)
{
    private readonly MarketClient _api = new(market.Client);

    private static object Offer(string station, decimal kw, decimal availability, decimal activation) =>
        new { stationIds = new[] { station }, capacityKw = kw, availabilityPriceEurPerKw = availability, activationPriceEurPerKwh = activation };

    /// <summary>Posts a one-hour request at <paramref name="start"/> with one offer of <paramref name="station"/>, clears it and returns its offer's outcome.</summary>
    private async Task<string> OutcomeOfOfferAsync(Caller dso, Caller cpo, string transformer, string station, DateTimeOffset gate, DateTimeOffset start)
    {
        var request = await _api.RequestAsync(dso, transformer, gate, start, kwh: 2m);
        await _api.PostAsync($"/v1/requests/{request}/offers", cpo, new { stationIds = new[] { station }, energyKwh = 2m, priceEurPerKwh = 0.1m, divisible = false });
        market.Clock.SetTo(gate);
        var cleared = await _api.WaitForRequestAsync(request, dso, s => s != "Open", "cleared");
        return Assert.Single(cleared["outcomes"]!.AsArray())!["outcome"]!.GetValue<string>();
    }

    /// <summary>A small market whose DSO buys 10 kW for six hours from four hours ahead (at most 5 EUR/kW), its gate in an hour.</summary>
    private async Task<(SmallMarket Market, DateTimeOffset T0, DateTimeOffset Period, string Id)> SixHoursAsync(string name, string meterA, string meterB)
    {
        var m = await _api.SmallMarketAsync(name, MarketFixture.DsoKey, MarketFixture.CpoAKey, MarketFixture.CpoBKey, meterA, meterB);
        var t0 = market.Clock.GetUtcNow();
        var period = new DateTimeOffset(t0.UtcDateTime.Date.AddHours(t0.Hour), TimeSpan.Zero).AddHours(4);
        var id = (await _api.PostAsync("/v1/availability", m.Dso, new
        {
            transformerId = m.Transformer, periodStart = period, periodEnd = period.AddHours(6), capacityKw = 10m, maxAvailabilityPriceEurPerKw = 5m,
            gateClosure = t0.AddHours(1),
        }))["id"]!.GetValue<string>();
        return (m, t0, period, id);
    }

    [Fact]
    public async Task Availability_ReservedInMeritOrder_StationsBooked_UnarmedDayReleased()
    {
        var (dso, cpoA, cpoB, transformer, stationA, stationB) =
            await _api.SmallMarketAsync("Availability", MarketFixture.DsoKey, MarketFixture.CpoAKey, MarketFixture.CpoBKey, "IT001E00000961", "IT001E00000962");
        var t0 = market.Clock.GetUtcNow();
        var day1 = new DateTimeOffset(t0.UtcDateTime.Date.AddDays(4), TimeSpan.Zero);
        var day2 = day1.AddDays(1);
        object Terms(DateTimeOffset end) => new
        {
            transformerId = transformer, periodStart = day1, periodEnd = end, capacityKw = 10m, maxAvailabilityPriceEurPerKw = 5m,
            gateClosure = t0.AddHours(1), direction = "ReduceConsumption", arming = true,
        };
        using (var r = await _api.SendAsync(HttpMethod.Post, "/v1/availability", dso, Terms(day1.AddDays(8))))
            await MarketClient.ProblemAsync(r, HttpStatusCode.UnprocessableEntity, "periodEnd", "period-length");
        var id = (await _api.PostAsync("/v1/availability", dso, Terms(day2.AddDays(1))))["id"]!.GetValue<string>();

        // Sealed offers: over the cap refused; A is cheaper for availability, B cheaper to call.
        using (var r = await _api.SendAsync(HttpMethod.Put, $"/v1/availability/{id}/offer", cpoA, Offer(stationA, 8m, 5.5m, 0.3m)))
            await MarketClient.ProblemAsync(r, HttpStatusCode.UnprocessableEntity, "availabilityPriceEurPerKw", "price-cap");
        using (var r = await _api.SendAsync(HttpMethod.Put, $"/v1/availability/{id}/offer", cpoA, Offer(stationA, 23m, 2m, 0.3m)))
            await MarketClient.ProblemAsync(r, HttpStatusCode.UnprocessableEntity, "capacityKw", "physical-limit");
        await _api.SendOkAsync(HttpMethod.Put, $"/v1/availability/{id}/offer", cpoA, Offer(stationA, 8m, 2m, 0.3m));
        await _api.SendOkAsync(HttpMethod.Put, $"/v1/availability/{id}/offer", cpoB, Offer(stationB, 8m, 3m, 0.2m));
        var seenByB = await _api.GetAsync($"/v1/availability/{id}", cpoB);
        Assert.Equal(("Open", 8m), (seenByB["state"]!.GetValue<string>(), seenByB["offer"]!["capacityKw"]!.GetValue<decimal>()));

        market.Clock.SetTo(t0.AddHours(1));
        var reserved = await FlexChain.Testing.Poll.UntilAsync(() => _api.GetAsync($"/v1/availability/{id}", dso),
            r => r["state"]!.GetValue<string>() != "Open", TimeSpan.FromSeconds(90), $"availability {id} cleared");
        Assert.Equal("Reserved", reserved["state"]!.GetValue<string>());
        Assert.Equal([("Accepted", 8m), ("PartlyAccepted", 2m)],
            reserved["outcomes"]!.AsArray().Select(o => (o!["outcome"]!.GetValue<string>(), o["reservedKw"]!.GetValue<decimal>())));
        var holders = reserved["holders"]!.AsArray();
        Assert.Equal([(cpoA.Id, 16m), (cpoB.Id, 6m)], holders.Select(h => (h!["cpoId"]!.GetValue<string>(), h["availabilityPaymentEur"]!.GetValue<decimal>())));
        Assert.Equal(cpoA.Id, Assert.Single((await _api.GetAsync($"/v1/availability/{id}", cpoA))["holders"]!.AsArray())!["cpoId"]!.GetValue<string>());
        using (var r = await _api.SendAsync(HttpMethod.Put, $"/v1/availability/{id}/offer", cpoA, Offer(stationA, 8m, 1m, 0.3m)))
            await MarketClient.ProblemAsync(r, HttpStatusCode.Conflict, "gateClosure", "gate-closed");

        // The holders' stations are booked for the period, each booking naming the availability request, its DSO and direction.
        var bookings = await _api.GetAsync($"/v1/stations/{stationA}/bookings?from={Uri.EscapeDataString(day1.ToString("O"))}&to={Uri.EscapeDataString(day2.AddDays(1).ToString("O"))}", cpoA);
        Assert.Equal([(id, dso.Id, "Dso", "ReduceConsumption"), (id, dso.Id, "Dso", "ReduceConsumption")], bookings["items"]!.AsArray().Select(b =>
            (b!["requestId"]!.GetValue<string>(), b["buyerId"]?.GetValue<string>(), b["buyerRole"]?.GetValue<string>(), b["direction"]?.GetValue<string>())));
        var nodeBookings = await _api.GetAsync($"/v1/grid/nodes/{transformer}/bookings?from={Uri.EscapeDataString(day1.ToString("O"))}&to={Uri.EscapeDataString(day2.AddDays(1).ToString("O"))}", dso);
        Assert.All(nodeBookings["items"]!.AsArray(), b => Assert.Equal((id, dso.Id, "Dso"),
            (b!["requestId"]!.GetValue<string>(), b["buyerId"]?.GetValue<string>(), b["buyerRole"]?.GetValue<string>())));
        Assert.Equal(4, nodeBookings["items"]!.AsArray().Count);
        // Another buyer's request on day 2 cannot have station A.
        Assert.Equal("RejectedCapacityConflict", await OutcomeOfOfferAsync(dso, cpoA, transformer, stationA, t0.AddHours(2), day2.AddHours(10)));

        // Day 2 is armed in time; day 1 is not, and is released at its deadline (two days before it starts).
        await _api.SendOkAsync(HttpMethod.Post, $"/v1/availability/{id}/arm", dso, new { day = day2 });
        market.Clock.SetTo(day1.AddDays(-2));
        using (var r = await _api.SendAsync(HttpMethod.Post, $"/v1/availability/{id}/arm", dso, new { day = day1 }))
            await MarketClient.ProblemAsync(r, HttpStatusCode.UnprocessableEntity, "day", "arming-lead");
        using (var r = await _api.SendAsync(HttpMethod.Post, $"/v1/availability/{id}/arm", cpoA, new { day = day2 }))
            Assert.Equal(HttpStatusCode.Forbidden, r.StatusCode);
        Assert.Equal([day2], (await _api.GetAsync($"/v1/availability/{id}", dso))["armedDays"]!.AsArray().Select(d => d!.GetValue<DateTimeOffset>()));
        Assert.Equal("Accepted", await OutcomeOfOfferAsync(dso, cpoA, transformer, stationA, day1.AddDays(-2).AddHours(1), day1.AddHours(10)));
        Assert.Equal("RejectedCapacityConflict", await OutcomeOfOfferAsync(dso, cpoB, transformer, stationB, day1.AddDays(-2).AddHours(2), day2.AddHours(12)));
    }

    [Fact]
    public async Task Offer_OnAStationTheGridRefused_Is422NamingTheRule_AndACapAnsweredAfterTheOfferRejectsItAtTheGate()
    {
        var ((dso, cpoA, cpoB, _, stationA, stationB), t0, _, id) = await SixHoursAsync("Availability grid", "IT001E00000985", "IT001E00000986");

        await _api.SendOkAsync(HttpMethod.Put, $"/v1/grid/prequalifications/{stationA}", dso,
            new { verdict = "NotApproved", justification = "Feeder 12 is at its thermal limit.", whyNoTemporaryLimit = "The congestion is structural." });
        using (var r = await _api.SendAsync(HttpMethod.Put, $"/v1/availability/{id}/offer", cpoA, Offer(stationA, 6m, 2m, 0.3m)))
            await MarketClient.ProblemAsync(r, HttpStatusCode.UnprocessableEntity, "stationIds", "grid-not-approved");

        // B offers 6 kW; the DSO then caps its station at 2 kW: the gate checks again and rejects the offer, saying why.
        var offer = (await _api.SendOkAsync(HttpMethod.Put, $"/v1/availability/{id}/offer", cpoB, Offer(stationB, 6m, 3m, 0.2m)))["id"]!.GetValue<string>();
        await _api.SendOkAsync(HttpMethod.Put, $"/v1/grid/prequalifications/{stationB}", dso, new { verdict = "ConditionallyApproved", maxKw = 2m });
        using (var r = await _api.SendAsync(HttpMethod.Put, $"/v1/availability/{id}/offer", cpoB, Offer(stationB, 6m, 3m, 0.2m)))
            await MarketClient.ProblemAsync(r, HttpStatusCode.UnprocessableEntity, "capacityKw", "grid-max-power");
        market.Clock.SetTo(t0.AddHours(1));
        var cleared = await FlexChain.Testing.Poll.UntilAsync(() => _api.GetAsync($"/v1/availability/{id}", dso),
            r => r["state"]!.GetValue<string>() != "Open", TimeSpan.FromSeconds(90), $"availability {id} cleared");
        Assert.Equal("Unfilled", cleared["state"]!.GetValue<string>());
        var outcome = Assert.Single(cleared["outcomes"]!.AsArray())!;
        Assert.Equal((offer, "RejectedNotEligible"), (outcome["offerId"]!.GetValue<string>(), outcome["outcome"]!.GetValue<string>()));
        Assert.Contains($"station {stationB} capped at 2 kW", outcome["detail"]!.GetValue<string>());
    }

    [Fact]
    public async Task Call_ClearsAmongHoldersByActivationPrice_AndBothPaymentsSettleOnChainWithTheirRecords()
    {
        var ((dso, cpoA, cpoB, transformer, stationA, stationB), t0, period, id) = await SixHoursAsync("Availability call", "IT001E00000971", "IT001E00000972");
        await _api.SendOkAsync(HttpMethod.Put, $"/v1/availability/{id}/offer", cpoA, Offer(stationA, 6m, 2m, 0.3m));
        await _api.SendOkAsync(HttpMethod.Put, $"/v1/availability/{id}/offer", cpoB, Offer(stationB, 6m, 3m, 0.2m));
        market.Clock.SetTo(t0.AddHours(1));
        // Reserved, then the availability payments (A 6 kW x 2 = 12 EUR, B 4 kW x 3 = 12 EUR) are locked in escrow.
        var locked = await FlexChain.Testing.Poll.UntilAsync(() => _api.GetAsync($"/v1/availability/{id}", dso),
            r => r["lockTransactionHashes"] is not null || r["state"]!.GetValue<string>() is "Unfilled" or "FundingFailed", TimeSpan.FromSeconds(90), $"availability {id} locked");
        Assert.Equal("Reserved", locked["state"]!.GetValue<string>());
        Assert.Equal(["12000000", "12000000"], locked["holders"]!.AsArray().Select(h => h!["record"]!["lockedUnits"]!.GetValue<string>()));
        Assert.Single(locked["lockTransactionHashes"]!.AsArray());
        // The records' wallets are checksummed (EIP-55), as in award records.
        Assert.Equal([(MarketFixture.DsoWallet.ToString(), MarketFixture.CpoAWallet.ToString()), (MarketFixture.DsoWallet.ToString(), MarketFixture.CpoBWallet.ToString())],
            locked["holders"]!.AsArray().Select(h => (h!["record"]!["dsoWallet"]!.GetValue<string>(), h["record"]!["cpoWallet"]!.GetValue<string>())).Order());

        // A call is a request naming the contract: inside the period, at most the reserved 10 kW over its window, one at a time.
        var window = period.AddHours(1);
        object Call(DateTimeOffset start, decimal kwh) => new
        {
            transformerId = transformer, deliveryStart = start, deliveryEnd = start.AddHours(1), energyKwh = kwh, maxPriceEurPerKwh = 0.5m,
            gateClosure = t0.AddHours(2), availabilityId = id,
        };
        using (var r = await _api.SendAsync(HttpMethod.Post, "/v1/requests", dso, Call(period.AddHours(-1), 1m)))
            await MarketClient.ProblemAsync(r, HttpStatusCode.UnprocessableEntity, "deliveryStart", "call-period");
        using (var r = await _api.SendAsync(HttpMethod.Post, "/v1/requests", dso, Call(window, 10.001m)))
            await MarketClient.ProblemAsync(r, HttpStatusCode.UnprocessableEntity, "energyKwh", "call-capacity");
        // The DSO's consent names the contract: signed for a call on this one, it is refused on a call to its other contract.
        var other = (await _api.PostAsync("/v1/availability", dso, new
        {
            transformerId = transformer, periodStart = period, periodEnd = period.AddHours(6), capacityKw = 10m, maxAvailabilityPriceEurPerKw = 5m,
            gateClosure = t0.AddHours(3),
        }))["id"]!.GetValue<string>();
        var repointed = new JsonObject
        {
            ["transformerId"] = transformer, ["deliveryStart"] = window.ToString("O"), ["deliveryEnd"] = window.AddHours(1).ToString("O"), ["energyKwh"] = 8m,
            ["maxPriceEurPerKwh"] = 0.5m, ["gateClosure"] = t0.AddHours(2).ToString("O"), ["availabilityId"] = id,
        };
        repointed["consent"] = await _api.ConsentAsync(MarketFixture.DsoKey, repointed);
        repointed["availabilityId"] = other;
        using (var r = await _api.SendAsync(HttpMethod.Post, "/v1/requests", dso, repointed))
            await MarketClient.ProblemAsync(r, HttpStatusCode.UnprocessableEntity, "consent", "consent-signature");
        var call = await _api.PostAsync("/v1/requests", dso, Call(window, 8m));
        var callId = call["id"]!.GetValue<string>();
        Assert.Equal(id, call["availabilityId"]!.GetValue<string>());
        using (var r = await _api.SendAsync(HttpMethod.Post, "/v1/requests", dso, Call(window.AddMinutes(30), 1m)))
            await MarketClient.ProblemAsync(r, HttpStatusCode.UnprocessableEntity, "deliveryStart", "call-overlap");
        using (var r = await _api.SendAsync(HttpMethod.Post, $"/v1/requests/{callId}/offers", cpoA,
                   new { stationIds = new[] { stationA }, energyKwh = 1m, priceEurPerKwh = 0.1m, divisible = false }))
            await MarketClient.ProblemAsync(r, HttpStatusCode.UnprocessableEntity, "requestId", "call-holders-only");

        // B is cheaper to call: its 4 reserved kW for the hour, then 4 kWh of A's 6 kW; both locked in escrow.
        market.Clock.SetTo(t0.AddHours(2));
        var awarded = await _api.WaitForStateAsync(callId, dso, "Awarded");
        Assert.Equal([(cpoB.Id, 4m, 0.2m), (cpoA.Id, 4m, 0.3m)],
            awarded["awards"]!.AsArray().Select(a => (a!["cpoId"]!.GetValue<string>(), a["energyKwh"]!.GetValue<decimal>(), a["priceEurPerKwh"]!.GetValue<decimal>())));

        // A delivers (5 kWh per quarter before, 4 during: 4 kWh less); B does not (5 throughout).
        market.Clock.SetTo(window);
        await _api.PostQuarterReadingsAsync(cpoA, stationA, window.AddHours(-1), 5m);
        await _api.PostQuarterReadingsAsync(cpoB, stationB, window.AddHours(-1), 5m);
        market.Clock.SetTo(window.AddHours(1));
        await _api.PostQuarterReadingsAsync(cpoA, stationA, window, 4m);
        await _api.PostQuarterReadingsAsync(cpoB, stationB, window, 5m);
        market.Clock.SetTo(window.AddHours(1).AddMinutes(20));
        var settled = await _api.WaitForStateAsync(callId, dso, "Settled");
        var paid = settled["settlements"]!.AsArray().ToDictionary(x => x!["awardId"]!.GetValue<string>(), x => (x!["succeeded"]!.GetValue<bool>(), x["payoutUnits"]!.GetValue<string>()));
        Assert.Equal([(false, "0"), (true, "1200000")], paid.Values.OrderBy(v => v.Item1));
        Assert.Equal([callId], (await _api.GetAsync($"/v1/availability/{id}", dso))["callIds"]!.AsArray().Select(c => c!.GetValue<string>()));

        // After the period: A delivered its call and keeps its availability payment; B failed its call and loses it.
        market.Clock.SetTo(period.AddHours(6));
        var done = await FlexChain.Testing.Poll.UntilAsync(() => _api.GetAsync($"/v1/availability/{id}", dso),
            r => r["state"]!.GetValue<string>() == "Settled", TimeSpan.FromSeconds(90), $"availability {id} settled");
        var byCpo = done["holders"]!.AsArray().ToDictionary(h => h!["cpoId"]!.GetValue<string>(), h => h!);
        Assert.Equal((1, 0, "12000000"), SettlementOf(byCpo[cpoA.Id]));
        Assert.Equal((1, 1, "0"), SettlementOf(byCpo[cpoB.Id]));
        // On chain: each holder's AwardSettled event pays what its settlement record says and carries that record's hash.
        foreach (var holder in byCpo.Values)
        {
            var awardId = Hash32.Parse(holder["record"]!["awardId"]!.GetValue<string>());
            var evt = Assert.Single(await market.LogsAsync<AwardSettledEvent>(0, awardId)).DecodeEvent<AwardSettledEvent>().Event;
            var s = holder["settlement"]!;
            Assert.Equal(BigInteger.Parse(s["payoutUnits"]!.GetValue<string>()), evt.Paid);
            Assert.Equal(s["recordHash"]!.GetValue<string>(), new Hash32(evt.SettlementHash).ToString());
            Assert.Equal(new AvailabilitySettlementRecord(awardId, s["callsAwarded"]!.GetValue<int>(), s["callsFailed"]!.GetValue<int>(),
                evt.Paid, BigInteger.Parse(s["lockedUnits"]!.GetValue<string>())).Hash(), new Hash32(evt.SettlementHash));
            Assert.Equal(new BigInteger(12_000_000) - evt.Paid, evt.Refunded);
        }
        Assert.Single(done["settleTransactionHashes"]!.AsArray()); // two holders: one escrow batch

        // A wallet holder verifies each availability payment against its own record types, by the API and by the verifier
        // flexchain-verify runs (records from the app, everything else from the node): A paid, B refunded.
        var idOf = byCpo.ToDictionary(h => h.Key, h => Hash32.Parse(h.Value["record"]!["awardId"]!.GetValue<string>()));
        var verifier = new PaymentVerifier(new JsonRpcEscrowChain(market.Web3, market.Settlement), new HttpPublishedRecords(market.Client, market.Client.BaseAddress!));
        foreach (var (cpo, status) in new[] { (cpoA.Id, PaymentStatus.Paid), (cpoB.Id, PaymentStatus.Refunded) })
        {
            var published = await _api.GetAsync($"/v1/settlements/{idOf[cpo]}", cpoA);
            Assert.Equal(("Availability", id, byCpo[cpo]["record"]!["recordHash"]!.GetValue<string>()),
                (published["kind"]!.GetValue<string>(), published["requestId"]!.GetValue<string>(), published["availabilityRecord"]!["recordHash"]!.GetValue<string>()));
            var verdict = Assert.Single(await verifier.VerifyAwardAsync(idOf[cpo], default));
            Assert.True(verdict.Verified, verdict.Describe(6));
            Assert.Equal((status, id), (verdict.Status, verdict.RequestId));
            var server = await _api.GetAsync($"/v1/verify?awardId={idOf[cpo]}", cpoA);
            Assert.True(server["verified"]!.GetValue<bool>(), server.ToJsonString());
        }
        Assert.Contains(await verifier.VerifyWalletAsync(MarketFixture.CpoAWallet, 0, default), v => v.AwardId == idOf[cpoA.Id] && v.Verified);
        var (output, error) = (new StringWriter(), new StringWriter());
        Assert.Equal(VerifyCommand.AllVerified, await VerifyCommand.RunAsync(["--rpc", market.Chain.RpcUri.ToString(), "--escrow", market.Settlement.ToString(),
            "--api", market.Client.BaseAddress!.ToString(), "--award", idOf[cpoA.Id].ToString()], output, error, market.Client, default));
        Assert.StartsWith($"VERIFIED award {idOf[cpoA.Id]} (paid) request {id}", output.ToString(), StringComparison.Ordinal);

        // Tampered after fetching: a settlement paying B what it forfeited, an availability record locking a wrong amount.
        var tampered = await _api.GetAsync($"/v1/settlements/{idOf[cpoB.Id]}", cpoA);
        tampered["availabilitySettlement"]!["payoutUnits"] = "12000000";
        var failed = Assert.Single(await new PaymentVerifier(new JsonRpcEscrowChain(market.Web3, market.Settlement),
            new FixedRecords(PublishedSettlementJson.Parse(tampered))).VerifyAwardAsync(idOf[cpoB.Id], default));
        Assert.Equal([VerificationCheck.SettlementHash, VerificationCheck.Paid, VerificationCheck.AvailabilityPayout], failed.Failures.Select(f => f.Check));
        tampered = await _api.GetAsync($"/v1/settlements/{idOf[cpoA.Id]}", cpoA);
        tampered["availabilityRecord"]!["lockedUnits"] = "12000001";
        failed = Assert.Single(await new PaymentVerifier(new JsonRpcEscrowChain(market.Web3, market.Settlement),
            new FixedRecords(PublishedSettlementJson.Parse(tampered))).VerifyAwardAsync(idOf[cpoA.Id], default));
        Assert.Equal([VerificationCheck.AwardInCycle, VerificationCheck.Amounts, VerificationCheck.LockedAmount, VerificationCheck.AvailabilityPayout], failed.Failures.Select(f => f.Check).Distinct().Order());
    }

    private sealed class FixedRecords(PublishedSettlement published) : IPublishedRecords
    {
        public Task<PublishedSettlement?> GetAsync(Hash32 awardId, CancellationToken cancellationToken) =>
            Task.FromResult<PublishedSettlement?>(published.Award.AwardId == awardId ? published : null);
    }

    private static (int, int, string) SettlementOf(JsonNode holder) =>
        (holder["settlement"]!["callsAwarded"]!.GetValue<int>(), holder["settlement"]!["callsFailed"]!.GetValue<int>(), holder["settlement"]!["payoutUnits"]!.GetValue<string>());
}
