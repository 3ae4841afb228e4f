using FlexChain.Domain;

namespace FlexChain.Domain.Tests;

/// <summary>Bid forwarding: only with the CPO's consent, only what the DSO did not buy, only to an open TSO request.</summary>
public sealed class BidForwardingTests
{
    private static readonly DateTimeOffset T0 = Build.T0;

    private static readonly GridNode Substation = new("gn-hv", "tso1", "Terni HV/MV", Kilowatts.From(40_000)) { Kind = GridNodeKind.HvMvSubstation };

    /// <summary>The TSO's request, over [T0 + start h, T0 + start h + hours h) (the DSO's request, <see cref="Build.Request"/>, is over [T0 + 4 h, T0 + 5 h)).</summary>
    private static FlexRequest TsoRequest(double start = 4, double hours = 1) =>
        FlexRequest.Post("req-tso", "tso1", Substation, new TimeWindow(T0.AddHours(start), T0.AddHours(start + hours)), KilowattHours.From(100), Direction.ReduceConsumption,
            EurosPerKilowattHour.From(0.5m), T0.AddHours(3), PricingRule.PayAsBid, T0, buyer: Role.Tso);

    private static readonly FlexRequest Dso = Build.Request();

    private static Offer Local(bool consent = true) =>
        new("off-local", "req1", "cpo-a", ["st-a"], KilowattHours.From(5), EurosPerKilowattHour.From(0.3m), false, T0) { ForwardToTso = consent };

    private static OfferOutcome Lost => new("off-local", OfferOutcomeKind.RejectedNotNeeded, KilowattHours.Zero);

    [Fact]
    public void Forward_WithConsent_CarriesStationsVolumePriceAndWhereItCameFrom()
    {
        var forwarded = BidForwarding.Forward(Local(), Lost, Dso, TsoRequest(), "off-fwd", T0.AddHours(2));
        Assert.Equal(("off-fwd", "req-tso", "cpo-a", "off-local"), (forwarded.Id, forwarded.RequestId, forwarded.CpoId, forwarded.ForwardedFrom));
        Assert.Equal(["st-a"], forwarded.StationIds);
        Assert.Equal((KilowattHours.From(5), EurosPerKilowattHour.From(0.3m), false, T0.AddHours(2)), (forwarded.Energy, forwarded.Price, forwarded.Divisible, forwarded.SubmittedAt));
        Assert.False(forwarded.ForwardToTso);
        Assert.Null(forwarded.Profile);   // the same window: flat as it was
    }

    private static IReadOnlyList<decimal> Kw(Offer o) => o.Profile!.Select(k => k.Value).ToList();

    [Fact]
    public void Forward_ATsoWindowSharingHalfTheDsos_KeepsThePowerOfferedInTheSharedQuarters()
    {
        // 5 kWh over the DSO's hour is 5 kW; the TSO's window shares its last half hour.
        var forwarded = BidForwarding.Forward(Local(), Lost, Dso, TsoRequest(start: 4.5, hours: 1.5), "off-fwd", T0.AddHours(2));
        Assert.Equal([5m, 5m, 0m, 0m, 0m, 0m], Kw(forwarded));
        Assert.Equal(2.5m, forwarded.Energy.Value);
    }

    [Fact]
    public void Forward_AProfiledOffer_KeepsItsPowerQuarterByQuarter()
    {
        var profiled = Local() with { Profile = [Kilowatts.From(8), Kilowatts.From(0), Kilowatts.From(4), Kilowatts.From(0)], Energy = KilowattHours.From(3) };
        var forwarded = BidForwarding.Forward(profiled, Lost, Dso, TsoRequest(start: 3.5), "off-fwd", T0.AddHours(2));
        Assert.Equal([0m, 0m, 8m, 0m], Kw(forwarded));
        Assert.Equal(2m, forwarded.Energy.Value);
        Assert.Equal([8m, 0m, 4m, 0m], Kw(BidForwarding.Forward(profiled, Lost, Dso, TsoRequest(), "off-fwd", T0.AddHours(2))));
    }

    [Fact]
    public void Forward_NoPowerInTheTsoWindow_OrWindowsOnOtherQuarters_IsRefused()
    {
        var early = Local() with { Profile = [Kilowatts.From(20), Kilowatts.From(0), Kilowatts.From(0), Kilowatts.From(0)] };
        var none = Assert.Throws<DomainException>(() => BidForwarding.Forward(early, Lost, Dso, TsoRequest(start: 4.5), "off-fwd", T0.AddHours(2)));
        Assert.Equal(("requestId", "forward-window"), (none.Field, none.Rule));
        var skewed = Assert.Throws<DomainException>(() => BidForwarding.Forward(Local(), Lost, Dso, TsoRequest(start: 4 + 5 / 60.0), "off-fwd", T0.AddHours(2)));
        Assert.Equal(("requestId", "forward-window"), (skewed.Field, skewed.Rule));
    }

    [Fact]
    public void Forward_WithoutConsent_IsRefused()
    {
        var e = Assert.Throws<DomainException>(() => BidForwarding.Forward(Local(consent: false), Lost, Dso, TsoRequest(), "off-fwd", T0.AddHours(2)));
        Assert.Equal(("forwardToTso", "forward-consent"), (e.Field, e.Rule));
    }

    [Fact]
    public void Forward_AnOfferTheDsoBoughtPartly_IsRefused()
    {
        var partly = new OfferOutcome("off-local", OfferOutcomeKind.PartlyAccepted, KilowattHours.From(2));
        Assert.Equal("bought-locally", Assert.Throws<DomainException>(() => BidForwarding.Forward(Local(), partly, Dso, TsoRequest(), "off-fwd", T0.AddHours(2))).Rule);
    }

    [Fact]
    public void Forward_ToADsoRequest_OrAfterTheTsoGate_IsRefused()
    {
        Assert.Equal("tso-request", Assert.Throws<DomainException>(() => BidForwarding.Forward(Local(), Lost, Dso, Build.Request(), "off-fwd", T0)).Rule);
        Assert.Equal("gate-closed", Assert.Throws<DomainException>(() => BidForwarding.Forward(Local(), Lost, Dso, TsoRequest(), "off-fwd", T0.AddHours(3))).Rule);
    }

    [Fact]
    public void Forward_AnotherOffersOutcome_IsAProgrammingError() =>
        Assert.Throws<ArgumentException>(() => BidForwarding.Forward(Local(), Lost with { OfferId = "other" }, Dso, TsoRequest(), "off-fwd", T0.AddHours(2)));

    [Fact]
    public void AcceptOffer_ConsentToForwardOnATsoRequest_IsRefused()
    {
        var station = new ChargingStation("st-a", "cpo-a", "tr1", Kilowatts.From(22), "IT1", true);
        var offer = Local() with { RequestId = "req-tso" };
        var e = Assert.Throws<DomainException>(() => TsoRequest().AcceptOffer(offer, [station], Substation, null, T0, null, null));
        Assert.Equal(("forwardToTso", "dso-request"), (e.Field, e.Rule));
    }
}
