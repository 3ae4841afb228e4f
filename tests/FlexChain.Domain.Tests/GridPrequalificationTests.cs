using FlexChain.Domain;

namespace FlexChain.Domain.Tests;

public sealed class GridPrequalificationTests
{
    private static readonly DateTimeOffset T0 = Build.T0;

    private static ChargingStation Station(decimal kw = 22m) =>
        new("st-a", "cpo-a", "tr1", Kilowatts.From(kw), "IT001", true) { UpdatedAt = T0 };

    private static GridCase Case() => GridCase.Open(Station(), new GridOperators("dso1", ["tso1"]), T0, TimeSpan.FromDays(14));

    private static GridAnswer Approve() => GridAnswer.Create(GridVerdict.Approved, null, null, null, null, T0.AddDays(1));

    private static GridAnswer Cap(decimal kw) => GridAnswer.Create(GridVerdict.ConditionallyApproved, null, Kilowatts.From(kw), null, null, T0.AddDays(1));

    private static GridAnswer Hours(int from, int to) => GridAnswer.Create(GridVerdict.ConditionallyApproved, HoursOfDay.Between(from, to, "allowedHours"), null, null, null, T0.AddDays(1));

    private static GridAnswer Refuse() => GridAnswer.Create(GridVerdict.NotApproved, null, null, "Feeder 12 is at its thermal limit.", "The congestion is structural, not temporary.", T0.AddDays(1));

    [Fact]
    public void HoursBetween_AcrossMidnight_HoldsTheNightHours()
    {
        Assert.Equal([0, 1, 2, 3, 4, 5, 22, 23], HoursOfDay.Between(22, 6, "h").Hours);
        Assert.Equal([8, 9], HoursOfDay.Between(8, 10, "h").Hours);
    }

    [Theory]
    [InlineData(5, 5)]
    [InlineData(-1, 5)]
    [InlineData(0, 24)]
    public void HoursBetween_Invalid_IsRefused(int from, int to) =>
        Assert.Equal("hours", Assert.Throws<DomainException>(() => HoursOfDay.Between(from, to, "allowedHours")).Rule);

    [Fact]
    public void HoursCovers_EveryTouchedHourMustBeAllowed()
    {
        var h = HoursOfDay.Between(8, 10, "h");
        var day = new DateTimeOffset(2026, 6, 1, 0, 0, 0, TimeSpan.Zero);
        Assert.True(h.Covers(new TimeWindow(day.AddHours(8), day.AddHours(10))));
        Assert.True(h.Covers(new TimeWindow(day.AddHours(9).AddMinutes(45), day.AddHours(10))));
        Assert.False(h.Covers(new TimeWindow(day.AddHours(9).AddMinutes(45), day.AddHours(10).AddMinutes(1))));
        Assert.False(h.Covers(new TimeWindow(day.AddHours(7).AddMinutes(59), day.AddHours(9))));
        Assert.True(HoursOfDay.All.Covers(new TimeWindow(day, day.AddDays(3))));
        Assert.False(h.Covers(new TimeWindow(day, day.AddDays(3))));
    }

    [Fact]
    public void Answer_RefusalWithoutJustificationOrTemporaryLimitReason_IsRefused()
    {
        Assert.Equal(("justification", "required"), Rule(() => GridAnswer.Create(GridVerdict.NotApproved, null, null, " ", "x", T0)));
        Assert.Equal(("whyNoTemporaryLimit", "required"), Rule(() => GridAnswer.Create(GridVerdict.NotApproved, null, null, "x", null, T0)));
    }

    [Fact]
    public void Answer_ConditionsOnlyOnConditionalApproval()
    {
        Assert.Equal(("verdict", "conditions"), Rule(() => GridAnswer.Create(GridVerdict.ConditionallyApproved, null, null, null, null, T0)));
        Assert.Equal(("maxKw", "conditions"), Rule(() => GridAnswer.Create(GridVerdict.Approved, null, Kilowatts.From(5), null, null, T0)));
        Assert.Equal(("allowedHours", "conditions"), Rule(() => GridAnswer.Create(GridVerdict.NotApproved, HoursOfDay.All, null, "x", "y", T0)));
    }

    private static (string, string) Rule(Action act)
    {
        var e = Assert.Throws<DomainException>(act);
        return (e.Field, e.Rule);
    }

