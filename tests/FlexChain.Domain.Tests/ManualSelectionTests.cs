using FlexChain.Domain;
using static FlexChain.Domain.Tests.Cycle;

namespace FlexChain.Domain.Tests;

public class ManualSelectionTests
{
    // Gate closes at T0 + 1 h; the DSO may decide until T0 + 2 h.
    private static ClearingRequest Manual(decimal kwh, ManualDecision? decision, decimal cap = 0.5m, PricingRule pricing = PricingRule.PayAsBid) =>
        Request("r1", kwh: kwh, cap: cap, pricing: pricing) with { DecisionDeadline = Build.T0.AddHours(2), Decision = decision };

    private static readonly Offer[] Offers =
    [
        Offer("cheap", "r1", 5, 0.10m), Offer("mid", "r1", 5, 0.20m), Offer("lump", "r1", 4, 0.30m, divisible: false),
        Offer("dear", "r1", 5, 0.90m),
    ];

    [Fact]
    public void Clear_ValidPicks_OnlyPickedOffersAwarded()
    {
        // The DSO skips the cheapest offer (e.g. it distrusts that CPO): manual selection lets it.
        var r = ClearAlone(Manual(10, Picks("r1", 1.5, Pick("lump"), Pick("mid", 2.5m))), Offers);

        Assert.Equal(SelectionMode.Manual, r.Selection);
        Assert.Equal(["mid", "lump"], r.Awards.Select(a => a.OfferId));
        Assert.Equal((OfferOutcomeKind.PartlyAccepted, 2500L), (r.Outcome("mid").Kind, r.Outcome("mid").AcceptedEnergy.WattHours));
        Assert.Equal(OfferOutcomeKind.Accepted, r.Outcome("lump").Kind);
        Assert.Equal(OfferOutcomeKind.RejectedNotPicked, r.Outcome("cheap").Kind);
    }

    [Fact]
    public void Clear_ManualPayAsClear_PaysHighestPickedPrice()
    {
        var r = ClearAlone(Manual(10, Picks("r1", 1.5, Pick("cheap"), Pick("lump")), pricing: PricingRule.PayAsClear), Offers);

        Assert.All(r.Awards, a => Assert.Equal(EurosPerKilowattHour.From(0.30m), a.Price));
    }

    [Fact]
    public void Clear_InvalidPicks_RejectedWithReasons()
    {
        var decision = Picks("r1", 1.5,
            Pick("lump", 2), // splits an indivisible offer
            Pick("cheap", 6), // more than offered
            Pick("dear"), // over the cap
            Pick("mid")); // valid
        var r = ClearAlone(Manual(5, decision, cap: 0.5m), Offers);

        Assert.Equal((OfferOutcomeKind.RejectedInvalidPick, "An indivisible offer can only be picked whole."), (r.Outcome("lump").Kind, r.Outcome("lump").Detail));
        Assert.Equal((OfferOutcomeKind.RejectedInvalidPick, "The pick asks for more energy than the offer holds."), (r.Outcome("cheap").Kind, r.Outcome("cheap").Detail));
        Assert.Equal(OfferOutcomeKind.RejectedOverPriceCap, r.Outcome("dear").Kind);
        Assert.Equal("mid", Assert.Single(r.Awards).OfferId);
    }

    [Fact]
    public void Clear_PicksExceedingRequest_LaterInMeritOrderRejected()
    {
        // 5 + 5 > 8: picks are applied in merit order, so the dearer one is refused, whatever order the DSO listed them in.
        var r = ClearAlone(Manual(8, Picks("r1", 1.5, Pick("mid"), Pick("cheap"))), Offers);

        Assert.Equal(OfferOutcomeKind.Accepted, r.Outcome("cheap").Kind);
        Assert.Equal((OfferOutcomeKind.RejectedInvalidPick, "The pick exceeds what is left of the requested energy."), (r.Outcome("mid").Kind, r.Outcome("mid").Detail));
    }

