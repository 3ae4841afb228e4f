using System.Globalization;
using System.Security.Claims;
using FlexChain.Domain;
using FlexChain.Functions.Auth;
using FlexChain.Functions.Storage;
using FluentValidation;
using Microsoft.AspNetCore.Http.HttpResults;

namespace FlexChain.Functions.Api;

/// <summary>
/// Meter data (DOMAIN.md section 5): interval readings per station as energy (kWh) or average power (kW) at any
/// resolution from 1 to 60 minutes, single-station and multi-station uploads of up to 10,000 readings (JSON, or CSV for
/// multi-station uploads; either gzip-compressed if wished) with a result per item, declared baseline schedules, the declared baseline's quality per CPO, and views: a station's latest reading
/// and time series (its CPO, or the DSO of its transformer) and a transformer's load per interval (its DSO).
/// </summary>
public static class MeteringApi
{
    /// <summary>Most readings in one upload.</summary>
    public const int MaxReadingsPerCall = 10_000;

    /// <summary>The widest range one station time-series query returns.</summary>
    public static readonly TimeSpan MaxSeriesRange = TimeSpan.FromDays(7);

    /// <summary>The widest range one transformer load query aggregates.</summary>
    public static readonly TimeSpan MaxLoadRange = TimeSpan.FromDays(2);

    /// <summary>MAESHA's target for the monthly average quality factor of a declared baseline.</summary>
    public const decimal QualityTarget = 0.95m;

