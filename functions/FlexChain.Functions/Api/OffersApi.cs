using FlexChain.Domain;
using FlexChain.Functions.Auth;
using FlexChain.Functions.Storage;
using FluentValidation;
using Microsoft.AspNetCore.Http.HttpResults;

namespace FlexChain.Functions.Api;

/// <summary>
/// Sealed offers: a CPO posts one offer per request, may modify (PUT) or withdraw (DELETE) it until gate closure, and
/// sees only its own; the request's DSO sees the offers only after gate closure; nobody else ever sees them.
/// </summary>
public static class OffersApi
{
    public static RouteGroupBuilder MapOffersApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/v1/requests/{id}/offers").WithTags("Offers").RequireAuthorization();
        group.MapPost("/", PostOffer).Validate<PostOfferRequest>().Idempotent<PostOfferRequest>().RequireAuthorization(Policies.Cpo);
        group.MapGet("/", ListOffers);
        group.MapGet("/{offerId}", GetOffer).Versioned();
        group.MapPut("/{offerId}", ModifyOffer).Validate<PostOfferRequest>().Versioned().RequireAuthorization(Policies.Cpo);
        group.MapDelete("/{offerId}", WithdrawOffer).Versioned().RequireAuthorization(Policies.Cpo);
        return group;
    }

    public static async Task<Results<Created<OfferResponse>, NotFound, ProblemHttpResult>> PostOffer(
        string id, PostOfferRequest body, HttpContext http, MarketStore store, TimeProvider clock, CancellationToken cancellationToken)
    {
        var now = clock.GetUtcNow();
        var request = await store.GetRequestForOffersAsync(id, cancellationToken);
        if (request is null) return TypedResults.NotFound();
        // With an Idempotency-Key the id comes from the key: an attempt that stored the offer and then died before answering
        // is found by a retry, which answers with it, even after gate closure (the offer is in the clearing).
        var offerId = IdempotentIds.For(http, "off");
        if (offerId is not null && await store.GetOfferAsync(request, http.User.ParticipantId(), cancellationToken) is { } earlier && earlier.Id == offerId)
            return TypedResults.Created($"/v1/requests/{id}/offers/{earlier.Id}", OfferResponse.From(earlier));
        request.RequireOpen(now);
        var offer = await CheckedOfferAsync(request, offerId ?? Ids.New("off", clock), body, http, store, now, 1, cancellationToken);
        var written = await store.TryAddOfferAsync(request, offer, cancellationToken);
        if (written == OfferWrite.GateClosed) throw GateClosed(request);
        if (written == OfferWrite.Conflict)
            return Problems.Create(409, "requestId", "one-offer-per-cpo", "One offer per CPO per request: modify your offer (PUT) or withdraw it (DELETE).",
                "You already have an offer on this request.");
        return TypedResults.Created($"/v1/requests/{id}/offers/{offer.Id}", OfferResponse.From(offer));
    }

    /// <summary>Replaces the caller's offer before gate closure; it keeps its id but loses its time priority (submittedAt becomes now).</summary>
    public static async Task<Results<Ok<OfferResponse>, NotFound>> ModifyOffer(
        string id, string offerId, PostOfferRequest body, HttpContext http, MarketStore store, TimeProvider clock, CancellationToken cancellationToken)
    {
        var now = clock.GetUtcNow();
        var (request, stored) = await OwnOfferAsync(id, offerId, http, store, cancellationToken);
        if (request is null || stored is null) return TypedResults.NotFound();
        VersionTags.RequireMatch(http, stored.Value.Value.Revision);
        request.RequireOpen(now);
        var offer = await CheckedOfferAsync(request, offerId, body, http, store, now, stored.Value.Value.Revision + 1, cancellationToken)
            with { ForwardedFrom = stored.Value.Value.ForwardedFrom }; // a forwarded offer stays one when its CPO changes it
        var written = await store.TryReplaceOfferAsync(request, offer, stored.Value.ETag, cancellationToken);
        if (written == OfferWrite.GateClosed) throw GateClosed(request);
        if (written == OfferWrite.Conflict)
            throw new ApiProblemException(409, "offerId", "concurrent-update", "The offer changed or was withdrawn while this update ran; read it again.");
        VersionTags.Set(http, offer.Revision);
        return TypedResults.Ok(OfferResponse.From(offer));
    }

    public static async Task<Results<NoContent, NotFound>> WithdrawOffer(
        string id, string offerId, HttpContext http, MarketStore store, TimeProvider clock, CancellationToken cancellationToken)
    {
        var (request, stored) = await OwnOfferAsync(id, offerId, http, store, cancellationToken);
        if (request is null || stored is null) return TypedResults.NotFound();
        VersionTags.RequireMatch(http, stored.Value.Value.Revision);
        request.RequireOpen(clock.GetUtcNow());
        var written = await store.TryDeleteOfferAsync(request, stored.Value.Value, stored.Value.ETag, cancellationToken);
        if (written == OfferWrite.GateClosed) throw GateClosed(request);
        if (written == OfferWrite.Conflict)
            throw new ApiProblemException(409, "offerId", "concurrent-update", "The offer changed while it was being withdrawn; read it again.");
        return TypedResults.NoContent();
    }

    /// <summary>The refusal of an offer write that lost the race with its gate cycle's closing: nothing of it was stored.</summary>
    private static ApiProblemException GateClosed(FlexRequest request) =>
        new(409, "requestId", "gate-closed", $"The gate closed at {request.GateClosure:O}; the clearing has fixed its offers.");

    /// <summary>A CPO lists its own offer (none or one); the request's DSO lists all of them after gate closure; anyone else is refused.</summary>
    public static async Task<Results<Ok<ListResponse<OfferResponse>>, NotFound, ProblemHttpResult>> ListOffers(
        string id, int? limit, string? cursor, HttpContext http, MarketStore store, TimeProvider clock, CancellationToken cancellationToken)
    {
        var size = ApiConventions.Limit(limit);
        var stored = await store.GetRequestAsync(id, cancellationToken);
        if (stored is null) return TypedResults.NotFound();
        var request = stored.Value.Value;
        var caller = http.User.ParticipantId();
        if (http.User.Role() == Role.Cpo)
        {
            var own = await store.GetOfferAsync(request, caller, cancellationToken);
            return TypedResults.Ok(new ListResponse<OfferResponse>(own is null ? [] : [await OwnViewAsync(own, request, store, cancellationToken)], null));
        }
        if (Sealed(request, caller, clock) is { } refused) return refused;
        return TypedResults.Ok((await store.ListOffersAsync(request, size, cursor, cancellationToken)).ToResponse(OfferResponse.From));
    }

    public static async Task<Results<Ok<OfferResponse>, NotFound, ProblemHttpResult>> GetOffer(
        string id, string offerId, HttpContext http, MarketStore store, TimeProvider clock, CancellationToken cancellationToken)
    {
        var stored = await store.GetRequestAsync(id, cancellationToken);
        if (stored is null) return TypedResults.NotFound();
        var caller = http.User.ParticipantId();
        Offer? offer;
        if (http.User.Role() == Role.Cpo)
            offer = await store.GetOfferAsync(stored.Value.Value, caller, cancellationToken) is { } own && own.Id == offerId ? own : null;
        else if (Sealed(stored.Value.Value, caller, clock) is { } refused) return refused;
        else offer = (await store.GetOffersAsync(stored.Value.Value, cancellationToken)).FirstOrDefault(o => o.Id == offerId);
        if (offer is null) return TypedResults.NotFound();
        VersionTags.Set(http, offer.Revision);
        return TypedResults.Ok(http.User.Role() == Role.Cpo ? await OwnViewAsync(offer, stored.Value.Value, store, cancellationToken) : OfferResponse.From(offer));
    }

    /// <summary>The CPO's view of its offer: with whether one of its stations is already awarded elsewhere (another request, any buyer) for an overlapping window.</summary>
    private static async Task<OfferResponse> OwnViewAsync(Offer offer, FlexRequest request, MarketStore store, CancellationToken cancellationToken)
    {
        var bookings = await store.GetBookingsAsync(offer.StationIds, request.Delivery, "", cancellationToken);
        return OfferResponse.From(offer) with { SelectedElsewhere = bookings.Any(b => !b.AwardId.StartsWith(request.Id + "/", StringComparison.Ordinal)) };
    }

    /// <summary>Null when <paramref name="caller"/> (not a CPO) may see the request's offers now, else the problem to answer.</summary>
    private static ProblemHttpResult? Sealed(FlexRequest request, string caller, TimeProvider clock)
    {
        if (caller != request.DsoId)
            return Problems.Create(403, "id", "sealed", "Offers are visible only to the CPO that made them and, after gate closure, to the request's DSO.");
        if (!request.OffersUnsealedAt(clock.GetUtcNow()))
            return Problems.Create(403, "id", "sealed", $"Offers are sealed until gate closure at {request.GateClosure:O}.");
        return null;
    }

    private static async Task<(FlexRequest? Request, Stored<Offer>? Offer)> OwnOfferAsync(
        string id, string offerId, HttpContext http, MarketStore store, CancellationToken cancellationToken)
    {
        var request = await store.GetRequestForOffersAsync(id, cancellationToken);
        if (request is null) return (null, null);
        var stored = await store.GetOfferForUpdateAsync(request, http.User.ParticipantId(), cancellationToken);
        return stored is { } s && s.Value.Id == offerId ? (request, s) : (request, null);
    }

    /// <summary>The caller as stored, if its wallet is proven: money never goes to (or comes back to) an unproven wallet.</summary>
    /// <exception cref="DomainException">The wallet is unproven (field <c>walletAddress</c>, rule <c>wallet-unverified</c>).</exception>
    public static async Task<Participant> PayableParticipantAsync(HttpContext http, MarketStore store, CancellationToken cancellationToken)
    {
        var participant = (await store.GetParticipantAsync(http.User.ParticipantId(), cancellationToken))!.Value.Participant;
        if (!participant.CanReceivePayments)
            throw new DomainException("walletAddress", "wallet-unverified",
                "Prove that you control your wallet first: POST /v1/participants/me/wallet-challenge, sign the message (EIP-191), POST /v1/participants/me/wallet-proof.");
        return participant;
    }

    /// <summary>
    /// Builds the offer and checks every eligibility rule: a proven wallet, the caller's own active stations behind the
    /// request's transformer (or, for a TSO's request, below its substation) with a current qualification, what the grid operators allow them, and the request's rules.
    /// </summary>
    private static async Task<Offer> CheckedOfferAsync(
        FlexRequest request, string offerId, PostOfferRequest body, HttpContext http, MarketStore store, DateTimeOffset now, int revision,
        CancellationToken cancellationToken)
    {
        var cpo = await PayableParticipantAsync(http, store, cancellationToken);
        var ids = body.StationIds!.Distinct().ToList();
        var found = await Task.WhenAll(ids.Select(s => store.GetStationForOffersAsync(cpo.Id, s, cancellationToken)));
        // Offers are sealed: checking one writes nothing but the offer (a qualification recorded here would show the DSO
        // who bid, with which station, and when). Eligibility re-checks outdated qualifications in memory, here and at clearing.
        var stations = new List<ChargingStation>();
        for (var i = 0; i < ids.Count; i++)
            stations.Add(found[i]?.Value ?? throw new DomainException("stationIds", "own-station", $"Station {ids[i]} is not one of your registered stations."));
        var profile = RequestsApi.Profile(body.ProfileKw);
        var energy = body.EnergyKwh is { } kwh ? KilowattHours.From(kwh) : Profiles.Energy(profile!, request.Interval, request.Delivery);
        var offer = new Offer(offerId, request.Id, cpo.Id, ids, energy, EurosPerKilowattHour.From(body.PriceEurPerKwh!.Value), body.Divisible ?? true, now)
        {
            Revision = revision, Direction = ValidationExtensions.ParseEnum(body.Direction, Direction.ReduceConsumption), ForwardToTso = body.ForwardToTso ?? false,
            Profile = profile,
        };
        var place = await store.GetRequestPlaceAsync(request, stations, cancellationToken);
        request.AcceptOffer(offer, stations, place.Node, place.Requirements, now,
            await store.GetGridRestrictionsAsync(stations, request.Delivery, now, cancellationToken), place.Sites);
        return offer;
    }

    public sealed class OfferValidator : AbstractValidator<PostOfferRequest>
    {
        public OfferValidator()
        {
            RuleFor(x => x.StationIds).NotEmpty().Must(s => s is null || s.Count <= 100).WithMessage("'Station Ids' may list at most 100 stations.").WithErrorCode("count");
            RuleForEach(x => x.StationIds).Id();
            RuleFor(x => x.EnergyKwh).PositiveQuantity(KilowattHours.Scale, 1_000_000m).When(x => x.ProfileKw is null || x.EnergyKwh is not null);
            RuleFor(x => x.ProfileKw).Profile();
            RuleForEach(x => x.ProfileKw).ProfileValue();
            RuleFor(x => x.PriceEurPerKwh).PositiveQuantity(EurosPerKilowattHour.Scale, 10_000m);
            RuleFor(x => x.Direction).EnumName<PostOfferRequest, Direction>();
        }
    }
}
