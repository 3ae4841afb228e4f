using System.Globalization;
using Azure;
using FlexChain.Domain;
using Azure.Data.Tables;
using FlexChain.Storage;

namespace FlexChain.Functions.Storage;

/// <summary>The grid (nodes, forecasts), the device registry (stations, EVs) and prequalification.</summary>
public sealed partial class MarketStore
{
    // ---- grid nodes: by id (everyone references them by id), plus copies in the owner's partition and under the parent ----

    /// <summary>
    /// Stores a new node: its document by id, then a copy in its owner's list and in its parent's list of children
    /// (nodes never change, so the lists hold copies; the copies are written after the document, so a list never shows a
    /// node that does not exist).
    /// </summary>
    public async Task AddGridNodeAsync(GridNode n, CancellationToken cancellationToken)
    {
        await Transformers.AddEntityAsync(ToEntity(n.Id, Doc, n), cancellationToken);
        await Transformers.UpsertEntityAsync(TaggedNode(OwnerKey(n.OperatorId), n), TableUpdateMode.Replace, cancellationToken);
        if (n.ParentId is { } parent) await Transformers.UpsertEntityAsync(TaggedNode(ChildrenKey(parent), n), TableUpdateMode.Replace, cancellationToken);
    }

    private static TableEntity TaggedNode(string pk, GridNode n)
    {
        var e = ToEntity(pk, n.Id, n);
        e["NodeKind"] = n.Kind.ToString();
        return e;
    }

    /// <summary>The node (immutable, so cached for an hour).</summary>
    public async Task<GridNode?> GetGridNodeAsync(string id, CancellationToken cancellationToken) =>
        await CachedAsync(("node", id), TimeSpan.FromHours(1), async () => (await GetAsync<GridNode>(Transformers, id, Doc, cancellationToken))?.Value);

    /// <summary>The node and every node above it, parent first (the nodes are cached).</summary>
    public async Task<(GridNode Node, IReadOnlyList<GridNode> Ancestors)?> GetGridPathAsync(string id, CancellationToken cancellationToken)
    {
        if (await GetGridNodeAsync(id, cancellationToken) is not { } node) return null;
        var ancestors = await Task.WhenAll(node.AncestorIds.Select(a => GetGridNodeAsync(a, cancellationToken)));
        return (node, ancestors.Select((a, i) => a ?? throw new InvalidOperationException($"node {id} names a missing ancestor {node.AncestorIds[i]}")).ToList());
    }

    /// <summary>An MV/LV transformer (stations connect to them, requests are posted on them); null for any other node or none.</summary>
    public async Task<GridNode?> GetTransformerAsync(string id, CancellationToken cancellationToken) =>
        await GetGridNodeAsync(id, cancellationToken) is { Kind: GridNodeKind.MvLvTransformer } t ? t : null;

    /// <summary>The operator's nodes, in id (registration) order, optionally of one kind only.</summary>
    public Task<ListPage<GridNode>> ListGridNodesAsync(string operatorId, GridNodeKind? kind, int limit, string? cursor, CancellationToken cancellationToken) =>
        PageAsync(Transformers, NodeFilter(OwnerKey(operatorId), kind), limit, cursor, Deserialize<GridNode>, cancellationToken);

    /// <summary>The nodes directly below <paramref name="parentId"/>, in id order.</summary>
    public Task<ListPage<GridNode>> ListChildNodesAsync(string parentId, int limit, string? cursor, CancellationToken cancellationToken) =>
        PageAsync(Transformers, NodeFilter(ChildrenKey(parentId), null), limit, cursor, Deserialize<GridNode>, cancellationToken);

    private static string NodeFilter(string pk, GridNodeKind? kind) => kind is { } k
        ? TableClient.CreateQueryFilter($"PartitionKey eq {pk} and NodeKind eq {k.ToString()}")
        : TableClient.CreateQueryFilter($"PartitionKey eq {pk}");