    public static RouteGroupBuilder MapMeteringApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/v1").WithTags("Metering").RequireAuthorization();
        group.MapPost("/stations/{id}/readings", PostStationReadings).Validate<PostMeterReadingsRequest>().WithBodyLimit(BodyLimit.Bulk).AcceptsGzip()
            .RequireAuthorization(Policies.Cpo);
        group.MapPost("/readings", PostReadings).Validate<BulkMeterReadingsRequest>().WithBodyLimit(BodyLimit.Bulk).AcceptsGzip().RequireAuthorization(Policies.Cpo);
        // The same path for CSV: routing picks the endpoint by Content-Type (415 for any other type).
        group.MapPost("/readings", PostReadingsCsv).Accepts<string>(ReadingsCsv.ContentType).WithBodyLimit(BodyLimit.Bulk).AcceptsGzip()
            .WithDescription("Readings as CSV (text/csv, UTF-8, comma-separated, no quoting): the header 'stationId,start,end,energyKwh' or "
                + "'stationId,start,duration,energyKwh', then one reading per row: station id, start and end as UTC ISO 8601 ending in Z, or the "
                + "length as an ISO 8601 duration (PT15M), and kWh with a dot. Up to 10,000 rows; a result per row (rows[i]); gzip accepted.")
            .RequireAuthorization(Policies.Cpo);
        group.MapGet("/stations/{id}/readings", GetStationReadings);
        group.MapGet("/stations/{id}/readings/latest", GetLatestReading);
        group.MapPut("/stations/{id}/declared-schedule", PutDeclaredSchedule).Validate<PutDeclaredScheduleRequest>().RequireAuthorization(Policies.Cpo);
        group.MapGet("/transformers/{id}/load", GetTransformerLoad).RequireAuthorization(Policies.Dso);
        group.MapGet("/transformers/{id}/readings/latest", GetTransformerLatest).RequireAuthorization(Policies.Dso);
        group.MapGet("/participants/me/quality", GetMyQuality).RequireAuthorization(Policies.Cpo);
        return group;
    }

    /// <summary>Readings of one of the caller's stations: 200 when every item was stored, unchanged or corrected, else 207.</summary>
    public static async Task<Results<Ok<MeterReadingsResponse>, JsonHttpResult<MeterReadingsResponse>, NotFound>> PostStationReadings(
        string id, PostMeterReadingsRequest body, HttpContext http, MarketStore store, TimeProvider clock, CancellationToken cancellationToken)
    {
        var station = await store.GetStationAsync(http.User.ParticipantId(), id, cancellationToken);
        if (station is null) return TypedResults.NotFound();
        var uploads = body.Readings!.Select((r, i) => new ReadingUpload(i, ToReading(id, r, $"readings[{i}]."))).ToList();
        var (plausible, impossible) = WithinStationPower([(station.Value.Value, uploads)], "readings");
        return Respond(plausible.Count == 0 ? new IngestResult([], []) : await store.IngestReadingsAsync(plausible, clock.GetUtcNow(), cancellationToken), impossible, "readings");
    }

    /// <summary>Readings of many of the caller's stations (each item names its station); an unknown or foreign station rejects its items (404).</summary>
    public static async Task<Results<Ok<MeterReadingsResponse>, JsonHttpResult<MeterReadingsResponse>, NotFound>> PostReadings(
        BulkMeterReadingsRequest body, HttpContext http, MarketStore store, TimeProvider clock, CancellationToken cancellationToken)
    {
        var uploads = body.Readings!.Select((r, i) => new ReadingUpload(i, ToReading(r.StationId!, r, $"readings[{i}]."))).ToList();
        return await IngestOwnAsync(uploads, [], "readings", http, store, clock, cancellationToken);
    }

    /// <summary>
    /// Readings of many of the caller's stations as CSV (<see cref="ReadingsCsv"/>): a result per row; a row that cannot be
    /// read or breaks a rule gets its problem (400) and is not stored, the other rows are.
    /// </summary>
    public static async Task<Results<Ok<MeterReadingsResponse>, JsonHttpResult<MeterReadingsResponse>, NotFound>> PostReadingsCsv(
        HttpContext http, IValidator<MeterReadingItem> validator, MarketStore store, TimeProvider clock, CancellationToken cancellationToken)
    {
        var rows = await ReadingsCsv.ReadAsync(http.Request.Body, MaxReadingsPerCall, cancellationToken);
        var uploads = new List<ReadingUpload>();
        var bad = new List<ReadingResult>();
        foreach (var row in rows)
        {
            if (row.Problem is { } p)
            {
                bad.Add(new ReadingResult(row.Index, row.Item?.StationId ?? "", ReadingOutcome.Rejected, 400, p.Rule, p.Detail, p.Field));
                continue;
            }
            var result = validator.Validate(row.Item!);
            if (result.IsValid)
                uploads.Add(new ReadingUpload(row.Index, ToReading(row.Item!.StationId!, row.Item, $"rows[{row.Index}].")));
            else
                bad.Add(new ReadingResult(row.Index, row.Item!.StationId ?? "", ReadingOutcome.Rejected, 400, Problems.Rule(result.Errors[0].ErrorCode),
                    result.Errors[0].ErrorMessage, $"rows[{row.Index}].{Problems.JsonPath(result.Errors[0].PropertyName)}"));
        }
        return await IngestOwnAsync(uploads, bad, "rows", http, store, clock, cancellationToken);
    }

    /// <summary>
    /// Ingests the uploads of the caller's own stations; an unknown or foreign station rejects its items (404). Problems
    /// name the item as <paramref name="items"/><c>[i]</c> (<c>readings</c> in JSON, <c>rows</c> in CSV).
    /// </summary>
    private static async Task<Results<Ok<MeterReadingsResponse>, JsonHttpResult<MeterReadingsResponse>, NotFound>> IngestOwnAsync(
        List<ReadingUpload> uploads, List<ReadingResult> rejected, string items, HttpContext http, MarketStore store, TimeProvider clock, CancellationToken cancellationToken)
    {
        var cpo = http.User.ParticipantId();
        var byStation = uploads.GroupBy(u => u.Reading.StationId).ToList();
        var stations = new System.Collections.Concurrent.ConcurrentDictionary<string, ChargingStation?>();
        await Parallel.ForEachAsync(byStation.Select(g => g.Key), MarketStore.InParallel(cancellationToken),
            async (s, ct) => stations[s] = (await store.GetStationAsync(cpo, s, ct))?.Value);
        rejected.AddRange(byStation.Where(g => stations[g.Key] is null).SelectMany(g => g)
            .Select(u => new ReadingResult(u.Index, u.Reading.StationId, ReadingOutcome.Rejected, 404, "own-station", $"Station {u.Reading.StationId} is not one of yours.",
                $"{items}[{u.Index}].stationId")));
        var known = byStation.Where(g => stations[g.Key] is not null).Select(g => (stations[g.Key]!, (IReadOnlyList<ReadingUpload>)g.ToList())).ToList();
        var (plausible, impossible) = WithinStationPower(known, items);
        rejected.AddRange(impossible);
        return Respond(plausible.Count == 0 ? new IngestResult([], []) : await store.IngestReadingsAsync(plausible, clock.GetUtcNow(), cancellationToken), rejected, items);
    }

    /// <summary>
    /// Splits off readings above their station's power over their interval (<see cref="StationPower"/>): each is rejected
    /// (422), never stored. Stations left without readings are left out.
    /// </summary>
    private static (List<(ChargingStation, IReadOnlyList<ReadingUpload>)> Plausible, List<ReadingResult> Impossible) WithinStationPower(
        IEnumerable<(ChargingStation Station, IReadOnlyList<ReadingUpload> Uploads)> known, string items)
    {
        var impossible = new List<ReadingResult>();
        var plausible = known.Select(k => (k.Station, (IReadOnlyList<ReadingUpload>)k.Uploads.Where(u =>
        {
            if (StationPower.Problem(k.Station, u.Reading) is not { } problem) return true;
            impossible.Add(new ReadingResult(u.Index, u.Reading.StationId, ReadingOutcome.Rejected, 422, "station-power", problem, $"{items}[{u.Index}].energyKwh"));
            return false;
        }).ToList())).Where(p => p.Item2.Count > 0).ToList();
        return (plausible, impossible);
    }

    private static MeterReading ToReading(string stationId, MeterReadingItem r, string path)
    {
        var interval = new TimeWindow(r.Start!.Value, r.End!.Value);
        var energy = r.EnergyKwh is { } kwh
            ? KilowattHours.From(kwh, path + "energyKwh")
            : Kilowatts.From(r.PowerKw!.Value, path + "powerKw") * interval.Duration;
        return new MeterReading(stationId, interval, energy);
    }

    private static Results<Ok<MeterReadingsResponse>, JsonHttpResult<MeterReadingsResponse>, NotFound> Respond(IngestResult result, List<ReadingResult> rejected, string items)
    {
        var results = result.Items.Concat(rejected).OrderBy(i => i.Index).Select(i => new ReadingItemResult(i.Index, i.StationId, i.Status, i.Outcome.ToString(),
            i.Rule is null ? null : new BulkItemProblem(Problems.TitleFor(i.Status), i.Field ?? $"{items}[{i.Index}]", i.Rule, i.Detail!))).ToList();
        int Count(ReadingOutcome o) => results.Count(i => i.Outcome == o.ToString());
        var response = new MeterReadingsResponse(Count(ReadingOutcome.Stored), Count(ReadingOutcome.Unchanged), Count(ReadingOutcome.Corrected),
            Count(ReadingOutcome.Rejected), results, result.Issues.Select(MeterIssueResponse.From).ToList());
        return response.Rejected == 0 ? TypedResults.Ok(response) : TypedResults.Json(response, statusCode: StatusCodes.Status207MultiStatus);
    }

    /// <summary>
    /// A station's readings starting in [from, to) (default: the last 24 hours; at most 7 days), each with how many values
    /// were received for its interval (the latest is kept), and the gaps between them. Its CPO and the DSO of its
    /// transformer may read it.
    /// </summary>
    public static async Task<Results<Ok<StationReadingsResponse>, NotFound>> GetStationReadings(
        string id, string? from, string? to, HttpContext http, MarketStore store, TimeProvider clock, CancellationToken cancellationToken)
    {
        var range = Range(from, to, clock.GetUtcNow(), TimeSpan.FromDays(1), MaxSeriesRange);
        if (await ReadableOwnerAsync(id, http.User, store, cancellationToken) is not { } cpo) return TypedResults.NotFound();
        var readings = await store.GetReadingsAsync(cpo, id, range, cancellationToken);
        var gaps = MeterSeries.For(id, readings).Gaps(range).Select(g => new IntervalResponse(g.Start, g.End)).ToList();
        return TypedResults.Ok(new StationReadingsResponse(id, range.Start, range.End, readings.Select(ReadingResponse.From).ToList(), gaps));
    }

    /// <summary>The station's latest reading (the newest interval received), or 404 before its first reading.</summary>
    public static async Task<Results<Ok<LatestReadingResponse>, NotFound>> GetLatestReading(
        string id, HttpContext http, MarketStore store, CancellationToken cancellationToken)
    {
        if (await ReadableOwnerAsync(id, http.User, store, cancellationToken) is null
            || await store.GetMeterPointAsync(id, cancellationToken) is not { } point)
            return TypedResults.NotFound();
        return TypedResults.Ok(LatestReadingResponse.From(point));
    }

    /// <summary>
    /// Declares a station's baseline schedule (expected energy per interval) for a coming delivery: every interval must
    /// start in the future (409 <c>declaration-closed</c> otherwise). Intervals already declared are replaced.
    /// </summary>
    public static async Task<Results<Ok<DeclaredScheduleResponse>, NotFound>> PutDeclaredSchedule(
        string id, PutDeclaredScheduleRequest body, HttpContext http, MarketStore store, TimeProvider clock, CancellationToken cancellationToken)
    {
        if (await store.GetStationAsync(http.User.ParticipantId(), id, cancellationToken) is not { } station) return TypedResults.NotFound();
        var now = clock.GetUtcNow();
        var schedule = body.Intervals!.Select((r, i) => ToReading(id, r, $"intervals[{i}].")).ToList();
        for (var i = 0; i < schedule.Count; i++)
            if (schedule[i].Interval.Start <= now)
                throw new ApiProblemException(409, $"intervals[{i}].start", "declaration-closed",
                    $"The interval {schedule[i].Interval} has started; a baseline can only be declared before the window starts.");
        if (MeterSeries.For(id, schedule).Issues is [var clash, ..])
            throw new ApiProblemException(400, "intervals", "overlap", $"The schedule has overlapping intervals: {clash.Detail}.");
        if (!await store.TryPutDeclaredScheduleAsync(station.Value, schedule, now, cancellationToken))
            throw new ApiProblemException(409, "intervals", "concurrent-update", "Other declarations for this station changed the same days at the same time; send it again.");
        return TypedResults.Ok(new DeclaredScheduleResponse(id, schedule.Count, schedule.Min(r => r.Interval.Start), schedule.Max(r => r.Interval.End),
            Wire.Kwh(schedule.Sum(r => r.Energy.Value)), now));
    }

    /// <summary>
    /// The load behind one of the caller's transformers per interval of <c>resolution</c> minutes (1-60, default 15) over
    /// [from, to) (default: the last 24 hours; at most 2 days): the metered energy of the stations whose readings cover the
    /// interval, and how many did.
    /// </summary>
    public static async Task<Results<Ok<TransformerLoadResponse>, NotFound>> GetTransformerLoad(
        string id, string? from, string? to, int? resolution, HttpContext http, MarketStore store, TimeProvider clock, CancellationToken cancellationToken)
    {
        var step = TimeSpan.FromMinutes(resolution ?? 15);
        if (resolution is < 1 or > 60) throw new ApiProblemException(400, "resolution", "range", "resolution must be between 1 and 60 minutes.");
        var range = Range(from, to, clock.GetUtcNow(), TimeSpan.FromDays(1), MaxLoadRange);
        if (!await OwnsTransformerAsync(id, http.User, store, cancellationToken)) return TypedResults.NotFound();
        var points = await QualifiedPointsAsync(id, http, store, clock.GetUtcNow(), cancellationToken);
        var series = new System.Collections.Concurrent.ConcurrentBag<MeterSeries>();
        await Parallel.ForEachAsync(points, new ParallelOptions { MaxDegreeOfParallelism = 8, CancellationToken = cancellationToken }, async (p, ct) =>
            series.Add(MeterSeries.For(p.StationId, await store.GetReadingsAsync(p.CpoId, p.StationId, new TimeWindow(range.Start - MarketStore.MaxReadingLength, range.End), ct))));
        var items = new List<LoadPointResponse>();
        for (var t = range.Start; t < range.End; t += step)
        {
            var bucket = new TimeWindow(t, t + step < range.End ? t + step : range.End);
            var covered = series.Select(s => s.EnergyIn(bucket)).Where(e => e is not null).Select(e => e!.Value).ToList();
            var kwh = covered.Sum();
            items.Add(new LoadPointResponse(bucket.Start, bucket.End, Wire.Kwh(kwh), Wire.AverageKw(kwh, bucket.Duration), covered.Count));
        }
        return TypedResults.Ok(new TransformerLoadResponse(id, (int)step.TotalMinutes, points.Count, items));
    }

    /// <summary>The latest reading of every station behind one of the caller's transformers (stations qualified with it that have sent readings).</summary>
    public static async Task<Results<Ok<ListResponse<LatestReadingResponse>>, NotFound>> GetTransformerLatest(
        string id, HttpContext http, MarketStore store, TimeProvider clock, CancellationToken cancellationToken)
    {
        if (!await OwnsTransformerAsync(id, http.User, store, cancellationToken)) return TypedResults.NotFound();
        var points = await QualifiedPointsAsync(id, http, store, clock.GetUtcNow(), cancellationToken);
        return TypedResults.Ok(new ListResponse<LatestReadingResponse>(points.Select(LatestReadingResponse.From).ToList(), null));
    }

    /// <summary>
    /// The caller's declared-baseline quality factors (1 - RMSE / max(mean baseline, 1) per verified award) for windows in
    /// [from, to) (default: the last 90 days), with monthly averages against MAESHA's 0.95 target.
    /// </summary>
    public static async Task<Ok<QualityResponse>> GetMyQuality(
        string? from, string? to, HttpContext http, MarketStore store, TimeProvider clock, CancellationToken cancellationToken)
    {
        var range = Range(from, to, clock.GetUtcNow(), TimeSpan.FromDays(90), TimeSpan.FromDays(366));
        var cpo = http.User.ParticipantId();
        var entries = await store.GetQualityAsync(cpo, range.Start, range.End, cancellationToken);
        var months = entries.GroupBy(e => e.Window.Start.UtcDateTime.ToString("yyyy-MM", CultureInfo.InvariantCulture)).Select(g =>
        {
            var average = decimal.Round(g.Average(e => e.QualityFactor), 4, MidpointRounding.ToZero);
            return new QualityMonthResponse(g.Key, average, g.Count(), average >= QualityTarget);
        }).ToList();
        return TypedResults.Ok(new QualityResponse(cpo, QualityTarget, months,
            entries.Select(e => new QualityEntryResponse(e.RequestId, e.AwardId, e.Window.Start, e.Window.End, e.QualityFactor)).ToList()));
    }

    private static TimeWindow Range(string? from, string? to, DateTimeOffset now, TimeSpan defaultLength, TimeSpan max)
    {
        var end = ApiConventions.TimeFilter(to, "to") ?? now;
        var start = ApiConventions.TimeFilter(from, "from") ?? end - defaultLength;
        if (end <= start) throw new ApiProblemException(400, "to", "range", "to must be after from.");
        if (end - start > max) throw new ApiProblemException(400, "to", "range", $"from and to may be at most {max.TotalDays} days apart.");
        return new TimeWindow(start, end);
    }

    /// <summary>
    /// The CPO that owns the station when the caller may read its meter data, else null: a CPO reads its own stations; a DSO
    /// the stations behind its transformers and the operator every station, both once the station has sent readings
    /// (its metering point names its CPO).
    /// </summary>
    private static async Task<string?> ReadableOwnerAsync(string stationId, ClaimsPrincipal user, MarketStore store, CancellationToken cancellationToken)
    {
        var caller = user.ParticipantId();
        switch (user.Role())
        {
            case Role.Cpo:
                return await store.GetStationAsync(caller, stationId, cancellationToken) is null ? null : caller;
            case Role.Dso:
                return await store.GetMeterPointAsync(stationId, cancellationToken) is { } point
                    && (await store.GetTransformerAsync(point.TransformerId, cancellationToken))?.OperatorId == caller ? point.CpoId : null;
            case Role.Operator:
                return (await store.GetMeterPointAsync(stationId, cancellationToken))?.CpoId;
            default:
                return null;
        }
    }

    /// <summary>
    /// The metering points behind the caller's transformer of stations currently qualified with the caller (one point read
    /// each; those without readings have none): anyone can register a station behind any transformer, so only those the
    /// DSO accepted count in its grid views.
    /// </summary>
    private static async Task<IReadOnlyList<MeterPoint>> QualifiedPointsAsync(string transformerId, HttpContext http, MarketStore store, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var qualified = new HashSet<string>(StringComparer.Ordinal);
        for (string? cursor = null; ;)
        {
            var page = await store.ListQualificationsAsync(http.User.ParticipantId(), transformerId, QualificationStatus.Qualified, 1000, cursor, cancellationToken);
            qualified.UnionWith(page.Items.Where(e => e.Qualification.ValidUntil > now).Select(e => e.Station.Id));
            if ((cursor = page.NextCursor) is null) break;
        }
        var points = new System.Collections.Concurrent.ConcurrentBag<MeterPoint>();
        await Parallel.ForEachAsync(qualified, MarketStore.InParallel(cancellationToken), async (s, ct) =>
        {
            if (await store.GetMeterPointAsync(s, ct) is { } p && p.TransformerId == transformerId) points.Add(p);
        });
        return points.OrderBy(p => p.StationId, StringComparer.Ordinal).ToList();
    }

    private static async Task<bool> OwnsTransformerAsync(string transformerId, ClaimsPrincipal user, MarketStore store, CancellationToken cancellationToken) =>
        (await store.GetTransformerAsync(transformerId, cancellationToken))?.OperatorId == user.ParticipantId();

    /// <summary>Rules of one reading or schedule interval: UTC, 1 to 60 minutes, exactly one of energyKwh and powerKw.</summary>
    private static void IntervalRules(AbstractValidator<MeterReadingItem> r)
    {
        r.RuleFor(x => x.Start).Utc();
        r.RuleFor(x => x.End).Utc().GreaterThan(x => x.Start).WithMessage("'End' must be after 'Start'.")
            .Must((x, end) => end - x.Start <= MarketStore.MaxReadingLength && end - x.Start >= TimeSpan.FromMinutes(1))
            .WithMessage("A reading covers 1 to 60 minutes.").WithErrorCode("interval");
        r.RuleFor(x => x.EnergyKwh).NonNegativeQuantity(KilowattHours.Scale, 100_000m).When(x => x.PowerKw is null);
        r.RuleFor(x => x.EnergyKwh).Null().WithMessage("Give either 'energyKwh' or 'powerKw', not both.").WithErrorCode("energy-or-power").When(x => x.PowerKw is not null);
        r.RuleFor(x => x.PowerKw).NonNegativeQuantity(3, 100_000m).When(x => x.PowerKw is not null);
    }

    private static void ReadingRules(AbstractValidator<MeterReadingItem> r, TimeProvider clock)
    {
        IntervalRules(r);
        r.RuleFor(x => x.End).Must(end => end <= clock.GetUtcNow().AddMinutes(1)).WithMessage("A reading cannot end in the future.").WithErrorCode("future");
    }

    public sealed class ReadingsValidator : AbstractValidator<PostMeterReadingsRequest>
    {
        public ReadingsValidator(TimeProvider clock)
        {
            RuleFor(x => x.Readings).NotEmpty().Must(r => r is null || r.Count <= MaxReadingsPerCall).WithMessage("At most 10,000 readings per call.").WithErrorCode("count");
            RuleForEach(x => x.Readings).NotNull().ChildRules(r => ReadingRules(r, clock));
        }
    }

    public sealed class BulkReadingsValidator : AbstractValidator<BulkMeterReadingsRequest>
    {
        public BulkReadingsValidator(IValidator<MeterReadingItem> item)
        {
            RuleFor(x => x.Readings).NotEmpty().Must(r => r is null || r.Count <= MaxReadingsPerCall).WithMessage("At most 10,000 readings per call.").WithErrorCode("count");
            RuleForEach(x => x.Readings).NotNull().SetValidator(item);
        }
    }

    /// <summary>One reading of a multi-station upload (a JSON item or a CSV row): its station and the reading rules.</summary>
    public sealed class BulkReadingItemValidator : AbstractValidator<MeterReadingItem>
    {
        public BulkReadingItemValidator(TimeProvider clock)
        {
            RuleFor(x => x.StationId).Id();
            ReadingRules(this, clock);
        }
    }

    public sealed class DeclaredScheduleValidator : AbstractValidator<PutDeclaredScheduleRequest>
    {
        public DeclaredScheduleValidator()
        {
            RuleFor(x => x.Intervals).NotEmpty().Must(r => r is null || r.Count <= 1_440).WithMessage("At most 1,440 intervals per schedule.").WithErrorCode("count");
            RuleForEach(x => x.Intervals).NotNull().ChildRules(IntervalRules);
        }
    }
}

