using FlexChain.Domain;
using static FlexChain.Domain.Tests.Build;
using static FlexChain.Domain.Tests.Cycle;

namespace FlexChain.Domain.Tests;

/// <summary>
/// A TSO's minimum block and the pooling of forwarded offers (<see cref="Pooling"/>): one-hour windows, so an offer's kWh is
/// its average kW.
/// </summary>
public sealed class PoolingTests
{
    private static Offer Forwarded(string id, decimal kwh, decimal price, int minute = 0, string request = "tso", params string[] stations) =>
        Offer(id, request, kwh, price, minute, stations: stations) with { ForwardedFrom = "dso-" + id };

    private static GateCycleResult Clear(ClearingRequest request, decimal minBlockKw, IReadOnlyList<Offer> offers, params StationBooking[] taken) =>
        Pooling.Clear([new(request, Role.Tso, CoordinationModel.Separate)], offers, taken,
            new Dictionary<string, Kilowatts> { [request.Id] = Kilowatts.From(minBlockKw) });

    [Fact]
    public void Clear_ForwardedOffersBelowTheBlock_PoolInMeritOrder_EachMemberAwardedItsOwnOfferAtThePoolsPrice()
    {
        var request = Request("tso", kwh: 1000, cap: 0.5m);
        Offer[] offers =
        [
            Forwarded("c", 200, 0.30m), Forwarded("a", 200, 0.10m), Forwarded("d", 200, 0.40m), Forwarded("b", 200, 0.20m),
            Offer("big", "tso", 600, 0.35m),
        ];

        var result = Clear(request, 500, offers).For("tso");

        Assert.Equal(
            [("tso/a", "a", "cpo-a", 200m, 0.30m, "pool-1"), ("tso/b", "b", "cpo-b", 200m, 0.30m, "pool-1"), ("tso/c", "c", "cpo-c", 200m, 0.30m, "pool-1"),
             ("tso/big", "big", "cpo-big", 400m, 0.35m, (string?)null)],
            result.Awards.Select(a => (a.Id, a.OfferId, a.CpoId, a.Energy.Value, a.Price.Value, a.PoolId)));
        Assert.Equal(["st-a"], result.Awards[0].StationIds);
        Assert.All(new[] { "a", "b", "c" }, id => Assert.Equal((OfferOutcomeKind.Accepted, "pool-1"), (result.Outcome(id).Kind, result.Outcome(id).PoolId)));
        var left = result.Outcome("d");
        Assert.Equal((OfferOutcomeKind.RejectedBelowMinimumBlock, (string?)null), (left.Kind, left.PoolId));
        Assert.Contains("reach only 200", left.Detail);
        Assert.Equal(offers.Length, result.Outcomes.Count);
        // What the pool booked is booked by its members' awards, station by station.
        Assert.Equal(["tso/a", "tso/b", "tso/big", "tso/c"], result.Bookings!.Select(b => b.AwardId).Distinct().Order(StringComparer.Ordinal));
        Assert.Equal("tso/b", result.Bookings!.Single(b => b.StationId == "st-b").AwardId);
    }

    [Fact]
    public void Clear_ThePoolsCanFillTheRequest_SeveralPoolsFormInTurn()
    {
        var request = Request("tso", kwh: 1000, cap: 0.5m);
        var offers = Enumerable.Range(1, 10).Select(i => Forwarded($"f{i:00}", 100, 0.10m + i / 100m)).ToList();

        var result = Clear(request, 500, offers).For("tso");

        Assert.Equal(1000m, result.AcceptedEnergy.Value);
        Assert.Equal(Enumerable.Repeat("pool-1", 5).Concat(Enumerable.Repeat("pool-2", 5)), result.Awards.Select(a => a.PoolId!));
        Assert.Equal([0.15m, 0.20m], result.Awards.Select(a => a.Price.Value).Distinct());   // each pool at its dearest member's price
    }

    [Fact]
    public void Clear_AnOfferAtTheBlock_ClearsAlone()
    {
        var result = Clear(Request("tso", kwh: 1000), 500, [Forwarded("exact", 500, 0.2m)]).For("tso");
        var award = Assert.Single(result.Awards);
        Assert.Equal(("exact", (string?)null), (award.OfferId, award.PoolId));
    }

