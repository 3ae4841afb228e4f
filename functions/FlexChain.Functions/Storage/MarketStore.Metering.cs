using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Globalization;
using Azure;
using FlexChain.Domain;
using Azure.Data.Tables;
using FlexChain.Storage;

namespace FlexChain.Functions.Storage;

/// <summary>What happened to one uploaded reading.</summary>
public enum ReadingOutcome
{
    /// <summary>A new interval, stored.</summary>
    Stored = 1,

    /// <summary>The same interval with the same value was already stored (an idempotent re-upload).</summary>
    Unchanged = 2,

    /// <summary>The interval was stored with another value, which replaced the stored one; its revision count went up by one.</summary>
    Corrected = 3,

    /// <summary>Refused; the result carries the status, rule and reason.</summary>
    Rejected = 4,
}

/// <summary>One reading of an upload, with its index in the request body.</summary>
public sealed record ReadingUpload(int Index, MeterReading Reading);

/// <summary>The result for one uploaded reading.</summary>
/// <param name="Field">The field a rejection concerns, when it is narrower than the whole item.</param>
public sealed record ReadingResult(int Index, string StationId, ReadingOutcome Outcome, int Status, string? Rule = null, string? Detail = null, string? Field = null);

/// <summary>What an upload did: a result per item and the duplicates, conflicts and gaps found in it and against stored data.</summary>
public sealed record IngestResult(IReadOnlyList<ReadingResult> Items, IReadOnlyList<MeterIssue> Issues);

/// <summary>A station's metering point as the metering views need it: owner, transformer and latest reading.</summary>
/// <param name="Latest">The reading that starts latest.</param>
/// <param name="UpdatedAt">When <paramref name="Latest"/> was received.</param>
public sealed record MeterPoint(string StationId, string CpoId, string TransformerId, MeterReading Latest, DateTimeOffset UpdatedAt);

/// <summary>A declared-baseline quality factor of one award (MAESHA: 1 - RMSE / max(mean baseline, 1)).</summary>
public sealed record QualityEntry(string CpoId, string RequestId, string AwardId, TimeWindow Window, decimal QualityFactor);

/// <summary>
/// Meter data, packed the way time-series stores keep it: one entity per station and UTC day in <c>meterdays</c>
/// (PartitionKey <c>{cpoId}~{shard}~m{yyyyMMdd}</c> for metered readings, <c>~d{yyyyMMdd}</c> for the declared schedule,
/// the shard one of 4 by station id; RowKey the station id) holding the intervals that start that day as one binary
/// property (<see cref="PackedMeterDay"/>: at most 1,440 intervals, under 39 KiB, within the 64 KiB property limit); an
/// upload merges into the day under its ETag and tries again when another upload changed it first, and the days of all
/// its stations go in one transaction per partition. Metering points with their latest reading in
/// <c>meterpoints</c> (PartitionKey <c>p~{shard}</c>, one of 16 by station id, RowKey the station id: found by the station
/// id alone, and written in one transaction per partition per upload), activation windows per station and
/// per CPO in <c>activations</c> (written when a request is awarded) and declared-baseline quality per CPO in <c>quality</c>.
/// </summary>
public sealed partial class MarketStore
{
    /// <summary>The longest reading accepted (readings cover 1 to 60 minutes).</summary>
    public static readonly TimeSpan MaxReadingLength = TimeSpan.FromHours(1);

    private const int MeteringParallelism = 8;

    /// <summary>
    /// Partitions per CPO and day for its stations' day entities: an upload of many stations writes a few transactions
    /// per day, and a CPO's busiest day partition sees a quarter of its stations' uploads (docs/SCALING.md).
    /// </summary>
    private const int DayShards = 4;

    /// <summary>How often an upload that lost a race to another upload of the same station is planned and tried again.</summary>
    private const int MaxMeterAttempts = 8;

    private const string MeteredKind = "m";
    private const string DeclaredKind = "d";

    private TableClient MeterDays => service.GetTableClient("meterdays");
    private TableClient MeterPoints => service.GetTableClient("meterpoints");
    private TableClient Activations => service.GetTableClient("activations");
    private TableClient Quality => service.GetTableClient("quality");

    private static DateOnly DayOf(DateTimeOffset t) => DateOnly.FromDateTime(t.UtcDateTime);

    // ---- ingestion ----

