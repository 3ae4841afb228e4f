using System.Globalization;
using Azure.Data.Tables;
using FlexChain.Domain;

namespace FlexChain.Functions.Storage;

// ---- imbalance adjustments: table imbalance, one partition per UTC day of delivery start ----
// RowKey "{deliveryStartTicks}_{awardId with '/' as '~'}_{stationId}": a period is a range of partitions and rows in time
// order, and the key is deterministic, so a retried verification step replaces its rows instead of adding new ones.
public sealed partial class MarketStore
{
    private TableClient Imbalance => service.GetTableClient("imbalance");

    private static string ImbalanceDay(DateTimeOffset t) => t.UtcDateTime.ToString("yyyyMMdd", CultureInfo.InvariantCulture);

    /// <summary>
    /// Writes the imbalance-adjustment records of a verified request (<see cref="ImbalanceAdjustment.For"/>), before the
    /// verification itself is saved: a crash in between verifies again and replaces the same rows, so no saved
    /// verification is without its records.
    /// </summary>
    public async Task RecordImbalanceAsync(FlexRequest request, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var stations = new System.Collections.Concurrent.ConcurrentDictionary<string, (ChargingStation, string)>(StringComparer.Ordinal);
        await Parallel.ForEachAsync(request.Awards.SelectMany(a => a.StationIds.Select(s => (a.CpoId, s))).Distinct(), InParallel(cancellationToken), async (x, ct) =>
        {
            var station = (await GetStationAsync(x.CpoId, x.s, ct))?.Value ?? throw new InvalidOperationException($"awarded station {x.s} is missing");
            var node = await GetGridNodeAsync(station.TransformerId, ct) ?? throw new InvalidOperationException($"station {x.s} names a missing transformer");
            stations[x.s] = (station, node.OperatorId);
        });
        await Parallel.ForEachAsync(ImbalanceAdjustment.For(request, stations, now), InParallel(cancellationToken), async (r, ct) =>
        {
            var e = ToEntity(ImbalanceDay(r.Delivery.Start), $"{Ticks(r.Delivery.Start)}_{r.AwardId.Replace('/', '~')}_{r.StationId}", r);
            e["Brp"] = r.BalanceResponsibleParty ?? "";
            e["CpoId"] = r.CpoId;
            e["ConnectingOperatorId"] = r.ConnectingOperatorId;
            await Imbalance.UpsertEntityAsync(e, TableUpdateMode.Replace, ct);
        });
    }

    /// <summary>
    /// The records of deliveries starting in [<paramref name="from"/>, <paramref name="to"/>) in time order, optionally of one
    /// balance responsible party, one CPO's stations, or stations connected to one operator's grid.
    /// </summary>
    public Task<ListPage<ImbalanceAdjustment>> ListImbalanceAsync(
        DateTimeOffset from, DateTimeOffset to, string? brp, string? cpoId, string? connectingOperatorId, int limit, string? cursor, CancellationToken cancellationToken)
    {
        var filters = new List<string>
        {
            TableClient.CreateQueryFilter($"PartitionKey ge {ImbalanceDay(from)} and PartitionKey le {ImbalanceDay(to)} and RowKey ge {Ticks(from)} and RowKey lt {Ticks(to)}"),
        };
        if (brp is not null) filters.Add(TableClient.CreateQueryFilter($"Brp eq {brp}"));
        if (cpoId is not null) filters.Add(TableClient.CreateQueryFilter($"CpoId eq {cpoId}"));
        if (connectingOperatorId is not null) filters.Add(TableClient.CreateQueryFilter($"ConnectingOperatorId eq {connectingOperatorId}"));
        return PageAsync(Imbalance, Filters.And(filters), limit, cursor, Deserialize<ImbalanceAdjustment>, cancellationToken);
    }
}
