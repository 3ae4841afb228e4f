using System.Globalization;
using Azure;
using FlexChain.Domain;
using FlexChain.Ethereum;
using FlexChain.Verification;
using Azure.Data.Tables;
using FlexChain.Storage;

namespace FlexChain.Functions.Storage;

/// <summary>Where a request's award sits on chain: its escrow batch and its position in the batch.</summary>
public sealed record EscrowSlot(int Batch, int Position);

/// <summary>A request's gate cycle and, once the cycle is cleared, the escrow slot of each award (by award index).</summary>
public sealed record CycleMembership(string CycleId, IReadOnlyList<EscrowSlot> Slots)
{
    /// <summary>The on-chain id of award <paramref name="awardIndex"/>, or null before the cycle is cleared.</summary>
    public Hash32? AwardId(int awardIndex) =>
        awardIndex < Slots.Count ? EscrowIds.Award(EscrowIds.Cycle(EscrowBatch.KeyFor(CycleId, Slots[awardIndex].Batch)), Slots[awardIndex].Position) : null;
}

/// <summary>
/// A gate cycle's clearing as stored before anything is saved from it: every member request's result of the one engine
/// run, and the escrow batches planned from them. Stored once; a retried step applies it instead of clearing again.
/// </summary>
public sealed record ClearingPlan(IReadOnlyList<ClearingResult> Results, IReadOnlyList<EscrowBatch> Batches)
{
    /// <summary>The result for <paramref name="requestId"/>.</summary>
    public ClearingResult For(string requestId) => Results.Single(r => r.RequestId == requestId);
}

// ---- gate cycles: table gatecycles, one partition per cycle ----
// RowKey "cycle": the header (state and history); "plan": the clearing plan (a document, in a blob when large);
// "b~{n:D5}": escrow batch n; "r~{requestId}": a member request.
// A request's membership and escrow slots are a row "cycle" in the request's own partition of the requests table.
public sealed partial class MarketStore
{
    private const string CycleRow = "cycle";
    private const string PlanRow = "plan";

    private TableClient GateCycles => service.GetTableClient("gatecycles");

    private sealed record CycleHeader(string Id, DateTimeOffset ClosesAt, GateCycleState State, int BatchCount, IReadOnlyList<GateCycleEvent> History,
        GateCycleAttention? Attention = null);

    /// <summary>The cycle with its batches, or null.</summary>
    public async Task<Stored<GateCycle>?> GetGateCycleAsync(string cycleId, CancellationToken cancellationToken)
    {
        if (await GetAsync<CycleHeader>(GateCycles, cycleId, CycleRow, cancellationToken) is not { } header) return null;
        var h = header.Value;
        var batches = h.BatchCount == 0 ? [] : await QueryAsync<EscrowBatch>(GateCycles,
            TableClient.CreateQueryFilter($"PartitionKey eq {cycleId} and RowKey ge {"b~"} and RowKey lt {"b~~"}"), cancellationToken);
        if (batches.Count != h.BatchCount)
            throw new InvalidDataException($"gate cycle {cycleId} has {batches.Count} batch rows, its header says {h.BatchCount}");
        return new(new GateCycle(h.Id, h.ClosesAt, h.State, batches.OrderBy(b => b.Number).ToList(), h.History, h.Attention), header.ETag);
    }

    /// <summary>Creates the open cycle unless it exists; returns the stored cycle either way.</summary>
    public async Task<Stored<GateCycle>> GetOrOpenGateCycleAsync(DateTimeOffset closesAt, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var id = GateCycle.IdFor(closesAt);
        if (await GetGateCycleAsync(id, cancellationToken) is { } existing) return existing;
        // The fence opens before the cycle exists: whoever finds the cycle finds its fence open (until it closes).
        await OpenOfferFenceAsync(id, cancellationToken);
        try
        {
            await GateCycles.AddEntityAsync(await HeaderEntityAsync(GateCycle.Open(closesAt, now), cancellationToken), cancellationToken);
        }
        catch (RequestFailedException e) when (e.Status == 409)
        {
            // Another request opened it at the same moment.
        }
        return await GetGateCycleAsync(id, cancellationToken) ?? throw new InvalidOperationException($"gate cycle {id} vanished");
    }