    /// <summary>
    /// Ingests readings of stations the caller owns (checked by the caller): per station, duplicates and overlaps inside
    /// the upload, overlaps with stored readings of other boundaries and readings of an already verified delivery window
    /// are rejected; the rest is stored, left unchanged or corrected (the interval's revision count goes up by one). The
    /// day entities of all the upload's stations are written together, in one transaction per partition (up to 100).
    /// </summary>
    public async Task<IngestResult> IngestReadingsAsync(
        IReadOnlyList<(ChargingStation Station, IReadOnlyList<ReadingUpload> Readings)> uploads, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var stations = uploads.Select(u => new StationIngest(u.Station, u.Readings)).ToList();
        var parallel = new ParallelOptions { MaxDegreeOfParallelism = MeteringParallelism, CancellationToken = cancellationToken };
        foreach (var cpo in stations.GroupBy(s => s.Station.CpoId))
        {
            var closed = await ClosedWindowsAsync(cpo.Key, new TimeWindow(cpo.Min(s => s.Range.Start), cpo.Max(s => s.Range.End)), cancellationToken);
            foreach (var s in cpo) s.Closed = closed.Where(c => c.StationIds.Contains(s.Station.Id)).Select(c => new ActivationRow(c.RequestId, c.Window)).ToList();
        }
        await Parallel.ForEachAsync(stations, parallel, async (s, ct) => s.Point = await GetPointAsync(s.Station.Id, ct));
        var pending = stations;
        for (var attempt = 1; pending.Count > 0; attempt++)
        {
            var first = attempt == 1;
            await Parallel.ForEachAsync(pending, parallel, async (s, ct) =>
            {
                // No stored reading starts after the point's latest one, so the first attempt reads only the days up to it (none
                // for a new station). A day written by an upload that stopped before it moved the point is not missed: adding it
                // again fails (409), and the next attempt reads every day.
                var latest = s.Point is { } p ? DayOf(p.Value.Latest.Interval.Start) : DateOnly.MinValue;
                var days = await ReadDaysAsync(s.Station.CpoId, s.Station.Id, MeteredKind, first ? s.Touched.Where(d => d <= latest) : s.Touched, ct);
                foreach (var day in s.Touched.Where(d => !days.ContainsKey(d))) days[day] = new StoredDay(day, new(), null);
                s.Plan(days);
            });
            var lost = await WriteDaysAsync(pending.SelectMany(s => DayWrites(s.Station, s.Days, s.Writes.Select(w => w.Reading), now)), cancellationToken);
            foreach (var s in pending) s.Record(lost);
            pending = attempt < MaxMeterAttempts ? pending.Where(s => s.Writes.Any(w => lost.Contains((s.Station.Id, DayOf(w.Reading.Interval.Start))))).ToList() : [];
        }
        await UpdateMeterPointsAsync(stations.Where(s => s.Newest() is not null).Select(s => (s.Station, s.Point, s.Newest()!)).ToList(), now, cancellationToken);
        var outcomes = stations.Select(s => s.Outcome()).ToList();
        return new IngestResult(outcomes.SelectMany(o => o.Results).OrderBy(i => i.Index).ToList(),
            outcomes.SelectMany(o => o.Issues).OrderBy(i => i.StationId, StringComparer.Ordinal).ThenBy(i => i.Interval.Start).ToList());
    }

    /// <summary>One station's part of an upload: its readings by start, and the plan of the latest attempt.</summary>
    private sealed class StationIngest
    {
        public StationIngest(ChargingStation station, IReadOnlyList<ReadingUpload> uploads)
        {
            Station = station;
            Sorted = uploads.OrderBy(u => u.Reading.Interval.Start).ThenBy(u => u.Index).ToList();
            Range = new TimeWindow(Sorted[0].Reading.Interval.Start, Sorted.Max(u => u.Reading.Interval.End));
            // A stored reading that overlaps an uploaded one starts at most an hour before it, or before it ends.
            Touched = Sorted.SelectMany(u => new[] { DayOf(u.Reading.Interval.Start - MaxReadingLength), DayOf(u.Reading.Interval.Start), DayOf(u.Reading.Interval.End.AddTicks(-1)) }).ToHashSet();
        }

        public ChargingStation Station { get; }
        public List<ReadingUpload> Sorted { get; }
        public TimeWindow Range { get; }
        public HashSet<DateOnly> Touched { get; }
        public List<ActivationRow> Closed { get; set; } = [];
        public Stored<MeterPoint>? Point { get; set; }

        /// <summary>Results of writes that landed in an attempt that then lost a race on another day: a later plan finds them unchanged.</summary>
        private readonly Dictionary<int, ReadingResult> _written = [];
        private Dictionary<long, MeterReading> _stored = [];
        private List<ReadingResult> _results = [];
        private List<MeterIssue> _issues = [];
        public Dictionary<DateOnly, StoredDay> Days { get; private set; } = [];
        public List<(ReadingUpload Upload, MeterReading Reading, MeterReading? Existing)> Writes { get; private set; } = [];

        public void Plan(Dictionary<DateOnly, StoredDay> days)
        {
            Days = days;
            _stored = days.Values.SelectMany(d => d.Readings.Values).ToDictionary(r => r.Interval.Start.UtcTicks);
            (_results, _issues, Writes) = MarketStore.Plan(Station.Id, Sorted, _stored, Closed);
        }

