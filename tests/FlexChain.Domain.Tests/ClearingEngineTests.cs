using FlexChain.Domain;
using static FlexChain.Domain.Tests.Build;
using static FlexChain.Domain.Tests.Cycle;

namespace FlexChain.Domain.Tests;

public class ClearingEngineTests
{
    [Fact]
    public void Clear_SameStationOnOverlappingWindows_EarlierGateClosureKeepsIt()
    {
        // r1's gate closes first, so r1 is cleared (and published) first; r2's cheaper offer on the same station loses.
        var r1 = Request("r1", kwh: 5, start: 4, hours: 2, gateHour: 1);
        var r2 = Request("r2", kwh: 5, start: 5, hours: 2, gateHour: 2);
        var result = ClearingEngine.Clear([r2, r1],
        [
            Offer("a", "r1", 5, 0.30m, stations: "st-shared"),
            Offer("b", "r2", 5, 0.10m, stations: "st-shared"),
            Offer("c", "r2", 5, 0.20m),
        ]);

        Assert.Equal(["r1", "r2"], result.Results.Select(r => r.RequestId));
        Assert.Equal("a", Assert.Single(result.For("r1").Awards).OfferId);
        var conflict = result.For("r2").Outcome("b");
        Assert.Equal(OfferOutcomeKind.RejectedCapacityConflict, conflict.Kind);
        Assert.Equal("Station st-shared is already awarded to request r1 for an overlapping window.", conflict.Detail);
        Assert.Equal("c", Assert.Single(result.For("r2").Awards).OfferId);
    }

    [Fact]
    public void Clear_SameGateClosure_EarlierWindowThenRequestIdGoesFirst()
    {
        var late = Request("a-late", kwh: 5, start: 6, hours: 2);
        var early = Request("z-early", kwh: 5, start: 5, hours: 2);
        var tie = Request("b-tie", kwh: 5, start: 6, hours: 2);
        var result = ClearingEngine.Clear([late, tie, early],
        [
            Offer("x", "a-late", 5, 0.1m, stations: "st"),
            Offer("y", "z-early", 5, 0.1m, stations: "st"),
            Offer("z", "b-tie", 5, 0.1m, stations: "st"),
        ]);

        Assert.Equal(["z-early", "a-late", "b-tie"], result.Results.Select(r => r.RequestId));
        Assert.Single(result.For("z-early").Awards);
        Assert.Equal(OfferOutcomeKind.RejectedCapacityConflict, result.For("a-late").Outcome("x").Kind);
        Assert.Equal(OfferOutcomeKind.RejectedCapacityConflict, result.For("b-tie").Outcome("z").Kind);
    }

    [Fact]
    public void Clear_SameStationOnTouchingWindows_BothAwarded()
    {
        // Windows are half-open: [4, 5) and [5, 6) do not overlap.
        var result = ClearingEngine.Clear([Request("r1", kwh: 5, start: 4), Request("r2", kwh: 5, start: 5)],
            [Offer("a", "r1", 5, 0.1m, stations: "st"), Offer("b", "r2", 5, 0.1m, stations: "st")]);

        Assert.All(result.Results, r => Assert.Single(r.Awards));
    }

    [Fact]
    public void Clear_StationOfferedTwiceOnOneRequest_SecondInMeritOrderConflicts()
    {
        var result = ClearingEngine.Clear([Request("r1", kwh: 10)],
            [Offer("dear", "r1", 5, 0.2m, stations: ["st1", "st2"]), Offer("cheap", "r1", 5, 0.1m, stations: "st2")]);

        Assert.Equal(OfferOutcomeKind.RejectedCapacityConflict, result.For("r1").Outcome("dear").Kind);
        Assert.Equal(KilowattHours.From(5), result.For("r1").AcceptedEnergy);
    }

    [Fact]
    public void Clear_RejectedOffer_DoesNotBlockItsStation()
    {
        // "a" is over the cap on r1, so its station stays free for r2.
        var result = ClearingEngine.Clear([Request("r1", cap: 0.2m), Request("r2", gateHour: 2)],
            [Offer("a", "r1", 5, 0.3m, stations: "st"), Offer("b", "r2", 5, 0.3m, stations: "st")]);

        Assert.Equal(OfferOutcomeKind.RejectedOverPriceCap, result.For("r1").Outcome("a").Kind);
        Assert.Equal(OfferOutcomeKind.Accepted, result.For("r2").Outcome("b").Kind);
    }

