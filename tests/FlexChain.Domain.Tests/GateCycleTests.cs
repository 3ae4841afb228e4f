using FlexChain.Domain;
using static FlexChain.Domain.Tests.Build;

namespace FlexChain.Domain.Tests;

public class GateCycleTests
{
    private static readonly DateTimeOffset Closes = T0.AddHours(1);

    /// <summary>A request of <paramref name="dso"/> ending at <paramref name="end"/>, cleared with <paramref name="awards"/> one-kWh awards (none: failed).</summary>
    private static FlexRequest Cleared(string id, string dso, DateTimeOffset end, int awards)
    {
        var transformer = new GridNode("tr-" + dso, dso, "T", Kilowatts.From(630));
        var r = FlexRequest.Post(id, dso, transformer, new TimeWindow(end.AddHours(-1), end), KilowattHours.From(Math.Max(awards, 1)),
            Direction.ReduceConsumption, EurosPerKilowattHour.From(0.5m), Closes, PricingRule.PayAsBid, T0);
        var offers = Enumerable.Range(0, awards).Select(i => new Offer($"{id}-o{i}", id, $"cpo-{id}-{i}", [$"st-{id}-{i}"],
            KilowattHours.From(1), EurosPerKilowattHour.From(0.1m), true, T0)).ToList();
        r.Close(ClearingEngine.Clear([r.ToClearingRequest()], offers).For(id), Closes);
        return r;
    }

    [Theory]
    [InlineData("2026-06-01T10:07:00Z", 15 * 60, "2026-06-01T10:15:00Z")]
    [InlineData("2026-06-01T10:15:00Z", 15 * 60, "2026-06-01T10:15:00Z")]
    [InlineData("2026-06-01T10:15:00.0000001Z", 15 * 60, "2026-06-01T10:30:00Z")]
    [InlineData("2026-06-01T23:59:59Z", 15 * 60, "2026-06-02T00:00:00Z")]
    [InlineData("2026-06-01T10:07:42Z", 1, "2026-06-01T10:07:42Z")]
    [InlineData("2026-06-01T10:07:42Z", 30, "2026-06-01T10:08:00Z")]
    public void ClosingTimeFor_IsTheFirstCadenceBoundaryAtOrAfter(string clearsAt, int cadenceSeconds, string expected) =>
        Assert.Equal(DateTimeOffset.Parse(expected), GateCycle.ClosingTimeFor(DateTimeOffset.Parse(clearsAt), TimeSpan.FromSeconds(cadenceSeconds)));

    [Fact]
    public void ClosingTimeFor_ZeroCadence_Throws() =>
        Assert.Throws<ArgumentOutOfRangeException>(() => GateCycle.ClosingTimeFor(T0, TimeSpan.Zero));

    [Fact]
    public void IdFor_NamesTheClosingTimeInUtc()
    {
        Assert.Equal("gc-20260601T091500Z", GateCycle.IdFor(new DateTimeOffset(2026, 6, 1, 11, 15, 0, TimeSpan.FromHours(2))));
        Assert.True(GateCycle.IsCycleId("gc-20260601T091500Z"));
        Assert.False(GateCycle.IsCycleId("req_01"));
    }

    [Fact]
    public void Clear_GroupsAwardsByDsoAndDeliveryEnd_InBatchesOfAtMostTheLimit()
    {
        var end = T0.AddHours(5);
        var cycle = Closed();
        Clear(cycle, [
            Cleared("r3", "dso1", end, 2), Cleared("r1", "dso1", end, 3), Cleared("r2", "dso2", end, 1),
            Cleared("r4", "dso1", end.AddHours(-1), 1), Cleared("r5", "dso1", end, 0)], maxAwardsPerBatch: 3);

        Assert.Equal(GateCycleState.Cleared, cycle.State);
        // Earlier delivery end first, then DSO; within a group by request id and award index; 5 awards of dso1 at `end` split 3 + 2.
        Assert.Equal(["dso1@4", "dso1@5", "dso1@5", "dso2@5"], cycle.Batches.Select(b => $"{b.DsoId}@{(b.DeliveryEnd - T0).TotalHours}"));
        Assert.Equal(["r4:0"], Refs(cycle.Batches[0]));
        Assert.Equal(["r1:0", "r1:1", "r1:2"], Refs(cycle.Batches[1]));
        Assert.Equal(["r3:0", "r3:1"], Refs(cycle.Batches[2]));
        Assert.Equal(["r2:0"], Refs(cycle.Batches[3]));
        Assert.Equal(Enumerable.Range(0, 4).Select(n => $"{cycle.Id}/{n}"), cycle.Batches.Select(b => b.Key));
        Assert.Equal([cycle.Batches[1], cycle.Batches[2]], cycle.BatchesOf("r1").Concat(cycle.BatchesOf("r3")));
    }

    private static IEnumerable<string> Refs(EscrowBatch b) => b.Awards.Select(a => $"{a.RequestId}:{a.AwardIndex}");