        /// <summary>Records the writes of this attempt that landed (their day is not in <paramref name="lost"/>).</summary>
        public void Record(HashSet<(string Station, DateOnly Day)> lost)
        {
            foreach (var w in Writes.Where(w => !lost.Contains((Station.Id, DayOf(w.Reading.Interval.Start)))))
            {
                _written[w.Upload.Index] = w.Existing is null
                    ? new ReadingResult(w.Upload.Index, Station.Id, ReadingOutcome.Stored, 201)
                    : new ReadingResult(w.Upload.Index, Station.Id, ReadingOutcome.Corrected, 200);
                if (_newest is null || w.Reading.Interval.Start > _newest.Interval.Start) _newest = w.Reading;
            }
        }

        // Over every attempt: a retry plans only the days that lost their race, so its writes alone may miss the newest.
        private MeterReading? _newest;

        /// <summary>The newest reading this upload stored, in any attempt, if any.</summary>
        public MeterReading? Newest() => _newest;

        /// <summary>The result per item (writes that never landed: rejected as concurrent) and the issues, gaps included.</summary>
        public (List<ReadingResult> Results, List<MeterIssue> Issues) Outcome()
        {
            var id = Station.Id;
            var results = _results.Where(r => !_written.ContainsKey(r.Index)).Concat(_written.Values).ToList();
            results.AddRange(Writes.Where(w => !_written.ContainsKey(w.Upload.Index))
                .Select(w => Rejected(w.Upload, id, "concurrent-update", "Another upload changed these intervals at the same time; send them again.")));
            var merged = new Dictionary<long, MeterReading>(_stored);
            foreach (var w in Writes.Where(w => _written.ContainsKey(w.Upload.Index))) merged[w.Reading.Interval.Start.UtcTicks] = w.Reading;
            var issues = _issues.Concat(MeterSeries.For(id, merged.Values).Gaps(Range).Select(g => new MeterIssue(MeterIssueKind.Gap, id, g, $"no reading covers {g}"))).ToList();
            return (results, issues);
        }
    }
    /// <summary>
    /// Checks an upload (sorted by start) against itself, the verified windows and the stored readings (by start ticks,
    /// each with its revision count): the results of items that need no write, the issues found, and the writes (with
    /// the reading each replaces, if any; the reading to write carries its new revision count).
    /// </summary>
    private static (List<ReadingResult> Results, List<MeterIssue> Issues, List<(ReadingUpload Upload, MeterReading Reading, MeterReading? Existing)> Writes) Plan(
        string id, List<ReadingUpload> sorted, Dictionary<long, MeterReading> stored, List<ActivationRow> closed)
    {
        var storedByStart = stored.Values.OrderBy(v => v.Interval.Start).ToList();
        var results = new List<ReadingResult>();
        var issues = new List<MeterIssue>();
        var writes = new List<(ReadingUpload Upload, MeterReading Reading, MeterReading? Existing)>();
        MeterReading? last = null;
        foreach (var u in sorted)
        {
            var r = u.Reading;
            if (last is not null && last.Interval.End > r.Interval.Start)
            {
                if (last.Interval == r.Interval && last.Energy == r.Energy)
                {
                    issues.Add(new(MeterIssueKind.Duplicate, id, r.Interval, $"{r.Interval} appears twice in the upload with the same value; stored once"));
                    results.Add(new(u.Index, id, ReadingOutcome.Unchanged, 200));
                    continue;
                }
                issues.Add(new(MeterIssueKind.Conflict, id, r.Interval, $"{r.Interval} ({r.Energy}) overlaps {last.Interval} ({last.Energy}) in the upload"));
                results.Add(Rejected(u, id, "duplicate-interval", $"The upload already has a reading for {last.Interval} with another value or other boundaries; send each interval once."));
                continue;
            }
            if (closed.FirstOrDefault(c => Overlaps(c.Window, r.Interval)) is { RequestId: not null } verified)
            {
                results.Add(Rejected(u, id, "verification-closed",
                    $"The delivery of request {verified.RequestId} ({verified.Window}) has been verified; readings of that window can no longer change."));
                continue;
            }
            if (OverlappingStored(storedByStart, r) is { } clash)
            {
                issues.Add(new(MeterIssueKind.Conflict, id, r.Interval, $"{r.Interval} overlaps the stored reading {clash.Interval}"));
                results.Add(Rejected(u, id, "overlap", $"A stored reading covers {clash.Interval}; correct it with the same start and end."));
                continue;
            }
            last = r;
            var existing = stored.GetValueOrDefault(r.Interval.Start.UtcTicks);
            if (existing is not null && existing.Interval == r.Interval && existing.Energy == r.Energy)
                results.Add(new(u.Index, id, ReadingOutcome.Unchanged, 200));
            else
                writes.Add((u, r with { Revision = (existing?.Revision ?? 0) + 1 }, existing));
        }
        return (results, issues, writes);
    }

