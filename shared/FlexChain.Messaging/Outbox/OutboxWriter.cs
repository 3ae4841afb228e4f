using Azure;
using Azure.Data.Tables;
using FlexChain.Storage;

namespace FlexChain.Messaging.Outbox;

/// <summary>Commits an <see cref="OutboxBatch"/> (state actions plus outbox rows) to one table as one entity group transaction.</summary>
/// <param name="table">The table that holds the aggregate's state entities and, beside them, their outbox rows.</param>
public sealed class OutboxWriter(TableClient table)
{
    private readonly TableClient _table = table ?? throw new ArgumentNullException(nameof(table));

    /// <summary>The table written to.</summary>
    public TableClient Table => _table;

    /// <summary>
    /// Stores the batch's state actions and outbox rows atomically and returns the results of the state actions, in the
    /// order they were added (for example the new ETag of the state entity).
    /// </summary>
    /// <exception cref="TableLimitException">The batch is empty, holds more than 100 actions or is too large; nothing was sent.</exception>
    /// <exception cref="TableTransactionFailedException">The service rejected the transaction and nothing was stored: for
    /// example 412 (the state entity changed since it was read: re-read and decide again) or 409 (an outbox row with that
    /// message id exists: this transition was already committed).</exception>
    /// <exception cref="RequestFailedException">The request itself was refused.</exception>
    public async Task<IReadOnlyList<Response>> CommitAsync(OutboxBatch batch, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(batch);
        var actions = batch.StateActions.Concat(batch.MessageActions).ToList();
        var results = await _table.SubmitCheckedTransactionAsync(actions, cancellationToken).ConfigureAwait(false);
        return results.Take(batch.StateActions.Count).ToList();
    }
}