    [Fact]
    public void Clear_ADirectOfferBelowTheBlock_NeverWins_AndIsNotPooled()
    {
        var result = Clear(Request("tso", kwh: 1000), 500, [Offer("direct", "tso", 300, 0.1m), Forwarded("fwd", 300, 0.2m)]).For("tso");
        Assert.Empty(result.Awards);
        Assert.Equal(OfferOutcomeKind.RejectedBelowMinimumBlock, result.Outcome("direct").Kind);
        Assert.Contains("only offers forwarded", result.Outcome("direct").Detail);
        Assert.Equal(OfferOutcomeKind.RejectedBelowMinimumBlock, result.Outcome("fwd").Kind);
        Assert.Contains("reach only 300", result.Outcome("fwd").Detail);
    }

    [Fact]
    public void Clear_TheTsoNeedsLessThanThePool_NoMemberIsActivated()
    {
        // 300 kWh of a cheaper whole offer leaves 200 kWh: the 400 kWh pool is not cut to fit.
        var result = Clear(Request("tso", kwh: 500), 300, [Offer("cheap", "tso", 300, 0.05m), Forwarded("a", 200, 0.1m), Forwarded("b", 200, 0.1m)]).For("tso");

        Assert.Equal(["cheap"], result.Awards.Select(a => a.OfferId));
        foreach (var id in new[] { "a", "b" })
        {
            var lost = result.Outcome(id);
            Assert.Equal((OfferOutcomeKind.RejectedIndivisibleOvershoot, "pool-1", 0m), (lost.Kind, lost.PoolId, lost.AcceptedEnergy.Value));
            Assert.Contains("pool-1", lost.Detail);
        }
    }

    [Fact]
    public void Clear_AMembersStationTakenInTheSameClearing_ThePoolLosesWhole()
    {
        // DSO-first: the DSO's request buys st-a before the TSO's round, so the pool holding st-a conflicts.
        var dso = Request("dso", kwh: 10, gateHour: 1.5);
        var tso = Request("tso", kwh: 1000, start: 4.5, gateHour: 1);
        Offer[] offers = [Offer("local", "dso", 10, 0.1m, stations: "st-a"), Forwarded("a", 300, 0.1m, stations: "st-a"), Forwarded("b", 300, 0.2m)];

        var result = Pooling.Clear([new(dso, Role.Dso, CoordinationModel.DsoFirst), new(tso, Role.Tso, CoordinationModel.DsoFirst)], offers, null,
            new Dictionary<string, Kilowatts> { ["tso"] = Kilowatts.From(500) });

        Assert.Equal(["local"], result.For("dso").Awards.Select(a => a.OfferId));
        Assert.Empty(result.For("tso").Awards);
        Assert.All(new[] { "a", "b" }, id => Assert.Equal((OfferOutcomeKind.RejectedCapacityConflict, "pool-1"), (result.For("tso").Outcome(id).Kind, result.For("tso").Outcome(id).PoolId)));
    }

    [Fact]
    public void Clear_AMembersStationBookedBefore_IsLeftOutOfThePools_SoTheOthersStillForm()
    {
        var booked = new StationBooking("st-a", new TimeWindow(T0.AddHours(4.5), T0.AddHours(5.5)), "old/off");
        Offer[] offers = [Forwarded("a", 300, 0.1m), Forwarded("b", 300, 0.2m), Forwarded("c", 300, 0.3m)];

        var result = Clear(Request("tso", kwh: 1000), 500, offers, booked).For("tso");

        Assert.Equal(["b", "c"], result.Awards.Select(a => a.OfferId));
        Assert.Equal(OfferOutcomeKind.RejectedBelowMinimumBlock, result.Outcome("a").Kind);
        Assert.Contains("booked by award old/off", result.Outcome("a").Detail);
    }

