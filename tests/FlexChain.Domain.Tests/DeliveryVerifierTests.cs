using FlexChain.Domain;

namespace FlexChain.Domain.Tests;

/// <summary>Every baseline method and payout rule, with numbers worked by hand in the comments.</summary>
public class DeliveryVerifierTests
{
    private static readonly DateTimeOffset W = new(2026, 6, 10, 12, 0, 0, TimeSpan.Zero);
    private static readonly TimeWindow Window = new(W, W.AddHours(1));
    private static readonly Award Award = new("req1/o1", "o1", "cpo1", ["st1"], KilowattHours.From(10), EurosPerKilowattHour.From(0.25m));

    private static IEnumerable<MeterReading> Run(DateTimeOffset from, int count, decimal kwhEach, int minutes = 15, string station = "st1") =>
        Enumerable.Range(0, count).Select(i => new MeterReading(station,
            new TimeWindow(from.AddMinutes(minutes * i), from.AddMinutes(minutes * (i + 1))), KilowattHours.From(kwhEach)));

    private static Verification Verify(IEnumerable<MeterReading> readings, VerificationRules? rules = null, Direction direction = Direction.ReduceConsumption,
        IEnumerable<MeterReading>? declared = null, IReadOnlyDictionary<string, IReadOnlyList<TimeWindow>>? activations = null) =>
        DeliveryVerifier.Verify(Award, Window, direction, rules ?? VerificationRules.Default,
            new DeliveryEvidence(readings.ToList(), declared?.ToList(), activations), MarketInterval.Default);

    /// <summary>Baseline 5 kWh per quarter hour (20 kWh); in the window <paramref name="kwhPerQuarter"/> per quarter.</summary>
    private static List<MeterReading> Mbma(decimal kwhPerQuarter) => Run(W.AddHours(-1), 4, 5m).Concat(Run(W, 4, kwhPerQuarter)).ToList();

    [Theory]
    // delivered 9 of 10 kWh (90 %): verified energy pays 9 x 0.25; full pays 2.5; score 1 (discrepancy 1 = tolerance 10 %).
    [InlineData(2.75, PayoutRule.ZeroBelowThreshold, 9, true, 2.25, 1)]
    [InlineData(2.75, PayoutRule.Full, 9, true, 2.5, 1)]
    [InlineData(2.75, PayoutRule.ProRataByScore, 9, true, 2.5, 1)]
    // delivered 5 of 10 (50 %): below 80 %, nothing, except by score 1 - 5/10 = 0.5 -> 1.25.
    [InlineData(3.75, PayoutRule.ZeroBelowThreshold, 5, false, 0, 0.5)]
    [InlineData(3.75, PayoutRule.Full, 5, false, 0, 0.5)]
    [InlineData(3.75, PayoutRule.ProRataByScore, 5, false, 1.25, 0.5)]
    // delivered 20 (200 %): verified energy capped at the award; by score the deviation counts too (MAESHA): 1 - 10/10 = 0.
    [InlineData(0, PayoutRule.ZeroBelowThreshold, 20, true, 2.5, 0)]
    [InlineData(0, PayoutRule.ProRataByScore, 20, true, 0, 0)]
    // delivered 0 and -4 (consumption went up): nothing under any rule.
    [InlineData(5, PayoutRule.ZeroBelowThreshold, 0, false, 0, 0)]
    [InlineData(6, PayoutRule.ProRataByScore, -4, false, 0, 0)]
    public void Verify_Mbma_PayoutFollowsRule(decimal windowKwh, PayoutRule rule, decimal delivered, bool succeeded, decimal payout, decimal score)
    {
        var v = Verify(Mbma(windowKwh), VerificationRules.Default with { Payout = rule });
        Assert.Equal(KilowattHours.From(20), v.Baseline);
        Assert.Equal(KilowattHours.From(4 * windowKwh), v.Measured);
        Assert.Equal(KilowattHours.From(delivered), v.Delivered);
        Assert.Equal(succeeded, v.Succeeded);
        Assert.Equal(new Euros(payout), v.Payout);
        Assert.Equal(score, v.Score);
        Assert.Equal(4, v.Intervals!.Count);
        Assert.All(v.Intervals, i => Assert.Equal(KilowattHours.From(5), i.Baseline));
    }

    [Fact]
    public void Verify_ExactlyAtThreshold_Succeeds()
    {
        var v = Verify(Mbma(3m)); // delivered 8 = 80 % of 10
        Assert.True(v.Succeeded);
        Assert.Equal(new Euros(2m), v.Payout);
    }

    [Fact]
    public void Verify_IncreaseDirection_CountsExtraConsumption()
    {
        var v = Verify(Run(W.AddHours(-1), 4, 1m).Concat(Run(W, 4, 3.5m)), direction: Direction.IncreaseConsumption);
        Assert.Equal(KilowattHours.From(10), v.Delivered); // 4 x (3.5 - 1)
        Assert.Equal(new Euros(2.5m), v.Payout);
    }

