namespace FlexChain.Domain;

/// <summary>
/// Why an offer was or was not accepted; the DSO's history view shows it. Numbers are stable (they go into the
/// canonical form that is hashed on chain); names go on the wire. New reasons get new numbers, never reused ones.
/// </summary>
public enum OfferOutcomeKind
{
    /// <summary>The whole offer was accepted.</summary>
    Accepted = 1,

    /// <summary>A divisible offer was accepted in part, to the watt-hour.</summary>
    PartlyAccepted = 2,

    /// <summary>The offer's price is above the request's price cap.</summary>
    RejectedOverPriceCap = 3,

    /// <summary>Cheaper offers already covered the request (including any overfill allowance).</summary>
    RejectedNotNeeded = 4,

    /// <summary>The offer is indivisible and larger than the remaining need (plus any overfill allowance).</summary>
    RejectedIndivisibleOvershoot = 5,

    /// <summary>The offer was submitted at or after gate closure.</summary>
    RejectedLate = 6,

    /// <summary>
    /// The offer cannot be cleared at all: energy or price not positive or finer than 1 Wh / 0.0001 EUR per kWh, no
    /// station, a station not qualified for the request, or no request of that id in the gate cycle.
    /// </summary>
    RejectedNotEligible = 7,

    /// <summary>
    /// One of the offer's stations is already awarded for an overlapping delivery window, in this clearing or an earlier one (a
    /// <see cref="StationBooking"/>); or, in the common market, a grid node above its stations has no room left for it
    /// (<see cref="NodeHeadroom"/>; the detail names the node).
    /// </summary>
    RejectedCapacityConflict = 8,

    /// <summary>Manual selection: the DSO did not pick this offer.</summary>
    RejectedNotPicked = 9,

    /// <summary>
    /// Manual selection: the DSO picked this offer, but the pick breaks a rule (splits an indivisible offer, asks
    /// for more than offered, or exceeds the request); <see cref="OfferOutcome.Detail"/> says which.
    /// </summary>
    RejectedInvalidPick = 10,

    /// <summary>The offer moves consumption the other way than its request (reduce against increase, or the reverse).</summary>
    RejectedWrongDirection = 11,

    /// <summary>
    /// A TSO's request with a minimum block (<see cref="FlexRequest.MinBlock"/>): the offer, or the pool it could join, is
    /// below that block; <see cref="OfferOutcome.Detail"/> says how far and why it was not pooled (<see cref="Pooling"/>).
    /// </summary>
    RejectedBelowMinimumBlock = 12,
}

/// <summary>How the winners of a request were chosen. Numbers are stable; names go on the wire.</summary>
public enum SelectionMode
{
    /// <summary>Merit order (DOMAIN.md section 4).</summary>
    Automatic = 1,

    /// <summary>The DSO picked the winners after gate closure, before its decision deadline.</summary>
    Manual = 2,
}

/// <summary>One offer's clearing outcome.</summary>
/// <param name="OfferId">The offer.</param>
/// <param name="Kind">Accepted, partly accepted, or the reason for the rejection.</param>
/// <param name="AcceptedEnergy">The energy awarded (kWh, exact to the watt-hour); zero when rejected.</param>
public sealed record OfferOutcome(string OfferId, OfferOutcomeKind Kind, KilowattHours AcceptedEnergy)
{
    /// <summary>The price paid per kWh of <see cref="AcceptedEnergy"/> (after the pricing rule); zero when rejected.</summary>
    public EurosPerKilowattHour Price { get; init; }

    // A string, or an explanation formatted on first read: a gate cycle can have hundreds of thousands of capacity
    // conflicts, and their sentences are read only when someone opens the history view.
    private object? _detail;

    /// <summary>A human explanation beyond <see cref="Kind"/> (which station conflicts, what is wrong with a pick), or null.</summary>
    public string? Detail
    {
        get => _detail is null or string ? (string?)_detail : (string)(_detail = _detail.ToString()!);
        init => _detail = value;
    }

    /// <summary>An explanation whose <see cref="object.ToString"/> is the <see cref="Detail"/> text, formatted when first read.</summary>
    internal object? DeferredDetail { init => _detail = value; }

    /// <summary>The pool the offer was cleared in, as one indivisible block with its other members (<see cref="Pooling"/>), or null.</summary>
    public string? PoolId { get; init; }

    /// <summary>Whether any energy of the offer was accepted.</summary>
    public bool IsAccepted => Kind is OfferOutcomeKind.Accepted or OfferOutcomeKind.PartlyAccepted;

    public bool Equals(OfferOutcome? other) =>
        other is not null && OfferId == other.OfferId && Kind == other.Kind && AcceptedEnergy == other.AcceptedEnergy &&
        Price == other.Price && Detail == other.Detail && PoolId == other.PoolId;

    public override int GetHashCode() => HashCode.Combine(OfferId, Kind, AcceptedEnergy, Price);
}

/// <summary>
/// The result of clearing one request: the awards (in merit order) and an explanation for every offer. Outcomes are
/// listed in merit order too: price ascending, then submission time, then offer id (ordinal), so the DSO reads the
/// list top-down the way the engine did. Final once published: the lists are read-only.
/// </summary>
public sealed record ClearingResult(IReadOnlyList<Award> Awards, IReadOnlyList<OfferOutcome> Outcomes)
{
    /// <summary>The request that was cleared (empty when built by older code that did not set it).</summary>
    public string RequestId { get; init; } = "";

    /// <summary>The energy the request asked for.</summary>
    public KilowattHours Requested { get; init; }

    /// <summary>How much more than <see cref="Requested"/> the request allowed to buy (zero: never more).</summary>
    public KilowattHours OverfillAllowance { get; init; }

    /// <summary>The pricing rule applied.</summary>
    public PricingRule Pricing { get; init; } = PricingRule.PayAsBid;

    /// <summary>How the winners were chosen.</summary>
    public SelectionMode Selection { get; init; } = SelectionMode.Automatic;

    /// <summary>Why the selection mode differs from what was asked (e.g. a manual decision after its deadline), or null.</summary>
    public string? SelectionNote { get; init; }

    /// <summary>The highest accepted offer price (the pay-as-clear price, whatever the rule); zero with no award.</summary>
    public EurosPerKilowattHour ClearingPrice { get; init; }

    /// <summary>
    /// The station capacity the awards book (per station, kW per market interval, or whole stations), or null for a
    /// result stored before the engine recorded them (<see cref="StationBooking.For"/>).
    /// </summary>
    public IReadOnlyList<StationBooking>? Bookings { get; init; }

    /// <summary>Total energy awarded.</summary>
    public KilowattHours AcceptedEnergy => Awards.Aggregate(KilowattHours.Zero, (s, a) => s + a.Energy);
}

/// <summary>
/// The result of clearing a whole gate cycle: one <see cref="ClearingResult"/> per request, in the order the engine
/// processed them (see <see cref="ClearingEngine"/>), and the offers that named no request of the cycle.
/// </summary>
public sealed record GateCycleResult(IReadOnlyList<ClearingResult> Results, IReadOnlyList<OfferOutcome> Unmatched)
{
    /// <summary>The result for <paramref name="requestId"/>.</summary>
    /// <exception cref="KeyNotFoundException">The request was not part of the cycle.</exception>
    public ClearingResult For(string requestId)
    {
        foreach (var r in Results)
            if (r.RequestId == requestId) return r;
        throw new KeyNotFoundException($"Request {requestId} was not cleared in this gate cycle.");
    }
}
