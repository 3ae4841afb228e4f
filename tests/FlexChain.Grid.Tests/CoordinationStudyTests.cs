using FlexChain.Domain;

namespace FlexChain.Grid.Tests;

public class CoordinationStudyTests
{
    private static readonly TimeWindow Hour = new(new DateTimeOffset(2026, 12, 8, 17, 0, 0, TimeSpan.Zero), new DateTimeOffset(2026, 12, 8, 18, 0, 0, TimeSpan.Zero));

    // The triangle as the TSO's grid, the 3-bus feeder (loads 1 and 2 MW) as a DSO's under its bus 3. Feeder limits:
    // 1.0 x own flow + 0.5 MW, so branch 1-2 carries at most 3.5 MW and branch 2-3 at most 2.5 MW; transmission 10 MW.
    // "cheap" (feeder bus 3) can draw 1 MW more at 0.05 EUR/kWh, "mid" (feeder bus 2) 0.4 MW more at 0.10, and a
    // transmission unit 5 MW either way at 0.20.
    private static StudyCase Tiny(Direction need, decimal needKwh, double extraAtBus3Mw = 0, double extraAtBus2Mw = 0)
    {
        var hierarchy = new GridHierarchy(new GridOperator("tso", OperatorRole.Tso), new Ptdf(PowerFlowTests.Triangle()),
            [new DistributionArea(new GridOperator("dso-a", OperatorRole.Dso), new LinDistFlow(PowerFlowTests.Feeder()), 3)]);
        var extra = new Dictionary<GridLocation, double> { [new("dso-a", 3)] = extraAtBus3Mw, [new("dso-a", 2)] = extraAtBus2Mw };
        var grid = new LinearGrid(hierarchy, extra, new LimitRule(2, 10, 1, 0.5));
        FlexResource[] resources =
        [
            new("cheap", "cpo-1", new("dso-a", 3), new(500), new(1000), new(0.30m), new(0.05m)),
            new("mid", "cpo-2", new("dso-a", 2), new(500), new(400), new(0.40m), new(0.10m)),
            new("gen", "bsp", new("tso", 2), new(5000), new(5000), new(0.20m), new(0.20m)),
        ];
        return new StudyCase(grid, resources, new TsoNeed(need, new KilowattHours(needKwh)), Hour);
    }

    [Fact]
    public void DsoFirst_CheapOfferBehindAFullFeeder_ReportsTheCongestionItCauses()
    {
        var outcome = new CoordinationStudy(Tiny(Direction.IncreaseConsumption, 1000)).Run(CoordinationScheme.DsoFirst);

        var award = Assert.Single(outcome.Activations);
        Assert.Equal(("cheap", "tso", 1000m), (award.Resource.StationId, award.BuyerId, award.Energy.Value));
        Assert.Equal(2, outcome.Grid.DistributionCongestions); // 1-2 at 4 MW (limit 3.5), 2-3 at 3 MW (limit 2.5)
        Assert.Equal(120, outcome.Grid.WorstDistributionLoadingPercent, 6);
        Assert.Contains(outcome.Grid.Violations, v => v.StartsWith("dso-a branch 2-3", StringComparison.Ordinal));
        Assert.Equal(50m, outcome.Cost.Value);
    }

    [Fact]
    public void TsoFirst_DsoCannotBuyBackABookedStation_TheCongestionStaysReported()
    {
        var outcome = new CoordinationStudy(Tiny(Direction.IncreaseConsumption, 1000)).Run(CoordinationScheme.TsoFirst);

        // The DSO then needs 0.5 MW less below bus 3, where the only station is the one the TSO booked.
        Assert.Single(outcome.Activations);
        Assert.Equal(2, outcome.Grid.DistributionCongestions);
    }

    [Theory]
    [InlineData(CoordinationScheme.DsoFirstPrequalified)]
    [InlineData(CoordinationScheme.TsoFirstPrequalified)]
    [InlineData(CoordinationScheme.CommonMarket)]
    public void GridSafeSchemes_TakeTheFeedersHeadroomThenTheTransmissionUnit(CoordinationScheme scheme)
    {
        var outcome = new CoordinationStudy(Tiny(Direction.IncreaseConsumption, 1000)).Run(scheme);

        // 0.5 MW is all the feeder takes: 500 kWh x 0.05 + 500 kWh x 0.20.
        Assert.Equal(0, outcome.Grid.Count);
        Assert.Equal(125m, outcome.Cost.Value);
        Assert.Equal(0m, outcome.TsoShortfall.Value);
        Assert.Equal(500m, outcome.Activations.Single(a => a.Resource.StationId == "cheap").Energy.Value);
    }