    [Fact]
    public void Verify_IncreaseDirection_AReductionDeliversNothing()
    {
        // Consumption went down from 5 to 2.5 kWh per quarter: for an increase that is -10 kWh, and nothing is paid.
        var v = Verify(Mbma(2.5m), direction: Direction.IncreaseConsumption);
        Assert.Equal(KilowattHours.From(-10), v.Delivered);
        Assert.False(v.Succeeded);
        Assert.Equal(Euros.Zero, v.Payout);
    }

    [Fact]
    public void Verify_MixedResolutions_KeepsIntervalsExactAndRoundsTotalsOnce()
    {
        // Baseline 20 kWh/h. First half hour in 1-minute readings of 0.1 kWh, second half one 30-minute reading of 4 kWh.
        // 1-minute baseline 20/60 = 0.333.. kWh, kept exact (x 30 = 10); 30-minute baseline 10 kWh. Measured 3 + 4 = 7.
        // Delivered 20 - 7 = 13 kWh: over-delivery, paid up to the award. (Rounding each minute to 0.333 lost 10 Wh.)
        // The 30-minute reading is cut at the quarter hour (the market interval): 30 + 2 intervals.
        var readings = Run(W.AddHours(-1), 4, 5m).Concat(Run(W, 30, 0.1m, minutes: 1)).Concat(Run(W.AddMinutes(30), 1, 4m, minutes: 30));
        var v = Verify(readings);
        Assert.Equal(32, v.Intervals!.Count);
        Assert.Equal(20m / 60, v.Intervals[0].Baseline.Value);
        Assert.Equal(KilowattHours.From(20m), v.Baseline);
        Assert.Equal(KilowattHours.From(7m), v.Measured);
        Assert.Equal(KilowattHours.From(13m), v.Delivered);
        Assert.Equal(new Euros(2.5m), v.Payout);
    }

    [Fact]
    public void Verify_OneSecondReadings_RoundsOnceNotPerInterval()
    {
        // Baseline 20 kWh/h; in the window 3,600 one-second readings of 1 Wh (3.6 kWh). Each second's baseline share is
        // 0.00555.. kWh: rounded per second to 0.006 it summed to 21.6 kWh (8 % high) and delivered 18 kWh, not 16.4.
        var award = Award with { Energy = KilowattHours.From(20) };
        var readings = Run(W.AddHours(-1), 4, 5m).Concat(Enumerable.Range(0, 3600).Select(i =>
            new MeterReading("st1", new TimeWindow(W.AddSeconds(i), W.AddSeconds(i + 1)), KilowattHours.From(0.001m)))).ToList();
        var v = DeliveryVerifier.Verify(award, Window, Direction.ReduceConsumption, VerificationRules.Default, new DeliveryEvidence(readings), MarketInterval.Default);
        Assert.Equal(KilowattHours.From(20m), v.Baseline);
        Assert.Equal(KilowattHours.From(3.6m), v.Measured);
        Assert.Equal(KilowattHours.From(16.4m), v.Delivered);
        Assert.Equal(new Euros(4.1m), v.Payout); // 16.4 x 0.25, not 18 x 0.25
    }

    [Fact]
    public void Verify_DeliveredBetweenWattHours_IsRoundedDownOnce()
    {
        // Baseline 10 kWh/h; a 40-minute window with one 40-minute reading of 0 kWh. Delivered exactly 6.666.. kWh:
        // the DSO pays for 6.666, not the nearest 6.667. The reading is cut at the quarter hours: 15, 15 and 10 minutes.
        var window = new TimeWindow(W, W.AddMinutes(40));
        var readings = Run(W.AddHours(-1), 4, 2.5m).Concat(Run(W, 1, 0m, minutes: 40)).ToList();
        var v = DeliveryVerifier.Verify(Award, window, Direction.ReduceConsumption, VerificationRules.Default, new DeliveryEvidence(readings), MarketInterval.Default);
        Assert.Equal(KilowattHours.From(6.666m), v.Delivered);
        Assert.Equal(KilowattHours.From(6.667m), v.Baseline); // the record's baseline is the nearest Wh
        Assert.Equal([2.5m, 2.5m, 10m * 10 / 60], v.Intervals!.Select(i => i.Delivered.Value));
        // Awarded 7 kWh (every quarter meets its share): paid for the recorded 6.666 kWh, 1.6665 EUR, 1,666,500 EURC units
        // (the exact 6.666.. kWh paid 1,666,666, which no one could recompute from the record).
        var paid = DeliveryVerifier.Verify(Award with { Energy = KilowattHours.From(7) }, window, Direction.ReduceConsumption, VerificationRules.Default,
            new DeliveryEvidence(readings), MarketInterval.Default);
        Assert.Equal(KilowattHours.From(6.666m), paid.Delivered);
        Assert.Equal(paid.Delivered * Award.Price, paid.Payout);
        Assert.Equal(1_666_500, paid.Payout.ToTokenUnits(6));
    }

