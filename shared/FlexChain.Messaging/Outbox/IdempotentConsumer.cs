using Azure;
using Azure.Data.Tables;
using FlexChain.Storage;
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
/// duplicate send by the outbox dispatcher). Processed ids are kept in a table: partition = consumer name, row = message id,
/// and beside each, written in the same transaction, a row keyed by the processing time (<c>%t~{ticks}_{message id}</c>)
/// through which <see cref="PurgeAsync"/> finds the old ones with a key-range read.
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

    // No message id's row key starts with this: TableKeys.Encode writes '%' only before two upper-case hex digits.
    private const string ByTimePrefix = "%t~";
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

        var now = _clock.GetUtcNow();
        var id = TableKeys.Encode(message.MessageId);
        try
        {
            await _processed.SubmitCheckedTransactionAsync(
            [
                new TableTransactionAction(TableTransactionActionType.Add, new TableEntity(ConsumerName, id) { [ProcessedAtProperty] = now }),
                new TableTransactionAction(TableTransactionActionType.Add, new TableEntity(ConsumerName, ByTimeKey(now, id))),
            ], cancellationToken).ConfigureAwait(false);
        }
        catch (TableTransactionFailedException e) when (e.Status == 409)
        {
            // Another receiver (whose lock had expired ours) recorded it first.
        }
        await CompleteAsync(queue, message, cancellationToken).ConfigureAwait(false);
        return ConsumeOutcome.Processed;
    }

    /// <summary>
    /// Forgets the ids this consumer processed before <paramref name="processedBefore"/>: a redelivery of one of them
    /// would run the handler again, so keep them longer than any message can come back.
    /// </summary>
    /// <returns>How many old ids the sweep found (and forgot).</returns>
    /// <exception cref="RequestFailedException">The table could not be read or written; run it again later.</exception>
    public async Task<int> PurgeAsync(DateTimeOffset processedBefore, CancellationToken cancellationToken = default)
    {
        var filter = TableClient.CreateQueryFilter(
            $"PartitionKey eq {ConsumerName} and RowKey ge {ByTimePrefix} and RowKey lt {ByTimePrefix + Ticks(processedBefore)}");
        var found = 0;
        await foreach (var page in _processed.QueryAsync<TableEntity>(filter, select: ["PartitionKey", "RowKey"], cancellationToken: cancellationToken).AsPages().ConfigureAwait(false))
        {
            // Each id with its time row; the marker is deleted whatever it holds (it is never updated).
            var rows = page.Values.SelectMany(t => new ITableEntity[] { t, new TableEntity(ConsumerName, t.RowKey[(ByTimePrefix.Length + 20)..]) });
            await _processed.DeleteEntitiesAsync(rows, cancellationToken).ConfigureAwait(false);
            found += page.Values.Count;
        }
        return found;
    }

    private static string ByTimeKey(DateTimeOffset processedAt, string encodedId) => $"{ByTimePrefix}{Ticks(processedAt)}_{encodedId}";

    private static string Ticks(DateTimeOffset t) => t.UtcTicks.ToString("D19", System.Globalization.CultureInfo.InvariantCulture);

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
