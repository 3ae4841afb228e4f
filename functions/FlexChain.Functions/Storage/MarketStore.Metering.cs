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

    /// <summary>The interval was stored with another value; the previous value is kept in a history row.</summary>
    Corrected = 3,

    /// <summary>Refused; the result carries the status, rule and reason.</summary>
    Rejected = 4,
}

/// <summary>One reading of an upload, with its index in the request body.</summary>
public sealed record ReadingUpload(int Index, MeterReading Reading);

/// <summary>The result for one uploaded reading.</summary>
public sealed record ReadingResult(int Index, string StationId, ReadingOutcome Outcome, int Status, string? Rule = null, string? Detail = null);

/// <summary>What an upload did: a result per item and the duplicates, conflicts and gaps found in it and against stored data.</summary>
public sealed record IngestResult(IReadOnlyList<ReadingResult> Items, IReadOnlyList<MeterIssue> Issues);

/// <summary>A station's metering point as the metering views need it: owner, transformer and latest reading.</summary>
/// <param name="Latest">The reading that starts latest, or null while the first upload is being written.</param>
/// <param name="UpdatedAt">When <paramref name="Latest"/> was received.</param>
/// <param name="StoredUntil">
/// No stored reading of the station ends after this instant (the end of the latest-ending reading written, or about to
/// be written: it moves before the readings do). Null on points written before it was kept.
/// </param>
public sealed record MeterPoint(string StationId, string CpoId, string TransformerId, MeterReading? Latest, DateTimeOffset UpdatedAt, DateTimeOffset? StoredUntil = null);

/// <summary>A declared-baseline quality factor of one award (MAESHA: 1 - RMSE / max(mean baseline, 1)).</summary>
public sealed record QualityEntry(string CpoId, string RequestId, string AwardId, TimeWindow Window, decimal QualityFactor);

/// <summary>
/// Meter data: readings, their correction history and declared schedules in <c>readings</c> (PartitionKey
/// <c>{stationId}~{yyyyMMdd}</c> of the interval start, RowKey <c>r{ticks}</c> current, <c>h{ticks}~{revision}</c>
/// replaced values, <c>d{ticks}</c> declared schedule), metering points with their latest reading in
/// <c>meterpoints</c> (by station, and copied under <c>t~{transformerId}</c> for the DSO's views), activation windows
/// per station in <c>activations</c> (written when a request is awarded) and declared-baseline quality per CPO in
/// <c>quality</c>. A day partition holds at most 1,440 one-minute readings; a correction and its history row share it
/// and go in one transaction.
/// </summary>
public sealed partial class MarketStore
{
    /// <summary>The longest reading accepted (readings cover 1 to 60 minutes).</summary>
    public static readonly TimeSpan MaxReadingLength = TimeSpan.FromHours(1);

    private const int MeteringParallelism = 8;

    private TableClient MeterPoints => service.GetTableClient("meterpoints");
    private TableClient Activations => service.GetTableClient("activations");
    private TableClient Quality => service.GetTableClient("quality");

    private static string ReadingPartition(string stationId, DateTimeOffset t) => stationId + "~" + DayKey(DateOnly.FromDateTime(t.UtcDateTime));

    private static string TransformerPointsKey(string transformerId) => "t~" + transformerId;

    // ---- ingestion ----

