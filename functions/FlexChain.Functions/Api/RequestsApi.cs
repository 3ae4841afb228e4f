using FlexChain.Domain;
using FlexChain.Functions.Auth;
using FlexChain.Functions.GateCycle;
using FlexChain.Functions.Settlement;
using FlexChain.Functions.Storage;
using FluentValidation;
using Microsoft.AspNetCore.Http.HttpResults;

namespace FlexChain.Functions.Api;

/// <summary>Flexibility requests (DSO), sealed offers (CPO), meter readings, and the request's results and settlement.</summary>
public static class RequestsApi
{
    public static RouteGroupBuilder MapRequestsApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/v1").WithTags("Requests").RequireAuthorization();
        group.MapPost("/requests", PostRequest).Validate<PostRequestRequest>().RequireAuthorization(Policies.Dso);
        group.MapGet("/requests/{id}", GetRequest);
        group.MapPost("/requests/{id}/offers", PostOffer).Validate<PostOfferRequest>().RequireAuthorization(Policies.Cpo);
        group.MapPost("/stations/{id}/readings", PostReadings).Validate<PostMeterReadingsRequest>().RequireAuthorization(Policies.Cpo);
        return group;
    }

    public static async Task<Created<RequestResponse>> PostRequest(
        PostRequestRequest body, HttpContext http, MarketStore store, GateCycleRunner gate, RequestViews views, TimeProvider clock,
        CancellationToken cancellationToken)
    {
        var transformer = await store.GetTransformerAsync(body.TransformerId!, cancellationToken)
            ?? throw new DomainException("transformerId", "exists", $"Transformer {body.TransformerId} is not registered.");
        var request = FlexRequest.Post(Ids.New("req", clock), http.User.ParticipantId(), transformer,
            new TimeWindow(body.DeliveryStart!.Value, body.DeliveryEnd!.Value), KilowattHours.From(body.EnergyKwh!.Value),
            Enum.Parse<Direction>(body.Direction ?? nameof(Direction.ReduceConsumption), ignoreCase: true),
            EurosPerKilowattHour.From(body.MaxPriceEurPerKwh!.Value, "maxPriceEurPerKwh"), body.GateClosure!.Value,
            Enum.Parse<PricingRule>(body.Pricing ?? nameof(PricingRule.PayAsBid), ignoreCase: true), clock.GetUtcNow());
        await gate.AddAsync(request, cancellationToken);
        return TypedResults.Created($"/v1/requests/{request.Id}", await views.BuildAsync(request, http.User, cancellationToken));
    }

    public static async Task<Results<Ok<RequestResponse>, NotFound>> GetRequest(
        string id, HttpContext http, MarketStore store, RequestViews views, CancellationToken cancellationToken)
    {
        var stored = await store.GetRequestAsync(id, cancellationToken);
        return stored is null ? TypedResults.NotFound() : TypedResults.Ok(await views.BuildAsync(stored.Value.Value, http.User, cancellationToken));
    }

    public static async Task<Results<Created<OfferResponse>, NotFound, ProblemHttpResult>> PostOffer(
        string id, PostOfferRequest body, HttpContext http, MarketStore store, TimeProvider clock, CancellationToken cancellationToken)
    {
        var stored = await store.GetRequestAsync(id, cancellationToken);
        if (stored is null) return TypedResults.NotFound();
        var request = stored.Value.Value;
        var cpo = http.User.ParticipantId();
        var stations = new List<ChargingStation>();
        foreach (var stationId in body.StationIds!.Distinct())
            stations.Add(await store.GetStationAsync(stationId, cancellationToken)
                ?? throw new DomainException("stationIds", "exists", $"Station {stationId} is not registered."));
        var transformer = await store.GetTransformerAsync(request.TransformerId, cancellationToken)
            ?? throw new InvalidOperationException($"request {id} names a missing transformer");
        var now = clock.GetUtcNow();
        var offer = new Offer(Ids.New("off", clock), id, cpo, stations.Select(s => s.Id).ToList(), KilowattHours.From(body.EnergyKwh!.Value),
            EurosPerKilowattHour.From(body.PriceEurPerKwh!.Value), body.Divisible ?? true, now);
        request.AcceptOffer(offer, stations, transformer, now);
        if (!await store.TryAddOfferAsync(offer, cancellationToken))
            return TypedResults.Problem(statusCode: 409, title: "You already have an offer on this request.",
                detail: "One offer per CPO per request.",
                extensions: new Dictionary<string, object?> { ["field"] = "requestId", ["rule"] = "one-offer-per-cpo" });
        return TypedResults.Created($"/v1/requests/{id}/offers/{offer.Id}", OfferResponse.From(offer));
    }

    public static async Task<Results<Ok<MeterReadingsAccepted>, NotFound>> PostReadings(
        string id, PostMeterReadingsRequest body, HttpContext http, MarketStore store, CancellationToken cancellationToken)
    {
        var station = await store.GetStationAsync(id, cancellationToken);
        if (station is null || station.CpoId != http.User.ParticipantId()) return TypedResults.NotFound();
        var readings = body.Readings!.Select((r, i) => new MeterReading(station.Id, new TimeWindow(r.Start!.Value, r.End!.Value),
            KilowattHours.From(r.EnergyKwh!.Value, $"readings[{i}].energyKwh"))).ToList();
        await store.PutReadingsAsync(station.Id, readings, cancellationToken);
        return TypedResults.Ok(new MeterReadingsAccepted(station.Id, readings.Count));
    }

    public sealed class RequestValidator : AbstractValidator<PostRequestRequest>
    {
        public RequestValidator()
        {
            RuleFor(x => x.TransformerId).Id();
            RuleFor(x => x.DeliveryStart).Utc();
            RuleFor(x => x.DeliveryEnd).Utc().GreaterThan(x => x.DeliveryStart).WithMessage("'Delivery End' must be after 'Delivery Start'.")
                .Must((x, end) => end - x.DeliveryStart <= TimeSpan.FromDays(1)).WithMessage("The delivery window must be at most one day long.");
            RuleFor(x => x.GateClosure).Utc();
            RuleFor(x => x.EnergyKwh).PositiveQuantity(KilowattHours.Scale, 1_000_000m);
            RuleFor(x => x.MaxPriceEurPerKwh).PositiveQuantity(EurosPerKilowattHour.Scale, 10_000m);
            RuleFor(x => x.Direction).Must(d => d is null || Enum.TryParse<Direction>(d, true, out var v) && Enum.IsDefined(v) && !int.TryParse(d, out _))
                .WithMessage("'Direction' must be 'ReduceConsumption' or 'IncreaseConsumption'.");
            RuleFor(x => x.Pricing).Must(p => p is null || Enum.TryParse<PricingRule>(p, true, out var v) && Enum.IsDefined(v) && !int.TryParse(p, out _))
                .WithMessage("'Pricing' must be 'PayAsBid' or 'PayAsClear'.");
        }
    }

    public sealed class OfferValidator : AbstractValidator<PostOfferRequest>
    {
        public OfferValidator()
        {
            RuleFor(x => x.StationIds).NotEmpty().Must(s => s is null || s.Count <= 100).WithMessage("'Station Ids' may list at most 100 stations.");
            RuleForEach(x => x.StationIds).Id();
            RuleFor(x => x.EnergyKwh).PositiveQuantity(KilowattHours.Scale, 1_000_000m);
            RuleFor(x => x.PriceEurPerKwh).PositiveQuantity(EurosPerKilowattHour.Scale, 10_000m);
        }
    }

    public sealed class ReadingsValidator : AbstractValidator<PostMeterReadingsRequest>
    {
        public ReadingsValidator(TimeProvider clock)
        {
            RuleFor(x => x.Readings).NotEmpty().Must(r => r is null || r.Count <= 10_000).WithMessage("At most 10,000 readings per call.");
            RuleForEach(x => x.Readings).ChildRules(r =>
            {
                r.RuleFor(x => x.Start).Utc();
                r.RuleFor(x => x.End).Utc().GreaterThan(x => x.Start).WithMessage("'End' must be after 'Start'.")
                    .Must((x, end) => end - x.Start <= TimeSpan.FromHours(1) && end - x.Start >= TimeSpan.FromMinutes(1))
                    .WithMessage("A reading covers 1 to 60 minutes.")
                    .Must(end => end <= clock.GetUtcNow().AddMinutes(1)).WithMessage("A reading cannot end in the future.");
                r.RuleFor(x => x.EnergyKwh).NotNull().GreaterThanOrEqualTo(0m).LessThanOrEqualTo(100_000m).PrecisionScale(18, KilowattHours.Scale, true);
            });
            RuleFor(x => x.Readings).Must(r => r is null || r.Select(x => x.Start).Distinct().Count() == r.Count)
                .WithMessage("Two readings have the same start.");
        }
    }
}
