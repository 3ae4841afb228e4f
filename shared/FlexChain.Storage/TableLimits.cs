using System.Text.RegularExpressions;
using Azure;
using Azure.Data.Tables;

namespace FlexChain.Storage;

/// <summary>
/// The limits of Azure Table storage that Azurite does not enforce (ARCHITECTURE.md section 1): a string or binary
/// property of at most 64 KiB, an entity of at most 1 MiB, an entity-group transaction of at most 100 operations on one
/// partition and a 4 MiB request. Every write of FlexChain checks them before it leaves the process, so what passes
/// the tests on Azurite is also accepted by the real service, and an oversized aggregate is refused whole, never
/// half written.
/// </summary>
/// <remarks>Sizes follow the service's documented estimate of an entity's size: 4 bytes, plus the keys in UTF-16, plus
/// per property 8 bytes, its name in UTF-16 and its value (strings in UTF-16 plus 4 bytes, binary plus 4 bytes, 8 for
/// 64-bit numbers, dates and doubles, 4 for 32-bit numbers, 16 for GUIDs, 1 for booleans).</remarks>
public static class TableLimits
{
    /// <summary>Largest string or binary property, in bytes (a string counts two bytes per UTF-16 code unit).</summary>
    public const int MaxPropertyBytes = 64 * 1024;

    /// <summary>Largest entity, in bytes of the service's size estimate.</summary>
    public const int MaxEntityBytes = 1024 * 1024;

    /// <summary>Most properties an entity may have besides PartitionKey, RowKey and Timestamp.</summary>
    public const int MaxProperties = 252;

    /// <summary>Longest partition or row key, in UTF-16 code units (1 KiB).</summary>
    public const int MaxKeyLength = 512;

    /// <summary>Most operations in one entity-group transaction.</summary>
    public const int MaxTransactionActions = 100;

    /// <summary>Largest entity-group transaction request, in bytes.</summary>
    public const int MaxTransactionBytes = 4 * 1024 * 1024;

    /// <summary>Most comparisons (<c>eq</c>, <c>ne</c>, <c>gt</c>, <c>ge</c>, <c>lt</c>, <c>le</c>) in one query's filter.</summary>
    public const int MaxFilterComparisons = 15;

    /// <summary>Bytes counted per operation of a transaction for its MIME part and headers (a generous bound).</summary>
    private const int TransactionOverheadPerAction = 1024;

    /// <summary>The service's estimate of <paramref name="entity"/>'s size in bytes.</summary>
    public static long EntityBytes(TableEntity entity)
    {
        ArgumentNullException.ThrowIfNull(entity);
        long size = 4 + 2L * ((entity.PartitionKey?.Length ?? 0) + (entity.RowKey?.Length ?? 0));
        foreach (var (name, value) in Properties(entity)) size += 8 + 2L * name.Length + ValueBytes(value);
        return size;
    }

    /// <summary>Throws when the real service would refuse to store <paramref name="entity"/>.</summary>
    /// <exception cref="TableLimitException">A key, property or the whole entity is over its limit.</exception>
    public static TableEntity Check(TableEntity entity)
    {
        ArgumentNullException.ThrowIfNull(entity);
        var where = $"entity {entity.PartitionKey}/{entity.RowKey}";
        if ((entity.PartitionKey?.Length ?? 0) > MaxKeyLength || (entity.RowKey?.Length ?? 0) > MaxKeyLength)
            throw new TableLimitException($"{where}: a key is longer than {MaxKeyLength} characters");
        var properties = Properties(entity).ToList();
        if (properties.Count > MaxProperties)
            throw new TableLimitException($"{where}: {properties.Count} properties, at most {MaxProperties}");
        foreach (var (name, value) in properties)
            if (value is string or byte[] && ValueBytes(value) - 4 > MaxPropertyBytes)
                throw new TableLimitException($"{where}: property {name} is {ValueBytes(value) - 4} bytes, at most {MaxPropertyBytes}");
        if (EntityBytes(entity) is var bytes and > MaxEntityBytes)
            throw new TableLimitException($"{where}: {bytes} bytes, at most {MaxEntityBytes}");
        return entity;
    }

