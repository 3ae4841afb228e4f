using FlexChain.Domain;
using FlexChain.Functions.Gates;
using FlexChain.Functions.Notifications;
using FlexChain.Functions.Storage;
using Microsoft.Extensions.Options;

namespace FlexChain.Functions.Grid;

/// <summary>
/// Keeps the grid states (<see cref="GridStateEvaluation"/>) in step with the congestion forecasts: a transformer's new
/// forecast re-evaluates it and every node above it, bottom-up, and each node's current state is announced
/// (<c>grid-state</c>) to its owner, the owners of the nodes above and below it, and every CPO.
/// </summary>
public sealed class GridStates(MarketStore store, NotificationPublisher notifications, IOptions<GateCycleOptions> options, TimeProvider clock)
{
    /// <summary>The market interval the states are evaluated in (the market's, <c>GateCycle:MarketIntervalMinutes</c>).</summary>
    public MarketInterval Interval => options.Value.MarketInterval;

    /// <summary>
    /// Re-evaluates <paramref name="nodeId"/> and every node above it for <paramref name="day"/>, bottom-up, and announces each
    /// one's current state. Idempotent: a retry changes nothing that is current and sends only what was not sent.
    /// </summary>
    public async Task RefreshAsync(string nodeId, DateOnly day, CancellationToken cancellationToken)
    {
        var path = await store.GetGridPathAsync(nodeId, cancellationToken) ?? throw new InvalidOperationException($"grid node {nodeId} is missing");
        IReadOnlyList<GridNode> nodes = [path.Node, .. path.Ancestors];
        for (var i = 0; i < nodes.Count; i++)
        {
            var (state, children) = await EvaluateAsync(nodes[i], day, cancellationToken);
            if (state is null) continue;
            var recipients = nodes.Skip(i).Select(n => n.OperatorId).Concat(children.Select(c => c.OperatorId)).Append(NotificationPublisher.CpoAudience);
            await notifications.GridStateChangedAsync(state, recipients, cancellationToken);
        }
    }

    /// <summary>
    /// Stores the node's state from its forecast (a transformer) or its children's states, unless it is current. The
    /// stored state is read before the inputs and replaced only if unchanged since: of two refreshes racing over siblings,
    /// one that read a sibling's old state loses its write and evaluates again.
    /// </summary>
    private async Task<(GridStateDay? State, IReadOnlyList<GridNode> Children)> EvaluateAsync(GridNode node, DateOnly day, CancellationToken cancellationToken)
    {
        while (true)
        {
            var stored = await store.GetGridStateAsync(node.Id, day, cancellationToken);
            IReadOnlyList<GridNode> children = [];
            IReadOnlyDictionary<DateTimeOffset, Kilowatts> loads;
            if (node.Kind == GridNodeKind.MvLvTransformer)
                loads = await store.GetForecastAsync(node.Id, day, cancellationToken) is { } f ? GridStateEvaluation.Loads(f, Interval) : new Dictionary<DateTimeOffset, Kilowatts>();
            else
            {
                children = await store.GetChildNodesAsync(node.Id, cancellationToken);
                var states = await Task.WhenAll(children.Select(c => store.GetGridStateAsync(c.Id, day, cancellationToken)));
                loads = GridStateEvaluation.Sum(states.Where(s => s is not null).Select(s => s!.Value.Value));
            }
            if (stored is null && loads.Count == 0) return (null, children);
            var next = GridStateEvaluation.Evaluate(node, day, loads, Interval, stored?.Value, clock.GetUtcNow());
            if (ReferenceEquals(next, stored?.Value) || await store.TryPutGridStateAsync(next, stored?.ETag, cancellationToken)) return (next, children);
        }
    }

    /// <summary>The effective state a market on <paramref name="nodeId"/> sees over <paramref name="window"/> (<see cref="GridPathState"/>), or null for an unknown node.</summary>
    public async Task<GridPathState?> PathStateAsync(string nodeId, TimeWindow window, CancellationToken cancellationToken)
    {
        if (await store.GetGridPathAsync(nodeId, cancellationToken) is not { } path) return null;
        return GridPathState.Of(window, Interval, nodeId, await store.GetGridStatesAsync([path.Node.Id, .. path.Node.AncestorIds], window, cancellationToken));
    }
}
