using FlexChain.Domain;
using FlexChain.Functions.Auth;
using FlexChain.Functions.Storage;
using FluentValidation;
using Microsoft.AspNetCore.Http.HttpResults;

namespace FlexChain.Functions.Api;

/// <summary>The grid and the device registry: DSOs register transformers, CPOs register charging stations behind them.</summary>
public static class GridApi
{
    public static RouteGroupBuilder MapGridApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/v1").WithTags("Grid").RequireAuthorization();
        group.MapPost("/transformers", RegisterTransformer).Validate<RegisterTransformerRequest>().RequireAuthorization(Policies.Dso);
        group.MapGet("/transformers/{id}", GetTransformer);
        group.MapPost("/stations", RegisterStation).Validate<RegisterStationRequest>().RequireAuthorization(Policies.Cpo);
        group.MapGet("/stations/{id}", GetStation);
        return group;
    }

    public static async Task<Created<TransformerResponse>> RegisterTransformer(
        RegisterTransformerRequest body, HttpContext http, MarketStore store, TimeProvider clock, CancellationToken cancellationToken)
    {
        var t = new Transformer(Ids.New("tr", clock), http.User.ParticipantId(), body.Name!, Kilowatts.From(body.RatedPowerKw!.Value, "ratedPowerKw"));
        await store.AddTransformerAsync(t, cancellationToken);
        return TypedResults.Created($"/v1/transformers/{t.Id}", ToResponse(t));
    }

    public static async Task<Results<Ok<TransformerResponse>, NotFound>> GetTransformer(string id, MarketStore store, CancellationToken cancellationToken) =>
        await store.GetTransformerAsync(id, cancellationToken) is { } t ? TypedResults.Ok(ToResponse(t)) : TypedResults.NotFound();

    public static async Task<Created<StationResponse>> RegisterStation(
        RegisterStationRequest body, HttpContext http, MarketStore store, TimeProvider clock, CancellationToken cancellationToken)
    {
        _ = await store.GetTransformerAsync(body.TransformerId!, cancellationToken)
            ?? throw new DomainException("transformerId", "exists", $"Transformer {body.TransformerId} is not registered.");
        var s = new ChargingStation(Ids.New("st", clock), http.User.ParticipantId(), body.TransformerId!,
            Kilowatts.From(body.MaxPowerKw!.Value, "maxPowerKw"), body.MeteringPointId!, body.RealTimeMonitoring!.Value);
        await store.AddStationAsync(s, cancellationToken);
        return TypedResults.Created($"/v1/stations/{s.Id}", ToResponse(s));
    }

    /// <summary>A station is visible to its CPO and to the DSO that owns its transformer.</summary>
    public static async Task<Results<Ok<StationResponse>, NotFound>> GetStation(string id, HttpContext http, MarketStore store, CancellationToken cancellationToken)
    {
        var s = await store.GetStationAsync(id, cancellationToken);
        if (s is null) return TypedResults.NotFound();
        var caller = http.User.ParticipantId();
        if (s.CpoId != caller && (await store.GetTransformerAsync(s.TransformerId, cancellationToken))?.DsoId != caller)
            return TypedResults.NotFound();
        return TypedResults.Ok(ToResponse(s));
    }

    private static TransformerResponse ToResponse(Transformer t) => new(t.Id, t.DsoId, t.Name, t.RatedPower.Value);

    private static StationResponse ToResponse(ChargingStation s) =>
        new(s.Id, s.CpoId, s.TransformerId, s.MaxPower.Value, s.MeteringPointId, s.RealTimeMonitoring);

    public sealed class TransformerValidator : AbstractValidator<RegisterTransformerRequest>
    {
        public TransformerValidator()
        {
            RuleFor(x => x.Name).NotEmpty().MaximumLength(200);
            RuleFor(x => x.RatedPowerKw).PositiveQuantity(3, 1_000_000m);
        }
    }

    public sealed class StationValidator : AbstractValidator<RegisterStationRequest>
    {
        public StationValidator()
        {
            RuleFor(x => x.TransformerId).Id();
            RuleFor(x => x.MaxPowerKw).PositiveQuantity(3, 10_000m);
            RuleFor(x => x.MeteringPointId).NotEmpty().MaximumLength(64);
            RuleFor(x => x.RealTimeMonitoring).NotNull();
        }
    }
}

public static class Policies
{
    public const string Dso = "dso";
    public const string Cpo = "cpo";
}
