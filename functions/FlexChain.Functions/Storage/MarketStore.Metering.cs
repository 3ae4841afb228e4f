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
/// (PartitionKey station id, RowKey <c>m{yyyyMMdd}</c> for metered readings, <c>d{yyyyMMdd}</c> for the declared
/// schedule) holding the intervals that start that day as one binary property (<see cref="PackedMeterDay"/>: at most
/// 1,440 one-minute intervals, 40,321 bytes, under the 64 KiB property limit); an upload merges into the day under its
/// ETag and tries again when another upload changed it first. Metering points with their latest reading in
/// <c>meterpoints</c> (by station, and each station listed once under <c>t~{transformerId}</c> for the DSO's views), activation windows
/// per station in <c>activations</c> (written when a request is awarded) and declared-baseline quality per CPO in
/// <c>quality</c>.
/// </summary>
public sealed partial class MarketStore
{
    /// <summary>The longest reading accepted (readings cover 1 to 60 minutes).</summary>
    public static readonly TimeSpan MaxReadingLength = TimeSpan.FromHours(1);

    private const int MeteringParallelism = 8;

    /// <summary>How often an upload that lost a race to another upload of the same station is planned and tried again.</summary>
    private const int MaxMeterAttempts = 8;

    /// <summary>
    /// Day entities per transaction: 50 full days (about 40 KiB each, with the per-operation overhead) stay well under the
    /// 4 MiB transaction limit.
    /// </summary>
    private const int DaysPerTransaction = 50;

    private const string MeteredKind = "m";
    private const string DeclaredKind = "d";

    private TableClient MeterDays => service.GetTableClient("meterdays");
    private TableClient MeterPoints => service.GetTableClient("meterpoints");
    private TableClient Activations => service.GetTableClient("activations");
    private TableClient Quality => service.GetTableClient("quality");

    private static string TransformerPointsKey(string transformerId) => "t~" + transformerId;

    private static DateOnly DayOf(DateTimeOffset t) => DateOnly.FromDateTime(t.UtcDateTime);

    // ---- ingestion ----

    /// <summary>
    /// Ingests readings of stations the caller owns (checked by the caller): per station, duplicates and overlaps inside
    /// the upload, overlaps with stored readings of other boundaries and readings of an already verified delivery window
    /// are rejected; the rest is stored, left unchanged or corrected (the interval's revision count goes up by one).
    /// </summary>
    public async Task<IngestResult> IngestReadingsAsync(
        IReadOnlyList<(ChargingStation Station, IReadOnlyList<ReadingUpload> Readings)> uploads, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var items = new ConcurrentBag<ReadingResult>();
        var issues = new ConcurrentBag<MeterIssue>();
        await Parallel.ForEachAsync(uploads, new ParallelOptions { MaxDegreeOfParallelism = MeteringParallelism, CancellationToken = cancellationToken },
            async (u, ct) =>
            {
                var (results, found) = await IngestStationAsync(u.Station, u.Readings, now, ct);
                foreach (var r in results) items.Add(r);
                foreach (var i in found) issues.Add(i);
            });
        return new IngestResult(items.OrderBy(i => i.Index).ToList(), issues.OrderBy(i => i.StationId, StringComparer.Ordinal).ThenBy(i => i.Interval.Start).ToList());
    }

