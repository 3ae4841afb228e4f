using System.Net;
using System.Text.Json.Nodes;
using FlexChain.Domain;
using FlexChain.Functions.Storage;
using Azure.Data.Tables;
using FlexChain.Storage;
using Microsoft.Extensions.Caching.Memory;
using Microsoft.Extensions.Options;

namespace FlexChain.EndToEnd.Tests;

/// <summary>
/// Manual selection over HTTP: the request's DSO records its picks (<c>PUT /v1/requests/{id}/decision</c>) between gate
/// closure and the decision deadline, the gate cycle clears exactly those picks at the deadline, and without a decision
/// it clears by merit order. Every refusal is a problem naming field and rule, and stores nothing.
/// </summary>
[Collection(MarketCollection.Name)]
public sealed class ManualDecisionTests(MarketFixture market)
{
    private readonly MarketClient _api = new(market.Client);

    /// <summary>A manual request for <paramref name="kwh"/>: gate closure at t0 + 1 h, decision deadline t0 + 2 h, delivery [t0 + 3 h, t0 + 4 h).</summary>
    private async Task<string> ManualRequestAsync(Caller dso, string transformer, DateTimeOffset t0, decimal kwh = 10m) =>
        (await _api.PostAsync("/v1/requests", dso, new
        {
            transformerId = transformer, deliveryStart = t0.AddHours(3), deliveryEnd = t0.AddHours(4), energyKwh = kwh, direction = "ReduceConsumption",
            maxPriceEurPerKwh = 0.5m, gateClosure = t0.AddHours(1), pricing = "PayAsBid", selection = "Manual", decisionDeadline = t0.AddHours(2),
        }))["id"]!.GetValue<string>();

    /// <summary>A manual request (see <see cref="ManualRequestAsync"/>) with two offers of 10 kWh: A's at 0.20 EUR/kWh, B's at 0.40.</summary>
    private async Task<(string Request, string Cheap, string Dear)> CheapAndDearAsync(
        Caller dso, string transformer, DateTimeOffset t0, (Caller Cpo, string Station) a, (Caller Cpo, string Station) b)
    {
        var request = await ManualRequestAsync(dso, transformer, t0);
        return (request, await OfferAsync(request, a.Cpo, a.Station, 10m, 0.20m), await OfferAsync(request, b.Cpo, b.Station, 10m, 0.40m));
    }

    private async Task<string> OfferAsync(string request, Caller cpo, string station, decimal kwh, decimal price, bool divisible = true) =>
        (await _api.PostAsync($"/v1/requests/{request}/offers", cpo, new { stationIds = new[] { station }, energyKwh = kwh, priceEurPerKwh = price, divisible }))["id"]!
            .GetValue<string>();

    private static object Picks(params (string OfferId, decimal? Kwh)[] picks) =>
        new { picks = picks.Select(p => p.Kwh is { } kwh ? (object)new { offerId = p.OfferId, energyKwh = kwh } : new { offerId = p.OfferId }).ToArray() };

    private Task<HttpResponseMessage> DecideAsync(string request, Caller caller, object body) =>
        _api.SendAsync(HttpMethod.Put, $"/v1/requests/{request}/decision", caller, body);

    private Task<HttpResponseMessage> WithdrawAsync(string request, Caller caller) =>
        _api.SendAsync(HttpMethod.Delete, $"/v1/requests/{request}/decision", caller, null);

