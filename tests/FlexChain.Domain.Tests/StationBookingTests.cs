using FlexChain.Domain;
using static FlexChain.Domain.Tests.Build;
using static FlexChain.Domain.Tests.Cycle;

namespace FlexChain.Domain.Tests;

/// <summary>Bookings from earlier clearings (any gate cycle) as an input of the clearing engine.</summary>
public class StationBookingTests
{
    private static StationBooking Booked(string station, double startHour, double hours, string award = "req0/off0") =>
        new(station, new TimeWindow(T0.AddHours(startHour), T0.AddHours(startHour + hours)), award);

    private static ClearingResult Clear(ClearingRequest request, IEnumerable<Offer> offers, params StationBooking[] taken) =>
        ClearingEngine.Clear([request], offers.Select(o => o with { RequestId = request.Id }).ToList(), taken).Results[0];

    [Fact]
    public void Clear_StationBookedForOverlappingWindow_CapacityConflictNamingTheAward()
    {
        // The request's window is [4 h, 5 h); the earlier award holds st-a for [4.5 h, 5.5 h).
        var result = Clear(Request("r1", kwh: 5), [Offer("a", "r1", 5, 0.1m)], Booked("st-a", 4.5, 1, "req9/off9"));

        var outcome = result.Outcome("a");
        Assert.Equal(OfferOutcomeKind.RejectedCapacityConflict, outcome.Kind);
        Assert.Contains("award req9/off9", outcome.Detail);
        Assert.Contains("st-a", outcome.Detail);
        Assert.Empty(result.Awards);
    }

    [Fact]
    public void Clear_BookedStation_NextOfferInMeritOrderWins()
    {
        var result = Clear(Request("r1", kwh: 5), [Offer("cheap", "r1", 5, 0.1m), Offer("dear", "r1", 5, 0.2m)], Booked("st-cheap", 3, 2));

        Assert.Equal(OfferOutcomeKind.RejectedCapacityConflict, result.Outcome("cheap").Kind);
        Assert.Equal("dear", Assert.Single(result.Awards).OfferId);
    }

    [Theory]
    [InlineData(3, 1)]    // ends exactly when the request's window starts: [3 h, 4 h) and [4 h, 5 h)
    [InlineData(5, 1)]    // starts exactly when the request's window ends
    [InlineData(4, 1, 0)] // the same window, but another station
    public void Clear_BookingTouchingOrOnOtherStation_DoesNotBlock(double startHour, double hours, int sameStation = 1)
    {
        var result = Clear(Request("r1", kwh: 5), [Offer("a", "r1", 5, 0.1m)], Booked(sameStation == 1 ? "st-a" : "st-b", startHour, hours));

        Assert.Equal(OfferOutcomeKind.Accepted, result.Outcome("a").Kind);
    }

    [Fact]
    public void Clear_QuarterHoursTouching_DoNotOverlap()
    {
        var request = new ClearingRequest("r1", new TimeWindow(T0.AddMinutes(135), T0.AddMinutes(150)), KilowattHours.From(5),
            EurosPerKilowattHour.From(0.5m), T0.AddHours(1), PricingRule.PayAsBid);
        var before = new StationBooking("st-a", new TimeWindow(T0.AddMinutes(120), T0.AddMinutes(135)), "x/1");
        var after = new StationBooking("st-a", new TimeWindow(T0.AddMinutes(150), T0.AddMinutes(165)), "x/2");
        var oneMinuteIn = new StationBooking("st-a", new TimeWindow(T0.AddMinutes(149), T0.AddMinutes(165)), "x/3");

        Assert.Equal(OfferOutcomeKind.Accepted, Clear(request, [Offer("a", "r1", 5, 0.1m)], before, after).Outcome("a").Kind);
        Assert.Equal(OfferOutcomeKind.RejectedCapacityConflict, Clear(request, [Offer("a", "r1", 5, 0.1m)], before, oneMinuteIn).Outcome("a").Kind);
    }

    [Fact]
    public void Clear_OneOfSeveralStationsBooked_WholeOfferRejected()
    {
        var result = Clear(Request("r1", kwh: 5), [Offer("a", "r1", 5, 0.1m, 0, true, "st-1", "st-2")], Booked("st-2", 4.75, 0.25));

        Assert.Equal(OfferOutcomeKind.RejectedCapacityConflict, result.Outcome("a").Kind);
        Assert.Contains("st-2", result.Outcome("a").Detail);
    }

    [Fact]
    public void Clear_ReleasedBookingLeftOut_StationFreeAgain()
    {
        var offers = new[] { Offer("a", "r1", 5, 0.1m) };
        var booking = Booked("st-a", 4, 1);

        Assert.Empty(Clear(Request("r1", kwh: 5), offers, booking).Awards);
        Assert.Equal("a", Assert.Single(Clear(Request("r1", kwh: 5), offers).Awards).OfferId);
    }

    [Fact]
    public void Clear_LateOrOverCapOfferOnBookedStation_KeepsItsOwnReason()
    {
        var result = Clear(Request("r1", kwh: 5, cap: 0.2m), [Offer("late", "r1", 5, 0.1m, minute: 61), Offer("dear", "r1", 5, 0.3m)],
            Booked("st-late", 4, 1), Booked("st-dear", 4, 1));

        Assert.Equal(OfferOutcomeKind.RejectedLate, result.Outcome("late").Kind);
        Assert.Equal(OfferOutcomeKind.RejectedOverPriceCap, result.Outcome("dear").Kind);
    }

    [Fact]
    public void Clear_ManualPickOfBookedStation_CapacityConflict()
    {
        var request = Request("r1", kwh: 5) with { DecisionDeadline = T0.AddHours(2), Decision = Picks("r1", 1.5, Pick("a")) };

        var result = Clear(request, [Offer("a", "r1", 5, 0.1m), Offer("b", "r1", 5, 0.2m)], Booked("st-a", 4, 1));

        Assert.Equal(SelectionMode.Manual, result.Selection);
        Assert.Equal(OfferOutcomeKind.RejectedCapacityConflict, result.Outcome("a").Kind);
        Assert.Empty(result.Awards);
    }

    [Fact]
    public void For_EachAwardBooksEachOfItsStationsForTheWindow()
    {
        var request = Request("r1", kwh: 10);
        var result = Clear(request, [Offer("a", "r1", 5, 0.1m, 0, true, "st-1", "st-2"), Offer("b", "r1", 5, 0.2m)]);

        var bookings = StationBooking.For(result, request.Delivery).ToList();

        Assert.Equal(
            [new("st-1", request.Delivery, "r1/a"), new("st-2", request.Delivery, "r1/a"), new StationBooking("st-b", request.Delivery, "r1/b")],
            bookings);
    }
}
