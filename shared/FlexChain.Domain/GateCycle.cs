using System.Globalization;

namespace FlexChain.Domain;

/// <summary>Where a gate cycle is. Numbers are stable; names go on the wire.</summary>
public enum GateCycleState
{
    /// <summary>Collecting requests; offers are accepted until each request's own gate closure.</summary>
    Open = 1,

    /// <summary>The closing time has passed and the members are fixed: no request may join; clearing is under way.</summary>
    Closed = 2,

    /// <summary>Every request cleared together; the awards are planned in escrow batches.</summary>
    Cleared = 3,

    /// <summary>Every batch is locked in escrow on chain; deliveries follow.</summary>
    Awarded = 4,

    /// <summary>Every batch is finished: settled on chain, not funded or refunded (or the cycle awarded nothing).</summary>
    Settled = 8,
}

/// <summary>An award's place in a batch: the request and the award's index in the request's awards.</summary>
public sealed record AwardRef(string RequestId, int AwardIndex);

/// <summary>
/// Awards of one DSO with the same delivery end, locked and settled on chain together (one escrow cycle, one
/// transaction each). <see cref="Key"/> names the escrow cycle; the award at position i of <see cref="Awards"/> is the
/// escrow cycle's award i. A batch ends settled (<see cref="SettleTransaction"/>), unfunded (<see cref="FundingFailure"/>:
/// the escrow refused to draw its funds from the DSO) or unpaid (<see cref="Unpaid"/>: its locked funds were refunded).
/// </summary>
public sealed record EscrowBatch(
    int Number, string Key, string DsoId, DateTimeOffset DeliveryEnd, IReadOnlyList<AwardRef> Awards,
    string? LockTransaction = null, string? SettleTransaction = null, string? FundingFailure = null, string? Unpaid = null)
{
    /// <summary>Whether the lock step is done with the batch: locked, or refused for funding.</summary>
    public bool LockDone => LockTransaction is not null || FundingFailure is not null;

    /// <summary>Whether nothing more happens to the batch: settled, unfunded or refunded.</summary>
    public bool Finished => SettleTransaction is not null || FundingFailure is not null || Unpaid is not null;

    /// <summary>The key of batch <paramref name="number"/> of cycle <paramref name="cycleId"/>: <c>{cycleId}/{number}</c>.</summary>
    public static string KeyFor(string cycleId, int number) => $"{cycleId}/{number.ToString(CultureInfo.InvariantCulture)}";
}

/// <summary>
/// Why a gate cycle stopped and waits for the market operator: its step kept failing for the configured number of
/// attempts. The operator resumes it (<see cref="GateCycle.Resume"/>) once the cause is fixed.
/// </summary>
/// <param name="Step">The failing step: <c>close</c>, <c>clear</c>, <c>lock</c> or <c>settle</c> (verification and settlement).</param>
/// <param name="Reason">The last failure, as the step reported it.</param>
/// <param name="Since">When the cycle stopped (UTC).</param>
public sealed record GateCycleAttention(string Step, string Reason, DateTimeOffset Since);

/// <summary>One transition of a gate cycle, or one of its checkpoints, with its time and cause.</summary>
public sealed record GateCycleEvent(DateTimeOffset At, GateCycleState From, GateCycleState To, string Cause);

/// <summary>
/// A gate cycle (ARCHITECTURE.md section 4): the requests that clear at the same cadence slot. The market runs on a
/// fixed cadence aligned to the clock (for example every 15 minutes: :00, :15, :30, :45); a request belongs to the
/// cycle whose closing time is the first slot boundary at or after the time it clears (its gate closure, or for manual
/// selection its decision deadline). At the closing time every request of the cycle is cleared in one run of the
/// clearing engine; the awards are grouped into escrow batches (per DSO and delivery end, at most a fixed number of
/// awards each), so the chain sees one lock and one settlement per batch, however many offers there were. The
/// cycle records every transition and checkpoint with its cause.
/// </summary>
public sealed class GateCycle
{
    /// <summary>Rehydrates a stored cycle; use <see cref="Open"/> to start a new one.</summary>
    public GateCycle(string id, DateTimeOffset closesAt, GateCycleState state, IReadOnlyList<EscrowBatch> batches, IReadOnlyList<GateCycleEvent> history,
        GateCycleAttention? attention = null)
    {
        Attention = attention;
        Id = id;
        ClosesAt = closesAt;
        State = state;
        Batches = batches;
        History = history;
    }