    /// <summary>A stored reading (sorted by start) with another start that overlaps <paramref name="r"/>, or null.</summary>
    private static MeterReading? OverlappingStored(List<MeterReading> sorted, MeterReading r)
    {
        var (lo, hi) = (0, sorted.Count);
        var from = r.Interval.Start - MaxReadingLength;
        while (lo < hi)
        {
            var mid = (lo + hi) / 2;
            if (sorted[mid].Interval.Start < from) lo = mid + 1; else hi = mid;
        }
        for (var i = lo; i < sorted.Count && sorted[i].Interval.Start < r.Interval.End; i++)
            if (sorted[i].Interval.Start != r.Interval.Start && Overlaps(sorted[i].Interval, r.Interval)) return sorted[i];
        return null;
    }

    private static bool Overlaps(TimeWindow a, TimeWindow b) => a.Start < b.End && b.Start < a.End;

    private static ReadingResult Rejected(ReadingUpload u, string stationId, string rule, string detail) =>
        new(u.Index, stationId, ReadingOutcome.Rejected, 409, rule, detail);

    // ---- packed days ----

    /// <summary>One stored day of a station: its intervals by start ticks, and the ETag it was read with (null: not stored yet).</summary>
    private sealed record StoredDay(DateOnly Day, SortedDictionary<long, MeterReading> Readings, ETag? ETag);

    /// <summary>
    /// The partition of a station's day entities of one kind: <c>{cpoId}~{shard}~{kind}{yyyyMMdd}</c>, the station's shard
    /// of its CPO's stations (<see cref="DayShards"/>), so one upload's stations share a few partitions per day.
    /// </summary>
    private static string DayPartition(string cpoId, string stationId, string kind, DateOnly day) =>
        $"{Shards.Key(cpoId, stationId, DayShards)}~{kind}{DayKey(day)}";

    /// <summary>The station's stored days of <paramref name="kind"/> among <paramref name="days"/>: one point read per day, in parallel.</summary>
    private async Task<Dictionary<DateOnly, StoredDay>> ReadDaysAsync(string cpoId, string stationId, string kind, IEnumerable<DateOnly> days, CancellationToken cancellationToken)
    {
        var read = await Task.WhenAll(days.Distinct().Select(async day =>
        {
            var e = await MeterDays.GetEntityIfExistsAsync<TableEntity>(DayPartition(cpoId, stationId, kind, day), stationId, cancellationToken: cancellationToken);
            var readings = new SortedDictionary<long, MeterReading>();
            if (!e.HasValue) return new StoredDay(day, readings, null);
            foreach (var r in PackedMeterDay.Decode(stationId, day, e.Value!.GetBinary(PackedMeterDay.Property)))
                readings[r.Interval.Start.UtcTicks] = r;
            return new StoredDay(day, readings, e.Value.ETag);
        }));
        return read.ToDictionary(d => d.Day);
    }

    /// <summary>
    /// The day entities that merge <paramref name="changes"/> (each replacing the interval with its start, if any) into
    /// the station's days as read (<paramref name="days"/>), each to be added or replaced under the ETag it was read with.
    /// </summary>
    private static IEnumerable<(string Station, DateOnly Day, TableTransactionAction Action)> DayWrites(
        ChargingStation station, Dictionary<DateOnly, StoredDay> days, IEnumerable<MeterReading> changes, DateTimeOffset now, string kind = MeteredKind) =>
        changes.GroupBy(r => DayOf(r.Interval.Start)).Select(g =>
        {
            var day = days[g.Key];
            var readings = new SortedDictionary<long, MeterReading>(day.Readings);
            foreach (var r in g) readings[r.Interval.Start.UtcTicks] = r;
            var entity = new TableEntity(DayPartition(station.CpoId, station.Id, kind, g.Key), station.Id)
            {
                [PackedMeterDay.Property] = PackedMeterDay.Encode(g.Key, readings.Values), ["UpdatedAt"] = now,
            };
            return (station.Id, g.Key, day.ETag is { } etag
                ? new TableTransactionAction(TableTransactionActionType.UpdateReplace, entity, etag)
                : new TableTransactionAction(TableTransactionActionType.Add, entity));
        });

    /// <summary>
    /// Writes day entities of any stations, grouped by partition into transactions of at most 100 entities and 4 MiB, in
    /// parallel. Returns the station days not written because another upload changed one of the days of their
    /// transaction first (nothing of a failed transaction is written: read them again and plan again).
    /// </summary>
    private async Task<HashSet<(string Station, DateOnly Day)>> WriteDaysAsync(
        IEnumerable<(string Station, DateOnly Day, TableTransactionAction Action)> writes, CancellationToken cancellationToken)
    {
        var lost = new HashSet<(string, DateOnly)>();
        var chunks = writes.GroupBy(w => w.Action.Entity.PartitionKey).SelectMany(g => TransactionChunks(g.ToList(), w => w.Action)).ToList();
        await Parallel.ForEachAsync(chunks, new ParallelOptions { MaxDegreeOfParallelism = MeteringParallelism, CancellationToken = cancellationToken }, async (chunk, ct) =>
        {
            try
            {
                await MeterDays.SubmitCheckedTransactionAsync(chunk.Select(c => c.Action), ct);
            }
            catch (TableTransactionFailedException e) when (e.Status is 409 or 412)
            {
                // Another upload of one of these stations wrote one of these days first: nothing of this chunk was written.
                lock (lost) lost.UnionWith(chunk.Select(c => (c.Station, c.Day)));
            }
        });
        return lost;
    }

