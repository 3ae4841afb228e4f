using FlexChain.Domain;
using FlexChain.Functions.Auth;
using FlexChain.Functions.Storage;
using FluentValidation;
using Microsoft.AspNetCore.Http.HttpResults;

namespace FlexChain.Functions.Api;

/// <summary>
/// The device registry: a CPO registers charging stations (one at a time or in bulk) and EVs, updates and deactivates
/// them. Every change writes a new version and keeps the old ones. A CPO sees only its own devices; DSOs see stations
/// through prequalification.
/// </summary>
public static class RegistryApi
{
    public static RouteGroupBuilder MapRegistryApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/v1").WithTags("Registry").RequireAuthorization(Policies.Cpo);
        group.MapPost("/stations", RegisterStation).Validate<StationRequest>().Idempotent<StationRequest>();
        group.MapPost("/stations/bulk", RegisterStations).Validate<BulkStationsRequest>().Idempotent<BulkStationsRequest>().WithBodyLimit(BodyLimit.Bulk)
            .Produces<BulkStationsResponse>(StatusCodes.Status207MultiStatus);
        group.MapGet("/stations", ListStations);
        group.MapGet("/stations/{id}", GetStation).Versioned();
        group.MapPut("/stations/{id}", UpdateStation).Validate<StationRequest>().Versioned();
        group.MapDelete("/stations/{id}", DeactivateStation).Versioned();
        group.MapGet("/stations/{id}/versions", ListStationVersions);
        group.MapPost("/evs", RegisterEv).Validate<EvRequest>().Idempotent<EvRequest>();
        group.MapGet("/evs", ListEvs);
        group.MapGet("/evs/{id}", GetEv).Versioned();
        group.MapPut("/evs/{id}", UpdateEv).Validate<EvRequest>().Versioned();
        group.MapDelete("/evs/{id}", DeactivateEv).Versioned();
        group.MapGet("/evs/{id}/versions", ListEvVersions);
        return group;
    }

    /// <summary>
    /// Registers a station. Its metering point must not belong to another active station (409, field
    /// <c>meteringPointId</c>, rule <c>unique</c>): one meter is sold once.
    /// </summary>
    public static async Task<Created<StationResponse>> RegisterStation(
        StationRequest body, HttpContext http, MarketStore store, TimeProvider clock, CancellationToken cancellationToken)
    {
        var station = await NewStationAsync(body, "", http.User.ParticipantId(), store, clock, cancellationToken);
        await ClaimMeteringPointAsync(station, "", store, clock, cancellationToken);
        try
        {
            await store.AddStationAsync(station, cancellationToken);
        }
        catch
        {
            await store.ReleaseMeteringPointAsync(station, CancellationToken.None);
            throw;
        }
        return TypedResults.Created($"/v1/stations/{station.Id}", StationResponse.From(station, clock.GetUtcNow()));
    }

    /// <summary>
    /// Registers many stations at once and answers 207 with a result per item: 201 and the station, or the problem that
    /// kept it out. Items are checked first; valid ones are written 50 per transaction (all of a chunk or none).
    /// </summary>
    public static async Task<IResult> RegisterStations(
        BulkStationsRequest body, HttpContext http, MarketStore store, TimeProvider clock, IValidator<StationRequest> validator, CancellationToken cancellationToken)
    {
        var cpo = http.User.ParticipantId();
        var now = clock.GetUtcNow();
        var results = new BulkItemResult[body.Stations!.Count];
        var accepted = new List<(int Index, ChargingStation Station)>();
        for (var i = 0; i < results.Length; i++)
        {
            var item = body.Stations[i];
            var check = await validator.ValidateAsync(item, cancellationToken);
            if (!check.IsValid)
            {
                var f = check.Errors[0];
                results[i] = new BulkItemResult(i, 400, null, new BulkItemProblem(Problems.TitleFor(400), $"stations[{i}].{Problems.JsonPath(f.PropertyName)}", Problems.Rule(f.ErrorCode), f.ErrorMessage));
                continue;
            }
            try
            {
                accepted.Add((i, await NewStationAsync(item, $"stations[{i}].", cpo, store, clock, cancellationToken)));
            }
            catch (DomainException d)
            {
                results[i] = new BulkItemResult(i, 422, null, new BulkItemProblem(Problems.TitleFor(422), d.Field, d.Rule, d.Message));
            }
        }
        await Parallel.ForEachAsync(accepted, new ParallelOptions { MaxDegreeOfParallelism = 8, CancellationToken = cancellationToken }, async (a, ct) =>
        {
            try
            {
                await ClaimMeteringPointAsync(a.Station, $"stations[{a.Index}].", store, clock, ct);
            }
            catch (ApiProblemException p)
            {
                results[a.Index] = new BulkItemResult(a.Index, p.Status, null, new BulkItemProblem(Problems.TitleFor(p.Status), p.Field, p.Rule, p.Message));
            }
        });
        accepted.RemoveAll(a => results[a.Index] is not null);
        var failures = await store.AddStationsAsync(accepted.Select(a => a.Station).ToList(), cancellationToken);
        for (var k = 0; k < accepted.Count; k++)
        {
            var (i, s) = accepted[k];
            if (failures[k] is not null) await store.ReleaseMeteringPointAsync(s, CancellationToken.None);
            results[i] = failures[k] is null
                ? new BulkItemResult(i, 201, StationResponse.From(s, now), null)
                : new BulkItemResult(i, 503, null, new BulkItemProblem("Storage is unavailable; retry this item.", $"stations[{i}]", "storage", failures[k]!.Message));
        }
        var ok = results.Count(r => r.Status == 201);
        return TypedResults.Json(new BulkStationsResponse(ok, results.Length - ok, results), statusCode: StatusCodes.Status207MultiStatus);
    }

    public static async Task<Ok<ListResponse<StationResponse>>> ListStations(
        string? transformerId, string? status, int? limit, string? cursor, HttpContext http, MarketStore store, TimeProvider clock, CancellationToken cancellationToken)
    {
        var now = clock.GetUtcNow();
        var page = await store.ListStationsAsync(http.User.ParticipantId(), transformerId, ApiConventions.EnumFilter<DeviceStatus>(status, "status"),
            ApiConventions.Limit(limit), cursor, cancellationToken);
        return TypedResults.Ok(page.ToResponse(s => StationResponse.From(s, now)));
    }

    public static async Task<Results<Ok<StationResponse>, NotFound>> GetStation(
        string id, HttpContext http, MarketStore store, TimeProvider clock, CancellationToken cancellationToken)
    {
        if (await store.GetStationAsync(http.User.ParticipantId(), id, cancellationToken) is not { } s) return TypedResults.NotFound();
        VersionTags.Set(http, s.Value.Version);
        return TypedResults.Ok(StationResponse.From(s.Value, clock.GetUtcNow()));
    }

    /// <summary>Replaces the station's details as a new version. Its prequalification is kept but no longer current (it names the old version).</summary>
    public static async Task<Results<Ok<StationResponse>, NotFound>> UpdateStation(
        string id, StationRequest body, HttpContext http, MarketStore store, TimeProvider clock, CancellationToken cancellationToken)
    {
        var cpo = http.User.ParticipantId();
        var stored = await store.GetStationAsync(cpo, id, cancellationToken);
        if (stored is null) return TypedResults.NotFound();
        var current = stored.Value.Value;
        VersionTags.RequireMatch(http, current.Version);
        if (!current.Active) throw new DomainException("id", "deactivated", "A deactivated station cannot be updated.");
        var fresh = await NewStationAsync(body, "", cpo, store, clock, cancellationToken);
        var next = fresh with { Id = id, Version = current.Version + 1, Qualification = current.Qualification };
        await ClaimMeteringPointAsync(next, "", store, clock, cancellationToken);
        var moved = !string.Equals(next.MeteringPointId, current.MeteringPointId, StringComparison.OrdinalIgnoreCase);
        if (!await store.TryUpdateStationAsync(next, stored.Value.ETag, cancellationToken))
        {
            if (moved) await store.ReleaseMeteringPointAsync(next, CancellationToken.None);
            throw new ApiProblemException(409, "id", "concurrent-update", "The station changed while this update ran; read it again and retry.");
        }
        if (moved) await store.ReleaseMeteringPointAsync(current, CancellationToken.None);
        VersionTags.Set(http, next.Version);
        return TypedResults.Ok(StationResponse.From(next, clock.GetUtcNow()));
    }

    /// <summary>Deactivates the station (a new version): it can no longer be offered, its history stays, and its metering point is free for another station.</summary>
    public static async Task<Results<Ok<StationResponse>, NotFound>> DeactivateStation(
        string id, HttpContext http, MarketStore store, TimeProvider clock, CancellationToken cancellationToken)
    {
        var stored = await store.GetStationAsync(http.User.ParticipantId(), id, cancellationToken);
        if (stored is null) return TypedResults.NotFound();
        var current = stored.Value.Value;
        VersionTags.RequireMatch(http, current.Version);
        var now = clock.GetUtcNow();
        var next = current;
        if (current.Active)
        {
            next = current with { Version = current.Version + 1, DeactivatedAt = now, UpdatedAt = now };
            if (!await store.TryUpdateStationAsync(next, stored.Value.ETag, cancellationToken))
                throw new ApiProblemException(409, "id", "concurrent-update", "The station changed while this request ran; retry.");
            await store.ReleaseMeteringPointAsync(next, CancellationToken.None);
        }
        VersionTags.Set(http, next.Version);
        return TypedResults.Ok(StationResponse.From(next, now));
    }

    public static async Task<Results<Ok<ListResponse<StationResponse>>, NotFound>> ListStationVersions(
        string id, int? limit, string? cursor, HttpContext http, MarketStore store, TimeProvider clock, CancellationToken cancellationToken)
    {
        var cpo = http.User.ParticipantId();
        if (await store.GetStationAsync(cpo, id, cancellationToken) is null) return TypedResults.NotFound();
        var now = clock.GetUtcNow();
        return TypedResults.Ok((await store.ListStationVersionsAsync(cpo, id, ApiConventions.Limit(limit), cursor, cancellationToken)).ToResponse(s => StationResponse.From(s, now)));
    }

    /// <summary>
    /// Claims the station's metering point for it, or refuses with 409 (field <c>meteringPointId</c>, rule <c>unique</c>)
    /// when another active station has it; the holder is named only to its own CPO.
    /// </summary>
    private static async Task ClaimMeteringPointAsync(ChargingStation station, string prefix, MarketStore store, TimeProvider clock, CancellationToken cancellationToken)
    {
        if (await store.ClaimMeteringPointAsync(station, clock.GetUtcNow(), cancellationToken) is not { } holder) return;
        throw new ApiProblemException(409, prefix + "meteringPointId", "unique", holder.CpoId == station.CpoId
            ? $"Metering point {station.MeteringPointId} belongs to your active station {holder.StationId}: a metering point belongs to one active station; deactivate that station or move it to another metering point first."
            : $"Metering point {station.MeteringPointId} belongs to another CPO's active station: a metering point belongs to one active station.");
    }

    private static async Task<ChargingStation> NewStationAsync(
        StationRequest body, string prefix, string cpo, MarketStore store, TimeProvider clock, CancellationToken cancellationToken)
    {
        _ = await store.GetTransformerAsync(body.TransformerId!, cancellationToken)
            ?? throw new DomainException(prefix + "transformerId", "exists", $"Transformer {body.TransformerId} is not registered.");
        var ac = Kilowatts.From(body.MaxAcKw ?? 0m, prefix + "maxAcKw");
        var dc = Kilowatts.From(body.MaxDcKw ?? 0m, prefix + "maxDcKw");
        var now = clock.GetUtcNow();
        return new ChargingStation(Ids.New("st", clock), cpo, body.TransformerId!, ac.Value >= dc.Value ? ac : dc, body.MeteringPointId!, body.RealTimeMonitoring!.Value)
        {
            Model = body.Model!, Country = body.Country!.ToUpperInvariant(), City = body.City!, Address = body.Address!,
            MaxAcPower = ac, MaxDcPower = dc, Connectors = body.ConnectorTypes!.ToList(),
            Status = ValidationExtensions.ParseEnum(body.Status, DeviceStatus.Operational), UpdatedAt = now,
            DynamicConnection = body.DynamicConnection ?? false, BalanceResponsibleParty = body.BalanceResponsiblePartyId, RecoveryMinutes = body.RecoveryMinutes ?? 0,
        };
    }

    public static async Task<Created<EvResponse>> RegisterEv(EvRequest body, HttpContext http, MarketStore store, TimeProvider clock, CancellationToken cancellationToken)
    {
        var ev = new ElectricVehicle(Ids.New("ev", clock), http.User.ParticipantId(), body.Model!, KilowattHours.From(body.BatteryKwh!.Value, "batteryKwh"),
            Kilowatts.From(body.MaxChargingKw!.Value, "maxChargingKw")) { UpdatedAt = clock.GetUtcNow() };
        await store.AddEvAsync(ev, cancellationToken);
        return TypedResults.Created($"/v1/evs/{ev.Id}", EvResponse.From(ev));
    }

    public static async Task<Ok<ListResponse<EvResponse>>> ListEvs(int? limit, string? cursor, HttpContext http, MarketStore store, CancellationToken cancellationToken) =>
        TypedResults.Ok((await store.ListEvsAsync(http.User.ParticipantId(), ApiConventions.Limit(limit), cursor, cancellationToken)).ToResponse(EvResponse.From));

    public static async Task<Results<Ok<EvResponse>, NotFound>> GetEv(string id, HttpContext http, MarketStore store, CancellationToken cancellationToken)
    {
        if (await store.GetEvAsync(http.User.ParticipantId(), id, cancellationToken) is not { } e) return TypedResults.NotFound();
        VersionTags.Set(http, e.Value.Version);
        return TypedResults.Ok(EvResponse.From(e.Value));
    }

    public static async Task<Results<Ok<EvResponse>, NotFound>> UpdateEv(
        string id, EvRequest body, HttpContext http, MarketStore store, TimeProvider clock, CancellationToken cancellationToken)
    {
        var stored = await store.GetEvAsync(http.User.ParticipantId(), id, cancellationToken);
        if (stored is null) return TypedResults.NotFound();
        VersionTags.RequireMatch(http, stored.Value.Value.Version);
        if (!stored.Value.Value.Active) throw new DomainException("id", "deactivated", "A deactivated EV cannot be updated.");
        var next = stored.Value.Value with
        {
            Model = body.Model!, BatteryCapacity = KilowattHours.From(body.BatteryKwh!.Value, "batteryKwh"),
            MaxChargingPower = Kilowatts.From(body.MaxChargingKw!.Value, "maxChargingKw"), Version = stored.Value.Value.Version + 1, UpdatedAt = clock.GetUtcNow(),
        };
        if (!await store.TryUpdateEvAsync(next, stored.Value.ETag, cancellationToken))
            throw new ApiProblemException(409, "id", "concurrent-update", "The EV changed while this update ran; read it again and retry.");
        VersionTags.Set(http, next.Version);
        return TypedResults.Ok(EvResponse.From(next));
    }

    public static async Task<Results<Ok<EvResponse>, NotFound>> DeactivateEv(string id, HttpContext http, MarketStore store, TimeProvider clock, CancellationToken cancellationToken)
    {
        var stored = await store.GetEvAsync(http.User.ParticipantId(), id, cancellationToken);
        if (stored is null) return TypedResults.NotFound();
        var current = stored.Value.Value;
        VersionTags.RequireMatch(http, current.Version);
        var now = clock.GetUtcNow();
        var next = current;
        if (current.Active)
        {
            next = current with { Version = current.Version + 1, DeactivatedAt = now, UpdatedAt = now };
            if (!await store.TryUpdateEvAsync(next, stored.Value.ETag, cancellationToken))
                throw new ApiProblemException(409, "id", "concurrent-update", "The EV changed while this request ran; retry.");
        }
        VersionTags.Set(http, next.Version);
        return TypedResults.Ok(EvResponse.From(next));
    }

    public static async Task<Results<Ok<ListResponse<EvResponse>>, NotFound>> ListEvVersions(
        string id, int? limit, string? cursor, HttpContext http, MarketStore store, CancellationToken cancellationToken)
    {
        var cpo = http.User.ParticipantId();
        if (await store.GetEvAsync(cpo, id, cancellationToken) is null) return TypedResults.NotFound();
        return TypedResults.Ok((await store.ListEvVersionsAsync(cpo, id, ApiConventions.Limit(limit), cursor, cancellationToken)).ToResponse(EvResponse.From));
    }

    public sealed class StationValidator : AbstractValidator<StationRequest>
    {
        private static readonly string[] Connectors = ["Type1", "Type2", "CCS1", "CCS2", "CHAdeMO", "GBT", "NACS", "Schuko"];

        public StationValidator()
        {
            RuleFor(x => x.TransformerId).Id();
            RuleFor(x => x.Model).Text(100);
            RuleFor(x => x.Country).NotEmpty().Matches("^[A-Za-z]{2}$").WithMessage("'Country' must be an ISO 3166-1 alpha-2 code.").WithErrorCode("country");
            RuleFor(x => x.City).Text(100);
            RuleFor(x => x.Address).Text(300);
            RuleFor(x => x.MaxAcKw).NonNegativeQuantity(3, 10_000m).When(x => x.MaxAcKw is not null);
            RuleFor(x => x.MaxDcKw).NonNegativeQuantity(3, 10_000m).When(x => x.MaxDcKw is not null);
            RuleFor(x => x).Must(x => (x.MaxAcKw ?? 0) > 0 || (x.MaxDcKw ?? 0) > 0).WithName("maxAcKw")
                .WithMessage("A station needs a positive maxAcKw or maxDcKw.").WithErrorCode("power");
            RuleFor(x => x.ConnectorTypes).NotEmpty().Must(c => c is null || c.Count <= 16).WithMessage("At most 16 connector types.").WithErrorCode("count");
            RuleForEach(x => x.ConnectorTypes).Must(c => Connectors.Contains(c)).WithMessage($"Connector types are {string.Join(", ", Connectors)}.").WithErrorCode("enum");
            RuleFor(x => x.MeteringPointId).NotEmpty().MaximumLength(64).Matches("^[A-Za-z0-9-]+$").WithMessage("'Metering Point Id' is letters, digits and dashes.").WithErrorCode("metering-point");
            RuleFor(x => x.RealTimeMonitoring).NotNull();
            RuleFor(x => x.Status).EnumName<StationRequest, DeviceStatus>();
            RuleFor(x => x.BalanceResponsiblePartyId).NotEmpty().MaximumLength(64).Matches("^[A-Za-z0-9-]+$")
                .WithMessage("'Balance Responsible Party Id' is letters, digits and dashes (an EIC code, for example).").WithErrorCode("party-id")
                .When(x => x.BalanceResponsiblePartyId is not null);
            RuleFor(x => x.RecoveryMinutes).InclusiveBetween(0, ChargingStation.MaxRecoveryMinutes);
        }
    }

    public sealed class BulkValidator : AbstractValidator<BulkStationsRequest>
    {
        public BulkValidator(Microsoft.Extensions.Options.IOptions<Hosting.LimitOptions> limits)
        {
            var max = limits.Value.StationsPerCall;
            RuleFor(x => x.Stations).NotEmpty().Must(s => s is null || s.Count <= max).WithMessage($"At most {max} stations per call (setting Limits:StationsPerCall).").WithErrorCode("count");
            RuleForEach(x => x.Stations).NotNull();
        }
    }

    public sealed class EvValidator : AbstractValidator<EvRequest>
    {
        public EvValidator()
        {
            RuleFor(x => x.Model).Text(100);
            RuleFor(x => x.BatteryKwh).PositiveQuantity(KilowattHours.Scale, 1_000m);
            RuleFor(x => x.MaxChargingKw).PositiveQuantity(3, 1_000m);
        }
    }
}
