using FlexChain.Domain;
using static FlexChain.Domain.Tests.Build;

namespace FlexChain.Domain.Tests;

/// <summary>The DSO's manual decision on a request (<see cref="FlexRequest.Decide"/>) and how it reaches clearing.</summary>
public class ManualDecisionTests
{
    // Gate closes at T0 + 1 h; the DSO may decide in [T0 + 1 h, T0 + 2 h).
    private static readonly DateTimeOffset GateClosure = T0.AddHours(1);
    private static readonly DateTimeOffset Deadline = T0.AddHours(2);

    private static FlexRequest Manual(decimal kwh = 10) =>
        FlexRequest.Post("req1", "dso1", Grid, new TimeWindow(T0.AddHours(4), T0.AddHours(5)), KilowattHours.From(kwh),
            Direction.ReduceConsumption, EurosPerKilowattHour.From(0.5m), GateClosure, PricingRule.PayAsBid, T0,
            selection: SelectionMode.Manual, decisionDeadline: Deadline);

    private static readonly Offer[] Offers =
    [
        Offer("cheap", 10, 0.10m), Offer("dear", 10, 0.40m, submittedMinute: 1), Offer("lump", 4, 0.30m, submittedMinute: 2, divisible: false),
    ];

    private static OfferPick Pick(string offerId, decimal? kwh = null) => new(offerId, kwh is { } k ? KilowattHours.From(k) : null);

    private static DomainException Refused(FlexRequest r, DateTimeOffset now, string dso = "dso1", params OfferPick[] picks) =>
        Assert.Throws<DomainException>(() => r.Decide(dso, picks.Length == 0 ? [Pick("dear")] : picks, Offers, now));

    [Fact]
    public void Decide_PartBelowTheRequestsMinimum_IsAPickProblem()
    {
        // The request takes offers of 3 kWh or more, and no smaller part of one: 2 kWh of "dear" is refused, 3 kWh is not.
        var r = FlexRequest.Post("req1", "dso1", Grid, new TimeWindow(T0.AddHours(4), T0.AddHours(5)), KilowattHours.From(10),
            Direction.ReduceConsumption, EurosPerKilowattHour.From(0.5m), GateClosure, PricingRule.PayAsBid, T0,
            minimumOfferEnergy: KilowattHours.From(3), selection: SelectionMode.Manual, decisionDeadline: Deadline);

        var problem = Assert.Single(r.Decide("dso1", [Pick("dear", 2)], Offers, GateClosure));
        Assert.Equal(("dear", OfferOutcomeKind.RejectedInvalidPick), (problem.OfferId, problem.Reason));
        Assert.Contains("minimum", problem.Message);
        Assert.Null(r.Decision);
        Assert.Empty(r.Decide("dso1", [Pick("dear", 3)], Offers, GateClosure));
    }

    [Fact]
    public void Decide_ValidPicksInPeriod_RecordedAndCleared()
    {
        var r = Manual();
        var now = GateClosure.AddMinutes(10);

        Assert.Empty(r.Decide("dso1", [Pick("dear", 6)], Offers, now));

        Assert.Equal(now, r.Decision!.DecidedAt);
        Assert.Equal("req1", r.Decision.RequestId);
        Assert.Equal([Pick("dear", 6)], r.Decision.Picks);
        Assert.Same(r.Decision, r.ToClearingRequest().Decision);
        r.Close(ClearingEngine.Clear([r.ToClearingRequest()], Offers).For("req1"), Deadline);
        var award = Assert.Single(r.Awards);
        Assert.Equal(("dear", KilowattHours.From(6), EurosPerKilowattHour.From(0.40m)), (award.OfferId, award.Energy, award.Price));
        Assert.Equal(OfferOutcomeKind.RejectedNotPicked, r.Outcomes.Single(o => o.OfferId == "cheap").Kind);
        Assert.Equal((SelectionMode.Manual, (string?)null), (r.AppliedSelection, r.SelectionNote));
    }