    /// <summary>Splits one partition's writes into transactions within the service's limits of 100 operations and 4 MiB.</summary>
    private static IEnumerable<List<T>> TransactionChunks<T>(List<T> writes, Func<T, TableTransactionAction> action)
    {
        var chunk = new List<T>();
        long bytes = 0;
        foreach (var w in writes)
        {
            // 1 KiB per operation for its MIME part and headers, as TableLimits counts it.
            var size = TableLimits.EntityBytes((TableEntity)action(w).Entity) + 1024;
            if (chunk.Count == TableLimits.MaxTransactionActions || bytes + size > TableLimits.MaxTransactionBytes)
            {
                yield return chunk;
                (chunk, bytes) = ([], 0);
            }
            chunk.Add(w);
            bytes += size;
        }
        if (chunk.Count > 0) yield return chunk;
    }

    /// <summary>Readings of <paramref name="stationId"/> (a station of <paramref name="cpoId"/>) starting in <paramref name="range"/>, by start time, each with its revision count (1 + corrections).</summary>
    public Task<IReadOnlyList<MeterReading>> GetReadingsAsync(string cpoId, string stationId, TimeWindow range, CancellationToken cancellationToken) =>
        ReadRangeAsync(cpoId, stationId, MeteredKind, range, cancellationToken);

    private async Task<IReadOnlyList<MeterReading>> ReadRangeAsync(string cpoId, string stationId, string kind, TimeWindow range, CancellationToken cancellationToken)
    {
        var days = new List<DateOnly>();
        for (var d = DayOf(range.Start); d <= DayOf(range.End.AddTicks(-1)); d = d.AddDays(1)) days.Add(d);
        return (await ReadDaysAsync(cpoId, stationId, kind, days, cancellationToken)).Values.SelectMany(d => d.Readings.Values)
            .Where(r => r.Interval.Start >= range.Start && r.Interval.Start < range.End).OrderBy(r => r.Interval.Start).ToList();
    }

    // ---- declared schedules ----

    /// <summary>
    /// Stores a station's declared baseline schedule, replacing declared intervals with the same start, merged into its
    /// days under their ETags (all days again after a lost race: replacing an interval with itself changes nothing).
    /// False when other declarations of the station kept changing the same days.
    /// </summary>
    public async Task<bool> TryPutDeclaredScheduleAsync(ChargingStation station, IReadOnlyList<MeterReading> schedule, DateTimeOffset now, CancellationToken cancellationToken)
    {
        for (var attempt = 1; attempt <= MaxMeterAttempts; attempt++)
        {
            var days = await ReadDaysAsync(station.CpoId, station.Id, DeclaredKind, schedule.Select(r => DayOf(r.Interval.Start)), cancellationToken);
            if ((await WriteDaysAsync(DayWrites(station, days, schedule, now, DeclaredKind), cancellationToken)).Count == 0) return true;
        }
        return false;
    }

    public Task<IReadOnlyList<MeterReading>> GetDeclaredScheduleAsync(string cpoId, string stationId, TimeWindow range, CancellationToken cancellationToken) =>
        ReadRangeAsync(cpoId, stationId, DeclaredKind, range, cancellationToken);

    // ---- metering points (latest reading; stations behind a transformer) ----

    /// <summary>
    /// Partitions of <c>meterpoints</c>: <c>p~{00..0f}</c> by station id, so a station's point is found by its id alone (the
    /// DSO's and operator's views) and an upload's points share a few partitions, written in transactions.
    /// </summary>
    private const int PointShards = 16;

    private static string PointPartition(string stationId) => Shards.Key("p", stationId, PointShards);

    private Task<Stored<MeterPoint>?> GetPointAsync(string stationId, CancellationToken cancellationToken) =>
        GetAsync<MeterPoint>(MeterPoints, PointPartition(stationId), stationId, cancellationToken);

    public async Task<MeterPoint?> GetMeterPointAsync(string stationId, CancellationToken cancellationToken) =>
        (await GetPointAsync(stationId, cancellationToken))?.Value;

