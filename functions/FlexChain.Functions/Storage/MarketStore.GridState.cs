using Azure;
using Azure.Data.Tables;
using FlexChain.Domain;

namespace FlexChain.Functions.Storage;

// ---- grid states: table gridstates, one partition per node, one row per UTC day (RowKey yyyyMMdd) ----
public sealed partial class MarketStore
{
    private TableClient GridStates => service.GetTableClient("gridstates");

    /// <summary>The node's state on <paramref name="day"/> with the ETag that guards its next change, or null before any.</summary>
    public Task<Stored<GridStateDay>?> GetGridStateAsync(string nodeId, DateOnly day, CancellationToken cancellationToken) =>
        GetAsync<GridStateDay>(GridStates, nodeId, DayKey(day), cancellationToken);

    /// <summary>
    /// Stores a node's day state: added when <paramref name="etag"/> is null, else replaced if still as read. False when
    /// someone wrote first. A day of one-minute intervals outgrows a table property, so it may go to a blob.
    /// </summary>
    public async Task<bool> TryPutGridStateAsync(GridStateDay state, ETag? etag, CancellationToken cancellationToken)
    {
        var e = await DocumentEntityAsync(GridStates, state.NodeId, DayKey(state.Day), state, cancellationToken);
        try
        {
            if (etag is { } current) await GridStates.UpdateEntityAsync(e, current, TableUpdateMode.Replace, cancellationToken);
            else await GridStates.AddEntityAsync(e, cancellationToken);
            return true;
        }
        catch (RequestFailedException x) when (x.Status is 409 or 412)
        {
            return false;
        }
    }

    /// <summary>The states of <paramref name="nodeIds"/> on every UTC day <paramref name="window"/> touches (point reads).</summary>
    public async Task<IReadOnlyList<GridStateDay>> GetGridStatesAsync(IEnumerable<string> nodeIds, TimeWindow window, CancellationToken cancellationToken)
    {
        var days = new List<DateOnly>();
        for (var d = DateOnly.FromDateTime(window.Start.UtcDateTime); d.ToDateTime(TimeOnly.MinValue) < window.End.UtcDateTime; d = d.AddDays(1)) days.Add(d);
        var reads = nodeIds.Distinct(StringComparer.Ordinal).SelectMany(n => days.Select(d => GetGridStateAsync(n, d, cancellationToken)));
        return (await Task.WhenAll(reads)).Where(s => s is not null).Select(s => s!.Value.Value).ToList();
    }

    /// <summary>Every node directly below <paramref name="parentId"/> (one partition).</summary>
    public Task<List<GridNode>> GetChildNodesAsync(string parentId, CancellationToken cancellationToken) =>
        QueryAsync<GridNode>(Transformers, TableClient.CreateQueryFilter($"PartitionKey eq {ChildrenKey(parentId)}"), cancellationToken);
}
