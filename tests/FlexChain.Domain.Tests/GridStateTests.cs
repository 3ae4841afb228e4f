using FlexChain.Domain;

namespace FlexChain.Domain.Tests;

public sealed class GridStateTests
{
    private static readonly DateOnly Day = new(2026, 6, 1);
    private static readonly DateTimeOffset Midnight = new(2026, 6, 1, 0, 0, 0, TimeSpan.Zero);
    private static readonly MarketInterval Quarter = MarketInterval.Default;

    private static Kilowatts Kw(decimal v) => Kilowatts.From(v);

    // Rated 630 kW, planning 400, operational 500.
    private static GridNode Transformer(string id = "tr1", GridLimits? limits = null) =>
        new GridNode(id, "dso1", id, Kw(630)) { Limits = limits ?? GridLimits.For(Kw(400), Kw(500), Kw(630)) };

    private static ForecastPoint Point(int fromMinute, int toMinute, decimal kw) =>
        new(Midnight.AddMinutes(fromMinute), Midnight.AddMinutes(toMinute), Kw(kw), Kw(630));

    private static GridStateDay StateOf(GridNode node, params ForecastPoint[] points) =>
        GridStateEvaluation.Evaluate(node, Day, GridStateEvaluation.Loads(new CongestionForecast(node.Id, Day, points, Midnight), Quarter), Quarter, null, Midnight);

    [Theory]
    [InlineData(0, GridStateColour.Green)]
    [InlineData(400, GridStateColour.Green)]
    [InlineData(400.001, GridStateColour.Yellow)]
    [InlineData(500, GridStateColour.Yellow)]
    [InlineData(500.001, GridStateColour.Orange)]
    [InlineData(630, GridStateColour.Orange)]
    [InlineData(630.001, GridStateColour.Red)]
    public void Classify_EachLimitIsInclusive(decimal load, GridStateColour expected) =>
        Assert.Equal(expected, GridLimits.For(Kw(400), Kw(500), Kw(630)).Classify(Kw(load), Kw(630)));

    [Fact]
    public void Limits_OutOfOrder_AreRefusedNamingTheField()
    {
        Assert.Equal(("planningLimitKw", "limit-order"), Rule(() => GridLimits.For(Kw(501), Kw(500), Kw(630))));
        Assert.Equal(("planningLimitKw", "limit-order"), Rule(() => GridLimits.For(Kw(0), Kw(500), Kw(630))));
        Assert.Equal(("operationalLimitKw", "limit-order"), Rule(() => GridLimits.For(Kw(400), Kw(631), Kw(630))));
        Assert.Equal(Kw(630), GridLimits.For(Kw(630), Kw(630), Kw(630)).Operational);
    }

    private static (string, string) Rule(Action a)
    {
        var e = Assert.Throws<DomainException>(a);
        return (e.Field, e.Rule);
    }

    [Fact]
    public void Loads_TakeThePeakOfThePointsInEachInterval_AndOnlyIntervalsWithPoints()
    {
        // Two 5-minute points in the first quarter, one point spanning the boundary of the second and third.
        var state = StateOf(Transformer(), Point(0, 5, 300), Point(5, 10, 450), Point(20, 35, 520));
        Assert.Equal(
            [(Midnight, 450m, GridStateColour.Yellow), (Midnight.AddMinutes(15), 520m, GridStateColour.Orange), (Midnight.AddMinutes(30), 520m, GridStateColour.Orange)],
            state.Intervals.Select(i => (i.Start, i.Load.Value, i.Colour!.Value)));
        Assert.All(state.Intervals, i => Assert.Equal(Quarter.Length, i.End - i.Start));
    }

    [Fact]
    public void Evaluate_NodeWithoutLimits_HasLoadsButNoColour()
    {
        var state = StateOf(Transformer() with { Limits = null }, Point(0, 15, 700));
        Assert.Null(Assert.Single(state.Intervals).Colour);
    }

    [Fact]
    public void Evaluate_Parent_SumsItsChildrenAgainstItsOwnLimits_BottomUp()
    {
        var a = StateOf(Transformer("trA"), Point(0, 15, 300), Point(15, 30, 300));
        var b = StateOf(Transformer("trB"), Point(15, 30, 350));
        // A feeder of 800 kW: planning 500, operational 600. Both children are green; their sum is not.
        var feeder = new GridNode("fd1", "dso1", "Feeder", Kw(800)) { Kind = GridNodeKind.MvFeeder, Limits = GridLimits.For(Kw(500), Kw(600), Kw(800)) };
        var state = GridStateEvaluation.Evaluate(feeder, Day, GridStateEvaluation.Sum([a, b]), Quarter, null, Midnight);
        Assert.All(a.Intervals.Concat(b.Intervals), i => Assert.Equal(GridStateColour.Green, i.Colour));
        Assert.Equal([(300m, GridStateColour.Green), (650m, GridStateColour.Orange)], state.Intervals.Select(i => (i.Load.Value, i.Colour!.Value)));
    }

