namespace FlexChain.Domain;

/// <summary>An impacted DSO's answer on a trade (NODES, DOMAIN.md section 7). Numbers are stable; names go on the wire.</summary>
public enum TradeVerdict
{
    /// <summary>Go.</summary>
    Green = 1,

    /// <summary>Go, but flagged: the trade stands and the flag stays on record for the TSO.</summary>
    Yellow = 2,

    /// <summary>Rejected, with a reason: clearing does not award the offer.</summary>
    Red = 3,
}

/// <summary>
/// An impacted DSO's answer on a trade: an offer on a TSO's balancing request whose stations sit in its grid. Given between
/// the TSO request's gate closure and its approval deadline (<see cref="FlexRequest.ClearsAt"/>). A trade at or below the
/// operator's approval limit is approved automatically; above it (or through an operator that set no limit) it goes only
/// with the operator's green or yellow by then (<see cref="WithoutUnapproved"/>).
/// </summary>
public sealed record TradeAnswer(string RequestId, string OfferId, string OperatorId, TradeVerdict Verdict, string? Reason, DateTimeOffset AnsweredAt)
{
    /// <summary>The answer of <paramref name="operatorId"/> on <paramref name="offer"/> of <paramref name="tsoRequest"/>, given at <paramref name="now"/>.</summary>
    /// <param name="impacted">The operators other than the TSO that own a node on the path of one of the offer's stations.</param>
    /// <param name="autoLimit">
    /// The lowest limit the operator set on a node on those paths: a trade of at most that average power (kW) is approved
    /// automatically, so only green may be answered; null when the operator set none.
    /// </param>
    /// <exception cref="DomainException">
    /// Not a TSO's request (field <c>id</c>, rule <c>tso-request</c>); the operator's grid is not concerned (field
    /// <c>offerId</c>, rule <c>own-grid</c>); before gate closure or from the deadline on (field <c>id</c>, rule
    /// <c>approval-deadline</c>); red without a reason (field <c>reason</c>, rule <c>required</c>); red or yellow on an
    /// automatically approved trade (field <c>verdict</c>, rule <c>auto-approved</c>).
    /// </exception>
    public static TradeAnswer Give(
        FlexRequest tsoRequest, Offer offer, string operatorId, IReadOnlyCollection<string> impacted, Kilowatts? autoLimit, TradeVerdict verdict,
        string? reason, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(tsoRequest);
        ArgumentNullException.ThrowIfNull(offer);
        ArgumentNullException.ThrowIfNull(impacted);
        if (tsoRequest.Buyer != Role.Tso) throw new DomainException("id", "tso-request", $"Request {tsoRequest.Id} is not a TSO's balancing request; its trades need no approval.");
        if (offer.RequestId != tsoRequest.Id) throw new ArgumentException($"offer {offer.Id} is on request {offer.RequestId}", nameof(offer));
        if (!impacted.Contains(operatorId))
            throw new DomainException("offerId", "own-grid", $"Offer {offer.Id} names no station in your grid; only the DSOs it impacts answer on it.");
        if (now < tsoRequest.GateClosure || now >= tsoRequest.ClearsAt)
            throw new DomainException("id", "approval-deadline",
                $"Trades are answered from gate closure, {tsoRequest.GateClosure:O}, until the approval deadline, {tsoRequest.ClearsAt:O}.");
        if (verdict == TradeVerdict.Red && string.IsNullOrWhiteSpace(reason))
            throw new DomainException("reason", "required", "A red answer needs a reason.");
        if (verdict != TradeVerdict.Green && autoLimit is { } limit && PowerOf(tsoRequest, offer).Value <= limit.Value)
            throw new DomainException("verdict", "auto-approved",
                $"Offer {offer.Id} takes at most {PowerOf(tsoRequest, offer)} in any market interval, at or below your approval limit of {limit}: it is approved automatically.");
        return new TradeAnswer(tsoRequest.Id, offer.Id, operatorId, verdict, string.IsNullOrWhiteSpace(reason) ? null : reason.Trim(), now);
    }

    /// <summary>
    /// <paramref name="request"/> for the engine without the stations of its trades that are not approved
    /// (<see cref="OfferOutcomeKind.RejectedNotEligible"/>): a trade goes when no impacted operator answered red and each
    /// impacted operator either answered (green or yellow) or approves it automatically, its approval limit at or above the
    /// trade's power (<see cref="PowerOf"/>). So silence approves only what the operator's limit covers: a trade above it,
    /// or through an operator that set no limit, needs that operator's answer by the approval deadline.
    /// </summary>
    /// <param name="tsoRequest">The TSO's request <paramref name="request"/> was made from.</param>
    /// <param name="answers">The answers fixed at the approval deadline, at most one per offer and operator.</param>
    /// <param name="impacts">The operators each offer impacts and their approval limits, by offer id.</param>
    public static ClearingRequest WithoutUnapproved(ClearingRequest request, FlexRequest tsoRequest, IReadOnlyList<Offer> offers,
        IEnumerable<TradeAnswer> answers, IReadOnlyDictionary<string, TradeImpact> impacts)
    {
        ArgumentNullException.ThrowIfNull(tsoRequest);
        var given = answers.Where(a => a.RequestId == request.Id).ToLookup(a => a.OfferId, StringComparer.Ordinal);
        var refused = offers.Where(o => !Approved(o)).SelectMany(o => o.StationIds).ToHashSet(StringComparer.Ordinal);
        if (refused.Count == 0) return request;
        var eligible = request.QualifiedStationIds ?? offers.SelectMany(o => o.StationIds).ToHashSet(StringComparer.Ordinal);
        return request with { QualifiedStationIds = eligible.Where(s => !refused.Contains(s)).ToHashSet(StringComparer.Ordinal) };

        bool Approved(Offer o)
        {
            var mine = given[o.Id].ToList();
            if (mine.Any(a => a.Verdict == TradeVerdict.Red)) return false;
            if (!impacts.TryGetValue(o.Id, out var impact)) return true;
            var power = PowerOf(tsoRequest, o);
            return impact.Operators.All(op => mine.Any(a => a.OperatorId == op) || impact.AutoApproves(op, power));
        }
    }

    /// <summary>
    /// The most power the offer moves in any market interval (kW), what an approval limit is held against: its profile's
    /// highest value, or a flat offer's average over the request's window (rounded up to the watt).
    /// </summary>
    public static Kilowatts PowerOf(FlexRequest request, Offer offer) =>
        offer.Profile is { Count: > 0 } profile ? profile.MaxBy(kw => kw.Value)
        : new(decimal.Round(offer.Energy.Value * TimeSpan.TicksPerHour / request.Delivery.Duration.Ticks, 3, MidpointRounding.ToPositiveInfinity));
}

/// <summary>
/// Which operators a trade on a TSO's request impacts (the owners of the nodes on its stations' paths, the TSO aside) and
/// each one's lowest approval limit there (absent: the operator set none, so it approves nothing automatically).
/// </summary>
public sealed record TradeImpact(IReadOnlyList<string> Operators, IReadOnlyDictionary<string, Kilowatts> Limits)
{
    /// <summary>Whether <paramref name="operatorId"/> approves a trade of <paramref name="power"/> automatically: at or below its approval limit.</summary>
    public bool AutoApproves(string operatorId, Kilowatts power) => Limits.TryGetValue(operatorId, out var limit) && power.Value <= limit.Value;
}
