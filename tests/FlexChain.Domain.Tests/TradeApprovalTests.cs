using FlexChain.Domain;
using static FlexChain.Domain.Tests.Cycle;

namespace FlexChain.Domain.Tests;

/// <summary>Trade approval (NODES): impacted DSOs answer green, yellow or red on a TSO request's trades until its approval deadline.</summary>
public sealed class TradeApprovalTests
{
    private static readonly DateTimeOffset T0 = Build.T0;

    private static readonly GridNode Substation = new("gn-hv", "tso1", "Terni HV/MV", Kilowatts.From(40_000)) { Kind = GridNodeKind.HvMvSubstation };

    // Gate at T0 + 1 h, approval deadline T0 + 1.5 h, window T0 + 4 h .. T0 + 5 h.
    private static FlexRequest TsoRequest(DateTimeOffset? approval = null, Role buyer = Role.Tso, SelectionMode selection = SelectionMode.Automatic) =>
        FlexRequest.Post("req1", buyer == Role.Tso ? "tso1" : "dso1", buyer == Role.Tso ? Substation : Build.Grid, new TimeWindow(T0.AddHours(4), T0.AddHours(5)),
            KilowattHours.From(100), Direction.ReduceConsumption, EurosPerKilowattHour.From(0.5m), T0.AddHours(1), PricingRule.PayAsBid, T0,
            selection: selection, decisionDeadline: selection == SelectionMode.Manual ? T0.AddHours(2) : null, buyer: buyer, approvalDeadline: approval ?? T0.AddMinutes(90));

    private static readonly Offer Trade = new("off1", "req1", "cpo-a", ["st-a"], KilowattHours.From(5), EurosPerKilowattHour.From(0.2m), true, T0);

    private static TradeAnswer Answer(TradeVerdict verdict, string? reason = "Feeder 12 at its limit.", Kilowatts? limit = null, double hour = 1.25, string op = "dso1") =>
        TradeAnswer.Give(TsoRequest(), Trade, op, ["dso1", "dso2"], limit, verdict, reason, T0.AddHours(hour));

    private static (string, string) Rule(Action act)
    {
        var e = Assert.Throws<DomainException>(act);
        return (e.Field, e.Rule);
    }

    [Fact]
    public void Post_ApprovalDeadline_IsWhenATsoRequestClears()
    {
        Assert.Equal(T0.AddMinutes(90), TsoRequest().ClearsAt);
        Assert.Equal(("approvalDeadline", "tso-only"), Rule(() => TsoRequest(buyer: Role.Dso)));
        Assert.Equal(("approvalDeadline", "approval-deadline"), Rule(() => TsoRequest(approval: T0.AddHours(1))));
        Assert.Equal(("approvalDeadline", "approval-deadline"), Rule(() => TsoRequest(approval: T0.AddHours(4).AddTicks(1))));
        Assert.Equal(T0.AddHours(4), TsoRequest(approval: T0.AddHours(4)).ClearsAt);
        Assert.Equal(("approvalDeadline", "selection"), Rule(() => TsoRequest(selection: SelectionMode.Manual)));
    }

    [Fact]
    public void Give_GreenYellowRed_FromGateClosureUntilTheDeadline()
    {
        Assert.Equal(TradeVerdict.Green, Answer(TradeVerdict.Green, reason: null).Verdict);
        Assert.Equal(("Feeder 12 at its limit.", TradeVerdict.Yellow), (Answer(TradeVerdict.Yellow).Reason, Answer(TradeVerdict.Yellow).Verdict));
        var red = Answer(TradeVerdict.Red, hour: 1);
        Assert.Equal(("req1", "off1", "dso1", T0.AddHours(1)), (red.RequestId, red.OfferId, red.OperatorId, red.AnsweredAt));
        Assert.Equal(("id", "approval-deadline"), Rule(() => Answer(TradeVerdict.Red, hour: 0.99)));
        Assert.Equal(("id", "approval-deadline"), Rule(() => Answer(TradeVerdict.Red, hour: 1.5)));
    }

    [Fact]
    public void Give_RedWithoutReason_IsRefused() =>
        Assert.Equal(("reason", "required"), Rule(() => Answer(TradeVerdict.Red, reason: " ")));

    [Fact]
    public void Give_ByAnOperatorTheTradeDoesNotImpact_IsRefused() =>
        Assert.Equal(("offerId", "own-grid"), Rule(() => Answer(TradeVerdict.Red, op: "dso3")));

    [Fact]
    public void Give_OnADsoRequest_IsRefused() =>
        Assert.Equal(("id", "tso-request"), Rule(() => TradeAnswer.Give(Build.Request(), Trade, "dso1", ["dso1"], null, TradeVerdict.Red, "x", T0.AddHours(1))));