    private static string OwnerKey(string ownerId) => "owner~" + ownerId;

    private static string ChildrenKey(string parentId) => "children~" + parentId;

    /// <summary>Creates or replaces the forecast of its day; a full day at one-minute points outgrows a table property, so it may go to a blob.</summary>
    public async Task PutForecastAsync(CongestionForecast f, CancellationToken cancellationToken) =>
        await Forecasts.UpsertEntityAsync(await DocumentEntityAsync(Forecasts, f.TransformerId, DayKey(f.Day), f, cancellationToken), TableUpdateMode.Replace, cancellationToken);

    public async Task<CongestionForecast?> GetForecastAsync(string transformerId, DateOnly day, CancellationToken cancellationToken) =>
        (await GetAsync<CongestionForecast>(Forecasts, transformerId, DayKey(day), cancellationToken))?.Value;

    private static string DayKey(DateOnly day) => day.ToString("yyyyMMdd", CultureInfo.InvariantCulture);

    // ---- stations and EVs: versioned rows in the owner's sharded partitions ----
    // The current document (RowKey = id) and every version (RowKey = id~vNNNNNN) share a partition, so a change and its
    // history row are one atomic transaction, and a bulk registration writes 50 stations per transaction.

    private static string StationKey(string cpoId, string stationId) => Shards.Key(cpoId, stationId, StationShards);

    private static string EvKey(string cpoId, string evId) => Shards.Key(cpoId, evId, 4);

    private static string VersionKey(string id, int version) => $"{id}~v{version.ToString("D6", CultureInfo.InvariantCulture)}";

    private static IEnumerable<TableTransactionAction> NewVersioned<T>(string pk, string id, int version, T value, ETag current, Action<TableEntity>? tag)
    {
        var doc = ToEntity(pk, id, value);
        doc[Kind] = Doc;
        tag?.Invoke(doc);
        yield return current == default
            ? new TableTransactionAction(TableTransactionActionType.Add, doc)
            : new TableTransactionAction(TableTransactionActionType.UpdateReplace, doc, current);
        var history = ToEntity(pk, VersionKey(id, version), value);
        history[Kind] = "version";
        yield return new TableTransactionAction(TableTransactionActionType.Add, history);
    }

    private static void TagStation(TableEntity e, ChargingStation s)
    {
        e["TransformerId"] = s.TransformerId;
        e["Status"] = s.Status.ToString();
        e["Active"] = s.Active;
    }

    /// <summary>
    /// Registers stations of one CPO: grouped by partition, 50 per transaction (the station and its first version row).
    /// Returns, per input index, null when stored or the storage error that stopped its chunk (nothing of a failed chunk is written).
    /// </summary>
    public async Task<RequestFailedException?[]> AddStationsAsync(IReadOnlyList<ChargingStation> stations, CancellationToken cancellationToken)
    {
        var results = new RequestFailedException?[stations.Count];
        var chunks = stations.Select((s, i) => (s, i)).GroupBy(x => StationKey(x.s.CpoId, x.s.Id)).SelectMany(g => g.Chunk(50)).ToList();
        await Parallel.ForEachAsync(chunks, new ParallelOptions { MaxDegreeOfParallelism = 8, CancellationToken = cancellationToken }, async (chunk, ct) =>
        {
            try
            {
                await Stations.SubmitCheckedTransactionAsync(chunk.SelectMany(x => NewVersioned(StationKey(x.s.CpoId, x.s.Id), x.s.Id, x.s.Version, x.s, default, e => TagStation(e, x.s))), ct);
            }
            catch (RequestFailedException e)
            {
                foreach (var (_, i) in chunk) results[i] = e;
            }
        });
        return results;
    }

    public async Task AddStationAsync(ChargingStation s, CancellationToken cancellationToken)
    {
        if ((await AddStationsAsync([s], cancellationToken))[0] is { } failure) throw failure;
    }

