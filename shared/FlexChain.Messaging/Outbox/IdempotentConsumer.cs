using Azure;
using Azure.Data.Tables;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace FlexChain.Messaging.Outbox;

/// <summary>What <see cref="IdempotentConsumer.HandleAsync"/> did with a message.</summary>
public enum ConsumeOutcome
{
    /// <summary>The handler ran and the message was recorded as processed and completed.</summary>
    Processed = 0,

    /// <summary>The message id was processed before: the message was completed without running the handler.</summary>
    Duplicate = 1,
}

/// <summary>
/// Runs a handler at most once per message id, however often the message is delivered (redelivery after a lost lock, a
/// duplicate send by the outbox dispatcher). Processed ids are kept in a table: partition = consumer name, row = message id.
/// </summary>
/// <remarks>
/// <para>Order: look the id up; if recorded, complete and return <see cref="ConsumeOutcome.Duplicate"/>; otherwise run the
/// handler, record the id, complete. If the handler throws, the message is abandoned (so it is redelivered, and
/// dead-lettered after the maximum delivery count) and the exception propagates.</para>
/// <para>A crash after the handler's effect but before the id is recorded lets a redelivery run the handler again, so
/// handlers should still make their own writes conditional where a second run would do harm (for example insert
/// keyed by the message id, or an ETag-guarded transition, as the gate-cycle state machine does).</para>
/// <para>Two receivers never hold the same message while its lock is valid; if a lock expires mid-handler and another
/// receiver runs the handler too, the first to record the id wins and the other's record is a no-op.</para>
/// </remarks>
public sealed class IdempotentConsumer
{
    private const string ProcessedAtProperty = "ProcessedAt";
    private readonly TableClient _processed;
    private readonly TimeProvider _clock;
    private readonly ILogger _logger;

    /// <summary>A consumer named <paramref name="consumerName"/> recording processed ids in <paramref name="processedTable"/> (which must exist).</summary>
    /// <exception cref="ArgumentException">The name is empty or holds a character forbidden in table keys.</exception>
    public IdempotentConsumer(TableClient processedTable, string consumerName, TimeProvider? clock = null, ILogger<IdempotentConsumer>? logger = null)
    {
        _processed = processedTable ?? throw new ArgumentNullException(nameof(processedTable));
        ArgumentException.ThrowIfNullOrEmpty(consumerName);
        TableKeys.Validate(consumerName, nameof(consumerName));
        ConsumerName = consumerName;
        _clock = clock ?? TimeProvider.System;
        _logger = (ILogger?)logger ?? NullLogger.Instance;
    }

    /// <summary>The consumer's name (the partition of its processed-message records).</summary>
    public string ConsumerName { get; }

    /// <summary>Whether a message with this id has been processed by this consumer.</summary>
    /// <exception cref="RequestFailedException">The table could not be read.</exception>
    public async Task<bool> HasProcessedAsync(string messageId, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(messageId);
        var row = await _processed.GetEntityIfExistsAsync<TableEntity>(ConsumerName, TableKeys.Encode(messageId), [ProcessedAtProperty], cancellationToken).ConfigureAwait(false);
        return row.HasValue;
    }

    /// <summary>Runs <paramref name="handler"/> for <paramref name="message"/> unless its id was processed, then completes the message.</summary>
    /// <exception cref="RequestFailedException">The table or the queue refused a request; the message stays locked until its lock expires.</exception>
    /// <exception cref="Exception">Whatever the handler throws, after the message was abandoned.</exception>
    public async Task<ConsumeOutcome> HandleAsync(
        IMessageQueue queue, ReceivedMessage message, Func<ReceivedMessage, CancellationToken, Task> handler, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(queue);
        ArgumentNullException.ThrowIfNull(message);
        ArgumentNullException.ThrowIfNull(handler);

        if (await HasProcessedAsync(message.MessageId, cancellationToken).ConfigureAwait(false))
        {
            Log.Duplicate(_logger, message.MessageId, queue.Name);
            await CompleteAsync(queue, message, cancellationToken).ConfigureAwait(false);
            return ConsumeOutcome.Duplicate;
        }

        try
        {
            await handler(message, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception) when (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                await queue.AbandonAsync(message, CancellationToken.None).ConfigureAwait(false);
            }
            catch (RequestFailedException)
            {
                // The lock is gone already; the message comes back when it expires. The handler's failure is what matters.
            }
            throw;
        }

        var record = new TableEntity(ConsumerName, TableKeys.Encode(message.MessageId)) { [ProcessedAtProperty] = _clock.GetUtcNow() };
        try
        {
            await _processed.AddEntityAsync(record, cancellationToken).ConfigureAwait(false);
        }
        catch (RequestFailedException e) when (e.Status == 409)
        {
            // Another receiver (whose lock had expired ours) recorded it first.
        }
        await CompleteAsync(queue, message, cancellationToken).ConfigureAwait(false);
        return ConsumeOutcome.Processed;
    }

    private async Task CompleteAsync(IMessageQueue queue, ReceivedMessage message, CancellationToken cancellationToken)
    {
        try
        {
            await queue.CompleteAsync(message, cancellationToken).ConfigureAwait(false);
        }
        catch (MessageLockLostException)
        {
            // Recorded as processed: whoever gets the message next completes it as a duplicate.
            Log.LockLostAfterProcessing(_logger, message.MessageId, queue.Name);
        }
    }
}
