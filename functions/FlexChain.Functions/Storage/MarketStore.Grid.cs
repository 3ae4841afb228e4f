using System.Globalization;
using Azure;
using Azure.Data.Tables;
using FlexChain.Domain;

namespace FlexChain.Functions.Storage;

/// <summary>One operator's copy of a station's grid prequalification case, with its answer once given.</summary>
public sealed record GridCaseEntry(GridCase Case, GridAnswer? Answer);

/// <summary>Grid prequalification cases and answers, one row per operator and case in the operator's partition.</summary>
public sealed partial class MarketStore
{
    private TableClient GridCases => service.GetTableClient("gridcases");

    // A case's row key orders an operator's cases by station and then by opening, so the latest case of a station is the last.
    private static string CaseKey(GridCase c) => $"{c.StationId}~{c.OpenedAt.UtcTicks.ToString("D19", CultureInfo.InvariantCulture)}";

    /// <summary>
    /// Gives each of the case's operators its row (unanswered), skipping rows already written: a retried application
    /// writes nothing twice and never clears an answer.
    /// </summary>
    public async Task PutGridCaseAsync(GridCase c, CancellationToken cancellationToken)
    {
        foreach (var op in c.Operators)
        {
            try
            {
                await GridCases.AddEntityAsync(CaseEntity(op, new GridCaseEntry(c, null)), cancellationToken);
            }
            catch (RequestFailedException e) when (e.Status == 409)
            {
                // Written by an earlier attempt, and perhaps answered since.
            }
        }
    }

    private static TableEntity CaseEntity(string operatorId, GridCaseEntry entry)
    {
        var e = ToEntity(operatorId, CaseKey(entry.Case), entry);
        e["Verdict"] = entry.Answer?.Verdict.ToString() ?? "";
        e["AnsweredYear"] = entry.Answer?.AnsweredAt.Year ?? 0;
        return e;
    }

    /// <summary>The operator's row of the latest case of <paramref name="stationId"/> that concerns it, or null.</summary>
    public async Task<Stored<GridCaseEntry>?> GetLatestGridCaseAsync(string operatorId, string stationId, CancellationToken cancellationToken)
    {
        Stored<GridCaseEntry>? latest = null;
        await foreach (var e in GridCases.QueryAsync<TableEntity>(
            TableClient.CreateQueryFilter($"PartitionKey eq {operatorId} and RowKey gt {stationId + "~"} and RowKey lt {stationId + "~~"}"), cancellationToken: cancellationToken))
            latest = new Stored<GridCaseEntry>(Deserialize<GridCaseEntry>(e), e.ETag);
        return latest;
    }

    /// <summary>Records the operator's answer on its row, if the row is still as read.</summary>
    public async Task<bool> TryAnswerGridCaseAsync(string operatorId, GridCaseEntry answered, ETag etag, CancellationToken cancellationToken)
    {
        try
        {
            await GridCases.UpdateEntityAsync(CaseEntity(operatorId, answered), etag, TableUpdateMode.Replace, cancellationToken);
            return true;
        }
        catch (RequestFailedException e) when (e.Status == 412)
        {
            return false;
        }
    }

    /// <summary>The answers given on <paramref name="c"/>, by operator.</summary>
    public async Task<IReadOnlyDictionary<string, GridAnswer>> GetGridAnswersAsync(GridCase c, CancellationToken cancellationToken) =>
        (await GetGridAnswersAsync([c], cancellationToken))[0];

    /// <summary>The answers given on each of <paramref name="cases"/>, by operator, in order: one query per operator and per 14 cases.</summary>
    public async Task<IReadOnlyList<IReadOnlyDictionary<string, GridAnswer>>> GetGridAnswersAsync(IReadOnlyList<GridCase> cases, CancellationToken cancellationToken)
    {
        var rows = await GetManyAsync<GridCaseEntry>(GridCases, cases.SelectMany(c => c.Operators.Select(op => (op, CaseKey(c)))), cancellationToken);
        return cases.Select(c => (IReadOnlyDictionary<string, GridAnswer>)c.Operators
            .Select(op => (op, Row: rows.GetValueOrDefault((op, CaseKey(c)))))
            .Where(x => x.Row.Value?.Answer is not null)
            .ToDictionary(x => x.op, x => x.Row.Value.Answer!, StringComparer.Ordinal)).ToList();
    }

    /// <summary>The operator's cases, in station and opening order.</summary>
    public Task<ListPage<GridCaseEntry>> ListGridCasesAsync(string operatorId, int limit, string? cursor, CancellationToken cancellationToken) =>
        PageAsync(GridCases, TableClient.CreateQueryFilter($"PartitionKey eq {operatorId}"), limit, cursor, Deserialize<GridCaseEntry>, cancellationToken);

