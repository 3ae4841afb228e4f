using FlexChain.Domain;
using static FlexChain.Domain.Tests.Build;

namespace FlexChain.Domain.Tests;

/// <summary>Availability: reserving capacity in merit order, calls among the holders, the availability payment, arming.</summary>
public class AvailabilityTests
{
    // T0 is 2026-06-01 08:00 UTC. The period is the next two UTC days: [06-02 00:00, 06-04 00:00).
    private static readonly DateTimeOffset Day1 = new(2026, 6, 2, 0, 0, 0, TimeSpan.Zero);
    private static readonly DateTimeOffset Day2 = Day1.AddDays(1);
    private static readonly TimeSpan Lead = TimeSpan.FromDays(2);

    private static AvailabilityTerms Terms(decimal kw = 10, decimal cap = 5, bool arming = false, double hours = 48) =>
        AvailabilityTerms.Create("tr1", new TimeWindow(Day1, Day1.AddHours(hours)), Kilowatts.From(kw), EurosPerKilowatt.From(cap),
            Direction.ReduceConsumption, T0.AddHours(1), arming);

    private static AvailabilityOffer Offer(string id, decimal kw, decimal availability, decimal activation = 0.3m, int minute = 0) =>
        new(id, "cpo-" + id, ["st-" + id], Kilowatts.From(kw), EurosPerKilowatt.From(availability), EurosPerKilowattHour.From(activation),
            T0.AddMinutes(minute));

    private static AvailabilityContract Contract(AvailabilityTerms terms, params AvailabilityOffer[] offers) =>
        new("av1", "dso1", terms, AvailabilityReservation.Reserve(terms, offers, []).Holders);

    private static ClearingRequest CallRequest(TimeWindow window, decimal kwh, decimal cap = 0.5m) =>
        new("call1", window, KilowattHours.From(kwh), EurosPerKilowattHour.From(cap), window.Start.AddMinutes(-10), PricingRule.PayAsBid);

    [Fact]
    public void Reserve_FillsCapacityInMeritOrderOfAvailabilityPrice_CuttingTheLast()
    {
        var result = AvailabilityReservation.Reserve(Terms(kw: 10),
            [Offer("c", 6, 4m), Offer("a", 6, 2m), Offer("b", 6, 3m)], []);

        Assert.Equal(["a", "b"], result.Holders.Select(h => h.OfferId));
        Assert.Equal(Kilowatts.From(4), result.Holders[1].Reserved);
        Assert.Equal(Kilowatts.From(10), result.Reserved);
        Assert.Equal(OfferOutcomeKind.Accepted, result.Outcomes.Single(o => o.OfferId == "a").Kind);
        Assert.Equal(OfferOutcomeKind.PartlyAccepted, result.Outcomes.Single(o => o.OfferId == "b").Kind);
        Assert.Equal(OfferOutcomeKind.RejectedNotNeeded, result.Outcomes.Single(o => o.OfferId == "c").Kind);
    }

    [Fact]
    public void Reserve_EqualPrices_EarlierOfferFirstThenOfferId()
    {
        var result = AvailabilityReservation.Reserve(Terms(kw: 5),
            [Offer("z", 5, 2m, minute: 1), Offer("y", 5, 2m, minute: 0), Offer("x", 5, 2m, minute: 1)], []);

        Assert.Equal(["y", "x", "z"], result.Outcomes.Select(o => o.OfferId));
        Assert.Equal("y", Assert.Single(result.Holders).OfferId);
    }

    [Fact]
    public void Reserve_OverCapLateWrongDirectionUnqualified_Rejected()
    {
        var offers = new[]
        {
            Offer("cap", 5, 5.0001m), Offer("late", 5, 1m) with { SubmittedAt = T0.AddHours(1) },
            Offer("dir", 5, 1m) with { Direction = Direction.IncreaseConsumption }, Offer("unq", 5, 1m), Offer("ok", 5, 5m),
        };
        var result = AvailabilityReservation.Reserve(Terms(), offers, [],
            ineligible: new Dictionary<string, QualificationReason> { ["unq"] = new("grid-not-approved", "Station st-unq is not approved in grid prequalification by tso1.") });

        OfferOutcomeKind KindOf(string id) => result.Outcomes.Single(o => o.OfferId == id).Kind;
        Assert.Equal(OfferOutcomeKind.RejectedOverPriceCap, KindOf("cap"));
        Assert.Equal(OfferOutcomeKind.RejectedLate, KindOf("late"));
        Assert.Equal(OfferOutcomeKind.RejectedWrongDirection, KindOf("dir"));
        Assert.Equal(OfferOutcomeKind.RejectedNotEligible, KindOf("unq"));
        Assert.Contains("grid prequalification", result.Outcomes.Single(o => o.OfferId == "unq").Detail);
        Assert.Equal("ok", Assert.Single(result.Holders).OfferId);
    }

