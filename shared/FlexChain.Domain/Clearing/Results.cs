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

    /// <summary>One of the offer's stations is already awarded for an overlapping delivery window.</summary>
    RejectedCapacityConflict = 8,

    /// <summary>Manual selection: the DSO did not pick this offer.</summary>
    RejectedNotPicked = 9,

    /// <summary>
    /// Manual selection: the DSO picked this offer, but the pick breaks a rule (splits an indivisible offer, asks
    /// for more than offered, or exceeds the request); <see cref="OfferOutcome.Detail"/> says which.
    /// </summary>
    RejectedInvalidPick = 10,
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

    /// <summary>Whether any energy of the offer was accepted.</summary>
    public bool IsAccepted => Kind is OfferOutcomeKind.Accepted or OfferOutcomeKind.PartlyAccepted;

    public bool Equals(OfferOutcome? other) =>
        other is not null && OfferId == other.OfferId && Kind == other.Kind && AcceptedEnergy == other.AcceptedEnergy &&
        Price == other.Price && Detail == other.Detail;

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

    /// <summary>Total energy awarded.</summary>
    public KilowattHours AcceptedEnergy => Awards.Aggregate(KilowattHours.Zero, (s, a) => s + a.Energy);

    /// <summary>
    /// The canonical, deterministic form of this result that an adapter hashes (e.g. Keccak-256 of its ABI
    /// encoding) and publishes on chain; see <see cref="CanonicalClearing"/> for the exact field order.
    /// </summary>
    /// <exception cref="DomainException">An energy is finer than 1 Wh or a price finer than 1 micro-EUR per kWh.</exception>
    public CanonicalClearing Canonical()
    {
        var lines = new CanonicalOutcome[Outcomes.Count];
        for (var i = 0; i < lines.Length; i++)
        {
            var o = Outcomes[i];
            lines[i] = new CanonicalOutcome(o.OfferId, (int)o.Kind, o.AcceptedEnergy.WattHours, Units.MicroEurPerKwh(o.Price));
        }
        // Ordinal id order: an auditor can rebuild it from the set of outcomes without knowing the merit order.
        Array.Sort(lines, static (a, b) => string.CompareOrdinal(a.OfferId, b.OfferId));
        return new CanonicalClearing(
            RequestId, (int)Pricing, (int)Selection, Requested.WattHours, OverfillAllowance.WattHours,
            AcceptedEnergy.WattHours, Units.MicroEurPerKwh(ClearingPrice), Array.AsReadOnly(lines));
    }
}

/// <summary>
/// The canonical form of a <see cref="ClearingResult"/>: integers and ids only, in this exact field order:
/// <c>(string requestId, uint8 pricing, uint8 selection, uint64 requestedWh, uint64 overfillAllowanceWh,
/// uint64 acceptedWh, uint64 clearingPriceMicroEurPerKwh, (string offerId, uint8 kind, uint64 acceptedWh,
/// uint64 priceMicroEurPerKwh)[] outcomes)</c>. Enums are their stable numbers (<see cref="PricingRule"/>,
/// <see cref="SelectionMode"/>, <see cref="OfferOutcomeKind"/>); energy is whole watt-hours, prices are whole
/// micro-EUR per kWh (EUR/kWh x 1,000,000); outcomes are sorted by offer id, ordinal (byte-wise for ASCII ids).
/// The adapter that hashes it should ABI-encode exactly this tuple. Equality compares every field and line.
/// </summary>
public sealed record CanonicalClearing(
    string RequestId, int Pricing, int Selection, long RequestedWh, long OverfillAllowanceWh, long AcceptedWh,
    long ClearingPriceMicroEurPerKwh, IReadOnlyList<CanonicalOutcome> Outcomes)
{
    public bool Equals(CanonicalClearing? other) =>
        other is not null && RequestId == other.RequestId && Pricing == other.Pricing && Selection == other.Selection &&
        RequestedWh == other.RequestedWh && OverfillAllowanceWh == other.OverfillAllowanceWh && AcceptedWh == other.AcceptedWh &&
        ClearingPriceMicroEurPerKwh == other.ClearingPriceMicroEurPerKwh && Outcomes.SequenceEqual(other.Outcomes);

    public override int GetHashCode() => HashCode.Combine(RequestId, AcceptedWh, ClearingPriceMicroEurPerKwh, Outcomes.Count);
}

/// <summary>One line of <see cref="CanonicalClearing"/>, fields in this order.</summary>
/// <param name="OfferId">The offer.</param>
/// <param name="Kind">The <see cref="OfferOutcomeKind"/> number.</param>
/// <param name="AcceptedWh">Awarded energy in whole watt-hours (0 when rejected).</param>
/// <param name="PriceMicroEurPerKwh">Awarded price in micro-EUR per kWh (0 when rejected).</param>
public readonly record struct CanonicalOutcome(string OfferId, int Kind, long AcceptedWh, long PriceMicroEurPerKwh);

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