/// <summary>One reading: energy over [start, end) in kWh (3 decimals), or average power in kW (converted to kWh, rounded down to the Wh).</summary>
public sealed record MeterReadingItem(DateTimeOffset? Start, DateTimeOffset? End, decimal? EnergyKwh = null, decimal? PowerKw = null, string? StationId = null);

public sealed record PostMeterReadingsRequest(IReadOnlyList<MeterReadingItem>? Readings);

/// <summary>Readings of several stations; each item names its <c>stationId</c>.</summary>
public sealed record BulkMeterReadingsRequest(IReadOnlyList<MeterReadingItem>? Readings);

/// <summary>A declared baseline: the energy the station expects to draw per interval without an activation.</summary>
public sealed record PutDeclaredScheduleRequest(IReadOnlyList<MeterReadingItem>? Intervals);

/// <summary>One uploaded reading's result: 201 Stored, 200 Unchanged or Corrected, or 404/409 Rejected with the problem.</summary>
public sealed record ReadingItemResult(int Index, string StationId, int Status, string Outcome, BulkItemProblem? Problem);

/// <summary>A duplicate, conflict or gap found in the upload or against stored data.</summary>
public sealed record MeterIssueResponse(string Kind, string StationId, DateTimeOffset Start, DateTimeOffset End, string Detail)
{
    public static MeterIssueResponse From(MeterIssue i) => new(i.Kind.ToString(), i.StationId, i.Interval.Start, i.Interval.End, i.Detail);
}

