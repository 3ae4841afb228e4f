using System.Collections.Concurrent;
using Azure.Data.Tables;

namespace FlexChain.Storage;

/// <summary>Reads of many rows in few requests, within the service's filter rules.</summary>
public static class TableReads
{
    /// <summary>
    /// The rows of <paramref name="table"/> that meet any of <paramref name="conditions"/> within their partition, each
    /// condition a filter built with <c>TableClient.CreateQueryFilter</c>: one query per partition and per as many
    /// conditions as one filter may compare (<see cref="TableLimits.MaxFilterComparisons"/>, counting the partition key),
    /// the queries run <paramref name="parallelism"/> at a time. A partition's rows come in no particular order.
    /// </summary>
    /// <exception cref="TableLimitException">One condition alone compares more than a filter may.</exception>
    public static async Task<IReadOnlyList<TableEntity>> QueryAnyAsync(this TableClient table,
        IEnumerable<(string PartitionKey, string Condition)> conditions, int parallelism, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(table);
        ArgumentNullException.ThrowIfNull(conditions);
        var queries = new List<string>();
        foreach (var partition in conditions.Distinct().GroupBy(c => c.PartitionKey, StringComparer.Ordinal))
        {
            var prefix = TableClient.CreateQueryFilter($"PartitionKey eq {partition.Key}");
            var (chunk, compared) = (new List<string>(), TableLimits.Comparisons(prefix));
            foreach (var (_, condition) in partition)
            {
                var n = TableLimits.Comparisons(condition);
                if (chunk.Count > 0 && compared + n > TableLimits.MaxFilterComparisons)
                {
                    queries.Add(Any(prefix, chunk));
                    (chunk, compared) = (new List<string>(), TableLimits.Comparisons(prefix));
                }
                chunk.Add(condition);
                compared += n;
            }
            if (chunk.Count > 0) queries.Add(Any(prefix, chunk));
        }
        var found = new ConcurrentBag<TableEntity>();
        await Parallel.ForEachAsync(queries, new ParallelOptions { MaxDegreeOfParallelism = parallelism, CancellationToken = cancellationToken }, async (filter, ct) =>
        {
            await foreach (var e in table.QueryAsync<TableEntity>(TableLimits.CheckFilter(filter), cancellationToken: ct).ConfigureAwait(false)) found.Add(e);
        }).ConfigureAwait(false);
        return found.ToList();
    }

    /// <summary>The rows at <paramref name="keys"/> that exist (a missing row is no error), read as <see cref="QueryAnyAsync"/> does.</summary>
    public static Task<IReadOnlyList<TableEntity>> GetManyAsync(this TableClient table,
        IEnumerable<(string PartitionKey, string RowKey)> keys, int parallelism, CancellationToken cancellationToken) =>
        table.QueryAnyAsync(keys.Select(k => (k.PartitionKey, TableClient.CreateQueryFilter($"RowKey eq {k.RowKey}"))), parallelism, cancellationToken);

    private static string Any(string partition, List<string> conditions) => $"{partition} and ({string.Join(" or ", conditions.Select(c => $"({c})"))})";
}