    /// <summary>The cycle's stored clearing plan, or null before it is cleared.</summary>
    public async Task<ClearingPlan?> GetClearingPlanAsync(string cycleId, CancellationToken cancellationToken) =>
        (await GetAsync<ClearingPlan>(GateCycles, cycleId, PlanRow, cancellationToken))?.Value;

    /// <summary>
    /// Stores <paramref name="plan"/> as the cycle's clearing plan unless one is stored already (insert only: the first
    /// plan stored wins, whoever computed it).
    /// </summary>
    /// <returns>The plan that is stored: <paramref name="plan"/>, or the one stored before it.</returns>
    public async Task<ClearingPlan> AddClearingPlanAsync(string cycleId, ClearingPlan plan, CancellationToken cancellationToken)
    {
        try
        {
            await GateCycles.AddEntityAsync(await DocumentEntityAsync(GateCycles, cycleId, PlanRow, plan, cancellationToken), cancellationToken);
            return plan;
        }
        catch (RequestFailedException e) when (e.Status == 409)
        {
            return await GetClearingPlanAsync(cycleId, cancellationToken) ?? throw new InvalidOperationException($"gate cycle {cycleId} lost its clearing plan");
        }
    }

    /// <summary>
    /// Saves the cycle header and the batches numbered <paramref name="batches"/> if nobody changed the header since
    /// <paramref name="etag"/>. Header and batches share the cycle's partition and go in one transaction; a plan too big
    /// for one transaction writes its leading batch rows first (a deterministic plan, safe to write again), and the
    /// header, which is the checkpoint, always goes in the last one.
    /// </summary>
    /// <returns>The header's new ETag, or null when someone else changed the cycle first.</returns>
    public async Task<ETag?> TryReplaceGateCycleAsync(GateCycle cycle, ETag etag, IEnumerable<int> batches, CancellationToken cancellationToken)
    {
        var rows = batches.Select(n => new TableTransactionAction(TableTransactionActionType.UpsertReplace,
            ToEntity(cycle.Id, "b~" + n.ToString("D5", CultureInfo.InvariantCulture), cycle.Batches[n]))).ToList();
        const int rest = 99;
        for (; rows.Count > rest; rows = rows[rest..]) await GateCycles.SubmitCheckedTransactionAsync(rows[..rest], cancellationToken);
        rows.Add(new TableTransactionAction(TableTransactionActionType.UpdateReplace, await HeaderEntityAsync(cycle, cancellationToken), etag));
        try
        {
            return (await GateCycles.SubmitCheckedTransactionAsync(rows, cancellationToken))[^1].Headers.ETag;
        }
        catch (TableTransactionFailedException e) when (e.Status == 412)
        {
            return null;
        }
    }

    /// <summary>
    /// Adds <paramref name="requestId"/> to the cycle's members while the cycle is open, and records the membership on
    /// the request's side. The member row goes in one transaction with the unchanged header under If-Match, so a join
    /// and the runner's <see cref="GateCycle.Close"/> exclude each other: a request either joins before the members are
    /// fixed (and the runner's close, holding the older ETag, is retried and sees it) or is refused.
    /// </summary>
    /// <returns>False when the cycle is no longer open.</returns>
    public async Task<bool> TryJoinGateCycleAsync(Stored<GateCycle> cycle, string requestId, CancellationToken cancellationToken)
    {
        for (var current = cycle; current.Value.State == GateCycleState.Open;)
        {
            try
            {
                await GateCycles.SubmitCheckedTransactionAsync([
                    new TableTransactionAction(TableTransactionActionType.UpdateReplace, await HeaderEntityAsync(current.Value, cancellationToken), current.ETag),
                    new TableTransactionAction(TableTransactionActionType.UpsertReplace, new TableEntity(current.Value.Id, "r~" + requestId)),
                ], cancellationToken);
                await PutMembershipAsync(requestId, new CycleMembership(current.Value.Id, []), cancellationToken);
                return true;
            }
            catch (TableTransactionFailedException e) when (e.Status == 412)
            {
                // Another request joined (or the runner closed the cycle) since it was read: look again.
                current = await GetGateCycleAsync(current.Value.Id, cancellationToken)
                    ?? throw new InvalidOperationException($"gate cycle {current.Value.Id} vanished");
            }
        }
        return false;
    }

