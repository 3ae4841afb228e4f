using FlexChain.Domain;
using static FlexChain.Domain.Tests.Build;
using static FlexChain.Domain.Tests.Cycle;

namespace FlexChain.Domain.Tests;

/// <summary>Reduce and increase are never mixed in clearing, and a station's capacity is one whichever way it is booked.</summary>
public class DirectionTests
{
    private static ClearingRequest Increase(string id, decimal kwh = 5, double start = 4, double hours = 1) =>
        Request(id, kwh, start: start, hours: hours) with { Direction = Direction.IncreaseConsumption };

    private static Offer Up(Offer o) => o with { Direction = Direction.IncreaseConsumption };

    [Fact]
    public void Clear_OfferOfOtherDirection_RejectedWrongDirectionAndNeedLeftToTheRightOnes()
    {
        // The cheapest offer reduces; the request increases: it is skipped, and the dearer increase fills the request.
        var result = ClearAlone(Increase("r1", kwh: 5), [Offer("down", "r1", 5, 0.1m), Up(Offer("up", "r1", 5, 0.2m))]);

        var wrong = result.Outcome("down");
        Assert.Equal(OfferOutcomeKind.RejectedWrongDirection, wrong.Kind);
        Assert.Equal(KilowattHours.Zero, wrong.AcceptedEnergy);
        Assert.Contains("other way", wrong.Detail);
        Assert.Equal("up", Assert.Single(result.Awards).OfferId);
    }

    [Fact]
    public void Clear_IncreaseOfferOnReductionRequest_RejectedWrongDirection()
    {
        var result = ClearAlone(Request("r1", kwh: 5), [Up(Offer("up", "r1", 5, 0.1m)), Offer("down", "r1", 5, 0.2m)]);

        Assert.Equal(OfferOutcomeKind.RejectedWrongDirection, result.Outcome("up").Kind);
        Assert.Equal("down", Assert.Single(result.Awards).OfferId);
    }

    [Fact]
    public void Clear_DefaultsOnBothSides_AreReductionsAndMatch()
    {
        Assert.Equal(Direction.ReduceConsumption, Request("r1").Direction);
        Assert.Equal(OfferOutcomeKind.Accepted, ClearAlone(Request("r1", kwh: 5), [Offer("a", "r1", 5, 0.1m)]).Outcome("a").Kind);
    }

    [Fact]
    public void Clear_LateOfferOfOtherDirection_StaysLate()
    {
        // Lateness is checked first, as before directions: the outcome does not depend on what else is wrong.
        var result = ClearAlone(Increase("r1"), [Offer("late", "r1", 5, 0.1m, minute: 60)]);
        Assert.Equal(OfferOutcomeKind.RejectedLate, result.Outcome("late").Kind);
    }

    [Fact]
    public void Clear_SameStationReduceThenIncreaseInOneCycle_SecondIsCapacityConflict()
    {
        // r1 (reduce, gate 1 h) clears before r2 (increase, gate 2 h); both want st-x in overlapping windows.
        var reduce = Request("r1", kwh: 5);
        var increase = Increase("r2", kwh: 5, start: 4.5) with { GateClosure = T0.AddHours(2) };
        var result = ClearingEngine.Clear([reduce, increase],
            [Offer("a", "r1", 5, 0.1m, 0, true, "st-x"), Up(Offer("b", "r2", 5, 0.1m, 0, true, "st-x"))]);

        Assert.Equal("a", Assert.Single(result.Results[0].Awards).OfferId);
        Assert.Equal(OfferOutcomeKind.RejectedCapacityConflict, result.Results[1].Outcome("b").Kind);
    }

    [Fact]
    public void Clear_StationBookedForReductionByEarlierCycle_IncreaseOverlappingIsCapacityConflict()
    {
        var earlier = ClearAlone(Request("r1", kwh: 5), [Offer("a", "r1", 5, 0.1m, 0, true, "st-x")]);
        var bookings = StationBooking.For(earlier, new TimeWindow(T0.AddHours(4), T0.AddHours(5))).ToList();

        var later = ClearingEngine.Clear([Increase("r2", kwh: 5, start: 4.75)], [Up(Offer("b", "r2", 5, 0.1m, 0, true, "st-x"))], bookings).Results[0];
        Assert.Equal(OfferOutcomeKind.RejectedCapacityConflict, later.Outcome("b").Kind);

        // After the window the station may increase.
        var after = ClearingEngine.Clear([Increase("r3", kwh: 5, start: 5)], [Up(Offer("c", "r3", 5, 0.1m, 0, true, "st-x"))], bookings).Results[0];
        Assert.Equal(OfferOutcomeKind.Accepted, after.Outcome("c").Kind);
    }

    [Fact]
    public void ValidateDecision_PickOfOtherDirection_IsAProblemNamingTheOutcome()
    {
        var request = Increase("r1") with
        {
            DecisionDeadline = T0.AddHours(2),
            Decision = Picks("r1", 1.5, Pick("down")),
        };
        var problem = Assert.Single(ClearingEngine.ValidateDecision(request, [Offer("down", "r1", 5, 0.1m)]));

        Assert.Equal(OfferOutcomeKind.RejectedWrongDirection, problem.Reason);
        Assert.Contains("other way", problem.Message);
    }

    [Fact]
    public void Fill_CountsWrongDirectionRejections()
    {
        var r = Request(kwh: 2, direction: Direction.IncreaseConsumption);
        r.Close(ClearingEngine.Clear([r.ToClearingRequest()], [Up(Build.Offer("a", 2, 0.1m)), Build.Offer("b", 2, 0.1m)]).Results[0], r.GateClosure);

        Assert.Contains(new RejectionCount(OfferOutcomeKind.RejectedWrongDirection, 1), r.Fill()!.Rejections);
    }
}