    [Fact]
    public void Verify_ProRataByScore_RoundsOnceNotPerInterval()
    {
        // 100 kWh awarded, 25 kWh baseline and 8.333 metered per quarter: each quarter delivers 16.667 of its 25, score
        // exactly 0.66668 (rounded per quarter to 0.6666 it paid 16.665 EUR). Paid 4 x 25 x 0.66668 = 66.668 kWh, 16.667 EUR.
        var award = Award with { Energy = KilowattHours.From(100) };
        var readings = Run(W.AddHours(-1), 4, 25m).Concat(Run(W, 4, 8.333m)).ToList();
        var rules = VerificationRules.Default with { Payout = PayoutRule.ProRataByScore, Tolerance = 0m };
        var v = DeliveryVerifier.Verify(award, Window, Direction.ReduceConsumption, rules, new DeliveryEvidence(readings), MarketInterval.Default);
        Assert.All(v.MarketIntervals!, m => Assert.Equal(0.66668m, m.Score));
        Assert.Equal(new Euros(16.667m), v.Payout);
        Assert.Equal(0.6666m, v.Score); // the award's score, for display, is rounded once (down)
        // A score that does not end: 12 kWh awarded (3 a quarter), 2 delivered a quarter, score 1 - 1/3 kept exact: paid
        // 4 x 3 x 0.666.. = 8 kWh, 2 EUR (at 0.6666 a quarter, 1.9998).
        var third = DeliveryVerifier.Verify(award with { Energy = KilowattHours.From(12) }, Window, Direction.ReduceConsumption, rules,
            new DeliveryEvidence(Mbma(3m)), MarketInterval.Default);
        Assert.Equal(1m - 1m / 3, third.MarketIntervals![0].Score);
        Assert.Equal(new Euros(2m), third.Payout);
    }

    [Fact]
    public void Verify_ReadingStraddlingTheWindow_IsSplitInProportion()
    {
        // A 30-minute reading of 6 kWh from 11:45 to 12:15: 3 kWh falls before the window, 3 kWh inside it.
        var readings = Run(W.AddMinutes(-105), 4, 5m, minutes: 15)     // 10:15 .. 11:15
            .Concat(Run(W.AddMinutes(-45), 2, 5m, minutes: 15))          // 11:15 .. 11:45
            .Append(new MeterReading("st1", new TimeWindow(W.AddMinutes(-15), W.AddMinutes(15)), KilowattHours.From(6m)))
            .Concat(Run(W.AddMinutes(15), 3, 2m, minutes: 15));
        var v = Verify(readings, VerificationRules.Default with { MbmaMinutes = 30 });
        // MBMA needs back-to-back readings that end exactly at the window start: the straddling reading does not.
        Assert.False(v.Succeeded);
        Assert.Contains("back-to-back", v.FailureReason);
        var declared = Run(W, 4, 5m);
        var d = Verify(readings, VerificationRules.Default with { Baseline = BaselineMethod.Declared }, declared: declared);
        Assert.Equal(KilowattHours.From(3m + 3 * 2m), d.Measured);
        Assert.Equal(KilowattHours.From(20m - 9m), d.Delivered);
    }

    [Fact]
    public void Verify_GapInWindow_FailsThatIntervalOnly()
    {
        // Baseline 5 kWh per quarter; 12:30-12:45 has no reading: it delivers 0, the other three 3 each: 9 kWh. The
        // quarter without data fails; the other three are paid their share, 3 x 2.5 x 0.25. (The whole verification
        // used to fail, so one lost reading cost the CPO the other three.)
        var gap = new TimeWindow(W.AddMinutes(30), W.AddMinutes(45));
        var v = Verify(Run(W.AddHours(-1), 4, 5m).Concat(Run(W, 2, 2m)).Concat(Run(W.AddMinutes(45), 1, 2m)));
        Assert.False(v.Succeeded);
        Assert.Equal(KilowattHours.From(9m), v.Delivered);
        Assert.Equal(new Euros(1.875m), v.Payout);
        Assert.Equal([true, true, false, true], v.MarketIntervals!.Select(m => m.Met));
        Assert.Contains($"missing meter data: station st1 has no readings for {gap}", v.FailureReason);
        Assert.Equal([false, false, true, false], v.Intervals!.Select(i => i.Missing));
        Assert.Equal(new IntervalDelivery("st1", gap, KilowattHours.Zero, KilowattHours.Zero, KilowattHours.Zero, Missing: true), v.Intervals![2]);
        // Below the threshold, the reason names the gap: 2 x (5 - 3.5) + (5 - 3.5) = 4.5 kWh.
        var short_ = Verify(Run(W.AddHours(-1), 4, 5m).Concat(Run(W, 2, 3.5m)).Concat(Run(W.AddMinutes(45), 1, 3.5m)));
        Assert.False(short_.Succeeded);
        Assert.Contains($"missing meter data: station st1 has no readings for {gap}", short_.FailureReason);
    }

