namespace FlexChain.Grid.Tests;

public class PowerFlowTests
{
    [Theory]
    [InlineData("case14", 14, 20)]
    [InlineData("case69", 69, 68)]
    [InlineData("case141", 141, 140)]
    public void Load_ShippedCase_HasMatpowersBusAndBranchCounts(string name, int buses, int branches)
    {
        var grid = MatpowerCase.Load(name);

        Assert.Equal(buses, grid.Buses.Count);
        Assert.Equal(branches, grid.Branches.Count);
        Assert.Single(grid.Buses, b => b.IsSlack);
    }

    [Fact]
    public void Load_Case69_ConvertsKilowattsAndOhmsAsTheCaseFileDoes()
    {
        var grid = MatpowerCase.Load("case69");

        Assert.Equal(10, grid.BaseMva);
        Assert.Equal(3.8021, grid.Buses.Sum(b => b.LoadMw), 9);    // 3802.1 kW in the table
        Assert.Equal(2.6947, grid.Buses.Sum(b => b.LoadMvar), 9);  // 2694.7 kVAr
        Assert.Equal(0.0005 / (12.66 * 12.66 / 10), grid.Branches[0].R, 12); // 0.0005 ohm on 12.66 kV, 10 MVA
        Assert.Equal(0.0012 / (12.66 * 12.66 / 10), grid.Branches[0].X, 12);
    }

    [Fact]
    public void Load_Case141_SplitsApparentPowerAtPowerFactor085()
    {
        var grid = MatpowerCase.Load("case141");

        Assert.Equal(14.0525 * 0.85, grid.Buses.Sum(b => b.LoadMw), 9);  // 14052.5 kVA in the table
        Assert.Equal(14.0525 * Math.Sin(Math.Acos(0.85)), grid.Buses.Sum(b => b.LoadMvar), 9);
    }

    [Fact]
    public void Load_Case14_KeepsPerUnitAndGeneration()
    {
        var grid = MatpowerCase.Load("case14");

        Assert.Equal(259.0, grid.Buses.Sum(b => b.LoadMw), 9);
        Assert.Equal(40, grid.Buses.Single(b => b.Id == 2).GenerationMw);
        Assert.Equal(0.05917, grid.Branches[0].X);
        Assert.Equal(0.978, grid.Branches[7].Tap);
        Assert.Equal(1, grid.Branches[0].Tap); // ratio 0 is a line
    }

    [Fact]
    public void Load_UnknownCase_Throws() => Assert.Throws<ArgumentException>(() => MatpowerCase.Load("case3"));

    // Bus 1 is the slack; x12 = 0.1, x13 = 0.2, x23 = 0.2. One MW injected at bus 2 splits over the direct path
    // (x 0.1) and the path through bus 3 (x 0.4) in inverse proportion: 0.8 and 0.2.
    internal static MatpowerCase Triangle() => new("triangle", 100,
        [new Bus(1, 3, 0, 0, 1.1, 0.9, 0), new Bus(2, 1, 0, 0, 1.1, 0.9, 0), new Bus(3, 1, 0, 0, 1.1, 0.9, 0)],
        [new Branch(1, 2, 0, 0.1, 0, 0), new Branch(1, 3, 0, 0.2, 0, 0), new Branch(2, 3, 0, 0.2, 0, 0)]);

    [Fact]
    public void Ptdf_ThreeBuses_MatchesHandComputedFactors()
    {
        var ptdf = new Ptdf(Triangle());

        Assert.Equal(-0.8, ptdf.Factor(0, 2), 12); // 1-2: 0.8 MW from 2 to 1
        Assert.Equal(-0.2, ptdf.Factor(1, 2), 12); // 1-3: 0.2 MW from 3 to 1
        Assert.Equal(0.2, ptdf.Factor(2, 2), 12);  // 2-3: 0.2 MW from 2 to 3
        Assert.Equal(-0.6, ptdf.Factor(1, 3), 12); // from bus 3: direct x 0.2 against x 0.3 through bus 2
        Assert.Equal(0, ptdf.Factor(0, 1));        // injected and withdrawn at the slack
    }

    [Fact]
    public void Ptdf_Flows_SuperposesInjectionsAndKeepsKirchhoff()
    {
        var flows = new Ptdf(Triangle()).Flows(new Dictionary<int, double> { [2] = 1, [3] = -1 });

        // By hand: +1 at 2 gives (-0.8, -0.2, 0.2); -1 at 3 gives (0.4, 0.6, 0.4).
        Assert.Equal(-0.4, flows[0], 12);
        Assert.Equal(0.4, flows[1], 12);
        Assert.Equal(0.6, flows[2], 12);
        Assert.Equal(1, -flows[0] + flows[2], 12); // what leaves bus 2 is what is injected there
    }

    [Fact]
    public void Ptdf_TapRatio_ScalesTheBranchReactance()
    {
        var grid = Triangle() with { Branches = [new Branch(1, 2, 0, 0.05, 0, 2), new Branch(1, 3, 0, 0.2, 0, 0), new Branch(2, 3, 0, 0.2, 0, 0)] };

        Assert.Equal(-0.8, new Ptdf(grid).Factor(0, 2), 12); // x tap = 0.1, as in the triangle
    }

