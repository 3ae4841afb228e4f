namespace FlexChain.Domain;

/// <summary>
/// What the clearing engine needs to know about one request of a gate cycle. Offers are matched to it by
/// <see cref="Offer.RequestId"/>.
/// </summary>
/// <param name="Id">The request id (unique within the cycle).</param>
/// <param name="Delivery">The delivery window; a station awarded here is blocked for every overlapping window.</param>
/// <param name="Energy">The energy wanted (kWh, positive, exact to the watt-hour).</param>
/// <param name="PriceCap">The highest acceptable price (EUR/kWh, at most 4 decimals).</param>
/// <param name="GateClosure">Offers submitted at or after this instant are late.</param>
/// <param name="Pricing">Pay-as-bid or pay-as-clear.</param>
public sealed record ClearingRequest(
    string Id, TimeWindow Delivery, KilowattHours Energy, EurosPerKilowattHour PriceCap, DateTimeOffset GateClosure,
    PricingRule Pricing)
{
    /// <summary>Which way the request moves consumption (default: reduce). An offer of the other direction is <see cref="OfferOutcomeKind.RejectedWrongDirection"/>.</summary>
    public Direction Direction { get; init; } = Direction.ReduceConsumption;

    /// <summary>
    /// How much more than <see cref="Energy"/> may be bought (kWh, default zero: never more than requested). It only
    /// lets an indivisible offer that overshoots the remaining need be accepted whole; divisible offers are still cut
    /// to the need.
    /// </summary>
    public KilowattHours OverfillAllowance { get; init; }

    /// <summary>
    /// The least part of an offer that may be accepted (kWh, exact to the watt-hour), or null for any part: a divisible
    /// offer is not cut, and a manual pick does not take, below it. Whole offers are accepted whatever their size.
    /// </summary>
    public KilowattHours? MinimumAccepted { get; init; }

    /// <summary>
    /// The stations eligible for this request at clearing time (<see cref="FlexRequest.ToClearingRequest(IEnumerable{ChargingStation}, GridNode, PrequalificationRequirements?, DateTimeOffset, IEnumerable{Offer}?, IReadOnlyDictionary{string, GridRestriction}?, IReadOnlyDictionary{string, StationSite}?)"/>),
    /// or null to take every station as eligible. An offer naming any other station is not eligible.
    /// </summary>
    public IReadOnlySet<string>? QualifiedStationIds { get; init; }

    /// <summary>
    /// The end of the DSO's manual decision period (exclusive), or null for automatic selection only. A
    /// <see cref="Decision"/> counts only when taken at or after gate closure and before this instant.
    /// </summary>
    public DateTimeOffset? DecisionDeadline { get; init; }

    /// <summary>The DSO's manual picks, or null when it made none (automatic clearing applies).</summary>
    public ManualDecision? Decision { get; init; }

    /// <summary>The market interval the window is cut into for profiles and capacity (default: 15 minutes).</summary>
    public MarketInterval Interval { get; init; } = MarketInterval.Default;

    /// <summary>
    /// The power wanted in each market interval of <see cref="Delivery"/> (kW, one per interval of
    /// <see cref="Interval"/>.Cut(<see cref="Delivery"/>)), or null for a flat request of <see cref="Energy"/> over the
    /// window. With a profile, <see cref="Energy"/> must be its sum (kW x interval).
    /// </summary>
    public IReadOnlyList<Kilowatts>? Profile { get; init; }

    /// <summary>
    /// The registered power, recovery time and grid cap of the stations its offers name, or null (or a station missing): that
    /// station's capacity is unknown and an award takes it whole for the window, as before capacities were known. A
    /// station's <see cref="StationCapacity.GridCap"/> holds for this request's window only.
    /// </summary>
    public IReadOnlyDictionary<string, StationCapacity>? Stations { get; init; }
}

/// <summary>What clearing may book of one station.</summary>
/// <param name="MaxPower">Its registered maximum power (kW): what all its awards together may use in any interval.</param>
/// <param name="Recovery">How long it stays booked after each awarded window (zero: none).</param>
public readonly record struct StationCapacity(Kilowatts MaxPower, TimeSpan Recovery)
{
    /// <summary>
    /// The grid operators' cap for the request's delivery (kW: a conditional approval's maximum power, temporary limits in
    /// force), or null for none. Booking for that request, all the station's awards together in any interval of its window
    /// (earlier bookings included) stay within the lower of this and <see cref="MaxPower"/>; an offer kept out names it.
    /// </summary>
    public Kilowatts? GridCap { get; init; }
}

/// <summary>The DSO's manual selection for one request.</summary>
/// <param name="RequestId">The request the picks are for.</param>
/// <param name="Picks">The offers picked; their order does not matter (they are applied in merit order).</param>
/// <param name="DecidedAt">When the DSO decided (UTC).</param>
public sealed record ManualDecision(string RequestId, IReadOnlyList<OfferPick> Picks, DateTimeOffset DecidedAt);

/// <summary>One picked offer.</summary>
/// <param name="OfferId">The offer.</param>
/// <param name="Energy">How much of it (kWh, to the watt-hour), or null for the whole offer. Only divisible offers may be picked in part.</param>
public readonly record struct OfferPick(string OfferId, KilowattHours? Energy = null);

/// <summary>Why a manual pick cannot be honoured, as reported by <see cref="ClearingEngine.ValidateDecision"/>.</summary>
/// <param name="OfferId">The picked offer id.</param>
/// <param name="Reason">The rejection the engine would record for it.</param>
/// <param name="Message">A sentence for the DSO.</param>
public readonly record struct PickProblem(string OfferId, OfferOutcomeKind Reason, string Message);