    [Fact]
    public void Clear_PicksExceedingRequestWithinAllowance_Accepted()
    {
        var request = Manual(8, Picks("r1", 1.5, Pick("mid"), Pick("cheap"))) with { OverfillAllowance = KilowattHours.From(2) };
        var r = ClearAlone(request, Offers);

        Assert.Equal(KilowattHours.From(10), r.AcceptedEnergy);
    }

    [Fact]
    public void Clear_OfferPickedTwiceDifferently_Rejected()
    {
        var r = ClearAlone(Manual(10, Picks("r1", 1.5, Pick("mid", 1), Pick("mid", 2))), Offers);
        Assert.Equal(OfferOutcomeKind.RejectedInvalidPick, r.Outcome("mid").Kind);
    }

    [Fact]
    public void Clear_DecisionAtDeadline_AutomaticApplies()
    {
        var r = ClearAlone(Manual(10, Picks("r1", 2, Pick("dear"))), Offers);

        Assert.Equal(SelectionMode.Automatic, r.Selection);
        Assert.Equal("No decision before the deadline; automatic clearing applied.", r.SelectionNote);
        Assert.Equal(["cheap", "mid"], r.Awards.Select(a => a.OfferId));
    }

    [Fact]
    public void Clear_NoDecision_AutomaticApplies()
    {
        var r = ClearAlone(Manual(10, null), Offers);
        Assert.Equal((SelectionMode.Automatic, (string?)null), (r.Selection, r.SelectionNote));
        Assert.Equal(["cheap", "mid"], r.Awards.Select(a => a.OfferId));
    }

    [Fact]
    public void Clear_DecisionBeforeGateClosureOrWithoutPeriod_AutomaticApplies()
    {
        Assert.Equal(SelectionMode.Automatic, ClearAlone(Manual(10, Picks("r1", 0.5, Pick("dear"))), Offers).Selection);
        var noPeriod = Request("r1") with { Decision = Picks("r1", 1.5, Pick("dear")) };
        Assert.Equal(SelectionMode.Automatic, ClearAlone(noPeriod, Offers).Selection);
    }

    [Fact]
    public void Clear_DecisionForAnotherRequest_Throws()
    {
        var e = Assert.Throws<DomainException>(() => ClearAlone(Manual(10, Picks("r2", 1.5, Pick("mid"))), Offers));
        Assert.Equal("request-mismatch", e.Rule);
    }

    [Fact]
    public void ValidateDecision_InvalidPicks_ListsEveryProblem()
    {
        var request = Manual(5, Picks("r1", 1.5, Pick("lump", 1), Pick("dear"), Pick("ghost"), Pick("mid")));

        var problems = ClearingEngine.ValidateDecision(request, Offers);

        Assert.Equal(
            [("lump", OfferOutcomeKind.RejectedInvalidPick), ("dear", OfferOutcomeKind.RejectedOverPriceCap), ("ghost", OfferOutcomeKind.RejectedNotEligible)],
            problems.Select(p => (p.OfferId, p.Reason)));
        Assert.All(problems, p => Assert.False(string.IsNullOrEmpty(p.Message)));
    }

    [Fact]
    public void ValidateDecision_ValidPicks_NoProblems()
    {
        Assert.Empty(ClearingEngine.ValidateDecision(Manual(10, Picks("r1", 1.5, Pick("cheap"), Pick("mid"))), Offers));
    }

    [Fact]
    public void ValidateDecision_AfterDeadline_Throws()
    {
        var e = Assert.Throws<DomainException>(() => ClearingEngine.ValidateDecision(Manual(10, Picks("r1", 3, Pick("mid"))), Offers));
        Assert.Equal("decision-deadline", e.Rule);
    }

    [Fact]
    public void Clear_ManualPickOnStationAwardedEarlier_CapacityConflict()
    {
        var first = Request("r0", kwh: 5, start: 4, gateHour: 0.5);
        var manual = Manual(5, Picks("r1", 1.5, Pick("mid")));
        var result = ClearingEngine.Clear([manual, first], [Offer("x", "r0", 5, 0.1m, stations: "st-mid"), .. Offers]);

        Assert.Equal(OfferOutcomeKind.RejectedCapacityConflict, result.For("r1").Outcome("mid").Kind);
    }
}