    [Fact]
    public void Reserve_StationBookedInsideThePeriod_CapacityConflictNamingTheAward()
    {
        var booked = new StationBooking("st-a", new TimeWindow(Day2.AddHours(23), Day2.AddHours(24)), "req9/off9");
        var result = AvailabilityReservation.Reserve(Terms(), [Offer("a", 5, 1m), Offer("b", 5, 2m)], [booked]);

        var a = result.Outcomes.Single(o => o.OfferId == "a");
        Assert.Equal(OfferOutcomeKind.RejectedCapacityConflict, a.Kind);
        Assert.Contains("req9/off9", a.Detail);
        Assert.Equal("b", Assert.Single(result.Holders).OfferId);
    }

    [Fact]
    public void Reserve_BookingEndingAtPeriodStart_NoConflict()
    {
        var booked = new StationBooking("st-a", new TimeWindow(Day1.AddHours(-1), Day1), "req9/off9");
        Assert.Single(AvailabilityReservation.Reserve(Terms(), [Offer("a", 5, 1m)], [booked]).Holders);
    }

    [Theory]
    [InlineData(0, 5, 48, "capacityKw", "positive")]
    [InlineData(10, 0, 48, "maxAvailabilityPriceEurPerKw", "positive")]
    [InlineData(10, 5, 169, "periodEnd", "period-length")]
    [InlineData(10, 5, 1.5, "periodStart", "whole-hours")]
    public void Create_BadTerms_NamesFieldAndRule(decimal kw, decimal cap, double hours, string field, string rule)
    {
        var e = Assert.Throws<DomainException>(() => Terms(kw, cap, hours: hours));
        Assert.Equal((field, rule), (e.Field, e.Rule));
    }

    [Fact]
    public void Create_WithAMinuteUnit_TakesWholeMinutes_RefusesPartsOfOne()
    {
        AvailabilityTerms Create(TimeSpan start, TimeSpan end) => AvailabilityTerms.Create("tr1", new TimeWindow(Day1 + start, Day1 + end), Kilowatts.From(1),
            EurosPerKilowatt.From(1), Direction.ReduceConsumption, T0, periodUnit: TimeSpan.FromMinutes(1));

        Assert.Equal(TimeSpan.FromMinutes(2), Create(TimeSpan.FromMinutes(3), TimeSpan.FromMinutes(5)).Period.Duration);
        Assert.Equal("whole-hours", Assert.Throws<DomainException>(() => Create(TimeSpan.FromSeconds(30), TimeSpan.FromMinutes(5))).Rule);
    }

    [Fact]
    public void Create_GateAfterPeriodStart_Refused()
    {
        var e = Assert.Throws<DomainException>(() => AvailabilityTerms.Create("tr1", new TimeWindow(Day1, Day2), Kilowatts.From(1),
            EurosPerKilowatt.From(1), Direction.ReduceConsumption, Day1.AddHours(1)));
        Assert.Equal("gate-before-period", e.Rule);
    }

    [Fact]
    public void Create_AWeek_IsTheLongestPeriodAndCutsIntoSevenDays() =>
        Assert.Equal(7, Terms(hours: 168).Days().Count);

    [Fact]
    public void Days_BlockOfHoursAcrossMidnight_TwoSlices()
    {
        var terms = AvailabilityTerms.Create("tr1", new TimeWindow(Day1.AddHours(20), Day1.AddHours(26)), Kilowatts.From(1),
            EurosPerKilowatt.From(1), Direction.ReduceConsumption, T0);
        Assert.Equal([new TimeWindow(Day1.AddHours(20), Day2), new TimeWindow(Day2, Day2.AddHours(2))], terms.Days());
    }

