using FlexChain.Domain;
using FlexChain.Functions.Auth;
using FlexChain.Functions.Storage;
using Microsoft.AspNetCore.Http.HttpResults;

namespace FlexChain.Functions.Api;

/// <summary>
/// Visibility between operators (DOMAIN.md section 7): a station's bookings, whoever the buyer, are visible to its CPO and to
/// every operator its grid prequalification concerns (the connecting DSO and the impacted operators above it, the TSO);
/// an operator sees every booking of the stations in its grid under a node, with the buyer, so a DSO sees what other buyers
/// (the TSO) reserved there. Bookings are the global ones every clearing writes (<see cref="MarketStore.GetBookingsAsync"/>).
/// </summary>
public static class VisibilityApi
{
    /// <summary>The longest period one listing covers.</summary>
    public static readonly TimeSpan MaxPeriod = TimeSpan.FromDays(31);

    /// <summary>The most stations one node listing reads.</summary>
    public const int MaxStations = 2000;

    public static RouteGroupBuilder MapVisibilityApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/v1").WithTags("Grid").RequireAuthorization();
        group.MapGet("/stations/{id}/bookings", ListStationBookings);
        group.MapGet("/grid/nodes/{id}/bookings", ListNodeBookings).RequireAuthorization(Policies.GridOperator);
        group.MapGet("/grid/nodes/{id}/tso-offers", ListTsoOffers).RequireAuthorization(Policies.GridOperator);
        return group;
    }

    /// <summary>
    /// The station's bookings whose windows overlap [from, to) (default: the next 7 days; at most 31), by window: for its CPO, the
    /// operators it concerns and the market operator; 404 for anyone else, as for a station that does not exist.
    /// </summary>
    public static async Task<Results<Ok<BookingsResponse>, NotFound>> ListStationBookings(
        string id, string? from, string? to, HttpContext http, MarketStore store, TimeProvider clock, CancellationToken cancellationToken)
    {
        var period = Period(from, to, clock.GetUtcNow());
        var me = http.User.ParticipantId();
        var allowed = http.User.Role() switch
        {
            Role.Cpo => await store.GetStationAsync(me, id, cancellationToken) is not null,
            Role.Dso or Role.Tso => await store.GetLatestGridCaseAsync(me, id, cancellationToken) is not null,
            Role.Operator => true,
            _ => false,
        };
        if (!allowed) return TypedResults.NotFound();
        return TypedResults.Ok(await ResponseAsync(id, period, await store.GetBookingsAsync([id], period, "", cancellationToken), store, cancellationToken));
    }

    /// <summary>
    /// Every booking overlapping [from, to) of the stations qualified behind the transformers at or below the node, with its
    /// buyer: for the owner of the node or of a node above it.
    /// </summary>
    public static async Task<Results<Ok<BookingsResponse>, NotFound>> ListNodeBookings(
        string id, string? from, string? to, HttpContext http, MarketStore store, TimeProvider clock, CancellationToken cancellationToken)
    {
        var period = Period(from, to, clock.GetUtcNow());
        if (await store.GetGridPathAsync(id, cancellationToken) is not { } path) return TypedResults.NotFound();
        var stations = await StationsInGridAsync(path, http.User.ParticipantId(), "bookings", store, cancellationToken);
        return TypedResults.Ok(await ResponseAsync(id, period, await store.GetBookingsAsync(stations, period, "", cancellationToken), store, cancellationToken));
    }

    /// <summary>
    /// The offers, forwarded or direct, on TSO requests (on an HV/MV substation at or above the node) delivering in [from, to)
    /// that name a station qualified behind a transformer at or below the node, for the owner of the node or of a node above
    /// it (403 rule <c>own-grid</c> otherwise): each with only the stations in that grid and its state (Submitted until its
    /// request clears, then its outcome and pool). Offers are sealed until their request's gate closes, as everywhere: a request
    /// still sealed is only counted (<c>sealedRequests</c>).
    /// </summary>
    public static async Task<Results<Ok<TsoOffersResponse>, NotFound>> ListTsoOffers(
        string id, string? from, string? to, HttpContext http, MarketStore store, TimeProvider clock, CancellationToken cancellationToken)
    {
        var now = clock.GetUtcNow();
        var period = Period(from, to, now);
        if (await store.GetGridPathAsync(id, cancellationToken) is not { } path) return TypedResults.NotFound();
        var stations = (await StationsInGridAsync(path, http.User.ParticipantId(), "TSO offers", store, cancellationToken)).ToHashSet(StringComparer.Ordinal);
        var items = new List<TsoOfferResponse>();
        var sealedRequests = 0;
        foreach (var substation in path.Ancestors.Prepend(path.Node).Where(n => n.Kind == GridNodeKind.HvMvSubstation))
            for (string? cursor = null; ;)
            {
                var page = await store.ListRequestsAsync(substation.Id, period.Start, period.End, r => r.Buyer == Role.Tso, 100, cursor, cancellationToken);
                foreach (var request in page.Items)
                {
                    if (!request.OffersUnsealedAt(now)) { sealedRequests++; continue; }
                    foreach (var offer in await store.GetOffersAsync(request, cancellationToken))
                    {
                        var mine = offer.StationIds.Where(stations.Contains).ToList();
                        if (mine.Count == 0) continue;
                        var outcome = request.Outcomes.FirstOrDefault(o => o.OfferId == offer.Id);
                        items.Add(new TsoOfferResponse(request.Id, request.DsoId, request.Delivery.Start, request.Delivery.End, request.GateClosure, offer.Id, offer.CpoId, mine,
                            Wire.Kwh(offer.Energy.Value), Wire.EurPerKwh(offer.Price.Value), offer.Direction.ToString(), offer.ForwardedFrom,
                            outcome?.Kind.ToString() ?? "Submitted", outcome is null ? (decimal?)null : Wire.Kwh(outcome.AcceptedEnergy.Value), outcome?.PoolId));
                    }
                }
                if ((cursor = page.NextCursor) is null) break;
            }
        return TypedResults.Ok(new TsoOffersResponse(id, period.Start, period.End, sealedRequests,
            items.OrderBy(i => i.DeliveryStart).ThenBy(i => i.RequestId, StringComparer.Ordinal).ThenBy(i => i.OfferId, StringComparer.Ordinal).ToList()));
    }

    /// <summary>
    /// The stations qualified behind the transformers at or below <paramref name="path"/>'s node (at most <see cref="MaxStations"/>),
    /// for the owner of the node or of a node above it.
    /// </summary>
    /// <exception cref="ApiProblemException">403 rule <c>own-grid</c> for anyone else; 422 rule <c>subtree-size</c> over the limit.</exception>
    private static async Task<List<string>> StationsInGridAsync((GridNode Node, IReadOnlyList<GridNode> Ancestors) path, string me, string what, MarketStore store, CancellationToken cancellationToken)
    {
        var id = path.Node.Id;
        if (path.Node.OperatorId != me && path.Ancestors.All(a => a.OperatorId != me))
            throw new ApiProblemException(403, "id", "own-grid", $"Grid node {id} is not in your grid: its owner or the owner of a node above it reads its {what}.");
        var stations = new List<string>();
        foreach (var transformer in await store.GetTransformersUnderAsync(path.Node, cancellationToken))
        {
            var owner = (await store.GetGridNodeAsync(transformer, cancellationToken))!.OperatorId;
            for (string? cursor = null; ;)
            {
                var page = await store.ListQualificationsAsync(owner, transformer, null, 1000, cursor, cancellationToken);
                stations.AddRange(page.Items.Select(q => q.Station.Id));
                if (stations.Count > MaxStations)
                    throw new ApiProblemException(422, "id", "subtree-size", $"More than {MaxStations} stations sit below {id}: ask for a node lower down.");
                if ((cursor = page.NextCursor) is null) break;
            }
        }
        return stations;
    }

    /// <summary>
    /// The period [from, to) a listing covers, at most <see cref="MaxPeriod"/> long; a missing bound is 7 days from the other,
    /// and without either the period is the 7 days after now (or, <paramref name="pastByDefault"/>, before now).
    /// </summary>
    internal static TimeWindow Period(string? from, string? to, DateTimeOffset now, bool pastByDefault = false)
    {
        var (f, t) = (ApiConventions.TimeFilter(from, "from"), ApiConventions.TimeFilter(to, "to"));
        var start = f ?? (t ?? (pastByDefault ? now : now.AddDays(7))).AddDays(-7);
        var end = t ?? start.AddDays(7);
        if (end <= start) throw new ApiProblemException(400, "to", "range", "to must be after from.");
        if (end - start > MaxPeriod) throw new ApiProblemException(400, "to", "range", $"from and to may be at most {MaxPeriod.TotalDays} days apart.");
        return new TimeWindow(start, end);
    }

    /// <summary>
    /// The bookings by window, each with its request and buyer: a request's, or an availability request's (its holders'
    /// bookings for the period); null when the request is not one this market stores.
    /// </summary>
    private static async Task<BookingsResponse> ResponseAsync(
        string subject, TimeWindow period, IReadOnlyList<StationBooking> bookings, MarketStore store, CancellationToken cancellationToken)
    {
        var ids = bookings.Select(b => RequestIdOf(b.AwardId)).Distinct().ToList();
        var buyers = (await store.GetRequestsAsync(ids, cancellationToken)).ToDictionary(r => r.Key, r => (r.Value.Value.DsoId, r.Value.Value.Direction), StringComparer.Ordinal);
        foreach (var id in ids.Where(id => !buyers.ContainsKey(id)))
            if (await store.GetAvailabilityAsync(id, cancellationToken) is { Value: var contract })
                buyers[id] = (contract.DsoId, contract.Direction);
        var roles = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var buyer in buyers.Values.Select(b => b.DsoId).Distinct())
            roles[buyer] = (await store.GetParticipantAsync(buyer, cancellationToken))?.Participant.Role.ToString() ?? "";
        return new BookingsResponse(subject, period.Start, period.End, bookings
            .OrderBy(b => b.Window.Start).ThenBy(b => b.StationId, StringComparer.Ordinal).ThenBy(b => b.AwardId, StringComparer.Ordinal)
            .Select(b =>
            {
                var known = buyers.TryGetValue(RequestIdOf(b.AwardId), out var buyer);
                return new BookingResponse(b.StationId, b.AwardId, RequestIdOf(b.AwardId), b.Window.Start, b.Window.End, known ? buyer.DsoId : null,
                    known ? roles[buyer.DsoId] : null, known ? buyer.Direction.ToString() : null);
            }).ToList());
    }

    // An award id is "{requestId}/{offerId}" (Award.IdFor), an availability holding's "{availabilityId}/{offerId}".
    private static string RequestIdOf(string awardId) => awardId.Split('/')[0];
}

