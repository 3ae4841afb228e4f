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

    /// <summary>The answers given on <paramref name="c"/>, by operator (point reads, one per operator).</summary>
    public async Task<IReadOnlyDictionary<string, GridAnswer>> GetGridAnswersAsync(GridCase c, CancellationToken cancellationToken)
    {
        var rows = await Task.WhenAll(c.Operators.Select(op => GetAsync<GridCaseEntry>(GridCases, op, CaseKey(c), cancellationToken)));
        return c.Operators.Zip(rows).Where(x => x.Second?.Value.Answer is not null).ToDictionary(x => x.First, x => x.Second!.Value.Value.Answer!);
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
    /// judged at <paramref name="now"/>: its grid prequalification (none before its first application), every
    /// temporary limit on it or on its transformer or a node above, whose period overlaps the delivery, and the grid
    /// state on that path during the delivery (red, or orange for a station without a dynamic connection agreement).
    /// </summary>
    /// <param name="inForce">
    /// Every temporary limit whose period overlaps the delivery, when the caller read them already (a clearing reads them
    /// once for all its requests, <see cref="GetTemporaryLimitsAsync(TimeWindow, CancellationToken)"/>); otherwise the
    /// limits of each station and node are read here, one partition each.
    /// </param>
    public async Task<IReadOnlyDictionary<string, GridRestriction>> GetGridRestrictionsAsync(
        IEnumerable<ChargingStation> stations, TimeWindow delivery, DateTimeOffset now, CancellationToken cancellationToken,
        IReadOnlyList<TemporaryLimit>? inForce = null)
    {
        var distinct = stations.DistinctBy(s => s.Id).ToList();
        var paths = new Dictionary<string, IReadOnlyList<string>>(StringComparer.Ordinal);
        foreach (var t in distinct.Select(s => s.TransformerId).Distinct())
            paths[t] = await GetGridPathAsync(t, cancellationToken) is { } p ? [t, .. p.Node.AncestorIds] : [t];
        var targets = distinct.Select(s => s.Id).Concat(paths.Values.SelectMany(p => p)).Distinct().ToList();
        var reading = GridStateRestrictionsAsync(distinct, paths, delivery, cancellationToken);   // alongside the limits
        var limits = (inForce is null
                ? await Task.WhenAll(targets.Select(t => GetTemporaryLimitsAsync(t, delivery, cancellationToken)))
                : targets.Select(t => inForce.Where(l => l.TargetId == t && l.Period.Overlaps(delivery)).ToList()).ToArray())
            .Zip(targets).ToDictionary(x => x.Second, x => x.First.Aggregate(GridRestriction.None, (r, l) => r.And(l.RestrictionFor(delivery))), StringComparer.Ordinal);
        var states = await reading;
        var result = new Dictionary<string, GridRestriction>(StringComparer.Ordinal);
        await Parallel.ForEachAsync(distinct, InParallel(cancellationToken), async (s, ct) =>
        {
            var r = (s.GridCase is { } c ? c.StatusAt(await GetGridAnswersAsync(c, ct), now).Restriction : GridRestriction.None).And(states[s.Id]);
            foreach (var target in (IEnumerable<string>)[s.Id, .. paths[s.TransformerId]]) r = r.And(limits[target]);
            lock (result) result[s.Id] = r;
        });
        return result;
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