    [Fact]
    public void Prequalify_ApprovesInMeritOrderUpToTheHeadroomLeft()
    {
        var study = new CoordinationStudy(Tiny(Direction.IncreaseConsumption, 1000));

        var caps = study.Prequalify(study.Case.Grid.Evaluate([]), []);

        // cheap takes the 0.5 MW both feeder branches have left; mid (behind branch 1-2 too) gets nothing.
        Assert.Equal(new Dictionary<string, decimal> { ["cheap"] = 500m, ["gen"] = 5000m }, caps);
    }

    [Fact]
    public void DsoNeeds_OverloadAtTheFeederEnd_OneRequestBelowTheDeepestBranch()
    {
        // 1 MW more at bus 3: branch 2-3 at 3 MW (0.5 over), branch 1-2 at 4 MW (0.5 over, covered by the request below).
        var study = new CoordinationStudy(Tiny(Direction.ReduceConsumption, 100, extraAtBus3Mw: 1));

        var need = Assert.Single(study.DsoNeeds(study.Case.Grid.Evaluate([])));

        Assert.Equal((3, 500m), (need.Bus, need.Energy.Value));
    }

    [Fact]
    public void DsoNeeds_OverloadNearTheHead_RequestAtTheUpperBus()
    {
        var study = new CoordinationStudy(Tiny(Direction.ReduceConsumption, 100, extraAtBus2Mw: 1));

        var need = Assert.Single(study.DsoNeeds(study.Case.Grid.Evaluate([])));

        Assert.Equal((2, 500m), (need.Bus, need.Energy.Value));
    }

    [Fact]
    public void DsoFirst_UpwardCase_DsoBuysItsNeedFirstAndTheTsoTheRest()
    {
        var outcome = new CoordinationStudy(Tiny(Direction.ReduceConsumption, 1000, extraAtBus3Mw: 1)).Run(CoordinationScheme.DsoFirst);

        Assert.Equal(500m, outcome.BoughtBy("dso-a").Value); // cheap, the only station below bus 3, now booked
        Assert.Equal(1000m, outcome.BoughtBy("tso").Value);  // mid (0.40) dearer than gen (0.20): gen
        Assert.Equal(0, outcome.Grid.Count);
    }

    [Fact]
    public void CommonMarket_NeedBeyondEveryOffer_ThrowsInsteadOfBreakingALimit()
    {
        var study = new CoordinationStudy(Tiny(Direction.IncreaseConsumption, 100_000)); // 100 MW; 5.5 MW can be had

        Assert.Throws<InvalidOperationException>(() => study.Run(CoordinationScheme.CommonMarket));
    }

    [Fact]
    public void Run_NeedBeyondEveryOffer_SequentialSchemeReportsTheShortfall()
    {
        var outcome = new CoordinationStudy(Tiny(Direction.IncreaseConsumption, 100_000)).Run(CoordinationScheme.TsoFirstPrequalified);

        Assert.Equal(100_000m - 5_500m, outcome.TsoShortfall.Value); // gen 5 MW and cheap's 0.5 MW
    }

    [Fact]
    public void Run_NoTsoNeed_OnlyTheDsosBuy()
    {
        var outcome = new CoordinationStudy(Tiny(Direction.ReduceConsumption, 0, extraAtBus3Mw: 1)).Run(CoordinationScheme.TsoFirst);

        Assert.All(outcome.Activations, a => Assert.Equal("dso-a", a.BuyerId));
        Assert.Equal(500m, outcome.BoughtBy("dso-a").Value);
    }

    [Fact]
    public void Run_UnknownScheme_Throws() =>
        Assert.Throws<ArgumentOutOfRangeException>(() => new CoordinationStudy(Tiny(Direction.ReduceConsumption, 100)).Run((CoordinationScheme)99));

    [Fact]
    public void Energy_QuarterHour_RoundsToTheWattHourAsAsked()
    {
        var quarter = Tiny(Direction.ReduceConsumption, 100) with { Window = new(Hour.Start, Hour.Start.AddMinutes(15)) };

        Assert.Equal(0.25m, quarter.Energy(0.001).Value);                                          // 1 kW for 15 min
        Assert.Equal(0.001m, quarter.Energy(0.0000001, MidpointRounding.ToPositiveInfinity).Value); // a need: never less
        Assert.Equal(0m, quarter.Energy(0.0000039, MidpointRounding.ToNegativeInfinity).Value);    // an approval: never more
        Assert.Equal(0.004, quarter.Megawatts(new KilowattHours(1m)), 12);
    }