    [Fact]
    public void Clear_AForwardedOfferThatCouldNotWinAlone_IsNotPooled()
    {
        var request = Request("tso", kwh: 1000, cap: 0.5m) with { QualifiedStationIds = new HashSet<string> { "st-a", "st-b", "st-dear" } };
        Offer[] offers =
        [
            Forwarded("a", 300, 0.1m), Forwarded("b", 300, 0.2m), Forwarded("dear", 300, 0.6m), Forwarded("unqualified", 300, 0.1m),
            Forwarded("up", 300, 0.1m) with { Direction = Direction.IncreaseConsumption }, Forwarded("late", 300, 0.1m, minute: 60),
        ];

        var result = Clear(request, 500, offers).For("tso");

        Assert.Equal(["a", "b"], result.Awards.Select(a => a.OfferId));
        foreach (var (id, why) in new[] { ("dear", "above the cap"), ("unqualified", "not eligible"), ("up", "the other way"), ("late", "after gate closure") })
        {
            Assert.Equal(OfferOutcomeKind.RejectedBelowMinimumBlock, result.Outcome(id).Kind);
            Assert.Contains(why, result.Outcome(id).Detail);
        }
    }

    [Fact]
    public void Clear_PayAsClear_EveryMemberGetsTheClearingPrice()
    {
        var request = Request("tso", kwh: 1000, pricing: PricingRule.PayAsClear);
        var result = Clear(request, 400, [Forwarded("a", 300, 0.1m), Forwarded("b", 300, 0.2m), Offer("big", "tso", 500, 0.3m)]).For("tso");
        Assert.Equal(["a", "b", "big"], result.Awards.Select(a => a.OfferId));
        Assert.Equal([0.3m], result.Awards.Select(a => a.Price.Value).Distinct());
        Assert.Equal(1000m, result.AcceptedEnergy.Value);
    }

    [Fact]
    public void Clear_WithoutMinimumBlocks_IsTheCoordinatedClearing()
    {
        var request = Request("tso", kwh: 500);
        Offer[] offers = [Forwarded("a", 200, 0.1m), Offer("b", "tso", 100, 0.2m)];
        var plain = CoordinatedClearing.Clear([new(request, Role.Tso, CoordinationModel.Separate)], offers);
        var pooled = Pooling.Clear([new(request, Role.Tso, CoordinationModel.Separate)], offers, null, new Dictionary<string, Kilowatts>());
        Assert.Equal(plain.For("tso").Awards, pooled.For("tso").Awards);
        Assert.Equal(plain.For("tso").Outcomes, pooled.For("tso").Outcomes);
    }

    [Fact]
    public void Clear_IsDeterministic_WhateverTheOffersOrder()
    {
        var request = Request("tso", kwh: 1000);
        var offers = Enumerable.Range(1, 12).Select(i => Forwarded($"f{i:00}", 90 + i, 0.1m + (i % 4) / 100m, minute: i % 3)).ToList();
        var once = Clear(request, 250, offers).For("tso");
        var again = Clear(request, 250, offers.AsEnumerable().Reverse().ToList()).For("tso");
        Assert.Equal(once.Awards, again.Awards);
        Assert.Equal(once.Outcomes.OrderBy(o => o.OfferId), again.Outcomes.OrderBy(o => o.OfferId));
    }

    [Fact]
    public void PowerOf_IsEnergyOverTheWindow_RoundedDownToTheWatt()
    {
        var window = new TimeWindow(T0, T0.AddMinutes(45));
        Assert.Equal(400m, Pooling.PowerOf(KilowattHours.From(300), window).Value);
        Assert.Equal(0.001m, Pooling.PowerOf(KilowattHours.From(0.001m), new TimeWindow(T0, T0.AddMinutes(59))).Value);
    }

    private static ClearingRequest Profiled(string id, params decimal[] kw) =>
        Request(id, kwh: kw.Sum() / 4) with { Profile = kw.Select(k => Kilowatts.From(k)).ToList() };

    /// <summary>Each award's watt-hours per quarter hour.</summary>
    private static long[] Wh(Award a) => a.Profile!.Select(kw => decimal.ToInt64(kw.Value * 250)).ToArray();