    /// <summary>How many comparisons <paramref name="filter"/> makes (quoted literals are skipped).</summary>
    public static int Comparisons(string filter) =>
        Regex.Matches(Regex.Replace(filter, "'(?:[^']|'')*'", "''"), @"\s(?:eq|ne|gt|ge|lt|le)\s").Count;

    /// <summary>Throws when the real service would refuse <paramref name="filter"/> (Azurite takes any number of comparisons).</summary>
    /// <exception cref="TableLimitException">More than <see cref="MaxFilterComparisons"/> comparisons.</exception>
    public static string CheckFilter(string filter)
    {
        ArgumentNullException.ThrowIfNull(filter);
        if (Comparisons(filter) is var n and > MaxFilterComparisons)
            throw new TableLimitException($"a query filter has {n} comparisons, at most {MaxFilterComparisons}");
        return filter;
    }

    /// <summary>Throws when the real service would refuse <paramref name="actions"/> as one entity-group transaction.</summary>
    /// <exception cref="TableLimitException">The actions span partitions, are more than 100, or are too large.</exception>
    public static void CheckTransaction(IReadOnlyCollection<TableTransactionAction> actions)
    {
        ArgumentNullException.ThrowIfNull(actions);
        if (actions.Count is 0 or > MaxTransactionActions)
            throw new TableLimitException($"a transaction has 1 to {MaxTransactionActions} operations, not {actions.Count}");
        var partitions = actions.Select(a => a.Entity.PartitionKey).Distinct(StringComparer.Ordinal).ToList();
        if (partitions.Count != 1)
            throw new TableLimitException($"a transaction stays in one partition; this one spans {string.Join(", ", partitions.Take(3))}");
        long bytes = 0;
        foreach (var action in actions)
            bytes += TransactionOverheadPerAction + (action.Entity is TableEntity e ? EntityBytes(Check(e)) : 0);
        if (bytes > MaxTransactionBytes)
            throw new TableLimitException($"a transaction of {actions.Count} operations is about {bytes} bytes, at most {MaxTransactionBytes}");
    }

    /// <summary>
    /// Checks <paramref name="actions"/> against the service's limits, then submits them as one entity-group
    /// transaction: the one way FlexChain commits several entities atomically.
    /// </summary>
    /// <returns>The response of each action, in order (their ETags for inserts and updates).</returns>
    /// <exception cref="TableLimitException">The transaction would be refused by Azure; nothing was sent.</exception>
    /// <exception cref="TableTransactionFailedException">The service refused an action; nothing was stored.</exception>
    public static async Task<IReadOnlyList<Response>> SubmitCheckedTransactionAsync(
        this TableClient table, IEnumerable<TableTransactionAction> actions, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(table);
        var list = actions.ToList();
        CheckTransaction(list);
        return (await table.SubmitTransactionAsync(list, cancellationToken).ConfigureAwait(false)).Value;
    }

    private static IEnumerable<(string Name, object? Value)> Properties(TableEntity entity) =>
        entity.Where(p => p.Key is not ("PartitionKey" or "RowKey" or "Timestamp" or "odata.etag") && p.Value is not null)
            .Select(p => (p.Key, (object?)p.Value));

    private static long ValueBytes(object? value) => value switch
    {
        null => 0,
        string s => 4 + 2L * s.Length,
        byte[] b => 4 + b.LongLength,
        BinaryData b => 4 + b.ToMemory().Length,
        bool => 1,
        int => 4,
        long or double or DateTime or DateTimeOffset => 8,
        Guid => 16,
        _ => throw new ArgumentException($"Table storage cannot hold a {value.GetType().Name}"),
    };
}

/// <summary>An entity or transaction exceeds a limit of Azure Table storage; nothing was written.</summary>
public sealed class TableLimitException(string message) : InvalidOperationException(message);
