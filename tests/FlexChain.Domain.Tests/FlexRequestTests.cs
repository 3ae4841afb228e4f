using FlexChain.Domain;
using static FlexChain.Domain.Tests.Build;

namespace FlexChain.Domain.Tests;

public class FlexRequestTests
{
    private static readonly PrequalificationRequirements Requirements =
        new("dso1", null, Kilowatts.From(3.7m), MonitoringRequired: true, TimeSpan.FromDays(30), Version: 1, T0.AddDays(-1));

    /// <summary>A station prequalified by dso1 (requirements version 1) until <paramref name="qualifiedUntil"/> (default T0 + 29 days).</summary>
    private static ChargingStation Station(
        string cpo = "cpo-a", string transformer = "tr1", bool monitoring = true, decimal kw = 22, DateTimeOffset? qualifiedUntil = null) =>
        new ChargingStation("st-a", cpo, transformer, Kilowatts.From(kw), "IT001E0001", monitoring)
        {
            Qualification = new(QualificationStatus.Qualified, "dso1", [], T0.AddDays(-1), qualifiedUntil ?? T0.AddDays(29), RequirementsVersion: 1, StationVersion: 1),
        };

    [Fact]
    public void Post_OnAnotherDsosTransformer_Throws()
    {
        var e = Assert.Throws<DomainException>(() => FlexRequest.Post("r", "dso2", Grid,
            new TimeWindow(T0.AddHours(4), T0.AddHours(5)), KilowattHours.From(1), Direction.ReduceConsumption,
            EurosPerKilowattHour.From(1), T0.AddHours(1), PricingRule.PayAsBid, T0));
        Assert.Equal("own-transformer", e.Rule);
    }

    [Theory]
    [InlineData(5, "profile-energy")]   // 4, 4, 4, 4 kW for a quarter hour each is 4 kWh, not 5
    [InlineData(4, null)]
    public void Post_WithProfile_EnergyMustBeItsSum(decimal kwh, string? rule)
    {
        FlexRequest Post() => FlexRequest.Post("r", "dso1", Grid, new TimeWindow(T0.AddHours(4), T0.AddHours(5)), KilowattHours.From(kwh), Direction.ReduceConsumption,
            EurosPerKilowattHour.From(1), T0.AddHours(1), PricingRule.PayAsBid, T0, profile: [Kilowatts.From(4), Kilowatts.From(4), Kilowatts.From(4), Kilowatts.From(4)]);

        if (rule is null) Assert.Equal(4, Post().Profile!.Count);
        else Assert.Equal(rule, Assert.Throws<DomainException>(Post).Rule);
    }

    [Fact]
    public void AcceptOffer_ProfileAboveItsStationsPowerInOneInterval_ThrowsPhysicalLimit()
    {
        var r = Request();
        var offer = Offer("a", 6, 0.1m, cpo: "cpo-a") with { Profile = [Kilowatts.From(23), Kilowatts.From(1), Kilowatts.From(0), Kilowatts.From(0)] };

        var e = Assert.Throws<DomainException>(() => r.AcceptOffer(offer, [Station()], Grid, Requirements, T0));
        Assert.Equal(("profileKw", "physical-limit"), (e.Field, e.Rule));
    }

    [Fact]
    public void Post_GateClosureAfterDeliveryStart_Throws()
    {
        var e = Assert.Throws<DomainException>(() => FlexRequest.Post("r", "dso1", Grid,
            new TimeWindow(T0.AddHours(4), T0.AddHours(5)), KilowattHours.From(1), Direction.ReduceConsumption,
            EurosPerKilowattHour.From(1), T0.AddHours(4.5), PricingRule.PayAsBid, T0));
        Assert.Equal("gateClosure", e.Field);
    }

    private static FlexRequest RequestClosingAt(DateTimeOffset gateClosure) =>
        FlexRequest.Post("r", "dso1", Grid, new TimeWindow(T0.AddHours(4), T0.AddHours(5)), KilowattHours.From(1), Direction.ReduceConsumption,
            EurosPerKilowattHour.From(1), gateClosure, PricingRule.PayAsBid, T0);