    [Fact]
    public void CallOffers_ClearOnlyAmongHoldersByActivationPriceWithinReservedCapacity()
    {
        // Holders: a 4 kW at 0.40 EUR/kWh, b 6 kW at 0.20 EUR/kWh (b is dearer for availability but cheaper to call).
        var contract = Contract(Terms(kw: 10), Offer("a", 4, 1m, activation: 0.4m), Offer("b", 6, 2m, activation: 0.2m), Offer("c", 6, 3m, activation: 0.01m));
        var window = new TimeWindow(Day1.AddHours(18), Day1.AddHours(19));
        contract.Call(window, KilowattHours.From(8), T0, Lead);

        var call = CallRequest(window, 8);
        var result = ClearingEngine.Clear([call], contract.CallOffers(call.Id, call.Delivery)).Results[0];

        Assert.DoesNotContain(result.Outcomes, o => o.OfferId == "c");
        Assert.Equal([("b", 6m, 0.2m), ("a", 2m, 0.4m)], result.Awards.Select(a => (a.OfferId, a.Energy.Value, a.Price.Value)));
    }

    [Fact]
    public void Call_AllReservedCapacity_Accepted_OneWattHourMore_RefusedCallCapacity()
    {
        var contract = Contract(Terms(kw: 10), Offer("a", 10, 1m));
        var window = new TimeWindow(Day1.AddHours(18), Day1.AddMinutes(18 * 60 + 30));

        var e = Assert.Throws<DomainException>(() => contract.Call(window, KilowattHours.From(5.001m), T0, Lead));
        Assert.Equal(("energyKwh", "call-capacity"), (e.Field, e.Rule));
        contract.Call(window, KilowattHours.From(5), T0, Lead);
        Assert.Equal([window], contract.Calls);
    }

    [Theory]
    [InlineData(-1, 1)]
    [InlineData(47, 49)]
    public void Call_OutsideThePeriod_RefusedCallPeriod(double startHour, double endHour)
    {
        var contract = Contract(Terms(), Offer("a", 10, 1m));
        var e = Assert.Throws<DomainException>(() =>
            contract.Call(new TimeWindow(Day1.AddHours(startHour), Day1.AddHours(endHour)), KilowattHours.From(1), T0, Lead));
        Assert.Equal("call-period", e.Rule);
        Assert.Empty(contract.Calls);
    }

    [Fact]
    public void Call_OverlappingAnEarlierCall_RefusedCallOverlap()
    {
        var contract = Contract(Terms(), Offer("a", 10, 1m));
        contract.Call(new TimeWindow(Day1.AddHours(1), Day1.AddHours(2)), KilowattHours.From(1), T0, Lead);
        contract.Call(new TimeWindow(Day1.AddHours(2), Day1.AddHours(3)), KilowattHours.From(1), T0, Lead);

        var e = Assert.Throws<DomainException>(() =>
            contract.Call(new TimeWindow(Day1.AddMinutes(150), Day1.AddHours(4)), KilowattHours.From(1), T0, Lead));
        Assert.Equal("call-overlap", e.Rule);
    }

    private static Verification Verified(bool succeeded) =>
        new("av1/a", KilowattHours.From(10), KilowattHours.From(5), KilowattHours.From(5), succeeded, Euros.Zero, succeeded ? null : "below threshold");

    [Theory]
    [InlineData(450, 200, new[] { 200, 200, 50 })]
    [InlineData(400, 200, new[] { 200, 200 })]
    [InlineData(3, 1, new[] { 1, 1, 1 })]
    [InlineData(1, 200, new[] { 1 })]
    public void EscrowBatches_MoreHoldersThanABatchCarries_EachHolderInExactlyOneBatchInMeritOrder(int holders, int perBatch, int[] sizes)
    {
        var offers = Enumerable.Range(0, holders).Select(i => Offer($"o{i:D4}", 1, 1m + i / 10_000m)).ToArray();
        var contract = Contract(Terms(kw: holders), offers);

        var batches = contract.EscrowBatches(perBatch);

        Assert.Equal(sizes, batches.Select(b => b.Count));
        Assert.Equal(contract.Holders, batches.SelectMany(b => b)); // every holder once, in merit order
    }

    [Fact]
    public void EscrowBatches_BatchOfNone_Throws() =>
        Assert.Throws<ArgumentOutOfRangeException>(() => Contract(Terms(), Offer("a", 5, 2m)).EscrowBatches(0));

    [Fact]
    public void AvailabilityPayout_NotCalled_KeepsTheWholePayment()
    {
        var holder = Contract(Terms(kw: 10, cap: 5), Offer("a", 10, 2.5m)).Holders[0];
        Assert.Equal(new Euros(25m), AvailabilityContract.AvailabilityPayout(holder, []));
    }