    [Fact]
    public void Verify_CorrectedReading_LatestRevisionCountsAndIsFlagged()
    {
        // 12:00-12:15 was sent as 2.5 kWh, then corrected to 4 (revision 2): measured 4 + 3 x 2.5 = 11.5, delivered 8.5.
        var readings = Mbma(2.5m);
        readings.Add(new MeterReading("st1", new TimeWindow(W, W.AddMinutes(15)), KilowattHours.From(4m), Revision: 2));
        var v = Verify(readings);
        Assert.Equal(KilowattHours.From(11.5m), v.Measured);
        Assert.Equal(KilowattHours.From(8.5m), v.Delivered);
        Assert.Equal([true, false, false, false], v.Intervals!.Select(i => i.Revised));
    }

    [Fact]
    public void Verify_NoReadingsAtAll_FailsWithReasonNotZero()
    {
        var v = Verify([]);
        Assert.False(v.Succeeded);
        Assert.StartsWith("missing meter data", v.FailureReason);
    }

    [Fact]
    public void Verify_MbmaMissingOneBaselineReading_Fails()
    {
        var readings = Run(W.AddHours(-1), 3, 5m).Concat(Run(W, 4, 2m)); // only 3 of the 4 readings before the window... ending at 11:45
        var v = Verify(readings);
        Assert.False(v.Succeeded);
        Assert.Contains("back-to-back readings over the 60 minutes", v.FailureReason);
    }

    [Fact]
    public void Verify_MbmaWithOneMinuteReadings_AveragesTheWholeHourNotTheLastReadings()
    {
        // The hour before in 1-minute readings: 55 minutes at 6 kW (0.1 kWh each), then 5 minutes flat out at 30 kW
        // (0.5 kWh each) to inflate the baseline. Counting 4 readings gave 30 kWh/h; the hour gives 5.5 + 2.5 = 8 kWh.
        var readings = Run(W.AddHours(-1), 55, 0.1m, minutes: 1).Concat(Run(W.AddMinutes(-5), 5, 0.5m, minutes: 1)).Concat(Run(W, 4, 0m));
        var v = Verify(readings);
        Assert.Equal(KilowattHours.From(8m), v.Baseline);
        Assert.Equal(KilowattHours.From(8m), v.Delivered);
    }

    [Fact]
    public void Verify_MbmaPeriodIsARule_ReadingsBeyondItDoNotCount()
    {
        // 15 minutes at 12 kWh before 10 kWh/h for 45 minutes: a 45-minute period sees only the 10 kWh/h.
        var readings = Run(W.AddHours(-1), 1, 12m).Concat(Run(W.AddMinutes(-45), 3, 2.5m)).Concat(Run(W, 4, 0m));
        Assert.Equal(KilowattHours.From(10m), Verify(readings, VerificationRules.Default with { MbmaMinutes = 45 }).Baseline);
        Assert.Equal(KilowattHours.From(19.5m), Verify(readings).Baseline); // the default hour: 12 + 7.5
    }

    [Fact]
    public void Verify_BaselineAboveStationPower_IsCappedAtPowerTimesInterval()
    {
        // 40 kWh metered in the hour before a station registered at 22 kW: the baseline is 22 kWh (5.5 per quarter), not 40.
        var readings = Run(W.AddHours(-1), 4, 10m).Concat(Run(W, 4, 1m)).ToList();
        var v = DeliveryVerifier.Verify(Award, Window, Direction.ReduceConsumption, VerificationRules.Default,
            new DeliveryEvidence(readings, maxPower: new Dictionary<string, Kilowatts> { ["st1"] = Kilowatts.From(22m) }), MarketInterval.Default);
        Assert.Equal(KilowattHours.From(22m), v.Baseline);
        Assert.All(v.Intervals!, i => Assert.Equal(5.5m, i.Baseline.Value));
        Assert.Equal(KilowattHours.From(18m), v.Delivered);
    }

    [Fact]
    public void Verify_IncreaseAboveStationPower_CapsMeasuredLikeTheBaseline()
    {
        // A 10 kW station metering 11 kW (within a meter's margin) before and during the window added nothing: capping
        // only the baseline at 10 kWh paid it 1 kWh. Capped both, 10 - 10 = 0.
        var power = new Dictionary<string, Kilowatts> { ["st1"] = Kilowatts.From(10m) };
        Verification Increase(decimal before, decimal during) => DeliveryVerifier.Verify(Award, Window, Direction.IncreaseConsumption, VerificationRules.Default,
            new DeliveryEvidence(Run(W.AddHours(-1), 4, before).Concat(Run(W, 4, during)).ToList(), maxPower: power), MarketInterval.Default);
        var flat = Increase(2.75m, 2.75m);
        Assert.Equal(KilowattHours.From(10m), flat.Baseline);
        Assert.Equal(KilowattHours.From(10m), flat.Measured);
        Assert.Equal(KilowattHours.Zero, flat.Delivered);
        Assert.Equal(Euros.Zero, flat.Payout);
        // From 8 kW to 11 kW: only the 2 kW up to the station's power count, 2 kWh (uncapped 3 kWh).
        Assert.Equal(KilowattHours.From(2m), Increase(2m, 2.75m).Delivered);
    }