    [Fact]
    public void Decide_Again_ReplacesTheEarlierDecision()
    {
        var r = Manual();
        r.Decide("dso1", [Pick("cheap")], Offers, GateClosure);
        r.Decide("dso1", [Pick("lump"), Pick("dear", 6)], Offers, Deadline.AddTicks(-1));

        Assert.Equal(Deadline.AddTicks(-1), r.Decision!.DecidedAt);
        r.Close(ClearingEngine.Clear([r.ToClearingRequest()], Offers).For("req1"), Deadline);
        Assert.Equal(["lump", "dear"], r.Awards.Select(a => a.OfferId));
    }

    [Fact]
    public void Decide_InvalidPicks_ReturnsEveryProblemAndKeepsTheEarlierDecision()
    {
        var r = Manual(kwh: 10);
        r.Decide("dso1", [Pick("cheap")], Offers, GateClosure);
        var earlier = r.Decision;

        var problems = r.Decide("dso1", [Pick("lump", 2), Pick("ghost"), Pick("dear", 11)], Offers, GateClosure.AddMinutes(5));

        Assert.Equal(
            [("lump", OfferOutcomeKind.RejectedInvalidPick), ("dear", OfferOutcomeKind.RejectedInvalidPick), ("ghost", OfferOutcomeKind.RejectedNotEligible)],
            problems.Select(p => (p.OfferId, p.Reason)).OrderBy(p => p.OfferId == "ghost"));
        Assert.Contains("indivisible", problems.Single(p => p.OfferId == "lump").Message);
        Assert.Same(earlier, r.Decision);
    }

    [Fact]
    public void Decide_PicksBeyondTheRequestedEnergy_AreProblems()
    {
        var r = Manual(kwh: 10);
        var problems = r.Decide("dso1", [Pick("cheap"), Pick("dear")], Offers, GateClosure);
        Assert.Equal("dear", Assert.Single(problems).OfferId);
        Assert.Null(r.Decision);
    }

    [Fact]
    public void Decide_ByAnotherDso_Throws()
    {
        Assert.Equal("own-request", Refused(Manual(), GateClosure, dso: "dso2").Rule);
    }

    [Fact]
    public void Decide_AutomaticRequest_Throws()
    {
        var e = Assert.Throws<DomainException>(() => Request().Decide("dso1", [Pick("dear")], Offers, GateClosure));
        Assert.Equal(("selection", "manual-only"), (e.Field, e.Rule));
    }

    [Fact]
    public void Decide_OutsideTheDecisionPeriod_Throws()
    {
        var r = Manual();
        var early = Refused(r, GateClosure.AddTicks(-1));
        var late = Refused(r, Deadline);
        Assert.Equal(("gateClosure", "decision-deadline"), (early.Field, early.Rule));
        Assert.Equal(("decisionDeadline", "decision-deadline"), (late.Field, late.Rule));
        Assert.Null(r.Decision);
    }

    [Fact]
    public void Decide_CancelledOrClearedRequest_Throws()
    {
        var cancelled = Manual();
        cancelled.Cancel("dso1", T0);
        Assert.Equal("illegal-transition", Refused(cancelled, GateClosure).Rule);

        var cleared = Manual();
        cleared.Close(ClearingEngine.Clear([cleared.ToClearingRequest()], Offers).For("req1"), Deadline);
        Assert.Equal("illegal-transition", Refused(cleared, GateClosure.AddMinutes(1)).Rule);
    }

    [Fact]
    public void Decide_NoPickOrAnOfferPickedTwice_Throws()
    {
        var r = Manual();
        var none = Assert.Throws<DomainException>(() => r.Decide("dso1", [], Offers, GateClosure));
        Assert.Equal(("picks", "required"), (none.Field, none.Rule));
        var twice = Refused(r, GateClosure, "dso1", Pick("cheap", 1), Pick("cheap", 1));
        Assert.Equal(("picks", "unique"), (twice.Field, twice.Rule));
    }

    [Fact]
    public void WithdrawDecision_InPeriod_ClearsAutomatically_AndSaysWhetherThereWasOne()
    {
        var r = Manual();
        r.Decide("dso1", [Pick("dear")], Offers, GateClosure);

        Assert.True(r.WithdrawDecision("dso1", Deadline.AddTicks(-1)));
        Assert.False(r.WithdrawDecision("dso1", Deadline.AddTicks(-1)));
        Assert.Null(r.ToClearingRequest().Decision);
        r.Close(ClearingEngine.Clear([r.ToClearingRequest()], Offers).For("req1"), Deadline);
        Assert.Equal("cheap", Assert.Single(r.Awards).OfferId);
        Assert.Equal(SelectionMode.Automatic, r.AppliedSelection);
    }

