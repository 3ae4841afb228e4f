using FlexChain.Domain;
using static FlexChain.Domain.Tests.Build;

namespace FlexChain.Domain.Tests;

/// <summary>
/// One station booked by several awards (DOMAIN.md sections 4 and 5): its delivery in each market interval is shared among
/// them in proportion to the kW each booked there, so one reduction is paid once. Numbers worked by hand in the comments.
/// </summary>
public class SharedDeliveryTests
{
    private static readonly TimeWindow Window = new(T0.AddHours(4), T0.AddHours(5));
    private static readonly EurosPerKilowattHour Price = EurosPerKilowattHour.From(0.2m);

    /// <summary>Pays the verified energy from half the share of each interval, so a half share is paid, not failed.</summary>
    private static readonly VerificationRules HalfThreshold = VerificationRules.Default with { SuccessThreshold = 0.5m };

    private static readonly Dictionary<string, Kilowatts> Power11 = new() { ["st-x"] = Kilowatts.From(11), ["st-y"] = Kilowatts.From(11) };

    private static IEnumerable<MeterReading> Run(string station, DateTimeOffset from, int count, decimal kwhEach) =>
        Enumerable.Range(0, count).Select(i => new MeterReading(station,
            new TimeWindow(from.AddMinutes(15 * i), from.AddMinutes(15 * (i + 1))), KilowattHours.From(kwhEach)));

    /// <summary>11 kW over the hour before the window (2.75 kWh a quarter), then <paramref name="kwhPerQuarter"/> a quarter in it.</summary>
    private static IEnumerable<MeterReading> From11Kw(string station, decimal kwhPerQuarter) =>
        Run(station, Window.Start.AddHours(-1), 4, 2.75m).Concat(Run(station, Window.Start, 4, kwhPerQuarter));

    private static Award Award(string id, decimal kwh, params string[] stations) =>
        new(id, id.Split('/')[1], "cpo1", stations, KilowattHours.From(kwh), Price);

    private static StationBooking Booking(string station, string awardId, params decimal[] kw) =>
        new(station, Window, awardId) { Power = kw.Length == 0 ? null : kw.Select(k => Kilowatts.From(k)).ToList() };

    private static Verification Verify(Award award, IEnumerable<MeterReading> readings, IReadOnlyCollection<StationBooking>? bookings,
        VerificationRules? rules = null, bool powerKnown = true) =>
        DeliveryVerifier.Verify(award, Window, Direction.ReduceConsumption, rules ?? HalfThreshold,
            new DeliveryEvidence(readings.ToList(), maxPower: powerKnown ? Power11 : null, bookings: bookings), MarketInterval.Default);

    [Fact]
    public void Verify_TwoRequestsOf5KwClearedOnAn11KwStation_ReducingOnly5KwPaysEachAwardHalf()
    {
        // Clearing puts both 5 kW awards on the 11 kW station (two requests, as two DSOs or gate cycles would).
        var caps = new Dictionary<string, StationCapacity> { ["st-x"] = new(Kilowatts.From(11), TimeSpan.Zero) };
        var a = Cycle.Request("rA", kwh: 5) with { Stations = caps };
        var b = Cycle.Request("rB", kwh: 5) with { Stations = caps, GateClosure = T0.AddHours(1.5) };
        var cycle = ClearingEngine.Clear([a, b], [Cycle.Offer("oA", "rA", 5, 0.2m, 0, true, "st-x"), Cycle.Offer("oB", "rB", 5, 0.2m, 0, true, "st-x")]);
        var bookings = cycle.Results.SelectMany(r => StationBooking.For(r, Window)).ToList();
        var awards = cycle.Results.SelectMany(r => r.Awards).ToList();
        Assert.Equal(2, awards.Count);
        // 11 kW before, 6 kW in the window: 5 kWh reduced once, 2.5 kWh each, paid 2.5 x 0.2 = 0.5 EUR each.
        var verified = awards.Select(x => Verify(x, From11Kw("st-x", 1.5m), bookings)).ToList();

        Assert.All(verified, v => Assert.Equal(KilowattHours.From(2.5m), v.Delivered));
        Assert.All(verified, v => Assert.Equal(new Euros(0.5m), v.Payout));
        Assert.All(verified, v => Assert.All(v.Intervals!, i => Assert.Equal(0.5m, i.Share)));
        Assert.All(verified, v => Assert.Equal((KilowattHours.From(11), KilowattHours.From(6)), (v.Baseline, v.Measured))); // the meter's own figures
        Assert.Contains("station st-x also booked by 1 other award (rB/oB)", verified[0].SharingNote);
        Assert.Contains("1 other award (rA/oA)", verified[1].SharingNote);
    }