    [Fact]
    public void Verify_StationWithoutRegisteredPower_IsNotCapped()
    {
        // Only st2's power is known: st1's 20 kWh baseline stands (it was capped at 0 kW).
        var v = DeliveryVerifier.Verify(Award, Window, Direction.ReduceConsumption, VerificationRules.Default,
            new DeliveryEvidence(Mbma(2.5m), maxPower: new Dictionary<string, Kilowatts> { ["st2"] = Kilowatts.From(3m) }), MarketInterval.Default);
        Assert.Equal(KilowattHours.From(20m), v.Baseline);
        Assert.Equal(KilowattHours.From(10m), v.Delivered);
    }

    [Fact]
    public void Verify_DuplicateReadings_CountOnce()
    {
        var readings = Mbma(2.5m);
        readings.AddRange(Run(W, 4, 2.5m));
        var v = Verify(readings);
        Assert.Equal(KilowattHours.From(10), v.Measured);
    }

    [Fact]
    public void Verify_TwoStations_SumsBoth()
    {
        var award = Award with { StationIds = ["st1", "st2"] };
        var readings = Mbma(4m).Concat(Run(W.AddHours(-1), 4, 3m, station: "st2")).Concat(Run(W, 4, 1m, station: "st2")).ToList();
        var v = DeliveryVerifier.Verify(award, Window, Direction.ReduceConsumption, VerificationRules.Default, new DeliveryEvidence(readings), MarketInterval.Default);
        Assert.Equal(KilowattHours.From(4 + 8), v.Delivered); // st1: 20 - 16, st2: 12 - 4
        Assert.Equal(8, v.Intervals!.Count);
        var onlyOne = DeliveryVerifier.Verify(award, Window, Direction.ReduceConsumption, VerificationRules.Default, new DeliveryEvidence(Mbma(4m)), MarketInterval.Default);
        Assert.Contains("station st2", onlyOne.FailureReason);
    }

    /// <summary>
    /// How many days before the window (Wednesday 10 June 2026) the working days are: Tue 9, Mon 8, Fri 5, Thu 4, Wed 3,
    /// (Tue 2 June is Republic Day), Mon 1, Fri 29 May, Thu 28 May.
    /// </summary>
    private static readonly int[] WorkingDaysBack = [1, 2, 5, 6, 7, 9, 12, 13];

    /// <summary>Past working days at the same hours: the k-th working day back has <c>totals[k-1]</c> kWh in the window, spread over 4 quarters.</summary>
    private static IEnumerable<MeterReading> PastDays(params decimal[] totals) =>
        totals.SelectMany((t, i) => Run(W.AddDays(-WorkingDaysBack[i]), 4, t / 4));

    [Fact]
    public void Verify_High4Of5_AveragesTheFourHighestDays()
    {
        // Working days 1..5 back: 8, 12, 10, 6, 14 kWh. High 4: 14, 12, 10, 8 -> 11 kWh. Measured 4 x 0.5 = 2 -> delivered 9.
        var v = Verify(PastDays(8, 12, 10, 6, 14).Concat(Run(W, 4, 0.5m)), VerificationRules.Default with { Baseline = BaselineMethod.HighXOfY });
        Assert.Equal(KilowattHours.From(11), v.Baseline);
        Assert.Equal(KilowattHours.From(9), v.Delivered);
        Assert.True(v.Succeeded);
    }

    [Fact]
    public void Verify_Mid3Of5_DropsTheExtremes()
    {
        // 14, 12, 10, 8, 6 -> drop 14 and 6 -> 12, 10, 8 -> 10 kWh.
        var v = Verify(PastDays(8, 12, 10, 6, 14).Concat(Run(W, 4, 0.5m)), VerificationRules.Default with { Baseline = BaselineMethod.MidXOfY, X = 3 });
        Assert.Equal(KilowattHours.From(10), v.Baseline);
    }

