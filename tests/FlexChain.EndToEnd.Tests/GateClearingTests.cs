using System.Text.Json.Nodes;
using FlexChain.Domain;
using FlexChain.Functions.Gates;
using FlexChain.Functions.Storage;
using Azure.Data.Tables;
using FlexChain.Storage;
using Microsoft.Extensions.Caching.Memory;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace FlexChain.EndToEnd.Tests;

/// <summary>Requests whose gates close together are cleared together: a station is never awarded twice for overlapping windows.</summary>
[Collection(MarketCollection.Name)]
public sealed class GateClearingTests(MarketFixture market)
{
    [Fact]
    public async Task GateTick_StationDeactivatedAfterOffering_OfferRejectedNotEligible()
    {
        var api = new MarketClient(market.Client);
        var t0 = market.Clock.GetUtcNow();
        var (dso, cpoA, _, transformer, stationA, _) =
            await api.SmallMarketAsync("Eligible", MarketFixture.DsoKey, MarketFixture.CpoAKey, MarketFixture.CpoBKey, "IT001E00000061", "IT001E00000062");
        var request = await api.RequestAsync(dso, transformer, t0.AddHours(1), t0.AddHours(2), kwh: 5m);
        var offer = (await api.PostAsync($"/v1/requests/{request}/offers", cpoA, new { stationIds = new[] { stationA }, energyKwh = 5m, priceEurPerKwh = 0.10m, divisible = false }))["id"]!.GetValue<string>();

        // The only offer's station is deactivated before gate closure: it was eligible when offered, not when cleared.
        await api.SendOkAsync(HttpMethod.Delete, $"/v1/stations/{stationA}", cpoA, null);
        market.Clock.SetTo(t0.AddHours(1));
        var unfilled = await api.WaitForStateAsync(request, dso, "Unfilled");

        var fill = unfilled["fill"]!;
        Assert.Equal(("Unfilled", 0m, 5m), (fill["outcome"]!.GetValue<string>(), fill["awardedKwh"]!.GetValue<decimal>(), fill["shortfallKwh"]!.GetValue<decimal>()));
        var rejection = Assert.Single(fill["rejections"]!.AsArray())!;
        Assert.Equal(("RejectedNotEligible", 1), (rejection["reason"]!.GetValue<string>(), rejection["count"]!.GetValue<int>()));
        var outcome = Assert.Single(unfilled["outcomes"]!.AsArray())!;
        Assert.Equal(offer, outcome["offerId"]!.GetValue<string>());
        Assert.Equal("RejectedNotEligible", outcome["outcome"]!.GetValue<string>());
    }

