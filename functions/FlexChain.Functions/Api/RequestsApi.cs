using FlexChain.Domain;
using FlexChain.Functions.Auth;
using FlexChain.Functions.Gates;
using FlexChain.Functions.Settlement;
using FlexChain.Functions.Storage;
using FluentValidation;
using Microsoft.AspNetCore.Http.HttpResults;

namespace FlexChain.Functions.Api;

/// <summary>
/// Flexibility requests (DSO): post with verification rules, list, read with results and settlement, cancel, and for
/// manual selection record the DSO's decision (its picks among the offers) between gate closure and the decision deadline.
/// </summary>
public static class RequestsApi
{
    /// <summary>How far ahead a request's delivery may start.</summary>
    public static readonly TimeSpan Horizon = TimeSpan.FromDays(366);

    /// <summary>The widest delivery-time range one list call scans without a transformer.</summary>
    public static readonly TimeSpan MaxListRange = TimeSpan.FromDays(31);

    public static RouteGroupBuilder MapRequestsApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/v1").WithTags("Requests").RequireAuthorization();
        group.MapPost("/requests", PostRequest).Validate<PostRequestRequest>().Idempotent<PostRequestRequest>().RequireAuthorization(Policies.GridOperator);
        group.MapGet("/requests", ListRequests);
        group.MapGet("/requests/{id}", GetRequest);
        group.MapPost("/requests/{id}/cancel", CancelRequest).RequireAuthorization(Policies.GridOperator);
        group.MapPut("/requests/{id}/decision", PutDecision).Validate<PutDecisionRequest>().RequireAuthorization(Policies.GridOperator);
        group.MapGet("/requests/{id}/decision", GetDecision).RequireAuthorization(Policies.GridOperator);
        group.MapDelete("/requests/{id}/decision", WithdrawDecision).RequireAuthorization(Policies.GridOperator);
        return group;
    }

    /// <summary>A body's profile as kW values (null without one); the domain checks it against the market intervals.</summary>
    internal static List<Kilowatts>? Profile(IReadOnlyList<decimal>? kw) => kw?.Select(k => Kilowatts.From(k, "profileKw")).ToList();

    public static async Task<Created<RequestResponse>> PostRequest(
        PostRequestRequest body, HttpContext http, MarketStore store, GateCycleRunner gate, RequestEvents events, RequestViews views, SettlementLedger ledger,
        AvailabilityGate availability, Grid.GridStates gridStates, TimeProvider clock, CancellationToken cancellationToken)
    {
        var dso = await OffersApi.PayableParticipantAsync(http, store, cancellationToken);
        var transformer = await store.GetGridNodeAsync(body.TransformerId!, cancellationToken)
            ?? throw new DomainException("transformerId", "exists", $"Grid node {body.TransformerId} is not registered.");
        // With an Idempotency-Key the id comes from the key: an earlier attempt that stored the request and then failed is found.
        var id = IdempotentIds.For(http, "req");
        if (id is not null && await store.GetRequestAsync(id, cancellationToken) is { } earlier)
        {
            await events.PublishAsync(id, cancellationToken);
            return TypedResults.Created($"/v1/requests/{id}", await views.BuildAsync(earlier.Value, http.User, cancellationToken));
        }
        var window = new TimeWindow(body.DeliveryStart!.Value, body.DeliveryEnd!.Value);
        var profile = Profile(body.ProfileKw);
        var request = FlexRequest.Post(id ?? Ids.New("req", clock), dso.Id, transformer,
            window, body.EnergyKwh is { } kwh ? KilowattHours.From(kwh) : Profiles.Energy(profile!, gate.MarketInterval, window),
            ValidationExtensions.ParseEnum(body.Direction, Direction.ReduceConsumption),
            EurosPerKilowattHour.From(body.MaxPriceEurPerKwh!.Value, "maxPriceEurPerKwh"), body.GateClosure!.Value,
            ValidationExtensions.ParseEnum(body.Pricing, PricingRule.PayAsBid), clock.GetUtcNow(),
            body.MinimumOfferKwh is { } min ? KilowattHours.From(min, "minimumOfferKwh") : null,
            ValidationExtensions.ParseEnum(body.Selection, SelectionMode.Automatic), body.DecisionDeadline, VerificationRulesOf(body.Verification),
            RequestConsents.From(body.Consent!), gate.MarketInterval, http.User.Role(), body.ApprovalDeadline, body.AvailabilityId, profile,
            body.MinBlockKw is { } block ? Kilowatts.From(block, "minBlockKw") : null);
        if ((await gridStates.PathStateAsync(transformer.Id, request.Delivery, cancellationToken))?.RequestProblem(transformer.Id) is { } grid)
            throw new DomainException("transformerId", grid.Rule, grid.Message);
        await RequestConsents.VerifyAsync(request, dso, ledger, cancellationToken);
        if (request.AvailabilityId is null) await gate.AddAsync(request, cancellationToken);
        else await AvailabilityApi.CallAsync(request, store, gate, availability, clock.GetUtcNow(), cancellationToken);
        await events.PublishAsync(request.Id, cancellationToken);
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
        if (await OwnRequestAsync(id, http, store, "cancel it", cancellationToken) is not { } stored) return TypedResults.NotFound();
        var request = stored.Value;
        request.Cancel(http.User.ParticipantId(), clock.GetUtcNow());
        if (await store.TryReplaceRequestAsync(request, stored.ETag, cancellationToken) is null)
            throw new ApiProblemException(409, "id", "concurrent-update", "The request changed (its gate may have closed) while cancelling; read it again.");
        return TypedResults.Ok(await views.BuildAsync(request, http.User, cancellationToken));
    }

    /// <summary>
    /// Records the DSO's manual decision on its Manual-selection request, from gate closure until (not at) the decision
    /// deadline; a later PUT replaces it, and the gate cycle clears the request with the decision in force at the
    /// deadline. Every pick is checked against the request's offers as clearing will check it: if any would be refused,
    /// nothing is stored and the 422 problem lists each refused pick (<c>pickProblems</c>: field, offer id, reason, message).
    /// </summary>
    public static async Task<Results<Ok<DecisionResponse>, NotFound, ProblemHttpResult>> PutDecision(
        string id, PutDecisionRequest body, HttpContext http, MarketStore store, TimeProvider clock, CancellationToken cancellationToken)
    {
        if (await OwnRequestAsync(id, http, store, "decide it", cancellationToken) is not { } stored) return TypedResults.NotFound();
        var request = stored.Value;
        var items = body.Picks!;
        var picks = items.Select(p => new OfferPick(p.OfferId!, p.EnergyKwh is { } kwh ? KilowattHours.From(kwh) : null)).ToList();
        var offers = await store.GetOffersAsync(request, cancellationToken);
        var problems = request.Decide(request.DsoId, picks, offers, clock.GetUtcNow());
        if (problems.Count > 0) return PickProblems(items, problems);
        if (await store.TryReplaceRequestAsync(request, stored.ETag, cancellationToken) is null)
            throw new ApiProblemException(409, "id", "concurrent-update",
                "The request changed while deciding (another decision was recorded, or its gate cycle cleared it); read it again.");
        return TypedResults.Ok(DecisionResponse.From(request, request.Decision!));
    }

    /// <summary>The DSO's recorded decision on its request; 404 (rule <c>no-decision</c>) while it has made none.</summary>
    public static async Task<Results<Ok<DecisionResponse>, NotFound, ProblemHttpResult>> GetDecision(
        string id, HttpContext http, MarketStore store, CancellationToken cancellationToken)
    {
        if (await OwnRequestAsync(id, http, store, "read its decision", cancellationToken) is not { } stored) return TypedResults.NotFound();
        var request = stored.Value;
        if (request.Decision is not { } decision)
            return Problems.Create(404, "id", "no-decision", request.Selection == SelectionMode.Manual
                ? $"No decision is recorded; without one before {request.DecisionDeadline:O} the request is cleared automatically."
                : "This request is cleared automatically (merit order); it takes no decision.");
        return TypedResults.Ok(DecisionResponse.From(request, decision));
    }

    /// <summary>
    /// Withdraws the DSO's decision within the decision period, so the request is cleared automatically unless the DSO
    /// decides again before the deadline; 404 (rule <c>no-decision</c>) when none is recorded.
    /// </summary>
    public static async Task<Results<NoContent, NotFound, ProblemHttpResult>> WithdrawDecision(
        string id, HttpContext http, MarketStore store, TimeProvider clock, CancellationToken cancellationToken)
    {
        if (await OwnRequestAsync(id, http, store, "withdraw its decision", cancellationToken) is not { } stored) return TypedResults.NotFound();
        var request = stored.Value;
        if (!request.WithdrawDecision(request.DsoId, clock.GetUtcNow()))
            return Problems.Create(404, "id", "no-decision", "No decision is recorded on this request; it is cleared automatically unless you record one.");
        if (await store.TryReplaceRequestAsync(request, stored.ETag, cancellationToken) is null)
            throw new ApiProblemException(409, "id", "concurrent-update",
                "The request changed while withdrawing the decision (another decision was recorded, or its gate cycle cleared it); read it again.");
        return TypedResults.NoContent();
    }

    /// <summary>
    /// The request read fresh (not the offer path's cache: its ETag guards the save against the gate cycle and concurrent
    /// calls), or null when there is none.
    /// </summary>
    /// <exception cref="ApiProblemException">It is another DSO's request (403, rule <c>own-request</c>).</exception>
    private static async Task<Stored<FlexRequest>?> OwnRequestAsync(string id, HttpContext http, MarketStore store, string action, CancellationToken cancellationToken)
    {
        var stored = await store.GetRequestAsync(id, cancellationToken);
        if (stored is { } s && s.Value.DsoId != http.User.ParticipantId())
            throw new ApiProblemException(403, "id", "own-request", $"Only the DSO or TSO that posted a request can {action}.");
        return stored;
    }

    /// <summary>422 naming every refused pick by its place in the body (<c>picks[i].offerId</c>), the offer and the reason.</summary>
    private static ProblemHttpResult PickProblems(IReadOnlyList<OfferPickItem> items, IReadOnlyList<PickProblem> problems)
    {
        var list = problems.Select(p =>
        {
            var index = items.Select((item, i) => (item, i)).First(x => x.item.OfferId == p.OfferId).i;
            return new PickProblemItem($"picks[{index}].offerId", "valid-pick", p.OfferId, p.Reason.ToString(), p.Message);
        }).OrderBy(p => p.Field, StringComparer.Ordinal).ToList();
        return TypedResults.Problem(statusCode: 422, title: Problems.TitleFor(422),
            detail: string.Join(" ", list.Select(p => $"{p.OfferId}: {p.Message}")),
            extensions: new Dictionary<string, object?> { ["field"] = list[0].Field, ["rule"] = "valid-pick", ["pickProblems"] = list });
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

    public sealed class DecisionValidator : AbstractValidator<PutDecisionRequest>
    {
        /// <summary>The most picks one decision may list.</summary>
        public const int MaxPicks = 1000;

        public DecisionValidator()
        {
            RuleFor(x => x.Picks).NotEmpty()
                .Must(p => p!.Count <= MaxPicks).WithMessage($"'Picks' may list at most {MaxPicks} offers.").WithErrorCode("count");
            RuleForEach(x => x.Picks).NotNull().ChildRules(p =>
            {
                p.RuleFor(x => x.OfferId).Id();
                p.RuleFor(x => x.EnergyKwh).PositiveQuantity(KilowattHours.Scale, 1_000_000m).When(x => x.EnergyKwh is not null);
            });
            RuleFor(x => x.Picks).Custom((picks, context) =>
            {
                var seen = new HashSet<string>(StringComparer.Ordinal);
                for (var i = 0; i < (picks?.Count ?? 0); i++)
                    if (picks![i]?.OfferId is { } offerId && !seen.Add(offerId))
                        context.AddFailure(new FluentValidation.Results.ValidationFailure($"Picks[{i}].OfferId",
                            $"Offer {offerId} is picked more than once; pick each offer once (with the energy you want of it).") { ErrorCode = "unique" });
            });
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
            RuleFor(x => x.EnergyKwh).PositiveQuantity(KilowattHours.Scale, 1_000_000m).When(x => x.ProfileKw is null || x.EnergyKwh is not null);
            RuleFor(x => x.ProfileKw).Profile();
            RuleForEach(x => x.ProfileKw).ProfileValue();
            RuleFor(x => x.MaxPriceEurPerKwh).PositiveQuantity(EurosPerKilowattHour.Scale, 10_000m);
            RuleFor(x => x.Direction).EnumName<PostRequestRequest, Direction>();
            RuleFor(x => x.Pricing).EnumName<PostRequestRequest, PricingRule>();
            RuleFor(x => x.Selection).EnumName<PostRequestRequest, SelectionMode>();
            RuleFor(x => x.MinimumOfferKwh).PositiveQuantity(KilowattHours.Scale, 1_000_000m).When(x => x.MinimumOfferKwh is not null);
            RuleFor(x => x.MinBlockKw).PositiveQuantity(3, 1_000_000m).When(x => x.MinBlockKw is not null);
            RuleFor(x => x.DecisionDeadline).Utc().When(x => x.DecisionDeadline is not null);
            RuleFor(x => x.ApprovalDeadline).Utc().When(x => x.ApprovalDeadline is not null);
            RuleFor(x => x.AvailabilityId).Id().When(x => x.AvailabilityId is not null);
            RuleFor(x => x.Verification!).ChildRules(v =>
            {
                v.RuleFor(x => x.Baseline).EnumName<VerificationRulesItem, BaselineMethod>();
                v.RuleFor(x => x.Payout).EnumName<VerificationRulesItem, PayoutRule>();
                v.RuleFor(x => x.SuccessThreshold).InclusiveBetween(0m, 1m).PrecisionScale(6, 4, ignoreTrailingZeros: true);
                v.RuleFor(x => x.Tolerance).InclusiveBetween(0m, 1m).PrecisionScale(6, 4, ignoreTrailingZeros: true);
                v.RuleFor(x => x.MbmaMinutes).InclusiveBetween(1, 1440);
                v.RuleFor(x => x.Y).InclusiveBetween(1, 30);
                v.RuleFor(x => x.X).InclusiveBetween(1, 30)
                    .Must((r, x) => x is null || x <= (r.Y ?? VerificationRules.Default.Y)).WithMessage("'X' must be at most 'Y'.").WithErrorCode("x-of-y");
            }).When(x => x.Verification is not null);
            RuleFor(x => x.Consent).NotNull().WithMessage("'Consent' is required: the DSO's signed consent to pay for the request.").WithErrorCode("required");
            RuleFor(x => x.Consent!).SetValidator(new ConsentValidator()).When(x => x.Consent is not null);
        }
    }

    /// <summary>The form of a DSO's consent, on a request or an availability request.</summary>
    public sealed class ConsentValidator : AbstractValidator<ConsentItem>
    {
        public ConsentValidator()
        {
            RuleFor(x => x.MaxAmount).NotEmpty().Matches("^[0-9]{1,78}$").WithMessage("'Max Amount' must be a whole number of token units (decimal digits).")
                .WithErrorCode("token-units");
            RuleFor(x => x.Nonce).NotEmpty().Matches("^[0-9]{1,78}$").WithMessage("'Nonce' must be a whole number (decimal digits).").WithErrorCode("token-units");
            RuleFor(x => x.Deadline).NotNull().Utc();
            RuleFor(x => x.Signature).NotEmpty().Matches("^0x[0-9a-fA-F]{130}$").WithMessage("'Signature' must be 0x and 65 bytes of hex (r || s || v).")
                .WithErrorCode("signature");
        }
    }
}
