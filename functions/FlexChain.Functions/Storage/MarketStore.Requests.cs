using System.Globalization;
using Azure;
using FlexChain.Domain;
using FlexChain.Messaging;
using FlexChain.Messaging.Outbox;
using Azure.Data.Tables;
using FlexChain.Storage;

namespace FlexChain.Functions.Storage;

/// <summary>Requests and their listing index, sealed offers, the gate schedule and chain transactions.</summary>
public sealed partial class MarketStore
{
    // ---- requests ----

    public Task<Stored<FlexRequest>?> GetRequestAsync(string id, CancellationToken cancellationToken) =>
        GetAsync<FlexRequest>(Requests, id, Doc, cancellationToken);

    /// <summary>
    /// The request as the offer path needs it, served from memory for <see cref="StoreOptions.ReadCacheDuration"/>. Safe
    /// because what the offer path checks is immutable (transformer, window, cap, gate closure) except the state: an offer
    /// accepted a moment after a cancellation elsewhere is never cleared, since a cancelled request has no next step.
    /// </summary>
    public async Task<FlexRequest?> GetRequestForOffersAsync(string id, CancellationToken cancellationToken) =>
        await CachedAsync(("request", id), _cacheFor, async () => (await GetRequestAsync(id, cancellationToken))?.Value);

    /// <summary>
    /// Stores a new request with its two listing entries (by transformer, by delivery hour). The index goes first: an
    /// entry whose request is missing is skipped by the list, while a request missing from the list would be invisible.
    /// With an <paramref name="announcement"/> (<c>request.published</c>), its outbox row goes in the same transaction as
    /// the request (the request's partition), so a stored request is always announced once the row is sent.
    /// </summary>
    public async Task AddRequestAsync(FlexRequest r, CancellationToken cancellationToken, (string Queue, OutgoingMessage Message)? announcement = null)
    {
        foreach (var pk in new[] { TransformerIndexKey(r.TransformerId), HourIndexKey(r.Delivery.Start) })
        {
            var entry = new TableEntity(pk, IndexRowKey(r)) { ["RequestId"] = r.Id, ["GateClosure"] = r.GateClosure, ["DeliveryStart"] = r.Delivery.Start };
            await RequestIndex.UpsertEntityAsync(entry, TableUpdateMode.Replace, cancellationToken);
        }
        var batch = new OutboxBatch(r.Id).Add(new TableTransactionAction(TableTransactionActionType.Add,
            await DocumentEntityAsync(Requests, r.Id, Doc, r, cancellationToken)));
        if (announcement is var (queue, message)) batch.AddMessage(queue, message);
        await new OutboxWriter(Requests).CommitAsync(batch, cancellationToken);
    }

    /// <summary>
    /// Saves <paramref name="r"/> if nobody changed it since <paramref name="etag"/> and returns its new ETag; null when
    /// someone did. With an <paramref name="announcement"/>, its outbox row goes in the same transaction (the request's
    /// partition), so a transition and its message are never separated.
    /// </summary>
    public async Task<ETag?> TryReplaceRequestAsync(
        FlexRequest r, ETag etag, CancellationToken cancellationToken, (string Queue, OutgoingMessage Message)? announcement = null)
    {
        var batch = new OutboxBatch(r.Id).Add(new TableTransactionAction(TableTransactionActionType.UpdateReplace,
            await DocumentEntityAsync(Requests, r.Id, Doc, r, cancellationToken), etag));
        if (announcement is var (queue, message)) batch.AddMessage(queue, message);
        try
        {
            return (await new OutboxWriter(Requests).CommitAsync(batch, cancellationToken))[0].Headers.ETag;
        }
        catch (TableTransactionFailedException e) when (e.Status == 412)
        {
            return null;
        }
        finally
        {
            cache.Remove(("request", r.Id));
        }
    }

    /// <summary>
    /// Fixes a manual request's decision before clearing (<see cref="FlexRequest.FixDecision"/>), saved under If-Match,
    /// and returns the request with its new ETag. A save that read the request before (a decision in flight) then fails
    /// its own If-Match; a save that landed since <paramref name="read"/> is read back and kept. So the clearing sees
    /// exactly the decisions that were acknowledged, and none is acknowledged after it.
    /// </summary>
    /// <exception cref="InvalidOperationException">The request is gone.</exception>
    public async Task<Stored<FlexRequest>> FixDecisionAsync(Stored<FlexRequest> read, DateTimeOffset now, CancellationToken cancellationToken)
    {
        for (var current = read; ; current = await GetRequestAsync(read.Value.Id, cancellationToken)
                 ?? throw new InvalidOperationException($"request {read.Value.Id} vanished while its cycle cleared"))
        {
            current.Value.FixDecision(now);
            if (await TryReplaceRequestAsync(current.Value, current.ETag, cancellationToken) is { } etag) return new(current.Value, etag);
        }
    }

