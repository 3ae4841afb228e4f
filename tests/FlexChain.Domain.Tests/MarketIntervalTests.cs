using FlexChain.Domain;

namespace FlexChain.Domain.Tests;

/// <summary>The market interval and delivery checked per interval of it, so a rebound inside the window shows.</summary>
public class MarketIntervalTests
{
    private static readonly DateTimeOffset W = new(2026, 6, 10, 12, 0, 0, TimeSpan.Zero);
    private static readonly TimeWindow Window = new(W, W.AddHours(1));
    private static readonly Award Award = new("req1/o1", "o1", "cpo1", ["st1"], KilowattHours.From(10), EurosPerKilowattHour.From(0.25m));

    /// <summary>Baseline 5 kWh per quarter hour over the hour before the window, then the window's quarters as given.</summary>
    private static List<MeterReading> Quarters(params decimal[] window) =>
        Enumerable.Range(0, 4).Select(i => Reading(W.AddMinutes(15 * (i - 4)), 15, 5m))
            .Concat(window.Select((kwh, i) => Reading(W.AddMinutes(15 * i), 15, kwh))).ToList();

    private static MeterReading Reading(DateTimeOffset start, int minutes, decimal kwh) =>
        new("st1", new TimeWindow(start, start.AddMinutes(minutes)), KilowattHours.From(kwh));

    private static Verification Verify(IEnumerable<MeterReading> readings, PayoutRule payout = PayoutRule.ZeroBelowThreshold, int minutes = 15,
        TimeWindow? window = null, Award? award = null, Direction direction = Direction.ReduceConsumption) =>
        DeliveryVerifier.Verify(award ?? Award, window ?? Window, direction, VerificationRules.Default with { Payout = payout },
            new DeliveryEvidence(readings.ToList()), MarketInterval.From(minutes));

    [Theory]
    [InlineData(1)]
    [InlineData(5)]
    [InlineData(15)]
    [InlineData(20)]
    [InlineData(30)]
    [InlineData(60)]
    public void From_DividesTheHour_Accepted(int minutes) => Assert.Equal(minutes, MarketInterval.From(minutes).Minutes);

    [Theory]
    [InlineData(0)]
    [InlineData(-15)]
    [InlineData(7)]
    [InlineData(45)]
    [InlineData(61)]
    [InlineData(120)]
    public void From_OutOfRangeOrNotDividingTheHour_ThrowsNamingTheRule(int minutes)
    {
        var e = Assert.Throws<DomainException>(() => MarketInterval.From(minutes));
        Assert.Equal(("marketIntervalMinutes", "market-interval"), (e.Field, e.Rule));
    }

    [Fact]
    public void Cut_FromTheWindowStart_LastIntervalShorter()
    {
        var cuts = MarketInterval.Default.Cut(new TimeWindow(W.AddMinutes(10), W.AddMinutes(60)));
        Assert.Equal([10, 25, 40, 55], cuts.Select(c => (int)(c.Start - W).TotalMinutes));
        Assert.Equal([15, 15, 15, 5], cuts.Select(c => (int)c.Duration.TotalMinutes));
        Assert.Equal(new TimeWindow(W, W.AddMinutes(1)), Assert.Single(MarketInterval.Default.Cut(new TimeWindow(W, W.AddMinutes(1)))));
        Assert.Equal(60, MarketInterval.From(1).Cut(Window).Count);
        Assert.Equal(Window, Assert.Single(MarketInterval.From(60).Cut(Window)));
    }

    [Fact]
    public void Verify_ReboundInLastQuarter_NotPaidForIt()
    {
        // Delivered 5, 3, 3 and -1 kWh: 10 kWh in all, the whole award, but the last quarter rebounded. Each quarter's
        // share is 2.5 kWh: the first three met it (paid up to their share, 3 x 2.5 x 0.25 = 1.875), the last did not.
        var v = Verify(Quarters(0m, 2m, 2m, 6m));

        Assert.Equal(KilowattHours.From(10), v.Delivered);
        Assert.False(v.Succeeded);
        Assert.Equal(new Euros(1.875m), v.Payout);
        Assert.Equal(DeliveryOutcome.PaidProRata, v.Outcome);
        Assert.Equal([true, true, true, false], v.MarketIntervals!.Select(m => m.Met));
        Assert.Equal([5m, 3m, 3m, -1m], v.MarketIntervals!.Select(m => m.Delivered.Value));
        Assert.All(v.MarketIntervals!, m => Assert.Equal(KilowattHours.From(2.5m), m.Scheduled));
        Assert.Contains("1 of 4 market intervals", v.FailureReason);
        Assert.Contains($"the first, from {W.AddMinutes(45):O}", v.FailureReason);
        Assert.Contains("-1 kWh of 2.5 kWh", v.FailureReason);
    }

    [Fact]
    public void Verify_ReboundFullRule_PaysTheSharesOfTheIntervalsMet()
    {
        Assert.Equal(new Euros(1.875m), Verify(Quarters(0m, 2m, 2m, 6m), PayoutRule.Full).Payout);
    }

