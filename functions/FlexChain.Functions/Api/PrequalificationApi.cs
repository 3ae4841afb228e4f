using FlexChain.Domain;
using FlexChain.Functions.Auth;
using FlexChain.Functions.Storage;
using FluentValidation;
using Microsoft.AspNetCore.Http.HttpResults;

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

    /// <summary>Checks the station now against its DSO's current requirements and records the result.</summary>
    public static async Task<Results<Ok<QualificationResponse>, NotFound>> Apply(
        string id, HttpContext http, MarketStore store, TimeProvider clock, CancellationToken cancellationToken)
    {
        var stored = await store.GetStationAsync(http.User.ParticipantId(), id, cancellationToken);
        if (stored is null) return TypedResults.NotFound();
        var q = await CheckAndRecordAsync(stored.Value, store, clock.GetUtcNow(), cancellationToken);
        return TypedResults.Ok(QualificationResponse.From(id, q, clock.GetUtcNow()));
    }

    public static async Task<Results<Ok<QualificationResponse>, NotFound>> GetQualification(
        string id, HttpContext http, MarketStore store, TimeProvider clock, CancellationToken cancellationToken) =>
        await store.GetStationAsync(http.User.ParticipantId(), id, cancellationToken) is { Value.Qualification: { } q }
            ? TypedResults.Ok(QualificationResponse.From(id, q, clock.GetUtcNow())) : TypedResults.NotFound();

    private static async Task<Qualification> CheckAndRecordAsync(Stored<ChargingStation> stored, MarketStore store, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var station = stored.Value;
        var transformer = await store.GetTransformerAsync(station.TransformerId, cancellationToken)
            ?? throw new InvalidOperationException($"station {station.Id} names a missing transformer");
        var q = Prequalification.Check(station, transformer, await store.GetRequirementsAsync(transformer.OperatorId, cancellationToken), now);
        var checkedStation = station with { Qualification = q };
        // The station changed meanwhile (a new version): its next use checks again, so losing this write is harmless.
        if (await store.TryReplaceStationAsync(checkedStation, stored.ETag, cancellationToken))
            await store.PutQualificationEntryAsync(checkedStation, q, cancellationToken);
        return q;
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