    public string Id { get; }

    /// <summary>When the cycle's requests are cleared together (a cadence boundary).</summary>
    public DateTimeOffset ClosesAt { get; }

    public GateCycleState State { get; private set; }

    public IReadOnlyList<EscrowBatch> Batches { get; private set; }

    public IReadOnlyList<GateCycleEvent> History { get; private set; }

    /// <summary>Why the cycle waits for the market operator, or null while it runs.</summary>
    public GateCycleAttention? Attention { get; private set; }

    /// <summary>The step the cycle runs next: <c>close</c>, <c>clear</c>, <c>lock</c>, <c>settle</c>, or <c>none</c> once settled.</summary>
    public string Step => State switch
    {
        GateCycleState.Open => "close",
        GateCycleState.Closed => "clear",
        GateCycleState.Cleared => "lock",
        GateCycleState.Awarded => "settle",
        _ => "none",
    };

    /// <summary>
    /// Stops the cycle for the market operator: its current step failed for the configured number of attempts with
    /// <paramref name="reason"/> (the last failure). A cycle already waiting keeps its first reason.
    /// </summary>
    /// <exception cref="DomainException">The cycle is settled (rule <c>illegal-transition</c>).</exception>
    public void NeedAttention(string reason, DateTimeOffset now)
    {
        if (State == GateCycleState.Settled)
            throw new DomainException("state", "illegal-transition", $"Gate cycle {Id} is settled; nothing is left to fail.");
        if (Attention is not null) return;
        Attention = new GateCycleAttention(Step, reason, now);
        Log(now, $"needs attention: step {Step} failed: {reason}");
    }

    /// <summary>The market operator resumes a cycle that needs attention: its step is tried again.</summary>
    /// <exception cref="DomainException">The cycle does not need attention (rule <c>not-needs-attention</c>).</exception>
    public void Resume(DateTimeOffset now)
    {
        if (Attention is null)
            throw new DomainException("id", "not-needs-attention", $"Gate cycle {Id} does not need attention; it is {State} and running.");
        Attention = null;
        Log(now, $"resumed by the market operator: step {Step} is tried again");
    }

    /// <summary>The closing time of the cycle that a request clearing at <paramref name="clearsAt"/> belongs to: the first multiple of <paramref name="cadence"/> since the Unix epoch at or after it.</summary>
    public static DateTimeOffset ClosingTimeFor(DateTimeOffset clearsAt, TimeSpan cadence)
    {
        if (cadence <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(cadence), "The cadence must be positive.");
        var sinceEpoch = clearsAt.UtcTicks - DateTimeOffset.UnixEpoch.UtcTicks;
        var slots = sinceEpoch / cadence.Ticks + (sinceEpoch % cadence.Ticks == 0 ? 0 : 1);
        return DateTimeOffset.UnixEpoch.AddTicks(checked(slots * cadence.Ticks));
    }

    /// <summary>The id of the cycle closing at <paramref name="closesAt"/>: <c>gc-yyyyMMddTHHmmssZ</c>.</summary>
    public static string IdFor(DateTimeOffset closesAt) => "gc-" + closesAt.UtcDateTime.ToString("yyyyMMdd'T'HHmmss'Z'", CultureInfo.InvariantCulture);

    /// <summary>Whether <paramref name="id"/> names a gate cycle (rather than a request).</summary>
    public static bool IsCycleId(string id) => id.StartsWith("gc-", StringComparison.Ordinal);

    /// <summary>A new, open cycle closing at <paramref name="closesAt"/>.</summary>
    public static GateCycle Open(DateTimeOffset closesAt, DateTimeOffset now) =>
        new(IdFor(closesAt), closesAt, GateCycleState.Open, [], [new(now, GateCycleState.Open, GateCycleState.Open, "first request joined")]);