    [Fact]
    public void Ptdf_DisconnectedBus_Throws()
    {
        var grid = Triangle() with { Branches = [new Branch(1, 2, 0, 0.1, 0, 0)] };

        Assert.Throws<ArgumentException>(() => new Ptdf(grid));
    }

    // Feeder 1-2-3 on 10 MVA, r = 0.01 and x = 0.02 p.u. per branch; bus 2 draws 1 MW + 0.5 MVAr, bus 3 2 MW + 1 MVAr.
    internal static MatpowerCase Feeder() => new("feeder", 10,
        [new Bus(1, 3, 0, 0, 1, 1, 0), new Bus(2, 1, 1, 0.5, 1.1, 0.9, 0), new Bus(3, 1, 2, 1, 1.1, 0.9, 0)],
        [new Branch(1, 2, 0.01, 0.02, 0, 0), new Branch(2, 3, 0.01, 0.02, 0, 0)]);

    [Fact]
    public void LinDistFlow_ThreeBusFeeder_MatchesHandFigures()
    {
        var grid = Feeder();
        var (flow, v) = new LinDistFlow(grid).Solve(grid.Buses.Select(b => b.LoadMw).ToList(), grid.Buses.Select(b => b.LoadMvar).ToList());

        Assert.Equal(3, flow[0], 12);   // both loads
        Assert.Equal(2, flow[1], 12);
        Assert.Equal(1, v[0], 12);
        Assert.Equal(0.988, v[1], 12);  // 1 - 2 (0.01 x 0.3 + 0.02 x 0.15)
        Assert.Equal(0.980, v[2], 12);  // 0.988 - 2 (0.01 x 0.2 + 0.02 x 0.1)
    }

    [Fact]
    public void LinDistFlow_VoltageSensitivity_CountsTheSharedPathOnly()
    {
        var feeder = new LinDistFlow(Feeder());

        Assert.Equal(-0.002, feeder.VoltageSquaredPerMw(3, 2), 12); // share branch 1-2: -2 x 0.01 / 10
        Assert.Equal(-0.004, feeder.VoltageSquaredPerMw(3, 3), 12);
        Assert.Equal(-0.002, feeder.VoltageSquaredPerMw(2, 3), 12);
    }

    [Fact]
    public void LinDistFlow_Tree_KnowsPathsAndSubtrees()
    {
        var feeder = new LinDistFlow(MatpowerCase.Load("case69"));

        Assert.Equal(1, feeder.Root);
        Assert.Equal(new[] { 1, 2, 3, 28 }, feeder.PathTo(28));
        Assert.True(feeder.IsBelow(35, 28));
        Assert.False(feeder.IsBelow(27, 28));
        Assert.Equal(69, feeder.BottomUp().Count(b => feeder.IsBelow(b, 1)));
        Assert.Equal(1, feeder.BottomUp().Last());
    }

    [Fact]
    public void LinDistFlow_MeshedGrid_Throws() => Assert.Throws<ArgumentException>(() => new LinDistFlow(Triangle()));
}

public class GridHierarchyTests
{
    private static readonly GridHierarchy Grid = new StudySettings().Hierarchy();

    [Fact]
    public void ImpactedOperators_DistributionBus_ConnectingDsoThenTso() =>
        Assert.Equal(new[] { "dso69", "tso" }, Grid.ImpactedOperators(new("dso69", 27)).Select(o => o.Id));

    [Fact]
    public void ImpactedOperators_TransmissionBus_TsoOnly() =>
        Assert.Equal(new[] { "tso" }, Grid.ImpactedOperators(new("tso", 3)).Select(o => o.Id));

    [Fact]
    public void TransmissionBusOf_Feeder_IsTheBusItHangsUnder()
    {
        Assert.Equal(14, Grid.TransmissionBusOf(new("dso69", 65)));
        Assert.Equal(9, Grid.TransmissionBusOf(new("dso141", 2)));
        Assert.Equal(3, Grid.TransmissionBusOf(new("tso", 3)));
    }

    [Fact]
    public void Constructor_FeederUnderAMissingBus_Throws()
    {
        var feeder = new LinDistFlow(PowerFlowTests.Feeder());

        Assert.Throws<ArgumentException>(() => new GridHierarchy(new GridOperator("tso", OperatorRole.Tso), new Ptdf(PowerFlowTests.Triangle()),
            [new DistributionArea(new GridOperator("dso", OperatorRole.Dso), feeder, 99)]));
    }

    [Fact]
    public void Constructor_DuplicateOperatorIds_Throws()
    {
        var feeder = new LinDistFlow(PowerFlowTests.Feeder());

        Assert.Throws<ArgumentException>(() => new GridHierarchy(new GridOperator("x", OperatorRole.Tso), new Ptdf(PowerFlowTests.Triangle()),
            [new DistributionArea(new GridOperator("x", OperatorRole.Dso), feeder, 3)]));
    }
}
