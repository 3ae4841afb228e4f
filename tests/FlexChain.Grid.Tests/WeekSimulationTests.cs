using FlexChain.Domain;

namespace FlexChain.Grid.Tests;

public class WeekSimulationTests
{
    // Four evening-peak intervals with the week's 1,000 stations and a TSO need in each: small enough for a unit test,
    // congested enough that the DSOs have needs.
    private static readonly WeekSettings Evening = new()
    {
        Intervals = 4,
        Start = new DateTimeOffset(2026, 12, 14, 18, 0, 0, TimeSpan.Zero),
        TsoNeedProbability = 1,
    };

    private static readonly CoordinationScheme[] Sequential =
        [CoordinationScheme.DsoFirst, CoordinationScheme.DsoFirstPrequalified, CoordinationScheme.TsoFirst, CoordinationScheme.TsoFirstPrequalified];

    private static readonly IReadOnlyList<WeekTotals> Totals = WeekSimulation.Run(Evening, Sequential);

    [Fact]
    public void Run_EveryScheme_NeverSellsAStationTwiceInAnInterval() =>
        Assert.All(Totals, t => Assert.Equal(0, t.DoubleAwards));

    [Fact]
    public void Run_PrequalifiedSchemes_EndEveryIntervalWithinTheLimits()
    {
        foreach (var t in Totals.Where(t => t.Scheme is CoordinationScheme.DsoFirstPrequalified or CoordinationScheme.TsoFirstPrequalified))
        {
            Assert.Equal(0, t.BrokenLimitIntervals);
            Assert.Equal(0m, t.TsoShortfall.Value);
        }
    }

    [Fact]
    public void Run_EveryScheme_BuysTheTsosNeedAndDsoFirstAlsoTheDsos()
    {
        foreach (var t in Totals)
        {
            Assert.True(t.EnergyByBuyer.GetValueOrDefault("tso").Value > 0, $"{t.Scheme}: the TSO bought nothing");
            // Going first, the DSOs buy whenever the evening base state breaks their limits (after the TSO they may not need to).
            if (t.Scheme is CoordinationScheme.DsoFirst or CoordinationScheme.DsoFirstPrequalified)
                Assert.True(t.EnergyByBuyer.GetValueOrDefault("dso69").Value + t.EnergyByBuyer.GetValueOrDefault("dso141").Value > 0, $"{t.Scheme}: no DSO bought");
        }
        // Every order buys the same TSO energy (its need), whatever the DSOs buy around it.
        Assert.Single(Totals.Select(t => t.EnergyByBuyer["tso"]).Distinct());
    }

    [Fact]
    public void Run_SameSettings_SameTotals()
    {
        var again = WeekSimulation.Run(Evening, [CoordinationScheme.TsoFirstPrequalified]);

        Assert.Equal(Totals[3].Cost, again[0].Cost);
        Assert.Equal(Totals[3].EnergyByBuyer, again[0].EnergyByBuyer);
    }

    [Theory]
    [InlineData(18, 0.45)]
    [InlineData(23, 0.25)]
    [InlineData(3, 0.25)]
    [InlineData(10, 0.1)]
    public void ChargingShare_WorkingDay_FollowsTheProfile(int hour, double share) =>
        Assert.Equal(share, WeekSettings.ChargingShare(new DateTimeOffset(2026, 12, 14, hour, 0, 0, TimeSpan.Zero)));

    [Fact]
    public void ChargingShare_WeekendDay_ChargesMoreThanAWorkingDay() =>
        Assert.True(WeekSettings.ChargingShare(new DateTimeOffset(2026, 12, 19, 10, 0, 0, TimeSpan.Zero)) >
                    WeekSettings.ChargingShare(new DateTimeOffset(2026, 12, 14, 10, 0, 0, TimeSpan.Zero)));
}