    [Fact]
    public void Verify_SharedAndBelowTheThreshold_FailureReasonSaysItWasShared()
    {
        var bookings = new[] { Booking("st-x", "rA/oA", 5, 5, 5, 5), Booking("st-x", "rB/oB", 5, 5, 5, 5) };
        // 2.5 of 5 kWh is 50 %: below the default 80 %, nothing paid, and the reason names the sharing.
        var v = Verify(Award("rA/oA", 5, "st-x"), From11Kw("st-x", 1.5m), bookings, VerificationRules.Default);

        Assert.Equal(Euros.Zero, v.Payout);
        Assert.Matches(@"delivered 2\.50* kWh of the awarded 5(\.0+)? kWh in all", v.FailureReason);
        Assert.Contains("delivery shared: station st-x also booked by 1 other award (rB/oB)", v.FailureReason);
    }

    [Fact]
    public void Verify_UnequalBookings_EachAwardGetsItsKwShare()
    {
        // A holds 6 kW, B 3 kW; the station goes from 11 to 5 kW: 6 kWh delivered, 6/9 to A (4 kWh), 3/9 to B (2 kWh).
        var bookings = new[] { Booking("st-x", "rA/oA", 6, 6, 6, 6), Booking("st-x", "rB/oB", 3, 3, 3, 3) };

        var a = Verify(Award("rA/oA", 6, "st-x"), From11Kw("st-x", 1.25m), bookings);
        var b = Verify(Award("rB/oB", 3, "st-x"), From11Kw("st-x", 1.25m), bookings);

        Assert.Equal((KilowattHours.From(4), KilowattHours.From(2)), (a.Delivered, b.Delivered));
        Assert.Equal((new Euros(0.8m), new Euros(0.4m)), (a.Payout, b.Payout)); // 4 x 0.2 and 2 x 0.2, exact despite thirds
        Assert.True(a.Succeeded && b.Succeeded); // 1 of 1.5 and 0.5 of 0.75 kWh a quarter: two thirds each, above half
    }

    [Fact]
    public void Verify_SharesFollowTheKwOfEachInterval()
    {
        // B holds the station only in the second half of the window: A has it alone in the first two quarters.
        var bookings = new[] { Booking("st-x", "rA/oA", 5, 5, 5, 5), Booking("st-x", "rB/oB", 0, 0, 5, 5) };

        var a = Verify(Award("rA/oA", 5, "st-x"), From11Kw("st-x", 1.5m), bookings);

        Assert.Equal([1m, 1m, 0.5m, 0.5m], a.Intervals!.Select(i => i.Share));
        Assert.Equal(KilowattHours.From(3.75m), a.Delivered); // 1.25 + 1.25 + 0.625 + 0.625
    }

    [Fact]
    public void Verify_OtherBookingInShorterMarketIntervals_WeighsTheEnergyEachHoldsInTheQuarter()
    {
        // B was cleared in 5-minute intervals and holds 6 kW only for 12:00-12:05 of the first quarter: A holds
        // 5 kW x 15 min, B 6 kW x 5 min, so A gets 75/105 = 5/7 of the first quarter's 1.25 kWh.
        var b = new StationBooking("st-x", Window, "rB/oB") { Power = [Kilowatts.From(6), .. Enumerable.Repeat(Kilowatts.From(0), 11)], Interval = MarketInterval.From(5) };
        var bookings = new[] { Booking("st-x", "rA/oA", 5, 5, 5, 5), b };

        var a = Verify(Award("rA/oA", 5, "st-x"), From11Kw("st-x", 1.5m), bookings);

        Assert.Equal(5m / 7m, a.Intervals![0].Share);
        Assert.All(a.Intervals.Skip(1), i => Assert.Equal(1m, i.Share));
        Assert.Equal(KilowattHours.From(4.642m), a.Delivered); // 1.25 x 5/7 = 0.89285.. + 3.75 = 4.64285..: down to the Wh
    }