    /// <summary>
    /// Makes each station's newest uploaded reading its point's latest unless a later one is there already (a late upload
    /// of an older interval never moves it back), each guarded by its ETag, starting from the point as read before the
    /// upload (null: none yet). The points go in one transaction per partition (up to 100); a transaction that lost a race
    /// to another upload (409/412: nothing of it was written) reads its stations' points again and decides again.
    /// </summary>
    private async Task UpdateMeterPointsAsync(
        List<(ChargingStation Station, Stored<MeterPoint>? Known, MeterReading Newest)> updates, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var parallel = new ParallelOptions { MaxDegreeOfParallelism = MeteringParallelism, CancellationToken = cancellationToken };
        for (var attempt = 1; updates.Count > 0; attempt++)
        {
            var writes = updates.Where(u => u.Known?.Value is not { } stored || stored.Latest.Interval.Start < u.Newest.Interval.Start).Select(u =>
            {
                var entity = ToEntity(PointPartition(u.Station.Id), u.Station.Id, new MeterPoint(u.Station.Id, u.Station.CpoId, u.Station.TransformerId, u.Newest, now));
                return (Update: u, Action: u.Known is { } known
                    ? new TableTransactionAction(TableTransactionActionType.UpdateReplace, entity, known.ETag)
                    : new TableTransactionAction(TableTransactionActionType.Add, entity));
            });
            var lost = new ConcurrentBag<(ChargingStation, Stored<MeterPoint>?, MeterReading)>();
            await Parallel.ForEachAsync(writes.GroupBy(w => w.Action.Entity.PartitionKey).SelectMany(g => TransactionChunks(g.ToList(), w => w.Action)), parallel, async (chunk, ct) =>
            {
                try
                {
                    await MeterPoints.SubmitCheckedTransactionAsync(chunk.Select(c => c.Action), ct);
                }
                catch (TableTransactionFailedException e) when (e.Status is 409 or 412 && attempt < MaxMeterAttempts)
                {
                    // Another upload of one of these stations moved its point first: nothing of this chunk was written.
                    foreach (var (u, _) in chunk) lost.Add((u.Station, await GetPointAsync(u.Station.Id, ct), u.Newest));
                }
            });
            updates = lost.ToList();
        }
    }

    // ---- activations (written at Awarded): late-data cut-off and X-of-Y exclusions ----

    private sealed record ActivationRow(string RequestId, TimeWindow Window);

    /// <summary>An awarded CPO's activation: the request, its delivery window and the CPO's stations in it.</summary>
    private sealed record CpoActivationRow(string RequestId, TimeWindow Window, IReadOnlyList<string> StationIds);

    private static string CpoActivationsKey(string cpoId) => "c~" + cpoId;

    /// <summary>
    /// Records every awarded station's activation window (partition: the station), and each awarded CPO's (partition
    /// <c>c~{cpoId}</c>: an upload's late-data check reads its CPO's activations with one range query): idempotent upserts, so a
    /// retried step writes them again.
    /// </summary>
    public async Task RecordActivationsAsync(FlexRequest request, CancellationToken cancellationToken)
    {
        var parallel = new ParallelOptions { MaxDegreeOfParallelism = MeteringParallelism, CancellationToken = cancellationToken };
        var rowKey = Ticks(request.Delivery.Start) + "_" + request.Id;
        await Parallel.ForEachAsync(request.Awards.GroupBy(a => a.CpoId), parallel, async (cpo, ct) => await Activations.UpsertEntityAsync(
            ToEntity(CpoActivationsKey(cpo.Key), rowKey, new CpoActivationRow(request.Id, request.Delivery, cpo.SelectMany(a => a.StationIds).Distinct().ToList())),
            TableUpdateMode.Replace, ct));
        await Parallel.ForEachAsync(request.Awards.SelectMany(a => a.StationIds).Distinct(), parallel, async (station, ct) =>
            await Activations.UpsertEntityAsync(ToEntity(station, rowKey, new ActivationRow(request.Id, request.Delivery)), TableUpdateMode.Replace, ct));
    }

    private async Task<List<ActivationRow>> GetActivationsAsync(string stationId, DateTimeOffset from, DateTimeOffset to, CancellationToken cancellationToken) =>
        await QueryAsync<ActivationRow>(Activations, TableClient.CreateQueryFilter($"PartitionKey eq {stationId} and RowKey ge {Ticks(from)} and RowKey lt {Ticks(to)}"), cancellationToken);

    /// <summary>
    /// The activations of <paramref name="cpoId"/> whose verification already used meter data overlapping
    /// <paramref name="range"/>, each with the range it used (one range query of the CPO's activations).
    /// </summary>
    private async Task<List<CpoActivationRow>> ClosedWindowsAsync(string cpoId, TimeWindow range, CancellationToken cancellationToken)
    {
        // A window is at most a day long and MBMA looks back at most 25 hours (a day and the longest reading): activations starting that far back can still cover the range.
        var closed = new List<CpoActivationRow>();
        var from = Ticks(range.Start - TimeSpan.FromDays(5));
        var to = Ticks(range.End + TimeSpan.FromDays(4));
        foreach (var a in await QueryAsync<CpoActivationRow>(Activations,
            TableClient.CreateQueryFilter($"PartitionKey eq {CpoActivationsKey(cpoId)} and RowKey ge {from} and RowKey lt {to}"), cancellationToken))
        {
            if (await GetRequestAsync(a.RequestId, cancellationToken) is not { } stored || stored.Value.State <= RequestState.Awarded) continue;
            var r = stored.Value;
            var used = r.Verification.Baseline == BaselineMethod.MeterBeforeMeterAfter ? r.Verification.EvidenceRange(r.Delivery) : r.Delivery;
            if (Overlaps(used, range)) closed.Add(a with { Window = used });
        }
        return closed;
    }

