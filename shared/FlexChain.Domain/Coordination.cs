namespace FlexChain.Domain;

/// <summary>
/// How DSO and TSO requests of one market area (the grid below one top node) share its flexibility (DOMAIN.md section 7).
/// Numbers are stable; names go on the wire.
/// </summary>
public enum CoordinationModel
{
    /// <summary>Each operator buys alone; requests closing together clear in the engine's usual order (gate closure, delivery, id).</summary>
    Separate = 1,

    /// <summary>Sequential, the DSOs first: their requests of a gate cycle clear first, and the TSO's requests get only what they did not buy.</summary>
    DsoFirst = 2,

    /// <summary>Sequential, the TSO first: its requests of a gate cycle clear first, then the DSOs' requests.</summary>
    TsoFirst = 3,

    /// <summary>
    /// One order book: the DSO and TSO requests of a gate cycle clear together, each station to the buyer that values it
    /// most (<see cref="CommonMarketClearing"/>).
    /// </summary>
    Common = 4,
}

/// <summary>The rules for setting a market area's coordination model.</summary>
public static class CoordinationArea
{
    /// <summary>Checks that <paramref name="operatorId"/> may set the coordination model of the area below <paramref name="node"/>.</summary>
    /// <exception cref="DomainException">
    /// Field <c>id</c>, rule <c>own-node</c> (another operator's node) or <c>top-node</c> (a node below another: the model is
    /// set on the area's top node, an HV/MV substation).
    /// </exception>
    public static void RequireSettable(GridNode node, string operatorId)
    {
        ArgumentNullException.ThrowIfNull(node);
        if (node.OperatorId != operatorId)
            throw new DomainException("id", "own-node", $"Node {node.Id} belongs to another operator; its market area's owner sets its coordination model.");
        if (node.ParentId is not null || node.Kind != GridNodeKind.HvMvSubstation)
            throw new DomainException("id", "top-node", $"A coordination model is set on a market area's top node, an HV/MV substation with no node above it; {node.Id} is a {node.Kind}"
                + (node.ParentId is null ? "." : $" below {node.ParentId}."));
    }
}

/// <summary>A request to clear with what coordination needs to know of it: its buyer and its market area's model.</summary>
public sealed record CoordinatedRequest(ClearingRequest Request, Role Buyer, CoordinationModel Model)
{
    /// <summary>
    /// Whether the request clears in its area's common market: any request of a <see cref="CoordinationModel.Common"/> area
    /// but one carrying the DSO's manual decision, which is its own choice and clears in the first round.
    /// </summary>
    public bool InCommonMarket => Model == CoordinationModel.Common && Request.Decision is null;

    /// <summary>Whether the request clears in the first round: the buyer its area puts first, or any request of a separate area (or a manual one of a common area).</summary>
    public bool ClearsFirst => Model switch
    {
        CoordinationModel.DsoFirst => Buyer == Role.Dso,
        CoordinationModel.TsoFirst => Buyer == Role.Tso,
        _ => !InCommonMarket,
    };
}

/// <summary>
/// Clears a gate cycle's requests under their areas' coordination models in up to three rounds, each taking the earlier
/// rounds' awards as booked, so a station one buyer bought is never sold to another for an overlapping window (and one
/// it did not buy is still there for the next): the requests put first (and those of separate areas) in one engine run;
/// the others of sequential areas in a second run; then the requests of common-market areas together
/// (<see cref="CommonMarketClearing"/>, within the grid nodes' headroom).
/// </summary>
public static class CoordinatedClearing
{
    /// <inheritdoc cref="ClearingEngine.Clear"/>
    /// <param name="nodes">The grid nodes' headroom the common market keeps to (none: no grid limit); the other rounds do not use it.</param>
    public static GateCycleResult Clear(IReadOnlyList<CoordinatedRequest> requests, IReadOnlyList<Offer> offers, IReadOnlyCollection<StationBooking>? taken = null,
        IReadOnlyList<NodeHeadroom>? nodes = null)
    {
        ArgumentNullException.ThrowIfNull(requests);
        ArgumentNullException.ThrowIfNull(offers);
        var rounds = new[]
        {
            requests.Where(r => r.ClearsFirst).Select(r => r.Request).ToList(),
            requests.Where(r => !r.ClearsFirst && !r.InCommonMarket).Select(r => r.Request).ToList(),
            requests.Where(r => r.InCommonMarket).Select(r => r.Request).ToList(),
        };
        if (rounds[1].Count == 0 && rounds[2].Count == 0) return ClearingEngine.Clear(rounds[0], offers, taken);
        var delivery = new Dictionary<string, TimeWindow>(StringComparer.Ordinal);
        foreach (var r in requests)
            if (!delivery.TryAdd(r.Request.Id, r.Request.Delivery))
                throw new DomainException("requests", "unique-id", $"Request {r.Request.Id} appears twice in the gate cycle.");
        var booked = (taken ?? []).ToList();
        var results = new List<ClearingResult>();
        IReadOnlyList<OfferOutcome> unmatched = [];
        for (var i = 0; i < rounds.Length; i++)
        {
            if (i > 0 && rounds[i].Count == 0) continue;
            var ids = rounds[i].Select(r => r.Id).ToHashSet(StringComparer.Ordinal);
            // The first round also answers for the offers that name no request of the cycle.
            var mine = offers.Where(o => ids.Contains(o.RequestId) || (i == 0 && (o.RequestId is null || !delivery.ContainsKey(o.RequestId)))).ToList();
            var round = i == 2 ? CommonMarketClearing.Clear(rounds[i], mine, booked, nodes) : ClearingEngine.Clear(rounds[i], mine, booked);
            if (i == 0) unmatched = round.Unmatched;
            results.AddRange(round.Results);
            booked.AddRange(round.Results.SelectMany(r => StationBooking.For(r, delivery[r.RequestId])));
        }
        return new GateCycleResult(results, unmatched);
    }
}

