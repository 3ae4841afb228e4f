using FlexChain.Domain;

namespace FlexChain.Domain.Tests;

/// <summary>Bid forwarding: only with the CPO's consent, only what the DSO did not buy, only to an open TSO request.</summary>
public sealed class BidForwardingTests
{
    private static readonly DateTimeOffset T0 = Build.T0;

    private static readonly GridNode Substation = new("gn-hv", "tso1", "Terni HV/MV", Kilowatts.From(40_000)) { Kind = GridNodeKind.HvMvSubstation };

    private static FlexRequest TsoRequest() =>
        FlexRequest.Post("req-tso", "tso1", Substation, new TimeWindow(T0.AddHours(4), T0.AddHours(5)), KilowattHours.From(100), Direction.ReduceConsumption,
            EurosPerKilowattHour.From(0.5m), T0.AddHours(3), PricingRule.PayAsBid, T0, buyer: Role.Tso);

    private static Offer Local(bool consent = true) =>
        new("off-local", "req1", "cpo-a", ["st-a"], KilowattHours.From(5), EurosPerKilowattHour.From(0.3m), false, T0) { ForwardToTso = consent };

    private static OfferOutcome Lost => new("off-local", OfferOutcomeKind.RejectedNotNeeded, KilowattHours.Zero);

    [Fact]
    public void Forward_WithConsent_CarriesStationsVolumePriceAndWhereItCameFrom()
    {
        var forwarded = BidForwarding.Forward(Local(), Lost, TsoRequest(), "off-fwd", T0.AddHours(2));
        Assert.Equal(("off-fwd", "req-tso", "cpo-a", "off-local"), (forwarded.Id, forwarded.RequestId, forwarded.CpoId, forwarded.ForwardedFrom));
        Assert.Equal(["st-a"], forwarded.StationIds);
        Assert.Equal((KilowattHours.From(5), EurosPerKilowattHour.From(0.3m), false, T0.AddHours(2)), (forwarded.Energy, forwarded.Price, forwarded.Divisible, forwarded.SubmittedAt));
        Assert.False(forwarded.ForwardToTso);
    }

    [Fact]
    public void Forward_WithoutConsent_IsRefused()
    {
        var e = Assert.Throws<DomainException>(() => BidForwarding.Forward(Local(consent: false), Lost, TsoRequest(), "off-fwd", T0.AddHours(2)));
        Assert.Equal(("forwardToTso", "forward-consent"), (e.Field, e.Rule));
    }

    [Fact]
    public void Forward_AnOfferTheDsoBoughtPartly_IsRefused()
    {
        var partly = new OfferOutcome("off-local", OfferOutcomeKind.PartlyAccepted, KilowattHours.From(2));
        Assert.Equal("bought-locally", Assert.Throws<DomainException>(() => BidForwarding.Forward(Local(), partly, TsoRequest(), "off-fwd", T0.AddHours(2))).Rule);
    }

    [Fact]
    public void Forward_ToADsoRequest_OrAfterTheTsoGate_IsRefused()
    {
        Assert.Equal("tso-request", Assert.Throws<DomainException>(() => BidForwarding.Forward(Local(), Lost, Build.Request(), "off-fwd", T0)).Rule);
        Assert.Equal("gate-closed", Assert.Throws<DomainException>(() => BidForwarding.Forward(Local(), Lost, TsoRequest(), "off-fwd", T0.AddHours(3))).Rule);
    }

    [Fact]
    public void Forward_AnotherOffersOutcome_IsAProgrammingError() =>
        Assert.Throws<ArgumentException>(() => BidForwarding.Forward(Local(), Lost with { OfferId = "other" }, TsoRequest(), "off-fwd", T0.AddHours(2)));

    [Fact]
    public void AcceptOffer_ConsentToForwardOnATsoRequest_IsRefused()
    {
        var station = new ChargingStation("st-a", "cpo-a", "tr1", Kilowatts.From(22), "IT1", true);
        var offer = Local() with { RequestId = "req-tso" };
        var e = Assert.Throws<DomainException>(() => TsoRequest().AcceptOffer(offer, [station], Substation, null, T0, null, null));
        Assert.Equal(("forwardToTso", "dso-request"), (e.Field, e.Rule));
    }
}
