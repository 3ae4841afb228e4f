using Azure;
using FlexChain.Domain;
using FlexChain.Functions.Hosting;
using FlexChain.Functions.Settlement;
using FlexChain.Functions.Storage;
using FlexChain.Verification;
using Microsoft.Extensions.Options;

namespace FlexChain.Functions.Gates;

/// <summary>Settings of the gate cycle (section <c>GateCycle</c>).</summary>
public sealed class GateCycleOptions : System.ComponentModel.DataAnnotations.IValidatableObject
{
    /// <summary>How long after the delivery window meter data may still arrive before verification runs.</summary>
    public TimeSpan MeterDataGrace { get; set; } = TimeSpan.FromMinutes(15);

    /// <summary>How long after the delivery window an unsettled escrow may be refunded to the DSO by anyone.</summary>
    public TimeSpan RefundAfter { get; set; } = TimeSpan.FromDays(7);

    /// <summary>The gate cadence, aligned to the clock: requests clearing in the same slot clear together and share escrow batches.</summary>
    public TimeSpan Cadence { get; set; } = TimeSpan.FromMinutes(15);

    /// <summary>
    /// How long winners need between the gate cycle's results and the start of delivery: a request whose cycle closes
    /// later than its delivery start minus this is refused when posted.
    /// </summary>
    [System.ComponentModel.DataAnnotations.Range(typeof(TimeSpan), "00:00:00", "1.00:00:00")]
    public TimeSpan ActivationLeadTime { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>
    /// The market interval in minutes (1 to 60, dividing the hour; default 15): a request posted now checks delivery per
    /// interval of this length, and keeps it when the setting changes later.
    /// </summary>
    [System.ComponentModel.DataAnnotations.Range(1, 60)]
    public int MarketIntervalMinutes { get; set; } = 15;

    /// <summary>The market interval of <see cref="MarketIntervalMinutes"/>.</summary>
    public MarketInterval MarketInterval => MarketInterval.From(MarketIntervalMinutes, nameof(MarketIntervalMinutes));

    /// <summary>The rule the attributes cannot say: the market interval divides the hour.</summary>
    public IEnumerable<System.ComponentModel.DataAnnotations.ValidationResult> Validate(System.ComponentModel.DataAnnotations.ValidationContext validationContext)
    {
        if (MarketIntervalMinutes is >= 1 and <= 60 && 60 % MarketIntervalMinutes != 0)
            yield return new($"MarketIntervalMinutes must divide the hour, not {MarketIntervalMinutes}.", [nameof(MarketIntervalMinutes)]);
    }

    /// <summary>The most awards one escrow batch (one lock and one settle transaction) carries.</summary>
    [System.ComponentModel.DataAnnotations.Range(1, 1000)]
    public int MaxAwardsPerBatch { get; set; } = 200;

    /// <summary>
    /// The longest a cycle's orchestration sleeps before it looks at the market's clock again, however far its next step
    /// is (durable timers run on real time; a moved clock, as in tests, is seen within this).
    /// </summary>
    [System.ComponentModel.DataAnnotations.Range(typeof(TimeSpan), "00:00:01", "1.00:00:00")]
    public TimeSpan MaxTimerWait { get; set; } = TimeSpan.FromMinutes(15);

    /// <summary>
    /// How many times a failing step is tried (with backoff) before the cycle stops and needs attention: shown, announced,
    /// and resumed by the market operator (<see cref="GateCycleRunner.ResumeAsync"/>).
    /// </summary>
    [System.ComponentModel.DataAnnotations.Range(1, 100)]
    public int StepAttempts { get; set; } = 10;

    /// <summary>The wait before the first retry of a failing step; each further one waits twice as long, up to <see cref="StepRetryMax"/>.</summary>
    [System.ComponentModel.DataAnnotations.Range(typeof(TimeSpan), "00:00:00.100", "00:10:00")]
    public TimeSpan StepRetryFirst { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>The longest wait between retries of a failing step.</summary>
    [System.ComponentModel.DataAnnotations.Range(typeof(TimeSpan), "00:00:01", "01:00:00")]
    public TimeSpan StepRetryMax { get; set; } = TimeSpan.FromSeconds(30);
}

/// <summary>
/// Runs the gate cycles (ARCHITECTURE.md section 4). A request joins the cycle of the cadence slot it clears in; the
/// cycle's orchestration (<see cref="GateCycleOrchestration"/>) is started before the first request is stored, and calls
/// <see cref="AdvanceAsync"/> at the closing time and whenever the cycle can move again. Each step is checkpointed in the
/// cycle's header with If-Match:
/// Open -> Cleared: every member request is cleared in one run of the clearing engine (a station is never awarded twice
/// for overlapping windows: the engine takes the stations booked by other cycles as input, and this cycle's awards book
/// theirs before they are saved), the awards are planned in escrow batches (per DSO and delivery end), and this plan is
/// stored before anything is saved from it (a retry applies the stored plan); then the bookings and each request's
/// escrow slots are recorded, then each request's result is saved; Cleared -> Awarded: each batch is locked on chain
/// as one escrow cycle (one transaction, however many awards; a batch its DSO can no longer fund is not locked and its
/// requests end FundingFailed, while the others go on), then the requests are marked awarded and scheduled for
/// verification; each awarded request moves Awarded -> Settling once its window and the meter-data grace have passed
/// (delivery verification); Awarded -> Settled: each batch whose requests are all verified is settled on chain (one
/// transaction), its requests are marked settled (or Unpaid when the batch was refunded to its DSO instead). Chain writes first ask the contract whether the batch was already
/// locked or settled, and the contract refuses a second lock or settlement of the same escrow cycle. A crash anywhere
/// leaves the last checkpoint, from which the orchestration's retry of the step resumes.
/// </summary>
public sealed partial class GateCycleRunner(
    MarketStore store, SettlementLedger ledger, IOptions<GateCycleOptions> options, ILogger<GateCycleRunner> log,
    RequestEvents events, GateCycleHub hub, TimeProvider clock, Notifications.NotificationPublisher notifications, FaultInjection faults,
    RecordSnapshots snapshots, Azure.Storage.Blobs.BlobServiceClient blobs)
{
    /// <summary>The market's clearing lease (<see cref="PlanAndBookAsync"/>).</summary>
    public const string ClearingLease = "clearing";

    /// <summary>How long the clearing lease outlives a holder that died: the shortest blob lease (renewed while held).</summary>
    private static readonly TimeSpan ClearingLeaseDuration = ExclusiveLease.MinDuration;

    /// <summary>How long a clearing waits for another one before its step fails (and is retried).</summary>
    private static readonly TimeSpan ClearingLeaseWait = TimeSpan.FromMinutes(2);

    /// <summary>
    /// How long before its closing time an open cycle's step is run, to wait for it in the step: more than the two queue
    /// polls (<see cref="DurableTaskOptions.MaxQueuePollingInterval"/>, 1 s) between a durable timer and its activity.
    /// </summary>
    private static readonly TimeSpan CloseAhead = TimeSpan.FromSeconds(3);

    private readonly GateCycleOptions _options = options.Value;

    /// <summary>The market interval new requests are posted with.</summary>
    public MarketInterval MarketInterval => _options.MarketInterval;

    /// <summary>The time to record for a step: the clock as the step happens (a tick's steps can take a while), never before the tick.</summary>
    private DateTimeOffset Now(DateTimeOffset tick) => clock.GetUtcNow() is var t && t > tick ? t : tick;

    /// <summary>
    /// Stores a new request in its gate cycle: the cycle is opened (if new) and its orchestration started, the membership
    /// recorded, then the request written with its request.published announcement in the outbox (the caller sends it,
    /// <see cref="RequestEvents.PublishAsync"/>); a request is never left in a cycle that nothing runs.
    /// </summary>
    /// <exception cref="DomainException">
    /// The cycle would close too late to activate the winners before delivery (rule <c>lead-time</c>); the cycle has
    /// already closed (only possible when the request arrives within moments of its slot's end).
    /// </exception>
    public async Task AddAsync(FlexRequest request, CancellationToken cancellationToken)
    {
        request.RequireLeadTime(_options.Cadence, _options.ActivationLeadTime);
        var closesAt = GateCycle.ClosingTimeFor(request.ClearsAt, _options.Cadence);
        var cycle = await store.GetOrOpenGateCycleAsync(closesAt, request.CreatedAt, cancellationToken);
        if (cycle.Value.State == GateCycleState.Open) await hub.EnsureStartedAsync(cycle.Value.Id, cancellationToken);
        if (!await store.TryJoinGateCycleAsync(cycle, request.Id, cancellationToken))
            throw new DomainException("gateClosure", "gate-cycle-closed", $"Gate cycle {cycle.Value.Id} has already closed; choose a later gateClosure.");
        request.JoinGateCycle(cycle.Value.Id);
        await events.AddAsync(request, cancellationToken);
    }

    /// <summary>
    /// The timer's job: every cycle that is not settled and closed within <see cref="GateCycleOptions.RefundAfter"/> has an
    /// orchestration (one that failed or was terminated is started again).
    /// </summary>
    /// <returns>How many unfinished cycles there are.</returns>
    public async Task<int> EnsureOrchestrationsAsync(DateTimeOffset now, CancellationToken cancellationToken)
    {
        var unfinished = await store.GetUnfinishedGateCycleIdsAsync(now - _options.RefundAfter, cancellationToken);
        await Parallel.ForEachAsync(unfinished, MarketStore.InParallel(cancellationToken), async (id, ct) => await hub.EnsureStartedAsync(id, ct));
        return unfinished.Count;
    }

    /// <summary>
    /// Verifies each awarded member request whose window and the meter-data grace have passed, and announces the verified
    /// ones (a verification saved just before a crash is announced now).
    /// </summary>
    /// <param name="announcing">Where the announcements go: awaited before the cycle's next checkpoint, not before its settlement.</param>
    private async Task VerifyDueAsync(GateCycle cycle, DateTimeOffset now, List<Task> announcing, CancellationToken cancellationToken)
    {
        var requests = await store.GetRequestsAsync(cycle.Batches.SelectMany(b => b.Awards).Select(a => a.RequestId).Distinct(), cancellationToken);
        await Parallel.ForEachAsync(requests.Values.Where(m => m.Value.State == RequestState.Awarded && m.Value.NextStepAt(_options.MeterDataGrace) <= now),
            MarketStore.InParallel(cancellationToken), async (m, ct) =>
            {
                var request = m.Value;
                request.Verify(await store.LoadEvidenceAsync(request, ct), now);
                await store.RecordQualityAsync(request, ct);
                await store.RecordImbalanceAsync(request, now, ct);
                await SaveAsync(request, m.ETag, RequestState.Awarded, ct);
                faults.Reached(FaultInjection.VerificationStored);
            });
        announcing.Add(events.AnnounceAsync(requests.Values.Select(m => m.Value).Where(r => r.State == RequestState.Settling), cancellationToken));
    }

    /// <summary>
    /// Advances a gate cycle as far as it can go at <paramref name="now"/>; returns when it is next due, or null when it is
    /// finished (or unknown). Announcements of request
    /// transitions (<see cref="RequestEvents"/>) may run alongside the next step's chain work, but every step awaits
    /// them before its own checkpoint, so a checkpoint never hides an unsent announcement.
    /// </summary>
    public async Task<DateTimeOffset?> AdvanceAsync(string cycleId, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var announcing = new List<Task>();
        try
        {
            return await AdvanceCycleAsync(cycleId, now, announcing, cancellationToken);
        }
        finally
        {
            await Task.WhenAll(announcing);
        }
    }

    private async Task<DateTimeOffset?> AdvanceCycleAsync(string cycleId, DateTimeOffset now, List<Task> announcing, CancellationToken cancellationToken)
    {
        while (await store.GetGateCycleAsync(cycleId, cancellationToken) is { } stored)
        {
            var (cycle, etag) = stored;
            var before = cycle.State;
            switch (cycle.State)
            {
                case not GateCycleState.Settled when cycle.Attention is not null:
                    return null; // stopped until the market operator resumes it (which starts its orchestration again)
                case GateCycleState.Open when now < cycle.ClosesAt:
                    // Woken a little early, the step waits out the last moments itself: a durable timer fires up to two
                    // queue polls late, and the clearing should start at the closing time.
                    if (cycle.ClosesAt - now > CloseAhead) return cycle.ClosesAt - CloseAhead;
                    await Task.Delay(cycle.ClosesAt - now, clock, cancellationToken);
                    if (clock.GetUtcNow() < cycle.ClosesAt) return cycle.ClosesAt; // a clock moved by hand (tests) did not get there
                    now = clock.GetUtcNow();
                    continue;
                case GateCycleState.Open:
                    // Members are fixed first: a request joining from now on is refused, so the clearing sees them all.
                    cycle.Close(Now(now));
                    if (await store.TryReplaceGateCycleAsync(cycle, etag, [], cancellationToken) is null) continue;
                    break;
                case GateCycleState.Closed:
                    if (!await ClearAsync(cycle, etag, now, cancellationToken)) continue;
                    break;
                case GateCycleState.Cleared:
                    if (!await LockAsync(cycle, etag, now, announcing, cancellationToken)) continue;
                    break;
                case GateCycleState.Awarded:
                    await VerifyDueAsync(cycle, now, announcing, cancellationToken);
                    var (finished, next) = await SettleAsync(cycle, etag, now, announcing, cancellationToken);
                    if (!finished) return next;
                    break;
                default:
                    return null;
            }
            LogCycleTransition(cycleId, before, cycle.State);
        }
        return null;
    }

    /// <summary>
    /// Stops the cycle for the market operator after its step failed the configured number of times: the cycle shows
    /// why (<see cref="GateCycle.Attention"/>) and the DSOs of its requests and the operator are told. Idempotent (a
    /// repeated call keeps the first reason and announces nothing twice). Returns false for an unknown or settled cycle.
    /// </summary>
    public async Task<bool> NeedsAttentionAsync(string cycleId, string reason, DateTimeOffset now, CancellationToken cancellationToken)
    {
        while (await store.GetGateCycleAsync(cycleId, cancellationToken) is { } stored)
        {
            var (cycle, etag) = stored;
            if (cycle.State == GateCycleState.Settled) return false;
            if (cycle.Attention is null)
            {
                cycle.NeedAttention(reason, Now(now));
                if (await store.TryReplaceGateCycleAsync(cycle, etag, [], cancellationToken) is null) continue;
                LogNeedsAttention(cycleId, cycle.Step, reason);
            }
            var members = await store.GetGateCycleRequestsAsync(cycleId, cancellationToken);
            await notifications.GateCycleNeedsAttentionAsync(cycle, members.Values.Select(m => m.Value).OrderBy(r => r.Id, StringComparer.Ordinal), cancellationToken);
            return true;
        }
        return false;
    }

    /// <summary>The market operator resumes a cycle that needs attention: the flag is cleared and its orchestration started again.</summary>
    /// <returns>The resumed cycle, or null when there is no such cycle.</returns>
    /// <exception cref="DomainException">The cycle does not need attention (rule <c>not-needs-attention</c>).</exception>
    public async Task<GateCycle?> ResumeAsync(string cycleId, DateTimeOffset now, CancellationToken cancellationToken)
    {
        while (await store.GetGateCycleAsync(cycleId, cancellationToken) is { } stored)
        {
            var (cycle, etag) = stored;
            cycle.Resume(now);
            if (await store.TryReplaceGateCycleAsync(cycle, etag, [], cancellationToken) is null) continue;
            await hub.RestartAsync(cycleId, cancellationToken);
            return cycle;
        }
        return null;
    }

    /// <summary>
    /// Closed -> Cleared (or Settled when nothing was awarded): the clearing plan is made once and stored before
    /// anything is saved from it; this and every later attempt apply the stored plan, so two engine runs never mix.
    /// False when another instance moved the cycle first.
    /// </summary>
    private async Task<bool> ClearAsync(GateCycle cycle, ETag etag, DateTimeOffset now, CancellationToken cancellationToken)
    {
        // The bookings are written before the awards they come from are saved, so every later clearing sees them; a retry
        // after a stored plan books it again (an earlier attempt may have stopped before, and booking twice changes nothing).
        if (await store.GetClearingPlanAsync(cycle.Id, cancellationToken) is { } plan) await BookAsync(cycle.Id, plan, cancellationToken);
        else plan = await PlanAndBookAsync(cycle, now, cancellationToken);
        var members = await store.GetGateCycleRequestsAsync(cycle.Id, cancellationToken);
        var clearing = plan.Results.Select(r => members[r.RequestId]).ToList();
        var closed = clearing.Where(m => m.Value.State == RequestState.Open).ToList();
        foreach (var (request, _) in closed) request.Close(plan.For(request.Id), now);
        cycle.Clear(plan.Batches, plan.Results.Count, Now(now));

        // The escrow slots are written before the results they describe, so a cleared request always has them.
        var slots = cycle.Batches.SelectMany(b => b.Awards.Select((a, position) => (a, slot: new EscrowSlot(b.Number, position))))
            .GroupBy(x => x.a.RequestId).ToDictionary(g => g.Key, g => g.OrderBy(x => x.a.AwardIndex).Select(x => x.slot).ToList());
        await Parallel.ForEachAsync(slots, MarketStore.InParallel(cancellationToken), async (kv, ct) =>
            await store.PutMembershipAsync(kv.Key, new CycleMembership(cycle.Id, kv.Value), ct));
        // Only another attempt at this step can have changed a member since it was read: then this attempt fails and the
        // step is retried from what is stored.
        await Parallel.ForEachAsync(closed, MarketStore.InParallel(cancellationToken), async (m, ct) => await SaveAsync(m.Value, m.ETag, RequestState.Open, ct));
        await ForwardUnboughtAsync(clearing.Select(m => m.Value), cycle.ClosesAt, cancellationToken);
        // Without awards this is the last step, and the announcements go out before its checkpoint; with awards the lock
        // step sends them once its transactions are out (their notifications would compete with it for storage).
        if (cycle.State == GateCycleState.Settled) await events.AnnounceAsync(clearing.Select(m => m.Value), cancellationToken);
        return await store.TryReplaceGateCycleAsync(cycle, etag, cycle.Batches.Select(b => b.Number), cancellationToken) is not null;
    }

    /// <summary>
    /// Makes the cycle's clearing plan, stores it and books its awards, one gate cycle at a time market-wide: under the
    /// clearing lease (<see cref="ExclusiveLease"/> <see cref="ClearingLease"/>), because a clearing reads the bookings before it
    /// writes its own, and two cycles doing that at once (on two instances, or a late cycle and the next) would both
    /// award one station. Table storage has no transaction across the station partitions that a plan books, so the
    /// step itself is serialised. One lease for the whole market rather than one per transformer: there is one cycle per
    /// cadence slot, so clearings meet only when one is late, and then the later waits one clearing's time (about 0.3 s
    /// per 1,000 offers), while one lease needs no ordered acquisition and no rule about stations moving between
    /// transformers. A retry of the same cycle holds the lease with the same id (derived from the cycle id), so it
    /// re-enters the lease its crashed attempt held instead of waiting for it to expire; another cycle waits at most
    /// <see cref="ClearingLeaseDuration"/> after a holder died. The holder leaves its cycle id on the lease until its
    /// plan is booked, and the next holder first books the stored plan of a holder that died (or lost the lease) in
    /// between. The lease is proven held just before the plan is stored, so a holder paused past it stores nothing.
    /// </summary>
    private async Task<ClearingPlan> PlanAndBookAsync(GateCycle cycle, DateTimeOffset now, CancellationToken cancellationToken)
    {
        await using var lease = await ExclusiveLease.AcquireAsync(blobs, ClearingLease, LeaseIdOf(cycle.Id), ClearingLeaseDuration, ClearingLeaseWait,
            log, cancellationToken);
        if (await lease.ReadNoteAsync(cancellationToken) is { } unbooked && unbooked != cycle.Id
            && await store.GetClearingPlanAsync(unbooked, cancellationToken) is { } theirs)
            await BookAsync(unbooked, theirs, cancellationToken);
        await lease.WriteNoteAsync(cycle.Id, cancellationToken);
        var made = await PlanAsync(cycle, now, cancellationToken);
        await lease.EnsureHeldAsync(cancellationToken);
        var plan = await store.AddClearingPlanAsync(cycle.Id, made, cancellationToken);
        faults.Reached(FaultInjection.ClearingResultStored);
        await BookAsync(cycle.Id, plan, cancellationToken);
        await lease.WriteNoteAsync(null, cancellationToken);
        return plan;
    }

    /// <summary>The clearing lease's id for a cycle: a GUID from its id's hash, the same in every attempt and instance.</summary>
    private static string LeaseIdOf(string cycleId) =>
        new Guid(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(cycleId)).AsSpan(0, 16)).ToString();

    /// <summary>
    /// Books the stations of every award of <paramref name="cycleId"/>'s stored plan for its request's window, and records the
    /// net load each award adds below the grid nodes above its stations (<see cref="NodeLoad.Of"/>), which later cycles' common
    /// market counts in the nodes' headroom. Both are idempotent upserts, so a retry counts nothing twice.
    /// </summary>
    private async Task BookAsync(string cycleId, ClearingPlan plan, CancellationToken cancellationToken)
    {
        var requests = (await store.GetGateCycleRequestsAsync(cycleId, cancellationToken)).ToDictionary(kv => kv.Key, kv => kv.Value.Value);
        await Task.WhenAll(store.BookAsync(cycleId, plan.Results.SelectMany(r => StationBooking.For(r, requests[r.RequestId].Delivery)), cancellationToken),
            AddNodeLoadsAsync());

        async Task AddNodeLoadsAsync()
        {
            var awards = plan.Results.SelectMany(r => r.Awards.Select(a => (Request: requests[r.RequestId], Award: a))).ToList();
            var stations = await store.GetStationsAsync(awards.SelectMany(x => x.Award.StationIds.Select(s => (x.Award.CpoId, s))), cancellationToken);
            var (paths, _) = await store.GetGridPathsAsync(stations.Values.Select(s => s.TransformerId), cancellationToken);
            await store.AddNodeLoadsAsync(cycleId, awards.SelectMany(x => NodeLoad.Of(x.Award, x.Request.Direction, x.Request.Delivery, x.Request.Interval,
                s => stations.TryGetValue((x.Award.CpoId, s), out var station) ? paths[station.TransformerId] : [])), cancellationToken);
        }
    }

    /// <summary>
    /// Clears the cycle's open members (<see cref="CoordinatedClearing"/>: the engine once, or twice where a market area's
    /// coordination model puts one buyer first, then the common-market areas' allocation; a TSO's forwarded offers pooled
    /// into its minimum blocks, <see cref="Pooling"/>) and plans the escrow batches; saves nothing but the fences and the
    /// fixed manual decisions that make its input final.
    /// </summary>
    private async Task<ClearingPlan> PlanAsync(GateCycle cycle, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var members = await store.GetGateCycleRequestsAsync(cycle.Id, cancellationToken);
        // The cycle's offer fence closes first: an offer write acknowledged before this is read below, any later one is refused.
        await store.CloseOfferFenceAsync(cycle.Id, cancellationToken);
        // A manual request's decision could still be saving (checked before its deadline, written after this read), so
        // open manual requests have their decision fixed first: one that landed is read back, one in flight fails.
        var taking = new System.Collections.Concurrent.ConcurrentBag<FlexRequest>();
        await Parallel.ForEachAsync(members.Values.Where(m => m.Value.State == RequestState.Open),
            MarketStore.InParallel(cancellationToken), async (m, ct) =>
                taking.Add(m.Value.Selection == SelectionMode.Manual ? (await store.FixDecisionAsync(m, now, ct)).Value : m.Value));
        var clearing = taking.OrderBy(r => r.Id, StringComparer.Ordinal).ToList();
        var inForce = clearing.Count == 0 ? [] : await store.GetTemporaryLimitsAsync(Span(clearing), cancellationToken);
        // Calls on availability contracts clear apart, among their holders only (their capacity is booked already).
        var calls = await ClearCallsAsync(clearing.Where(r => r.AvailabilityId is not null), cycle.ClosesAt, inForce, cancellationToken);
        var market = clearing.Where(r => r.AvailabilityId is null).ToList();
        var ids = market.Select(r => r.Id).ToHashSet(StringComparer.Ordinal);
        var all = (await store.GetCycleOffersAsync(cycle.Id, cancellationToken)).Where(o => ids.Contains(o.RequestId)).ToList();
        var byRequest = all.ToLookup(o => o.RequestId, StringComparer.Ordinal);
        // The stations' eligibility and their bookings are read together (independent reads of other tables).
        var taken = TakenAsync(cycle.Id, market, all, cancellationToken);
        var (requests, headroom) = await EligibilityCheckedAsync(market.Select(r => (r, (IReadOnlyList<Offer>)byRequest[r.Id].ToList())).ToList(), cycle.ClosesAt, inForce, cycle.Id, cancellationToken);
        var blocks = market.Where(r => r.MinBlock is not null).ToDictionary(r => r.Id, r => r.MinBlock!.Value, StringComparer.Ordinal);
        var result = Pooling.Clear(requests, all, await taken, blocks, headroom);
        ClearingResult ResultOf(FlexRequest r) => calls.GetValueOrDefault(r.Id) ?? result.For(r.Id);
        // Closed here only to plan the batches (these copies are not saved; the stored plan is applied to fresh ones).
        foreach (var request in clearing) request.Close(ResultOf(request), now);
        return new ClearingPlan(clearing.Select(ResultOf).ToList(), cycle.PlanBatches(clearing, _options.MaxAwardsPerBatch));
    }

    /// <summary>
    /// Clears each call on an availability contract among the contract's holders (<see cref="AvailabilityContract.CallOffers"/>),
    /// their stations re-checked for eligibility at <paramref name="at"/>, without taking bookings: the capacity is theirs.
    /// </summary>
    private async Task<Dictionary<string, ClearingResult>> ClearCallsAsync(IEnumerable<FlexRequest> calls, DateTimeOffset at,
        IReadOnlyList<TemporaryLimit> inForce, CancellationToken cancellationToken)
    {
        var results = new Dictionary<string, ClearingResult>(StringComparer.Ordinal);
        foreach (var call in calls)
        {
            var contract = (await store.GetAvailabilityAsync(call.AvailabilityId!, cancellationToken))?.Value.Contract()
                ?? throw new InvalidOperationException($"call {call.Id} names a missing availability contract {call.AvailabilityId}");
            var offers = contract.CallOffers(call.Id, call.Delivery);
            results[call.Id] = ClearingEngine.Clear([(await EligibilityCheckedAsync([(call, offers)], at, inForce, null, cancellationToken)).Requests[0].Request], offers).Results[0];
        }
        return results;
    }

    /// <summary>
    /// The stations of <paramref name="offers"/> booked by other gate cycles' awards for windows overlapping the
    /// cycle's requests, widened by the longest recovery time (this cycle's own bookings, written by an interrupted attempt, are not taken: the engine books
    /// within the cycle itself).
    /// </summary>
    private async Task<IReadOnlyList<StationBooking>> TakenAsync(
        string cycleId, IReadOnlyList<FlexRequest> clearing, IReadOnlyList<Offer> offers, CancellationToken cancellationToken)
    {
        if (clearing.Count == 0) return [];
        // A station rests up to the longest recovery time after each award: bookings that close before the first window, or
        // start after the last, can still meet one of them.
        var rest = TimeSpan.FromMinutes(ChargingStation.MaxRecoveryMinutes);
        var span = Span(clearing);
        return await store.GetBookingsAsync(offers.SelectMany(o => o.StationIds), new TimeWindow(span.Start - rest, span.End + rest), cycleId, cancellationToken);
    }

    /// <summary>From the earliest delivery start to the latest delivery end of <paramref name="requests"/> (not empty).</summary>
    private static TimeWindow Span(IReadOnlyList<FlexRequest> requests) =>
        new(requests.Min(r => r.Delivery.Start), requests.Max(r => r.Delivery.End));

    /// <summary>
    /// The requests for the engine with their offers' stations re-checked at the cycle's closing time (a fixed instant, so a
    /// retried step judges time the same way): a station deactivated, or whose qualification lapsed, since it was offered
    /// no longer wins. Stations are read from the store, not the offer path's cache, all of the cycle's at once (and their
    /// grid answers and states), so a station costs a fraction of a query. A TSO's request with an approval deadline also loses the
    /// trades not approved (<see cref="TradeAnswer.WithoutUnapproved"/>), its answers fixed first (<see cref="MarketStore.FixTradeAnswersAsync"/>).
    /// </summary>
    /// <param name="requests">Each request with its offers.</param>
    /// <param name="inForce">The temporary limits overlapping the cycle's deliveries.</param>
    /// <param name="cycleId">The cycle clearing, when the headroom is used: it counts the awards of every other cycle below the nodes.</param>
    /// <returns>
    /// Each request, in order, with its buyer and its market area's coordination model (the area below the top node above its
    /// node); and the headroom of the grid nodes above the offers' stations, from the grid states read for their restrictions
    /// less what other cycles' awards already add below them (the common market keeps to it).
    /// </returns>
    private async Task<(IReadOnlyList<CoordinatedRequest> Requests, IReadOnlyList<NodeHeadroom> Headroom)> EligibilityCheckedAsync(IReadOnlyList<(FlexRequest Request, IReadOnlyList<Offer> Offers)> requests,
        DateTimeOffset at, IReadOnlyList<TemporaryLimit> inForce, string? cycleId, CancellationToken cancellationToken)
    {
        var named = requests.SelectMany(r => r.Offers).SelectMany(o => o.StationIds.Select(s => (o.CpoId, s))).ToList();
        var stored = await store.GetStationsAsync(named, cancellationToken);
        var stations = requests.Select(r => (IReadOnlyList<ChargingStation>)r.Offers.SelectMany(o => o.StationIds.Select(s => stored.GetValueOrDefault((o.CpoId, s))))
            .OfType<ChargingStation>().DistinctBy(s => s.Id).ToList()).ToList();
        var (restrictions, headroom) = await store.GetGridRestrictionsAsync(requests.Select((r, i) => (stations[i], r.Request.Delivery)).ToList(), at, inForce, cycleId, cancellationToken);
        var areas = new System.Collections.Concurrent.ConcurrentDictionary<string, Task<CoordinationSetting?>>(StringComparer.Ordinal);
        return (await Task.WhenAll(requests.Select(async (r, i) =>
        {
            var (request, offers) = r;
            var place = await store.GetRequestPlaceAsync(request, stations[i], cancellationToken);
            var area = await areas.GetOrAdd(place.Node.AncestorIds.LastOrDefault() ?? place.Node.Id, id => store.GetCoordinationAsync(id, cancellationToken));
            var checkedRequest = request.ToClearingRequest(stations[i], place.Node, place.Requirements, at, offers, restrictions[i], place.Sites);
            if (request.Buyer == Role.Tso && request.ApprovalDeadline is not null)
            {
                var answers = await store.FixTradeAnswersAsync(request.Id, at, cancellationToken);
                var impacts = new Dictionary<string, TradeImpact>(StringComparer.Ordinal);
                foreach (var o in offers) impacts[o.Id] = await store.GetTradeImpactAsync(request, o, cancellationToken);
                checkedRequest = TradeAnswer.WithoutUnapproved(checkedRequest, request, offers, answers, impacts);
            }
            return new CoordinatedRequest(checkedRequest, request.Buyer, area?.Model ?? CoordinationModel.Separate);
        })), headroom);
    }

    /// <summary>
    /// Cleared -> Awarded: locks every batch in escrow (<see cref="SettlementLedger.LockCyclesAsync"/>, each DSO's batch on
    /// its own), then marks the requests of locked batches awarded and those of a batch its DSO could not fund
    /// FundingFailed, with the reason. False when another instance moved the cycle first.
    /// </summary>
    private async Task<bool> LockAsync(GateCycle cycle, ETag etag, DateTimeOffset now, List<Task> announcing, CancellationToken cancellationToken)
    {
        var members = await store.GetGateCycleRequestsAsync(cycle.Id, cancellationToken);
        var awarded = cycle.Batches.SelectMany(b => b.Awards).Select(a => a.RequestId).ToHashSet();
        var requests = members.Where(kv => awarded.Contains(kv.Key)).ToDictionary(kv => kv.Key, kv => kv.Value);
        var values = requests.ToDictionary(kv => kv.Key, kv => kv.Value.Value);
        var unlocked = cycle.Batches.Where(b => !b.LockDone).ToList();
        // The clearing's outcomes are announced once the locks are out or failed (their notifications would compete with
        // the locks for storage and CPU), and again by a retried step.
        void AnnounceCleared() => announcing.Add(events.AnnounceAsync(members.Values.Select(m => m.Value), cancellationToken));
        if (unlocked.Count == 0) AnnounceCleared();
        else
        {
            var locks = await Task.WhenAll(unlocked.Select(async batch =>
            {
                // Built once and stored before the lock: a retry, the settlement and the public API use this snapshot.
                var records = await snapshots.AwardsAsync(EscrowIds.Cycle(batch.Key),
                    ct => store.GetBatchRecordsAsync(batch, values, ledger.Info.TokenDecimals, ct), cancellationToken);
                return new SettlementLedger.CycleLock(EscrowIds.Cycle(batch.Key), records, batch.DeliveryEnd + _options.RefundAfter,
                    RequestConsents.Draws(batch.Awards.Select(a => a.RequestId).ToList(), records, values));
            }));
            LogChainStep(cycle.Id, "lock", unlocked.Count, locks.Sum(l => l.Awards.Count));
            IReadOnlyList<SettlementLedger.LockOutcome> outcomes;
            try
            {
                outcomes = await ledger.LockCyclesAsync(locks, cancellationToken);
            }
            finally
            {
                AnnounceCleared();
            }
            faults.Reached(FaultInjection.LockMined);
            for (var i = 0; i < unlocked.Count; i++)
            {
                if (outcomes[i].Transaction is { } tx) cycle.RecordLock(unlocked[i].Number, tx, Now(now));
                else
                {
                    cycle.RecordFundingFailure(unlocked[i].Number, outcomes[i].FundingFailure!, Now(now));
                    LogFundingFailed(cycle.Id, unlocked[i].Number, outcomes[i].FundingFailure!);
                }
            }
            LogChainDone(cycle.Id, "lock", unlocked.Count, string.Join(", ", outcomes.Select(o => o.Transaction ?? "not funded").Distinct()));
            if (await store.TryReplaceGateCycleAsync(cycle, etag, unlocked.Select(b => b.Number), cancellationToken) is not { } next) return false;
            etag = next;
        }
        await Parallel.ForEachAsync(requests.Values, MarketStore.InParallel(cancellationToken), async (m, ct) =>
        {
            var request = m.Value;
            if (request.State != RequestState.Cleared) return;
            // A request whose awards any batch could not fund fails as a whole (its DSO funds a request, not an award).
            if (cycle.BatchesOf(request.Id).FirstOrDefault(b => b.FundingFailure is not null) is { } failed)
                request.FailFunding(failed.FundingFailure!);
            else
            {
                await store.RecordActivationsAsync(request, ct);
                request.MarkAwarded();
            }
            await SaveAsync(request, m.ETag, RequestState.Cleared, ct);
        });
        await Task.WhenAll(announcing);
        await events.AnnounceAsync(requests.Values.Select(m => m.Value), cancellationToken);
        cycle.MarkAwarded(Now(now));
        return await store.TryReplaceGateCycleAsync(cycle, etag, [], cancellationToken) is not null;
    }

    /// <summary>
    /// Settles every locked batch whose requests are all verified, marks a request settled once all its batches are (or
    /// unpaid once one of them was refunded to its DSO instead), and moves the cycle to Settled when every batch is
    /// finished. Returns whether the cycle moved, and otherwise when to look again.
    /// </summary>
    private async Task<(bool Finished, DateTimeOffset? Next)> SettleAsync(GateCycle cycle, ETag etag, DateTimeOffset now, List<Task> announcing, CancellationToken cancellationToken)
    {
        var requests = await store.GetRequestsAsync(cycle.Batches.SelectMany(b => b.Awards).Select(a => a.RequestId), cancellationToken);
        var values = requests.ToDictionary(kv => kv.Key, kv => kv.Value.Value);
        var ready = cycle.Batches.Where(b => !b.Finished
            && b.Awards.All(a => values[a.RequestId].State is RequestState.Settling or RequestState.Settled)).ToList();
        if (ready.Count > 0)
        {
            var settlements = new List<SettlementLedger.CycleSettlement>();
            foreach (var batch in ready)
            {
                var escrow = EscrowIds.Cycle(batch.Key);
                var awards = await snapshots.GetAwardsAsync(escrow, cancellationToken)
                    ?? throw new InvalidOperationException($"escrow batch {batch.Key} is locked but its award snapshot is missing");
                settlements.Add(new(escrow, awards, await snapshots.SettlementsAsync(escrow, _ => Task.FromResult<IReadOnlyList<SettlementRecord>>(
                    batch.Awards.Select((a, position) =>
                        SettlementRecord.For(values[a.RequestId], a.AwardIndex, EscrowIds.Award(escrow, position), ledger.Info.TokenDecimals)).ToList()),
                    cancellationToken)));
            }
            LogChainStep(cycle.Id, "settle", ready.Count, settlements.Sum(x => x.Awards.Count));
            var outcomes = await ledger.SettleCyclesAsync(settlements, cancellationToken);
            faults.Reached(FaultInjection.SettlementMined);
            LogChainDone(cycle.Id, "settle", ready.Count, string.Join(", ", outcomes.Select(o => o.Transaction ?? "unpaid").Distinct()));
            for (var i = 0; i < ready.Count; i++)
            {
                if (outcomes[i].Transaction is { } tx)
                {
                    await store.IndexSettlementAsync(EscrowIds.Cycle(ready[i].Key), cycle.Id, ready[i].Number, cancellationToken);
                    cycle.RecordSettlement(ready[i].Number, tx, Now(now));
                }
                else cycle.RecordUnpaid(ready[i].Number, outcomes[i].Unpaid!, Now(now));
            }
            if (await store.TryReplaceGateCycleAsync(cycle, etag, ready.Select(b => b.Number), cancellationToken) is not { } next) return (false, now);
            etag = next;
        }
        await Parallel.ForEachAsync(requests.Values, MarketStore.InParallel(cancellationToken), async (m, ct) =>
        {
            var request = m.Value;
            if (request.State is not (RequestState.Awarded or RequestState.Settling)) return;
            var from = request.State;
            var batches = cycle.BatchesOf(request.Id).ToList();
            if (batches.FirstOrDefault(b => b.Unpaid is not null) is { } unpaid) request.MarkUnpaid(unpaid.Unpaid!);
            else if (from == RequestState.Settling && batches.All(b => b.SettleTransaction is not null)) request.MarkSettled();
            else return;
            await SaveAsync(request, m.ETag, from, ct);
        });
        await events.AnnounceAsync(requests.Values.Select(m => m.Value).Where(r => r.State is RequestState.Settled or RequestState.Unpaid), cancellationToken);
        var waiting = cycle.Batches.Where(b => !b.Finished).ToList();
        if (waiting.Count > 0) return (false, waiting.Min(b => b.DeliveryEnd) + _options.MeterDataGrace);
        await Task.WhenAll(announcing);
        cycle.MarkSettled(Now(now));
        return (await store.TryReplaceGateCycleAsync(cycle, etag, [], cancellationToken) is not null, null);
    }

    /// <summary>Saves a request's transition with If-Match and its announcement in the outbox (see <see cref="RequestEvents"/>; the caller sends it); throws when another instance changed it first (the step is retried).</summary>
    private async Task SaveAsync(FlexRequest request, ETag etag, RequestState from, CancellationToken cancellationToken)
    {
        if (!await events.TrySaveAsync(request, etag, cancellationToken))
            throw new InvalidOperationException($"request {request.Id} changed while moving it from {from} to {request.State}");
        LogTransition(request.Id, from, request.State);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Gate cycle {CycleId}: escrow {Step} of {Batches} batch(es) with {Awards} award(s) starts")]
    private partial void LogChainStep(string cycleId, string step, int batches, int awards);

    [LoggerMessage(Level = LogLevel.Information, Message = "Gate cycle {CycleId}: escrow {Step} of {Batches} batch(es) confirmed in {Transactions}")]
    private partial void LogChainDone(string cycleId, string step, int batches, string transactions);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Gate cycle {CycleId}: escrow batch {Batch} not funded: {Reason}")]
    private partial void LogFundingFailed(string cycleId, int batch, string reason);

    [LoggerMessage(Level = LogLevel.Error, Message = "Gate cycle {CycleId} needs attention: step {Step} failed: {Reason}")]
    private partial void LogNeedsAttention(string cycleId, string step, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "Gate cycle {CycleId}: {From} -> {To}")]
    private partial void LogCycleTransition(string cycleId, GateCycleState from, GateCycleState to);

    [LoggerMessage(Level = LogLevel.Information, Message = "Request {RequestId}: {From} -> {To}")]
    private partial void LogTransition(string requestId, RequestState from, RequestState to);
}
