using System.Globalization;
using Azure.Data.Tables;
using FlexChain.Domain;
using FlexChain.Storage;

namespace FlexChain.Functions.Storage;

// ---- bookings: table bookings, one partition per station ----
// RowKey "{deliveryEndTicks}_{awardId with '/' as '~'}": the bookings of a station that end after an instant are one key
// range of its partition, so the bookings overlapping a window are one partition query (filtered on Start).
// PowerKw: the kW booked per market interval (IntervalMinutes) of the window, comma-separated; absent when the award took
// the whole station. A day of 1-minute intervals is 1,440 values of at most 10 characters: within a 64 KiB property.
public sealed partial class MarketStore
{
    private TableClient Bookings => service.GetTableClient("bookings");

    /// <summary>
    /// Books each station of <paramref name="bookings"/> for its window (upserts keyed by station, window end and award:
    /// writing them again, as a retried step does, changes nothing).
    /// </summary>
    /// <param name="cycleId">The gate cycle whose clearing made the awards (its own bookings are not taken when it clears again).</param>
    public async Task BookAsync(string cycleId, IEnumerable<StationBooking> bookings, CancellationToken cancellationToken) =>
        await Parallel.ForEachAsync(bookings, InParallel(cancellationToken), async (b, ct) =>
            await Bookings.UpsertEntityAsync(TableLimits.Check(new TableEntity(b.StationId, BookingRow(b))
            {
                ["Start"] = b.Window.Start, ["End"] = b.Window.End, ["AwardId"] = b.AwardId, ["CycleId"] = cycleId,
                ["PowerKw"] = b.Power is { } power ? string.Join(',', power.Select(kw => kw.Value.ToString(CultureInfo.InvariantCulture))) : null,
                ["IntervalMinutes"] = b.Interval.Minutes,
            }), TableUpdateMode.Replace, ct));

    /// <summary>
    /// The bookings of <paramref name="stations"/> whose windows overlap <paramref name="span"/>, made by any gate cycle
    /// but <paramref name="exceptCycleId"/>: one partition query per station.
    /// </summary>
    public async Task<IReadOnlyList<StationBooking>> GetBookingsAsync(
        IEnumerable<string> stations, TimeWindow span, string exceptCycleId, CancellationToken cancellationToken)
    {
        var found = new System.Collections.Concurrent.ConcurrentBag<StationBooking>();
        await Parallel.ForEachAsync(stations.Distinct(StringComparer.Ordinal), InParallel(cancellationToken), async (station, ct) =>
        {
            var filter = TableClient.CreateQueryFilter(
                $"PartitionKey eq {station} and RowKey gt {Ticks(span.Start) + "_~"} and Start lt {span.End} and CycleId ne {exceptCycleId}");
            await foreach (var e in Bookings.QueryAsync<TableEntity>(filter, cancellationToken: ct))
                found.Add(new StationBooking(station, new TimeWindow(e.GetDateTimeOffset("Start")!.Value.ToUniversalTime(), e.GetDateTimeOffset("End")!.Value.ToUniversalTime()), e.GetString("AwardId"))
                {
                    Power = e.GetString("PowerKw")?.Split(',').Select(kw => new Kilowatts(decimal.Parse(kw, CultureInfo.InvariantCulture))).ToList(),
                    Interval = e.GetInt32("IntervalMinutes") is { } minutes ? MarketInterval.From(minutes) : MarketInterval.Default,
                });
        });
        return found.ToList();
    }

    /// <summary>
    /// Deletes the bookings whose window ended before <paramref name="endedBefore"/> (each unless rewritten since it was
    /// read). The row keys start with the window's end, but the stations are many partitions, so this is one keys-only
    /// scan of the table, which retention keeps to the bookings of the last <c>Retention:Bookings</c>. Returns how many.
    /// </summary>
    public Task<int> PurgeBookingsAsync(DateTimeOffset endedBefore, CancellationToken cancellationToken) =>
        PurgeAsync(Bookings, TableClient.CreateQueryFilter($"RowKey lt {Ticks(endedBefore)}"), cancellationToken);

    private static string BookingRow(StationBooking b) => Ticks(b.Window.End) + "_" + b.AwardId.Replace('/', '~');
}