    [Fact]
    public void Status_BeforeDeadlineWithAnOperatorSilent_IsPendingWithTheAnswersSoFar()
    {
        var status = Case().StatusAt(new Dictionary<string, GridAnswer> { ["dso1"] = Cap(7) }, T0.AddDays(13));
        Assert.Equal(GridStatusKind.Pending, status.Status);
        Assert.Equal(7m, status.Restriction.MaxPower!.Value.Value);
    }

    [Fact]
    public void Status_SilenceByTheDeadline_IsApproval()
    {
        var c = Case();
        Assert.Equal(GridStatusKind.Pending, c.StatusAt(new Dictionary<string, GridAnswer>(), c.Deadline.AddTicks(-1)).Status);
        var status = c.StatusAt(new Dictionary<string, GridAnswer>(), c.Deadline);
        Assert.Equal(GridStatusKind.Approved, status.Status);
        Assert.Empty(status.Restriction.RefusedBy);
        Assert.Null(status.Restriction.AllowedHours);
        Assert.Null(status.Restriction.MaxPower);
    }

    [Fact]
    public void Status_AnyRefusal_Refuses_EvenBeforeTheDeadline()
    {
        var status = Case().StatusAt(new Dictionary<string, GridAnswer> { ["dso1"] = Approve(), ["tso1"] = Refuse() }, T0.AddDays(2));
        Assert.Equal(GridStatusKind.NotApproved, status.Status);
        Assert.Equal(["tso1"], status.Restriction.RefusedBy);
    }

    [Fact]
    public void Status_ConditionsAddUp_HoursIntersectAndTheLowerCapHolds()
    {
        var answers = new Dictionary<string, GridAnswer> { ["dso1"] = Hours(6, 22), ["tso1"] = Hours(20, 8) };
        var c = Case();
        var status = c.StatusAt(answers, T0.AddDays(2));
        Assert.Equal(GridStatusKind.ConditionallyApproved, status.Status);
        Assert.Equal([6, 7, 20, 21], status.Restriction.AllowedHours!.Value.Hours);
        var caps = c.StatusAt(new Dictionary<string, GridAnswer> { ["dso1"] = Cap(11), ["tso1"] = Cap(7) }, T0.AddDays(2));
        Assert.Equal(7m, caps.Restriction.MaxPower!.Value.Value);
    }

    [Fact]
    public void Status_AnswersOfOperatorsOutsideTheCase_AreIgnored()
    {
        var status = Case().StatusAt(new Dictionary<string, GridAnswer> { ["dso2"] = Refuse(), ["dso1"] = Approve(), ["tso1"] = Approve() }, T0);
        Assert.Equal(GridStatusKind.Approved, status.Status);
    }

    [Fact]
    public void RequireAnswerable_OtherOperator_IsOwnGrid_AndAtTheDeadline_IsLate()
    {
        var c = Case();
        Assert.Equal("own-grid", Assert.Throws<DomainException>(() => c.RequireAnswerable("dso2", T0)).Rule);
        Assert.Equal("answer-deadline", Assert.Throws<DomainException>(() => c.RequireAnswerable("tso1", c.Deadline)).Rule);
        c.RequireAnswerable("tso1", c.Deadline.AddTicks(-1));
    }

    [Fact]
    public void NeedsNew_OnlyWithoutCase_AfterAMove_OrAfterARefusal()
    {
        var station = Station();
        Assert.True(GridCase.NeedsNew(station, null));
        var asked = station with { GridCase = Case() };
        var pending = asked.GridCase!.StatusAt(new Dictionary<string, GridAnswer>(), T0);
        Assert.False(GridCase.NeedsNew(asked, pending));
        Assert.True(GridCase.NeedsNew(asked with { TransformerId = "tr2" }, pending));
        Assert.True(GridCase.NeedsNew(asked, asked.GridCase.StatusAt(new Dictionary<string, GridAnswer> { ["dso1"] = Refuse() }, T0)));
    }

    [Fact]
    public void Restriction_And_CombinesRefusalsHoursAndCaps()
    {
        var a = new GridRestriction(["x"], HoursOfDay.Between(8, 12, "h"), Kilowatts.From(10));
        var b = new GridRestriction(["y", "x"], HoursOfDay.Between(10, 14, "h"), Kilowatts.From(4));
        var both = a.And(b);
        Assert.Equal(["x", "y"], both.RefusedBy);
        Assert.Equal([10, 11], both.AllowedHours!.Value.Hours);
        Assert.Equal(4m, both.MaxPower!.Value.Value);
        var same = a.And(GridRestriction.None);
        Assert.Equal(["x"], same.RefusedBy);
        Assert.Equal(a.AllowedHours, same.AllowedHours);
        Assert.Equal(a.MaxPower, same.MaxPower);
    }

