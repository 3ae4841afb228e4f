using System.Globalization;
using FlexChain.Domain;
using FlexChain.Functions.Auth;
using FlexChain.Functions.Storage;
using FluentValidation;
using Microsoft.AspNetCore.Http.HttpResults;

namespace FlexChain.Functions.Api;

/// <summary>
/// The grid: a tree of nodes (HV/MV substations, MV feeders, MV/LV transformers, LV feeders), each owned by an operator (a
/// TSO above the DSOs); DSOs register transformers (nodes of kind MvLvTransformer) and publish day-ahead congestion
/// forecasts for them.
/// </summary>
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
        var nodes = app.MapGroup("/v1/grid/nodes").WithTags("Grid").RequireAuthorization();
        nodes.MapPost("/", RegisterNode).Validate<RegisterGridNodeRequest>().Idempotent<RegisterGridNodeRequest>().RequireAuthorization(Policies.GridOperator);
        nodes.MapGet("/", ListNodes).RequireAuthorization(Policies.GridOperator);
        nodes.MapGet("/{id}", GetNode);
        nodes.MapGet("/{id}/children", ListChildren);
        nodes.MapGet("/{id}/operators", GetOperators);
        var limits = app.MapGroup("/v1/grid/limits").WithTags("Grid").RequireAuthorization();
        limits.MapPost("/", AnnounceLimit).Validate<TemporaryLimitRequest>().Idempotent<TemporaryLimitRequest>().RequireAuthorization(Policies.GridOperator);
        limits.MapGet("/", ListLimits);
        return group;
    }

    /// <summary>Registers an MV/LV transformer: a grid node of that kind, under <c>parentId</c> when given (else a root).</summary>
    public static async Task<Created<TransformerResponse>> RegisterTransformer(
        RegisterTransformerRequest body, HttpContext http, MarketStore store, TimeProvider clock, CancellationToken cancellationToken)
    {
        var t = await AddNodeAsync(GridNodeKind.MvLvTransformer, body.Name!, body.RatedPowerKw!.Value, body.Location!, body.ParentId,
            (body.PlanningLimitKw, body.OperationalLimitKw), http, store, clock, cancellationToken);
        return TypedResults.Created($"/v1/transformers/{t.Id}", TransformerResponse.From(t));
    }

    /// <summary>Registers a grid node: a TSO its HV/MV substations, a DSO its nodes under its own nodes or under a TSO's substation.</summary>
    public static async Task<Created<GridNodeResponse>> RegisterNode(
        RegisterGridNodeRequest body, HttpContext http, MarketStore store, TimeProvider clock, CancellationToken cancellationToken)
    {
        var n = await AddNodeAsync(Enum.Parse<GridNodeKind>(body.Kind!, ignoreCase: true), body.Name!, body.RatedPowerKw!.Value, body.Location!, body.ParentId,
            (body.PlanningLimitKw, body.OperationalLimitKw), http, store, clock, cancellationToken);
        return TypedResults.Created($"/v1/grid/nodes/{n.Id}", GridNodeResponse.From(n));
    }

    private static async Task<GridNode> AddNodeAsync(
        GridNodeKind kind, string name, decimal ratedPowerKw, LocationItem location, string? parentId, (decimal? Planning, decimal? Operational) limits,
        HttpContext http, MarketStore store, TimeProvider clock, CancellationToken cancellationToken)
    {
        var rated = Kilowatts.From(ratedPowerKw, "ratedPowerKw");
        GridNode? parent = null;
        var parentRole = Role.Dso;
        if (parentId is not null)
        {
            parent = await store.GetGridNodeAsync(parentId, cancellationToken)
                ?? throw new DomainException("parentId", "exists", $"Grid node {parentId} is not registered.");
            parentRole = (await store.GetParticipantAsync(parent.OperatorId, cancellationToken))!.Value.Participant.Role;
        }
        var node = GridNode.Register(Ids.New(kind == GridNodeKind.MvLvTransformer ? "tr" : "gn", clock), http.User.ParticipantId(), http.User.Role(), name,
            rated, kind, parent, parentRole) with
        {
            Location = new GeoLocation(location.Latitude!.Value, location.Longitude!.Value),
            RegisteredAt = clock.GetUtcNow(),
            Limits = limits is ({ } planning, { } operational)
                ? GridLimits.For(Kilowatts.From(planning, "planningLimitKw"), Kilowatts.From(operational, "operationalLimitKw"), rated) : null,
        };
        await store.AddGridNodeAsync(node, cancellationToken);
        return node;
    }

    /// <summary>The caller's own transformers, in id (registration) order.</summary>
    public static async Task<Ok<ListResponse<TransformerResponse>>> ListTransformers(
        int? limit, string? cursor, HttpContext http, MarketStore store, CancellationToken cancellationToken) =>
        TypedResults.Ok((await store.ListGridNodesAsync(http.User.ParticipantId(), GridNodeKind.MvLvTransformer, ApiConventions.Limit(limit), cursor, cancellationToken))
            .ToResponse(TransformerResponse.From));

    /// <summary>Any participant may read a transformer: CPOs name it when they register stations behind it.</summary>
    public static async Task<Results<Ok<TransformerResponse>, NotFound>> GetTransformer(string id, MarketStore store, CancellationToken cancellationToken) =>
        await store.GetTransformerAsync(id, cancellationToken) is { } t ? TypedResults.Ok(TransformerResponse.From(t)) : TypedResults.NotFound();

    /// <summary>The caller's own nodes, in id (registration) order, optionally of one kind.</summary>
    public static async Task<Ok<ListResponse<GridNodeResponse>>> ListNodes(
        string? kind, int? limit, string? cursor, HttpContext http, MarketStore store, CancellationToken cancellationToken) =>
        TypedResults.Ok((await store.ListGridNodesAsync(http.User.ParticipantId(), ApiConventions.EnumFilter<GridNodeKind>(kind, "kind"), ApiConventions.Limit(limit),
            cursor, cancellationToken)).ToResponse(GridNodeResponse.From));

    /// <summary>Any participant may read the grid tree: where a station connects decides which operators it concerns.</summary>
    public static async Task<Results<Ok<GridNodeResponse>, NotFound>> GetNode(string id, MarketStore store, CancellationToken cancellationToken) =>
        await store.GetGridNodeAsync(id, cancellationToken) is { } n ? TypedResults.Ok(GridNodeResponse.From(n)) : TypedResults.NotFound();

    /// <summary>The nodes directly below a node, in id order.</summary>
    public static async Task<Results<Ok<ListResponse<GridNodeResponse>>, NotFound>> ListChildren(
        string id, int? limit, string? cursor, MarketStore store, CancellationToken cancellationToken)
    {
        if (await store.GetGridNodeAsync(id, cancellationToken) is null) return TypedResults.NotFound();
        return TypedResults.Ok((await store.ListChildNodesAsync(id, ApiConventions.Limit(limit), cursor, cancellationToken)).ToResponse(GridNodeResponse.From));
    }

    /// <summary>The operators of a station connected to the node: the node's owner connects it; the other owners above it are impacted.</summary>
    public static async Task<Results<Ok<GridOperatorsResponse>, NotFound>> GetOperators(string id, MarketStore store, CancellationToken cancellationToken)
    {
        if (await store.GetGridPathAsync(id, cancellationToken) is not { } path) return TypedResults.NotFound();
        var ops = GridOperators.Of(path.Node, path.Ancestors);
        return TypedResults.Ok(new GridOperatorsResponse(id, ops.Connecting, ops.Impacted));
    }

    /// <summary>
    /// Announces a temporary limit on a station (by an operator its grid prequalification concerns) or on a node and
    /// everything under it (by the node's owner or the owner of a node above it), at least an hour before the gate
    /// closure of every request whose delivery overlaps the period on an affected transformer, or on an HV/MV substation
    /// above it (a TSO's balancing request draws on the stations below).
    /// </summary>
    public static async Task<Created<TemporaryLimitResponse>> AnnounceLimit(
        TemporaryLimitRequest body, HttpContext http, MarketStore store, TimeProvider clock, CancellationToken cancellationToken)
    {
        var me = http.User.ParticipantId();
        var now = clock.GetUtcNow();
        IReadOnlyList<string> transformers;
        if (body.StationId is { } stationId)
        {
            var gridCase = await store.GetLatestGridCaseAsync(me, stationId, cancellationToken)
                ?? throw new DomainException("stationId", "own-grid", $"Station {stationId} is not connected in or below your grid (no grid prequalification case of it concerns you).");
            transformers = [gridCase.Value.Case.NodeId, .. await SubstationsAtOrAboveAsync(gridCase.Value.Case.NodeId, store, cancellationToken)];
        }
        else
        {
            var path = await store.GetGridPathAsync(body.NodeId!, cancellationToken)
                ?? throw new DomainException("nodeId", "exists", $"Grid node {body.NodeId} is not registered.");
            if (path.Node.OperatorId != me && path.Ancestors.All(a => a.OperatorId != me))
                throw new DomainException("nodeId", "own-node", $"Node {path.Node.Id} is neither yours nor below one of your nodes.");
            transformers = [.. await store.GetTransformersUnderAsync(path.Node, cancellationToken), .. await SubstationsAtOrAboveAsync(path.Node.Id, store, cancellationToken)];
        }
        var period = new TimeWindow(body.PeriodStart!.Value, body.PeriodEnd!.Value);
        var requests = new List<FlexRequest>();
        foreach (var t in transformers)
        {
            string? cursor = null;
            do
            {
                // Requests last at most a day, so one starting a day before the period is the earliest that can overlap it.
                var page = await store.ListRequestsAsync(t, period.Start.AddDays(-1), period.End, r => r.Delivery.Overlaps(period), 500, cursor, cancellationToken);
                requests.AddRange(page.Items);
                cursor = page.NextCursor;
            }
            while (cursor is not null);
        }
        var limit = TemporaryLimit.Announce(Ids.New("lim", clock), me, body.StationId ?? body.NodeId!, period, Kilowatts.From(body.MaxKw!.Value, "maxKw"),
            body.Reason!, now, requests);
        await store.AddTemporaryLimitAsync(limit, cancellationToken);
        return TypedResults.Created($"/v1/grid/limits?targetId={limit.TargetId}", TemporaryLimitResponse.From(limit));
    }

    /// <summary>The HV/MV substations at or above <paramref name="nodeId"/>, where TSO requests drawing on its stations are posted.</summary>
    private static async Task<IEnumerable<string>> SubstationsAtOrAboveAsync(string nodeId, MarketStore store, CancellationToken cancellationToken) =>
        await store.GetGridPathAsync(nodeId, cancellationToken) is { } path
            ? path.Ancestors.Prepend(path.Node).Where(n => n.Kind == GridNodeKind.HvMvSubstation).Select(n => n.Id)
            : [];

    /// <summary>The temporary limits on a station or node, in announcement order (anyone authenticated: CPOs plan by them).</summary>
    public static async Task<Ok<ListResponse<TemporaryLimitResponse>>> ListLimits(
        string? targetId, int? limit, string? cursor, MarketStore store, CancellationToken cancellationToken)
    {
        if (string.IsNullOrEmpty(targetId)) throw new ApiProblemException(400, "targetId", "required", "targetId names the station or grid node whose limits to list.");
        return TypedResults.Ok((await store.ListTemporaryLimitsAsync(targetId, ApiConventions.Limit(limit), cursor, cancellationToken)).ToResponse(TemporaryLimitResponse.From));
    }

    /// <summary>Publishes (or replaces) the day-ahead forecast of one UTC day: 1 to 1,440 intervals (a whole day at one minute) of at most 15 minutes inside that day, in order, without overlap.</summary>
    public static async Task<Results<Ok<ForecastResponse>, NotFound>> PutForecast(
        string id, string day, PutForecastRequest body, HttpContext http, MarketStore store, Grid.GridStates gridStates, TimeProvider clock,
        CancellationToken cancellationToken)
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
        await gridStates.RefreshAsync(id, date, cancellationToken);
        return TypedResults.Ok(ForecastResponse.From(id, date, forecast));
    }

    /// <summary>The forecast of one UTC day; a day without one is no error: no points and no <c>publishedAt</c> (404: not the caller's transformer).</summary>
    public static async Task<Results<Ok<ForecastResponse>, NotFound>> GetForecast(
        string id, string day, HttpContext http, MarketStore store, CancellationToken cancellationToken)
    {
        var date = ParseDay(day);
        if (await OwnTransformerAsync(id, http, store, cancellationToken) is null) return TypedResults.NotFound();
        return TypedResults.Ok(ForecastResponse.From(id, date, await store.GetForecastAsync(id, date, cancellationToken)));
    }

    private static async Task<GridNode?> OwnTransformerAsync(string id, HttpContext http, MarketStore store, CancellationToken cancellationToken) =>
        await store.GetTransformerAsync(id, cancellationToken) is { } t && t.OperatorId == http.User.ParticipantId() ? t : null;

    internal static DateOnly ParseDay(string day) =>
        DateOnly.TryParseExact(day, "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var d) && d.Year is >= 2000 and <= 2200
            ? d : throw new ApiProblemException(400, "day", "date", "day must be a date yyyy-MM-dd (UTC) between 2000 and 2200.");

    public sealed class TransformerValidator : AbstractValidator<RegisterTransformerRequest>
    {
        public TransformerValidator()
        {
            RuleFor(x => x.Name).Text(200);
            RuleFor(x => x.RatedPowerKw).PositiveQuantity(3, 1_000_000m);
            RuleFor(x => x.Location).Location();
            RuleFor(x => x.ParentId).Id().When(x => x.ParentId is not null);
            RuleFor(x => x.PlanningLimitKw).PositiveQuantity(3, 1_000_000m).When(x => x.PlanningLimitKw is not null || x.OperationalLimitKw is not null);
            RuleFor(x => x.OperationalLimitKw).PositiveQuantity(3, 1_000_000m).When(x => x.PlanningLimitKw is not null || x.OperationalLimitKw is not null);
        }
    }

    public sealed class NodeValidator : AbstractValidator<RegisterGridNodeRequest>
    {
        public NodeValidator()
        {
            RuleFor(x => x.Kind).NotEmpty().EnumName<RegisterGridNodeRequest, GridNodeKind>();
            RuleFor(x => x.Name).Text(200);
            RuleFor(x => x.RatedPowerKw).PositiveQuantity(3, 10_000_000m);
            RuleFor(x => x.Location).Location();
            RuleFor(x => x.ParentId).Id().When(x => x.ParentId is not null);
            RuleFor(x => x.PlanningLimitKw).PositiveQuantity(3, 10_000_000m).When(x => x.PlanningLimitKw is not null || x.OperationalLimitKw is not null);
            RuleFor(x => x.OperationalLimitKw).PositiveQuantity(3, 10_000_000m).When(x => x.PlanningLimitKw is not null || x.OperationalLimitKw is not null);
        }
    }

    public sealed class LimitValidator : AbstractValidator<TemporaryLimitRequest>
    {
        public LimitValidator()
        {
            RuleFor(x => x.StationId).Must((x, s) => (s is null) != (x.NodeId is null)).WithMessage("Name exactly one of stationId and nodeId.").WithErrorCode("target");
            RuleFor(x => x.StationId).Id().When(x => x.StationId is not null);
            RuleFor(x => x.NodeId).Id().When(x => x.NodeId is not null);
            RuleFor(x => x.PeriodStart).Utc();
            RuleFor(x => x.PeriodEnd).Utc().GreaterThan(x => x.PeriodStart).WithMessage("'Period End' must be after 'Period Start'.");
            RuleFor(x => x.MaxKw).NonNegativeQuantity(3, 10_000_000m);
            RuleFor(x => x.Reason).Text(2000);
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
