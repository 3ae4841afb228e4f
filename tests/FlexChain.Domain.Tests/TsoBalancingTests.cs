using FlexChain.Domain;

namespace FlexChain.Domain.Tests;

/// <summary>A TSO's balancing request: posted on its own HV/MV substation, drawing on the stations below it in any DSO's grid.</summary>
public sealed class TsoBalancingTests
{
    private static readonly DateTimeOffset T0 = Build.T0;

    private static readonly GridNode Substation = new("gn-hv", "tso1", "Terni HV/MV", Kilowatts.From(40_000)) { Kind = GridNodeKind.HvMvSubstation };
    private static readonly GridNode Elsewhere = new("gn-hv2", "tso1", "Spoleto HV/MV", Kilowatts.From(40_000)) { Kind = GridNodeKind.HvMvSubstation };

    // Two DSOs' transformers below the TSO's substation, one DSO's transformer below another substation.
    private static readonly GridNode Tr1 = new("tr1", "dso1", "Terni Nord 3", Kilowatts.From(630)) { ParentId = "gn-hv", AncestorIds = ["gn-hv"] };
    private static readonly GridNode Tr2 = new("tr2", "dso2", "Narni 1", Kilowatts.From(400)) { ParentId = "fd2", AncestorIds = ["fd2", "gn-hv"] };
    private static readonly GridNode Tr3 = new("tr3", "dso2", "Spoleto 4", Kilowatts.From(400)) { ParentId = "gn-hv2", AncestorIds = ["gn-hv2"] };

    private static PrequalificationRequirements Requirements(string dso) => new(dso, null, Kilowatts.From(3.7m), true, TimeSpan.FromDays(30), 1, T0);

    private static ChargingStation Station(string id, GridNode transformer, string? qualifiedWith = null) =>
        new ChargingStation(id, "cpo-a", transformer.Id, Kilowatts.From(22), "IT-" + id, true) { UpdatedAt = T0 }
            with { Qualification = new Qualification(QualificationStatus.Qualified, qualifiedWith ?? transformer.OperatorId, [], T0, T0.AddDays(30), 1, 1) };

    private static Dictionary<string, StationSite> Sites(params ChargingStation[] stations) =>
        stations.ToDictionary(s => s.Id, s => new StationSite(new[] { Tr1, Tr2, Tr3 }.Single(t => t.Id == s.TransformerId), Requirements(new[] { Tr1, Tr2, Tr3 }.Single(t => t.Id == s.TransformerId).OperatorId)));

    private static FlexRequest Post(GridNode node, string buyerId = "tso1", Role buyer = Role.Tso) =>
        FlexRequest.Post("req1", buyerId, node, new TimeWindow(T0.AddHours(4), T0.AddHours(5)), KilowattHours.From(1000), Direction.ReduceConsumption,
            EurosPerKilowattHour.From(0.5m), T0.AddHours(1), PricingRule.PayAsBid, T0, minimumOfferEnergy: KilowattHours.From(10), buyer: buyer);

    private static Offer OfferOf(params ChargingStation[] stations) =>
        new("off1", "req1", "cpo-a", stations.Select(s => s.Id).ToList(), KilowattHours.From(20), EurosPerKilowattHour.From(0.2m), true, T0);

    [Fact]
    public void Post_TsoOnItsSubstation_IsABalancingRequest()
    {
        var request = Post(Substation);
        Assert.Equal(Role.Tso, request.Buyer);
        Assert.Equal("gn-hv", request.TransformerId);
        Assert.Equal("tso1", request.DsoId);
        Assert.Equal(Role.Dso, Build.Request().Buyer);
    }

    [Fact]
    public void Post_TsoOnAnotherOperatorsSubstation_IsRefusedAsNotOwn()
    {
        var e = Assert.Throws<DomainException>(() => Post(Substation, buyerId: "tso2"));
        Assert.Equal(("transformerId", "own-transformer"), (e.Field, e.Rule));
    }

    [Fact]
    public void Post_TsoOnATransformer_IsRefusedByKind()
    {
        var own = Tr1 with { OperatorId = "tso1" };
        Assert.Equal(("transformerId", "node-kind"), Rule(() => Post(own)));
    }

    [Fact]
    public void Post_DsoOnASubstation_IsRefused_ADsoCannotPostABalancingRequest()
    {
        var dsoSubstation = Substation with { OperatorId = "dso1" };
        Assert.Equal(("transformerId", "node-kind"), Rule(() => Post(dsoSubstation, buyerId: "dso1", buyer: Role.Dso)));
    }

    [Fact]
    public void Post_ByACpo_IsAProgrammingError() =>
        Assert.Throws<ArgumentException>(() => Post(Substation, buyer: Role.Cpo));

    [Fact]
    public void AcceptOffer_StationsBelowTheSubstationInTwoDsosGrids_AreAccepted()
    {
        var a = Station("st-a", Tr1);
        var b = Station("st-b", Tr2);
        Post(Substation).AcceptOffer(OfferOf(a, b), [a, b], Substation, null, T0, null, Sites(a, b));
    }

    [Fact]
    public void AcceptOffer_StationBelowAnotherSubstation_IsRefused()
    {
        var c = Station("st-c", Tr3);
        var e = Assert.Throws<DomainException>(() => Post(Substation).AcceptOffer(OfferOf(c), [c], Substation, null, T0, null, Sites(c)));
        Assert.Equal(("stationIds", "qualified"), (e.Field, e.Rule));
        Assert.Contains("not in the grid below", e.Message);
        Post(Elsewhere).AcceptOffer(OfferOf(c), [c], Elsewhere, null, T0, null, Sites(c));
    }

    [Fact]
    public void AcceptOffer_StationWithoutSite_IsRefused()
    {
        var a = Station("st-a", Tr1);
        Assert.Contains("not in the grid below", Assert.Throws<DomainException>(() => Post(Substation).AcceptOffer(OfferOf(a), [a], Substation, null, T0, null, null)).Message);
    }

    [Fact]
    public void AcceptOffer_StationNotQualifiedWithItsOwnDso_IsRefused()
    {
        var b = Station("st-b", Tr2, qualifiedWith: "dso1");
        var e = Assert.Throws<DomainException>(() => Post(Substation).AcceptOffer(OfferOf(b), [b], Substation, null, T0, null, Sites(b)));
        Assert.Equal(("stationIds", "qualified"), (e.Field, e.Rule));
        Assert.Contains("dso2", e.Message);
    }

    [Fact]
    public void ToClearingRequest_KeepsOnlyEligibleStationsBelowTheSubstation()
    {
        var a = Station("st-a", Tr1);
        var b = Station("st-b", Tr2) with { DeactivatedAt = T0 };
        var c = Station("st-c", Tr3);
        var eligible = Post(Substation).ToClearingRequest([a, b, c], Substation, null, T0, null, null, Sites(a, b, c)).QualifiedStationIds!;
        Assert.Equal(["st-a"], eligible.Order());
    }

    private static (string, string) Rule(Action act)
    {
        var e = Assert.Throws<DomainException>(act);
        return (e.Field, e.Rule);
    }
}