/// <summary>
/// Bid forwarding (DOMAIN.md section 7, draft network code art. 53.4): an offer a DSO did not buy goes on to an open TSO
/// request of the same market area, only with its CPO's consent, keeping its stations (its location), price and
/// divisibility, and the power it offered at each moment: in each market interval of the TSO's window, what it offered
/// the DSO in that interval (its profile, or its energy spread evenly over the DSO's window, to the watt-hour, as the
/// engine spreads it), nothing outside the DSO's window. A flat offer on a TSO request of the same window stays flat. The
/// CPO is told and may change price and volume or withdraw it until the TSO's gate, as any offer.
/// </summary>
public static class BidForwarding
{
    /// <summary>The copy of <paramref name="offer"/> (on <paramref name="dsoRequest"/>) on <paramref name="tsoRequest"/>, submitted at <paramref name="now"/> under <paramref name="id"/>.</summary>
    /// <param name="outcome">The offer's outcome in its DSO request's clearing.</param>
    /// <exception cref="DomainException">
    /// No consent (field <c>forwardToTso</c>, rule <c>forward-consent</c>); the DSO bought some of it (field <c>offerId</c>,
    /// rule <c>bought-locally</c>: its stations are booked for the DSO's window); not a TSO's request (field <c>requestId</c>,
    /// rule <c>tso-request</c>); the TSO's gate closed (rule <c>gate-closed</c>); the windows differ and are not cut into the
    /// same market intervals, or the offer has no power in the TSO's window (field <c>requestId</c>, rule <c>forward-window</c>).
    /// </exception>
    public static Offer Forward(Offer offer, OfferOutcome outcome, FlexRequest dsoRequest, FlexRequest tsoRequest, string id, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(offer);
        ArgumentNullException.ThrowIfNull(outcome);
        ArgumentNullException.ThrowIfNull(dsoRequest);
        ArgumentNullException.ThrowIfNull(tsoRequest);
        if (outcome.OfferId != offer.Id) throw new ArgumentException($"the outcome is of offer {outcome.OfferId}, not {offer.Id}", nameof(outcome));
        if (offer.RequestId != dsoRequest.Id) throw new ArgumentException($"offer {offer.Id} is on request {offer.RequestId}, not {dsoRequest.Id}", nameof(dsoRequest));
        if (!offer.ForwardToTso)
            throw new DomainException("forwardToTso", "forward-consent", $"Offer {offer.Id} does not carry its CPO's consent to forward it to a TSO (forwardToTso).");
        if (outcome.IsAccepted)
            throw new DomainException("offerId", "bought-locally", $"The DSO bought {outcome.AcceptedEnergy} of offer {offer.Id}; its stations are booked for that window.");
        if (tsoRequest.Buyer != Role.Tso)
            throw new DomainException("requestId", "tso-request", $"Request {tsoRequest.Id} is not a TSO's balancing request.");
        tsoRequest.RequireOpen(now);
        var profile = Reshape(offer, dsoRequest, tsoRequest);
        var energy = profile is null ? offer.Energy : Profiles.Energy(profile, tsoRequest.Interval, tsoRequest.Delivery);
        return new Offer(id, tsoRequest.Id, offer.CpoId, offer.StationIds, energy, offer.Price, offer.Divisible, now)
        {
            Direction = offer.Direction, ForwardedFrom = offer.Id, Profile = profile, // the consent travels as the trace of the offer it came from
        };
    }

    /// <summary>The offer's power in each market interval of the TSO's window (the rule above), or null when it stays flat.</summary>
    private static IReadOnlyList<Kilowatts>? Reshape(Offer offer, FlexRequest from, FlexRequest to)
    {
        if (offer.Profile is null && from.Delivery == to.Delivery) return null;
        var length = to.Interval.Length.Ticks;
        var shift = (to.Delivery.Start - from.Delivery.Start).Ticks;
        if (from.Interval != to.Interval || from.Delivery.Duration.Ticks % length != 0 || to.Delivery.Duration.Ticks % length != 0 || shift % length != 0)
            throw new DomainException("requestId", "forward-window",
                $"Offer {offer.Id} is for {from.Delivery}, which request {to.Id}'s window {to.Delivery} does not share market intervals of {to.Interval} with.");
        var offered = Profiles.OfferedWh(offer, from.Interval, from.Delivery)
            ?? throw new InvalidOperationException($"offer {offer.Id}'s profile does not fit its own request {from.Id}");
        var wh = new long[to.Delivery.Duration.Ticks / length];
        var first = shift / length; // the DSO window's interval where the TSO's window starts (negative: before it)
        for (var k = 0; k < wh.Length; k++)
            if (k + first >= 0 && k + first < offered.Length) wh[k] = offered[k + first];
        if (wh.All(x => x == 0))
            throw new DomainException("requestId", "forward-window", $"Offer {offer.Id} offers no power in request {to.Id}'s window {to.Delivery}.");
        return Array.AsReadOnly(wh.Select(x => Profiles.Power(x, to.Interval.Minutes)).ToArray());
    }
}