    [Fact]
    public void RequireLeadTime_GateRoundedUpToDeliveryStart_ThrowsNamingLatestGateClosure()
    {
        // 11:58 belongs to the cycle closing at 12:00, when delivery starts: no time left to activate the winners.
        var r = RequestClosingAt(T0.AddHours(4).AddMinutes(-2));
        var e = Assert.Throws<DomainException>(() => r.RequireLeadTime(TimeSpan.FromMinutes(15), TimeSpan.FromMinutes(5)));
        Assert.Equal(("gateClosure", "lead-time"), (e.Field, e.Rule));
        Assert.Contains($"{T0.AddHours(4).AddMinutes(-15):O} or earlier", e.Message);
    }

    [Fact]
    public void RequireLeadTime_CycleClosingLeadTimeBeforeDelivery_Passes()
    {
        RequestClosingAt(T0.AddHours(4).AddMinutes(-20)).RequireLeadTime(TimeSpan.FromMinutes(15), TimeSpan.FromMinutes(5));
        RequestClosingAt(T0.AddHours(4).AddSeconds(-30)).RequireLeadTime(TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(30));
        Assert.Throws<DomainException>(() => RequestClosingAt(T0.AddHours(4).AddSeconds(-30)).RequireLeadTime(TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(31)));
    }

    [Fact]
    public void AcceptOffer_AfterGateClosure_Throws()
    {
        var r = Request();
        var e = Assert.Throws<DomainException>(() => r.AcceptOffer(Offer("a", 1, 0.1m, cpo: "cpo-a"), [Station()], Grid, Requirements, r.GateClosure));
        Assert.Equal("gate-closed", e.Rule);
        Assert.Contains($"closed at {r.GateClosure:O}", e.Message);
        var cancel = Assert.Throws<DomainException>(() => r.Cancel(r.DsoId, r.GateClosure.AddSeconds(1)));
        Assert.Contains($"closed at {r.GateClosure:O}", cancel.Message);
    }

    [Fact]
    public void AcceptOffer_StationBehindOtherTransformerOrUnmonitored_Throws()
    {
        var r = Request();
        Assert.Equal("qualified", Assert.Throws<DomainException>(() => r.AcceptOffer(Offer("a", 1, 0.1m, cpo: "cpo-a"), [Station(transformer: "tr9")], Grid, Requirements, T0)).Rule);
        Assert.Equal("qualified", Assert.Throws<DomainException>(() => r.AcceptOffer(Offer("a", 1, 0.1m, cpo: "cpo-a"), [Station(monitoring: false)], Grid, Requirements, T0)).Rule);
        Assert.Equal("own-station", Assert.Throws<DomainException>(() => r.AcceptOffer(Offer("a", 1, 0.1m, cpo: "cpo-b"), [Station()], Grid, Requirements, T0)).Rule);
    }

    [Fact]
    public void AcceptOffer_StationNotPrequalifiedOrQualificationExpired_ThrowsQualified()
    {
        var r = Request();
        Assert.Equal("qualified", Assert.Throws<DomainException>(() =>
            r.AcceptOffer(Offer("a", 1, 0.1m, cpo: "cpo-a"), [Station() with { Qualification = null }], Grid, Requirements, T0)).Rule);
        Assert.Equal("qualified", Assert.Throws<DomainException>(() =>
            r.AcceptOffer(Offer("a", 1, 0.1m, cpo: "cpo-a"), [Station(qualifiedUntil: T0)], Grid, Requirements, T0)).Rule);
        Assert.Equal("qualified", Assert.Throws<DomainException>(() =>
            r.AcceptOffer(Offer("a", 1, 0.1m, cpo: "cpo-a"), [Station() with { DeactivatedAt = T0 }], Grid, Requirements, T0)).Rule);
    }