    [Fact]
    public void AvailabilityPayout_CalledAndDelivered_KeepsIt_OneFailedCall_LosesIt()
    {
        var holder = Contract(Terms(kw: 10, cap: 5), Offer("a", 4, 2.5m)).Holders[0];
        Assert.Equal(new Euros(10m), AvailabilityContract.AvailabilityPayout(holder, [Verified(true), Verified(true)]));
        Assert.Equal(Euros.Zero, AvailabilityContract.AvailabilityPayout(holder, [Verified(true), Verified(false)]));
    }

    [Fact]
    public void Arming_Off_EveryDayArmedAndWithheld()
    {
        var contract = Contract(Terms(), Offer("a", 10, 1m));
        var late = Day2.AddHours(1);
        Assert.All(contract.Terms.Days(), d => Assert.Equal(ArmingState.Armed, contract.StateOf(d, late, Lead)));
        Assert.Equal(2, contract.Bookings(late, Lead).Count());
        Assert.Equal("arming-off", Assert.Throws<DomainException>(() => contract.Arm(Day1, T0, Lead)).Rule);
    }

    [Fact]
    public void Arming_BeforeTheLead_Armed_AfterIt_Refused()
    {
        var contract = Contract(Terms(arming: true), Offer("a", 10, 1m));
        // Day 2 starts 06-03 00:00: armed at the latest on 06-01 00:00, before T0 (06-01 08:00).
        Assert.Equal("arming-lead", Assert.Throws<DomainException>(() => contract.Arm(Day2, T0, Lead)).Rule);
        var inTime = Day2 - Lead - TimeSpan.FromTicks(1);
        contract.Arm(Day2, inTime, Lead);
        contract.Arm(Day2, inTime, Lead); // again: nothing changes
        Assert.Equal([Day2], contract.ArmedDays);
        Assert.Equal("arming-day", Assert.Throws<DomainException>(() => contract.Arm(Day2.AddHours(1), T0.AddDays(-5), Lead)).Rule);
    }

    [Fact]
    public void Arming_UnarmedDayPastItsDeadline_ReleasedAndItsBookingsRemoved()
    {
        var contract = Contract(Terms(arming: true), Offer("a", 10, 1m));
        contract.Arm(Day2, Day1 - Lead, Lead);
        var before = Day1 - Lead - TimeSpan.FromTicks(1);
        var after = Day1 - Lead;

        Assert.Equal(ArmingState.Pending, contract.StateOf(contract.Terms.Days()[0], before, Lead));
        Assert.Equal(2, contract.Bookings(before, Lead).Count());
        Assert.Empty(contract.Released(before, Lead));

        Assert.Equal(ArmingState.Released, contract.StateOf(contract.Terms.Days()[0], after, Lead));
        var kept = Assert.Single(contract.Bookings(after, Lead));
        Assert.Equal(new StationBooking("st-a", new TimeWindow(Day2, Day2.AddDays(1)), "av1/a"), kept);
        Assert.Equal(new StationBooking("st-a", new TimeWindow(Day1, Day2), "av1/a"), Assert.Single(contract.Released(after, Lead)));
    }

    [Fact]
    public void Call_OnAnUnarmedDay_RefusedCallUnarmed_OnAnArmedDay_Accepted()
    {
        var contract = Contract(Terms(arming: true), Offer("a", 10, 1m));
        contract.Arm(Day2, T0 - TimeSpan.FromDays(3), Lead);
        var e = Assert.Throws<DomainException>(() =>
            contract.Call(new TimeWindow(Day1.AddHours(18), Day1.AddHours(19)), KilowattHours.From(1), Day1.AddHours(17), Lead));
        Assert.Equal("call-unarmed", e.Rule);
        contract.Call(new TimeWindow(Day2.AddHours(18), Day2.AddHours(19)), KilowattHours.From(1), Day2.AddHours(17), Lead);
    }

    [Fact]
    public void AcceptOffer_AtGateClosure_RefusedGateClosed_OtherDirection_RefusedDirection()
    {
        var station = new ChargingStation("st-a", "cpo-a", "tr1", Kilowatts.From(22), "IT1", true);
        var terms = Terms();
        Assert.Equal("gate-closed", Assert.Throws<DomainException>(() => terms.AcceptOffer(Offer("a", 5, 1m), [station], Grid, null, T0.AddHours(1))).Rule);
        Assert.Equal("direction", Assert.Throws<DomainException>(() =>
            terms.AcceptOffer(Offer("a", 5, 1m) with { Direction = Direction.IncreaseConsumption }, [station], Grid, null, T0)).Rule);
        Assert.Equal("own-station", Assert.Throws<DomainException>(() =>
            terms.AcceptOffer(Offer("b", 5, 1m), [station], Grid, null, T0)).Rule);
    }