    public static TheoryData<Direction, CoordinationScheme> StudyRuns() => Runs(Enum.GetValues<CoordinationScheme>());

    public static TheoryData<Direction, CoordinationScheme> SequentialRuns() =>
        Runs(Enum.GetValues<CoordinationScheme>().Where(s => s != CoordinationScheme.CommonMarket)); // the LP may split a station (CommonMarket's remarks)

    private static TheoryData<Direction, CoordinationScheme> Runs(IEnumerable<CoordinationScheme> schemes)
    {
        var data = new TheoryData<Direction, CoordinationScheme>();
        foreach (var d in new[] { Direction.ReduceConsumption, Direction.IncreaseConsumption })
            foreach (var s in schemes) data.Add(d, s);
        return data;
    }

    private static readonly Dictionary<Direction, CoordinationStudy> Studies = new()
    {
        [Direction.ReduceConsumption] = new(new StudySettings().Build(Direction.ReduceConsumption)),
        [Direction.IncreaseConsumption] = new(new StudySettings().Build(Direction.IncreaseConsumption)),
    };

    [Theory]
    [InlineData(Direction.ReduceConsumption)]
    [InlineData(Direction.IncreaseConsumption)]
    public void CommonMarket_StudyCases_NeverBreaksALimitAndMeetsTheNeed(Direction direction)
    {
        var study = Studies[direction];

        var outcome = study.Run(CoordinationScheme.CommonMarket);

        var values = Recount(study, outcome);
        for (var i = 0; i < values.Length; i++) Assert.False(study.Case.Grid.IsViolated(i, values[i]), study.Case.Grid.Limits[i].ToString());
        Assert.Equal(0, outcome.Grid.Count);
        Assert.True(outcome.TsoShortfall.Value < 0.01m, $"short by {outcome.TsoShortfall}");
        Assert.True(study.BaseCheck().Count > 0, "the study's DSOs have needs to meet");
    }

    [Theory]
    [MemberData(nameof(StudyRuns))]
    public void Run_StudyCases_ReportsExactlyTheViolationsItsAwardsCause(Direction direction, CoordinationScheme scheme)
    {
        var study = Studies[direction];

        var outcome = study.Run(scheme);

        var recount = study.Case.Grid.Check(Recount(study, outcome));
        Assert.Equal(recount.Violations, outcome.Grid.Violations);
        Assert.Equal(recount.WorstLoadingPercent, outcome.Grid.WorstLoadingPercent, 9);
    }

    [Theory]
    [MemberData(nameof(SequentialRuns))]
    public void Run_SequentialSchemes_AwardEachStationOnce(Direction direction, CoordinationScheme scheme)
    {
        var outcome = Studies[direction].Run(scheme);

        Assert.Equal(outcome.Activations.Count, outcome.Activations.Select(a => a.Resource.StationId).Distinct().Count());
    }

    [Theory]
    [InlineData(Direction.ReduceConsumption, CoordinationScheme.DsoFirstPrequalified)]
    [InlineData(Direction.ReduceConsumption, CoordinationScheme.TsoFirstPrequalified)]
    [InlineData(Direction.IncreaseConsumption, CoordinationScheme.DsoFirstPrequalified)]
    [InlineData(Direction.IncreaseConsumption, CoordinationScheme.TsoFirstPrequalified)]
    public void Run_PrequalifiedSchemes_BreakNoLimitTheBaseStateMet(Direction direction, CoordinationScheme scheme)
    {
        var study = Studies[direction];
        var before = study.Case.Grid.Evaluate([]);

        var after = Recount(study, study.Run(scheme));

        for (var i = 0; i < after.Length; i++)
            if (study.Case.Grid.IsViolated(i, after[i]))
                Assert.True(study.Case.Grid.IsViolated(i, before[i]), $"{study.Case.Grid.Limits[i]} broken by the scheme");
    }

    // The final state from the activations alone, independently of the scheme's own bookkeeping.
    private static double[] Recount(CoordinationStudy study, SchemeOutcome outcome) =>
        study.Case.Grid.Evaluate(outcome.Activations.Select(a =>
            (a.Resource.Location, (double)a.Energy.Value / 1000 * (a.Direction == Direction.IncreaseConsumption ? 1 : -1))));
}