    [Fact]
    public void Verify_XOfY_SkipsActivationDaysAndIncompleteDays()
    {
        // The 2nd working day back (12 kWh) had an activation of st1 at another hour, and the 3rd lacks a reading:
        // the 1st, 4th, 5th, 6th and 7th are used: 8, 6, 14, 20, 4 -> High 4: 20, 14, 8, 6 -> 12 kWh.
        var readings = PastDays(8, 12, 10, 6, 14, 20, 4).Where(r => r.Interval.Start != W.AddDays(-5)).Concat(Run(W, 4, 0m)).ToList();
        var rules = VerificationRules.Default with { Baseline = BaselineMethod.HighXOfY };
        var activation = new TimeWindow(W.AddDays(-2).AddHours(3), W.AddDays(-2).AddHours(4));
        var v = Verify(readings, rules, activations: new Dictionary<string, IReadOnlyList<TimeWindow>> { ["st1"] = [activation] });
        Assert.Equal(KilowattHours.From(12), v.Baseline);
        var tooFew = Verify(PastDays(8, 12, 10).Concat(Run(W, 4, 0m)), rules);
        Assert.Contains("3 complete WorkingDay days of the 5", tooFew.FailureReason);
    }

    [Fact]
    public void Verify_XOfY_AnotherStationsActivation_DoesNotExcludeTheDay()
    {
        // Only st2 was activated on the 2nd working day back: st1 still uses it: 8, 12, 6, 14, 20 -> 20, 14, 12, 8 -> 13.5 kWh.
        var readings = PastDays(8, 12, 10, 6, 14, 20, 4).Where(r => r.Interval.Start != W.AddDays(-5)).Concat(Run(W, 4, 0m)).ToList();
        var activation = new TimeWindow(W.AddDays(-2), W.AddDays(-2).AddHours(1));
        var v = Verify(readings, VerificationRules.Default with { Baseline = BaselineMethod.HighXOfY },
            activations: new Dictionary<string, IReadOnlyList<TimeWindow>> { ["st2"] = [activation] });
        Assert.Equal(KilowattHours.From(13.5m), v.Baseline);
    }

    [Fact]
    public void Verify_XOfYOnAWorkingDay_SkipsWeekendsAndHolidays()
    {
        // Every day back has 5 kWh per quarter, except Saturdays, Sundays and 2 June (Republic Day) with 1 kWh: the 5
        // calendar days back include a Saturday and a Sunday (Mid 5 of 5 gave (3 x 20 + 2 x 4) / 5 = 13.6 kWh); working days give 20.
        var readings = Enumerable.Range(1, 14).SelectMany(d =>
        {
            var day = W.AddDays(-d);
            var quiet = day.DayOfWeek is DayOfWeek.Saturday or DayOfWeek.Sunday || (day.Month, day.Day) == (6, 2);
            return Run(day, 4, quiet ? 1m : 5m);
        }).Concat(Run(W, 4, 0m));
        var v = Verify(readings, VerificationRules.Default with { Baseline = BaselineMethod.MidXOfY, X = 5 });
        Assert.Equal(KilowattHours.From(20), v.Baseline);
    }

    /// <summary>The instant the clock in Rome shows <paramref name="local"/> (which must exist once).</summary>
    private static DateTimeOffset Rome(DateTime local) => new(TimeZoneInfo.ConvertTimeToUtc(local, VerificationRules.Default.Zone()));

    private static Verification VerifyXOfY(TimeWindow window, IEnumerable<MeterReading> readings, int x = 4, int y = 5) =>
        DeliveryVerifier.Verify(Award, window, Direction.ReduceConsumption, VerificationRules.Default with { Baseline = BaselineMethod.HighXOfY, X = x, Y = y },
            new DeliveryEvidence(readings.ToList()), MarketInterval.Default);

    [Theory]
    // Saturday 26 December 2026 (St Stephen): the two holidays before it, 25 and 8 December (Sundays and holidays
    // together took 25 December and Sunday 20 December: 6 kWh).
    [InlineData("2026-12-26", 2, 2, 8)]
    // Epiphany 2027: four holidays in the 60 days before (1 January, 26, 25 and 8 December), too few for 5: Sundays
    // (together: 3 January, 1 January, 27, 26 and 25 December: High 4 of them 7 kWh).
    [InlineData("2027-01-06", 4, 5, 4)]
    // A Sunday: Sundays only, not the holidays between them (together: 6 and 3 January, 1 January, 27 and 26 December: 7).
    [InlineData("2027-01-10", 4, 5, 4)]
    // Easter Monday 2026: no holiday in the 60 days before: Easter Sunday and the Sundays before it.
    [InlineData("2026-04-06", 4, 5, 4)]
    public void Verify_XOfYDayTypes_HolidaysTakeHolidaysThenSundays(string date, int x, int y, decimal baseline)
    {
        // 12:00-13:00 in Rome each day: Sundays 1 kWh a quarter, holidays 2, other days 5.
        var day = DateOnly.Parse(date, System.Globalization.CultureInfo.InvariantCulture);
        var w = Rome(day.ToDateTime(new TimeOnly(12, 0)));
        var readings = Enumerable.Range(1, 70).Select(back => day.AddDays(-back)).SelectMany(d => Run(Rome(d.ToDateTime(new TimeOnly(12, 0))), 4,
            d.DayOfWeek == DayOfWeek.Sunday ? 1m : MarketCalendar.IsHoliday(d) ? 2m : 5m)).Concat(Run(w, 4, 0m));
        Assert.Equal(KilowattHours.From(baseline), VerifyXOfY(new TimeWindow(w, w.AddHours(1)), readings, x, y).Baseline);
    }