    private static async Task<JsonNode> ProblemAsync(HttpResponseMessage response, HttpStatusCode status, string field, string rule)
    {
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(status == response.StatusCode, $"expected {(int)status}, got {(int)response.StatusCode}: {text}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var problem = JsonNode.Parse(text)!;
        Assert.Equal((field, rule), (problem["field"]!.GetValue<string>(), problem["rule"]!.GetValue<string>()));
        return problem;
    }

    private static List<(string OfferId, decimal? Kwh)> PicksOf(JsonNode decision) =>
        decision["picks"]!.AsArray().Select(p => (p!["offerId"]!.GetValue<string>(), p["energyKwh"]?.GetValue<decimal>())).ToList();

    private static string OutcomeOf(JsonNode request, string offer) =>
        request["outcomes"]!.AsArray().Single(o => o!["offerId"]!.GetValue<string>() == offer)!["outcome"]!.GetValue<string>();

    /// <summary>
    /// Merit order would award CPO A's 10 kWh at 0.20 EUR/kWh. The DSO first picks A, then replaces that with 6 kWh of
    /// CPO B's divisible offer at 0.40: the gate clears exactly that pick, locks 6 x 0.40 = 2.40 EUR, and after B delivers
    /// 6 kWh (MBMA: 5 kWh per quarter before, 3.5 during) B is paid 2.40 and A nothing.
    /// </summary>
    [Fact]
    public async Task Decision_DsoPicksPartOfTheDearerOffer_GateClearsAndSettlesExactlyThePick()
    {
        var t0 = market.Clock.GetUtcNow();
        var (dso, cpoA, cpoB, transformer, stationA, stationB) =
            await _api.SmallMarketAsync("Manual", MarketFixture.DsoKey, MarketFixture.CpoAKey, MarketFixture.CpoBKey, "IT001E00000111", "IT001E00000112");
        var (request, cheap, dear) = await CheapAndDearAsync(dso, transformer, t0, (cpoA, stationA), (cpoB, stationB));
        var (balanceA, balanceB) = (await market.TokenBalanceAsync(MarketFixture.CpoAWallet), await market.TokenBalanceAsync(MarketFixture.CpoBWallet));

        market.Clock.SetTo(t0.AddHours(1));
        var first = await _api.SendOkAsync(HttpMethod.Put, $"/v1/requests/{request}/decision", dso, Picks((cheap, null)));
        Assert.Equal([(cheap, (decimal?)null)], PicksOf(first));
        market.Clock.SetTo(t0.AddHours(1.5));
        var replaced = await _api.SendOkAsync(HttpMethod.Put, $"/v1/requests/{request}/decision", dso, Picks((dear, 6m)));
        Assert.Equal(t0.AddHours(1.5), replaced["decidedAt"]!.GetValue<DateTimeOffset>());
        Assert.Equal(t0.AddHours(2), replaced["decisionDeadline"]!.GetValue<DateTimeOffset>());

        var stored = await _api.GetAsync($"/v1/requests/{request}/decision", dso);
        Assert.Equal([(dear, (decimal?)6m)], PicksOf(stored));
        Assert.Equal(t0.AddHours(1.5), stored["decidedAt"]!.GetValue<DateTimeOffset>());
        var open = await _api.GetAsync($"/v1/requests/{request}", dso);
        Assert.Equal(("Open", dear), (open["state"]!.GetValue<string>(), open["decision"]!["picks"]![0]!["offerId"]!.GetValue<string>()));
        Assert.Null((await _api.GetAsync($"/v1/requests/{request}", cpoA))["decision"]);

        // The request clears at its decision deadline, not at gate closure.
        market.Clock.SetTo(t0.AddHours(2));
        var awarded = await _api.WaitForStateAsync(request, dso, "Awarded");
        var award = Assert.Single(awarded["awards"]!.AsArray())!;
        Assert.Equal((dear, cpoB.Id), (award["offerId"]!.GetValue<string>(), award["cpoId"]!.GetValue<string>()));
        Assert.Equal((6m, 0.40m, 2.40m), (award["energyKwh"]!.GetValue<decimal>(), award["priceEurPerKwh"]!.GetValue<decimal>(), award["valueEur"]!.GetValue<decimal>()));
        Assert.Equal((6000L, "2400000"), (award["record"]!["energyWh"]!.GetValue<long>(), award["record"]!["lockedUnits"]!.GetValue<string>()));
        Assert.Equal(("RejectedNotPicked", "PartlyAccepted"), (OutcomeOf(awarded, cheap), OutcomeOf(awarded, dear)));
        Assert.Equal("Manual", awarded["appliedSelection"]!.GetValue<string>());
        Assert.Null(awarded["selectionNote"]);

        var windowStart = t0.AddHours(3);
        market.Clock.SetTo(windowStart);
        await _api.PostQuarterReadingsAsync(cpoB, stationB, windowStart.AddHours(-1), 5m);
        market.Clock.SetTo(windowStart.AddHours(1));
        await _api.PostQuarterReadingsAsync(cpoB, stationB, windowStart, 3.5m);
        market.Clock.SetTo(windowStart.AddHours(1).AddMinutes(10));
        var settled = await _api.WaitForStateAsync(request, dso, "Settled");

        var settlement = Assert.Single(settled["settlements"]!.AsArray())!;
        Assert.Equal((6000L, 6000L, "2400000"), (settlement["awardedWh"]!.GetValue<long>(), settlement["deliveredWh"]!.GetValue<long>(), settlement["payoutUnits"]!.GetValue<string>()));
        Assert.Equal(balanceB + 2_400_000, await market.TokenBalanceAsync(MarketFixture.CpoBWallet));
        Assert.Equal(balanceA, await market.TokenBalanceAsync(MarketFixture.CpoAWallet));
    }

    /// <summary>The DSO picks B's dearer offer, then withdraws the decision: at the deadline merit order applies (A wins).</summary>
    [Fact]
    public async Task Decision_NoneOrWithdrawnBeforeTheDeadline_ClearsAutomaticallyByMeritOrder()
    {
        var t0 = market.Clock.GetUtcNow();
        var (dso, cpoA, cpoB, transformer, stationA, stationB) =
            await _api.SmallMarketAsync("No decision", MarketFixture.RuleDsoKey, MarketFixture.RuleCpoAKey, MarketFixture.RuleCpoBKey, "IT001E00000121", "IT001E00000122");
        var (request, cheap, dear) = await CheapAndDearAsync(dso, transformer, t0, (cpoA, stationA), (cpoB, stationB));

        market.Clock.SetTo(t0.AddHours(1));
        using (var none = await _api.SendAsync(HttpMethod.Get, $"/v1/requests/{request}/decision", dso, null))
            await ProblemAsync(none, HttpStatusCode.NotFound, "id", "no-decision");
        using (var nothingToWithdraw = await WithdrawAsync(request, dso))
            await ProblemAsync(nothingToWithdraw, HttpStatusCode.NotFound, "id", "no-decision");
        await _api.SendOkAsync(HttpMethod.Put, $"/v1/requests/{request}/decision", dso, Picks((dear, null)));
        market.Clock.SetTo(t0.AddHours(1.5));
        using (var withdrawn = await WithdrawAsync(request, dso))
            Assert.Equal(HttpStatusCode.NoContent, withdrawn.StatusCode);
        using (var gone = await _api.SendAsync(HttpMethod.Get, $"/v1/requests/{request}/decision", dso, null))
            await ProblemAsync(gone, HttpStatusCode.NotFound, "id", "no-decision");
        Assert.Null((await _api.GetAsync($"/v1/requests/{request}", dso))["decision"]);
        market.Clock.SetTo(t0.AddHours(2));
        var awarded = await _api.WaitForStateAsync(request, dso, "Awarded");

        var award = Assert.Single(awarded["awards"]!.AsArray())!;
        Assert.Equal((cheap, 10m, 0.20m), (award["offerId"]!.GetValue<string>(), award["energyKwh"]!.GetValue<decimal>(), award["priceEurPerKwh"]!.GetValue<decimal>()));
        Assert.Equal("RejectedNotNeeded", OutcomeOf(awarded, dear));
        Assert.Equal("Automatic", awarded["appliedSelection"]!.GetValue<string>());
        Assert.Equal("No decision before the deadline; automatic clearing applied.", awarded["selectionNote"]!.GetValue<string>());
        Assert.Null(awarded["decision"]);
    }

    /// <summary>
    /// The DSO's valid decision picks CPO B's indivisible 4 kWh at 0.30 (merit order would take A's 10 kWh at 0.20). Every
    /// refused call after it leaves that decision as it was, and the gate clears it at the deadline.
    /// </summary>
    [Fact]
    public async Task Decision_EveryRefusal_IsAProblemNamingFieldAndRule_AndStoresNothing()
    {
        var t0 = market.Clock.GetUtcNow();
        var (dso, cpoA, cpoB, transformer, stationA, stationB) =
            await _api.SmallMarketAsync("Refusals", MarketFixture.RuleDsoKey, MarketFixture.RuleCpoAKey, MarketFixture.RuleCpoBKey, "IT001E00000131", "IT001E00000132");
        var otherDso = await _api.RegisterAsync("Dso", "Other DSO", MarketFixture.RuleDsoKey);
        var request = await ManualRequestAsync(dso, transformer, t0);
        var a = await OfferAsync(request, cpoA, stationA, 10m, 0.20m);
        var b = await OfferAsync(request, cpoB, stationB, 4m, 0.30m, divisible: false);
        var automatic = await _api.RequestAsync(dso, transformer, t0.AddHours(1), t0.AddHours(3));
        var cancelled = await ManualRequestAsync(dso, transformer, t0, kwh: 5m);
        await _api.PostAsync($"/v1/requests/{cancelled}/cancel", dso, new { });

        // Before gate closure the offers are sealed and there is nothing to decide on.
        using (var early = await DecideAsync(request, dso, Picks((b, null))))
            await ProblemAsync(early, HttpStatusCode.UnprocessableEntity, "gateClosure", "decision-deadline");
        using (var earlyWithdraw = await WithdrawAsync(request, dso))
            await ProblemAsync(earlyWithdraw, HttpStatusCode.UnprocessableEntity, "gateClosure", "decision-deadline");
        using (var none = await _api.SendAsync(HttpMethod.Get, $"/v1/requests/{request}/decision", dso, null))
            await ProblemAsync(none, HttpStatusCode.NotFound, "id", "no-decision");

        market.Clock.SetTo(t0.AddHours(1));
        var decided = await _api.SendOkAsync(HttpMethod.Put, $"/v1/requests/{request}/decision", dso, Picks((b, null)));
        var decidedAt = decided["decidedAt"]!.GetValue<DateTimeOffset>();
        market.Clock.SetTo(t0.AddHours(1.25));

        async Task UnchangedAsync()
        {
            var now = await _api.GetAsync($"/v1/requests/{request}/decision", dso);
            Assert.Equal([(b, (decimal?)null)], PicksOf(now));
            Assert.Equal(decidedAt, now["decidedAt"]!.GetValue<DateTimeOffset>());
        }

        using (var asCpo = await DecideAsync(request, cpoA, Picks((a, null))))
            await ProblemAsync(asCpo, HttpStatusCode.Forbidden, "X-Api-Key", "role");
        using (var cpoReads = await _api.SendAsync(HttpMethod.Get, $"/v1/requests/{request}/decision", cpoB, null))
            await ProblemAsync(cpoReads, HttpStatusCode.Forbidden, "X-Api-Key", "role");
        using (var foreign = await DecideAsync(request, otherDso, Picks((a, null))))
            await ProblemAsync(foreign, HttpStatusCode.Forbidden, "id", "own-request");
        using (var foreignReads = await _api.SendAsync(HttpMethod.Get, $"/v1/requests/{request}/decision", otherDso, null))
            await ProblemAsync(foreignReads, HttpStatusCode.Forbidden, "id", "own-request");
        using (var merit = await DecideAsync(automatic, dso, Picks((a, null))))
            await ProblemAsync(merit, HttpStatusCode.UnprocessableEntity, "selection", "manual-only");
        using (var gone = await DecideAsync(cancelled, dso, Picks((a, null))))
            await ProblemAsync(gone, HttpStatusCode.Conflict, "state", "illegal-transition");
        using (var cpoWithdraws = await WithdrawAsync(request, cpoB))
            await ProblemAsync(cpoWithdraws, HttpStatusCode.Forbidden, "X-Api-Key", "role");
        using (var foreignWithdraws = await WithdrawAsync(request, otherDso))
            await ProblemAsync(foreignWithdraws, HttpStatusCode.Forbidden, "id", "own-request");
        using (var meritWithdraw = await WithdrawAsync(automatic, dso))
            await ProblemAsync(meritWithdraw, HttpStatusCode.UnprocessableEntity, "selection", "manual-only");
        using (var goneWithdraw = await WithdrawAsync(cancelled, dso))
            await ProblemAsync(goneWithdraw, HttpStatusCode.Conflict, "state", "illegal-transition");
        await UnchangedAsync();

        var unknown = "off_" + new string('0', 32);
        using (var ghost = await DecideAsync(request, dso, Picks((a, 5m), (unknown, null))))
        {
            var problem = await ProblemAsync(ghost, HttpStatusCode.UnprocessableEntity, "picks[1].offerId", "valid-pick");
            var item = Assert.Single(problem["pickProblems"]!.AsArray())!;
            Assert.Equal((unknown, "RejectedNotEligible"), (item["offerId"]!.GetValue<string>(), item["reason"]!.GetValue<string>()));
        }
        using (var split = await DecideAsync(request, dso, Picks((a, 5m), (b, 2m))))
        {
            var problem = await ProblemAsync(split, HttpStatusCode.UnprocessableEntity, "picks[1].offerId", "valid-pick");
            var item = Assert.Single(problem["pickProblems"]!.AsArray())!;
            Assert.Equal((b, "RejectedInvalidPick"), (item["offerId"]!.GetValue<string>(), item["reason"]!.GetValue<string>()));
            Assert.Contains("indivisible", item["message"]!.GetValue<string>());
        }
        using (var tooMuch = await DecideAsync(request, dso, Picks((a, null), (b, null))))
        {
            // 10 + 4 kWh on a 10 kWh request: B comes later in merit order and is refused.
            var problem = await ProblemAsync(tooMuch, HttpStatusCode.UnprocessableEntity, "picks[1].offerId", "valid-pick");
            Assert.Equal(b, Assert.Single(problem["pickProblems"]!.AsArray())!["offerId"]!.GetValue<string>());
        }
        using (var twice = await DecideAsync(request, dso, Picks((a, 2m), (a, 3m))))
            await ProblemAsync(twice, HttpStatusCode.BadRequest, "picks[1].offerId", "unique");
        using (var zero = await DecideAsync(request, dso, Picks((a, 0m))))
            await ProblemAsync(zero, HttpStatusCode.BadRequest, "picks[0].energyKwh", "greater-than");
        using (var negative = await DecideAsync(request, dso, Picks((b, null), (a, -1m))))
            await ProblemAsync(negative, HttpStatusCode.BadRequest, "picks[1].energyKwh", "greater-than");
        using (var fine = await DecideAsync(request, dso, Picks((a, 1.0005m))))
            await ProblemAsync(fine, HttpStatusCode.BadRequest, "picks[0].energyKwh", "scale-precision");
        using (var empty = await DecideAsync(request, dso, new { picks = Array.Empty<object>() }))
            await ProblemAsync(empty, HttpStatusCode.BadRequest, "picks", "not-empty");
        using (var badId = await DecideAsync(request, dso, Picks(("offer-1", null))))
            await ProblemAsync(badId, HttpStatusCode.BadRequest, "picks[0].offerId", "id");
        await UnchangedAsync();

        // At the deadline the decision in force is final; the gate clears it.
        market.Clock.SetTo(t0.AddHours(2));
        using (var late = await DecideAsync(request, dso, Picks((a, null))))
            await ProblemAsync(late, HttpStatusCode.UnprocessableEntity, "decisionDeadline", "decision-deadline");
        using (var lateWithdraw = await WithdrawAsync(request, dso))
            await ProblemAsync(lateWithdraw, HttpStatusCode.UnprocessableEntity, "decisionDeadline", "decision-deadline");
        await UnchangedAsync();
        var awarded = await _api.WaitForStateAsync(request, dso, "Awarded");
        var award = Assert.Single(awarded["awards"]!.AsArray())!;
        Assert.Equal((b, 4m), (award["offerId"]!.GetValue<string>(), award["energyKwh"]!.GetValue<decimal>()));
        Assert.Equal(("RejectedNotPicked", "Manual"), (OutcomeOf(awarded, a), awarded["appliedSelection"]!.GetValue<string>()));
    }

    /// <summary>
    /// A decision checked just before the deadline can still be saving when the gate runner reads the request. The runner
    /// fixes the decision before clearing (<see cref="MarketStore.FixDecisionAsync"/>): a decision saved after the runner's
    /// read is read back and cleared, one whose save is still in flight fails its If-Match, and a later one is refused
    /// even where the clock has not reached the deadline, so no acknowledged decision is lost and none is acknowledged
    /// that the clearing did not see.
    /// </summary>
    [Fact]
    public async Task Decision_RacingTheRunnersRead_IsClearedIfAcknowledged_AndRefusedIfNot()
    {
        var t0 = market.Clock.GetUtcNow();
        var (dso, cpoA, cpoB, transformer, stationA, stationB) =
            await _api.SmallMarketAsync("Race", MarketFixture.RuleDsoKey, MarketFixture.RuleCpoAKey, MarketFixture.RuleCpoBKey, "IT001E00000141", "IT001E00000142");
        var (request, cheap, dear) = await CheapAndDearAsync(dso, transformer, t0, (cpoA, stationA), (cpoB, stationB));
        var store = await StoreCollection.NewStoreAsync(market.StorageConnectionString);
        market.Clock.SetTo(t0.AddHours(2).AddTicks(-1));

        var runnerRead = (await store.GetRequestAsync(request, default))!.Value;                          // the runner reads its members
        await _api.SendOkAsync(HttpMethod.Put, $"/v1/requests/{request}/decision", dso, Picks((dear, 4m))); // a decision lands after that read
        var inFlight = (await store.GetRequestAsync(request, default))!.Value;                            // another PUT has read, not yet saved
        Assert.Empty(inFlight.Value.Decide(inFlight.Value.DsoId, [new OfferPick(cheap)], await store.GetOffersAsync(inFlight.Value, default), t0.AddHours(2).AddTicks(-1)));

        var cleared = await store.FixDecisionAsync(runnerRead, t0.AddHours(2), default);

        Assert.Equal([(dear, (decimal?)4m)], cleared.Value.Decision!.Picks.Select(p => (p.OfferId, (decimal?)p.Energy?.Value)));
        Assert.Null(await store.TryReplaceRequestAsync(inFlight.Value, inFlight.ETag, default));          // its PUT answers 409, nothing stored
        // An instance whose clock still reads a tick before the deadline refuses a decision now.
        using (var lagging = await DecideAsync(request, dso, Picks((cheap, null))))
            await ProblemAsync(lagging, HttpStatusCode.UnprocessableEntity, "decisionDeadline", "decision-deadline");
        using (var laggingWithdraw = await WithdrawAsync(request, dso))
            await ProblemAsync(laggingWithdraw, HttpStatusCode.UnprocessableEntity, "decisionDeadline", "decision-deadline");
        market.Clock.SetTo(t0.AddHours(2));
        var awarded = await _api.WaitForStateAsync(request, dso, "Awarded");
        var award = Assert.Single(awarded["awards"]!.AsArray())!;
        Assert.Equal((dear, 4m), (award["offerId"]!.GetValue<string>(), award["energyKwh"]!.GetValue<decimal>()));
        Assert.Equal([(dear, (decimal?)4m)], PicksOf(awarded["decision"]!));
    }

    [Fact]
    public async Task Decision_InTheOpenApiDocument_WithItsProblems()
    {
        var doc = JsonNode.Parse(await market.Client.GetStringAsync("/v1/openapi.json"))!;
        var path = doc["paths"]!["/v1/requests/{id}/decision"]!;
        Assert.NotNull(path["put"]!["requestBody"]);
        Assert.NotNull(path["put"]!["responses"]!["422"]!["content"]!["application/problem+json"]);
        Assert.NotNull(path["put"]!["security"]);
        Assert.NotNull(path["get"]!["responses"]!["200"]);
        Assert.NotNull(path["delete"]!["responses"]!["204"]);
        Assert.NotNull(path["delete"]!["security"]);
    }
}