    /// <summary>The requests <paramref name="ids"/> with their ETags (missing ones left out), read in parallel.</summary>
    public async Task<IReadOnlyDictionary<string, Stored<FlexRequest>>> GetRequestsAsync(IEnumerable<string> ids, CancellationToken cancellationToken)
    {
        var found = new System.Collections.Concurrent.ConcurrentDictionary<string, Stored<FlexRequest>>();
        await Parallel.ForEachAsync(ids.Distinct(), InParallel(cancellationToken), async (id, ct) =>
        {
            if (await GetRequestAsync(id, ct) is { } stored) found[id] = stored;
        });
        return found;
    }

    /// <summary>Sends the request partitions' pending outbox rows through <paramref name="broker"/>, stamped by <paramref name="clock"/>.</summary>
    public OutboxDispatcher RequestOutbox(IMessageBroker broker, TimeProvider clock) => new(Requests, broker, clock);

    /// <summary>
    /// Requests by transformer (one partition) or, without one, by delivery hour (a range of hourly partitions), whose
    /// delivery starts in [<paramref name="from"/>, <paramref name="to"/>), in delivery order. Reads each request for its
    /// current state; <paramref name="keep"/> filters on it (so a page can be shorter than the limit).
    /// </summary>
    public async Task<ListPage<FlexRequest>> ListRequestsAsync(
        string? transformerId, DateTimeOffset from, DateTimeOffset to, Func<FlexRequest, bool> keep, int limit, string? cursor,
        CancellationToken cancellationToken)
    {
        var filter = transformerId is not null
            ? TableClient.CreateQueryFilter($"PartitionKey eq {TransformerIndexKey(transformerId)} and RowKey ge {Ticks(from)} and RowKey lt {Ticks(to)}")
            : TableClient.CreateQueryFilter($"PartitionKey ge {HourIndexKey(from)} and PartitionKey le {HourIndexKey(to)} and DeliveryStart ge {from} and DeliveryStart lt {to}");
        var page = await PageAsync(RequestIndex, filter, limit, cursor, e => e.GetString("RequestId")!, cancellationToken);
        var requests = await Task.WhenAll(page.Items.Select(id => GetRequestAsync(id, cancellationToken)));
        return new ListPage<FlexRequest>(requests.Where(r => r is not null).Select(r => r!.Value.Value).Where(keep).ToList(), page.NextCursor);
    }

    private static string TransformerIndexKey(string transformerId) => "t~" + transformerId;

    private static string HourIndexKey(DateTimeOffset t) => "h~" + t.UtcDateTime.ToString("yyyyMMddHH", CultureInfo.InvariantCulture);

    private static string IndexRowKey(FlexRequest r) => Ticks(r.Delivery.Start) + "_" + r.Id;

    // ---- offers: kept per gate cycle, the cycle's rows spread over shards by CPO; one row per CPO and request (the key
    // enforces one offer per CPO per request). Row key "{requestId}|{cpoId}": a request's offers are one key range of
    // each shard, and the cycle's are all of them, so closing and reading a gate costs the same for 10 requests or 10,000.

    private static string OfferPartition(string cycleId, string cpoId) => Shards.Key(cycleId, cpoId, OfferShards);

    private static string OfferRow(string requestId, string cpoId) => requestId + "|" + cpoId;

    private static string CycleOf(FlexRequest r) =>
        r.GateCycleId ?? throw new InvalidOperationException($"request {r.Id} was stored before offers were kept per gate cycle");