    [Fact]
    public void Verify_ReboundByScore_EachIntervalPaysItsScoresShare()
    {
        // Scores: |2.5 - 5| / 2.5 -> 0; |2.5 - 3| = 0.5 > 10 % -> 0.8, 0.8; |2.5 + 1| -> 0. Paid 2.5 x 0.25 x 1.6 = 1.
        var v = Verify(Quarters(0m, 2m, 2m, 6m), PayoutRule.ProRataByScore);
        Assert.Equal([0m, 0.8m, 0.8m, 0m], v.MarketIntervals!.Select(m => m.Score));
        Assert.Equal(new Euros(1m), v.Payout);
        Assert.Equal(0.4m, v.Score); // (0 + 0.8 + 0.8 + 0) x 2.5 / 10
    }

    [Fact]
    public void Verify_HourlyMarket_ReboundHiddenInTheHour()
    {
        // With a 60-minute market interval the hour is one interval: 10 of 10 kWh delivered, paid in full.
        var v = Verify(Quarters(0m, 2m, 2m, 6m), minutes: 60);
        Assert.True(v.Succeeded);
        Assert.Equal(new Euros(2.5m), v.Payout);
        Assert.Equal(KilowattHours.From(10), Assert.Single(v.MarketIntervals!).Scheduled);
    }

    [Fact]
    public void Verify_EvenDelivery_EveryIntervalMet()
    {
        var v = Verify(Quarters(2.5m, 2.5m, 2.5m, 2.5m));
        Assert.True(v.Succeeded);
        Assert.Equal(1m, v.Score);
        Assert.Equal(new Euros(2.5m), v.Payout);
        Assert.Null(v.FailureReason);
    }

    [Fact]
    public void Verify_IntervalExactlyAtThreshold_Met()
    {
        // 2 of 2.5 kWh is exactly 80 %; 1.999 kWh would not be.
        Assert.True(Verify(Quarters(3m, 3m, 3m, 3m)).Succeeded);
        Assert.False(Verify(Quarters(3m, 3m, 3m, 3.001m)).Succeeded);
    }

    [Fact]
    public void Verify_HalfHourReadingsInQuarterHourMarket_SplitInProportionToTime()
    {
        // Two 30-minute readings of 4 and 6 kWh: quarters of 2, 2, 3, 3 measured against 5 each: delivered 3, 3, 2, 2.
        var readings = Enumerable.Range(0, 4).Select(i => Reading(W.AddMinutes(15 * (i - 4)), 15, 5m))
            .Append(Reading(W, 30, 4m)).Append(Reading(W.AddMinutes(30), 30, 6m));
        var v = Verify(readings);

        Assert.Equal(4, v.Intervals!.Count);
        Assert.Equal([3m, 3m, 2m, 2m], v.MarketIntervals!.Select(m => m.Delivered.Value));
        Assert.True(v.Succeeded); // 2 of 2.5 is the threshold
        Assert.Equal(new Euros(2.25m), v.Payout); // (2.5 + 2.5 + 2 + 2) x 0.25: over-delivery in one quarter does not pay for another
    }

    [Fact]
    public void Verify_WindowNotWholeIntervals_SharesFollowTheIntervalsLengths()
    {
        // [12:00, 12:50): 15, 15, 15 and 5 minutes of a 10 kWh award: shares 3, 3, 3 and 1 kWh.
        var window = new TimeWindow(W, W.AddMinutes(50));
        var readings = Enumerable.Range(0, 60).Select(i => Reading(W.AddMinutes(i - 60), 1, 1m)) // baseline 1 kWh a minute
            .Concat(Enumerable.Range(0, 50).Select(i => Reading(W.AddMinutes(i), 1, 0.8m)));     // 0.2 kWh a minute less
        var v = Verify(readings, window: window);

        Assert.Equal([3m, 3m, 3m, 1m], v.MarketIntervals!.Select(m => m.Scheduled.Value));
        Assert.Equal([3m, 3m, 3m, 1m], v.MarketIntervals!.Select(m => m.Delivered.Value));
        Assert.True(v.Succeeded);
        Assert.Equal(new Euros(2.5m), v.Payout);
    }

    [Fact]
    public void Verify_IncreaseWithDipInside_DipIntervalNotPaid()
    {
        // An increase: 5 kWh a quarter before, then 7.5, 7.5, 7.5 and 4: the last quarter went the wrong way.
        var v = Verify(Quarters(7.5m, 7.5m, 7.5m, 4m), direction: Direction.IncreaseConsumption);
        Assert.Equal([true, true, true, false], v.MarketIntervals!.Select(m => m.Met));
        Assert.Equal(new Euros(1.875m), v.Payout);
    }

    [Fact]
    public void Verify_MissingQuarter_FailsThatQuarterOnly()
    {
        var readings = Quarters(2.5m, 2.5m, 2.5m, 2.5m).Where(r => r.Interval.Start != W.AddMinutes(45)).ToList();
        var v = Verify(readings);
        Assert.Equal([true, true, true, false], v.MarketIntervals!.Select(m => m.Met));
        Assert.Equal(new Euros(1.875m), v.Payout);
        Assert.Contains("missing meter data", v.FailureReason);
    }
}