    [Fact]
    public void ToClearingRequest_StationDeactivatedOrQualificationExpiredSinceOffering_OfferRejectedNotEligible()
    {
        // All three offers were accepted at T0; by gate closure one station is deactivated and one qualification expired.
        var r = Request(kwh: 3);
        var offers = new[] { Offer("a", 1, 0.1m), Offer("b", 1, 0.1m), Offer("c", 1, 0.1m) };
        var stations = new[]
        {
            Station(cpo: "cpo-a") with { Id = "st-a" },
            Station(cpo: "cpo-b") with { Id = "st-b", DeactivatedAt = T0.AddMinutes(30) },
            Station(cpo: "cpo-c", qualifiedUntil: T0.AddMinutes(30)) with { Id = "st-c" },
        };

        var result = Cycle.ClearAlone(r.ToClearingRequest(stations, Grid, Requirements, r.GateClosure), offers);

        Assert.Equal("a", Assert.Single(result.Awards).OfferId);
        Assert.Equal(OfferOutcomeKind.RejectedNotEligible, result.Outcomes.Single(o => o.OfferId == "b").Kind);
        Assert.Equal(OfferOutcomeKind.RejectedNotEligible, result.Outcomes.Single(o => o.OfferId == "c").Kind);
    }

    [Fact]
    public void ToClearingRequest_RequirementsChangedSinceQualification_ChecksStationsAgainstTheNewOnes()
    {
        // Version 2 raises the minimum to 11 kW: the 22 kW station still qualifies, the 7 kW one no longer does.
        var r = Request(kwh: 2);
        var raised = Requirements with { MinimumPower = Kilowatts.From(11), Version = 2 };
        var stations = new[] { Station(cpo: "cpo-a") with { Id = "st-a" }, Station(cpo: "cpo-b", kw: 7) with { Id = "st-b" } };

        var result = Cycle.ClearAlone(r.ToClearingRequest(stations, Grid, raised, r.GateClosure), [Offer("a", 1, 0.1m), Offer("b", 1, 0.1m)]);

        Assert.Equal("a", Assert.Single(result.Awards).OfferId);
        Assert.Equal(OfferOutcomeKind.RejectedNotEligible, result.Outcomes.Single(o => o.OfferId == "b").Kind);
    }

    [Fact]
    public void ToClearingRequest_RemainingNeedBelowMinimum_DivisibleOfferNotCut()
    {
        // 10 kWh wanted, offers of at least 3 kWh: after 9 kWh the 1 kWh left is below the minimum, so "b" is not cut to it.
        var r = FlexRequest.Post("req1", "dso1", Grid, new TimeWindow(T0.AddHours(4), T0.AddHours(5)), KilowattHours.From(10),
            Direction.ReduceConsumption, EurosPerKilowattHour.From(0.5m), T0.AddHours(1), PricingRule.PayAsBid, T0, minimumOfferEnergy: KilowattHours.From(3));

        var result = Cycle.ClearAlone(r.ToClearingRequest(), [Offer("a", 9, 0.1m), Offer("b", 5, 0.2m)]);

        Assert.Equal("a", Assert.Single(result.Awards).OfferId);
        var b = result.Outcomes.Single(o => o.OfferId == "b");
        Assert.Equal(OfferOutcomeKind.RejectedNotNeeded, b.Kind);
        Assert.Contains("minimum", b.Detail);
    }

    [Theory]
    [InlineData(Direction.ReduceConsumption, Direction.IncreaseConsumption)]
    [InlineData(Direction.IncreaseConsumption, Direction.ReduceConsumption)]
    public void AcceptOffer_OtherDirectionThanRequest_ThrowsDirection(Direction request, Direction offer)
    {
        var r = Request(direction: request);
        var e = Assert.Throws<DomainException>(() => r.AcceptOffer(Offer("a", 1, 0.1m, cpo: "cpo-a") with { Direction = offer }, [Station()], Grid, Requirements, T0));
        Assert.Equal(("direction", "direction"), (e.Field, e.Rule));
        Assert.Contains(request.ToString(), e.Message);
        r.AcceptOffer(Offer("a", 1, 0.1m, cpo: "cpo-a") with { Direction = request }, [Station()], Grid, Requirements, T0);
    }

    [Fact]
    public void AcceptOffer_NoDirectionGiven_ReducesLikeARequestWithout()
    {
        // Bodies from before directions: both default to a reduction and match.
        Assert.Equal(Direction.ReduceConsumption, Offer("a", 1, 0.1m).Direction);
        Request().AcceptOffer(Offer("a", 1, 0.1m, cpo: "cpo-a"), [Station()], Grid, Requirements, T0);
        Assert.Equal(Direction.IncreaseConsumption, Request(direction: Direction.IncreaseConsumption).ToClearingRequest().Direction);
    }