    /// <summary>The request's offers: its key range in each of its cycle's shards ('}' follows '|').</summary>
    private static string OffersOf(FlexRequest r) =>
        Filters.And(Shards.Range(CycleOf(r)), TableClient.CreateQueryFilter($"RowKey ge {r.Id + "|"} and RowKey lt {r.Id + "}"}"));

    // ---- the offer fence: a row "~open" in each offer shard of a gate cycle, from before the cycle exists until it
    // closes. Every offer write goes in one transaction with a check that the row is still there, so a write either
    // commits before the fence closes (and the clearing, which reads the offers after closing it, sees it) or fails and
    // leaves nothing behind. The row key sorts after every request id, outside the offers' range.

    private const string FenceRow = "~open";

    private static readonly string OffersOnly = TableClient.CreateQueryFilter($"RowKey lt {"~"}");

    private Task OpenOfferFenceAsync(string cycleId, CancellationToken cancellationToken) =>
        Parallel.ForEachAsync(Shards.All(cycleId, OfferShards), InParallel(cancellationToken), async (pk, ct) =>
            await Offers.UpsertEntityAsync(new TableEntity(pk, FenceRow), TableUpdateMode.Replace, ct));

    /// <summary>Closes the gate cycle's offer fence: from now on no offer write on its requests commits (idempotent).</summary>
    public Task CloseOfferFenceAsync(string cycleId, CancellationToken cancellationToken) =>
        Parallel.ForEachAsync(Shards.All(cycleId, OfferShards), InParallel(cancellationToken), async (pk, ct) =>
            await Offers.DeleteEntityAsync(pk, FenceRow, ETag.All, ct));   // a missing row answers 404 without throwing

    /// <summary>Stores the CPO's offer on <paramref name="request"/>.</summary>
    /// <returns><see cref="OfferWrite.Conflict"/> when it already has one on this request.</returns>
    public Task<OfferWrite> TryAddOfferAsync(FlexRequest request, Offer o, CancellationToken cancellationToken) =>
        FencedAsync(request, o, new(TableTransactionActionType.Add, OfferEntity(request, o)), cancellationToken);

    /// <summary>Replaces (modify) the CPO's offer if unchanged since <paramref name="etag"/>.</summary>
    public Task<OfferWrite> TryReplaceOfferAsync(FlexRequest request, Offer o, ETag etag, CancellationToken cancellationToken) =>
        FencedAsync(request, o, new(TableTransactionActionType.UpdateReplace, OfferEntity(request, o), etag), cancellationToken);

    /// <summary>Withdraws the CPO's offer if unchanged since <paramref name="etag"/>.</summary>
    public Task<OfferWrite> TryDeleteOfferAsync(FlexRequest request, Offer o, ETag etag, CancellationToken cancellationToken) =>
        FencedAsync(request, o, new(TableTransactionActionType.Delete, new TableEntity(OfferPartition(CycleOf(request), o.CpoId), OfferRow(request.Id, o.CpoId)), etag),
            cancellationToken);

    private static TableEntity OfferEntity(FlexRequest request, Offer o) => ToEntity(OfferPartition(CycleOf(request), o.CpoId), OfferRow(request.Id, o.CpoId), o);

    private async Task<OfferWrite> FencedAsync(FlexRequest request, Offer o, TableTransactionAction write, CancellationToken cancellationToken)
    {
        var fence = new TableTransactionAction(TableTransactionActionType.UpdateMerge, new TableEntity(OfferPartition(CycleOf(request), o.CpoId), FenceRow), ETag.All);
        try
        {
            await Offers.SubmitCheckedTransactionAsync([fence, write], cancellationToken);
            return OfferWrite.Done;
        }
        catch (TableTransactionFailedException e) when (e.FailedTransactionActionIndex == 0 && e.Status == 404)
        {
            return OfferWrite.GateClosed;
        }
        catch (TableTransactionFailedException e) when (e.Status is 404 or 409 or 412)
        {
            return OfferWrite.Conflict;
        }
    }

    /// <summary>Every offer on the request (its range in each shard of its cycle).</summary>
    public async Task<IReadOnlyList<Offer>> GetOffersAsync(FlexRequest request, CancellationToken cancellationToken) =>
        await QueryAsync<Offer>(Offers, OffersOf(request), cancellationToken);

    /// <summary>Every offer on every request of the gate cycle, for its clearing: one query per shard, in parallel.</summary>
    public async Task<IReadOnlyList<Offer>> GetCycleOffersAsync(string cycleId, CancellationToken cancellationToken)
    {
        var found = new System.Collections.Concurrent.ConcurrentBag<IReadOnlyList<Offer>>();
        await Parallel.ForEachAsync(Shards.All(cycleId, OfferShards), InParallel(cancellationToken), async (pk, ct) =>
            found.Add(await QueryAsync<Offer>(Offers, Filters.And(TableClient.CreateQueryFilter($"PartitionKey eq {pk}"), OffersOnly), ct)));
        return found.SelectMany(o => o).ToList();
    }

    public Task<ListPage<Offer>> ListOffersAsync(FlexRequest request, int limit, string? cursor, CancellationToken cancellationToken) =>
        PageAsync(Offers, OffersOf(request), limit, cursor, Deserialize<Offer>, cancellationToken);

    public Task<Stored<Offer>?> GetOfferForUpdateAsync(FlexRequest request, string cpoId, CancellationToken cancellationToken) =>
        GetAsync<Offer>(Offers, OfferPartition(CycleOf(request), cpoId), OfferRow(request.Id, cpoId), cancellationToken);

    public async Task<Offer?> GetOfferAsync(FlexRequest request, string cpoId, CancellationToken cancellationToken) =>
        (await GetOfferForUpdateAsync(request, cpoId, cancellationToken))?.Value;

    private static string MinuteKey(DateTimeOffset t) => t.UtcDateTime.ToString("yyyyMMddHHmm", CultureInfo.InvariantCulture);
}

/// <summary>What became of an offer write.</summary>
public enum OfferWrite
{
    Done,

    /// <summary>The offer exists already (add), or changed or vanished since it was read (modify, withdraw).</summary>
    Conflict,

    /// <summary>The request's gate cycle closed its offer fence first: nothing was written.</summary>
    GateClosed,
}