    // ---- verification evidence and quality ----

    /// <summary>
    /// What the gate cycle verifies <paramref name="request"/> with: readings over the rules' evidence range, the declared
    /// schedules (declared baseline), each awarded station's past activations (X-of-Y skips their days), their registered maximum
    /// power (which caps every baseline) and recovery time (readings reach that far past the window, for the rebound report),
    /// and every award's bookings of them overlapping the window (a station booked by several awards shares its delivery).
    /// Bookings of a past window do not change (clearing books only windows after gate closure, and retention keeps them
    /// 8 days), so a retried verification reads the same ones. A call on an availability contract delivers from the
    /// capacity its contract reserves: that reservation's bookings are the same capacity, not another award's share.
    /// </summary>
    public async Task<DeliveryEvidence> LoadEvidenceAsync(FlexRequest request, CancellationToken cancellationToken)
    {
        var rules = request.Verification;
        var range = rules.EvidenceRange(request.Delivery);
        var readings = new ConcurrentBag<MeterReading>();
        var declared = new ConcurrentBag<MeterReading>();
        var activations = new ConcurrentDictionary<string, IReadOnlyList<TimeWindow>>();
        var power = new ConcurrentDictionary<string, Kilowatts>();
        var recovery = new ConcurrentDictionary<string, TimeSpan>();
        await Parallel.ForEachAsync(request.Awards.SelectMany(a => a.StationIds.Select(s => (a.CpoId, Station: s))).Distinct(),
            new ParallelOptions { MaxDegreeOfParallelism = MeteringParallelism, CancellationToken = cancellationToken }, async (owned, ct) =>
            {
                var station = owned.Station;
                var rest = TimeSpan.Zero;
                if (await GetStationAsync(owned.CpoId, station, ct) is { } registered)
                {
                    power[station] = registered.Value.MaxPower;
                    recovery[station] = rest = TimeSpan.FromMinutes(registered.Value.RecoveryMinutes);
                }
                // A resting station's readings reach into its recovery period, where a rebound is reported.
                var own = range.End < request.Delivery.End + rest ? new TimeWindow(range.Start, request.Delivery.End + rest) : range;
                foreach (var r in await GetReadingsAsync(owned.CpoId, station, own, ct)) readings.Add(r);
                if (rules.Baseline == BaselineMethod.Declared)
                    foreach (var d in await GetDeclaredScheduleAsync(owned.CpoId, station, request.Delivery, ct)) declared.Add(d);
                if (rules.Baseline is BaselineMethod.HighXOfY or BaselineMethod.MidXOfY)
                    activations[station] = (await GetActivationsAsync(station, range.Start, request.Delivery.Start, ct)).Select(a => a.Window).ToList();
            });
        var reservation = request.AvailabilityId is { } contract ? Award.IdFor(contract, "") : null; // its holders' award ids start so
        var bookings = (await GetBookingsAsync(request.Awards.SelectMany(a => a.StationIds), request.Delivery, "", cancellationToken))
            .Where(b => reservation is null || !b.AwardId.StartsWith(reservation, StringComparison.Ordinal)).ToList();
        return new DeliveryEvidence(readings.ToList(), rules.Baseline == BaselineMethod.Declared ? declared.ToList() : null,
            activations, power, recovery, bookings);
    }

    /// <summary>Records the declared-baseline quality factor of each verified award under its CPO (upserts: a retried step writes the same rows).</summary>
    public async Task RecordQualityAsync(FlexRequest request, CancellationToken cancellationToken)
    {
        for (var i = 0; i < request.Verifications.Count; i++)
        {
            if (request.Verifications[i].QualityFactor is not { } q) continue;
            var award = request.Awards[i];
            var row = new QualityEntry(award.CpoId, request.Id, award.Id, request.Delivery, q);
            await Quality.UpsertEntityAsync(ToEntity(award.CpoId, $"{Ticks(request.Delivery.Start)}_{request.Id}_{i.ToString("D5", CultureInfo.InvariantCulture)}", row), TableUpdateMode.Replace, cancellationToken);
        }
    }