    private async Task<(List<ReadingResult>, List<MeterIssue>)> IngestStationAsync(
        ChargingStation station, IReadOnlyList<ReadingUpload> uploads, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var id = station.Id;
        var sorted = uploads.OrderBy(u => u.Reading.Interval.Start).ThenBy(u => u.Index).ToList();
        var range = new TimeWindow(sorted[0].Reading.Interval.Start, sorted.Max(u => u.Reading.Interval.End));
        var closed = await ClosedWindowsAsync(id, range, cancellationToken);
        // A stored reading that overlaps an uploaded one starts at most an hour before it, or before it ends.
        var touched = sorted.SelectMany(u => new[] { DayOf(u.Reading.Interval.Start - MaxReadingLength), DayOf(u.Reading.Interval.Start), DayOf(u.Reading.Interval.End.AddTicks(-1)) }).ToHashSet();
        // Results of writes that landed in an attempt that then lost a race on another day: a later plan finds them unchanged.
        var written = new Dictionary<int, ReadingResult>();
        var point = await GetAsync<MeterPoint>(MeterPoints, id, Doc, cancellationToken);
        for (var attempt = 1; ; attempt++)
        {
            // No stored reading starts after the point's latest one, so the first attempt reads only the days up to it (none
            // for a new station). A day written by an upload that stopped before it moved the point is not missed: adding it
            // again fails (409), and the next attempt reads every day.
            var days = await ReadDaysAsync(id, MeteredKind, attempt > 1 ? touched : touched.Where(d => point is { } p && d <= DayOf(p.Value.Latest.Interval.Start)), cancellationToken);
            foreach (var day in touched.Where(d => !days.ContainsKey(d))) days[day] = new StoredDay(day, new(), null);
            var stored = days.Values.SelectMany(d => d.Readings.Values).ToDictionary(r => r.Interval.Start.UtcTicks);
            var (results, issues, writes) = Plan(id, sorted, stored, closed);
            var lost = await WriteDaysAsync(id, MeteredKind, days, writes.Select(w => w.Reading), now, cancellationToken);
            foreach (var w in writes.Where(w => !lost.Contains(DayOf(w.Reading.Interval.Start))))
                written[w.Upload.Index] = w.Existing is null
                    ? new ReadingResult(w.Upload.Index, id, ReadingOutcome.Stored, 201)
                    : new ReadingResult(w.Upload.Index, id, ReadingOutcome.Corrected, 200);
            if (lost.Count > 0 && attempt < MaxMeterAttempts) continue;

            results = results.Where(r => !written.ContainsKey(r.Index)).Concat(written.Values).ToList();
            results.AddRange(writes.Where(w => !written.ContainsKey(w.Upload.Index))
                .Select(w => Rejected(w.Upload, id, "concurrent-update", "Another upload changed these intervals at the same time; send them again.")));
            var merged = new Dictionary<long, MeterReading>(stored);
            foreach (var w in writes.Where(w => written.ContainsKey(w.Upload.Index))) merged[w.Reading.Interval.Start.UtcTicks] = w.Reading;
            issues.AddRange(MeterSeries.For(id, merged.Values).Gaps(range).Select(g => new MeterIssue(MeterIssueKind.Gap, id, g, $"no reading covers {g}")));
            if (writes.Where(w => written.ContainsKey(w.Upload.Index)).Select(w => w.Reading).MaxBy(r => r.Interval.Start) is { } newest)
                await UpdateMeterPointAsync(station, point, newest, now, cancellationToken);
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

    private static string DayRowKey(string kind, DateOnly day) => kind + DayKey(day);

    /// <summary>The station's stored days of <paramref name="kind"/> among <paramref name="days"/>: one point read per day, in parallel.</summary>
    private async Task<Dictionary<DateOnly, StoredDay>> ReadDaysAsync(string stationId, string kind, IEnumerable<DateOnly> days, CancellationToken cancellationToken)
    {
        var read = await Task.WhenAll(days.Distinct().Select(async day =>
        {
            var e = await MeterDays.GetEntityIfExistsAsync<TableEntity>(stationId, DayRowKey(kind, day), cancellationToken: cancellationToken);
            var readings = new SortedDictionary<long, MeterReading>();
            if (!e.HasValue) return new StoredDay(day, readings, null);
            foreach (var r in PackedMeterDay.Decode(stationId, day, e.Value!.GetBinary(PackedMeterDay.Property)))
                readings[r.Interval.Start.UtcTicks] = r;
            return new StoredDay(day, readings, e.Value.ETag);
        }));
        return read.ToDictionary(d => d.Day);
    }

    /// <summary>
    /// Writes <paramref name="changes"/> (each replacing the interval with its start, if any) into the days read as
    /// <paramref name="days"/>, each day added or replaced under the ETag it was read with, up to
    /// <see cref="DaysPerTransaction"/> days per transaction. Returns the days not written because another upload
    /// changed them first (read them again and plan again).
    /// </summary>
    private async Task<HashSet<DateOnly>> WriteDaysAsync(
        string stationId, string kind, Dictionary<DateOnly, StoredDay> days, IEnumerable<MeterReading> changes, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var lost = new HashSet<DateOnly>();
        var actions = changes.GroupBy(r => DayOf(r.Interval.Start)).Select(g =>
        {
            var day = days[g.Key];
            var readings = new SortedDictionary<long, MeterReading>(day.Readings);
            foreach (var r in g) readings[r.Interval.Start.UtcTicks] = r;
            var entity = new TableEntity(stationId, DayRowKey(kind, g.Key))
            {
                [PackedMeterDay.Property] = PackedMeterDay.Encode(g.Key, readings.Values), ["UpdatedAt"] = now,
            };
            return (g.Key, Action: day.ETag is { } etag
                ? new TableTransactionAction(TableTransactionActionType.UpdateReplace, entity, etag)
                : new TableTransactionAction(TableTransactionActionType.Add, entity));
        }).ToList();
        foreach (var chunk in actions.Chunk(DaysPerTransaction))
        {
            try
            {
                await MeterDays.SubmitCheckedTransactionAsync(chunk.Select(c => c.Action), cancellationToken);
            }
            catch (TableTransactionFailedException e) when (e.Status is 409 or 412)
            {
                // Another upload of this station wrote one of these days first: nothing of this chunk was written.
                lost.UnionWith(chunk.Select(c => c.Key));
            }
        }
        return lost;
    }

    /// <summary>Readings of <paramref name="stationId"/> starting in <paramref name="range"/>, by start time, each with its revision count (1 + corrections).</summary>
    public Task<IReadOnlyList<MeterReading>> GetReadingsAsync(string stationId, TimeWindow range, CancellationToken cancellationToken) =>
        ReadRangeAsync(stationId, MeteredKind, range, cancellationToken);

    private async Task<IReadOnlyList<MeterReading>> ReadRangeAsync(string stationId, string kind, TimeWindow range, CancellationToken cancellationToken)
    {
        var days = new List<DateOnly>();
        for (var d = DayOf(range.Start); d <= DayOf(range.End.AddTicks(-1)); d = d.AddDays(1)) days.Add(d);
        return (await ReadDaysAsync(stationId, kind, days, cancellationToken)).Values.SelectMany(d => d.Readings.Values)
            .Where(r => r.Interval.Start >= range.Start && r.Interval.Start < range.End).OrderBy(r => r.Interval.Start).ToList();
    }

    // ---- declared schedules ----

    /// <summary>
    /// Stores a station's declared baseline schedule, replacing declared intervals with the same start, merged into its
    /// days under their ETags (all days again after a lost race: replacing an interval with itself changes nothing).
    /// False when other declarations of the station kept changing the same days.
    /// </summary>
    public async Task<bool> TryPutDeclaredScheduleAsync(string stationId, IReadOnlyList<MeterReading> schedule, DateTimeOffset now, CancellationToken cancellationToken)
    {
        for (var attempt = 1; attempt <= MaxMeterAttempts; attempt++)
        {
            var days = await ReadDaysAsync(stationId, DeclaredKind, schedule.Select(r => DayOf(r.Interval.Start)), cancellationToken);
            if ((await WriteDaysAsync(stationId, DeclaredKind, days, schedule, now, cancellationToken)).Count == 0) return true;
        }
        return false;
    }

    public Task<IReadOnlyList<MeterReading>> GetDeclaredScheduleAsync(string stationId, TimeWindow range, CancellationToken cancellationToken) =>
        ReadRangeAsync(stationId, DeclaredKind, range, cancellationToken);

    // ---- metering points (latest reading; stations behind a transformer) ----

    public async Task<MeterPoint?> GetMeterPointAsync(string stationId, CancellationToken cancellationToken) =>
        (await GetAsync<MeterPoint>(MeterPoints, stationId, Doc, cancellationToken))?.Value;

    /// <summary>The metering points behind a transformer (those that have sent readings), with their latest readings: the member list, then one point read each.</summary>
    public async Task<IReadOnlyList<MeterPoint>> GetMeterPointsAsync(string transformerId, CancellationToken cancellationToken)
    {
        var members = await QueryAsync<MeterPointMember>(MeterPoints, TableClient.CreateQueryFilter($"PartitionKey eq {TransformerPointsKey(transformerId)}"), cancellationToken);
        var points = new ConcurrentBag<MeterPoint>();
        await Parallel.ForEachAsync(members, InParallel(cancellationToken), async (m, ct) =>
        {
            if (await GetMeterPointAsync(m.StationId, ct) is { } p) points.Add(p);
        });
        return points.OrderBy(p => p.StationId, StringComparer.Ordinal).ToList();
    }

    /// <summary>A station behind a transformer that has sent readings (row <c>t~{transformerId}</c>/station id, written once, before its point).</summary>
    private sealed record MeterPointMember(string StationId);

    /// <summary>
    /// Makes <paramref name="newest"/> the point's latest reading unless a later one is there already (a late upload of an
    /// older interval never moves it back), guarded by its ETag, starting from <paramref name="known"/> (as read before
    /// the upload; null for a station without a point yet, which first joins its transformer's member list).
    /// </summary>
    private async Task UpdateMeterPointAsync(ChargingStation station, Stored<MeterPoint>? known, MeterReading newest, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var candidate = new MeterPoint(station.Id, station.CpoId, station.TransformerId, newest, now);
        if (known is null)
        {
            try
            {
                await MeterPoints.AddEntityAsync(ToEntity(TransformerPointsKey(station.TransformerId), station.Id, new MeterPointMember(station.Id)), cancellationToken);
            }
            catch (RequestFailedException e) when (e.Status == 409)
            {
                // A concurrent first upload of the station added it.
            }
        }
        for (var attempt = 1; ; attempt++)
        {
            var current = attempt == 1 ? known : await GetAsync<MeterPoint>(MeterPoints, station.Id, Doc, cancellationToken);
            if (current?.Value is { } stored && stored.Latest.Interval.Start >= newest.Interval.Start) return;
            try
            {
                if (current is { } c) await MeterPoints.UpdateEntityAsync(ToEntity(station.Id, Doc, candidate), c.ETag, TableUpdateMode.Replace, cancellationToken);
                else await MeterPoints.AddEntityAsync(ToEntity(station.Id, Doc, candidate), cancellationToken);
                return;
            }
            catch (RequestFailedException e) when (e.Status is 409 or 412 && attempt < MaxMeterAttempts)
            {
                // Another upload of this station wrote first: decide again on what it stored.
            }
        }
    }

    // ---- activations (written at Awarded): late-data cut-off and X-of-Y exclusions ----

    private sealed record ActivationRow(string RequestId, TimeWindow Window);

    /// <summary>Records every awarded station's activation window (idempotent upserts, so a retried step writes them again).</summary>
    public Task RecordActivationsAsync(FlexRequest request, CancellationToken cancellationToken) =>
        Parallel.ForEachAsync(request.Awards.SelectMany(a => a.StationIds).Distinct(),
            new ParallelOptions { MaxDegreeOfParallelism = MeteringParallelism, CancellationToken = cancellationToken },
            async (station, ct) => await Activations.UpsertEntityAsync(
                ToEntity(station, Ticks(request.Delivery.Start) + "_" + request.Id, new ActivationRow(request.Id, request.Delivery)), TableUpdateMode.Replace, ct));

    private async Task<List<ActivationRow>> GetActivationsAsync(string stationId, DateTimeOffset from, DateTimeOffset to, CancellationToken cancellationToken) =>
        await QueryAsync<ActivationRow>(Activations, TableClient.CreateQueryFilter($"PartitionKey eq {stationId} and RowKey ge {Ticks(from)} and RowKey lt {Ticks(to)}"), cancellationToken);

    /// <summary>The meter data ranges of <paramref name="stationId"/> overlapping <paramref name="range"/> that a verification already used.</summary>
    private async Task<List<ActivationRow>> ClosedWindowsAsync(string stationId, TimeWindow range, CancellationToken cancellationToken)
    {
        // A window is at most a day long and MBMA looks back at most 25 hours (a day and the longest reading): activations starting that far back can still cover the range.
        var closed = new List<ActivationRow>();
        foreach (var a in await GetActivationsAsync(stationId, range.Start - TimeSpan.FromDays(5), range.End + TimeSpan.FromDays(4), cancellationToken))
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
    /// schedules (declared baseline), each awarded station's past activations (X-of-Y skips their days) and their registered maximum
    /// power (which caps every baseline).
    /// </summary>
    public async Task<DeliveryEvidence> LoadEvidenceAsync(FlexRequest request, CancellationToken cancellationToken)
    {
        var rules = request.Verification;
        var range = rules.EvidenceRange(request.Delivery);
        var readings = new ConcurrentBag<MeterReading>();
        var declared = new ConcurrentBag<MeterReading>();
        var activations = new ConcurrentDictionary<string, IReadOnlyList<TimeWindow>>();
        var power = new ConcurrentDictionary<string, Kilowatts>();
        await Parallel.ForEachAsync(request.Awards.SelectMany(a => a.StationIds.Select(s => (a.CpoId, Station: s))).Distinct(),
            new ParallelOptions { MaxDegreeOfParallelism = MeteringParallelism, CancellationToken = cancellationToken }, async (owned, ct) =>
            {
                var station = owned.Station;
                if (await GetStationAsync(owned.CpoId, station, ct) is { } registered) power[station] = registered.Value.MaxPower;
                foreach (var r in await GetReadingsAsync(station, range, ct)) readings.Add(r);
                if (rules.Baseline == BaselineMethod.Declared)
                    foreach (var d in await GetDeclaredScheduleAsync(station, request.Delivery, ct)) declared.Add(d);
                if (rules.Baseline is BaselineMethod.HighXOfY or BaselineMethod.MidXOfY)
                    activations[station] = (await GetActivationsAsync(station, range.Start, request.Delivery.Start, ct)).Select(a => a.Window).ToList();
            });
        return new DeliveryEvidence(readings.ToList(), rules.Baseline == BaselineMethod.Declared ? declared.ToList() : null,
            activations, power);
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
/// The packed form of one station's intervals that start on one UTC day: a format byte (1), then per interval, by
/// start, 28 little-endian bytes: start as ticks after the day's midnight (int64), length in ticks (int64), energy in
/// watt-hours (int64) and the revision count (int32, 1 + corrections; the value is the latest). Intervals cover at
/// least a minute and never overlap, so a day holds at most 1,440 of them: 40,321 bytes, under Azure's 64 KiB property
/// limit, so no day needs splitting into hours.
/// </summary>
public static class PackedMeterDay
{
    /// <summary>The binary property that holds the intervals.</summary>
    public const string Property = "Intervals";

    /// <summary>Bytes per interval.</summary>
    public const int IntervalBytes = 28;

    private const byte Format = 1;

    /// <summary>Packs <paramref name="readings"/> (all starting on <paramref name="day"/>, sorted by start).</summary>
    /// <exception cref="ArgumentException">A reading starts on another day.</exception>
    public static byte[] Encode(DateOnly day, IReadOnlyCollection<MeterReading> readings)
    {
        var midnight = Midnight(day);
        var data = new byte[1 + readings.Count * IntervalBytes];
        data[0] = Format;
        var span = data.AsSpan(1);
        foreach (var r in readings)
        {
            var offset = r.Interval.Start.UtcTicks - midnight;
            if (offset is < 0 or >= TimeSpan.TicksPerDay) throw new ArgumentException($"{r.Interval} does not start on {day}", nameof(readings));
            BinaryPrimitives.WriteInt64LittleEndian(span, offset);
            BinaryPrimitives.WriteInt64LittleEndian(span[8..], r.Interval.Duration.Ticks);
            BinaryPrimitives.WriteInt64LittleEndian(span[16..], r.Energy.WattHours);
            BinaryPrimitives.WriteInt32LittleEndian(span[24..], r.Revision);
            span = span[IntervalBytes..];
        }
        return data;
    }

    /// <summary>The readings packed in <paramref name="bytes"/>, each with its revision count.</summary>
    /// <exception cref="FormatException">The data is not in this format.</exception>
    public static List<MeterReading> Decode(string stationId, DateOnly day, byte[] bytes)
    {
        if (bytes.Length == 0 || bytes[0] != Format || (bytes.Length - 1) % IntervalBytes != 0)
            throw new FormatException($"meter day {stationId}/{day} is not packed in format {Format}");
        var midnight = Midnight(day);
        var readings = new List<MeterReading>((bytes.Length - 1) / IntervalBytes);
        for (var i = 1; i < bytes.Length; i += IntervalBytes)
        {
            var span = bytes.AsSpan(i, IntervalBytes);
            var start = new DateTimeOffset(midnight + BinaryPrimitives.ReadInt64LittleEndian(span), TimeSpan.Zero);
            readings.Add(new MeterReading(stationId, new TimeWindow(start, start.AddTicks(BinaryPrimitives.ReadInt64LittleEndian(span[8..]))),
                new KilowattHours(BinaryPrimitives.ReadInt64LittleEndian(span[16..]) / 1000m), BinaryPrimitives.ReadInt32LittleEndian(span[24..])));
        }
        return readings;
    }

    private static long Midnight(DateOnly day) => day.ToDateTime(TimeOnly.MinValue, DateTimeKind.Utc).Ticks;
}