    /// <summary>The cycle's member requests with their ETags.</summary>
    public async Task<IReadOnlyDictionary<string, Stored<FlexRequest>>> GetGateCycleRequestsAsync(string cycleId, CancellationToken cancellationToken) =>
        await GetRequestsAsync(await GetGateCycleMembersAsync(cycleId, cancellationToken), cancellationToken);

    /// <summary>The ids of the cycle's member requests.</summary>
    public async Task<IReadOnlyList<string>> GetGateCycleMembersAsync(string cycleId, CancellationToken cancellationToken)
    {
        var ids = new List<string>();
        var filter = TableClient.CreateQueryFilter($"PartitionKey eq {cycleId} and RowKey ge {"r~"} and RowKey lt {"r~~"}");
        await foreach (var e in GateCycles.QueryAsync<TableEntity>(filter, select: ["RowKey"], cancellationToken: cancellationToken)) ids.Add(e.RowKey[2..]);
        return ids;
    }

    /// <summary>Batch <paramref name="number"/> of the cycle, or null.</summary>
    public async Task<EscrowBatch?> GetEscrowBatchAsync(string cycleId, int number, CancellationToken cancellationToken) =>
        (await GetAsync<EscrowBatch>(GateCycles, cycleId, "b~" + number.ToString("D5", CultureInfo.InvariantCulture), cancellationToken))?.Value;

    /// <summary>The request's gate cycle and escrow slots, or null for a request stored before gate cycles existed.</summary>
    public async Task<CycleMembership?> GetMembershipAsync(string requestId, CancellationToken cancellationToken) =>
        (await GetAsync<CycleMembership>(Requests, requestId, CycleRow, cancellationToken))?.Value;

    public Task PutMembershipAsync(string requestId, CycleMembership membership, CancellationToken cancellationToken) =>
        Requests.UpsertEntityAsync(ToEntity(requestId, CycleRow, membership), TableUpdateMode.Replace, cancellationToken);

    /// <summary>
    /// The ids of the cycles closing at or after <paramref name="since"/> that are not settled: one range scan over
    /// the cycles' partitions (ids sort by closing time), filtered on the header's <c>State</c> column.
    /// </summary>
    public async Task<IReadOnlyList<string>> GetUnfinishedGateCycleIdsAsync(DateTimeOffset since, CancellationToken cancellationToken)
    {
        var ids = new List<string>();
        var filter = TableClient.CreateQueryFilter(
            $"PartitionKey ge {GateCycle.IdFor(since)} and PartitionKey lt {"gc-~"} and RowKey eq {CycleRow} and State ne {nameof(GateCycleState.Settled)}");
        await foreach (var e in GateCycles.QueryAsync<TableEntity>(filter, select: ["PartitionKey"], cancellationToken: cancellationToken)) ids.Add(e.PartitionKey);
        return ids;
    }

    /// <summary>The header row: the header document, and its state as a column of its own for <see cref="GetUnfinishedGateCycleIdsAsync"/>.</summary>
    private async Task<TableEntity> HeaderEntityAsync(GateCycle c, CancellationToken cancellationToken)
    {
        var entity = await DocumentEntityAsync(GateCycles, c.Id, CycleRow, new CycleHeader(c.Id, c.ClosesAt, c.State, c.Batches.Count, c.History, c.Attention), cancellationToken);
        entity["State"] = c.State.ToString();
        return entity;
    }
}