    [Fact]
    public void Verify_XOfYAcrossEuropeanDstChange_TellsDaysApartInRomeAndTakesTheSameLocalHours()
    {
        // Window Tuesday 31 March 2026 01:30-02:30 in Rome (30 March 23:30 UTC; clocks went forward on 29 March). The
        // days back are Mon 30 (CEST), Sun 29, Sat 28, Fri 27 ... Tue 24 (CET, so 01:30 is 00:30 UTC): the working days
        // are 1, 4, 5, 6, 7 back. Day d back has 10 - d kWh per quarter at 01:30-02:30 on its clock and nothing an hour
        // earlier (where 24 UTC hours back would look): High 5 of 5 averages 9, 6, 5, 4, 3 -> 21.6 kWh.
        var w = new DateTimeOffset(2026, 3, 30, 23, 30, 0, TimeSpan.Zero);
        var readings = Enumerable.Range(1, 7).SelectMany(d =>
        {
            var then = Rome(new DateTime(2026, 3, 31 - d, 1, 30, 0));
            return Run(then, 4, 10 - d).Concat(then == w.AddDays(-d) ? [] : Run(w.AddDays(-d), 4, 0m));
        }).Concat(Run(w, 4, 0m));
        Assert.Equal(KilowattHours.From(21.6m), VerifyXOfY(new TimeWindow(w, w.AddHours(1)), readings, x: 5).Baseline);
    }

    [Fact]
    public void Verify_XOfYAfterClocksGoForward_ComparesTheSameLocalHour()
    {
        // Monday 30 March 2026 18:00-19:00 CEST. The working days before are CET: 17:00-18:00 on their clock 4 kWh,
        // 18:00-19:00 20 kWh. The same local hour gives 20 kWh (24 UTC hours back took 17:00-18:00: 4 kWh).
        var w = new DateTimeOffset(2026, 3, 30, 16, 0, 0, TimeSpan.Zero);
        var readings = Enumerable.Range(23, 5).SelectMany(d => Run(Rome(new DateTime(2026, 3, d, 17, 0, 0)), 4, 1m)
            .Concat(Run(Rome(new DateTime(2026, 3, d, 18, 0, 0)), 4, 5m))).Concat(Run(w, 4, 3m));
        Assert.Equal(KilowattHours.From(20), VerifyXOfY(new TimeWindow(w, w.AddHours(1)), readings).Baseline);
    }

    [Fact]
    public void Verify_XOfYOnTheDayClocksGoBack_BothRepeatedHoursTakeTheSameLocalHour()
    {
        // Sunday 25 October 2026: 02:00-03:00 happens twice, 00:00-01:00 UTC (CEST) and 01:00-02:00 UTC (CET). The
        // Sundays before have 5 kWh a quarter at 02:00-03:00 on their clock and 1 at 03:00-04:00: both hours get 20 kWh
        // (24 UTC hours back gave the second one 03:00-04:00: 4 kWh).
        var readings = Enumerable.Range(1, 5).Select(week => new DateTime(2026, 10, 25).AddDays(-7 * week))
            .SelectMany(d => Run(Rome(d.AddHours(2)), 4, 5m).Concat(Run(Rome(d.AddHours(3)), 4, 1m))).ToList();
        foreach (var utc in new[] { 0, 1 })
        {
            var w = new DateTimeOffset(2026, 10, 25, utc, 0, 0, TimeSpan.Zero);
            Assert.Equal(KilowattHours.From(20), VerifyXOfY(new TimeWindow(w, w.AddHours(1)), readings.Concat(Run(w, 4, 0m))).Baseline);
        }
    }

    [Fact]
    public void Verify_XOfYSimilarDayThatSkippedOrRepeatedTheHour_IsNotUsed()
    {
        // Sunday 12 April 2026 02:30-03:30 CEST: on 29 March 02:30 did not exist, so that Sunday is skipped and 1 March
        // taken. Sunday 1 November 2026 02:00-03:00 CET: on 25 October it happened twice, so 25 October is skipped and 20
        // September taken. The usable Sundays have 4 kWh a quarter at those hours; the change days 10 kWh a quarter around
        // them, which 24 UTC hours back used (40 kWh).
        foreach (var (window, change) in new[] { (new DateTime(2026, 4, 12, 2, 30, 0), new DateTime(2026, 3, 29)), (new DateTime(2026, 11, 1, 2, 0, 0), new DateTime(2026, 10, 25)) })
        {
            var w = Rome(window);
            var sundays = Enumerable.Range(1, 6).Select(week => window.AddDays(-7 * week)).Where(d => d.Date != change);
            var readings = sundays.SelectMany(d => Run(Rome(d), 4, 4m))
                .Concat(Run(Rome(change.AddHours(-1)), 24, 10m)).Concat(Run(w, 4, 0m));
            Assert.Equal(KilowattHours.From(16), VerifyXOfY(new TimeWindow(w, w.AddHours(1)), readings).Baseline);
        }
    }

