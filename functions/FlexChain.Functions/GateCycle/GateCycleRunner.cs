using FlexChain.Domain;
using FlexChain.Functions.Settlement;
using FlexChain.Functions.Storage;
using FlexChain.Verification;
using Microsoft.Extensions.Options;

namespace FlexChain.Functions.GateCycle;

/// <summary>Settings of the gate cycle (section <c>GateCycle</c>).</summary>
public sealed class GateCycleOptions
{
    /// <summary>How long after the delivery window meter data may still arrive before verification runs.</summary>
    public TimeSpan MeterDataGrace { get; set; } = TimeSpan.FromMinutes(15);

    /// <summary>How long after the delivery window an unsettled escrow may be refunded to the DSO by anyone.</summary>
    public TimeSpan RefundAfter { get; set; } = TimeSpan.FromDays(7);
}

/// <summary>
/// Advances every request whose next step is due: Open -> Cleared at gate closure (all requests closing in the same
/// tick are cleared together by the clearing engine), Cleared -> Awarded
/// once the funds of all its awards are locked in escrow on chain as one escrow cycle, Awarded -> Settling when the window and the meter-data
/// grace have passed (verification), Settling -> Settled once the cycle is settled on chain (one transaction).
/// Each step is idempotent: chain writes first ask the contract whether the cycle was already locked or settled,
/// the contract refuses a second lock or settlement of the same cycle, and the new state is saved with If-Match so that
/// two instances never both record a transition. The schedule entry that made a request due is deleted only after the
/// next one is written, so a crash anywhere leaves the request due and it resumes on the next tick.
/// </summary>
public sealed partial class GateCycleRunner(
    MarketStore store, SettlementLedger ledger, IOptions<GateCycleOptions> options, ILogger<GateCycleRunner> log,
    Notifications.NotificationPublisher notifications)
{
    private readonly GateCycleOptions _options = options.Value;

    /// <summary>Stores a new request and schedules its gate closure (schedule first: a request is never left unscheduled).</summary>
    public async Task AddAsync(FlexRequest request, CancellationToken cancellationToken)
    {
        await store.ScheduleAsync(request.Id, request.NextStepAt(_options.MeterDataGrace)!.Value, cancellationToken);
        await store.AddRequestAsync(request, cancellationToken);
    }

    /// <summary>One timer tick: advances every due request as far as it can go at <paramref name="now"/>.</summary>
    /// <returns>How many due schedule entries were completed.</returns>
    public async Task<int> TickAsync(DateTimeOffset now, CancellationToken cancellationToken)
    {
        var done = 0;
        var due = await store.GetDueAsync(now, cancellationToken);
        try
        {
            await CloseGatesAsync(due.Select(d => d.RequestId).Distinct().ToList(), now, cancellationToken);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            LogStepFailed("(gate clearing)", e.GetType().Name, e.Message);
        }
        foreach (var (key, requestId) in due)
        {
            try
            {
                await AdvanceAsync(requestId, now, cancellationToken);
                await store.UnscheduleAsync(key, cancellationToken);
                done++;
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                // The entry stays: the next tick retries from the last checkpoint.
                LogStepFailed(requestId, e.GetType().Name, e.Message);
            }
        }
        return done;
    }

    private async Task AdvanceAsync(string requestId, DateTimeOffset now, CancellationToken cancellationToken)
    {
        while (await store.GetRequestAsync(requestId, cancellationToken) is { } stored)
        {
            var request = stored.Value;
            // Every saved transition is read back here, also after a crash: events are sent once per recipient by their ids.
            await notifications.RequestChangedAsync(request, cancellationToken);
            var due = request.NextStepAt(_options.MeterDataGrace);
            if (due is null || due > now)
            {
                if (due is not null) await store.ScheduleAsync(requestId, due.Value, cancellationToken);
                return;
            }
            if (request.State == RequestState.Open)
            {
                await CloseGatesAsync([requestId], now, cancellationToken);
                continue;
            }
            var before = request.State;
            await StepAsync(request, now, cancellationToken);
            if (request.NextStepAt(_options.MeterDataGrace) is { } next) await store.ScheduleAsync(requestId, next, cancellationToken);
            if (await store.TryReplaceRequestAsync(request, stored.ETag, cancellationToken))
                LogTransition(requestId, before, request.State);
        }
    }

    /// <summary>
    /// Clears, in one run of the clearing engine, every request among <paramref name="requestIds"/> whose gate has
    /// closed: requests closing together compete for the same stations, and the engine never awards a station twice
    /// for overlapping windows. Each result is saved with If-Match; the engine is deterministic, so an instance that
    /// loses the race would have recorded the same result.
    /// </summary>
    private async Task CloseGatesAsync(IReadOnlyList<string> requestIds, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var closing = new List<Stored<FlexRequest>>();
        foreach (var id in requestIds)
            if (await store.GetRequestAsync(id, cancellationToken) is { } stored && stored.Value.State == RequestState.Open
                && stored.Value.NextStepAt(_options.MeterDataGrace) <= now)
                closing.Add(stored);
        if (closing.Count == 0) return;
        var offers = new List<Offer>();
        foreach (var stored in closing) offers.AddRange(await store.GetOffersAsync(stored.Value.Id, cancellationToken));
        var cleared = ClearingEngine.Clear(closing.Select(s => s.Value.ToClearingRequest()).ToList(), offers);
        foreach (var (request, etag) in closing)
        {
            request.Close(cleared.For(request.Id), now);
            if (request.NextStepAt(_options.MeterDataGrace) is { } next) await store.ScheduleAsync(request.Id, next, cancellationToken);
            if (await store.TryReplaceRequestAsync(request, etag, cancellationToken))
                LogTransition(request.Id, RequestState.Open, request.State);
        }
    }

    private async Task StepAsync(FlexRequest request, DateTimeOffset now, CancellationToken cancellationToken)
    {
        switch (request.State)
        {
            case RequestState.Cleared:
            {
                var awards = await AwardRecordsAsync(request, cancellationToken);
                LogChainStep(request.Id, "lock", awards.Count);
                var tx = await ledger.LockCycleAsync(EscrowIds.Cycle(request.Id), awards, request.Delivery.End + _options.RefundAfter, cancellationToken);
                LogChainDone(request.Id, "lock", tx);
                foreach (var award in request.Awards) await store.PutTransactionAsync(request.Id, "lock", award.OfferId, tx, cancellationToken);
                await store.RecordActivationsAsync(request, cancellationToken);
                request.MarkAwarded();
                break;
            }
            case RequestState.Awarded:
            {
                request.Verify(await store.LoadEvidenceAsync(request, cancellationToken), now);
                await store.RecordQualityAsync(request, cancellationToken);
                break;
            }
            case RequestState.Settling:
            {
                var awards = await AwardRecordsAsync(request, cancellationToken);
                var settlements = request.Awards.Select((_, i) => SettlementRecord.For(request, i, ledger.Info.TokenDecimals)).ToList();
                LogChainStep(request.Id, "settle", awards.Count);
                var tx = await ledger.SettleCycleAsync(EscrowIds.Cycle(request.Id), awards, settlements, cancellationToken);
                LogChainDone(request.Id, "settle", tx);
                foreach (var award in request.Awards) await store.PutTransactionAsync(request.Id, "settle", award.OfferId, tx, cancellationToken);
                await store.IndexSettlementAsync(EscrowIds.Cycle(request.Id), request.Id, cancellationToken);
                request.MarkSettled();
                break;
            }
            default:
                throw new InvalidOperationException($"request {request.Id} in state {request.State} has no next step");
        }
    }


    private Task<IReadOnlyList<AwardRecord>> AwardRecordsAsync(FlexRequest request, CancellationToken cancellationToken) =>
        store.GetAwardRecordsAsync(request, ledger.Info.TokenDecimals, cancellationToken);

    [LoggerMessage(Level = LogLevel.Information, Message = "Request {RequestId}: escrow {Step} of {Awards} award(s) starts")]
    private partial void LogChainStep(string requestId, string step, int awards);

    [LoggerMessage(Level = LogLevel.Information, Message = "Request {RequestId}: escrow {Step} confirmed in {Transaction}")]
    private partial void LogChainDone(string requestId, string step, string transaction);

    [LoggerMessage(Level = LogLevel.Information, Message = "Request {RequestId}: {From} -> {To}")]
    private partial void LogTransition(string requestId, RequestState from, RequestState to);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Request {RequestId}: step failed ({Error}: {Detail}); it will be retried")]
    private partial void LogStepFailed(string requestId, string error, string detail);
}