    // ---- enforcement in offers and clearing ----

    private static FlexRequest Request() => Build.Request(kwh: 20m); // delivery T0+4h..T0+5h = 12:00-13:00 UTC

    private static Offer OfferOf(decimal kwh) => new("off1", "req1", "cpo-a", ["st-a"], KilowattHours.From(kwh), EurosPerKilowattHour.From(0.2m), true, T0);

    private static ChargingStation Qualified() =>
        Station() with { Qualification = new Qualification(QualificationStatus.Qualified, "dso1", [], T0, T0.AddDays(30), 1, 1) };

    private static readonly PrequalificationRequirements Requirements =
        new("dso1", null, Kilowatts.From(3.7m), true, TimeSpan.FromDays(30), 1, T0);

    private static Dictionary<string, GridRestriction> Grid(GridRestriction r) => new() { ["st-a"] = r };

    [Fact]
    public void AcceptOffer_ConditionalApprovalCapsWhatTheStationMayOffer()
    {
        var cap = Grid(new GridRestriction([], null, Kilowatts.From(7)));
        Request().AcceptOffer(OfferOf(7m), [Qualified()], Build.Grid, Requirements, T0, cap);
        var e = Assert.Throws<DomainException>(() => Request().AcceptOffer(OfferOf(7.001m), [Qualified()], Build.Grid, Requirements, T0, cap));
        Assert.Equal(("energyKwh", "grid-max-power"), (e.Field, e.Rule));
        Assert.Contains("7", e.Message);
        Request().AcceptOffer(OfferOf(22m), [Qualified()], Build.Grid, Requirements, T0, null);
    }

    [Fact]
    public void AcceptOffer_OutsideAllowedHours_IsRefusedNamingTheHours()
    {
        var e = Assert.Throws<DomainException>(() =>
            Request().AcceptOffer(OfferOf(5m), [Qualified()], Build.Grid, Requirements, T0, Grid(new GridRestriction([], HoursOfDay.Between(22, 6, "h"), null))));
        Assert.Equal(("stationIds", "grid-hours"), (e.Field, e.Rule));
        Assert.Contains("UTC hours", e.Message);
        Request().AcceptOffer(OfferOf(5m), [Qualified()], Build.Grid, Requirements, T0, Grid(new GridRestriction([], HoursOfDay.Between(12, 13, "h"), null)));
    }

    [Fact]
    public void AcceptOffer_RefusedStation_IsRefused()
    {
        var e = Assert.Throws<DomainException>(() =>
            Request().AcceptOffer(OfferOf(5m), [Qualified()], Build.Grid, Requirements, T0, Grid(new GridRestriction(["tso1"], null, null))));
        Assert.Equal(("stationIds", "grid-not-approved"), (e.Field, e.Rule));
    }

    [Fact]
    public void ToClearingRequest_RechecksGridRestrictions()
    {
        var offers = new[] { OfferOf(10m) };
        Assert.Contains("st-a", Request().ToClearingRequest([Qualified()], Build.Grid, Requirements, T0, offers, null).QualifiedStationIds!);
        Assert.DoesNotContain("st-a", Request().ToClearingRequest([Qualified()], Build.Grid, Requirements, T0, offers,
            Grid(new GridRestriction([], null, Kilowatts.From(7)))).QualifiedStationIds!);
        Assert.Contains("st-a", Request().ToClearingRequest([Qualified()], Build.Grid, Requirements, T0, offers,
            Grid(new GridRestriction([], null, Kilowatts.From(10)))).QualifiedStationIds!);
        Assert.DoesNotContain("st-a", Request().ToClearingRequest([Qualified()], Build.Grid, Requirements, T0, offers,
            Grid(new GridRestriction(["dso1"], null, null))).QualifiedStationIds!);
        Assert.DoesNotContain("st-a", Request().ToClearingRequest([Qualified()], Build.Grid, Requirements, T0, offers,
            Grid(new GridRestriction([], HoursOfDay.Between(0, 12, "h"), null))).QualifiedStationIds!);
    }