    [Fact]
    public void AcceptOffer_OverPriceCap_Throws()
    {
        var r = Request(cap: 0.2m);
        Assert.Equal("price-cap", Assert.Throws<DomainException>(() => r.AcceptOffer(Offer("a", 1, 0.3m, cpo: "cpo-a"), [Station()], Grid, Requirements, T0)).Rule);
    }

    [Fact]
    public void AcceptOffer_EnergyAboveStationsPowerTimesWindow_ThrowsPhysicalLimit()
    {
        // A 7 kW station can shift at most 7 kWh in the one-hour window, not 50.
        var r = Request(kwh: 50);
        var e = Assert.Throws<DomainException>(() => r.AcceptOffer(Offer("a", 50, 0.1m, cpo: "cpo-a"), [Station(kw: 7)], Grid, Requirements, T0));
        Assert.Equal(("energyKwh", "physical-limit"), (e.Field, e.Rule));
        Assert.Contains("at most 7 kWh", e.Message);
    }

    [Fact]
    public void AcceptOffer_EnergyEqualToStationsPowerTimesWindow_IsAccepted()
    {
        // Two stations add up: 7 kW + 3.5 kW over one hour is 10.5 kWh.
        var r = Request(kwh: 50);
        r.AcceptOffer(Offer("a", 10.5m, 0.1m, cpo: "cpo-a"), [Station(kw: 7), Station(kw: 3.5m) with { Id = "st-b" }], Grid, Requirements, T0);
        Assert.Equal("physical-limit", Assert.Throws<DomainException>(() =>
            r.AcceptOffer(Offer("a", 10.501m, 0.1m, cpo: "cpo-a"), [Station(kw: 7), Station(kw: 3.5m) with { Id = "st-b" }], Grid, Requirements, T0)).Rule);
    }

    [Fact]
    public void Lifecycle_HappyPath_ReachesSettled()
    {
        var r = Request();
        r.Close(Cycle.ClearAlone(r.ToClearingRequest(), [Offer("a", 10, 0.1m)]), r.GateClosure);
        Assert.Equal(RequestState.Cleared, r.State);
        r.MarkAwarded();
        Assert.Equal(r.Delivery.End.AddMinutes(5), r.NextStepAt(TimeSpan.FromMinutes(5)));
        r.Verify(new DeliveryEvidence([]), r.Delivery.End);
        Assert.Equal(RequestState.Settling, r.State);
        r.MarkSettled();
        Assert.Equal(RequestState.Settled, r.State);
        Assert.Null(r.NextStepAt(TimeSpan.Zero));
    }

    [Fact]
    public void FailFunding_FromCleared_IsTerminalWithItsReason()
    {
        var r = Request();
        Assert.Equal("illegal-transition", Assert.Throws<DomainException>(() => r.FailFunding("allowance")).Rule); // Open
        r.Close(Cycle.ClearAlone(r.ToClearingRequest(), [Offer("a", 10, 0.1m)]), r.GateClosure);
        Assert.Null(r.StateReason);
        Assert.Throws<ArgumentException>(() => r.FailFunding(" "));

        r.FailFunding("allowance: the DSO's wallet allows the escrow 0 token units, the lock needs 1000000");

        Assert.Equal(RequestState.FundingFailed, r.State);
        Assert.StartsWith("allowance:", r.StateReason, StringComparison.Ordinal);
        Assert.Null(r.NextStepAt(TimeSpan.Zero));
        Assert.Throws<DomainException>(r.MarkAwarded);
        Assert.Throws<DomainException>(() => r.FailFunding("again"));
        Assert.Throws<DomainException>(() => r.MarkUnpaid("refunded"));
    }