    /// <summary>The caller's station (a CPO finds only its own: the key includes its id).</summary>
    public Task<Stored<ChargingStation>?> GetStationAsync(string cpoId, string stationId, CancellationToken cancellationToken) =>
        GetAsync<ChargingStation>(Stations, StationKey(cpoId, stationId), stationId, cancellationToken);

    /// <summary>The stored stations of <paramref name="named"/> (each by its CPO: one named under another CPO is not found), in few queries.</summary>
    public async Task<IReadOnlyDictionary<(string CpoId, string StationId), ChargingStation>> GetStationsAsync(
        IEnumerable<(string CpoId, string StationId)> named, CancellationToken cancellationToken) =>
        (await GetManyAsync<ChargingStation>(Stations, named.Select(n => (StationKey(n.CpoId, n.StationId), n.StationId)), cancellationToken)).Values
            .ToDictionary(s => (s.Value.CpoId, s.Value.Id), s => s.Value);

    /// <summary>
    /// The caller's station as the offer path reads it, served from memory for <see cref="StoreOptions.ReadCacheDuration"/>
    /// (writes through this instance invalidate it): an update or deactivation on another instance is seen within that bound.
    /// </summary>
    public async Task<Stored<ChargingStation>?> GetStationForOffersAsync(string cpoId, string stationId, CancellationToken cancellationToken) =>
        await CachedAsync(("station", cpoId, stationId), _cacheFor, () => GetStationAsync(cpoId, stationId, cancellationToken));

    /// <summary>Writes a new version of a station (update, deactivation) with its history row; false when someone changed it first.</summary>
    public async Task<bool> TryUpdateStationAsync(ChargingStation s, ETag etag, CancellationToken cancellationToken)
    {
        try
        {
            await Stations.SubmitCheckedTransactionAsync(NewVersioned(StationKey(s.CpoId, s.Id), s.Id, s.Version, s, etag, e => TagStation(e, s)), cancellationToken);
            cache.Remove(("station", s.CpoId, s.Id));
            return true;
        }
        catch (TableTransactionFailedException e) when (e.Status is 409 or 412)
        {
            return false;
        }
    }

    /// <summary>Replaces the current station document without a new version (prequalification results are not station changes).</summary>
    public async Task<bool> TryReplaceStationAsync(ChargingStation s, ETag etag, CancellationToken cancellationToken)
    {
        var doc = ToEntity(StationKey(s.CpoId, s.Id), s.Id, s);
        doc[Kind] = Doc;
        TagStation(doc, s);
        try
        {
            await Stations.UpdateEntityAsync(doc, etag, TableUpdateMode.Replace, cancellationToken);
            cache.Remove(("station", s.CpoId, s.Id));
            return true;
        }
        catch (RequestFailedException e) when (e.Status == 412)
        {
            return false;
        }
    }

    public Task<ListPage<ChargingStation>> ListStationsAsync(string cpoId, string? transformerId, DeviceStatus? status, int limit, string? cursor, CancellationToken cancellationToken)
    {
        var filters = new List<string> { Shards.Range(cpoId), TableClient.CreateQueryFilter($"Kind eq {Doc}") };
        if (transformerId is not null) filters.Add(TableClient.CreateQueryFilter($"TransformerId eq {transformerId}"));
        if (status is { } st) filters.Add(TableClient.CreateQueryFilter($"Status eq {st.ToString()}"));
        return PageAsync(Stations, Filters.And(filters), limit, cursor, Deserialize<ChargingStation>, cancellationToken);
    }

    public Task<ListPage<ChargingStation>> ListStationVersionsAsync(string cpoId, string stationId, int limit, string? cursor, CancellationToken cancellationToken) =>
        PageAsync(Stations, TableClient.CreateQueryFilter(
            $"PartitionKey eq {StationKey(cpoId, stationId)} and RowKey gt {stationId + "~v"} and RowKey lt {stationId + "~w"}"),
            limit, cursor, Deserialize<ChargingStation>, cancellationToken);