    [Fact]
    public void Clear_OfferForUnknownRequest_ReportedAsUnmatched()
    {
        var result = ClearingEngine.Clear([Request("r1")], [Offer("a", "r1", 5, 0.1m), Offer("b", "r9", 5, 0.1m)]);

        var unmatched = Assert.Single(result.Unmatched);
        Assert.Equal(("b", OfferOutcomeKind.RejectedNotEligible), (unmatched.OfferId, unmatched.Kind));
        Assert.Contains("r9", unmatched.Detail);
    }

    [Fact]
    public void Clear_UnqualifiedStationOrNoStation_NotEligible()
    {
        var request = Request("r1") with { QualifiedStationIds = new HashSet<string> { "st-ok" } };
        var noStation = new Offer("none", "r1", "cpo", [], KilowattHours.From(1), EurosPerKilowattHour.From(0.1m), true, T0);
        var result = ClearingEngine.Clear([request],
            [Offer("ok", "r1", 5, 0.2m, stations: "st-ok"), Offer("bad", "r1", 5, 0.1m, stations: ["st-ok", "st-x"]), noStation]);

        var r = result.For("r1");
        Assert.Equal(OfferOutcomeKind.RejectedNotEligible, r.Outcome("bad").Kind);
        Assert.Equal(OfferOutcomeKind.RejectedNotEligible, r.Outcome("none").Kind);
        Assert.Equal("The offer names no station.", r.Outcome("none").Detail);
        Assert.Equal("ok", Assert.Single(r.Awards).OfferId);
    }

    [Fact]
    public void Clear_OffersWithoutStationListOrWithANullStationIdAndLate_AreRejectedWithoutThrowing()
    {
        // The engine reads every offer's station ids ahead of the merit pass; offers it rejects before any station is
        // looked up must still come out as outcomes, whatever their station list holds.
        var noList = new Offer("nolist", "r1", "cpo", null!, KilowattHours.From(1), EurosPerKilowattHour.From(0.1m), true, T0);
        var lateNull = new Offer("late", "r1", "cpo", [null!], KilowattHours.From(1), EurosPerKilowattHour.From(0.1m), true, T0.AddHours(2));
        var r = ClearingEngine.Clear([Request("r1")], [noList, lateNull, Offer("ok", "r1", 5, 0.2m)]).For("r1");

        Assert.Equal((OfferOutcomeKind.RejectedNotEligible, "The offer names no station."), (r.Outcome("nolist").Kind, r.Outcome("nolist").Detail));
        Assert.Equal(OfferOutcomeKind.RejectedLate, r.Outcome("late").Kind);
        Assert.Equal("ok", Assert.Single(r.Awards).OfferId);
    }

    [Fact]
    public void Clear_EnergyFinerThanWattHour_NotEligible()
    {
        var fine = new Offer("fine", "r1", "cpo", ["st"], new KilowattHours(1.0005m), EurosPerKilowattHour.From(0.1m), true, T0);
        var r = ClearingEngine.Clear([Request("r1")], [fine]).For("r1");

        Assert.Equal(OfferOutcomeKind.RejectedNotEligible, r.Outcome("fine").Kind);
        Assert.Empty(r.Awards);
    }

    [Fact]
    public void Clear_OverfillOff_IndivisibleOvershootRejected()
    {
        var r = ClearingEngine.Clear([Request("r1", kwh: 10)],
            [Offer("a", "r1", 8, 0.1m), Offer("lump", "r1", 5, 0.2m, divisible: false)]).For("r1");

        Assert.Equal(OfferOutcomeKind.RejectedIndivisibleOvershoot, r.Outcome("lump").Kind);
        Assert.Equal(KilowattHours.From(8), r.AcceptedEnergy);
    }