    [Fact]
    public void Clear_SamePlanWhateverTheOrderOfRequests()
    {
        var end = T0.AddHours(5);
        var requests = new List<FlexRequest> { Cleared("a", "dso1", end, 4), Cleared("b", "dso2", end, 2), Cleared("c", "dso1", end.AddHours(1), 3), Cleared("d", "dso1", end, 1) };
        var plans = new[] { requests, Enumerable.Reverse(requests).ToList(), requests.OrderBy(r => r.DsoId).ThenByDescending(r => r.Id).ToList() }.Select(order =>
        {
            var cycle = Closed();
            Clear(cycle, order, 2);
            return string.Join(" | ", cycle.Batches.Select(b => $"{b.Key} {b.DsoId} {b.DeliveryEnd:O} {string.Join(",", Refs(b))}"));
        }).ToList();

        Assert.All(plans, p => Assert.Equal(plans[0], p));
    }

    [Fact]
    public void Clear_NothingAwarded_SettlesAtOnce()
    {
        var cycle = Closed();
        Clear(cycle, [Cleared("r1", "dso1", T0.AddHours(5), 0)], 200);

        Assert.Equal(GateCycleState.Settled, cycle.State);
        Assert.Empty(cycle.Batches);
        Assert.Equal((GateCycleState.Closed, GateCycleState.Settled), (cycle.History[^1].From, cycle.History[^1].To));
    }

    [Fact]
    public void Close_BeforeClosingTime_Throws()
    {
        var cycle = GateCycle.Open(Closes, T0);
        var e = Assert.Throws<DomainException>(() => cycle.Close(Closes.AddTicks(-1)));
        Assert.Equal("gate-open", e.Rule);
        Assert.Equal(GateCycleState.Open, cycle.State);
    }

    [Fact]
    public void Clear_OnlyAfterTheMembersAreFixed()
    {
        var cycle = GateCycle.Open(Closes, T0);
        Assert.Equal("illegal-transition", Assert.Throws<DomainException>(() => Clear(cycle, [], 200)).Rule);
        cycle.Close(Closes);
        Assert.Equal("illegal-transition", Assert.Throws<DomainException>(() => cycle.Close(Closes)).Rule);
        Clear(cycle, [], 200);
        Assert.Equal(["Open->Open", "Open->Closed", "Closed->Settled"], cycle.History.Select(e => $"{e.From}->{e.To}"));
    }

    /// <summary>Plans the batches of <paramref name="requests"/> and clears the cycle with them at its closing time.</summary>
    private static void Clear(GateCycle cycle, IReadOnlyList<FlexRequest> requests, int maxAwardsPerBatch) =>
        cycle.Clear(cycle.PlanBatches(requests, maxAwardsPerBatch), requests.Count, Closes);

    /// <summary>An open cycle closed at its closing time: its members are fixed, ready to clear.</summary>
    private static GateCycle Closed()
    {
        var cycle = GateCycle.Open(Closes, T0);
        cycle.Close(Closes);
        return cycle;
    }

    [Fact]
    public void LockAndSettle_EveryBatchOnce_ThenAwardedAndSettled_WithHistory()
    {
        var end = T0.AddHours(5);
        var cycle = Closed();
        Clear(cycle, [Cleared("r1", "dso1", end, 3)], 2);

        cycle.RecordLock(0, "0xlock0", Closes);
        Assert.Equal("batches-unlocked", Assert.Throws<DomainException>(() => cycle.MarkAwarded(Closes)).Rule);
        cycle.RecordLock(1, "0xlock1", Closes);
        cycle.RecordLock(1, "0xother", Closes); // a repeated checkpoint keeps the first transaction
        cycle.MarkAwarded(Closes);
        Assert.Equal(["0xlock0", "0xlock1"], cycle.Batches.Select(b => b.LockTransaction));
        Assert.Equal("illegal-transition", Assert.Throws<DomainException>(() => cycle.RecordLock(0, "0x", Closes)).Rule);

        cycle.RecordSettlement(1, "0xsettle1", end);
        Assert.Equal("illegal-transition", Assert.Throws<DomainException>(() => cycle.RecordUnpaid(1, "refunded", end)).Rule); // settled
        Assert.Equal("batches-unsettled", Assert.Throws<DomainException>(() => cycle.MarkSettled(end)).Rule);
        cycle.RecordSettlement(0, "0xsettle0", end);
        cycle.MarkSettled(end);

        Assert.Equal(GateCycleState.Settled, cycle.State);
        Assert.Equal(["Open->Open", "Open->Closed", "Closed->Cleared", "Cleared->Cleared", "Cleared->Cleared", "Cleared->Awarded", "Awarded->Awarded", "Awarded->Awarded", "Awarded->Settled"],
            cycle.History.Select(e => $"{e.From}->{e.To}"));
        Assert.Contains("locked in 0xlock1", cycle.History[4].Cause, StringComparison.Ordinal);
    }