/// <summary>One station's booking: an award holding it for a window.</summary>
public sealed record BookingResponse(
    string StationId, string AwardId, string RequestId, DateTimeOffset Start, DateTimeOffset End, string? BuyerId, string? BuyerRole, string? Direction);

/// <summary>The bookings of a station, or of the stations below a grid node, overlapping a period.</summary>
public sealed record BookingsResponse(string Id, DateTimeOffset From, DateTimeOffset To, IReadOnlyList<BookingResponse> Items);

/// <summary>
/// An offer on a TSO's request naming stations in the caller's grid (only those are listed): the request, the offer's terms,
/// the DSO request's offer it was forwarded from (null for a direct one), and its state: Submitted until the request clears,
/// then its outcome (Accepted, RejectedBelowMinimumBlock, ...) with the energy awarded and its pool.
/// </summary>
public sealed record TsoOfferResponse(
    string RequestId, string TsoId, DateTimeOffset DeliveryStart, DateTimeOffset DeliveryEnd, DateTimeOffset GateClosure, string OfferId, string CpoId,
    IReadOnlyList<string> StationIds, decimal EnergyKwh, decimal PriceEurPerKwh, string Direction, string? ForwardedFrom, string State,
    decimal? AcceptedEnergyKwh, string? PoolId);

/// <summary>The offers on TSO requests in a grid below a node over a period, and how many TSO requests there are still sealed.</summary>
public sealed record TsoOffersResponse(string Id, DateTimeOffset From, DateTimeOffset To, int SealedRequests, IReadOnlyList<TsoOfferResponse> Items);