    [Fact]
    public void Clear_OverfillAllowed_IndivisibleWithinAllowanceAcceptedWhole()
    {
        var request = Request("r1", kwh: 10) with { OverfillAllowance = KilowattHours.From(3) };
        var r = ClearingEngine.Clear([request],
            [Offer("a", "r1", 8, 0.1m), Offer("lump", "r1", 5, 0.2m, divisible: false), Offer("rest", "r1", 5, 0.3m)]).For("r1");

        Assert.Equal(OfferOutcomeKind.Accepted, r.Outcome("lump").Kind);
        Assert.Equal(OfferOutcomeKind.RejectedNotNeeded, r.Outcome("rest").Kind);
        Assert.Equal(KilowattHours.From(13), r.AcceptedEnergy);
        Assert.Equal(KilowattHours.From(3), r.OverfillAllowance);
    }

    [Fact]
    public void Clear_OverfillAllowed_LumpBeyondAllowanceStillRejectedAndDivisibleStillCut()
    {
        var request = Request("r1", kwh: 10) with { OverfillAllowance = KilowattHours.From(1) };
        var r = ClearingEngine.Clear([request],
            [Offer("a", "r1", 8, 0.1m), Offer("lump", "r1", 5, 0.2m, divisible: false), Offer("div", "r1", 5, 0.3m)]).For("r1");

        Assert.Equal(OfferOutcomeKind.RejectedIndivisibleOvershoot, r.Outcome("lump").Kind);
        Assert.Equal((OfferOutcomeKind.PartlyAccepted, KilowattHours.From(2)), (r.Outcome("div").Kind, r.Outcome("div").AcceptedEnergy));
        Assert.Equal(KilowattHours.From(10), r.AcceptedEnergy);
    }

    [Fact]
    public void Clear_PartialAcceptance_ToTheWattHour()
    {
        var r = ClearingEngine.Clear([Request("r1", kwh: 1.234m)], [Offer("a", "r1", 5, 0.1m)]).For("r1");

        var outcome = r.Outcome("a");
        Assert.Equal((OfferOutcomeKind.PartlyAccepted, 1234L), (outcome.Kind, outcome.AcceptedEnergy.WattHours));
        Assert.Equal(EurosPerKilowattHour.From(0.1m), outcome.Price);
    }

    [Fact]
    public void Clear_HandWorkedPayAsClear_EveryOutcomeExplained()
    {
        // Need 12 kWh, cap 0.25. Merit order: a 0.10 (4), b 0.12 (6, indivisible), c 0.15 (3, indivisible),
        // d 0.15 later (5), e 0.30 (over cap), f late. Take a (4, left 8), b (6, left 2), c overshoots (3 > 2),
        // d partly (2). Clearing price = d's 0.15. Outcomes list in merit order, late f (cheapest) included.
        var r = ClearingEngine.Clear([Request("r1", kwh: 12, cap: 0.25m, pricing: PricingRule.PayAsClear)],
        [
            Offer("f", "r1", 5, 0.05m, minute: 60), Offer("e", "r1", 5, 0.30m), Offer("d", "r1", 5, 0.15m, minute: 9),
            Offer("c", "r1", 3, 0.15m, minute: 2, divisible: false), Offer("b", "r1", 6, 0.12m, divisible: false),
            Offer("a", "r1", 4, 0.10m),
        ]).For("r1");

        Assert.Equal(
        [
            ("f", OfferOutcomeKind.RejectedLate, 0L, 0m),
            ("a", OfferOutcomeKind.Accepted, 4000L, 0.15m),
            ("b", OfferOutcomeKind.Accepted, 6000L, 0.15m),
            ("c", OfferOutcomeKind.RejectedIndivisibleOvershoot, 0L, 0m),
            ("d", OfferOutcomeKind.PartlyAccepted, 2000L, 0.15m),
            ("e", OfferOutcomeKind.RejectedOverPriceCap, 0L, 0m),
        ], r.Outcomes.Select(o => (o.OfferId, o.Kind, o.AcceptedEnergy.WattHours, o.Price.Value)));
        Assert.Equal(EurosPerKilowattHour.From(0.15m), r.ClearingPrice);
        Assert.Equal(["r1/a", "r1/b", "r1/d"], r.Awards.Select(a => a.Id));
    }

