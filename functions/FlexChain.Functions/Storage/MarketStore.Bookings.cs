using System.Globalization;
using Azure.Data.Tables;
using FlexChain.Domain;
using FlexChain.Storage;

namespace FlexChain.Functions.Storage;

// ---- bookings: table bookings, the stations spread over BookingShards partitions by a hash of the station id ----
// RowKey "{stationId}~{deliveryEndTicks}_{awardId with '/' as '~'}": the bookings of a station that end after an instant
// are one key range (station ids are "st_" and hex, below '~'), so a clearing reads the bookings of up to seven stations
// per query and writes those of a partition in transactions of up to 100.
// PowerKw: the kW booked per market interval (IntervalMinutes) of the window, comma-separated; absent when the award took
// the whole station. A day of 1-minute intervals is 1,440 values of at most 10 characters: within a 64 KiB property.
public sealed partial class MarketStore
{
    /// <summary>Partitions of the bookings table.</summary>
    public const int BookingShards = 64;

    private TableClient Bookings => service.GetTableClient("bookings");

    /// <summary>
    /// Books each station of <paramref name="bookings"/> for its window (upserts keyed by station, window end and award,
    /// in transactions per partition: writing them again, as a retried step does, changes nothing).
    /// </summary>
    /// <param name="cycleId">The gate cycle whose clearing made the awards (its own bookings are not taken when it clears again).</param>
    public async Task BookAsync(string cycleId, IEnumerable<StationBooking> bookings, CancellationToken cancellationToken)
    {
        await UpsertAllAsync(Bookings, bookings.Select(b => new TableEntity(BookingPartition(b.StationId), BookingRow(b))
            {
                ["Start"] = b.Window.Start, ["End"] = b.Window.End, ["AwardId"] = b.AwardId, ["CycleId"] = cycleId,
                ["PowerKw"] = b.Power is { } power ? PowerText(power) : null, ["IntervalMinutes"] = b.Interval.Minutes,
            }), cancellationToken);
    }

    /// <summary>Upserts <paramref name="rows"/> in transactions of up to 100 per partition (a row twice is written once).</summary>
    private static async Task UpsertAllAsync(TableClient table, IEnumerable<TableEntity> rows, CancellationToken cancellationToken)
    {
        var chunks = rows.GroupBy(e => e.PartitionKey, StringComparer.Ordinal).SelectMany(p => p.DistinctBy(e => e.RowKey).Chunk(TableLimits.MaxTransactionActions));
        await Parallel.ForEachAsync(chunks, InParallel(cancellationToken), async (chunk, ct) =>
            await table.SubmitCheckedTransactionAsync(chunk.Select(e => new TableTransactionAction(TableTransactionActionType.UpsertReplace, e)), ct));
    }

    private static string PowerText(IEnumerable<Kilowatts> power) => string.Join(',', power.Select(kw => kw.Value.ToString(CultureInfo.InvariantCulture)));

    private static List<Kilowatts> ParsePower(string text) => text.Split(',').Select(kw => new Kilowatts(decimal.Parse(kw, CultureInfo.InvariantCulture))).ToList();

    private static TimeWindow WindowOf(TableEntity e) =>
        new(e.GetDateTimeOffset("Start")!.Value.ToUniversalTime(), e.GetDateTimeOffset("End")!.Value.ToUniversalTime());

    private static MarketInterval IntervalOf(TableEntity e) => e.GetInt32("IntervalMinutes") is { } minutes ? MarketInterval.From(minutes) : MarketInterval.Default;

    /// <summary>
    /// The bookings of <paramref name="stations"/> whose windows overlap <paramref name="span"/>, made by any gate cycle
    /// but <paramref name="exceptCycleId"/>: per partition, one query per seven stations (a key range each).
    /// </summary>
    public async Task<IReadOnlyList<StationBooking>> GetBookingsAsync(
        IEnumerable<string> stations, TimeWindow span, string exceptCycleId, CancellationToken cancellationToken)
    {
        var ranges = stations.Distinct(StringComparer.Ordinal).Select(station => (BookingPartition(station), TableClient.CreateQueryFilter(
            $"RowKey gt {station + "~" + Ticks(span.Start) + "_~"} and RowKey lt {station + "~~"}")));
        return (await Bookings.QueryAnyAsync(ranges, InParallel(cancellationToken).MaxDegreeOfParallelism, cancellationToken))
            .Where(e => e.GetString("CycleId") != exceptCycleId)
            .Select(e => new StationBooking(e.RowKey[..e.RowKey.IndexOf('~', StringComparison.Ordinal)], WindowOf(e), e.GetString("AwardId"))
            {
                Power = e.GetString("PowerKw") is { } power ? ParsePower(power) : null, Interval = IntervalOf(e),
            })
            .Where(b => b.Window.Start < span.End)
            .OrderBy(b => b.StationId, StringComparer.Ordinal).ThenBy(b => b.Window.End).ThenBy(b => b.AwardId, StringComparer.Ordinal)
            .ToList();
    }