    // ---- metering points: one claim row per metering point names the one active station on it ----
    // A station cannot share a transaction with its claim (the claim is keyed by the metering point, the station by its
    // CPO), so the claim is written first, as an insert (of two concurrent claims exactly one succeeds), and released
    // when the station is not written, moves to another metering point or is deactivated. A claim left behind by a crash
    // is taken over once its station is deactivated or on another metering point, or never stored after ClaimGrace.

    /// <summary>The station a metering point belongs to, and when that station claimed it.</summary>
    public sealed record MeteringPointClaim(string CpoId, string StationId, DateTimeOffset ClaimedAt);

    /// <summary>How long a claim holds for a station that is not (yet) stored on that metering point: longer than any registration takes.</summary>
    public static readonly TimeSpan ClaimGrace = TimeSpan.FromMinutes(1);

    private TableClient MeterClaims => service.GetTableClient("meterclaims");

    /// <summary>Metering point ids compare without case (<c>it001e1</c> is <c>IT001E1</c>): the claim's partition key.</summary>
    private static string MeterClaimKey(string meteringPointId) => meteringPointId.ToUpperInvariant();

    /// <summary>
    /// Claims <paramref name="s"/>'s metering point for it. Returns null when <paramref name="s"/> holds it now (also when it
    /// already did), or the claim of the active station that holds it.
    /// </summary>
    public async Task<MeteringPointClaim?> ClaimMeteringPointAsync(ChargingStation s, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var key = MeterClaimKey(s.MeteringPointId);
        var mine = ToEntity(key, Doc, new MeteringPointClaim(s.CpoId, s.Id, now));
        while (true)
        {
            try
            {
                await MeterClaims.AddEntityAsync(mine, cancellationToken);
                return null;
            }
            catch (RequestFailedException e) when (e.Status == 409)
            {
            }
            if (await GetAsync<MeteringPointClaim>(MeterClaims, key, Doc, cancellationToken) is not { } held) continue; // released meanwhile
            if (held.Value.StationId == s.Id) return null;
            if (await StillHeldAsync(held.Value, key, now, cancellationToken)) return held.Value;
            try
            {
                await MeterClaims.UpdateEntityAsync(mine, held.ETag, TableUpdateMode.Replace, cancellationToken);
                return null;
            }
            catch (RequestFailedException e) when (e.Status == 412)
            {
                // taken over by another station meanwhile: look again
            }
        }
    }

    /// <summary>Whether the claim's station still holds the metering point: active on it, or not stored on it yet but claimed less than <see cref="ClaimGrace"/> ago.</summary>
    private async Task<bool> StillHeldAsync(MeteringPointClaim claim, string key, DateTimeOffset now, CancellationToken cancellationToken) =>
        (await GetStationAsync(claim.CpoId, claim.StationId, cancellationToken))?.Value is { } station && MeterClaimKey(station.MeteringPointId) == key
            ? station.Active
            : now - claim.ClaimedAt < ClaimGrace;

    /// <summary>Releases <paramref name="s"/>'s claim on its metering point, if it still holds it (a claim since taken over is left alone).</summary>
    public async Task ReleaseMeteringPointAsync(ChargingStation s, CancellationToken cancellationToken)
    {
        var key = MeterClaimKey(s.MeteringPointId);
        if (await GetAsync<MeteringPointClaim>(MeterClaims, key, Doc, cancellationToken) is not { } held || held.Value.StationId != s.Id) return;
        try
        {
            await MeterClaims.DeleteEntityAsync(key, Doc, held.ETag, cancellationToken);
        }
        catch (RequestFailedException e) when (e.Status is 404 or 412)
        {
            // released or taken over meanwhile
        }
    }

    public async Task AddEvAsync(ElectricVehicle ev, CancellationToken cancellationToken) =>
        await Evs.SubmitCheckedTransactionAsync(NewVersioned(EvKey(ev.CpoId, ev.Id), ev.Id, ev.Version, ev, default, null), cancellationToken);