    [Fact]
    public void Verify_PooledAwardOverTwoStationsOneShared_GetsTheWholeOfOneAndItsShareOfTheOther()
    {
        // P pools st-y (5 kW throughout) and st-x (0 kW in the first quarter, then 5); Q holds st-x at 5 kW throughout.
        // Both stations reduce by 5 kW (1.25 kWh a quarter). P: st-y 5 kWh; st-x 0 + 3 x 0.625 = 1.875. Q: 1.25 + 1.875 = 3.125.
        var bookings = new[] { Booking("st-y", "rP/oP", 5, 5, 5, 5), Booking("st-x", "rP/oP", 0, 5, 5, 5), Booking("st-x", "rQ/oQ", 5, 5, 5, 5) };
        var readings = From11Kw("st-x", 1.5m).Concat(From11Kw("st-y", 1.5m)).ToList();

        var p = Verify(Award("rP/oP", 8.75m, "st-y", "st-x"), readings, bookings);
        var q = Verify(Award("rQ/oQ", 5, "st-x"), readings, bookings);

        Assert.Equal(KilowattHours.From(6.875m), p.Delivered);
        Assert.Equal(KilowattHours.From(3.125m), q.Delivered);
        Assert.Equal([0m, 0.5m, 0.5m, 0.5m], p.Intervals!.Where(i => i.StationId == "st-x").Select(i => i.Share));
        Assert.All(p.Intervals!.Where(i => i.StationId == "st-y"), i => Assert.Equal(1m, i.Share));
        Assert.Contains("station st-x also booked by 1 other award (rQ/oQ)", p.SharingNote);
    }

    [Fact]
    public void Verify_StationBookedWholeByTheAwardAlone_IsUnchanged()
    {
        var award = Award("rA/oA", 5, "st-x");
        var alone = Verify(award, From11Kw("st-x", 1.5m), null);

        var whole = Verify(award, From11Kw("st-x", 1.5m), [Booking("st-x", "rA/oA")], powerKnown: false);

        Assert.Equal((alone.Delivered, alone.Payout, alone.Succeeded), (whole.Delivered, whole.Payout, whole.Succeeded));
        Assert.Equal(KilowattHours.From(5), whole.Delivered);
        Assert.Null(whole.SharingNote);
    }

    [Fact]
    public void Verify_WholeBookingBesideAnother_WeighsTheStationsRegisteredPower()
    {
        // A took the 11 kW station whole, B holds 5 kW (stored data clearing would no longer make): A gets 11/16 of 5 kWh.
        var bookings = new[] { Booking("st-x", "rA/oA"), Booking("st-x", "rB/oB", 5, 5, 5, 5) };

        var a = Verify(Award("rA/oA", 5, "st-x"), From11Kw("st-x", 1.5m), bookings);

        Assert.All(a.Intervals!, i => Assert.Equal(11m / 16m, i.Share));
        Assert.Equal(KilowattHours.From(3.437m), a.Delivered); // 3.4375 rounded down to the Wh
    }

    [Fact]
    public void Verify_WholeBookingBesideAnotherAndPowerUnknown_FailsWithAReason()
    {
        var bookings = new[] { Booking("st-x", "rA/oA"), Booking("st-x", "rB/oB", 5, 5, 5, 5) };

        var b = Verify(Award("rB/oB", 5, "st-x"), From11Kw("st-x", 1.5m), bookings, powerKnown: false);

        Assert.False(b.Succeeded);
        Assert.Equal(Euros.Zero, b.Payout);
        Assert.Contains("booked whole by award rA/oA, but its registered power is unknown", b.FailureReason);
    }

    [Fact]
    public void Verify_SingleAward_OtherBookingsElsewhereOrLaterChangeNothing()
    {
        var award = Award("rA/oA", 5, "st-x");
        var later = new StationBooking("st-x", new TimeWindow(Window.End, Window.End.AddHours(1)), "rC/oC") { Power = [Kilowatts.From(5), Kilowatts.From(5), Kilowatts.From(5), Kilowatts.From(5)] };
        var bookings = new[] { Booking("st-x", "rA/oA", 5, 5, 5, 5), Booking("st-y", "rB/oB", 5, 5, 5, 5), later };
        var alone = Verify(award, From11Kw("st-x", 1.5m), null, VerificationRules.Default);

        var v = Verify(award, From11Kw("st-x", 1.5m), bookings, VerificationRules.Default);

        Assert.Equal((KilowattHours.From(5), new Euros(1m), true), (v.Delivered, v.Payout, v.Succeeded));
        Assert.Equal((alone.Delivered, alone.Payout, alone.Score), (v.Delivered, v.Payout, v.Score));
        Assert.All(v.Intervals!, i => Assert.Equal(1m, i.Share));
        Assert.Null(v.SharingNote);
    }

    [Fact]
    public void Verify_AnotherAwardOfTheOtherDirection_CountsInTheShareToo()
    {
        // Bookings carry no direction: an increase award holding 5 kW of the station shares what it delivered in this
        // window with this reduction, so the station's one change is never paid to both.
        var bookings = new[] { Booking("st-x", "rA/oA", 5, 5, 5, 5), Booking("st-x", "rUp/oUp", 5, 5, 5, 5) };

        var a = Verify(Award("rA/oA", 5, "st-x"), From11Kw("st-x", 1.5m), bookings);

        Assert.Equal(KilowattHours.From(2.5m), a.Delivered);
    }
}