    [Fact]
    public void Clear_StationCappedAt5Kw_TwoRequestsOf5Kw_OneAward_TheOtherLosesNamingTheCap()
    {
        // The cap holds per station, not per offer: each 5 kW offer fits it alone, both together (10 kW) do not.
        var cap = Grid(new GridRestriction([], null, Kilowatts.From(5)));
        FlexRequest Post(string id, double gateHour) => FlexRequest.Post(id, "dso1", Build.Grid, new TimeWindow(T0.AddHours(4), T0.AddHours(5)),
            KilowattHours.From(5), Direction.ReduceConsumption, EurosPerKilowattHour.From(0.5m), T0.AddHours(gateHour), PricingRule.PayAsBid, T0);
        var (first, second) = (Post("rA", 1), Post("rB", 1.5));
        var (a, b) = (OfferOf(5m) with { Id = "oA", RequestId = "rA" }, OfferOf(5m) with { Id = "oB", RequestId = "rB" });
        first.AcceptOffer(a, [Qualified()], Build.Grid, Requirements, T0, cap);
        second.AcceptOffer(b, [Qualified()], Build.Grid, Requirements, T0, cap);

        var cycle = ClearingEngine.Clear(
        [
            first.ToClearingRequest([Qualified()], Build.Grid, Requirements, T0.AddHours(1), [a], cap),
            second.ToClearingRequest([Qualified()], Build.Grid, Requirements, T0.AddHours(1), [b], cap),
        ], [a, b]);

        Assert.Equal("oA", Assert.Single(cycle.Results.SelectMany(r => r.Awards)).OfferId);
        var lost = cycle.For("rB").Outcomes.Single();
        Assert.Equal(OfferOutcomeKind.RejectedCapacityConflict, lost.Kind);
        Assert.Contains("cap station st-a at 5 kW", lost.Detail);
        Assert.Equal(Kilowatts.From(5), Assert.Single(cycle.Results.SelectMany(r => r.Bookings!)).Power![0]);
        // Without the cap the 22 kW station takes both.
        var free = ClearingEngine.Clear(
        [
            first.ToClearingRequest([Qualified()], Build.Grid, Requirements, T0.AddHours(1), [a], null),
            second.ToClearingRequest([Qualified()], Build.Grid, Requirements, T0.AddHours(1), [b], null),
        ], [a, b]);
        Assert.Equal(2, free.Results.SelectMany(r => r.Awards).Count());
    }

    [Fact]
    public void Clear_GridCap_CountsEarlierBookings_AndHoldsForItsRequestsWindowOnly()
    {
        var station = new Dictionary<string, StationCapacity> { ["st-a"] = new(Kilowatts.From(11), TimeSpan.Zero) };
        var capped = new Dictionary<string, StationCapacity> { ["st-a"] = new(Kilowatts.From(11), TimeSpan.Zero) { GridCap = Kilowatts.From(5) } };
        // An earlier cycle booked 3 kW of the 11 kW station in 12:00-13:00: under a 5 kW cap 2 kW are left, not 8.
        var earlier = new StationBooking("st-a", new TimeWindow(T0.AddHours(4), T0.AddHours(5)), "r0/o0") { Power = [Kilowatts.From(3)], Interval = MarketInterval.From(60) };
        var r1 = Cycle.Request("r1", kwh: 3) with { Stations = capped };
        var over = Cycle.Offer("o1", "r1", 3, 0.1m, 0, false, "st-a");
        var result = ClearingEngine.Clear([r1], [over], [earlier]).Results[0];
        Assert.Equal(OfferOutcomeKind.RejectedCapacityConflict, result.Outcome("o1").Kind);
        Assert.Contains("st-a at 5 kW", result.Outcome("o1").Detail);
        Assert.Single(ClearingEngine.Clear([r1], [over with { Energy = KilowattHours.From(2) }], [earlier]).Results[0].Awards);
        Assert.Single(ClearingEngine.Clear([r1 with { Stations = station }], [over], [earlier]).Results[0].Awards);

        // A cap on 12:00-12:30 (a temporary limit over that half hour) leaves the next request's 12:30-13:30 at the registered 11 kW.
        var early = Cycle.Request("early", kwh: 2.5m, hours: 0.5) with { Stations = capped };
        var late = Cycle.Request("late", kwh: 11, start: 4.5, hours: 1) with { Stations = station };
        var cycle = ClearingEngine.Clear([early, late],
            [Cycle.Offer("e", "early", 2.5m, 0.1m, 0, false, "st-a"), Cycle.Offer("l", "late", 11, 0.1m, 0, false, "st-a")]);
        Assert.Equal(2, cycle.Results.SelectMany(r => r.Awards).Count());
    }
}