    /// <summary>
    /// Deletes the bookings whose window ended before <paramref name="endedBefore"/> (each unless rewritten since it was
    /// read): one keys-only scan of the table filtered on the window's end, which retention keeps to the bookings of the
    /// last <c>Retention:Bookings</c>. Returns how many.
    /// </summary>
    public Task<int> PurgeBookingsAsync(DateTimeOffset endedBefore, CancellationToken cancellationToken) =>
        PurgeAsync(Bookings, TableClient.CreateQueryFilter($"End lt {endedBefore}"), cancellationToken);

    // ---- node loads: table nodeload, one partition per grid node ----
    // RowKey "{deliveryEndTicks}_{awardId with '/' as '~'}": the loads below a node whose windows end after an instant are one
    // key range. PowerKw: the signed kW per market interval (IntervalMinutes) of the window, comma-separated, as bookings'.

    private TableClient NodeLoads => service.GetTableClient("nodeload");

    /// <summary>
    /// Records the net load each award of <paramref name="cycleId"/> adds below each node (upserts keyed by node, window end
    /// and award, in transactions per node: writing them again, as a retried step does, changes nothing and counts nothing twice).
    /// </summary>
    public Task AddNodeLoadsAsync(string cycleId, IEnumerable<NodeLoad> loads, CancellationToken cancellationToken) =>
        UpsertAllAsync(NodeLoads, loads.Select(l => new TableEntity(l.NodeId, Ticks(l.Window.End) + "_" + l.AwardId.Replace('/', '~'))
        {
            ["Start"] = l.Window.Start, ["End"] = l.Window.End, ["AwardId"] = l.AwardId, ["CycleId"] = cycleId,
            ["PowerKw"] = PowerText(l.Power), ["IntervalMinutes"] = l.Interval.Minutes,
        }), cancellationToken);

    /// <summary>
    /// The net loads below each of <paramref name="nodeIds"/> of awards whose windows overlap <paramref name="span"/>, made by
    /// any gate cycle but <paramref name="exceptCycleId"/>: one key-range query per node.
    /// </summary>
    public async Task<IReadOnlyList<NodeLoad>> GetNodeLoadsAsync(IEnumerable<string> nodeIds, TimeWindow span, string exceptCycleId, CancellationToken cancellationToken) =>
        (await NodeLoads.QueryAnyAsync(nodeIds.Distinct(StringComparer.Ordinal).Select(node => (node, TableClient.CreateQueryFilter(
            $"RowKey gt {Ticks(span.Start) + "_~"} and Start lt {span.End}"))), InParallel(cancellationToken).MaxDegreeOfParallelism, cancellationToken))
            .Where(e => e.GetString("CycleId") != exceptCycleId)
            .Select(e => new NodeLoad(e.PartitionKey, e.GetString("AwardId"), WindowOf(e), IntervalOf(e), ParsePower(e.GetString("PowerKw"))))
            .OrderBy(l => l.NodeId, StringComparer.Ordinal).ThenBy(l => l.Window.End).ThenBy(l => l.AwardId, StringComparer.Ordinal)
            .ToList();

    /// <summary>
    /// Deletes the node loads whose window ended before <paramref name="endedBefore"/>: one keys-only scan of the table filtered
    /// on the window's end (kept as long as the bookings, <c>Retention:Bookings</c>). Returns how many.
    /// </summary>
    public Task<int> PurgeNodeLoadsAsync(DateTimeOffset endedBefore, CancellationToken cancellationToken) =>
        PurgeAsync(NodeLoads, TableClient.CreateQueryFilter($"End lt {endedBefore}"), cancellationToken);

    private static string BookingPartition(string stationId) => Shards.Of(stationId, BookingShards);

    private static string BookingRow(StationBooking b) => b.StationId + "~" + Ticks(b.Window.End) + "_" + b.AwardId.Replace('/', '~');
}