public sealed record MeterReadingsResponse(int Stored, int Unchanged, int Corrected, int Rejected, IReadOnlyList<ReadingItemResult> Items, IReadOnlyList<MeterIssueResponse> Issues);

/// <summary>A stored reading: the latest value received for its interval, and how many values were (1 + corrections).</summary>
public sealed record ReadingResponse(DateTimeOffset Start, DateTimeOffset End, decimal EnergyKwh, decimal AverageKw, int Revisions)
{
    public static ReadingResponse From(MeterReading r) =>
        new(r.Interval.Start, r.Interval.End, Wire.Kwh(r.Energy.Value), Wire.AverageKw(r.Energy.Value, r.Interval.Duration), r.Revision);
}

public sealed record IntervalResponse(DateTimeOffset Start, DateTimeOffset End);

public sealed record StationReadingsResponse(
    string StationId, DateTimeOffset From, DateTimeOffset To, IReadOnlyList<ReadingResponse> Items, IReadOnlyList<IntervalResponse> Gaps);

public sealed record LatestReadingResponse(string StationId, string TransformerId, ReadingResponse Reading, DateTimeOffset ReceivedAt)
{
    public static LatestReadingResponse From(MeterPoint p) => new(p.StationId, p.TransformerId, ReadingResponse.From(p.Latest), p.UpdatedAt);
}

public sealed record DeclaredScheduleResponse(string StationId, int Intervals, DateTimeOffset From, DateTimeOffset To, decimal TotalKwh, DateTimeOffset DeclaredAt);

/// <summary>One interval of a transformer's load: energy of the stations whose readings cover it, their average power, and how many.</summary>
public sealed record LoadPointResponse(DateTimeOffset Start, DateTimeOffset End, decimal EnergyKwh, decimal AverageKw, int ReportingStations);

public sealed record TransformerLoadResponse(string TransformerId, int ResolutionMinutes, int Stations, IReadOnlyList<LoadPointResponse> Items);

public sealed record QualityMonthResponse(string Month, decimal AverageQualityFactor, int Verifications, bool MeetsTarget);

public sealed record QualityEntryResponse(string RequestId, string AwardId, DateTimeOffset WindowStart, DateTimeOffset WindowEnd, decimal QualityFactor);

public sealed record QualityResponse(string CpoId, decimal Target, IReadOnlyList<QualityMonthResponse> Months, IReadOnlyList<QualityEntryResponse> Entries);