    /// <summary>
    /// Ingests readings of stations the caller owns (checked by the caller): per station, duplicates and overlaps inside
    /// the upload, overlaps with stored readings of other boundaries and readings of an already verified delivery window
    /// are rejected; the rest is stored, left unchanged or corrected (the old value goes to a history row in the same
    /// transaction). Writes are grouped by day partition, at most 100 entities per transaction.
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
        for (var attempt = 1; ; attempt++)
        {
            var point = await GetAsync<MeterPoint>(MeterPoints, id, Doc, cancellationToken);
            var storedUntil = StoredUntil(point?.Value);
            // Stored readings never overlap and all end by the mark, so an upload that starts at or after it (new data in
            // time order, the common case) meets none of them: the range read, a scan of the table on Azurite, is skipped.
            var stored = point is null || point.Value.Value.StoredUntil is { } until && range.Start >= until
                ? new Dictionary<long, StoredRow>()
                : await ReadStoredAsync(id, "r", new TimeWindow(range.Start - MaxReadingLength, range.End), cancellationToken);
            var (results, issues, writes) = Plan(id, sorted, stored, closed);
            if (writes.Count > 0 && (storedUntil is null || writes.Max(w => w.Upload.Reading.Interval.End) > storedUntil))
            {
                var end = writes.Max(w => w.Upload.Reading.Interval.End);
                // The mark moves before the readings are written: a crash in between leaves it ahead of the data, never behind.
                point = await TryMoveMarkAsync(station, point, storedUntil is { } u && u > end ? u : end, now, cancellationToken);
                if (point is null)
                {
                    // Another upload of this station moved the mark first: decide again on what it stored.
                    if (attempt < MaxMeterPointAttempts) continue;
                    results.AddRange(writes.Select(w => Rejected(w.Upload, id, "concurrent-update", "Another upload changed these intervals at the same time; send them again.")));
                    return (results, issues);
                }
            }
            await WritePlannedAsync(id, writes, results, now, cancellationToken);

            var ok = results.Where(x => x.Outcome is ReadingOutcome.Stored or ReadingOutcome.Corrected).Select(x => x.Index).ToHashSet();
            var written = writes.Where(w => ok.Contains(w.Upload.Index)).Select(w => w.Upload.Reading).ToList();
            var merged = stored.ToDictionary(kv => kv.Key, kv => kv.Value.Reading);
            foreach (var w in written) merged[w.Interval.Start.UtcTicks] = w;
            issues.AddRange(MeterSeries.For(id, merged.Values).Gaps(range).Select(g => new MeterIssue(MeterIssueKind.Gap, id, g, $"no reading covers {g}")));
            if (written.Count > 0) await UpdateMeterPointAsync(station, point, written.MaxBy(r => r.Interval.Start)!, now, cancellationToken);
            return (results, issues);
        }
    }

    /// <summary>
    /// Checks an upload (sorted by start) against itself, the verified windows and the stored readings: the results of
    /// items that need no write, the issues found, and the writes (with the row each replaces, if any).
    /// </summary>
    private static (List<ReadingResult> Results, List<MeterIssue> Issues, List<(ReadingUpload Upload, StoredRow? Existing)> Writes) Plan(
        string id, List<ReadingUpload> sorted, Dictionary<long, StoredRow> stored, List<ActivationRow> closed)
    {
        var storedByStart = stored.Values.Select(v => v.Reading).OrderBy(v => v.Interval.Start).ToList();
        var results = new List<ReadingResult>();
        var issues = new List<MeterIssue>();
        var writes = new List<(ReadingUpload Upload, StoredRow? Existing)>();
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
            if (existing is not null && existing.Reading == r)
                results.Add(new(u.Index, id, ReadingOutcome.Unchanged, 200));
            else
                writes.Add((u, existing));
        }
        return (results, issues, writes);
    }

    /// <summary>Writes the planned readings grouped by day partition, at most 100 entities per transaction, adding their results.</summary>
    private async Task WritePlannedAsync(
        string id, List<(ReadingUpload Upload, StoredRow? Existing)> writes, List<ReadingResult> results, DateTimeOffset now, CancellationToken cancellationToken)
    {
        foreach (var partition in writes.GroupBy(w => ReadingPartition(id, w.Upload.Reading.Interval.Start)))
        {
            var batch = new List<(ReadingUpload Upload, StoredRow? Existing)>();
            var entities = 0;
            foreach (var w in partition)
            {
                var size = w.Existing is null ? 1 : 2;
                if (entities + size > 100)
                {
                    results.AddRange(await WriteReadingsAsync(partition.Key, id, batch, now, cancellationToken));
                    (batch, entities) = ([], 0);
                }
                batch.Add(w);
                entities += size;
            }
            if (batch.Count > 0) results.AddRange(await WriteReadingsAsync(partition.Key, id, batch, now, cancellationToken));
        }
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

    private sealed record StoredRow(MeterReading Reading, int Revision, ETag ETag);

    private async Task<IEnumerable<ReadingResult>> WriteReadingsAsync(
        string partition, string stationId, List<(ReadingUpload Upload, StoredRow? Existing)> batch, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var actions = new List<TableTransactionAction>();
        foreach (var (u, existing) in batch)
        {
            var rowKey = "r" + Ticks(u.Reading.Interval.Start);
            if (existing is null)
                actions.Add(new(TableTransactionActionType.Add, ReadingEntity(partition, rowKey, u.Reading, 1, now)));
            else
            {
                actions.Add(new(TableTransactionActionType.UpdateReplace, ReadingEntity(partition, rowKey, u.Reading, existing.Revision + 1, now), existing.ETag));
                var history = ReadingEntity(partition, "h" + Ticks(u.Reading.Interval.Start) + "~" + existing.Revision.ToString("D6", CultureInfo.InvariantCulture),
                    existing.Reading, existing.Revision, now);
                actions.Add(new(TableTransactionActionType.Add, history));
            }
        }
        try
        {
            await Readings.SubmitCheckedTransactionAsync(actions, cancellationToken);
            return batch.Select(w => w.Existing is null
                ? new ReadingResult(w.Upload.Index, stationId, ReadingOutcome.Stored, 201)
                : new ReadingResult(w.Upload.Index, stationId, ReadingOutcome.Corrected, 200));
        }
        catch (TableTransactionFailedException e) when (e.Status is 409 or 412)
        {
            // Another upload of the same intervals won the race: nothing of this chunk was written; the client retries.
            return batch.Select(w => Rejected(w.Upload, stationId, "concurrent-update", "Another upload changed these intervals at the same time; send them again."));
        }
    }

    private static TableEntity ReadingEntity(string pk, string rk, MeterReading r, int revision, DateTimeOffset receivedAt) =>
        new(pk, rk) { ["End"] = r.Interval.End, ["Wh"] = r.Energy.WattHours, ["Revision"] = revision, ["ReceivedAt"] = receivedAt };

    private static MeterReading ReadingOf(string stationId, TableEntity e) =>
        new(stationId, new TimeWindow(new DateTimeOffset(long.Parse(e.RowKey.AsSpan(1, 19), CultureInfo.InvariantCulture), TimeSpan.Zero), e.GetDateTimeOffset("End")!.Value),
            new KilowattHours(e.GetInt64("Wh")!.Value / 1000m));

    /// <summary>Current (<paramref name="kind"/> <c>r</c>) or declared (<c>d</c>) rows starting in <paramref name="range"/>, by start ticks.</summary>
    private async Task<Dictionary<long, StoredRow>> ReadStoredAsync(string stationId, string kind, TimeWindow range, CancellationToken cancellationToken)
    {
        var rows = new Dictionary<long, StoredRow>();
        var filter = TableClient.CreateQueryFilter(
            $"PartitionKey ge {ReadingPartition(stationId, range.Start)} and PartitionKey le {ReadingPartition(stationId, range.End)} and RowKey ge {kind + Ticks(range.Start)} and RowKey lt {kind + Ticks(range.End)}");
        await foreach (var e in Readings.QueryAsync<TableEntity>(filter, cancellationToken: cancellationToken))
        {
            var r = ReadingOf(stationId, e);
            rows[r.Interval.Start.UtcTicks] = new StoredRow(r, e.GetInt32("Revision") ?? 1, e.ETag);
        }
        return rows;
    }

    /// <summary>Readings of <paramref name="stationId"/> starting in <paramref name="range"/>, by start time, each with its revision (1 + corrections).</summary>
    public async Task<IReadOnlyList<MeterReading>> GetReadingsAsync(string stationId, TimeWindow range, CancellationToken cancellationToken) =>
        (await ReadStoredAsync(stationId, "r", range, cancellationToken)).Values.Select(s => s.Reading with { Revision = s.Revision }).OrderBy(r => r.Interval.Start).ToList();

    /// <summary>Replaced values of <paramref name="stationId"/>'s readings starting in <paramref name="range"/>, oldest first.</summary>
    public async Task<IReadOnlyList<(MeterReading Reading, int Revision)>> GetReadingHistoryAsync(string stationId, TimeWindow range, CancellationToken cancellationToken)
    {
        var list = new List<(MeterReading, int)>();
        var filter = TableClient.CreateQueryFilter(
            $"PartitionKey ge {ReadingPartition(stationId, range.Start)} and PartitionKey le {ReadingPartition(stationId, range.End)} and RowKey ge {"h" + Ticks(range.Start)} and RowKey lt {"h" + Ticks(range.End)}");
        await foreach (var e in Readings.QueryAsync<TableEntity>(filter, cancellationToken: cancellationToken))
            list.Add((ReadingOf(stationId, e), e.GetInt32("Revision") ?? 1));
        return list;
    }

    // ---- declared schedules ----

    /// <summary>Stores (replaces, interval by interval) a station's declared baseline schedule, 100 intervals per transaction.</summary>
    public async Task PutDeclaredScheduleAsync(string stationId, IReadOnlyList<MeterReading> schedule, DateTimeOffset now, CancellationToken cancellationToken)
    {
        foreach (var partition in schedule.GroupBy(r => ReadingPartition(stationId, r.Interval.Start)))
            foreach (var chunk in partition.Chunk(100))
                await Readings.SubmitCheckedTransactionAsync(chunk.Select(r => new TableTransactionAction(TableTransactionActionType.UpsertReplace,
                    ReadingEntity(partition.Key, "d" + Ticks(r.Interval.Start), r, 1, now))), cancellationToken);
    }

    public async Task<IReadOnlyList<MeterReading>> GetDeclaredScheduleAsync(string stationId, TimeWindow range, CancellationToken cancellationToken) =>
        (await ReadStoredAsync(stationId, "d", range, cancellationToken)).Values.Select(s => s.Reading).OrderBy(r => r.Interval.Start).ToList();

    // ---- metering points (latest reading; stations behind a transformer) ----

    public async Task<MeterPoint?> GetMeterPointAsync(string stationId, CancellationToken cancellationToken) =>
        (await GetAsync<MeterPoint>(MeterPoints, stationId, Doc, cancellationToken))?.Value;

    /// <summary>The metering points behind a transformer (those that have sent readings), with their latest readings.</summary>
    public async Task<IReadOnlyList<MeterPoint>> GetMeterPointsAsync(string transformerId, CancellationToken cancellationToken) =>
        await QueryAsync<MeterPoint>(MeterPoints, TableClient.CreateQueryFilter($"PartitionKey eq {TransformerPointsKey(transformerId)}"), cancellationToken);

    /// <summary>How often a metering point update that lost a race to another upload of the same station is tried again.</summary>
    private const int MaxMeterPointAttempts = 8;

    /// <summary>The end of every reading stored for the point; legacy points without the mark fall back to their latest reading.</summary>
    private static DateTimeOffset? StoredUntil(MeterPoint? point) => point?.StoredUntil ?? point?.Latest?.Interval.End;

    /// <summary>
    /// Moves the point's <see cref="MeterPoint.StoredUntil"/> mark to <paramref name="until"/>, creating the point if
    /// <paramref name="point"/> is null, guarded by its ETag; null when another upload changed the point first.
    /// </summary>
    private async Task<Stored<MeterPoint>?> TryMoveMarkAsync(ChargingStation station, Stored<MeterPoint>? point, DateTimeOffset until, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var next = point is { } p
            ? p.Value with { StoredUntil = until }
            : new MeterPoint(station.Id, station.CpoId, station.TransformerId, null, now, until);
        try
        {
            var etag = point is { } current
                ? await MeterPoints.UpdateEntityAsync(ToEntity(station.Id, Doc, next), current.ETag, TableUpdateMode.Replace, cancellationToken)
                : await MeterPoints.AddEntityAsync(ToEntity(station.Id, Doc, next), cancellationToken);
            return new Stored<MeterPoint>(next, etag.Headers.ETag!.Value);
        }
        catch (RequestFailedException e) when (e.Status is 409 or 412)
        {
            return null;
        }
    }

    /// <summary>
    /// Makes <paramref name="newest"/> the point's latest reading unless a later one is there already (a late upload of an
    /// older interval never moves it back), on the station's row and then its transformer's copy, each guarded by its ETag.
    /// </summary>
    private async Task UpdateMeterPointAsync(ChargingStation station, Stored<MeterPoint>? known, MeterReading newest, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var candidate = new MeterPoint(station.Id, station.CpoId, station.TransformerId, newest, now, StoredUntil(known?.Value));
        var latest = await MergeLatestAsync(station.Id, Doc, known, candidate, cancellationToken);
        await MergeLatestAsync(TransformerPointsKey(station.TransformerId), station.Id, null, latest, cancellationToken);
    }

    /// <summary>
    /// Writes <paramref name="candidate"/> over the stored point unless the stored latest reading starts later (then that one
    /// and its time are kept), with If-Match; reads again and retries when another upload wrote first. Returns what is stored.
    /// </summary>
    private async Task<MeterPoint> MergeLatestAsync(string pk, string rk, Stored<MeterPoint>? known, MeterPoint candidate, CancellationToken cancellationToken)
    {
        for (var attempt = 1; ; attempt++)
        {
            var current = known ?? await GetAsync<MeterPoint>(MeterPoints, pk, rk, cancellationToken);
            var stored = current?.Value;
            var next = candidate with { StoredUntil = Later(stored?.StoredUntil, candidate.StoredUntil) };
            if (stored?.Latest is { } latest && latest.Interval.Start > candidate.Latest!.Interval.Start)
                next = next with { Latest = latest, UpdatedAt = stored.UpdatedAt };
            if (next == stored) return next;
            try
            {
                if (current is { } c) await MeterPoints.UpdateEntityAsync(ToEntity(pk, rk, next), c.ETag, TableUpdateMode.Replace, cancellationToken);
                else await MeterPoints.AddEntityAsync(ToEntity(pk, rk, next), cancellationToken);
                return next;
            }
            catch (RequestFailedException e) when (e.Status is 409 or 412 && attempt < MaxMeterPointAttempts)
            {
                known = null;
            }
        }
    }

    private static DateTimeOffset? Later(DateTimeOffset? a, DateTimeOffset? b) => a is null ? b : b is null || a > b ? a : b;

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
