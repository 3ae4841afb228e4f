using System.Globalization;
using FlexChain.Domain;
using FlexChain.Functions.Auth;
using FlexChain.Functions.Storage;
using FluentValidation;
using Microsoft.AspNetCore.Http.HttpResults;

namespace FlexChain.Functions.Api;

/// <summary>The grid: DSOs register transformers and publish day-ahead congestion forecasts for them.</summary>
public static class GridApi
{
    public static RouteGroupBuilder MapGridApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/v1/transformers").WithTags("Grid").RequireAuthorization();
        group.MapPost("/", RegisterTransformer).Validate<RegisterTransformerRequest>().Idempotent<RegisterTransformerRequest>().RequireAuthorization(Policies.Dso);
        group.MapGet("/", ListTransformers).RequireAuthorization(Policies.Dso);
        group.MapGet("/{id}", GetTransformer);
        group.MapPut("/{id}/forecasts/{day}", PutForecast).Validate<PutForecastRequest>().RequireAuthorization(Policies.Dso);
        group.MapGet("/{id}/forecasts/{day}", GetForecast).RequireAuthorization(Policies.Dso);
        return group;
    }

    public static async Task<Created<TransformerResponse>> RegisterTransformer(
        RegisterTransformerRequest body, HttpContext http, MarketStore store, TimeProvider clock, CancellationToken cancellationToken)
    {
        var t = new Transformer(Ids.New("tr", clock), http.User.ParticipantId(), body.Name!, Kilowatts.From(body.RatedPowerKw!.Value, "ratedPowerKw"))
        {
            Location = new GeoLocation(body.Location!.Latitude!.Value, body.Location.Longitude!.Value),
            RegisteredAt = clock.GetUtcNow(),
        };
        await store.AddTransformerAsync(t, cancellationToken);
        return TypedResults.Created($"/v1/transformers/{t.Id}", TransformerResponse.From(t));
    }

    /// <summary>The caller's own transformers, in id (registration) order.</summary>
    public static async Task<Ok<ListResponse<TransformerResponse>>> ListTransformers(
        int? limit, string? cursor, HttpContext http, MarketStore store, CancellationToken cancellationToken) =>
        TypedResults.Ok((await store.ListTransformersAsync(http.User.ParticipantId(), ApiConventions.Limit(limit), cursor, cancellationToken))
            .ToResponse(TransformerResponse.From));

    /// <summary>Any participant may read a transformer: CPOs name it when they register stations behind it.</summary>
    public static async Task<Results<Ok<TransformerResponse>, NotFound>> GetTransformer(string id, MarketStore store, CancellationToken cancellationToken) =>
        await store.GetTransformerAsync(id, cancellationToken) is { } t ? TypedResults.Ok(TransformerResponse.From(t)) : TypedResults.NotFound();

    /// <summary>Publishes (or replaces) the day-ahead forecast of one UTC day: intervals of at most 15 minutes inside that day, in order, without overlap.</summary>
    public static async Task<Results<Ok<ForecastResponse>, NotFound>> PutForecast(
        string id, string day, PutForecastRequest body, HttpContext http, MarketStore store, TimeProvider clock, CancellationToken cancellationToken)
    {
        var date = ParseDay(day);
        if (await OwnTransformerAsync(id, http, store, cancellationToken) is null) return TypedResults.NotFound();
        var dayStart = new DateTimeOffset(date.ToDateTime(TimeOnly.MinValue), TimeSpan.Zero);
        var points = body.Points!.Select((p, i) => new ForecastPoint(p.Start!.Value, p.End!.Value,
            Kilowatts.From(p.ExpectedLoadKw!.Value, $"points[{i}].expectedLoadKw"), Kilowatts.From(p.LimitKw!.Value, $"points[{i}].limitKw"))).ToList();
        for (var i = 0; i < points.Count; i++)
        {
            if (points[i].Start < dayStart || points[i].End > dayStart.AddDays(1))
                throw new DomainException($"points[{i}].start", "forecast-day", $"Every interval must lie inside {day} (UTC).");
            if (i > 0 && points[i].Start < points[i - 1].End)
                throw new DomainException($"points[{i}].start", "forecast-order", "Intervals must be in time order without overlap.");
        }
        var forecast = new CongestionForecast(id, date, points, clock.GetUtcNow());
        await store.PutForecastAsync(forecast, cancellationToken);
        return TypedResults.Ok(ForecastResponse.From(forecast));
    }

    public static async Task<Results<Ok<ForecastResponse>, NotFound>> GetForecast(
        string id, string day, HttpContext http, MarketStore store, CancellationToken cancellationToken)
    {
        var date = ParseDay(day);
        if (await OwnTransformerAsync(id, http, store, cancellationToken) is null) return TypedResults.NotFound();
        return await store.GetForecastAsync(id, date, cancellationToken) is { } f ? TypedResults.Ok(ForecastResponse.From(f)) : TypedResults.NotFound();
    }

    private static async Task<Transformer?> OwnTransformerAsync(string id, HttpContext http, MarketStore store, CancellationToken cancellationToken) =>
        await store.GetTransformerAsync(id, cancellationToken) is { } t && t.DsoId == http.User.ParticipantId() ? t : null;

    private static DateOnly ParseDay(string day) =>
        DateOnly.TryParseExact(day, "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var d) && d.Year is >= 2000 and <= 2200
            ? d : throw new ApiProblemException(400, "day", "date", "day must be a date yyyy-MM-dd (UTC) between 2000 and 2200.");

    public sealed class TransformerValidator : AbstractValidator<RegisterTransformerRequest>
    {
        public TransformerValidator()
        {
            RuleFor(x => x.Name).Text(200);
            RuleFor(x => x.RatedPowerKw).PositiveQuantity(3, 1_000_000m);
            RuleFor(x => x.Location).NotNull();
            RuleFor(x => x.Location!.Latitude).NotNull().InclusiveBetween(-90m, 90m).PrecisionScale(12, 7, true).When(x => x.Location is not null)
                .OverridePropertyName("location.latitude");
            RuleFor(x => x.Location!.Longitude).NotNull().InclusiveBetween(-180m, 180m).PrecisionScale(12, 7, true).When(x => x.Location is not null)
                .OverridePropertyName("location.longitude");
        }
    }

    public sealed class ForecastValidator : AbstractValidator<PutForecastRequest>
    {
        public ForecastValidator()
        {
            RuleFor(x => x.Points).NotEmpty().Must(p => p is null || p.Count <= 1440).WithMessage("At most 1,440 intervals (one per minute) per day.").WithErrorCode("count");
            RuleForEach(x => x.Points).NotNull().ChildRules(p =>
            {
                p.RuleFor(x => x.Start).Utc();
                p.RuleFor(x => x.End).Utc().GreaterThan(x => x.Start).WithMessage("'End' must be after 'Start'.")
                    .Must((x, end) => end - x.Start <= TimeSpan.FromMinutes(15)).WithMessage("An interval is at most 15 minutes long.").WithErrorCode("resolution");
                p.RuleFor(x => x.ExpectedLoadKw).NonNegativeQuantity(3, 1_000_000m);
                p.RuleFor(x => x.LimitKw).PositiveQuantity(3, 1_000_000m);
            });
        }
    }
}
