using Azure;
using Azure.Data.Tables;

namespace FlexChain.Storage;

/// <summary>Bulk deletes for retention sweeps, within the service's transaction rules.</summary>
public static class TableDeletes
{
    /// <summary>
    /// Deletes <paramref name="entities"/>, each only if unchanged since its <see cref="ITableEntity.ETag"/> (a default
    /// ETag means whatever it holds now), in entity-group transactions of up to 100 deletes of one partition. A
    /// transaction fails whole when one of its entities changed or is gone already (another sweep, a concurrent
    /// update); its entities are then deleted one at a time and those are skipped.
    /// </summary>
    /// <returns>How many entities this call deleted.</returns>
    /// <exception cref="RequestFailedException">The service refused a delete for another reason than 404 or 412.</exception>
    public static async Task<int> DeleteEntitiesAsync(this TableClient table, IEnumerable<ITableEntity> entities, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(table);
        ArgumentNullException.ThrowIfNull(entities);
        var deleted = 0;
        foreach (var partition in entities.GroupBy(e => e.PartitionKey, StringComparer.Ordinal))
        {
            foreach (var chunk in partition.Chunk(TableLimits.MaxTransactionActions))
            {
                try
                {
                    await table.SubmitCheckedTransactionAsync(
                        chunk.Select(e => new TableTransactionAction(TableTransactionActionType.Delete, e, IfMatch(e))), cancellationToken).ConfigureAwait(false);
                    deleted += chunk.Length;
                }
                catch (TableTransactionFailedException e) when (e.Status is 404 or 412)
                {
                    foreach (var entity in chunk)
                    {
                        try
                        {
                            // The SDK answers a missing entity with a 404 response rather than an exception.
                            if ((await table.DeleteEntityAsync(entity.PartitionKey, entity.RowKey, IfMatch(entity), cancellationToken).ConfigureAwait(false)).Status != 404)
                                deleted++;
                        }
                        catch (RequestFailedException x) when (x.Status is 404 or 412)
                        {
                            // Gone already, or changed since it was read: either way not this sweep's to delete.
                        }
                    }
                }
            }
        }
        return deleted;
    }

    private static ETag IfMatch(ITableEntity entity) => entity.ETag == default ? ETag.All : entity.ETag;
}