    /// <summary>
    /// Fixes the members at or after the closing time: from now on no request may join, so the clearing that follows
    /// sees every member (a request that joins does so with an If-Match on the cycle, which this transition changes).
    /// </summary>
    public void Close(DateTimeOffset now)
    {
        Require(GateCycleState.Open, "close");
        if (now < ClosesAt) throw new DomainException("state", "gate-open", "The gate cycle closes at " + ClosesAt.ToString("O"));
        Transition(GateCycleState.Closed, now, "closing time reached: members fixed");
    }

    /// <summary>
    /// Plans the escrow batches of <paramref name="requests"/> as cleared (each already carrying its part of the one
    /// clearing run). Awards are grouped by DSO and delivery end, ordered by (delivery end, DSO, request, award index) and
    /// cut into batches of at most <paramref name="maxAwardsPerBatch"/>, so the plan is the same however often it is
    /// computed. Changes nothing: the plan is stored first, then applied with <see cref="Clear"/>.
    /// </summary>
    public IReadOnlyList<EscrowBatch> PlanBatches(IReadOnlyList<FlexRequest> requests, int maxAwardsPerBatch)
    {
        if (maxAwardsPerBatch < 1) throw new ArgumentOutOfRangeException(nameof(maxAwardsPerBatch));
        var batches = new List<EscrowBatch>();
        foreach (var group in requests.Where(r => r.State == RequestState.Cleared)
            .GroupBy(r => (r.DsoId, r.Delivery.End))
            .OrderBy(g => g.Key.End).ThenBy(g => g.Key.DsoId, StringComparer.Ordinal))
        {
            var refs = group.OrderBy(r => r.Id, StringComparer.Ordinal)
                .SelectMany(r => r.Awards.Select((_, i) => new AwardRef(r.Id, i))).ToList();
            for (var from = 0; from < refs.Count; from += maxAwardsPerBatch)
            {
                var n = batches.Count;
                batches.Add(new EscrowBatch(n, EscrowBatch.KeyFor(Id, n), group.Key.DsoId, group.Key.End, refs.Skip(from).Take(maxAwardsPerBatch).ToList()));
            }
        }
        return batches;
    }

    /// <summary>
    /// Clears the closed cycle with its stored batch plan (<see cref="PlanBatches"/>) for <paramref name="requestCount"/>
    /// requests cleared together. With no award at all the cycle is settled at once: nothing goes on chain.
    /// </summary>
    public void Clear(IReadOnlyList<EscrowBatch> batches, int requestCount, DateTimeOffset now)
    {
        Require(GateCycleState.Closed, "clear");
        Batches = batches;
        var awards = batches.Sum(b => b.Awards.Count);
        var awarded = batches.SelectMany(b => b.Awards).Select(a => a.RequestId).Distinct().Count();
        Transition(batches.Count == 0 ? GateCycleState.Settled : GateCycleState.Cleared, now,
            $"gate closed: {requestCount} request(s) cleared together, {awarded} with awards; {awards} award(s) in {batches.Count} escrow batch(es)");
    }

    /// <summary>Records that batch <paramref name="number"/> is locked in escrow by <paramref name="transaction"/> (a repeat keeps the first).</summary>
    /// <exception cref="DomainException">The cycle is not Cleared, or the batch was refused for funding (rule <c>illegal-transition</c>).</exception>
    public void RecordLock(int number, string transaction, DateTimeOffset now)
    {
        if (Batches[number].FundingFailure is { } reason)
            throw new DomainException("state", "illegal-transition", $"Escrow batch {number} of gate cycle {Id} was not funded ({reason}); it cannot be locked.");
        Record(GateCycleState.Cleared, number, b => b.LockTransaction is null ? b with { LockTransaction = transaction } : null, $"locked in {transaction}", now);
    }