    [Fact]
    public void Call_RequestNamingAContract_TakesNoOffers()
    {
        var call = FlexRequest.Post("call1", "dso1", Grid, new TimeWindow(Day1.AddHours(1), Day1.AddHours(2)), KilowattHours.From(1),
            Direction.ReduceConsumption, EurosPerKilowattHour.From(0.5m), T0.AddHours(1), PricingRule.PayAsBid, T0, availabilityId: "av1");
        var station = new ChargingStation("st-a", "cpo-a", "tr1", Kilowatts.From(22), "IT1", true);
        var e = Assert.Throws<DomainException>(() => call.AcceptOffer(Build.Offer("a", 1, 0.1m) with { RequestId = "call1" }, [station], Grid, null, T0));
        Assert.Equal(("requestId", "call-holders-only"), (e.Field, e.Rule));
    }

    // ---- the grid's restrictions (DOMAIN.md section 7), as the energy market applies them ----

    private static ChargingStation QualifiedStation() =>
        new("st-a", "cpo-a", "tr1", Kilowatts.From(22), "IT1", true)
        {
            UpdatedAt = T0, Qualification = new Qualification(QualificationStatus.Qualified, "dso1", [], T0, T0.AddDays(30), 1, 1),
        };

    private static readonly PrequalificationRequirements Requirements = new("dso1", null, Kilowatts.From(3.7m), true, TimeSpan.FromDays(30), 1, T0);

    private static Dictionary<string, GridRestriction> GridOf(GridRestriction r) => new() { ["st-a"] = r };

    [Theory]
    [InlineData("refused", "stationIds", "grid-not-approved")]
    [InlineData("night-hours", "stationIds", "grid-hours")]
    [InlineData("red", "stationIds", "grid-red")]
    [InlineData("cap-4kw", "capacityKw", "grid-max-power")]
    [InlineData("limit-0kw", "capacityKw", "grid-max-power")]
    public void AcceptOffer_StationTheGridRestricts_IsRefusedNamingTheRule(string restriction, string field, string rule)
    {
        var grid = GridOf(restriction switch
        {
            "refused" => new GridRestriction(["tso1"], null, null),
            "night-hours" => new GridRestriction([], HoursOfDay.Between(22, 6, "h"), null),
            "red" => GridRestriction.None with { StateProblem = new("grid-red", "Station st-a's grid is red: the market is suspended there.") },
            "cap-4kw" => new GridRestriction([], null, Kilowatts.From(4)),
            _ => new TemporaryLimit("lim1", "dso1", "st-a", new TimeWindow(Day2, Day2.AddHours(1)), Kilowatts.From(0), "Cable fault.", T0)
                .RestrictionFor(Terms().Period),
        });
        var e = Assert.Throws<DomainException>(() => Terms().AcceptOffer(Offer("a", 5, 1m), [QualifiedStation()], Grid, Requirements, T0, grid));
        Assert.Equal((field, rule), (e.Field, e.Rule));
        Assert.Equal(rule, Terms().Problem(Offer("a", 5, 1m), [QualifiedStation()], Grid, Requirements, T0, grid)?.Rule);
    }

    [Fact]
    public void AcceptOffer_WithinTheGridsCap_IsAccepted_AndALimitOutsideThePeriodDoesNotHold()
    {
        var cap = GridOf(new GridRestriction([], null, Kilowatts.From(5)));
        Terms().AcceptOffer(Offer("a", 5, 1m), [QualifiedStation()], Grid, Requirements, T0, cap);
        Assert.Contains("5 kW", Assert.Throws<DomainException>(() => Terms().AcceptOffer(Offer("a", 5.001m, 1m), [QualifiedStation()], Grid, Requirements, T0, cap)).Message);
        var after = new TemporaryLimit("lim1", "dso1", "st-a", new TimeWindow(Day1.AddHours(48), Day1.AddHours(49)), Kilowatts.From(0), "Cable fault.", T0);
        Terms().AcceptOffer(Offer("a", 22, 1m), [QualifiedStation()], Grid, Requirements, T0, GridOf(after.RestrictionFor(Terms().Period)));
        Assert.Null(Terms().Problem(Offer("a", 22, 1m), [QualifiedStation()], Grid, Requirements, T0, null));
    }
}