    [Fact]
    public void Clear_DuplicateRequestId_Throws()
    {
        var e = Assert.Throws<DomainException>(() => ClearingEngine.Clear([Request("r1"), Request("r1")], []));
        Assert.Equal("unique-id", e.Rule);
    }

    [Fact]
    public void Clear_SameOfferTwice_ThrowsNamingTheId()
    {
        var a = Offer("a", "r1", 5, 0.1m);
        var e = Assert.Throws<ArgumentException>(() => ClearingEngine.Clear([Request("r1")], [a, a]));
        Assert.Contains("Offer a ", e.Message);
    }

    [Fact]
    public void Clear_TwoOffersWithOneIdAtDifferentPrices_ThrowsNamingTheId()
    {
        // Different sort keys put them apart in merit order; both would be awarded under the one award id "r1/a".
        var e = Assert.Throws<ArgumentException>(() => ClearingEngine.Clear([Request("r1", kwh: 10)],
            [Offer("a", "r1", 5, 0.1m), Offer("a", "r1", 5, 0.2m, minute: 3, stations: "st-other")]));
        Assert.Contains("Offer a ", e.Message);
    }

    [Fact]
    public void Clear_OneOfferIdOnTwoRequests_GivesTwoDistinctAwardIds()
    {
        // Award ids are request/offer pairs, so the uniqueness that matters is per request (the API's ids are global anyway).
        var result = ClearingEngine.Clear([Request("r1"), Request("r2", start: 6)],
            [Offer("a", "r1", 5, 0.1m), Offer("a", "r2", 5, 0.1m, stations: "st-other")]);
        Assert.Equal(["r1/a", "r2/a"], result.Results.SelectMany(r => r.Awards).Select(a => a.Id).Order(StringComparer.Ordinal));
    }

    [Fact]
    public void Clear_RequestEnergyNotPositive_Throws()
    {
        var request = Request("r1") with { Energy = KilowattHours.Zero };
        Assert.Equal("positive", Assert.Throws<DomainException>(() => ClearingEngine.Clear([request], [])).Rule);
    }

    [Fact]
    public void Clear_NoOffers_EmptyResultPerRequest()
    {
        var result = ClearingEngine.Clear([Request("r1")], []);
        Assert.Empty(result.For("r1").Awards);
        Assert.Empty(result.For("r1").Outcomes);
        Assert.Throws<KeyNotFoundException>(() => result.For("nope"));
    }

    [Fact]
    public void Clear_Result_IsReadOnly()
    {
        var r = ClearingEngine.Clear([Request("r1")], [Offer("a", "r1", 5, 0.1m)]).For("r1");
        Assert.False(r.Awards is Award[]);
        Assert.False(r.Outcomes is IList<OfferOutcome> { IsReadOnly: false });
        Assert.False(r.Awards is IList<Award> { IsReadOnly: false });
    }

    [Fact]
    public void Outcome_KindNumbers_AreStable()
    {
        // These numbers are hashed on chain and stored; they must never change.
        Assert.Equal([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12], Enum.GetValues<OfferOutcomeKind>().Select(k => (int)k));
        Assert.Equal([1, 2], Enum.GetValues<SelectionMode>().Select(k => (int)k));
    }
}

public class OfferOutcomeJsonTests
{
    [Fact]
    public void Outcome_JsonRoundTrip_KeepsConflictDetailAndEquality()
    {
        // Conflict details are formatted lazily; storage must still see (and restore) the sentence.
        var result = ClearingEngine.Clear([Cycle.Request("r1", kwh: 10)],
            [Cycle.Offer("a", "r1", 5, 0.1m, stations: "st"), Cycle.Offer("b", "r1", 5, 0.2m, stations: "st")]);
        var conflict = result.For("r1").Outcome("b");

        var json = System.Text.Json.JsonSerializer.Serialize(conflict);
        var back = System.Text.Json.JsonSerializer.Deserialize<OfferOutcome>(json);

        Assert.Contains("Station st is already awarded to request r1", json);
        Assert.Equal(conflict, back);
        Assert.Equal(conflict.GetHashCode(), back!.GetHashCode());
    }
}