    [Fact]
    public void Clear_OnAProfileRequest_ThePoolTakesItsPowerInEveryInterval_EachMemberItsShare()
    {
        // 250 + 350 kW pool into a 600 kW block, which every quarter hour has room for.
        var result = Clear(Profiled("tso", 700, 600, 800, 600), 500, [Forwarded("a", 250, 0.1m), Forwarded("b", 350, 0.2m)]).For("tso");

        Assert.Equal([("a", "pool-1"), ("b", "pool-1")], result.Awards.Select(a => (a.OfferId, a.PoolId!)));
        Assert.Equal([250m, 250m, 250m, 250m], result.Awards[0].Profile!.Select(k => k.Value));
        Assert.Equal([350m, 350m, 350m, 350m], result.Awards[1].Profile!.Select(k => k.Value));
        Assert.Equal(0.2m, result.Awards[0].Price.Value);
    }

    [Fact]
    public void Clear_OnAProfileRequest_AQuarterWithLessNeedThanTheBlock_LeavesThePoolOut()
    {
        var result = Clear(Profiled("tso", 700, 400, 800, 600), 500, [Forwarded("a", 250, 0.1m), Forwarded("b", 350, 0.2m)]).For("tso");

        Assert.Empty(result.Awards);
        Assert.All(new[] { "a", "b" }, id => Assert.Equal((OfferOutcomeKind.RejectedIndivisibleOvershoot, "pool-1"), (result.Outcome(id).Kind, result.Outcome(id).PoolId)));
    }

    [Fact]
    public void Clear_AProfiledMember_TheBlockIsTheMembersPowerSummedPerQuarter_EachAwardedItsOwn()
    {
        // a offers 800 kW in the first half hour only (forwarding keeps the power offered per interval); b 200 kW flat.
        var a = Forwarded("a", 400, 0.1m) with { Profile = [Kilowatts.From(800), Kilowatts.From(800), Kilowatts.From(0), Kilowatts.From(0)] };
        Offer[] offers = [a, Forwarded("b", 200, 0.2m), Forwarded("odd", 300, 0.1m) with { Profile = [Kilowatts.From(400), Kilowatts.From(800)] }];

        var result = Clear(Request("tso", kwh: 1000), 500, offers).For("tso");

        Assert.Equal([("a", "pool-1"), ("b", "pool-1")], result.Awards.Select(x => (x.OfferId, x.PoolId!)));
        Assert.Equal([800m, 800m, 0m, 0m], result.Awards[0].Profile!.Select(k => k.Value));
        Assert.Equal([200m, 200m, 200m, 200m], result.Awards[1].Profile!.Select(k => k.Value));
        Assert.Equal(OfferOutcomeKind.RejectedBelowMinimumBlock, result.Outcome("odd").Kind);
        Assert.Contains("does not fit", result.Outcome("odd").Detail);
    }

    [Fact]
    public void Clear_AProfiledBlockOverAQuartersNeed_LeavesThePoolOut()
    {
        // 1,000 kWh over the hour needs 1,000 kW a quarter; the block brings 1,100 in the first two.
        var a = Forwarded("a", 450, 0.1m) with { Profile = [Kilowatts.From(900), Kilowatts.From(900), Kilowatts.From(0), Kilowatts.From(0)] };
        var result = Clear(Request("tso", kwh: 1000), 500, [a, Forwarded("b", 200, 0.2m)]).For("tso");
        Assert.Empty(result.Awards);
        Assert.Equal(OfferOutcomeKind.RejectedIndivisibleOvershoot, result.Outcome("b").Kind);
    }

    [Fact]
    public void Clear_OnAProfileRequest_TheMembersProfilesAddUpToTheBlockToTheWattHour()
    {
        // 500 kWh in thirds that do not divide evenly: 125,000 Wh per quarter hour shared as 166,667 / 166,667 / 166,666 Wh.
        Offer[] offers = [Forwarded("a", 166.667m, 0.1m), Forwarded("b", 166.667m, 0.1m), Forwarded("c", 166.666m, 0.1m)];

        var awards = Clear(Profiled("tso", 500, 500, 500, 500), 500, offers).For("tso").Awards;

        Assert.Equal(3, awards.Count);
        Assert.Equal([125_000L, 125_000L, 125_000L, 125_000L], Enumerable.Range(0, 4).Select(k => awards.Sum(a => Wh(a)[k])));
        Assert.Equal([166_667L, 166_667L, 166_666L], awards.Select(a => Wh(a).Sum()));
        Assert.All(awards, a => Assert.All(Wh(a), wh => Assert.InRange(wh, 41_666L, 41_668L)));
    }
}

