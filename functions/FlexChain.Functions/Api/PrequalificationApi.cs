using FlexChain.Domain;
using FlexChain.Functions.Auth;
using FlexChain.Functions.Storage;
using FluentValidation;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;

namespace FlexChain.Functions.Api;

/// <summary>
/// Prequalification (DOMAIN.md section 3.2): a DSO publishes requirements; a CPO applies for a station, which is checked
/// against the requirements of the DSO owning its transformer (pending while there are none, then qualified until the
/// validity ends, or failed with reasons); the DSO lists the stations in its area with their status.
/// </summary>
public static class PrequalificationApi
{
    public static RouteGroupBuilder MapPrequalificationApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/v1").WithTags("Prequalification").RequireAuthorization();
        group.MapPut("/prequalification/requirements", PutRequirements).Validate<RequirementsRequest>().RequireAuthorization(Policies.Dso);
        group.MapGet("/prequalification/requirements/{dsoId}", GetRequirements);
        group.MapGet("/prequalifications", ListQualifications).RequireAuthorization(Policies.Dso);
        group.MapPost("/stations/{id}/prequalification", Apply).RequireAuthorization(Policies.Cpo);
        group.MapGet("/stations/{id}/prequalification", GetQualification).RequireAuthorization(Policies.Cpo);
        group.MapGet("/stations/{id}/grid-prequalification", GetGridPrequalification).RequireAuthorization(Policies.Cpo);
        group.MapGet("/grid/prequalifications", ListGridCases).RequireAuthorization(Policies.GridOperator);
        group.MapGet("/grid/prequalifications/report", GridReport).RequireAuthorization(Policies.GridOperator)
            .Produces<GridReportResponse>(contentType: "application/json").Produces<string>(contentType: "text/csv");
        group.MapPut("/grid/prequalifications/{stationId}", AnswerGridCase).Validate<GridAnswerRequest>().RequireAuthorization(Policies.GridOperator);
        return group;
    }

    /// <summary>
    /// Publishes the caller's requirements as a new version (unchanged requirements keep their version); qualifications
    /// checked against an older version are re-checked in memory when offered and cleared, and recorded when the CPO applies again.
    /// </summary>
    public static async Task<Ok<RequirementsResponse>> PutRequirements(
        RequirementsRequest body, HttpContext http, MarketStore store, TimeProvider clock, CancellationToken cancellationToken)
    {
        var dso = http.User.ParticipantId();
        if (body.TransformerIds is { } ids)
            for (var i = 0; i < ids.Count; i++)
                if ((await store.GetTransformerAsync(ids[i], cancellationToken))?.OperatorId != dso)
                    throw new DomainException($"transformerIds[{i}]", "own-transformer", $"Transformer {ids[i]} is not one of yours.");
        var current = await store.GetRequirementsForUpdateAsync(dso, cancellationToken);
        var requirements = new PrequalificationRequirements(dso, body.TransformerIds?.Distinct().ToList(), Kilowatts.From(body.MinimumPowerKw!.Value, "minimumPowerKw"),
            body.MonitoringRequired ?? true, TimeSpan.FromDays(body.ValidityDays ?? 365), (current?.Value.Version ?? 0) + 1, clock.GetUtcNow());
        // Unchanged requirements are not a new version: a new one makes every qualification outdated for nothing.
        if (current?.Value is { } same && SameRules(same, requirements)) return TypedResults.Ok(RequirementsResponse.From(same));
        try
        {
            await store.PutRequirementsAsync(requirements, current?.ETag ?? default, cancellationToken);
        }
        catch (Azure.RequestFailedException e) when (e.Status is 409 or 412)
        {
            throw new ApiProblemException(409, "body", "concurrent-update", "The requirements changed while this update ran; retry.");
        }
        return TypedResults.Ok(RequirementsResponse.From(requirements));
    }

    private static bool SameRules(PrequalificationRequirements a, PrequalificationRequirements b) =>
        a.MinimumPower == b.MinimumPower && a.MonitoringRequired == b.MonitoringRequired && a.Validity == b.Validity &&
        (a.TransformerIds is null ? b.TransformerIds is null : b.TransformerIds is not null && a.TransformerIds.Order().SequenceEqual(b.TransformerIds.Order()));

    /// <summary>Any participant may read a DSO's requirements: CPOs need them to know what qualifies.</summary>
    public static async Task<Results<Ok<RequirementsResponse>, NotFound>> GetRequirements(string dsoId, MarketStore store, CancellationToken cancellationToken) =>
        await store.GetRequirementsAsync(dsoId, cancellationToken) is { } r ? TypedResults.Ok(RequirementsResponse.From(r)) : TypedResults.NotFound();

    public static async Task<Ok<ListResponse<QualificationEntryResponse>>> ListQualifications(
        string? transformerId, string? status, int? limit, string? cursor, HttpContext http, MarketStore store, TimeProvider clock, CancellationToken cancellationToken)
    {
        var now = clock.GetUtcNow();
        var page = await store.ListQualificationsAsync(http.User.ParticipantId(), transformerId, ApiConventions.EnumFilter<QualificationStatus>(status, "status"),
            ApiConventions.Limit(limit), cursor, cancellationToken);
        return TypedResults.Ok(page.ToResponse(e => new QualificationEntryResponse(StationResponse.From(e.Station, now), QualificationResponse.From(e.Station.Id, e.Qualification, now))));
    }

    /// <summary>
    /// Checks the station now against its DSO's current requirements and records the result; opens its grid
    /// prequalification with the connecting and impacted operators when it has none (or was moved, or was refused).
    /// </summary>
    public static async Task<Results<Ok<QualificationResponse>, NotFound>> Apply(
        string id, HttpContext http, MarketStore store, TimeProvider clock, IOptions<GridPrequalificationOptions> grid, CancellationToken cancellationToken)
    {
        var stored = await store.GetStationAsync(http.User.ParticipantId(), id, cancellationToken);
        if (stored is null) return TypedResults.NotFound();
        var q = await CheckAndRecordAsync(stored.Value, store, clock.GetUtcNow(), grid.Value.GridAnswerPeriod, cancellationToken);
        return TypedResults.Ok(QualificationResponse.From(id, q, clock.GetUtcNow()));
    }

    public static async Task<Results<Ok<QualificationResponse>, NotFound>> GetQualification(
        string id, HttpContext http, MarketStore store, TimeProvider clock, CancellationToken cancellationToken) =>
        await store.GetStationAsync(http.User.ParticipantId(), id, cancellationToken) is { Value.Qualification: { } q }
            ? TypedResults.Ok(QualificationResponse.From(id, q, clock.GetUtcNow())) : TypedResults.NotFound();

    private static async Task<Qualification> CheckAndRecordAsync(
        Stored<ChargingStation> stored, MarketStore store, DateTimeOffset now, TimeSpan answerPeriod, CancellationToken cancellationToken)
    {
        var station = stored.Value;
        var path = await store.GetGridPathAsync(station.TransformerId, cancellationToken)
            ?? throw new InvalidOperationException($"station {station.Id} names a missing transformer");
        var transformer = path.Node;
        var q = Prequalification.Check(station, transformer, await store.GetRequirementsAsync(transformer.OperatorId, cancellationToken), now);
        var current = station.GridCase is { } open ? open.StatusAt(await store.GetGridAnswersAsync(open, cancellationToken), now) : null;
        var gridCase = GridCase.NeedsNew(station, current) ? GridCase.Open(station, GridOperators.Of(transformer, path.Ancestors), now, answerPeriod) : station.GridCase!;
        var checkedStation = station with { Qualification = q, GridCase = gridCase };
        // The station changed meanwhile (a new version): its next use checks again, so losing this write is harmless.
        if (await store.TryReplaceStationAsync(checkedStation, stored.ETag, cancellationToken))
        {
            await store.PutQualificationEntryAsync(checkedStation, q, cancellationToken);
            // After the station names the case, so an operator never holds a case the station does not; a retry completes it.
            await store.PutGridCaseAsync(gridCase, cancellationToken);
        }
        return q;
    }

    /// <summary>The station's grid prequalification: its case, every answer so far and the combined status.</summary>
    public static async Task<Results<Ok<GridPrequalificationResponse>, NotFound>> GetGridPrequalification(
        string id, HttpContext http, MarketStore store, TimeProvider clock, CancellationToken cancellationToken)
    {
        if (await store.GetStationAsync(http.User.ParticipantId(), id, cancellationToken) is not { Value.GridCase: { } c }) return TypedResults.NotFound();
        var answers = await store.GetGridAnswersAsync(c, cancellationToken);
        var status = c.StatusAt(answers, clock.GetUtcNow());
        var r = status.Restriction;
        return TypedResults.Ok(new GridPrequalificationResponse(id, status.Status.ToString(), GridCaseResponse.From(c),
            answers.Select(a => GridAnswerResponse.From(a.Key, a.Value)).ToList(), r.RefusedBy, r.AllowedHours?.Hours, r.MaxPower is { } m ? Wire.Kw(m.Value) : null));
    }

    /// <summary>The grid prequalification cases that concern the calling operator, with its answers, in station order.</summary>
    public static async Task<Ok<ListResponse<GridCaseResponse>>> ListGridCases(
        int? limit, string? cursor, HttpContext http, MarketStore store, CancellationToken cancellationToken)
    {
        var me = http.User.ParticipantId();
        return TypedResults.Ok((await store.ListGridCasesAsync(me, ApiConventions.Limit(limit), cursor, cancellationToken))
            .ToResponse(e => GridCaseResponse.From(e.Case, me, e.Answer)));
    }

    /// <summary>
    /// The calling operator's answer on the latest grid prequalification case of a station in or below its grid, before
    /// the case's deadline (an earlier answer is replaced).
    /// </summary>
    public static async Task<Ok<GridCaseResponse>> AnswerGridCase(
        string stationId, GridAnswerRequest body, HttpContext http, MarketStore store, TimeProvider clock, CancellationToken cancellationToken)
    {
        var me = http.User.ParticipantId();
        var now = clock.GetUtcNow();
        var stored = await store.GetLatestGridCaseAsync(me, stationId, cancellationToken)
            ?? throw new DomainException("stationId", "own-grid", $"No grid prequalification case of station {stationId} concerns you.");
        var entry = stored.Value;
        entry.Case.RequireAnswerable(me, now);
        var answer = GridAnswer.Create(Enum.Parse<GridVerdict>(body.Verdict!, ignoreCase: true),
            body.AllowedHours is { } h ? HoursOfDay.Between(h.FromHour!.Value, h.ToHour!.Value, "allowedHours") : null,
            body.MaxKw is { } kw ? Kilowatts.From(kw, "maxKw") : null, body.Justification, body.WhyNoTemporaryLimit, now);
        if (!await store.TryAnswerGridCaseAsync(me, entry with { Answer = answer }, stored.ETag, cancellationToken))
            throw new ApiProblemException(409, "stationId", "concurrent-update", "The case changed while this answer was recorded; read it again and retry.");
        return TypedResults.Ok(GridCaseResponse.From(entry.Case, me, answer));
    }

    /// <summary>
    /// The calling operator's yearly report to the regulator: every case it answered in <paramref name="year"/> (UTC) with
    /// a conditional approval or a refusal, as JSON or, with <c>format=csv</c>, as CSV.
    /// </summary>
    public static async Task<IResult> GridReport(int? year, string? format, HttpContext http, MarketStore store, CancellationToken cancellationToken)
    {
        if (year is not (>= 2000 and <= 2200)) throw new ApiProblemException(400, "year", "range", "year is required, 2000 to 2200.");
        if (format is not (null or "json" or "csv")) throw new ApiProblemException(400, "format", "enum", "format is json (the default) or csv.");
        var me = http.User.ParticipantId();
        var cases = (await store.GetGridReportAsync(me, year.Value, cancellationToken)).OrderBy(e => e.Answer!.AnsweredAt).ThenBy(e => e.Case.StationId, StringComparer.Ordinal).ToList();
        if (format == "csv") return TypedResults.Text(GridReportCsv(cases), "text/csv");
        return TypedResults.Ok(new GridReportResponse(me, year.Value, cases.Count(e => e.Answer!.Verdict == GridVerdict.ConditionallyApproved),
            cases.Count(e => e.Answer!.Verdict == GridVerdict.NotApproved), cases.Select(e => GridCaseResponse.From(e.Case, me, e.Answer)).ToList()));
    }

    private static string GridReportCsv(IEnumerable<GridCaseEntry> cases)
    {
        var csv = new System.Text.StringBuilder("stationId,cpoId,nodeId,openedAt,answeredAt,verdict,allowedHoursUtc,maxKw,justification,whyNoTemporaryLimit\n");
        foreach (var (c, a) in cases)
            csv.AppendJoin(',', c.StationId, c.CpoId, c.NodeId, Csv(c.OpenedAt), Csv(a!.AnsweredAt), a.Verdict, Csv(a.AllowedHours is { } h ? string.Join(' ', h.Hours) : ""),
                a.MaxPower is { } m ? Wire.Kw(m.Value).ToString(System.Globalization.CultureInfo.InvariantCulture) : "", Csv(a.Justification ?? ""), Csv(a.WhyNoTemporaryLimit ?? "")).Append('\n');
        return csv.ToString();
    }

    private static string Csv(DateTimeOffset t) => t.ToString("yyyy-MM-ddTHH:mm:ssZ", System.Globalization.CultureInfo.InvariantCulture);

    // RFC 4180 quoting, and a leading = + - @ neutralised so that a spreadsheet never runs an operator's text as a formula.
    private static string Csv(string text)
    {
        if (text.Length > 0 && text[0] is '=' or '+' or '-' or '@') text = "'" + text;
        return text.IndexOfAny([',', '"', '\n', '\r']) >= 0 ? "\"" + text.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"" : text;
    }

    public sealed class GridAnswerValidator : AbstractValidator<GridAnswerRequest>
    {
        public GridAnswerValidator()
        {
            RuleFor(x => x.Verdict).NotEmpty().EnumName<GridAnswerRequest, GridVerdict>();
            RuleFor(x => x.AllowedHours!.FromHour).NotNull().InclusiveBetween(0, 23).When(x => x.AllowedHours is not null).OverridePropertyName("allowedHours.fromHour");
            RuleFor(x => x.AllowedHours!.ToHour).NotNull().InclusiveBetween(0, 23).When(x => x.AllowedHours is not null).OverridePropertyName("allowedHours.toHour");
            RuleFor(x => x.MaxKw).NonNegativeQuantity(3, 1_000_000m).When(x => x.MaxKw is not null);
            RuleFor(x => x.Justification).Text(2000).When(x => x.Justification is not null);
            RuleFor(x => x.WhyNoTemporaryLimit).Text(2000).When(x => x.WhyNoTemporaryLimit is not null);
        }
    }

    public sealed class RequirementsValidator : AbstractValidator<RequirementsRequest>
    {
        public RequirementsValidator()
        {
            RuleFor(x => x.TransformerIds).Must(t => t is null || t.Count is >= 1 and <= 10_000).WithMessage("'Transformer Ids' lists 1 to 10,000 transformers, or is omitted for all of yours.").WithErrorCode("count");
            RuleForEach(x => x.TransformerIds).Id();
            RuleFor(x => x.MinimumPowerKw).NonNegativeQuantity(3, 10_000m);
            RuleFor(x => x.ValidityDays).InclusiveBetween(1, 3650).When(x => x.ValidityDays is not null);
        }
    }
}

/// <summary>Grid prequalification settings (section <c>Market</c>).</summary>
public sealed class GridPrequalificationOptions
{
    /// <summary>How long the connecting and impacted operators have to answer a station's grid prequalification; silence by then is approval (default 14 days; no source fixes it).</summary>
    public TimeSpan GridAnswerPeriod { get; set; } = TimeSpan.FromDays(14);
}
