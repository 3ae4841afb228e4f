using FlexChain.Domain;

namespace FlexChain.Domain.Tests;

public sealed class GridTreeTests
{
    private static GridNode Node(string id, string op, Role role, GridNodeKind kind, GridNode? parent = null, Role parentRole = Role.Dso) =>
        GridNode.Register(id, op, role, id, Kilowatts.From(1000), kind, parent, parentRole);

    private static readonly GridNode Substation = Node("sub", "tso", Role.Tso, GridNodeKind.HvMvSubstation);

    [Fact]
    public void Register_UnderParent_RecordsParentAndAncestorsNearestFirst()
    {
        var feeder = Node("mv", "dso", Role.Dso, GridNodeKind.MvFeeder, Substation, Role.Tso);
        var transformer = Node("tr", "dso", Role.Dso, GridNodeKind.MvLvTransformer, feeder);
        var lv = Node("lv", "dso", Role.Dso, GridNodeKind.LvFeeder, transformer);
        Assert.Equal("tr", lv.ParentId);
        Assert.Equal(["tr", "mv", "sub"], lv.AncestorIds);
        Assert.Null(Substation.ParentId);
        Assert.Empty(Substation.AncestorIds);
    }

    [Fact]
    public void Register_SkippingALevel_IsAllowed()
    {
        var transformer = Node("tr", "dso", Role.Dso, GridNodeKind.MvLvTransformer, Substation, Role.Tso);
        Assert.Equal(["sub"], transformer.AncestorIds);
    }

    [Theory]
    [InlineData(GridNodeKind.MvFeeder, GridNodeKind.MvFeeder)]
    [InlineData(GridNodeKind.MvLvTransformer, GridNodeKind.MvFeeder)]
    [InlineData(GridNodeKind.LvFeeder, GridNodeKind.MvLvTransformer)]
    public void Register_NotBelowParentKind_IsRefused(GridNodeKind parentKind, GridNodeKind kind)
    {
        var parent = Node("p", "dso", Role.Dso, parentKind);
        var e = Assert.Throws<DomainException>(() => Node("c", "dso", Role.Dso, kind, parent));
        Assert.Equal(("kind", "kind-order"), (e.Field, e.Rule));
    }

    [Fact]
    public void Register_UnderAnotherDsosNode_IsRefusedAsOwnNode()
    {
        var other = Node("p", "dso-b", Role.Dso, GridNodeKind.MvFeeder);
        var e = Assert.Throws<DomainException>(() => Node("c", "dso-a", Role.Dso, GridNodeKind.MvLvTransformer, other, Role.Dso));
        Assert.Equal(("parentId", "own-node"), (e.Field, e.Rule));
    }

    [Fact]
    public void Register_TsoUnderAnotherTsosSubstation_IsRefused()
    {
        // A TSO registers only substations, and a substation cannot hang below a substation: kind-order comes first.
        var e = Assert.Throws<DomainException>(() => Node("c", "tso-b", Role.Tso, GridNodeKind.HvMvSubstation, Substation, Role.Tso));
        Assert.Equal("kind-order", e.Rule);
    }

    [Theory]
    [InlineData(GridNodeKind.MvFeeder)]
    [InlineData(GridNodeKind.MvLvTransformer)]
    [InlineData(GridNodeKind.LvFeeder)]
    public void Register_TsoBelowSubstationLevel_IsRefused(GridNodeKind kind)
    {
        var e = Assert.Throws<DomainException>(() => Node("c", "tso", Role.Tso, kind));
        Assert.Equal(("kind", "tso-kind"), (e.Field, e.Rule));
    }

    [Fact]
    public void Register_DsoSubstation_IsRefusedAsDsoKind()
    {
        // README: a TSO registers its HV/MV substations; a DSO its MvFeeder, MvLvTransformer and LvFeeder nodes.
        var root = Assert.Throws<DomainException>(() => Node("c", "dso", Role.Dso, GridNodeKind.HvMvSubstation));
        var below = Assert.Throws<DomainException>(() => Node("c", "dso", Role.Dso, GridNodeKind.HvMvSubstation, Substation, Role.Tso));
        Assert.Equal([("kind", "dso-kind"), ("kind", "dso-kind")], [(root.Field, root.Rule), (below.Field, below.Rule)]);
    }

    [Theory]
    [InlineData(GridNodeKind.MvFeeder)]
    [InlineData(GridNodeKind.MvLvTransformer)]
    [InlineData(GridNodeKind.LvFeeder)]
    public void Register_DsoRootBelowSubstationLevel_IsAllowed(GridNodeKind kind) =>
        Assert.Equal(kind, Node("c", "dso", Role.Dso, kind).Kind);

    [Fact]
    public void Register_ByCpo_Throws() =>
        Assert.Throws<ArgumentException>(() => Node("c", "cpo", Role.Cpo, GridNodeKind.MvLvTransformer));

    [Fact]
    public void Operators_StationBelowDsoUnderTso_ConnectingIsDsoAndTsoIsImpacted()
    {
        var feeder = Node("mv", "dso", Role.Dso, GridNodeKind.MvFeeder, Substation, Role.Tso);
        var transformer = Node("tr", "dso", Role.Dso, GridNodeKind.MvLvTransformer, feeder);
        var ops = GridOperators.Of(transformer, [feeder, Substation]);
        Assert.Equal("dso", ops.Connecting);
        Assert.Equal(["tso"], ops.Impacted);
        Assert.Equal(["dso", "tso"], ops.All);
    }

    [Fact]
    public void Operators_RootTransformer_HasNoImpactedOperator()
    {
        var transformer = Node("tr", "dso", Role.Dso, GridNodeKind.MvLvTransformer);
        Assert.Empty(GridOperators.Of(transformer, []).Impacted);
    }

    [Fact]
    public void Operators_WrongAncestors_Throws()
    {
        var transformer = Node("tr", "dso", Role.Dso, GridNodeKind.MvLvTransformer, Substation, Role.Tso);
        Assert.Throws<ArgumentException>(() => GridOperators.Of(transformer, []));
    }
}