    [Fact]
    public void FundingFailure_OfOneBatch_LeavesTheOthers_AndTheCycleSettlesWithoutIt()
    {
        var end = T0.AddHours(5);
        var cycle = Closed();
        Clear(cycle, [Cleared("r1", "dso1", end, 1), Cleared("r2", "dso2", end, 1)], 200);
        Assert.Equal(2, cycle.Batches.Count);

        cycle.RecordLock(0, "0xlock0", Closes);
        Assert.Equal("illegal-transition", Assert.Throws<DomainException>(() => cycle.RecordFundingFailure(0, "balance", Closes)).Rule);
        cycle.RecordFundingFailure(1, "allowance: 0 of 1000", Closes);
        cycle.RecordFundingFailure(1, "another reason", Closes); // a repeat keeps the first
        Assert.Equal("illegal-transition", Assert.Throws<DomainException>(() => cycle.RecordLock(1, "0xlate", Closes)).Rule);
        Assert.Equal(("allowance: 0 of 1000", true, false), (cycle.Batches[1].FundingFailure, cycle.Batches[1].LockDone, cycle.Batches[0].Finished));
        cycle.MarkAwarded(Closes);
        Assert.Contains("1 not funded", cycle.History[^1].Cause, StringComparison.Ordinal);
        Assert.Equal("batches-unsettled", Assert.Throws<DomainException>(() => cycle.MarkSettled(end)).Rule);

        cycle.RecordSettlement(0, "0xsettle0", end);
        cycle.MarkSettled(end);
        Assert.Equal(GateCycleState.Settled, cycle.State);
        Assert.Equal("1 escrow batch(es) settled, 1 not funded, 0 unpaid", cycle.History[^1].Cause);
    }

    [Fact]
    public void Unpaid_OnlyForALockedUnsettledBatch_FinishesIt()
    {
        var end = T0.AddHours(5);
        var cycle = Closed();
        Clear(cycle, [Cleared("r1", "dso1", end, 1), Cleared("r2", "dso2", end, 1)], 200);
        Assert.Equal("illegal-transition", Assert.Throws<DomainException>(() => cycle.RecordUnpaid(0, "refunded", Closes)).Rule); // Cleared
        cycle.RecordLock(0, "0xlock0", Closes);
        cycle.RecordFundingFailure(1, "balance", Closes);
        cycle.MarkAwarded(Closes);

        Assert.Equal("illegal-transition", Assert.Throws<DomainException>(() => cycle.RecordUnpaid(1, "refunded", end)).Rule); // never locked
        cycle.RecordUnpaid(0, "refunded in 0xrefund", end);
        Assert.Throws<ArgumentException>(() => cycle.RecordUnpaid(0, " ", end));
        Assert.True(cycle.Batches[0].Finished);
        cycle.MarkSettled(end);
        Assert.Equal("0 escrow batch(es) settled, 1 not funded, 1 unpaid", cycle.History[^1].Cause);
    }

    [Fact]
    public void NeedAttention_RecordsStepReasonAndTime_KeepsTheFirst_ResumeClearsIt()
    {
        var cycle = Closed();
        cycle.NeedAttention("chain node unreachable", Closes.AddMinutes(3));
        cycle.NeedAttention("another failure", Closes.AddMinutes(4));   // a repeated flag keeps the first

        Assert.Equal(new GateCycleAttention("clear", "chain node unreachable", Closes.AddMinutes(3)), cycle.Attention);
        Assert.Equal(GateCycleState.Closed, cycle.State);
        Assert.Equal("needs attention: step clear failed: chain node unreachable", cycle.History[^1].Cause);

        cycle.Resume(Closes.AddMinutes(5));
        Assert.Null(cycle.Attention);
        Assert.Equal((Closes.AddMinutes(5), GateCycleState.Closed, GateCycleState.Closed), (cycle.History[^1].At, cycle.History[^1].From, cycle.History[^1].To));
        Assert.Equal("not-needs-attention", Assert.Throws<DomainException>(() => cycle.Resume(Closes.AddMinutes(6))).Rule);
    }

    [Fact]
    public void Step_NamesWhatRunsNext_AndASettledCycleCannotNeedAttention()
    {
        var cycle = GateCycle.Open(Closes, T0);
        Assert.Equal("close", cycle.Step);
        cycle.Close(Closes);
        Assert.Equal("clear", cycle.Step);
        Clear(cycle, [Cleared("r1", "dso1", T0.AddHours(5), 1)], 200);
        Assert.Equal("lock", cycle.Step);
        cycle.RecordLock(0, "0xlock", Closes);
        cycle.MarkAwarded(Closes);
        Assert.Equal("settle", cycle.Step);
        cycle.RecordSettlement(0, "0xsettle", Closes);
        cycle.MarkSettled(Closes);
        Assert.Equal("none", cycle.Step);
        Assert.Equal("illegal-transition", Assert.Throws<DomainException>(() => cycle.NeedAttention("late", Closes)).Rule);
    }
}