    [Fact]
    public void Give_AtOrBelowTheApprovalLimit_OnlyGreen()
    {
        // 5 kWh over one hour averages 5 kW.
        Assert.Equal(5m, TradeAnswer.PowerOf(TsoRequest(), Trade).Value);
        Assert.Equal(("verdict", "auto-approved"), Rule(() => Answer(TradeVerdict.Red, limit: Kilowatts.From(5))));
        Assert.Equal(("verdict", "auto-approved"), Rule(() => Answer(TradeVerdict.Yellow, limit: Kilowatts.From(5))));
        Assert.Equal(TradeVerdict.Green, Answer(TradeVerdict.Green, limit: Kilowatts.From(5)).Verdict);
        Assert.Equal(TradeVerdict.Red, Answer(TradeVerdict.Red, limit: Kilowatts.From(4.999m)).Verdict);
    }

    [Fact]
    public void Give_AProfiledTradePeakingAboveTheApprovalLimit_MayBeAnswered()
    {
        // 5 kWh again, but all of it in the first quarter hour: 20 kW there, above a 10 kW limit however low its average.
        var peaked = Trade with { Profile = [Kilowatts.From(20), Kilowatts.From(0), Kilowatts.From(0), Kilowatts.From(0)] };
        Assert.Equal(20m, TradeAnswer.PowerOf(TsoRequest(), peaked).Value);
        var answer = TradeAnswer.Give(TsoRequest(), peaked, "dso1", ["dso1"], Kilowatts.From(10), TradeVerdict.Red, "Feeder 12 at its limit.", T0.AddHours(1.25));
        Assert.Equal(TradeVerdict.Red, answer.Verdict);
        Assert.Equal(("verdict", "auto-approved"),
            Rule(() => TradeAnswer.Give(TsoRequest(), peaked, "dso1", ["dso1"], Kilowatts.From(20), TradeVerdict.Red, "x", T0.AddHours(1.25))));
    }

    [Fact]
    public void WithoutUnapproved_RedStops_AnAnswerOrTheLimitApproves_SilenceAboveTheLimitOrWithoutOneStops()
    {
        var request = Request("req1", kwh: 40);
        var offers = new[]
        {
            Offer("a", "req1", 5, 0.1m), Offer("b", "req1", 5, 0.2m), Offer("c", "req1", 5, 0.3m), Offer("d", "req1", 5, 0.4m),
            Offer("e", "req1", 5, 0.45m), Offer("f", "req1", 5, 0.46m), Offer("g", "req1", 5, 0.47m),
        };
        var answers = new[]
        {
            new TradeAnswer("req1", "a", "dso1", TradeVerdict.Red, "Feeder 12 at its limit.", T0),   // red, though within dso1's limit
            new TradeAnswer("req1", "b", "dso1", TradeVerdict.Yellow, null, T0),                      // yellow from an operator without a limit
            new TradeAnswer("req1", "c", "dso2", TradeVerdict.Green, null, T0),                       // dso2 answers; dso1's limit covers 5 kW
            new TradeAnswer("other", "d", "dso1", TradeVerdict.Green, null, T0),                      // an answer on another request does not count
        };
        var tenKw = new Dictionary<string, Kilowatts> { ["dso1"] = Kilowatts.From(10) };
        var impacts = new Dictionary<string, TradeImpact>
        {
            ["a"] = new(["dso1"], tenKw),
            ["b"] = new(["dso1"], new Dictionary<string, Kilowatts>()),
            ["c"] = new(["dso1", "dso2"], tenKw),
            ["d"] = new(["dso1"], new Dictionary<string, Kilowatts> { ["dso1"] = Kilowatts.From(3) }),   // 5 kW above a 3 kW limit, no answer
            ["e"] = new(["dso2"], tenKw),                                                                // dso2 set no limit and did not answer
            ["f"] = new(["dso1"], new Dictionary<string, Kilowatts> { ["dso1"] = Kilowatts.From(5) }),   // at the limit: approved automatically
            ["g"] = new([], new Dictionary<string, Kilowatts>()),                                        // impacts no DSO
        };
        var result = ClearingEngine.Clear([TradeAnswer.WithoutUnapproved(request, TsoRequest(), offers, answers, impacts)], offers).Results[0];
        foreach (var refused in new[] { "a", "d", "e" }) Assert.Equal(OfferOutcomeKind.RejectedNotEligible, result.Outcome(refused).Kind);
        Assert.Equal(["b", "c", "f", "g"], result.Awards.Select(a => a.OfferId).Order());

        var approvedAll = answers.Skip(1).Append(new TradeAnswer("req1", "d", "dso1", TradeVerdict.Green, null, T0)).Append(new TradeAnswer("req1", "e", "dso2", TradeVerdict.Yellow, null, T0));
        Assert.Same(request, TradeAnswer.WithoutUnapproved(request, TsoRequest(), offers.Skip(1).ToList(), approvedAll, impacts));
    }
}