    [Fact]
    public void MarkUnpaid_FromAwardedOrSettling_IsTerminalWithItsReason_NeverAfterSettled()
    {
        var awarded = Request();
        awarded.Close(Cycle.ClearAlone(awarded.ToClearingRequest(), [Offer("a", 10, 0.1m)]), awarded.GateClosure);
        Assert.Equal("illegal-transition", Assert.Throws<DomainException>(() => awarded.MarkUnpaid("refunded")).Rule); // Cleared
        awarded.MarkAwarded();
        awarded.MarkUnpaid("refunded in 0xabc");
        Assert.Equal((RequestState.Unpaid, "refunded in 0xabc"), (awarded.State, awarded.StateReason));
        Assert.Null(awarded.NextStepAt(TimeSpan.Zero));
        Assert.Throws<DomainException>(() => awarded.Verify(new DeliveryEvidence([]), awarded.Delivery.End));

        var settling = Request();
        settling.Close(Cycle.ClearAlone(settling.ToClearingRequest(), [Offer("a", 10, 0.1m)]), settling.GateClosure);
        settling.MarkAwarded();
        settling.Verify(new DeliveryEvidence([]), settling.Delivery.End);
        settling.MarkUnpaid("refunded");
        Assert.Equal(RequestState.Unpaid, settling.State);
        Assert.Throws<DomainException>(settling.MarkSettled);

        var settled = Request();
        settled.Close(Cycle.ClearAlone(settled.ToClearingRequest(), [Offer("a", 10, 0.1m)]), settled.GateClosure);
        settled.MarkAwarded();
        settled.Verify(new DeliveryEvidence([]), settled.Delivery.End);
        settled.MarkSettled();
        Assert.Throws<DomainException>(() => settled.MarkUnpaid("refunded"));
        Assert.Null(settled.StateReason);
    }

    [Theory]
    // 10 kWh awarded whole at 0.25 (value 2.5) against a 20 kWh baseline. 90 % delivered: verified energy 2.25, the award
    // 2.5, score 1 -> 2.5. 50 % delivered: below the 80 % threshold nothing, except by score 0.5 x 2.5 = 1.25.
    // Paid pro rata below the threshold is its own outcome, not a failure: no failure reason is reported for it.
    [InlineData(PayoutRule.ZeroBelowThreshold, 2.75, 2.25, DeliveryOutcome.Delivered)]
    [InlineData(PayoutRule.Full, 2.75, 2.5, DeliveryOutcome.Delivered)]
    [InlineData(PayoutRule.ProRataByScore, 2.75, 2.5, DeliveryOutcome.Delivered)]
    [InlineData(PayoutRule.ZeroBelowThreshold, 3.75, 0, DeliveryOutcome.NotDelivered)]
    [InlineData(PayoutRule.Full, 3.75, 0, DeliveryOutcome.NotDelivered)]
    [InlineData(PayoutRule.ProRataByScore, 3.75, 1.25, DeliveryOutcome.PaidProRata)]
    [InlineData(PayoutRule.ProRataByScore, 5, 0, DeliveryOutcome.NotDelivered)]
    public void Verify_IndivisibleAward_IsPaidByTheSameRuleAsADivisibleOne(PayoutRule rule, decimal kwhPerQuarter, decimal payout, DeliveryOutcome outcome)
    {
        foreach (var divisible in new[] { false, true })
        {
            var r = Request(verification: VerificationRules.Default with { Payout = rule });
            r.Close(Cycle.ClearAlone(r.ToClearingRequest(), [Offer("a", 10, 0.25m, divisible: divisible)]), r.GateClosure);
            r.MarkAwarded();
            var readings = Enumerable.Range(-4, 8).Select(q => new MeterReading("st-a",
                new TimeWindow(r.Delivery.Start.AddMinutes(15 * q), r.Delivery.Start.AddMinutes(15 * (q + 1))), KilowattHours.From(q < 0 ? 5m : kwhPerQuarter))).ToList();
            r.Verify(new DeliveryEvidence(readings), r.Delivery.End);
            Assert.Equal(KilowattHours.From(10), r.Awards.Single().Energy);
            Assert.Equal(new Euros(payout), r.Verifications.Single().Payout);
            Assert.Equal(outcome, r.Verifications.Single().Outcome);
        }
    }

