using FlexChain.Domain;
using FlexChain.Functions.Auth;
using FlexChain.Functions.Gates;
using FlexChain.Functions.Storage;
using FluentValidation;
using Microsoft.AspNetCore.Http.HttpResults;

namespace FlexChain.Functions.Api;

/// <summary>Flexibility requests (DSO): post with verification rules, list, read with results and settlement, cancel.</summary>
public static class RequestsApi
{
    /// <summary>How far ahead a request's delivery may start.</summary>
    public static readonly TimeSpan Horizon = TimeSpan.FromDays(366);

    /// <summary>The widest delivery-time range one list call scans without a transformer.</summary>
    public static readonly TimeSpan MaxListRange = TimeSpan.FromDays(31);

    public static RouteGroupBuilder MapRequestsApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/v1").WithTags("Requests").RequireAuthorization();
        group.MapPost("/requests", PostRequest).Validate<PostRequestRequest>().Idempotent<PostRequestRequest>().RequireAuthorization(Policies.Dso);
        group.MapGet("/requests", ListRequests);
        group.MapGet("/requests/{id}", GetRequest);
        group.MapPost("/requests/{id}/cancel", CancelRequest).RequireAuthorization(Policies.Dso);
        return group;
    }

    public static async Task<Created<RequestResponse>> PostRequest(
        PostRequestRequest body, HttpContext http, MarketStore store, GateCycleRunner gate, RequestViews views, TimeProvider clock,
        CancellationToken cancellationToken)
    {
        var dso = await OffersApi.PayableParticipantAsync(http, store, cancellationToken);
        var transformer = await store.GetTransformerAsync(body.TransformerId!, cancellationToken)
            ?? throw new DomainException("transformerId", "exists", $"Transformer {body.TransformerId} is not registered.");
        var request = FlexRequest.Post(Ids.New("req", clock), dso.Id, transformer,
            new TimeWindow(body.DeliveryStart!.Value, body.DeliveryEnd!.Value), KilowattHours.From(body.EnergyKwh!.Value),
            ValidationExtensions.ParseEnum(body.Direction, Direction.ReduceConsumption),
            EurosPerKilowattHour.From(body.MaxPriceEurPerKwh!.Value, "maxPriceEurPerKwh"), body.GateClosure!.Value,
            ValidationExtensions.ParseEnum(body.Pricing, PricingRule.PayAsBid), clock.GetUtcNow(),
            body.MinimumOfferKwh is { } min ? KilowattHours.From(min, "minimumOfferKwh") : null,
            ValidationExtensions.ParseEnum(body.Selection, SelectionMode.Automatic), body.DecisionDeadline, VerificationRulesOf(body.Verification));
        await gate.AddAsync(request, cancellationToken);
        await http.RequestServices.GetRequiredService<Notifications.NotificationPublisher>().RequestPublishedAsync(request, cancellationToken);
        return TypedResults.Created($"/v1/requests/{request.Id}", await views.BuildAsync(request, http.User, cancellationToken));
    }

    /// <summary>
    /// Requests whose delivery starts in [from, to) (default: the next 7 days), in delivery order, optionally on one
    /// transformer and in one state. <c>status=Open</c> means still accepting offers (open and before gate closure).
    /// </summary>
    public static async Task<Ok<ListResponse<RequestSummaryResponse>>> ListRequests(
        string? transformerId, string? status, string? from, string? to, int? limit, string? cursor, MarketStore store, TimeProvider clock,
        CancellationToken cancellationToken)
    {
        var now = clock.GetUtcNow();
        var start = ApiConventions.TimeFilter(from, "from") ?? now;
        var end = ApiConventions.TimeFilter(to, "to") ?? start.AddDays(7);
        if (end <= start) throw new ApiProblemException(400, "to", "range", "to must be after from.");
        if (transformerId is null && end - start > MaxListRange)
            throw new ApiProblemException(400, "to", "range", $"Without transformerId, from and to may be at most {MaxListRange.TotalDays} days apart.");
        var state = ApiConventions.EnumFilter<RequestState>(status, "status");
        Func<FlexRequest, bool> keep = state switch
        {
            null => _ => true,
            RequestState.Open => r => r.IsOpenAt(now),
            { } s => r => r.State == s,
        };
        var page = await store.ListRequestsAsync(transformerId, start, end, keep, ApiConventions.Limit(limit), cursor, cancellationToken);
        return TypedResults.Ok(page.ToResponse(RequestSummaryResponse.From));
    }

    public static async Task<Results<Ok<RequestResponse>, NotFound>> GetRequest(
        string id, HttpContext http, MarketStore store, RequestViews views, CancellationToken cancellationToken)
    {
        var stored = await store.GetRequestAsync(id, cancellationToken);
        return stored is null ? TypedResults.NotFound() : TypedResults.Ok(await views.BuildAsync(stored.Value.Value, http.User, cancellationToken));
    }

    /// <summary>Cancels the caller's request before gate closure; the gate cycle then never clears it.</summary>
    public static async Task<Results<Ok<RequestResponse>, NotFound, ProblemHttpResult>> CancelRequest(
        string id, HttpContext http, MarketStore store, RequestViews views, TimeProvider clock, CancellationToken cancellationToken)
    {
        var stored = await store.GetRequestAsync(id, cancellationToken);
        if (stored is null) return TypedResults.NotFound();
        var request = stored.Value.Value;
        if (request.DsoId != http.User.ParticipantId())
            return Problems.Create(403, "id", "own-request", "Only the DSO that posted a request can cancel it.");
        request.Cancel(http.User.ParticipantId(), clock.GetUtcNow());
        if (!await store.TryReplaceRequestAsync(request, stored.Value.ETag, cancellationToken))
            throw new ApiProblemException(409, "id", "concurrent-update", "The request changed (its gate may have closed) while cancelling; read it again.");
        return TypedResults.Ok(await views.BuildAsync(request, http.User, cancellationToken));
    }

    /// <summary>The request's rules (defaults for what is not given), checked by the domain; a violation names <c>verification.{field}</c>.</summary>
    private static VerificationRules VerificationRulesOf(VerificationRulesItem? item)
    {
        try
        {
            return (item?.ToRules() ?? VerificationRules.Default).Validate();
        }
        catch (DomainException e)
        {
            throw new DomainException("verification." + e.Field, e.Rule, e.Message);
        }
    }

    public sealed class RequestValidator : AbstractValidator<PostRequestRequest>
    {
        public RequestValidator(TimeProvider clock)
        {
            RuleFor(x => x.TransformerId).Id();
            RuleFor(x => x.DeliveryStart).Utc().Must(t => t <= clock.GetUtcNow() + Horizon)
                .WithMessage($"'Delivery Start' must be within {Horizon.TotalDays} days from now.").WithErrorCode("horizon");
            RuleFor(x => x.DeliveryEnd).Utc().GreaterThan(x => x.DeliveryStart).WithMessage("'Delivery End' must be after 'Delivery Start'.")
                .Must((x, end) => end - x.DeliveryStart <= TimeSpan.FromDays(1)).WithMessage("The delivery window must be at most one day long.").WithErrorCode("window-length");
            RuleFor(x => x.GateClosure).Utc();
            RuleFor(x => x.EnergyKwh).PositiveQuantity(KilowattHours.Scale, 1_000_000m);
            RuleFor(x => x.MaxPriceEurPerKwh).PositiveQuantity(EurosPerKilowattHour.Scale, 10_000m);
            RuleFor(x => x.Direction).EnumName<PostRequestRequest, Direction>();
            RuleFor(x => x.Pricing).EnumName<PostRequestRequest, PricingRule>();
            RuleFor(x => x.Selection).EnumName<PostRequestRequest, SelectionMode>();
            RuleFor(x => x.MinimumOfferKwh).PositiveQuantity(KilowattHours.Scale, 1_000_000m).When(x => x.MinimumOfferKwh is not null);
            RuleFor(x => x.DecisionDeadline).Utc().When(x => x.DecisionDeadline is not null);
            RuleFor(x => x.Verification!).ChildRules(v =>
            {
                v.RuleFor(x => x.Baseline).EnumName<VerificationRulesItem, BaselineMethod>();
                v.RuleFor(x => x.Payout).EnumName<VerificationRulesItem, PayoutRule>();
                v.RuleFor(x => x.SuccessThreshold).InclusiveBetween(0m, 1m).PrecisionScale(6, 4, ignoreTrailingZeros: true);
                v.RuleFor(x => x.Tolerance).InclusiveBetween(0m, 1m).PrecisionScale(6, 4, ignoreTrailingZeros: true);
                v.RuleFor(x => x.MbmaIntervals).InclusiveBetween(1, 96);
                v.RuleFor(x => x.Y).InclusiveBetween(1, 30);
                v.RuleFor(x => x.X).InclusiveBetween(1, 30)
                    .Must((r, x) => x is null || x <= (r.Y ?? VerificationRules.Default.Y)).WithMessage("'X' must be at most 'Y'.").WithErrorCode("x-of-y");
            }).When(x => x.Verification is not null);
        }
    }
}
