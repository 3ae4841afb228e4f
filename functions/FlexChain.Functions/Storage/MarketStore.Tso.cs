using Azure;
using Azure.Data.Tables;
using FlexChain.Storage;
using FlexChain.Domain;

namespace FlexChain.Functions.Storage;

/// <summary>What eligibility needs about the grid node a request is posted on (<see cref="StationSite.Problem"/>).</summary>
/// <param name="Node">The request's node: a DSO's MV/LV transformer or a TSO's HV/MV substation.</param>
/// <param name="Requirements">On a transformer, its DSO's prequalification requirements (null when none); null above.</param>
/// <param name="Sites">Above the transformers, each station's transformer and its DSO's requirements; null on a transformer.</param>
public sealed record RequestPlace(GridNode Node, PrequalificationRequirements? Requirements, IReadOnlyDictionary<string, StationSite>? Sites);

/// <summary>A market area's coordination model, set by the owner of its top node.</summary>
public sealed record CoordinationSetting(string NodeId, CoordinationModel Model, string SetBy, DateTimeOffset UpdatedAt);

/// <summary>An operator's limit on its node: a trade on a TSO's request of at most this average power, through the node, is approved automatically.</summary>
public sealed record ApprovalLimit(string NodeId, string OperatorId, Kilowatts MaxPower, DateTimeOffset UpdatedAt);

public sealed partial class MarketStore
{
    // Answers: one partition per TSO request (clearing reads it whole); a row per offer and operator, replaced by a new answer,
    // and the answer fence, a row "~fence" that sorts after every answer: open (no FixedAt) until the gate cycle fixes the
    // answers at the approval deadline. Every answer goes in one transaction with the open fence under the ETag it was read
    // with, so it either commits before the fence is fixed (and the clearing, which reads the answers after fixing it, sees
    // it) or fails and leaves nothing behind, whatever the answering instance's clock said (as the offer fence does).
    private TableClient TradeAnswers => service.GetTableClient("tradeanswers");

    private const string AnswerFence = "~fence";
    private const string FixedAt = "FixedAt";

    /// <summary>Stores <paramref name="answer"/>, replacing the operator's earlier one on the offer, unless the request's answers are fixed.</summary>
    /// <returns>False, with nothing stored, when the gate cycle fixed the answers first (<see cref="FixTradeAnswersAsync"/>).</returns>
    public async Task<bool> TryPutTradeAnswerAsync(TradeAnswer answer, CancellationToken cancellationToken)
    {
        var row = ToEntity(answer.RequestId, answer.OfferId + "~" + answer.OperatorId, answer);
        while (true)
        {
            var fence = await TradeAnswers.GetEntityIfExistsAsync<TableEntity>(answer.RequestId, AnswerFence, cancellationToken: cancellationToken);
            if (!fence.HasValue)
            {
                try { await TradeAnswers.AddEntityAsync(new TableEntity(answer.RequestId, AnswerFence), cancellationToken); }
                catch (RequestFailedException e) when (e.Status == 409) { }   // opened (or fixed) by someone else: read it again
                continue;
            }
            if (fence.Value!.ContainsKey(FixedAt)) return false;
            try
            {
                await TradeAnswers.SubmitCheckedTransactionAsync(
                    [new(TableTransactionActionType.UpdateMerge, new TableEntity(answer.RequestId, AnswerFence), fence.Value.ETag),
                     new(TableTransactionActionType.UpsertReplace, row)], cancellationToken);
                return true;
            }
            catch (TableTransactionFailedException e) when (e.FailedTransactionActionIndex == 0 && e.Status is 404 or 412)
            {
                // The fence changed since it was read: another answer committed, or the gate cycle fixed the answers.
            }
        }
    }

    /// <summary>
    /// Fixes the answers on a TSO request for its clearing at <paramref name="at"/> (the gate cycle's closing time, at or after the
    /// approval deadline) and returns them: from then on no answer commits (<see cref="TryPutTradeAnswerAsync"/>). Idempotent:
    /// a retried clearing keeps the first fixing time.
    /// </summary>
    public async Task<List<TradeAnswer>> FixTradeAnswersAsync(string requestId, DateTimeOffset at, CancellationToken cancellationToken)
    {
        var fence = await TradeAnswers.GetEntityIfExistsAsync<TableEntity>(requestId, AnswerFence, cancellationToken: cancellationToken);
        // Replaced whatever its ETag: an answer holding the open fence's ETag fails from here on.
        if (!(fence.HasValue && fence.Value!.ContainsKey(FixedAt)))
            await TradeAnswers.UpsertEntityAsync(new TableEntity(requestId, AnswerFence) { [FixedAt] = at }, TableUpdateMode.Replace, cancellationToken);
        return await GetTradeAnswersAsync(requestId, cancellationToken);
    }