    [Fact]
    public async Task GateTick_SameStationOfferedOnOverlappingRequests_AwardedOnceAndCyclesSettle()
    {
        var api = new MarketClient(market.Client);
        var t0 = market.Clock.GetUtcNow();
        var (dso, cpoA, cpoB, transformer, shared, other) =
            await api.SmallMarketAsync("Gate", MarketFixture.DsoKey, MarketFixture.CpoAKey, MarketFixture.CpoBKey, "IT001E00000051", "IT001E00000052");

        // Two requests with the same gate closure and overlapping windows (10:00-11:00 and 10:30-11:30).
        var start = t0.AddHours(2);
        var first = await api.RequestAsync(dso, transformer, t0.AddHours(1), start, kwh: 12m);
        var second = await api.RequestAsync(dso, transformer, t0.AddHours(1), start.AddMinutes(30), kwh: 15m);
        // A offers its one station (22 kW), cheapest, to both: 12 kW in each window, 24 kW where they overlap, more than
        // the station has. B offers another station to the second, dearer.
        await api.PostAsync($"/v1/requests/{first}/offers", cpoA, new { stationIds = new[] { shared }, energyKwh = 12m, priceEurPerKwh = 0.10m, divisible = false });
        await api.PostAsync($"/v1/requests/{second}/offers", cpoA, new { stationIds = new[] { shared }, energyKwh = 12m, priceEurPerKwh = 0.10m, divisible = false });
        await api.PostAsync($"/v1/requests/{second}/offers", cpoB, new { stationIds = new[] { other }, energyKwh = 5m, priceEurPerKwh = 0.20m, divisible = false });

        market.Clock.SetTo(t0.AddHours(1));
        var a = await api.WaitForStateAsync(first, dso, "Awarded");
        var b = await api.WaitForStateAsync(second, dso, "Awarded");

        Assert.Equal(cpoA.Id, Assert.Single(a["awards"]!.AsArray())!["cpoId"]!.GetValue<string>());
        Assert.Equal(cpoB.Id, Assert.Single(b["awards"]!.AsArray())!["cpoId"]!.GetValue<string>());
        var conflict = b["outcomes"]!.AsArray().Single(o => o!["outcome"]!.GetValue<string>() != "Accepted")!;
        Assert.Equal("RejectedCapacityConflict", conflict["outcome"]!.GetValue<string>());
        // The second lost its cheapest offer to a capacity conflict: partly filled, 10 kWh short, the reason counted (for its DSO only).
        Assert.Equal("Filled", a["fill"]!["outcome"]!.GetValue<string>());
        var fill = b["fill"]!;
        Assert.Equal(("PartlyFilled", 5m, 10m), (fill["outcome"]!.GetValue<string>(), fill["awardedKwh"]!.GetValue<decimal>(), fill["shortfallKwh"]!.GetValue<decimal>()));
        var rejection = Assert.Single(fill["rejections"]!.AsArray())!;
        Assert.Equal(("RejectedCapacityConflict", 1), (rejection["reason"]!.GetValue<string>(), rejection["count"]!.GetValue<int>()));
        Assert.Null((await api.GetAsync($"/v1/requests/{second}", cpoB))["fill"]!["rejections"]);

        // Finish both cycles so no funds stay locked for the tests that follow.
        var (settledA, settledB) = await SettleBothAsync(api, dso, (first, cpoA, shared), (second, cpoB, other), start);

        // One gate cycle for both; one escrow batch per delivery end, each locked and settled once; every transition recorded.
        var cycleId = settledA["gateCycleId"]!.GetValue<string>();
        Assert.Equal(cycleId, settledB["gateCycleId"]!.GetValue<string>());
        // The cycle's own checkpoint follows its requests'.
        var cycle = await FlexChain.Testing.Poll.UntilAsync(() => api.GetAsync($"/v1/gate-cycles/{cycleId}", cpoB),
            c => c["state"]!.GetValue<string>() == "Settled", TimeSpan.FromSeconds(30), $"gate cycle {cycleId} settling");
        Assert.Equal(t0.AddHours(1), cycle["closesAt"]!.GetValue<DateTimeOffset>());
        Assert.Equal(new[] { first, second }.Order(StringComparer.Ordinal), cycle["requestIds"]!.AsArray().Select(r => r!.GetValue<string>()).Order(StringComparer.Ordinal));
        var batches = cycle["escrowBatches"]!.AsArray();
        Assert.Equal([start.AddHours(1), start.AddMinutes(90)], batches.Select(x => x!["deliveryEnd"]!.GetValue<DateTimeOffset>()));
        Assert.All(batches, x => Assert.Equal(1, x!["awardCount"]!.GetValue<int>()));
        Assert.Equal(settledA["awards"]![0]!["lockTransactionHash"]!.GetValue<string>(), batches[0]!["lockTransactionHash"]!.GetValue<string>());
        Assert.Equal(settledB["settlements"]![0]!["transactionHash"]!.GetValue<string>(), batches[1]!["settleTransactionHash"]!.GetValue<string>());
        var transitions = cycle["history"]!.AsArray().Where(e => e!["from"]!.GetValue<string>() != e["to"]!.GetValue<string>())
            .Select(e => e!["from"]!.GetValue<string>() + "->" + e["to"]!.GetValue<string>());
        Assert.Equal(["Open->Closed", "Closed->Cleared", "Cleared->Awarded", "Awarded->Settled"], transitions);
        Assert.Equal(4, cycle["history"]!.AsArray().Count(e => e!["cause"]!.GetValue<string>().StartsWith("escrow batch", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task GateCycles_SameStationOnOverlappingRequestsInConsecutiveCycles_AwardedOnceAndTheOtherNamesTheAward()
    {
        var api = new MarketClient(market.Client);
        var t0 = market.Clock.GetUtcNow();
        var (dso, cpoA, cpoB, transformer, shared, other) =
            await api.SmallMarketAsync("Booking", MarketFixture.DsoKey, MarketFixture.CpoAKey, MarketFixture.CpoBKey, "IT001E00000071", "IT001E00000072");

        // Overlapping windows (10:00-11:00 and 10:30-11:30) whose gates close 15 minutes apart: two gate cycles.
        var start = t0.AddHours(2);
        // 12 kW in each window on a 22 kW station: the two do not fit where the windows overlap.
        var first = await api.RequestAsync(dso, transformer, t0.AddHours(1), start, kwh: 12m);
        var second = await api.RequestAsync(dso, transformer, t0.AddHours(1).AddMinutes(15), start.AddMinutes(30), kwh: 12m);
        await api.PostAsync($"/v1/requests/{first}/offers", cpoA, new { stationIds = new[] { shared }, energyKwh = 12m, priceEurPerKwh = 0.10m, divisible = false });
        var lost = (await api.PostAsync($"/v1/requests/{second}/offers", cpoA, new { stationIds = new[] { shared }, energyKwh = 12m, priceEurPerKwh = 0.10m, divisible = false }))["id"]!.GetValue<string>();
        await api.PostAsync($"/v1/requests/{second}/offers", cpoB, new { stationIds = new[] { other }, energyKwh = 5m, priceEurPerKwh = 0.20m, divisible = false });

        market.Clock.SetTo(t0.AddHours(1));
        var a = await api.WaitForStateAsync(first, dso, "Awarded");
        var firstAward = Assert.Single(a["awards"]!.AsArray())!;
        Assert.Equal(cpoA.Id, firstAward["cpoId"]!.GetValue<string>());
        Assert.Equal("Open", (await api.GetAsync($"/v1/requests/{second}", dso))["state"]!.GetValue<string>());

        market.Clock.SetTo(t0.AddHours(1).AddMinutes(15));
        var b = await api.WaitForStateAsync(second, dso, "Awarded");

        // The cheaper offer lost its station to the earlier cycle's award, which its outcome names; the dearer one won.
        Assert.NotEqual(a["gateCycleId"]!.GetValue<string>(), b["gateCycleId"]!.GetValue<string>());
        Assert.Equal(cpoB.Id, Assert.Single(b["awards"]!.AsArray())!["cpoId"]!.GetValue<string>());
        var conflict = b["outcomes"]!.AsArray().Single(o => o!["offerId"]!.GetValue<string>() == lost)!;
        Assert.Equal("RejectedCapacityConflict", conflict["outcome"]!.GetValue<string>());
        Assert.Contains(firstAward["id"]!.GetValue<string>(), conflict["detail"]!.GetValue<string>());
        Assert.Contains(shared, conflict["detail"]!.GetValue<string>());

        // Finish both cycles so no funds stay locked for the tests that follow.
        await SettleBothAsync(api, dso, (first, cpoA, shared), (second, cpoB, other), start);
    }

    /// <summary>
    /// Two gate cycles clearing at the same moment on two instances (a late cycle and the next one) never award one
    /// station twice: each round offers one station into two overlapping requests of consecutive cycles and advances both
    /// cycles past their closing at once, one through each instance's runner; the station is awarded once, and the other
    /// offer is rejected for the capacity conflict, naming that award. Several rounds, so that without the clearing lease
    /// both clearings read the bookings before either writes them. The DSO withdraws its allowance after posting, so
    /// the awards end FundingFailed and nothing stays locked.
    /// </summary>
    [Fact]
    public async Task GateCycles_ClearingAtOnceOnTwoInstances_StationAwardedOnce_TheOtherOfferNamesTheAward()
    {
        await using var second = market.NewInstance();
        GateCycleRunner[] runners = [market.Services.GetRequiredService<GateCycleRunner>(), second.Services.GetRequiredService<GateCycleRunner>()];
        var api = new MarketClient(market.Client);
        var (wallet, token) = await market.FundedWalletAsync(100_000_000);
        var m = await api.SmallMarketAsync("Race", wallet, MarketFixture.CpoAKey, MarketFixture.CpoBKey, "IT001E00000091", "IT001E00000092");
        var t0 = market.Clock.GetUtcNow();
        const int Rounds = 6;
        var rounds = new List<(string First, string Second, DateTimeOffset Now)>();
        for (var round = 0; round < Rounds; round++)
        {
            // Windows 10:00-11:00 and 10:30-11:30 (a new pair each round), gates a second apart: two gate cycles.
            var start = t0.AddHours(3 + 2 * round);
            var closure = t0.AddMinutes(53).AddSeconds(17 + 2 * round);   // gate cycles no other test uses
            // 12 kW in each window on a 22 kW station: the two do not fit where the windows overlap.
            var first = await api.RequestAsync(m.Dso, m.Transformer, closure, start, kwh: 12m);
            var next = await api.RequestAsync(m.Dso, m.Transformer, closure.AddSeconds(1), start.AddMinutes(30), kwh: 12m);
            foreach (var request in new[] { first, next })
                await api.PostAsync($"/v1/requests/{request}/offers", m.CpoA, new { stationIds = new[] { m.StationA }, energyKwh = 12m, priceEurPerKwh = 0.10m, divisible = false });
            rounds.Add((first, next, closure.AddSeconds(2)));
        }
        await token.ApproveRequestAndWaitForReceiptAsync(market.Settlement.ToString(), 0);

        foreach (var (first, next, now) in rounds)
        {
            var cycles = await Task.WhenAll(new[] { first, next }.Select(async r => (await api.GetAsync($"/v1/requests/{r}", m.Dso))["gateCycleId"]!.GetValue<string>()));
            Assert.NotEqual(cycles[0], cycles[1]);
            await Task.WhenAll(cycles.Select((cycle, i) => Task.Run(() => AdvanceAsync(runners[i], cycle, now))));

            var requests = await Task.WhenAll(new[] { first, next }.Select(r => api.GetAsync($"/v1/requests/{r}", m.Dso)));
            var outcomes = requests.Select(r => Assert.Single(r["outcomes"]!.AsArray())!).ToList();
            var won = Assert.Single(outcomes.Select((o, i) => (o, i)), x => x.o["outcome"]!.GetValue<string>() == "Accepted");
            var lost = outcomes[1 - won.i];
            Assert.Equal("RejectedCapacityConflict", lost["outcome"]!.GetValue<string>());
            var award = Assert.Single(requests[won.i]["awards"]!.AsArray())!["id"]!.GetValue<string>();
            Assert.Contains(award, lost["detail"]!.GetValue<string>());
            Assert.Contains(m.StationA, lost["detail"]!.GetValue<string>());
            Assert.Empty(requests[1 - won.i]["awards"]!.AsArray());
        }
    }

    /// <summary>
    /// Advances a gate cycle as its orchestration's step does, retried when it fails (its own orchestration may run an
    /// attempt of the same step meanwhile, which fails one of them, e.g. by releasing the clearing lease they share).
    /// </summary>
    private static async Task AdvanceAsync(GateCycleRunner runner, string cycleId, DateTimeOffset now)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await runner.AdvanceAsync(cycleId, now, CancellationToken.None);
                return;
            }
            catch (Exception) when (attempt < 5)
            {
            }
        }
    }

    /// <summary>
    /// Delivers both awards (the first request's window starts at <paramref name="start"/>, the second's 30 minutes later,
    /// each winner 5 kWh a quarter before and 2 during it: 12 kWh delivered, at most what is paid) and waits until both requests are settled.
    /// </summary>
    private async Task<(JsonNode First, JsonNode Second)> SettleBothAsync(MarketClient api, Caller dso,
        (string Request, Caller Cpo, string Station) first, (string Request, Caller Cpo, string Station) second, DateTimeOffset start)
    {
        market.Clock.SetTo(start.AddMinutes(30));
        await api.PostQuarterReadingsAsync(first.Cpo, first.Station, start.AddHours(-1), 5m);
        await api.PostQuarterReadingsAsync(second.Cpo, second.Station, start.AddMinutes(-30), 5m);
        market.Clock.SetTo(start.AddMinutes(90));
        await api.PostQuarterReadingsAsync(first.Cpo, first.Station, start, 2m);
        await api.PostQuarterReadingsAsync(second.Cpo, second.Station, start.AddMinutes(30), 2m);
        market.Clock.SetTo(start.AddMinutes(100));
        return (await api.WaitForStateAsync(first.Request, dso, "Settled"), await api.WaitForStateAsync(second.Request, dso, "Settled"));
    }

    /// <summary>
    /// A clearing plan stored by an earlier attempt (which then failed) is applied, not made again: an input changed
    /// since (here a cheaper offer) does not change the awards.
    /// </summary>
    [Fact]
    public async Task GateCycle_ClearingPlanStoredBeforeAnInputChanged_AppliesTheStoredPlan()
    {
        var api = new MarketClient(market.Client);
        var store = await StoreCollection.NewStoreAsync(market.StorageConnectionString);
        var t0 = market.Clock.GetUtcNow();
        var (dso, cpoA, cpoB, transformer, stationA, stationB) =
            await api.SmallMarketAsync("Plan", MarketFixture.DsoKey, MarketFixture.CpoAKey, MarketFixture.CpoBKey, "IT001E00000081", "IT001E00000082");
        var start = t0.AddHours(2);
        var request = await api.RequestAsync(dso, transformer, t0.AddHours(1), start, kwh: 5m);
        await api.PostAsync($"/v1/requests/{request}/offers", cpoB, new { stationIds = new[] { stationB }, energyKwh = 5m, priceEurPerKwh = 0.30m, divisible = false });

        // The plan as the attempt that failed made it, when B's offer was the only one: B wins.
        var cycleId = (await store.GetMembershipAsync(request, default))!.CycleId;
        var cycle = (await store.GetGateCycleAsync(cycleId, default))!.Value.Value;
        var stored = (await store.GetRequestAsync(request, default))!.Value.Value;
        var result = ClearingEngine.Clear([stored.ToClearingRequest()], await store.GetOffersAsync(stored, default)).For(request);
        stored.Close(result, t0.AddHours(1));
        var plan = new ClearingPlan([result], cycle.PlanBatches([stored], 200));
        Assert.Same(plan, await store.AddClearingPlanAsync(cycleId, plan, default));
        // A second plan never replaces the first.
        var other = new ClearingPlan([result with { Awards = [] }], []);
        Assert.Equal(Json(plan), Json(await store.AddClearingPlanAsync(cycleId, other, default)));

        // An input changes after the plan was stored: a cheaper offer (A's) that the stored plan does not hold.
        await api.PostAsync($"/v1/requests/{request}/offers", cpoA, new { stationIds = new[] { stationA }, energyKwh = 5m, priceEurPerKwh = 0.10m, divisible = false });
        market.Clock.SetTo(t0.AddHours(1));
        var awarded = await api.WaitForStateAsync(request, dso, "Awarded");

        Assert.Equal(cpoB.Id, Assert.Single(awarded["awards"]!.AsArray())!["cpoId"]!.GetValue<string>());
        Assert.Equal([result.Outcomes[0].OfferId], awarded["outcomes"]!.AsArray().Select(o => o!["offerId"]!.GetValue<string>()));
        Assert.Equal(Json(plan), Json(await store.GetClearingPlanAsync(cycleId, default)));

        // Finish the cycle so no funds stay locked for the tests that follow.
        market.Clock.SetTo(start);
        await api.PostQuarterReadingsAsync(cpoB, stationB, start.AddHours(-1), 5m);
        market.Clock.SetTo(start.AddHours(1));
        await api.PostQuarterReadingsAsync(cpoB, stationB, start, 3.75m);
        market.Clock.SetTo(start.AddMinutes(70));
        await api.WaitForStateAsync(request, dso, "Settled");
    }

    private static string Json<T>(T value) => System.Text.Json.JsonSerializer.Serialize(value, StoreJson.Options);

    /// <summary>
    /// Bookings on Azurite: the bookings overlapping a span are found by a key range per station (touching windows are
    /// not), other cycles' only; writing them again changes nothing.
    /// </summary>
    [Fact]
    public async Task Bookings_OverlappingOtherCyclesOnly_TouchingWindowsFree()
    {
        var store = await StoreCollection.NewStoreAsync(market.StorageConnectionString);
        var t = new DateTimeOffset(2099, 1, 1, 10, 0, 0, TimeSpan.Zero).AddDays(Random.Shared.Next(1, 10_000));   // stations of this test's own
        var station = "st_booking" + t.UtcTicks;
        TimeWindow W(int fromMinute, int toMinute) => new(t.AddMinutes(fromMinute), t.AddMinutes(toMinute));
        StationBooking[] booked = [new(station, W(0, 15), "req_a/off_a"), new(station, W(15, 30), "req_b/off_b"), new(station, W(60, 120), "req_c/off_c")];
        await store.BookAsync("gc-1", booked[..2], default);
        await store.BookAsync("gc-2", booked[2..], default);
        await store.BookAsync("gc-1", booked[..2], default);   // a retried step

        async Task<string[]> Taken(TimeWindow span, string except = "gc-9") =>
            (await store.GetBookingsAsync([station, station + "x"], span, except, default)).Select(b => b.AwardId).Order(StringComparer.Ordinal).ToArray();

        Assert.Equal(["req_b/off_b"], await Taken(W(15, 60)));                        // [0,15) and [60,120) only touch it
        Assert.Equal(["req_a/off_a", "req_b/off_b", "req_c/off_c"], await Taken(W(14, 61)));
        Assert.Equal(["req_c/off_c"], await Taken(W(0, 120), except: "gc-1"));       // a cycle does not take its own bookings
        Assert.Empty(await Taken(W(30, 60)));
        var found = Assert.Single(await store.GetBookingsAsync([station], W(70, 71), "gc-9", default));
        Assert.Equal(booked[2], found);
    }

    /// <summary>
    /// Node loads on Azurite: the loads below a node whose windows overlap a span are found by one key range per node
    /// (touching windows are not), other cycles' only, signed kW and market interval as written; writing them again, as a
    /// retried booking step does, counts nothing twice.
    /// </summary>
    [Fact]
    public async Task NodeLoads_OverlappingOtherCyclesOnly_WrittenTwiceFoundOnce()
    {
        var store = await StoreCollection.NewStoreAsync(market.StorageConnectionString);
        var t = new DateTimeOffset(2099, 1, 1, 10, 0, 0, TimeSpan.Zero).AddDays(Random.Shared.Next(1, 10_000));
        var node = "tr_load" + t.UtcTicks;
        TimeWindow W(int fromMinute, int toMinute) => new(t.AddMinutes(fromMinute), t.AddMinutes(toMinute));
        NodeLoad[] loads =
        [
            new(node, "req_a/off_a", W(0, 30), MarketInterval.Default, [new(10), new(-2.5m)]),
            new(node, "req_b/off_b", W(30, 35), MarketInterval.From(1), [new(1), new(2), new(3), new(4), new(5)]),
            new(node + "x", "req_c/off_c", W(0, 30), MarketInterval.Default, [new(7), new(7)]),
        ];
        await store.AddNodeLoadsAsync("gc-1", loads[..2], default);
        await store.AddNodeLoadsAsync("gc-2", loads[2..], default);
        await store.AddNodeLoadsAsync("gc-1", loads[..2], default);   // a retried step

        async Task<string[]> Found(TimeWindow span, string except = "gc-9") =>
            (await store.GetNodeLoadsAsync([node, node + "x"], span, except, default)).Select(l => l.AwardId).Order(StringComparer.Ordinal).ToArray();

        Assert.Equal(["req_a/off_a", "req_b/off_b", "req_c/off_c"], await Found(W(29, 31)));
        Assert.Equal(["req_b/off_b"], await Found(W(30, 60)));                        // [0,30) only touches it
        Assert.Equal(["req_c/off_c"], await Found(W(0, 60), except: "gc-1"));       // a cycle does not count its own awards
        Assert.Empty(await Found(W(35, 60)));
        var found = await store.GetNodeLoadsAsync([node], W(0, 60), "gc-9", default);
        Assert.Equal(loads[..2].Select(l => (l.NodeId, l.AwardId, l.Window, l.Interval)), found.Select(l => (l.NodeId, l.AwardId, l.Window, l.Interval)));
        Assert.Equal(loads[..2].Select(l => l.Power.ToArray()), found.Select(l => l.Power.ToArray()));
    }

    /// <summary>
    /// A clearing's bookings go in transactions per shard and come back in queries of seven stations each, within the
    /// service's 15 comparisons a filter: 300 stations (about five a shard), two bookings each, all found, written twice.
    /// </summary>
    [Fact]
    public async Task Bookings_ManyStationsSharingShards_AllWrittenAndFoundInFewRequests()
    {
        var store = await StoreCollection.NewStoreAsync(market.StorageConnectionString);
        var t = new DateTimeOffset(2099, 1, 1, 10, 0, 0, TimeSpan.Zero).AddDays(Random.Shared.Next(1, 10_000));
        var stations = Enumerable.Range(0, 300).Select(i => $"st_many{t.UtcTicks}_{i:D3}").ToList();
        var booked = stations.SelectMany(s => new[] { new StationBooking(s, new(t, t.AddMinutes(15)), $"req_1/{s}"), new StationBooking(s, new(t.AddHours(2), t.AddHours(3)), $"req_2/{s}") }).ToList();
        await store.BookAsync("gc-many", booked, default);
        await store.BookAsync("gc-many", booked, default);   // a retried step

        var found = await store.GetBookingsAsync(stations, new TimeWindow(t.AddMinutes(10), t.AddHours(2).AddMinutes(1)), "gc-other", default);

        Assert.Equal(booked.Select(b => b.AwardId).Order(StringComparer.Ordinal), found.Select(b => b.AwardId).Order(StringComparer.Ordinal));
        Assert.Equal(booked.OrderBy(b => b.AwardId, StringComparer.Ordinal), found.OrderBy(b => b.AwardId, StringComparer.Ordinal));
        Assert.Empty(await store.GetBookingsAsync(stations, new TimeWindow(t.AddHours(1), t.AddHours(2)), "gc-other", default));
    }

    /// <summary>
    /// Joining a cycle and fixing its members exclude each other on Azurite: a join holding an outdated read of the
    /// cycle retries and succeeds while the cycle is open and is refused once it is closing; a runner that read the
    /// cycle before a join cannot close it without seeing that join.
    /// </summary>
    [Fact]
    public async Task GateCycle_JoinAndClose_ExcludeEachOther()
    {
        var store = await StoreCollection.NewStoreAsync(market.StorageConnectionString);
        var closesAt = new DateTimeOffset(2099, 1, 1, 0, 0, 0, TimeSpan.Zero).AddMinutes(Random.Shared.Next(1, 500_000));   // a cycle of this test's own
        var stale = await store.GetOrOpenGateCycleAsync(closesAt, closesAt.AddHours(-1), default);

        Assert.True(await store.TryJoinGateCycleAsync(stale, "req_join1", default));
        Assert.True(await store.TryJoinGateCycleAsync(stale, "req_join2", default));   // its read is outdated by the first join

        var runnerRead = (await store.GetGateCycleAsync(stale.Value.Id, default))!.Value;
        Assert.True(await store.TryJoinGateCycleAsync(stale, "req_join3", default));
        runnerRead.Value.Close(closesAt);
        Assert.Null(await store.TryReplaceGateCycleAsync(runnerRead.Value, runnerRead.ETag, [], default));   // it has not seen req_join3

        var fresh = (await store.GetGateCycleAsync(stale.Value.Id, default))!.Value;
        fresh.Value.Close(closesAt);
        Assert.NotNull(await store.TryReplaceGateCycleAsync(fresh.Value, fresh.ETag, [], default));
        Assert.False(await store.TryJoinGateCycleAsync(stale, "req_join4", default));

        Assert.Equal(["req_join1", "req_join2", "req_join3"], (await store.GetGateCycleMembersAsync(stale.Value.Id, default)).Order(StringComparer.Ordinal));
        Assert.Equal(GateCycleState.Closed, (await store.GetGateCycleAsync(stale.Value.Id, default))!.Value.Value.State);
    }
}