    [Fact]
    public void WithdrawDecision_WhereNoDecisionMayBeRecorded_ThrowsAndKeepsIt()
    {
        var r = Manual();
        r.Decide("dso1", [Pick("dear")], Offers, GateClosure);
        var decision = r.Decision;
        DomainException Refused(FlexRequest request, string dso, DateTimeOffset now) =>
            Assert.Throws<DomainException>(() => request.WithdrawDecision(dso, now));

        Assert.Equal("own-request", Refused(r, "dso2", GateClosure).Rule);
        var early = Refused(r, "dso1", GateClosure.AddTicks(-1));
        var late = Refused(r, "dso1", Deadline);
        Assert.Equal(("gateClosure", "decision-deadline"), (early.Field, early.Rule));
        Assert.Equal(("decisionDeadline", "decision-deadline"), (late.Field, late.Rule));
        Assert.Equal("manual-only", Refused(Request(), "dso1", GateClosure).Rule);
        var cancelled = Manual();
        cancelled.Cancel("dso1", T0);
        Assert.Equal("illegal-transition", Refused(cancelled, "dso1", GateClosure).Rule);
        Assert.Same(decision, r.Decision);
    }

    [Fact]
    public void FixDecision_AtTheDeadline_KeepsTheDecision_AndRefusesLaterChangesWhateverTheClock()
    {
        var r = Manual();
        r.Decide("dso1", [Pick("dear")], Offers, GateClosure);
        var early = Assert.Throws<DomainException>(() => r.FixDecision(Deadline.AddTicks(-1)));
        Assert.Equal(("decisionDeadline", "gate-open"), (early.Field, early.Rule));
        Assert.Null(r.DecisionFixedAt);

        r.FixDecision(Deadline);
        r.FixDecision(Deadline.AddSeconds(5)); // a retried step keeps the first time

        Assert.Equal(Deadline, r.DecisionFixedAt);
        Assert.Equal("decision-deadline", Refused(r, Deadline.AddTicks(-1), picks: Pick("cheap")).Rule); // a lagging clock
        Assert.Equal("decision-deadline", Assert.Throws<DomainException>(() => r.WithdrawDecision("dso1", Deadline.AddTicks(-1))).Rule);
        r.Close(ClearingEngine.Clear([r.ToClearingRequest()], Offers).For("req1"), Deadline);
        Assert.Equal("dear", Assert.Single(r.Awards).OfferId);
        Assert.Equal("manual-only", Assert.Throws<DomainException>(() => Request().FixDecision(Deadline)).Rule);
        Assert.Equal("illegal-transition", Assert.Throws<DomainException>(() => r.FixDecision(Deadline)).Rule);
    }

    [Fact]
    public void Close_ManualRequestWithoutDecision_ClearsAutomatically()
    {
        var r = Manual();
        Assert.Null(r.ToClearingRequest().Decision);
        r.Close(ClearingEngine.Clear([r.ToClearingRequest()], Offers).For("req1"), Deadline);

        Assert.Equal("cheap", Assert.Single(r.Awards).OfferId);
        Assert.Equal((SelectionMode.Automatic, "No decision before the deadline; automatic clearing applied."), (r.AppliedSelection, r.SelectionNote));
    }

    [Fact]
    public void Close_ManualRequestBeforeItsDecisionDeadline_Throws()
    {
        var r = Manual();
        var result = ClearingEngine.Clear([r.ToClearingRequest()], Offers).For("req1");
        var e = Assert.Throws<DomainException>(() => r.Close(result, Deadline.AddTicks(-1)));
        Assert.Equal("gate-open", e.Rule);
        Assert.Equal(RequestState.Open, r.State);
    }

    [Fact]
    public void Close_AutomaticRequest_RecordsAutomaticSelection()
    {
        var r = Request();
        Assert.Null(r.AppliedSelection);
        r.Close(ClearingEngine.Clear([r.ToClearingRequest()], Offers).For("req1"), GateClosure);
        Assert.Equal((SelectionMode.Automatic, (string?)null), (r.AppliedSelection, r.SelectionNote));
    }
}
