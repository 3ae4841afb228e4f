using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Azure;
using Azure.Data.Tables;
using FlexChain.Storage;

namespace FlexChain.Messaging.Outbox;

/// <summary>Deletes outbox rows some time after they were dispatched. Pending rows are never deleted.</summary>
/// <remarks>
/// <para>Outbox rows live beside their aggregates, one partition per aggregate, so no key range holds the old ones and a
/// filter on <c>DispatchedAt</c> would scan the whole table. <see cref="OutboxDispatcher"/> therefore indexes every row
/// it sends, in the same table: partition <c>~outbox~{yyyyMMddHH of the dispatch}~{00..0f}</c> (16 shards by the row's
/// partition key, so that a burst of dispatches, as at a gate closure, spreads over partitions), row key
/// <c>{dispatch ticks}_{partition key}{row key}</c>. A sweep reads every index partition up to the cutoff with one
/// range query, deletes the rows that are dispatched and old enough (each under the ETag it was read with), and drops
/// the entries it read.</para>
/// <para>Rows dispatched before the index existed are not found; they need a one-off scan.</para>
/// </remarks>
public sealed class OutboxRetention
{
    private const int IndexShards = 16;
    private const string PartitionProperty = "OutboxPartition";
    private const string RowProperty = "OutboxRow";

    private readonly TableClient _table;

    /// <summary>A sweep of the outbox rows in <paramref name="table"/> (the table an <see cref="OutboxDispatcher"/> sends from).</summary>
    /// <exception cref="ArgumentNullException">The table is null.</exception>
    public OutboxRetention(TableClient table) => _table = table ?? throw new ArgumentNullException(nameof(table));

    /// <summary>
    /// Deletes the outbox rows dispatched before <paramref name="dispatchedBefore"/> and the index entries that led to
    /// them; entries of rows still pending (sent but never marked) are dropped and the row kept: the send that marks it
    /// indexes it again.
    /// </summary>
    /// <returns>How many outbox rows were deleted.</returns>
    /// <exception cref="RequestFailedException">The table could not be read or written; run the sweep again later.</exception>
    public async Task<int> PurgeDispatchedAsync(DateTimeOffset dispatchedBefore, CancellationToken cancellationToken = default)
    {
        var filter = TableClient.CreateQueryFilter(
            $"PartitionKey ge {OutboxBatch.RowKeyPrefix} and PartitionKey lt {OutboxBatch.RowKeyPrefix + Hour(dispatchedBefore) + "~~"} and RowKey lt {Ticks(dispatchedBefore)}");
        var deleted = 0;
        var parallel = new ParallelOptions { MaxDegreeOfParallelism = 16, CancellationToken = cancellationToken };
        await foreach (var page in _table.QueryAsync<TableEntity>(filter, cancellationToken: cancellationToken).AsPages().ConfigureAwait(false))
        {
            await Parallel.ForEachAsync(page.Values, parallel, async (entry, ct) =>
            {
                if (await DeleteIfDispatchedBeforeAsync(entry, dispatchedBefore, ct).ConfigureAwait(false)) Interlocked.Increment(ref deleted);
            }).ConfigureAwait(false);
            await _table.DeleteEntitiesAsync(page.Values, cancellationToken).ConfigureAwait(false);
        }
        return deleted;
    }

    private async Task<bool> DeleteIfDispatchedBeforeAsync(TableEntity entry, DateTimeOffset before, CancellationToken cancellationToken)
    {
        if (entry.GetString(PartitionProperty) is not { } pk || entry.GetString(RowProperty) is not { } rk) return false;
        var row = await _table.GetEntityIfExistsAsync<TableEntity>(
            pk, rk, [OutboxBatch.DispatchedProperty, OutboxBatch.DispatchedAtProperty], cancellationToken).ConfigureAwait(false);
        // A row dispatched later than this entry says was marked by another send, which indexed it at that later time.
        if (!row.HasValue || row.Value is not { } r || r.GetBoolean(OutboxBatch.DispatchedProperty) != true
            || !(r.GetDateTimeOffset(OutboxBatch.DispatchedAtProperty) < before))
            return false;
        try
        {
            return (await _table.DeleteEntityAsync(pk, rk, r.ETag, cancellationToken).ConfigureAwait(false)).Status != 404;
        }
        catch (RequestFailedException e) when (e.Status == 412)
        {
            return false;
        }
    }

    /// <summary>The index entry of the outbox row <paramref name="partitionKey"/>/<paramref name="rowKey"/> dispatched at <paramref name="dispatchedAt"/>.</summary>
    internal static TableEntity IndexEntry(string partitionKey, string rowKey, DateTimeOffset dispatchedAt) =>
        TableLimits.Check(new TableEntity($"{OutboxBatch.RowKeyPrefix}{Hour(dispatchedAt)}~{Shard(partitionKey)}", $"{Ticks(dispatchedAt)}_{partitionKey}{rowKey}")
        {
            [PartitionProperty] = partitionKey,
            [RowProperty] = rowKey,
        });

    private static string Hour(DateTimeOffset t) => t.UtcDateTime.ToString("yyyyMMddHH", CultureInfo.InvariantCulture);

    private static string Ticks(DateTimeOffset t) => t.UtcTicks.ToString("D19", CultureInfo.InvariantCulture);

    private static string Shard(string partitionKey) =>
        (SHA256.HashData(Encoding.UTF8.GetBytes(partitionKey))[0] % IndexShards).ToString("x2", CultureInfo.InvariantCulture);
}
