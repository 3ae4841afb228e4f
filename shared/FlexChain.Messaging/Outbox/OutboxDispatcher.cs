using Azure;
using FlexChain.Storage;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace FlexChain.Messaging.Outbox;

/// <summary>
/// Sends the pending outbox rows of one table through the messaging port and marks them dispatched.
/// </summary>
/// <remarks>
/// <para>Each row is sent, then marked (<c>Dispatched = true</c>, guarded by its ETag). A crash between the two leaves the
/// row pending, so the next run sends it again with the same message id: delivery is at least once, and consumers
/// de-duplicate by id (<see cref="IdempotentConsumer"/>; Service Bus duplicate detection does it too when enabled).</para>
/// <para>Safe to run on several instances at once: both may send a row (a duplicate with the same id); only one marks it.</para>
/// <para>A row whose send the service refuses (<see cref="RequestFailedException"/>) is logged and left pending for the
/// next run; other exceptions propagate.</para>
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

    /// <summary>Sends every pending outbox row of the table (all partitions); returns how many were sent and marked.</summary>
    /// <exception cref="RequestFailedException">The outbox query failed.</exception>
    public Task<int> DispatchPendingAsync(CancellationToken cancellationToken = default) =>
        DispatchAsync(PendingFilter(null), cancellationToken);

    /// <summary>
    /// Sends the pending outbox rows of one partition (call it right after <see cref="OutboxWriter.CommitAsync"/> for low
    /// latency; <see cref="DispatchPendingAsync"/> on a timer catches what a crash left behind).
    /// </summary>
    /// <exception cref="RequestFailedException">The outbox query failed.</exception>
    public Task<int> DispatchPartitionAsync(string partitionKey, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(partitionKey);
        return DispatchAsync(PendingFilter(partitionKey), cancellationToken);
    }

    /// <summary>
    /// Sends one outbox row, found by point read (no query), if it is still pending: the cheapest way to dispatch the
    /// message a transition just committed. Returns whether it was sent and marked here.
    /// </summary>
    /// <exception cref="RequestFailedException">The row could not be read.</exception>
    public async Task<bool> DispatchMessageAsync(string partitionKey, string messageId, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(partitionKey);
        ArgumentException.ThrowIfNullOrEmpty(messageId);
        var row = await _table.GetEntityAsync(partitionKey, OutboxBatch.RowKeyFor(messageId), cancellationToken: cancellationToken).ConfigureAwait(false);
        return row is not null && row.GetBoolean(OutboxBatch.DispatchedProperty) != true && await SendAndMarkAsync(row, cancellationToken).ConfigureAwait(false);
    }

    private async Task<int> DispatchAsync(string filter, CancellationToken cancellationToken)
    {
        var sent = 0;
        await foreach (var row in _table.QueryAsync(filter, cancellationToken: cancellationToken).ConfigureAwait(false))
            if (await SendAndMarkAsync(row, cancellationToken).ConfigureAwait(false)) sent++;
        return sent;
    }

    private async Task<bool> SendAndMarkAsync(TableEntity row, CancellationToken cancellationToken)
    {
        var (queue, message) = OutboxBatch.ReadRow(row);
        try
        {
            await _broker.GetQueue(queue).SendAsync(message, cancellationToken).ConfigureAwait(false);
        }
        catch (RequestFailedException e)
        {
            Log.SendFailed(_logger, message.MessageId, queue, e.Status, e.ErrorCode, e);
            return false;
        }

        var mark = new TableEntity(row.PartitionKey, row.RowKey)
        {
            [OutboxBatch.DispatchedProperty] = true,
            [OutboxBatch.DispatchedAtProperty] = _clock.GetUtcNow(),
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

    private static string PendingFilter(string? partitionKey)
    {
        // Row keys of outbox rows lie in [prefix, prefix with its last character raised by one).
        var end = OutboxBatch.RowKeyPrefix[..^1] + (char)(OutboxBatch.RowKeyPrefix[^1] + 1);
        var rows = TableFilter.Create($"RowKey ge {OutboxBatch.RowKeyPrefix} and RowKey lt {end} and Dispatched eq {false}");
        return partitionKey is null ? rows : TableFilter.And(TableFilter.Create($"PartitionKey eq {partitionKey}"), rows);
    }
}

internal static partial class Log
{
    [LoggerMessage(EventId = 1, Level = LogLevel.Debug, Message = "Outbox message {MessageId} sent to {Queue} and marked dispatched")]
    internal static partial void Dispatched(ILogger logger, string messageId, string queue);

    [LoggerMessage(EventId = 2, Level = LogLevel.Warning, Message = "Outbox message {MessageId} for {Queue} was refused ({Status} {ErrorCode}); it stays pending")]
    internal static partial void SendFailed(ILogger logger, string messageId, string queue, int status, string? errorCode, Exception exception);

    [LoggerMessage(EventId = 3, Level = LogLevel.Information, Message = "Outbox message {MessageId} for {Queue} was marked by another dispatcher; the send was a duplicate")]
    internal static partial void MarkedElsewhere(ILogger logger, string messageId, string queue);

    [LoggerMessage(EventId = 4, Level = LogLevel.Information, Message = "Message {MessageId} from {Queue} was processed before; acknowledged without running the handler")]
    internal static partial void Duplicate(ILogger logger, string messageId, string queue);

    [LoggerMessage(EventId = 5, Level = LogLevel.Warning, Message = "Message {MessageId} from {Queue} was processed but its lock was lost before completion; a redelivery will be skipped")]
    internal static partial void LockLostAfterProcessing(ILogger logger, string messageId, string queue);
}