    public Task<Stored<ElectricVehicle>?> GetEvAsync(string cpoId, string evId, CancellationToken cancellationToken) =>
        GetAsync<ElectricVehicle>(Evs, EvKey(cpoId, evId), evId, cancellationToken);

    public async Task<bool> TryUpdateEvAsync(ElectricVehicle ev, ETag etag, CancellationToken cancellationToken)
    {
        try
        {
            await Evs.SubmitCheckedTransactionAsync(NewVersioned(EvKey(ev.CpoId, ev.Id), ev.Id, ev.Version, ev, etag, null), cancellationToken);
            return true;
        }
        catch (TableTransactionFailedException e) when (e.Status is 409 or 412)
        {
            return false;
        }
    }

    public Task<ListPage<ElectricVehicle>> ListEvsAsync(string cpoId, int limit, string? cursor, CancellationToken cancellationToken) =>
        PageAsync(Evs, Filters.And(Shards.Range(cpoId), TableClient.CreateQueryFilter($"Kind eq {Doc}")), limit, cursor, Deserialize<ElectricVehicle>, cancellationToken);

    public Task<ListPage<ElectricVehicle>> ListEvVersionsAsync(string cpoId, string evId, int limit, string? cursor, CancellationToken cancellationToken) =>
        PageAsync(Evs, TableClient.CreateQueryFilter($"PartitionKey eq {EvKey(cpoId, evId)} and RowKey gt {evId + "~v"} and RowKey lt {evId + "~w"}"),
            limit, cursor, Deserialize<ElectricVehicle>, cancellationToken);

    // ---- prequalification ----

    /// <summary>Stores a DSO's requirements as the next version (the old version stays as history).</summary>
    public async Task PutRequirementsAsync(PrequalificationRequirements r, ETag current, CancellationToken cancellationToken)
    {
        await Requirements.SubmitCheckedTransactionAsync(NewVersioned(r.DsoId, Doc, r.Version, r, current, null), cancellationToken);
        cache.Remove(("requirements", r.DsoId));
    }

    public Task<Stored<PrequalificationRequirements>?> GetRequirementsForUpdateAsync(string dsoId, CancellationToken cancellationToken) =>
        GetAsync<PrequalificationRequirements>(Requirements, dsoId, Doc, cancellationToken);

    /// <summary>The DSO's current requirements (cached briefly: every offer checks them).</summary>
    public async Task<PrequalificationRequirements?> GetRequirementsAsync(string dsoId, CancellationToken cancellationToken) =>
        await CachedAsync(("requirements", dsoId), _cacheFor, async () => (await GetRequirementsForUpdateAsync(dsoId, cancellationToken))?.Value);

    /// <summary>Puts the station's qualification in its DSO's list (sharded by station).</summary>
    public Task PutQualificationEntryAsync(ChargingStation s, Qualification q, CancellationToken cancellationToken)
    {
        var e = ToEntity(Shards.Key(q.DsoId, s.Id, QualificationShards), s.Id, new QualificationEntry(s, q));
        e["Status"] = q.Status.ToString();
        e["TransformerId"] = s.TransformerId;
        return Qualifications.UpsertEntityAsync(e, TableUpdateMode.Replace, cancellationToken);
    }

    public Task<ListPage<QualificationEntry>> ListQualificationsAsync(
        string dsoId, string? transformerId, QualificationStatus? status, int limit, string? cursor, CancellationToken cancellationToken)
    {
        var filters = new List<string> { Shards.Range(dsoId) };
        if (transformerId is not null) filters.Add(TableClient.CreateQueryFilter($"TransformerId eq {transformerId}"));
        if (status is { } st) filters.Add(TableClient.CreateQueryFilter($"Status eq {st.ToString()}"));
        return PageAsync(Qualifications, Filters.And(filters), limit, cursor, Deserialize<QualificationEntry>, cancellationToken);
    }
}