    [Fact]
    public void Close_NoOffers_IsUnfilledWithNothingToCount()
    {
        var r = Request();
        Assert.Null(r.Fill());
        r.Close(Cycle.ClearAlone(r.ToClearingRequest(), []), r.GateClosure);
        Assert.Equal(RequestState.Unfilled, r.State);
        Assert.Equal(new RequestFill(FillKind.Unfilled, KilowattHours.Zero, KilowattHours.From(10), []), r.Fill());
        Assert.Null(r.NextStepAt(TimeSpan.Zero));
    }

    [Fact]
    public void Close_CoveredExactly_IsFilled()
    {
        var r = Request(kwh: 10);
        r.Close(Cycle.ClearAlone(r.ToClearingRequest(), [Offer("a", 6, 0.1m), Offer("b", 4, 0.2m), Offer("c", 5, 0.3m), Offer("d", 5, 0.9m)]), r.GateClosure);
        Assert.Equal(RequestState.Cleared, r.State);
        Assert.Equal(new RequestFill(FillKind.Filled, KilowattHours.From(10), KilowattHours.Zero,
            [new(OfferOutcomeKind.RejectedOverPriceCap, 1), new(OfferOutcomeKind.RejectedNotNeeded, 1)]), r.Fill());
    }

    [Fact]
    public void Close_EligibleOffersLosingCapacityConflicts_ArePartlyFilledOrUnfilledNotFailed()
    {
        // req1 closes first and takes station st-x; req2's offers on st-x are eligible but lose the conflict.
        var first = Request(kwh: 10);
        var second = FlexRequest.Post("req2", "dso1", Grid, first.Delivery, KilowattHours.From(10), Direction.ReduceConsumption,
            EurosPerKilowattHour.From(0.5m), T0.AddHours(2), PricingRule.PayAsBid, T0);
        var third = FlexRequest.Post("req3", "dso1", Grid, first.Delivery, KilowattHours.From(10), Direction.ReduceConsumption,
            EurosPerKilowattHour.From(0.5m), T0.AddHours(3), PricingRule.PayAsBid, T0);
        Offer On(string request, string id, decimal kwh, string station) =>
            new(id, request, "cpo-" + id, [station], KilowattHours.From(kwh), EurosPerKilowattHour.From(0.1m), true, T0);
        var result = ClearingEngine.Clear([first.ToClearingRequest(), second.ToClearingRequest(), third.ToClearingRequest()],
            [On("req1", "a", 10, "st-x"), On("req2", "b", 10, "st-x"), On("req2", "c", 3.5m, "st-y"), On("req3", "d", 10, "st-x"), On("req3", "e", 2, "st-y")]);
        first.Close(result.For("req1"), first.GateClosure);
        second.Close(result.For("req2"), second.GateClosure);
        third.Close(result.For("req3"), third.GateClosure);

        Assert.Equal(FillKind.Filled, first.Fill()!.Kind);
        Assert.Equal(RequestState.Cleared, second.State);
        Assert.Equal(new RequestFill(FillKind.PartlyFilled, KilowattHours.From(3.5m), KilowattHours.From(6.5m),
            [new(OfferOutcomeKind.RejectedCapacityConflict, 1)]), second.Fill());
        Assert.Equal(RequestState.Unfilled, third.State);
        Assert.Equal(new RequestFill(FillKind.Unfilled, KilowattHours.Zero, KilowattHours.From(10),
            [new(OfferOutcomeKind.RejectedCapacityConflict, 2)]), third.Fill());
    }

    [Fact]
    public void Fill_BeforeClearingOrCancelled_IsNull()
    {
        var r = Request();
        r.Cancel("dso1", T0);
        Assert.Null(r.Fill());
    }

    [Fact]
    public void Verbs_InWrongState_Throw()
    {
        var r = Request();
        Assert.Throws<DomainException>(() => r.Close(Cycle.ClearAlone(r.ToClearingRequest(), []), r.GateClosure.AddTicks(-1)));
        Assert.Throws<DomainException>(r.MarkAwarded);
        Assert.Throws<DomainException>(r.MarkSettled);
        Assert.Throws<DomainException>(() => r.Verify(new DeliveryEvidence([]), r.Delivery.End));
    }
}