/// <summary>A TSO request's minimum block when it is posted and when an offer is placed.</summary>
public sealed class MinimumBlockTests
{
    private static readonly GridNode Substation = new("gn-hv", "tso1", "Terni HV/MV", Kilowatts.From(40_000)) { Kind = GridNodeKind.HvMvSubstation };
    private static readonly GridNode Tr1 = new("tr1", "dso1", "Terni Nord 3", Kilowatts.From(630)) { ParentId = "gn-hv", AncestorIds = ["gn-hv"] };

    // A 30-minute window of 500 kWh: 1,000 kW on average.
    private static FlexRequest Post(decimal? minBlockKw, Role buyer = Role.Tso, SelectionMode selection = SelectionMode.Automatic) =>
        FlexRequest.Post("req1", buyer == Role.Tso ? "tso1" : "dso1", buyer == Role.Tso ? Substation : Tr1, new TimeWindow(T0.AddHours(4), T0.AddHours(4.5)),
            KilowattHours.From(500), Direction.ReduceConsumption, EurosPerKilowattHour.From(0.5m), T0.AddHours(1), PricingRule.PayAsBid, T0,
            selection: selection, decisionDeadline: selection == SelectionMode.Manual ? T0.AddHours(2) : null, buyer: buyer,
            minBlock: minBlockKw is { } kw ? Kilowatts.From(kw) : null);

    private static (string, string) Rule(Action act)
    {
        var e = Assert.Throws<DomainException>(act);
        return (e.Field, e.Rule);
    }

    [Fact]
    public void Post_MinBlockUpToTheRequestsAveragePower_IsKept()
    {
        Assert.Equal(1000m, Post(1000)!.MinBlock!.Value.Value);
        Assert.Equal(0.001m, Post(0.001m)!.MinBlock!.Value.Value);
        Assert.Null(Post(null).MinBlock);
    }

    [Fact]
    public void Post_MinBlockOutOfRange_OnADsoRequest_OrWithManualSelection_IsRefused()
    {
        Assert.Equal(("minBlockKw", "min-block-size"), Rule(() => Post(1000.001m)));
        Assert.Equal(("minBlockKw", "min-block-size"), Rule(() => Post(0)));
        Assert.Equal(("minBlockKw", "tso-only"), Rule(() => Post(100, Role.Dso)));
        Assert.Equal(("minBlockKw", "selection"), Rule(() => Post(100, selection: SelectionMode.Manual)));
    }

    [Fact]
    public void AcceptOffer_ADirectOfferBelowTheBlock_IsRefused_AForwardedOneIsTakenForPooling()
    {
        var request = Post(400);
        var station = new ChargingStation("st-a", "cpo-a", "tr1", Kilowatts.From(1000), "IT-a", true) { UpdatedAt = T0 }
            with { Qualification = new Qualification(QualificationStatus.Qualified, "dso1", [], T0, T0.AddDays(30), 1, 1) };
        var sites = new Dictionary<string, StationSite> { ["st-a"] = new(Tr1, new PrequalificationRequirements("dso1", null, Kilowatts.From(3.7m), true, TimeSpan.FromDays(30), 1, T0)) };
        Offer Of(decimal kwh) => new("off1", "req1", "cpo-a", ["st-a"], KilowattHours.From(kwh), EurosPerKilowattHour.From(0.2m), true, T0);

        Assert.Equal(("energyKwh", "min-block"), Rule(() => request.AcceptOffer(Of(199.999m), [station], Substation, null, T0, null, sites)));
        request.AcceptOffer(Of(200), [station], Substation, null, T0, null, sites);                                            // 400 kW over 30 minutes
        request.AcceptOffer(Of(50) with { ForwardedFrom = "off-local" }, [station], Substation, null, T0, null, sites);
    }
}