    /// <summary>Every case the operator answered in <paramref name="year"/> (UTC) with a condition or a refusal (one partition, filtered).</summary>
    public Task<List<GridCaseEntry>> GetGridReportAsync(string operatorId, int year, CancellationToken cancellationToken) =>
        QueryAsync<GridCaseEntry>(GridCases, TableClient.CreateQueryFilter(
            $"PartitionKey eq {operatorId} and AnsweredYear eq {year} and (Verdict eq {nameof(GridVerdict.ConditionallyApproved)} or Verdict eq {nameof(GridVerdict.NotApproved)})"),
            cancellationToken);

    /// <summary>
    /// What the grid operators allow each of <paramref name="stations"/> for a delivery in <paramref name="delivery"/>,
    /// judged at <paramref name="now"/> (<see cref="GetGridRestrictionsAsync(IReadOnlyList{ValueTuple{IReadOnlyList{ChargingStation}, TimeWindow}}, DateTimeOffset, IReadOnlyList{TemporaryLimit}?, string?, CancellationToken)"/>).
    /// </summary>
    public async Task<IReadOnlyDictionary<string, GridRestriction>> GetGridRestrictionsAsync(
        IEnumerable<ChargingStation> stations, TimeWindow delivery, DateTimeOffset now, CancellationToken cancellationToken) =>
        (await GetGridRestrictionsAsync([(stations.ToList(), delivery)], now, null, null, cancellationToken)).ByDelivery[0];

    /// <summary>
    /// What the grid operators allow each station of each of <paramref name="deliveries"/> for its delivery, judged at
    /// <paramref name="now"/>: its grid prequalification (none before its first application), every temporary limit on it
    /// or on its transformer or a node above, whose period overlaps the delivery, and the grid state on that path during
    /// the delivery (red, or orange for a station without a dynamic connection agreement). What they share is read once:
    /// the answers in one query per operator and 14 stations, the states once per node and day.
    /// </summary>
    /// <param name="inForce">
    /// Every temporary limit whose period overlaps the deliveries, when the caller read them already (a clearing reads them
    /// once for all its requests, <see cref="GetTemporaryLimitsAsync(TimeWindow, CancellationToken)"/>); otherwise the
    /// limits of each station and node are read here, one partition each.
    /// </param>
    /// <param name="clearingCycleId">
    /// The gate cycle whose clearing asks: the headroom counts the net load the awards of every other cycle add below each
    /// node with limits (<see cref="GetNodeLoadsAsync"/>). Null for a caller that does not use the headroom (then it is the
    /// forecast's alone).
    /// </param>
    /// <returns>
    /// For each delivery in order, the restriction of each of its stations by id; and, from the same states, the headroom of
    /// every node with limits on the stations' paths, over the stations below it (for the common market).
    /// </returns>
    public async Task<(IReadOnlyList<IReadOnlyDictionary<string, GridRestriction>> ByDelivery, IReadOnlyList<NodeHeadroom> Headroom)> GetGridRestrictionsAsync(
        IReadOnlyList<(IReadOnlyList<ChargingStation> Stations, TimeWindow Delivery)> deliveries, DateTimeOffset now,
        IReadOnlyList<TemporaryLimit>? inForce, string? clearingCycleId, CancellationToken cancellationToken)
    {
        if (deliveries.Count == 0) return ([], []);
        var distinct = deliveries.SelectMany(d => d.Stations).DistinctBy(s => s.Id).ToList();
        var (paths, nodes) = await GetGridPathsAsync(distinct.Select(s => s.TransformerId), cancellationToken);
        var span = new TimeWindow(deliveries.Min(d => d.Delivery.Start), deliveries.Max(d => d.Delivery.End));
        var reading = GetGridStatesAsync(paths.Values.SelectMany(p => p), span, cancellationToken);   // alongside the limits and answers
        var awarded = clearingCycleId is null ? Task.FromResult<IReadOnlyList<NodeLoad>>([])
            : GetNodeLoadsAsync(nodes.Values.Where(n => n.Limits is not null).Select(n => n.Id), span, clearingCycleId, cancellationToken);
        var limits = (inForce ?? (await Task.WhenAll(distinct.Select(s => s.Id).Concat(paths.Values.SelectMany(p => p)).Distinct()
            .Select(t => GetTemporaryLimitsAsync(t, span, cancellationToken)))).SelectMany(l => l).ToList()).ToLookup(l => l.TargetId, StringComparer.Ordinal);
        var applied = distinct.Where(s => s.GridCase is not null).ToList();
        var answers = applied.Zip(await GetGridAnswersAsync(applied.Select(s => s.GridCase!).ToList(), cancellationToken))
            .ToDictionary(x => x.First.Id, x => x.Second, StringComparer.Ordinal);
        var states = (await reading).ToLookup(s => s.NodeId, StringComparer.Ordinal);
        var loads = await awarded;
        var headroom = nodes.Values.Select(n => NodeHeadroom.Of(n, states[n.Id], distinct.Where(s => paths[s.TransformerId].Contains(n.Id)).Select(s => s.Id), loads))
            .OfType<NodeHeadroom>().ToList();
        return (deliveries.Select(d =>
        {
            // Only the worst colour on the path matters here, and it does not depend on how the window is cut.
            var onPath = d.Stations.Select(s => s.TransformerId).Distinct().ToDictionary(t => t,
                t => GridPathState.Of(d.Delivery, MarketInterval.Default, t, paths[t].SelectMany(n => states[n])), StringComparer.Ordinal);
            var result = new Dictionary<string, GridRestriction>(StringComparer.Ordinal);
            foreach (var s in d.Stations)
            {
                var r = (s.GridCase is { } c ? c.StatusAt(answers[s.Id], now).Restriction : GridRestriction.None).And(onPath[s.TransformerId].RestrictionFor(s));
                foreach (var target in (IEnumerable<string>)[s.Id, .. paths[s.TransformerId]])
                    foreach (var l in limits[target].Where(l => l.Period.Overlaps(d.Delivery))) r = r.And(l.RestrictionFor(d.Delivery));
                result[s.Id] = r;
            }
            return (IReadOnlyDictionary<string, GridRestriction>)result;
        }).ToList(), headroom);
    }

