using FlexChain.Domain;
using FlexChain.Functions.Auth;
using FlexChain.Functions.Storage;
using FluentValidation;
using Microsoft.AspNetCore.Http.HttpResults;

namespace FlexChain.Functions.Api;

/// <summary>
/// TSO-DSO coordination: the coordination model of a market area (the grid below a top HV/MV substation), which decides
/// whether the DSOs' or the TSO's requests of one gate cycle clear first (DOMAIN.md section 7).
/// </summary>
public static class TsoApi
{
    public static RouteGroupBuilder MapTsoApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/v1/grid/nodes/{id}/coordination").WithTags("Grid").RequireAuthorization();
        group.MapPut("/", PutCoordination).Validate<PutCoordinationRequest>().RequireAuthorization(Policies.GridOperator);
        group.MapGet("/", GetCoordination);
        var limits = app.MapGroup("/v1/grid/nodes/{id}/approval-limit").WithTags("Grid").RequireAuthorization();
        limits.MapPut("/", PutApprovalLimit).Validate<PutApprovalLimitRequest>().RequireAuthorization(Policies.GridOperator);
        limits.MapGet("/", GetApprovalLimit);
        var trades = app.MapGroup("/v1/requests/{id}/trades").WithTags("Requests").RequireAuthorization(Policies.GridOperator);
        trades.MapGet("/", ListTrades);
        trades.MapPut("/{offerId}", AnswerTrade).Validate<TradeAnswerRequest>();
        app.MapGroup("/v1/requests/{id}/pools").WithTags("Requests").RequireAuthorization().MapGet("/", ListPools);
        return group;
    }

    /// <summary>Sets the caller's approval limit on its node: trades on TSO requests through it of at most that average power are approved automatically.</summary>
    public static async Task<Results<Ok<ApprovalLimitResponse>, NotFound>> PutApprovalLimit(
        string id, PutApprovalLimitRequest body, HttpContext http, MarketStore store, TimeProvider clock, CancellationToken cancellationToken)
    {
        if (await store.GetGridNodeAsync(id, cancellationToken) is not { } node) return TypedResults.NotFound();
        if (node.OperatorId != http.User.ParticipantId())
            throw new DomainException("id", "own-node", $"Node {node.Id} belongs to another operator; only its owner sets its approval limit.");
        var limit = new ApprovalLimit(node.Id, node.OperatorId, Kilowatts.From(body.MaxKw!.Value, "maxKw"), clock.GetUtcNow());
        await store.PutApprovalLimitAsync(limit, cancellationToken);
        return TypedResults.Ok(ApprovalLimitResponse.From(limit));
    }

    /// <summary>A node's approval limit; 404 while its owner set none (no trade through it is approved automatically).</summary>
    public static async Task<Results<Ok<ApprovalLimitResponse>, NotFound>> GetApprovalLimit(string id, MarketStore store, CancellationToken cancellationToken) =>
        await store.GetApprovalLimitAsync(id, cancellationToken) is { } limit ? TypedResults.Ok(ApprovalLimitResponse.From(limit)) : TypedResults.NotFound();

    /// <summary>
    /// The trades of a TSO's request after its gate closure: for the TSO every offer, for a DSO the offers with a station in
    /// its grid; each with the operators it impacts, whether it is approved automatically for the caller, and the answers so
    /// far. Paged over the request's offers, so a DSO's page may hold fewer than <c>limit</c> trades (follow <c>nextCursor</c>).
    /// </summary>
    public static async Task<Results<Ok<ListResponse<TradeResponse>>, NotFound>> ListTrades(
        string id, int? limit, string? cursor, HttpContext http, MarketStore store, TimeProvider clock, CancellationToken cancellationToken)
    {
        if (await store.GetRequestAsync(id, cancellationToken) is not { } stored) return TypedResults.NotFound();
        var request = stored.Value;
        var me = http.User.ParticipantId();
        if (request.Buyer != Role.Tso) throw new DomainException("id", "tso-request", $"Request {id} is not a TSO's balancing request; its trades need no approval.");
        if (!request.OffersUnsealedAt(clock.GetUtcNow()))
            throw new ApiProblemException(403, "id", "sealed", $"The trades are shown from gate closure, {request.GateClosure:O}.");
        var answers = (await store.GetTradeAnswersAsync(id, cancellationToken)).ToLookup(a => a.OfferId);
        var items = new List<TradeResponse>();
        var page = await store.ListOffersAsync(request, ApiConventions.Limit(limit), cursor, cancellationToken);
        foreach (var offer in page.Items)
        {
            var impact = await store.GetTradeImpactAsync(request, offer, cancellationToken);
            if (me != request.DsoId && !impact.Operators.Contains(me)) continue;
            var power = TradeAnswer.PowerOf(request, offer);
            items.Add(new TradeResponse(offer.Id, offer.StationIds, Wire.Kwh(offer.Energy.Value), Wire.Kw(power.Value), impact.Operators,
                impact.AutoApproves(me, power),
                answers[offer.Id].Select(a => new TradeAnswerResponse(a.OperatorId, a.Verdict.ToString(), a.Reason, a.AnsweredAt)).ToList()));
        }
        return TypedResults.Ok(new ListResponse<TradeResponse>(items, page.NextCursor));
    }

    /// <summary>
    /// An impacted DSO answers on a trade, from gate closure until the request's approval deadline; a later answer replaces its
    /// earlier one. An answer that loses the race with the gate cycle fixing the answers at the deadline is refused (409 rule
    /// <c>approval-deadline</c>) and stored nowhere, whatever this instance's clock says.
    /// </summary>
    public static async Task<Results<Ok<TradeAnswerResponse>, NotFound>> AnswerTrade(
        string id, string offerId, TradeAnswerRequest body, HttpContext http, MarketStore store, TimeProvider clock, CancellationToken cancellationToken)
    {
        if (await store.GetRequestAsync(id, cancellationToken) is not { } stored) return TypedResults.NotFound();
        if ((await store.GetOffersAsync(stored.Value, cancellationToken)).FirstOrDefault(o => o.Id == offerId) is not { } offer) return TypedResults.NotFound();
        var me = http.User.ParticipantId();
        var impact = await store.GetTradeImpactAsync(stored.Value, offer, cancellationToken);
        var answer = TradeAnswer.Give(stored.Value, offer, me, impact.Operators, impact.Limits.TryGetValue(me, out var limit) ? limit : null,
            Enum.Parse<TradeVerdict>(body.Verdict!, ignoreCase: true), body.Reason, clock.GetUtcNow());
        if (!await store.TryPutTradeAnswerAsync(answer, cancellationToken))
            throw new ApiProblemException(409, "id", "approval-deadline",
                $"The answers on request {id} were fixed for its clearing at the approval deadline, {stored.Value.ClearsAt:O}; this answer came after and was not recorded.");
        return TypedResults.Ok(new TradeAnswerResponse(answer.OperatorId, answer.Verdict.ToString(), answer.Reason, answer.AnsweredAt));
    }

    /// <summary>
    /// The pools a TSO's request was cleared with (<see cref="Pooling"/>), from its outcomes: to the TSO every pool with every
    /// member, to a CPO the pools holding one of its offers with only its own members; empty for anyone else and before clearing.
    /// </summary>
    public static async Task<Results<Ok<ListResponse<PoolResponse>>, NotFound>> ListPools(
        string id, HttpContext http, MarketStore store, CancellationToken cancellationToken)
    {
        if (await store.GetRequestAsync(id, cancellationToken) is not { } stored) return TypedResults.NotFound();
        var request = stored.Value;
        var pooled = request.Outcomes.Where(o => o.PoolId is not null).ToList();
        if (pooled.Count == 0) return TypedResults.Ok(new ListResponse<PoolResponse>([], null));
        var me = http.User.ParticipantId();
        var offers = (await store.GetOffersAsync(request, cancellationToken)).ToDictionary(o => o.Id, StringComparer.Ordinal);
        var awards = request.Awards.ToDictionary(a => a.OfferId, StringComparer.Ordinal);
        var pools = new List<PoolResponse>();
        foreach (var pool in pooled.GroupBy(o => o.PoolId!))
        {
            var members = pool.Select(o => (Outcome: o, Offer: offers[o.OfferId])).ToList();
            var visible = members.Where(m => me == request.DsoId || m.Offer.CpoId == me).ToList();
            if (visible.Count == 0) continue;
            var energy = members.Aggregate(KilowattHours.Zero, (sum, m) => sum + m.Offer.Energy);
            var first = members[0].Outcome;
            pools.Add(new PoolResponse(pool.Key, first.Kind.ToString(), Wire.Kwh(energy.Value), Wire.Kw(Pooling.PowerOf(energy, request.Delivery).Value),
                first.IsAccepted ? Wire.EurPerKwh(first.Price.Value) : (decimal?)null, members.Count,
                visible.Select(m => new PoolMemberResponse(m.Offer.Id, m.Offer.CpoId, m.Offer.StationIds, Wire.Kwh(m.Offer.Energy.Value),
                    Wire.EurPerKwh(m.Offer.Price.Value), m.Offer.ForwardedFrom, awards.GetValueOrDefault(m.Offer.Id)?.Id)).ToList()));
        }
        return TypedResults.Ok(new ListResponse<PoolResponse>(pools, null));
    }

    /// <summary>Sets the model of the area below the caller's top node; gate cycles clearing from then on follow it.</summary>
    public static async Task<Results<Ok<CoordinationResponse>, NotFound>> PutCoordination(
        string id, PutCoordinationRequest body, HttpContext http, MarketStore store, TimeProvider clock, CancellationToken cancellationToken)
    {
        if (await store.GetGridNodeAsync(id, cancellationToken) is not { } node) return TypedResults.NotFound();
        CoordinationArea.RequireSettable(node, http.User.ParticipantId());
        var setting = new CoordinationSetting(node.Id, Enum.Parse<CoordinationModel>(body.Model!, ignoreCase: true), http.User.ParticipantId(), clock.GetUtcNow());
        await store.PutCoordinationAsync(setting, cancellationToken);
        return TypedResults.Ok(CoordinationResponse.From(setting));
    }

    /// <summary>The model of the market area below a top node (<c>Separate</c>, with no <c>updatedAt</c>, until its owner sets one).</summary>
    public static async Task<Results<Ok<CoordinationResponse>, NotFound>> GetCoordination(string id, MarketStore store, CancellationToken cancellationToken)
    {
        if (await store.GetGridNodeAsync(id, cancellationToken) is not { } node) return TypedResults.NotFound();
        var setting = await store.GetCoordinationAsync(node.Id, cancellationToken);
        return TypedResults.Ok(setting is null ? new CoordinationResponse(node.Id, nameof(CoordinationModel.Separate), null) : CoordinationResponse.From(setting));
    }

    public sealed class CoordinationValidator : AbstractValidator<PutCoordinationRequest>
    {
        public CoordinationValidator() => RuleFor(x => x.Model).NotEmpty().EnumName<PutCoordinationRequest, CoordinationModel>();
    }

    public sealed class ApprovalLimitValidator : AbstractValidator<PutApprovalLimitRequest>
    {
        public ApprovalLimitValidator() => RuleFor(x => x.MaxKw).NotNull().GreaterThanOrEqualTo(0m).LessThanOrEqualTo(10_000_000m);
    }

    public sealed class TradeAnswerValidator : AbstractValidator<TradeAnswerRequest>
    {
        public TradeAnswerValidator()
        {
            RuleFor(x => x.Verdict).NotEmpty().EnumName<TradeAnswerRequest, TradeVerdict>();
            RuleFor(x => x.Reason).MaximumLength(2000);
        }
    }
}