    /// <summary>A CPO's quality factors for windows starting in [<paramref name="from"/>, <paramref name="to"/>), oldest first.</summary>
    public async Task<IReadOnlyList<QualityEntry>> GetQualityAsync(string cpoId, DateTimeOffset from, DateTimeOffset to, CancellationToken cancellationToken) =>
        await QueryAsync<QualityEntry>(Quality, TableClient.CreateQueryFilter($"PartitionKey eq {cpoId} and RowKey ge {Ticks(from)} and RowKey lt {Ticks(to)}"), cancellationToken);
}

/// <summary>
/// The packed form of one station's intervals that start on one UTC day: a format byte (2), a unit byte (the largest
/// of minute, second and tick that divides every start and length of the day: 0, 1 or 2), then per interval, by start,
/// four unsigned LEB128 varints: the gap from the previous interval's end (from midnight for the first) and the length,
/// both in units, the energy in watt-hours (zigzag, so a negative value stays small) and the revision count (1 +
/// corrections; the value is the latest). A day of quarter-hours takes about 5 bytes an interval (gap 0, length 15,
/// 2 bytes of Wh, revision 1). Intervals cover at least a minute and never overlap, so a day holds at most 1,440 of them;
/// even in ticks with the largest values (6 + 6 + 10 + 5 bytes) that is under 39 KiB, within the 64 KiB property limit,
/// so no day needs splitting into hours.
/// </summary>
public static class PackedMeterDay
{
    /// <summary>The binary property that holds the intervals.</summary>
    public const string Property = "Intervals";

    /// <summary>The most bytes one interval can take (gap and length in ticks, the largest energy and revision count).</summary>
    public const int MaxIntervalBytes = 6 + 6 + 10 + 5;

    private const byte Format = 2;

    private static readonly long[] Units = [TimeSpan.TicksPerMinute, TimeSpan.TicksPerSecond, 1];

    /// <summary>Packs <paramref name="readings"/> (all starting on <paramref name="day"/>, sorted by start, none overlapping).</summary>
    /// <exception cref="ArgumentException">A reading starts on another day or overlaps the one before it.</exception>
    public static byte[] Encode(DateOnly day, IReadOnlyCollection<MeterReading> readings)
    {
        var midnight = Midnight(day);
        var code = (byte)Array.FindIndex(Units, u => readings.All(r => (r.Interval.Start.UtcTicks - midnight) % u == 0 && r.Interval.Duration.Ticks % u == 0));
        var unit = Units[code];
        var data = new List<byte>(2 + readings.Count * 5) { Format, code };
        var end = midnight;
        foreach (var r in readings)
        {
            var start = r.Interval.Start.UtcTicks;
            if (start - midnight is < 0 or >= TimeSpan.TicksPerDay) throw new ArgumentException($"{r.Interval} does not start on {day}", nameof(readings));
            if (start < end) throw new ArgumentException($"{r.Interval} overlaps the reading before it", nameof(readings));
            Write(data, (ulong)((start - end) / unit));
            Write(data, (ulong)(r.Interval.Duration.Ticks / unit));
            Write(data, (ulong)((r.Energy.WattHours << 1) ^ (r.Energy.WattHours >> 63)));
            Write(data, (uint)r.Revision);
            end = r.Interval.End.UtcTicks;
        }
        return data.ToArray();
    }

    /// <summary>The readings packed in <paramref name="bytes"/>, each with its revision count.</summary>
    /// <exception cref="FormatException">The data is not in this format.</exception>
    public static List<MeterReading> Decode(string stationId, DateOnly day, byte[] bytes)
    {
        FormatException Bad() => new($"meter day {stationId}/{day} is not packed in format {Format}");
        if (bytes.Length < 2 || bytes[0] != Format || bytes[1] >= Units.Length) throw Bad();
        var unit = Units[bytes[1]];
        var readings = new List<MeterReading>();
        var (at, end) = (2, Midnight(day));
        ulong Next()
        {
            ulong value = 0;
            for (var shift = 0; shift < 64; shift += 7)
            {
                if (at == bytes.Length) throw Bad();
                var b = bytes[at++];
                value |= (ulong)(b & 0x7f) << shift;
                if (b < 0x80) return value;
            }
            throw Bad();
        }
        while (at < bytes.Length)
        {
            var start = checked(end + (long)Next() * unit);
            var length = checked((long)Next() * unit);
            var zigzag = Next();
            var wh = (long)(zigzag >> 1) ^ -(long)(zigzag & 1);
            var revision = checked((int)Next());
            var interval = new TimeWindow(new DateTimeOffset(start, TimeSpan.Zero), new DateTimeOffset(start + length, TimeSpan.Zero));
            readings.Add(new MeterReading(stationId, interval, new KilowattHours(wh / 1000m), revision));
            end = start + length;
        }
        return readings;
    }

    private static void Write(List<byte> data, ulong value)
    {
        for (; value >= 0x80; value >>= 7) data.Add((byte)((value & 0x7f) | 0x80));
        data.Add((byte)value);
    }

    private static long Midnight(DateOnly day) => day.ToDateTime(TimeOnly.MinValue, DateTimeKind.Utc).Ticks;
}
