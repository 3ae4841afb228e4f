using System.Globalization;
using System.Text;
using Azure.Data.Tables;
using FlexChain.Storage;

namespace FlexChain.Messaging.Outbox;

/// <summary>
/// One partition's state change and the messages that announce it, committed together by
/// <see cref="OutboxWriter.CommitAsync"/> as a single entity group transaction: either the state change and all its
/// outbox rows are stored, or none of them.
/// </summary>
/// <remarks>
/// <para>An entity group transaction spans one table and one partition, so the outbox rows live beside the state
/// entity: same table, same partition key, row key <c>~outbox~{message id}</c> (the <c>~</c> prefix sorts them after
/// ordinary row keys). Do not use row keys starting with <see cref="RowKeyPrefix"/> for your own entities. Partition keys
/// starting with it are reserved too: <see cref="OutboxDispatcher"/> indexes dispatched rows there by dispatch time, for
/// <see cref="OutboxRetention"/>.</para>
/// <para>Message ids must be deterministic (derived from the state change), so that a retried transition produces the
/// same rows, and so that a message re-sent after a crash carries the same id.</para>
/// <para>A transaction holds at most 100 actions (state actions plus messages).</para>
/// </remarks>
public sealed class OutboxBatch
{
    /// <summary>The row-key prefix of outbox rows.</summary>
    public const string RowKeyPrefix = "~outbox~";

    /// <summary>The longest message body an outbox row holds, in UTF-16 characters (a table string property holds 64 KiB).</summary>
    public const int MaxBodyChars = 32 * 1024;

    internal const string QueueProperty = "Queue";
    internal const string MessageIdProperty = "MessageId";
    internal const string BodyProperty = "Body";
    internal const string ScheduledProperty = "ScheduledEnqueueTime";
    internal const string TimeToLiveProperty = "TimeToLiveSeconds";
    internal const string DispatchedProperty = "Dispatched";
    internal const string DispatchedAtProperty = "DispatchedAt";

    private readonly List<TableTransactionAction> _stateActions = [];
    private readonly List<TableTransactionAction> _messageActions = [];

    /// <summary>A batch for the aggregate stored in <paramref name="partitionKey"/>.</summary>
    /// <exception cref="ArgumentException">The key is empty, holds a character the Table service forbids, or starts with <see cref="RowKeyPrefix"/>.</exception>
    public OutboxBatch(string partitionKey)
    {
        ArgumentException.ThrowIfNullOrEmpty(partitionKey);
        TableKeys.Validate(partitionKey, nameof(partitionKey));
        if (partitionKey.StartsWith(RowKeyPrefix, StringComparison.Ordinal))
            throw new ArgumentException($"Partition keys starting with '{RowKeyPrefix}' are reserved for the outbox's dispatch index.", nameof(partitionKey));
        PartitionKey = partitionKey;
    }

    /// <summary>The partition every action of the batch writes to.</summary>
    public string PartitionKey { get; }

    /// <summary>The caller's state actions, in the order added.</summary>
    public IReadOnlyList<TableTransactionAction> StateActions => _stateActions;

    /// <summary>The outbox rows added so far, in the order added.</summary>
    public IReadOnlyList<TableTransactionAction> MessageActions => _messageActions;

    /// <summary>Adds a state action (insert, update with ETag, upsert, delete) on an entity of this partition.</summary>
    /// <exception cref="ArgumentException">The entity is in another partition or uses the outbox row-key prefix.</exception>
    public OutboxBatch Add(TableTransactionAction action)
    {
        ArgumentNullException.ThrowIfNull(action);
        if (!string.Equals(action.Entity.PartitionKey, PartitionKey, StringComparison.Ordinal))
            throw new ArgumentException($"The entity is in partition '{action.Entity.PartitionKey}', not '{PartitionKey}': a transaction spans one partition.", nameof(action));
        if (action.Entity.RowKey.StartsWith(RowKeyPrefix, StringComparison.Ordinal))
            throw new ArgumentException($"Row keys starting with '{RowKeyPrefix}' are reserved for outbox rows.", nameof(action));
        _stateActions.Add(action);
        return this;
    }

    /// <summary>Adds a message for <paramref name="queue"/>, to be sent by <see cref="OutboxDispatcher"/> once the batch is committed.</summary>
    /// <exception cref="ArgumentException">The message is invalid, or the queue name is empty.</exception>
    /// <exception cref="MessageTooLargeException">The body exceeds <see cref="MaxBodyChars"/>.</exception>
    public OutboxBatch AddMessage(string queue, OutgoingMessage message)
    {
        ArgumentException.ThrowIfNullOrEmpty(queue);
        ArgumentNullException.ThrowIfNull(message);
        message.Validate();
        if (message.Body.Length > MaxBodyChars)
            throw new MessageTooLargeException(message.MessageId, Encoding.UTF8.GetByteCount(message.Body), MaxBodyChars);
        var entity = new TableEntity(PartitionKey, RowKeyFor(message.MessageId))
        {
            [QueueProperty] = queue,
            [MessageIdProperty] = message.MessageId,
            [BodyProperty] = message.Body,
            [DispatchedProperty] = false,
        };
        if (message.ScheduledEnqueueTime is { } at) entity[ScheduledProperty] = at;
        if (message.TimeToLive is { } ttl) entity[TimeToLiveProperty] = (long)Math.Ceiling(ttl.TotalSeconds);
        TableLimits.Check(entity);
        _messageActions.Add(new TableTransactionAction(TableTransactionActionType.Add, entity));
        return this;
    }

    /// <summary>The row key of the outbox row of <paramref name="messageId"/>.</summary>
    public static string RowKeyFor(string messageId) => RowKeyPrefix + TableKeys.Encode(messageId);

    /// <summary>Reads the message an outbox row holds.</summary>
    internal static (string Queue, OutgoingMessage Message) ReadRow(TableEntity row)
    {
        var ttl = row.GetInt64(TimeToLiveProperty);
        var message = new OutgoingMessage(
            row.GetString(MessageIdProperty) ?? throw new InvalidOperationException($"Outbox row {row.PartitionKey}/{row.RowKey} has no message id."),
            row.GetString(BodyProperty) ?? "")
        {
            ScheduledEnqueueTime = row.GetDateTimeOffset(ScheduledProperty),
            TimeToLive = ttl is { } seconds ? TimeSpan.FromSeconds(seconds) : null,
        };
        return (row.GetString(QueueProperty) ?? throw new InvalidOperationException($"Outbox row {row.PartitionKey}/{row.RowKey} has no queue."), message);
    }
}

/// <summary>Row keys from arbitrary ids: the characters the Table service forbids are percent-encoded (and so is '%').</summary>
internal static class TableKeys
{
    /// <summary>Throws when <paramref name="key"/> holds a character the Table service forbids in keys.</summary>
    internal static void Validate(string key, string paramName)
    {
        if (key.Any(c => c is '/' or '\\' or '#' or '?' || char.IsControl(c)))
            throw new ArgumentException("A table key cannot hold '/', '\\', '#', '?' or control characters.", paramName);
    }

    internal static string Encode(string id)
    {
        var sb = new StringBuilder(id.Length);
        foreach (var c in id)
        {
            if (c is '/' or '\\' or '#' or '?' or '%' || char.IsControl(c))
                sb.Append('%').Append(((int)c).ToString("X2", CultureInfo.InvariantCulture));
            else
                sb.Append(c);
        }
        return sb.ToString();
    }
}