    [Fact]
    public void Evaluate_Unchanged_KeepsThePreviousVersion_Changed_IsTheNext()
    {
        var node = Transformer();
        var first = StateOf(node, Point(0, 15, 300));
        Assert.Equal(1, first.Version);
        var loads = GridStateEvaluation.Loads(new CongestionForecast(node.Id, Day, [Point(0, 15, 300)], Midnight), Quarter);
        Assert.Same(first, GridStateEvaluation.Evaluate(node, Day, loads, Quarter, first, Midnight.AddHours(1)));
        var worse = GridStateEvaluation.Loads(new CongestionForecast(node.Id, Day, [Point(0, 15, 640)], Midnight), Quarter);
        var second = GridStateEvaluation.Evaluate(node, Day, worse, Quarter, first, Midnight.AddHours(1));
        Assert.Equal((2, GridStateColour.Red), (second.Version, Assert.Single(second.Intervals).Colour!.Value));
    }

    private static GridPathState Path(TimeWindow window, params GridStateDay[] path) => GridPathState.Of(window, Quarter, "tr1", path);

    private static readonly TimeWindow FirstHalfHour = new(Midnight, Midnight.AddMinutes(30));

    [Fact]
    public void PathState_TakesTheWorstColourOnThePathPerInterval()
    {
        var transformer = StateOf(Transformer(), Point(0, 30, 100));
        var feeder = StateOf(Transformer("fd1"), Point(15, 30, 550));
        var path = Path(FirstHalfHour, transformer, feeder);
        Assert.Equal([GridStateColour.Green, GridStateColour.Orange], path.Intervals.Select(i => i.Colour!.Value));
        Assert.Equal(GridStateColour.Orange, path.Worst);
        Assert.False(path.AllGreen);
    }

    [Fact]
    public void RequestProblem_GreenForTheWholeWindow_NeedsNoDsoMarket()
    {
        var green = Path(FirstHalfHour, StateOf(Transformer(), Point(0, 30, 100)));
        Assert.Equal("grid-green", green.RequestProblem("tr1")!.Rule);
    }

    [Fact]
    public void RequestProblem_GreenWithAnIntervalUnknown_IsAllowed()
    {
        var partly = Path(FirstHalfHour, StateOf(Transformer(), Point(0, 15, 100)));
        Assert.Null(partly.RequestProblem("tr1"));
        Assert.Null(Path(FirstHalfHour).RequestProblem("tr1"));
    }

    [Fact]
    public void RequestProblem_GreenAbove_ButTheNodeItselfUnknown_IsAllowed()
    {
        var feeder = StateOf(Transformer("fd1"), Point(0, 30, 100));
        Assert.Null(Path(FirstHalfHour, feeder).RequestProblem("tr1"));
        Assert.Equal("grid-green", Path(FirstHalfHour, feeder, StateOf(Transformer(), Point(0, 30, 100))).RequestProblem("tr1")!.Rule);
    }

    [Theory]
    [InlineData(450, null)]
    [InlineData(550, null)]
    [InlineData(640, "grid-red")]
    public void RequestProblem_YellowAndOrangeAdmit_RedSuspends(decimal kw, string? rule) =>
        Assert.Equal(rule, Path(FirstHalfHour, StateOf(Transformer(), Point(0, 15, 100), Point(15, 30, kw))).RequestProblem("tr1")?.Rule);

    private static ChargingStation Station(bool dynamic) =>
        new("st1", "cpo1", "tr1", Kw(22), "IT001", true) { DynamicConnection = dynamic };

    [Theory]
    [InlineData(100, false, null)]
    [InlineData(100, true, "grid-dynamic-connection")]
    [InlineData(450, false, null)]
    [InlineData(450, true, "grid-dynamic-connection")]
    [InlineData(550, false, null)]
    [InlineData(550, true, null)]
    [InlineData(640, false, "grid-red")]
    [InlineData(640, true, "grid-red")]
    public void RestrictionFor_OrangeAdmitsEveryone_DynamicConnectionsOnlyInOrange_RedNobody(decimal kw, bool dynamic, string? rule)
    {
        var path = Path(FirstHalfHour, StateOf(Transformer(), Point(0, 30, kw)));
        Assert.Equal(rule, path.RestrictionFor(Station(dynamic)).Problem("st1", FirstHalfHour)?.Rule);
    }

    [Fact]
    public void Restriction_StateProblem_SurvivesCombination_AndComesFirst()
    {
        var red = Path(FirstHalfHour, StateOf(Transformer(), Point(0, 30, 640))).RestrictionFor(Station(false));
        var refused = new GridRestriction(["dso1"], null, null);
        Assert.Equal("grid-red", refused.And(red).Problem("st1", FirstHalfHour)!.Rule);
        Assert.Equal("grid-red", red.And(GridRestriction.None).Problem("st1", FirstHalfHour)!.Rule);
        Assert.Null(GridRestriction.None.And(GridRestriction.None).StateProblem);
    }
}