public sealed record PutCoordinationRequest(string? Model);

public sealed record CoordinationResponse(string NodeId, string Model, DateTimeOffset? UpdatedAt)
{
    public static CoordinationResponse From(CoordinationSetting s) => new(s.NodeId, s.Model.ToString(), s.UpdatedAt);
}

public sealed record PutApprovalLimitRequest(decimal? MaxKw);

public sealed record ApprovalLimitResponse(string NodeId, string OperatorId, decimal MaxKw, DateTimeOffset UpdatedAt)
{
    public static ApprovalLimitResponse From(ApprovalLimit l) => new(l.NodeId, l.OperatorId, Wire.Kw(l.MaxPower.Value), l.UpdatedAt);
}

public sealed record TradeAnswerRequest(string? Verdict, string? Reason);

public sealed record TradeAnswerResponse(string OperatorId, string Verdict, string? Reason, DateTimeOffset AnsweredAt);

public sealed record TradeResponse(
    string OfferId, IReadOnlyList<string> StationIds, decimal EnergyKwh, decimal PowerKw, IReadOnlyList<string> ImpactedOperators, bool AutoApproved,
    IReadOnlyList<TradeAnswerResponse> Answers);

/// <summary>
/// A pool of forwarded offers cleared as one indivisible block on a TSO's request: its outcome (every member's), energy and
/// average power, the price every member is paid when it won, how many members it has, and the members the caller may see.
/// </summary>
public sealed record PoolResponse(
    string PoolId, string Outcome, decimal EnergyKwh, decimal PowerKw, decimal? PriceEurPerKwh, int MemberCount, IReadOnlyList<PoolMemberResponse> Members);

/// <summary>A member of a pool: its offer as the CPO placed it (price: what it asked), the DSO request's offer it came from, and its own award when the pool won.</summary>
public sealed record PoolMemberResponse(
    string OfferId, string CpoId, IReadOnlyList<string> StationIds, decimal EnergyKwh, decimal PriceEurPerKwh, string? ForwardedFrom, string? AwardId);