    /// <summary>
    /// Each of <paramref name="transformerIds"/>' path, itself and every node above it from its parent up (itself alone when it
    /// is not registered), and the registered nodes on those paths by id (the nodes are cached).
    /// </summary>
    public async Task<(IReadOnlyDictionary<string, IReadOnlyList<string>> Paths, IReadOnlyDictionary<string, GridNode> Nodes)> GetGridPathsAsync(
        IEnumerable<string> transformerIds, CancellationToken cancellationToken)
    {
        var paths = new Dictionary<string, IReadOnlyList<string>>(StringComparer.Ordinal);
        var nodes = new Dictionary<string, GridNode>(StringComparer.Ordinal);
        foreach (var t in transformerIds.Distinct(StringComparer.Ordinal))
        {
            var path = await GetGridPathAsync(t, cancellationToken);
            paths[t] = path is { } p ? [t, .. p.Node.AncestorIds] : [t];
            foreach (var n in path is { } q ? [q.Node, .. q.Ancestors] : Array.Empty<GridNode>()) nodes.TryAdd(n.Id, n);
        }
        return (paths, nodes);
    }

    // ---- temporary limits: one partition per limited station or node, so a station's limits are at most five partitions ----

    private TableClient GridLimits => service.GetTableClient("gridlimits");

    public async Task AddTemporaryLimitAsync(TemporaryLimit limit, CancellationToken cancellationToken)
    {
        var e = ToEntity(limit.TargetId, limit.Id, limit);
        e["PeriodEnd"] = limit.Period.End;
        await GridLimits.AddEntityAsync(e, cancellationToken);
    }

    /// <summary>The limits on <paramref name="targetId"/> whose period overlaps <paramref name="window"/>, in announcement order.</summary>
    public async Task<IReadOnlyList<TemporaryLimit>> GetTemporaryLimitsAsync(string targetId, TimeWindow window, CancellationToken cancellationToken) =>
        (await QueryAsync<TemporaryLimit>(GridLimits, TableClient.CreateQueryFilter($"PartitionKey eq {targetId} and PeriodEnd gt {window.Start}"), cancellationToken))
            .Where(l => l.Period.Overlaps(window)).ToList();

    /// <summary>
    /// Every limit, on any station or node, whose period overlaps <paramref name="window"/>: one query over the table
    /// (filtered on the period's end, so it reads the limits not yet over, which are few), for a clearing.
    /// </summary>
    public async Task<IReadOnlyList<TemporaryLimit>> GetTemporaryLimitsAsync(TimeWindow window, CancellationToken cancellationToken) =>
        (await QueryAsync<TemporaryLimit>(GridLimits, TableClient.CreateQueryFilter($"PeriodEnd gt {window.Start}"), cancellationToken))
            .Where(l => l.Period.Overlaps(window)).ToList();

    /// <summary>The limits on <paramref name="targetId"/>, in announcement order.</summary>
    public Task<ListPage<TemporaryLimit>> ListTemporaryLimitsAsync(string targetId, int limit, string? cursor, CancellationToken cancellationToken) =>
        PageAsync(GridLimits, TableClient.CreateQueryFilter($"PartitionKey eq {targetId}"), limit, cursor, Deserialize<TemporaryLimit>, cancellationToken);

    /// <summary>Every MV/LV transformer at or below <paramref name="node"/> (children lists, level by level).</summary>
    public async Task<IReadOnlyList<string>> GetTransformersUnderAsync(GridNode node, CancellationToken cancellationToken)
    {
        var found = new List<string>();
        var level = new List<GridNode> { node };
        while (level.Count > 0)
        {
            found.AddRange(level.Where(n => n.Kind == GridNodeKind.MvLvTransformer).Select(n => n.Id));
            var next = new List<GridNode>();
            foreach (var n in level.Where(n => n.Kind < GridNodeKind.MvLvTransformer))
                next.AddRange(await QueryAsync<GridNode>(Transformers, TableClient.CreateQueryFilter($"PartitionKey eq {ChildrenKey(n.Id)}"), cancellationToken));
            level = next;
        }
        return found;
    }
}
