using Azure.Data.Tables;
using FlexChain.Functions.Notifications;
using FlexChain.Messaging.Outbox;
using FlexChain.Storage;

namespace FlexChain.Functions.Storage;

/// <summary>
/// Retention: deletes what is no longer needed, each kind found by a key-range read (see the key notes in
/// MarketStore.Notifications.cs and docs/SCALING.md). Events and deliveries are partitioned by participant, so their
/// sweeps visit each participant's partition, listed by a scan of the participants table (one small row read per
/// participant: the least bad way, since nothing keys all recipients by time).
/// </summary>
public sealed partial class MarketStore
{
    /// <summary>The id of every participant (a keys-only scan of the participants' documents).</summary>
    public async Task<List<string>> ListParticipantIdsAsync(CancellationToken cancellationToken)
    {
        var ids = new List<string>();
        await foreach (var e in Participants.QueryAsync<TableEntity>(TableClient.CreateQueryFilter($"RowKey eq {Doc}"), select: ["PartitionKey"], cancellationToken: cancellationToken))
            ids.Add(e.PartitionKey);
        return ids;
    }

    /// <summary>Deletes the request outbox rows dispatched before <paramref name="dispatchedBefore"/>; pending rows stay. Returns how many.</summary>
    public Task<int> PurgeRequestOutboxAsync(DateTimeOffset dispatchedBefore, CancellationToken cancellationToken) =>
        new OutboxRetention(Requests).PurgeDispatchedAsync(dispatchedBefore, cancellationToken);

    /// <summary>
    /// Deletes <paramref name="recipient"/>'s events recorded before <paramref name="recordedBefore"/>, each with its id
    /// row (a transition retried after that would record its event again). Returns how many events were found old.
    /// </summary>
    public async Task<int> PurgeEventsAsync(string recipient, DateTimeOffset recordedBefore, CancellationToken cancellationToken)
    {
        var found = 0;
        var filter = TableClient.CreateQueryFilter($"PartitionKey eq {recipient} and RowKey lt {StreamPosition(recordedBefore)}");
        await foreach (var page in Notifications.QueryAsync<TableEntity>(filter, select: ["PartitionKey", "RowKey"], cancellationToken: cancellationToken).AsPages())
        {
            // The stream row's key is {19 digits of ticks}_{event id}.
            await Notifications.DeleteEntitiesAsync(
                page.Values.SelectMany(e => new ITableEntity[] { e, new TableEntity(recipient, EventIdPrefix + e.RowKey[20..]) }), cancellationToken);
            found += page.Values.Count;
        }
        return found;
    }

    /// <summary>
    /// Deletes <paramref name="participantId"/>'s deliveries that ended (delivered or failed) before
    /// <paramref name="endedBefore"/>, each under the ETag it was checked with. Pending deliveries stay, and so does one
    /// redelivered since its index row was written. Returns how many were deleted.
    /// </summary>
    public async Task<int> PurgeDeliveriesAsync(string participantId, DateTimeOffset endedBefore, CancellationToken cancellationToken)
    {
        var deleted = 0;
        var filter = TableClient.CreateQueryFilter($"PartitionKey eq {participantId} and RowKey ge {EndedPrefix} and RowKey lt {EndedPrefix + Ticks(endedBefore)}");
        await foreach (var page in Deliveries.QueryAsync<TableEntity>(filter, select: ["PartitionKey", "RowKey"], cancellationToken: cancellationToken).AsPages())
        {
            var ended = new System.Collections.Concurrent.ConcurrentBag<ITableEntity>();
            await Parallel.ForEachAsync(page.Values, InParallel(cancellationToken), async (entry, ct) =>
            {
                var id = entry.RowKey[(EndedPrefix.Length + 20)..];
                if (await GetAsync<WebhookDelivery>(Deliveries, participantId, id, ct) is { Value.State: not DeliveryState.Pending } d && EndedKey(d.Value) == entry.RowKey)
                    ended.Add(new TableEntity(participantId, id) { ETag = d.ETag });
            });
            deleted += await Deliveries.DeleteEntitiesAsync(ended, cancellationToken);
            // Index rows of deliveries gone, pending again or ended again later (indexed anew) go too.
            await Deliveries.DeleteEntitiesAsync(page.Values, cancellationToken);
        }
        return deleted;
    }

    /// <summary>
    /// Drops the idempotency day tables (<see cref="IdempotencyTable"/>) older than the last <paramref name="days"/> UTC
    /// days up to <paramref name="now"/>'s: a range read of the table names, which sort by date. Returns how many.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="days"/> is below 2: keys are looked up today and yesterday.</exception>
    public async Task<int> DropIdempotencyTablesAsync(DateTimeOffset now, int days, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(days, 2);
        var dropped = 0;
        var filter = TableClient.CreateQueryFilter($"TableName ge {"idempotency"} and TableName lt {IdempotencyTable(now.AddDays(1 - days))}");
        await foreach (var table in service.QueryAsync(filter, cancellationToken: cancellationToken))
        {
            await service.DeleteTableAsync(table.Name, cancellationToken);
            dropped++;
        }
        return dropped;
    }

    /// <summary>
    /// Deletes the trade answers and answer fences (table <c>tradeanswers</c>) last written before <paramref name="before"/> (the
    /// table's own write time): answers are written until their request's approval deadline and the fence when its cycle clears,
    /// so these belong to requests cleared long ago. Returns how many rows went.
    /// </summary>
    public Task<int> PurgeTradeAnswersAsync(DateTimeOffset before, CancellationToken cancellationToken) =>
        PurgeAsync(TradeAnswers, TableClient.CreateQueryFilter($"Timestamp lt {before}"), cancellationToken);

    /// <summary>Deletes every node's grid states (table <c>gridstates</c>) of UTC days that ended by <paramref name="before"/> (a row-key range). Returns how many.</summary>
    public Task<int> PurgeGridStatesAsync(DateTimeOffset before, CancellationToken cancellationToken) =>
        PurgeAsync(GridStates, TableClient.CreateQueryFilter($"RowKey lt {DayKey(DateOnly.FromDateTime(before.UtcDateTime))}"), cancellationToken);

    /// <summary>
    /// Deletes the imbalance-adjustment records (table <c>imbalance</c>) of deliveries that started on UTC days before
    /// <paramref name="before"/>'s (a partition-key range: one partition per day). Returns how many.
    /// </summary>
    public Task<int> PurgeImbalanceAsync(DateTimeOffset before, CancellationToken cancellationToken) =>
        PurgeAsync(Imbalance, TableClient.CreateQueryFilter($"PartitionKey lt {ImbalanceDay(before)}"), cancellationToken);

    /// <summary>Deletes every row of <paramref name="table"/> that <paramref name="filter"/> matches, a page at a time (keys only). Returns how many.</summary>
    private static async Task<int> PurgeAsync(TableClient table, string filter, CancellationToken cancellationToken)
    {
        var deleted = 0;
        await foreach (var page in table.QueryAsync<TableEntity>(filter, select: ["PartitionKey", "RowKey"], cancellationToken: cancellationToken).AsPages())
            deleted += await table.DeleteEntitiesAsync(page.Values, cancellationToken);
        return deleted;
    }
}
