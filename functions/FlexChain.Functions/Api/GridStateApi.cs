using FlexChain.Domain;
using FlexChain.Functions.Storage;
using Microsoft.AspNetCore.Http.HttpResults;

namespace FlexChain.Functions.Api;

/// <summary>
/// Grid states (the Slovenian traffic light, DOMAIN.md section 7) per node, UTC day and market interval, evaluated bottom-up
/// from the congestion forecasts whenever one is published (<see cref="Grid.GridStates"/>). Anyone authenticated reads them:
/// DSOs and the TSO coordinate by them and CPOs plan by them.
/// </summary>
public static class GridStateApi
{
    /// <summary>The most nodes one subtree answer lists.</summary>
    public const int MaxSubtreeNodes = 1000;

    public static RouteGroupBuilder MapGridStateApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/v1/grid/nodes").WithTags("Grid").RequireAuthorization();
        group.MapGet("/{id}/state", GetState);
        group.MapGet("/{id}/subtree-state", GetSubtreeState);
        return group;
    }

    /// <summary>The node's state on <c>day</c> (yyyy-MM-dd, UTC): each market interval with a known load, its load and colour.</summary>
    public static async Task<Results<Ok<GridStateResponse>, NotFound>> GetState(string id, string? day, MarketStore store, CancellationToken cancellationToken)
    {
        var date = Day(day);
        if (await store.GetGridNodeAsync(id, cancellationToken) is null) return TypedResults.NotFound();
        return TypedResults.Ok(GridStateResponse.From(id, date, (await store.GetGridStateAsync(id, date, cancellationToken))?.Value));
    }

    /// <summary>The states on <c>day</c> of the node and every node below it, level by level (at most <see cref="MaxSubtreeNodes"/> nodes).</summary>
    public static async Task<Results<Ok<SubtreeStateResponse>, NotFound>> GetSubtreeState(string id, string? day, MarketStore store, CancellationToken cancellationToken)
    {
        var date = Day(day);
        if (await store.GetGridNodeAsync(id, cancellationToken) is not { } root) return TypedResults.NotFound();
        var nodes = new List<GridNode>();
        for (var level = new List<GridNode> { root }; level.Count > 0;)
        {
            nodes.AddRange(level);
            if (nodes.Count > MaxSubtreeNodes)
                throw new ApiProblemException(422, "id", "subtree-size", $"The subtree under {id} has more than {MaxSubtreeNodes} nodes: ask for a node lower down.");
            level = (await Task.WhenAll(level.Select(n => store.GetChildNodesAsync(n.Id, cancellationToken)))).SelectMany(c => c).ToList();
        }
        var states = await Task.WhenAll(nodes.Select(n => store.GetGridStateAsync(n.Id, date, cancellationToken)));
        return TypedResults.Ok(new SubtreeStateResponse(id, date.ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture),
            nodes.Zip(states, (n, s) => GridStateResponse.From(n.Id, date, s?.Value)).ToList()));
    }

    private static DateOnly Day(string? day) =>
        day is null ? throw new ApiProblemException(400, "day", "required", "day names the UTC day (yyyy-MM-dd) whose states to read.") : GridApi.ParseDay(day);
}

/// <summary>One market interval of a node's state.</summary>
public sealed record GridStateIntervalResponse(DateTimeOffset Start, DateTimeOffset End, decimal LoadKw, string? Colour);

/// <summary>A node's state on one UTC day (version 0 and no intervals before any forecast below it).</summary>
public sealed record GridStateResponse(string NodeId, string Day, int Version, DateTimeOffset? ComputedAt, IReadOnlyList<GridStateIntervalResponse> Intervals)
{
    public static GridStateResponse From(string nodeId, DateOnly day, GridStateDay? s) =>
        new(nodeId, day.ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture), s?.Version ?? 0, s?.ComputedAt,
            s is null ? [] : s.Intervals.Select(i => new GridStateIntervalResponse(i.Start, i.End, Wire.Kw(i.Load.Value), i.Colour?.ToString())).ToList());
}

/// <summary>The states of a node and every node below it.</summary>
public sealed record SubtreeStateResponse(string NodeId, string Day, IReadOnlyList<GridStateResponse> Nodes);
