using FlexChain.Domain;
using static FlexChain.Domain.Tests.Build;

namespace FlexChain.Domain.Tests;

public class VerificationTests
{
    private static readonly TimeWindow Window = new(T0.AddHours(4), T0.AddHours(5));
    private static readonly Award Award = new("req1/o1", "o1", "cpo1", ["st1"], KilowattHours.From(10), EurosPerKilowattHour.From(0.25m));

    private static IEnumerable<MeterReading> Quarters(string station, DateTimeOffset from, int count, decimal kwhEach) =>
        Enumerable.Range(0, count).Select(i =>
            new MeterReading(station, new TimeWindow(from.AddMinutes(15 * i), from.AddMinutes(15 * (i + 1))), KilowattHours.From(kwhEach)));

    [Fact]
    public void Verify_FullDelivery_PaysAwardedValue()
    {
        // Baseline 5 kWh per quarter hour before the window; 2.5 per quarter during it: delivered 4 x 2.5 = 10 kWh.
        var readings = Quarters("st1", Window.Start.AddHours(-1), 4, 5m).Concat(Quarters("st1", Window.Start, 4, 2.5m)).ToList();
        var v = MbmaVerifier.Default.Verify(Award, Window, Direction.ReduceConsumption, readings);
        Assert.True(v.Succeeded);
        Assert.Equal(KilowattHours.From(20), v.Baseline);
        Assert.Equal(KilowattHours.From(10), v.Measured);
        Assert.Equal(KilowattHours.From(10), v.Delivered);
        Assert.Equal(new Euros(2.5m), v.Payout);
    }

    [Fact]
    public void Verify_OverDelivery_PaysAtMostTheAward()
    {
        var readings = Quarters("st1", Window.Start.AddHours(-1), 4, 5m).Concat(Quarters("st1", Window.Start, 4, 0m)).ToList();
        var v = MbmaVerifier.Default.Verify(Award, Window, Direction.ReduceConsumption, readings);
        Assert.Equal(KilowattHours.From(20), v.Delivered);
        Assert.Equal(new Euros(2.5m), v.Payout);
    }

    [Fact]
    public void Verify_NinetyPercent_PaysProRata()
    {
        var readings = Quarters("st1", Window.Start.AddHours(-1), 4, 5m).Concat(Quarters("st1", Window.Start, 4, 2.75m)).ToList();
        var v = MbmaVerifier.Default.Verify(Award, Window, Direction.ReduceConsumption, readings);
        Assert.Equal(KilowattHours.From(9), v.Delivered);
        Assert.Equal(new Euros(2.25m), v.Payout);
    }

    [Fact]
    public void Verify_BelowThreshold_PaysNothingWithReason()
    {
        var readings = Quarters("st1", Window.Start.AddHours(-1), 4, 5m).Concat(Quarters("st1", Window.Start, 4, 3.5m)).ToList();
        var v = MbmaVerifier.Default.Verify(Award, Window, Direction.ReduceConsumption, readings);
        Assert.False(v.Succeeded);
        Assert.Equal(KilowattHours.From(6), v.Delivered);
        Assert.Equal(Euros.Zero, v.Payout);
        Assert.Contains("below", v.FailureReason);
    }

    [Fact]
    public void Verify_GapInWindow_FailsWithMissingDataReason()
    {
        var readings = Quarters("st1", Window.Start.AddHours(-1), 4, 5m).Concat(Quarters("st1", Window.Start, 3, 0m)).ToList();
        var v = MbmaVerifier.Default.Verify(Award, Window, Direction.ReduceConsumption, readings);
        Assert.False(v.Succeeded);
        Assert.Contains("do not cover", v.FailureReason);
    }

    [Fact]
    public void Verify_NoBaselineReadings_Fails()
    {
        var v = MbmaVerifier.Default.Verify(Award, Window, Direction.ReduceConsumption, Quarters("st1", Window.Start, 4, 0m).ToList());
        Assert.False(v.Succeeded);
        Assert.Contains("baseline", v.FailureReason);
    }

    [Fact]
    public void Verify_IncreaseDirection_CountsExtraConsumption()
    {
        var readings = Quarters("st1", Window.Start.AddHours(-1), 4, 1m).Concat(Quarters("st1", Window.Start, 4, 3.5m)).ToList();
        var v = MbmaVerifier.Default.Verify(Award, Window, Direction.IncreaseConsumption, readings);
        Assert.Equal(KilowattHours.From(10), v.Delivered);
        Assert.True(v.Succeeded);
    }

    [Fact]
    public void Verify_OneMinuteReadings_SameResultAsQuarterHours()
    {
        IEnumerable<MeterReading> Minutes(DateTimeOffset from, int n, decimal each) => Enumerable.Range(0, n).Select(i =>
            new MeterReading("st1", new TimeWindow(from.AddMinutes(i), from.AddMinutes(i + 1)), KilowattHours.From(each)));
        var readings = Minutes(Window.Start.AddHours(-1), 60, 0.333m).Concat(Minutes(Window.Start, 60, 0.166m)).ToList();
        var v = MbmaVerifier.Default.Verify(Award, Window, Direction.ReduceConsumption, readings);
        Assert.Equal(KilowattHours.From(19.98m - 9.96m), v.Delivered);
    }
}