    /// <summary>
    /// Records that the escrow refused to fund batch <paramref name="number"/> (<paramref name="reason"/>): it is never
    /// locked, and the other batches go on (a repeat keeps the first reason).
    /// </summary>
    /// <exception cref="DomainException">The cycle is not Cleared, or the batch is already locked (rule <c>illegal-transition</c>).</exception>
    public void RecordFundingFailure(int number, string reason, DateTimeOffset now)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(reason);
        if (Batches[number].LockTransaction is { } tx)
            throw new DomainException("state", "illegal-transition", $"Escrow batch {number} of gate cycle {Id} is locked in {tx}; it cannot fail funding.");
        Record(GateCycleState.Cleared, number, b => b.FundingFailure is null ? b with { FundingFailure = reason } : null, $"not funded: {reason}", now);
    }

    /// <summary>Moves to Awarded once every batch is locked or refused for funding (and its requests are marked so).</summary>
    public void MarkAwarded(DateTimeOffset now)
    {
        Require(GateCycleState.Cleared, "mark awarded");
        if (Batches.Any(b => !b.LockDone)) throw new DomainException("state", "batches-unlocked", $"Gate cycle {Id} has escrow batches not yet locked.");
        var failed = Batches.Count(b => b.FundingFailure is not null);
        Transition(GateCycleState.Awarded, now, failed == 0 ? "every escrow batch is locked; deliveries follow"
            : $"{Batches.Count - failed} escrow batch(es) locked, {failed} not funded; deliveries of the locked ones follow");
    }

    /// <summary>Records that batch <paramref name="number"/> is settled on chain by <paramref name="transaction"/> (a repeat keeps the first).</summary>
    public void RecordSettlement(int number, string transaction, DateTimeOffset now) =>
        Record(GateCycleState.Awarded, number, b => b.SettleTransaction is null ? b with { SettleTransaction = transaction } : null, $"settled in {transaction}", now);

    /// <summary>
    /// Records that the locked batch <paramref name="number"/> was refunded to its DSO before it was settled
    /// (<paramref name="reason"/>): its awards are unpaid (a repeat keeps the first reason).
    /// </summary>
    /// <exception cref="DomainException">The cycle is not Awarded, or the batch is settled or was never locked (rule <c>illegal-transition</c>).</exception>
    public void RecordUnpaid(int number, string reason, DateTimeOffset now)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(reason);
        if (Batches[number] is { SettleTransaction: not null } or { LockTransaction: null })
            throw new DomainException("state", "illegal-transition", $"Escrow batch {number} of gate cycle {Id} is not locked and unsettled; it cannot be unpaid.");
        Record(GateCycleState.Awarded, number, b => b.Unpaid is null ? b with { Unpaid = reason } : null, $"unpaid: {reason}", now);
    }

    /// <summary>Moves to Settled once every batch is finished: settled, not funded or unpaid (and its requests are marked so).</summary>
    public void MarkSettled(DateTimeOffset now)
    {
        Require(GateCycleState.Awarded, "mark settled");
        if (Batches.Any(b => !b.Finished)) throw new DomainException("state", "batches-unsettled", $"Gate cycle {Id} has escrow batches not yet settled.");
        var settled = Batches.Count(b => b.SettleTransaction is not null);
        Transition(GateCycleState.Settled, now, settled == Batches.Count ? "every escrow batch is settled"
            : $"{settled} escrow batch(es) settled, {Batches.Count(b => b.FundingFailure is not null)} not funded, {Batches.Count(b => b.Unpaid is not null)} unpaid");
    }

    /// <summary>The batches holding the awards of <paramref name="requestId"/>.</summary>
    public IEnumerable<EscrowBatch> BatchesOf(string requestId) => Batches.Where(b => b.Awards.Any(a => a.RequestId == requestId));

    /// <summary>A checkpoint of one batch in state <paramref name="expected"/>: <paramref name="change"/> gives the updated batch, or null when already recorded.</summary>
    private void Record(GateCycleState expected, int number, Func<EscrowBatch, EscrowBatch?> change, string what, DateTimeOffset now)
    {
        Require(expected, "record a batch " + what.Split(' ')[0]);
        if (change(Batches[number]) is not { } updated) return;
        Batches = Batches.Select(b => b.Number == number ? updated : b).ToList();
        Log(now, $"escrow batch {number} ({updated.Awards.Count} award(s)) {what}");
    }

    private void Transition(GateCycleState to, DateTimeOffset now, string cause)
    {
        History = [.. History, new GateCycleEvent(now, State, to, cause)];
        State = to;
    }

    private void Log(DateTimeOffset now, string cause) => History = [.. History, new GateCycleEvent(now, State, State, cause)];

    private void Require(GateCycleState expected, string verb)
    {
        if (State != expected)
            throw new DomainException("state", "illegal-transition", $"Cannot {verb}: gate cycle {Id} is {State}, not {expected}.");
    }
}