    public Task<List<TradeAnswer>> GetTradeAnswersAsync(string requestId, CancellationToken cancellationToken) =>
        QueryAsync<TradeAnswer>(TradeAnswers, TableClient.CreateQueryFilter($"PartitionKey eq {requestId} and RowKey lt {AnswerFence}"), cancellationToken);

    public Task PutApprovalLimitAsync(ApprovalLimit limit, CancellationToken cancellationToken) =>
        Coordination.UpsertEntityAsync(ToEntity(limit.NodeId, "approval-limit", limit), TableUpdateMode.Replace, cancellationToken);

    public async Task<ApprovalLimit?> GetApprovalLimitAsync(string nodeId, CancellationToken cancellationToken) =>
        (await GetAsync<ApprovalLimit>(Coordination, nodeId, "approval-limit", cancellationToken))?.Value;

    /// <summary>The operators <paramref name="offer"/> on <paramref name="tsoRequest"/> impacts and their approval limits (stations and nodes cached; one point read per node for its limit).</summary>
    public async Task<TradeImpact> GetTradeImpactAsync(FlexRequest tsoRequest, Offer offer, CancellationToken cancellationToken)
    {
        var nodes = new Dictionary<string, GridNode>(StringComparer.Ordinal);
        foreach (var id in offer.StationIds)
            if (await GetStationForOffersAsync(offer.CpoId, id, cancellationToken) is { } station
                && await GetGridPathAsync(station.Value.TransformerId, cancellationToken) is { } path)
                foreach (var n in path.Ancestors.Prepend(path.Node)) nodes[n.Id] = n;
        var mine = nodes.Values.Where(n => n.OperatorId != tsoRequest.DsoId).ToList();
        var limits = new Dictionary<string, Kilowatts>(StringComparer.Ordinal);
        foreach (var n in mine)
            if (await GetApprovalLimitAsync(n.Id, cancellationToken) is { } l && (!limits.TryGetValue(n.OperatorId, out var low) || l.MaxPower.Value < low.Value))
                limits[n.OperatorId] = l.MaxPower;
        return new(mine.Select(n => n.OperatorId).Distinct().Order(StringComparer.Ordinal).ToList(), limits);
    }

    // One row per market area (top node): a point read per area at clearing, one upsert per change.
    private TableClient Coordination => service.GetTableClient("coordination");

    /// <summary>Stores <paramref name="setting"/>, replacing the area's earlier one.</summary>
    public Task PutCoordinationAsync(CoordinationSetting setting, CancellationToken cancellationToken) =>
        Coordination.UpsertEntityAsync(ToEntity(setting.NodeId, Doc, setting), TableUpdateMode.Replace, cancellationToken);

    /// <summary>The coordination setting of the market area below <paramref name="topNodeId"/>, or null when none was set (the model is then <see cref="CoordinationModel.Separate"/>).</summary>
    public async Task<CoordinationSetting?> GetCoordinationAsync(string topNodeId, CancellationToken cancellationToken) =>
        (await GetAsync<CoordinationSetting>(Coordination, topNodeId, Doc, cancellationToken))?.Value;

    /// <summary>The node <paramref name="request"/> is posted on and, for <paramref name="stations"/>, what their eligibility is judged by (nodes and requirements are cached).</summary>
    public async Task<RequestPlace> GetRequestPlaceAsync(FlexRequest request, IEnumerable<ChargingStation> stations, CancellationToken cancellationToken)
    {
        var node = await GetGridNodeAsync(request.TransformerId, cancellationToken)
            ?? throw new InvalidOperationException($"request {request.Id} names a missing grid node");
        if (node.Kind == GridNodeKind.MvLvTransformer) return new(node, await GetRequirementsAsync(node.OperatorId, cancellationToken), null);
        var sites = new Dictionary<string, StationSite>(StringComparer.Ordinal);
        foreach (var group in stations.DistinctBy(s => s.Id).GroupBy(s => s.TransformerId))
        {
            if (await GetTransformerAsync(group.Key, cancellationToken) is not { } transformer) continue;
            var site = new StationSite(transformer, await GetRequirementsAsync(transformer.OperatorId, cancellationToken));
            foreach (var s in group) sites[s.Id] = site;
        }
        return new(node, null, sites);
    }
}
