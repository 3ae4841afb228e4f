using Azure;
using Azure.Data.Tables;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace FlexChain.Messaging.Outbox;

/// <summary>
/// Sends an outbox row through the messaging port and marks it dispatched.
/// </summary>
/// <remarks>
/// <para>The row is sent, indexed by dispatch time (for <see cref="OutboxRetention"/>), then marked (<c>Dispatched =
/// true</c>, <c>DispatchedAt</c>, guarded by its ETag). A crash between the send and the mark leaves the
/// row pending, so the caller's retry sends it again with the same message id: delivery is at least once, and consumers
/// de-duplicate by id (<see cref="IdempotentConsumer"/>; Service Bus duplicate detection does it too when enabled).</para>
/// <para>Safe to run on several instances at once: both may send a row (a duplicate with the same id); only one marks it.</para>
/// <para>A send the service refuses throws and leaves the row pending: the step that committed the message must not
/// move on (or checkpoint) until its message is out, so it fails and is retried.</para>
/// </remarks>
public sealed class OutboxDispatcher
{
    private readonly TableClient _table;
    private readonly IMessageBroker _broker;
    private readonly TimeProvider _clock;
    private readonly ILogger _logger;

    /// <summary>A dispatcher for the outbox rows in <paramref name="table"/>, sending through <paramref name="broker"/>.</summary>
    /// <exception cref="ArgumentNullException">The table or broker is null.</exception>
    public OutboxDispatcher(TableClient table, IMessageBroker broker, TimeProvider? clock = null, ILogger<OutboxDispatcher>? logger = null)
    {
        _table = table ?? throw new ArgumentNullException(nameof(table));
        _broker = broker ?? throw new ArgumentNullException(nameof(broker));
        _clock = clock ?? TimeProvider.System;
        _logger = (ILogger?)logger ?? NullLogger.Instance;
    }

    /// <summary>
    /// Sends one outbox row (a point read, no query) if it is still pending: call it right after
    /// <see cref="OutboxWriter.CommitAsync"/>, and again whenever the step is retried. Returns whether it was sent and
    /// marked here (false when it was already dispatched, does not exist, or another dispatcher marked it first).
    /// </summary>
    /// <exception cref="RequestFailedException">The row could not be read, or the messaging service refused the send (the row stays pending).</exception>
    public async Task<bool> DispatchMessageAsync(string partitionKey, string messageId, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(partitionKey);
        ArgumentException.ThrowIfNullOrEmpty(messageId);
        var row = await _table.GetEntityIfExistsAsync<TableEntity>(partitionKey, OutboxBatch.RowKeyFor(messageId), cancellationToken: cancellationToken).ConfigureAwait(false);
        return row.HasValue && row.Value is { } r && r.GetBoolean(OutboxBatch.DispatchedProperty) != true && await SendAndMarkAsync(r, cancellationToken).ConfigureAwait(false);
    }

    private async Task<bool> SendAndMarkAsync(TableEntity row, CancellationToken cancellationToken)
    {
        var (queue, message) = OutboxBatch.ReadRow(row);
        await _broker.GetQueue(queue).SendAsync(message, cancellationToken).ConfigureAwait(false);

        // Indexed before it is marked, so a dispatched row always has an index entry at its DispatchedAt: retention finds
        // it by a key-range read. An entry whose row stayed pending (a crash before the mark) is dropped by the sweep;
        // the send that finally marks the row writes a new one.
        var now = _clock.GetUtcNow();
        await _table.UpsertEntityAsync(OutboxRetention.IndexEntry(row.PartitionKey, row.RowKey, now), TableUpdateMode.Replace, cancellationToken).ConfigureAwait(false);
        var mark = new TableEntity(row.PartitionKey, row.RowKey)
        {
            [OutboxBatch.DispatchedProperty] = true,
            [OutboxBatch.DispatchedAtProperty] = now,
        };
        try
        {
            await _table.UpdateEntityAsync(mark, row.ETag, TableUpdateMode.Merge, cancellationToken).ConfigureAwait(false);
            Log.Dispatched(_logger, message.MessageId, queue);
            return true;
        }
        catch (RequestFailedException e) when (e.Status is 404 or 412)
        {
            // Another dispatcher marked (or removed) the row first; what we sent is a duplicate with the same id.
            Log.MarkedElsewhere(_logger, message.MessageId, queue);
            return false;
        }
    }
}

internal static partial class Log
{
    [LoggerMessage(EventId = 1, Level = LogLevel.Debug, Message = "Outbox message {MessageId} sent to {Queue} and marked dispatched")]
    internal static partial void Dispatched(ILogger logger, string messageId, string queue);

    [LoggerMessage(EventId = 3, Level = LogLevel.Information, Message = "Outbox message {MessageId} for {Queue} was marked by another dispatcher; the send was a duplicate")]
    internal static partial void MarkedElsewhere(ILogger logger, string messageId, string queue);

    [LoggerMessage(EventId = 4, Level = LogLevel.Information, Message = "Message {MessageId} from {Queue} was processed before; acknowledged without running the handler")]
    internal static partial void Duplicate(ILogger logger, string messageId, string queue);

    [LoggerMessage(EventId = 5, Level = LogLevel.Warning, Message = "Message {MessageId} from {Queue} was processed but its lock was lost before completion; a redelivery will be skipped")]
    internal static partial void LockLostAfterProcessing(ILogger logger, string messageId, string queue);
}