    [Fact]
    public void Verify_Declared_UsesScheduleAndRecordsQualityFactor()
    {
        // Declared 5 kWh per quarter, measured 2.5: delivered 10; QF = 1 - RMSE(2.5) / max(5, 1) = 0.5.
        var v = Verify(Run(W, 4, 2.5m), VerificationRules.Default with { Baseline = BaselineMethod.Declared }, declared: Run(W, 4, 5m));
        Assert.Equal(KilowattHours.From(10), v.Delivered);
        Assert.Equal(0.5m, v.QualityFactor);
        var missing = Verify(Run(W, 4, 2.5m), VerificationRules.Default with { Baseline = BaselineMethod.Declared }, declared: Run(W, 3, 5m));
        Assert.Contains("missing declared schedule", missing.FailureReason);
    }

    [Theory]
    [InlineData(10, 9, 0.1, 1)]      // within tolerance
    [InlineData(10, 8.999, 0.1, 0.8999)]
    [InlineData(10, 11, 0.1, 1)]     // over-delivery within tolerance
    [InlineData(10, 25, 0.1, 0)]     // far over: never negative
    [InlineData(10, -3, 0, 0)]
    [InlineData(10, 10, 0, 1)]
    public void Score_Discrepancy_FollowsMaesha(decimal awarded, decimal delivered, decimal tolerance, decimal expected) =>
        Assert.Equal(expected, DeliveryVerifier.Score(awarded, delivered, tolerance));

    [Fact]
    public void QualityFactor_SmallBaselines_DivideByAtLeastOne() =>
        Assert.Equal(0.9m, DeliveryVerifier.QualityFactor([(0.2m, 0.1m), (0.2m, 0.3m)])); // RMSE 0.1 / max(0.2, 1)

    [Theory]
    [InlineData(1.5, 0.1, 4, 4, 5, "successThreshold")]
    [InlineData(0.8, -0.1, 4, 4, 5, "tolerance")]
    [InlineData(0.8, 0.1, 0, 4, 5, "mbmaMinutes")]
    [InlineData(0.8, 0.1, 1441, 4, 5, "mbmaMinutes")]
    [InlineData(0.8, 0.1, 4, 6, 5, "x")]
    [InlineData(0.8, 0.1, 4, 4, 31, "y")]
    public void Rules_OutOfRange_NameTheField(decimal threshold, decimal tolerance, int n, int x, int y, string field) =>
        Assert.Equal(field, Assert.Throws<DomainException>(() =>
            new VerificationRules(SuccessThreshold: threshold, Tolerance: tolerance, MbmaMinutes: n, X: x, Y: y).Validate()).Field);

    [Fact]
    public void Rules_UnknownTimeZone_NamesTheField() =>
        Assert.Equal("marketTimeZone", Assert.Throws<DomainException>(() => (VerificationRules.Default with { MarketTimeZone = "Mars/Olympus" }).Validate()).Field);

    [Fact]
    public void Zone_EuropeRome_ResolvesUnderInvariantGlobalization()
    {
        // InvariantGlobalization is on (Directory.Build.props); IANA ids still resolve from the system's tzdata.
        var zone = VerificationRules.Default.Zone();
        Assert.Equal(TimeSpan.FromHours(2), zone.GetUtcOffset(W));
        Assert.Equal(TimeSpan.FromHours(1), zone.GetUtcOffset(new DateTimeOffset(2026, 1, 10, 12, 0, 0, TimeSpan.Zero)));
    }

    [Fact]
    public void Rules_StoredBeforeMbmaMinutes_ReadWithTheHourBefore()
    {
        // Requests stored before the MBMA period was a duration carry mbmaIntervals and no mbmaMinutes.
        const string old = """{"baseline":"MeterBeforeMeterAfter","payout":"Full","successThreshold":0.8,"tolerance":0.1,"mbmaIntervals":4,"x":4,"y":5}""";
        var options = new System.Text.Json.JsonSerializerOptions(System.Text.Json.JsonSerializerDefaults.Web);
        options.Converters.Add(new System.Text.Json.Serialization.JsonStringEnumConverter());
        var rules = System.Text.Json.JsonSerializer.Deserialize<VerificationRules>(old, options)!;
        Assert.Equal(VerificationRules.Default with { Payout = PayoutRule.Full }, rules);
        Assert.Equal(TimeSpan.FromHours(1), rules.MbmaPeriod);
    }
}
