namespace FlexChain.Domain;

/// <summary>An availability price in EUR per kW of capacity held ready for a whole period, at most 4 decimals (DOMAIN.md section 4).</summary>
public readonly record struct EurosPerKilowatt(decimal Value) : IComparable<EurosPerKilowatt>
{
    public static EurosPerKilowatt From(decimal eurPerKw, string field = "availabilityPriceEurPerKw") =>
        new(Decimals.Exact(eurPerKw, EurosPerKilowattHour.Scale, field, "EUR/kW"));

    /// <summary>What holding <paramref name="capacity"/> ready for the period costs.</summary>
    public static Euros operator *(Kilowatts capacity, EurosPerKilowatt price) => new(capacity.Value * price.Value);

    public int CompareTo(EurosPerKilowatt other) => Value.CompareTo(other.Value);
    public override string ToString() => $"{Value} EUR/kW";
}

/// <summary>
/// What a DSO buys with an availability request: <see cref="Capacity"/> held ready behind <see cref="TransformerId"/> over
/// <see cref="Period"/> (a block of whole hours up to a week; a market may set a shorter unit, <see cref="Create"/>), paid at most <see cref="MaxPrice"/> per kW for the period,
/// offers taken until <see cref="GateClosure"/>. With <see cref="Arming"/> the DSO arms the days it will need
/// (<see cref="AvailabilityContract.Arm"/>); the others are released to other buyers.
/// </summary>
public sealed record AvailabilityTerms
{
    /// <summary>The longest period: a week.</summary>
    public static readonly TimeSpan MaxPeriod = TimeSpan.FromDays(7);

    /// <summary>The unit a period starts and ends on by default: whole UTC hours.</summary>
    public static readonly TimeSpan HourUnit = TimeSpan.FromHours(1);

    private AvailabilityTerms(string transformerId, TimeWindow period, Kilowatts capacity, EurosPerKilowatt maxPrice, Direction direction,
        DateTimeOffset gateClosure, bool arming)
    {
        TransformerId = transformerId;
        Period = period;
        Capacity = capacity;
        MaxPrice = maxPrice;
        Direction = direction;
        GateClosure = gateClosure;
        Arming = arming;
    }

    public string TransformerId { get; }
    public TimeWindow Period { get; }
    public Kilowatts Capacity { get; }
    public EurosPerKilowatt MaxPrice { get; }
    public Direction Direction { get; }
    public DateTimeOffset GateClosure { get; }
    public bool Arming { get; }

    /// <summary>
    /// Checks the terms; <see cref="DomainException"/> names the field and rule of the first one broken. The period starts
    /// and ends on whole multiples of <paramref name="periodUnit"/> (default <see cref="HourUnit"/>; rule <c>whole-hours</c>).
    /// </summary>
    public static AvailabilityTerms Create(string transformerId, TimeWindow period, Kilowatts capacity, EurosPerKilowatt maxPrice,
        Direction direction, DateTimeOffset gateClosure, bool arming = false, TimeSpan? periodUnit = null)
    {
        var unit = periodUnit ?? HourUnit;
        if (unit <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(periodUnit), unit, "the period unit must be positive");
        if (capacity.Value <= 0) throw new DomainException("capacityKw", "positive", "capacityKw must be positive.");
        if (maxPrice.Value <= 0) throw new DomainException("maxAvailabilityPriceEurPerKw", "positive", "maxAvailabilityPriceEurPerKw must be positive.");
        if (period.Start.Ticks % unit.Ticks != 0 || period.End.Ticks % unit.Ticks != 0)
            throw new DomainException("periodStart", "whole-hours", unit == HourUnit ? "An availability period starts and ends on whole UTC hours."
                : $"An availability period starts and ends on whole multiples of {unit:c} (UTC).");
        if (period.Duration > MaxPeriod)
            throw new DomainException("periodEnd", "period-length", $"An availability period lasts at most {MaxPeriod.TotalDays} days (a week).");
        if (gateClosure.Offset != TimeSpan.Zero || gateClosure > period.Start)
            throw new DomainException("gateClosure", "gate-before-period", "gateClosure must be UTC and not after periodStart.");
        return new(transformerId, period, capacity, maxPrice, direction, gateClosure, arming);
    }

    /// <summary>Rehydrates terms <see cref="Create"/> checked when they were posted (a later change of the market's period unit does not undo them).</summary>
    public static AvailabilityTerms Restore(string transformerId, TimeWindow period, Kilowatts capacity, EurosPerKilowatt maxPrice,
        Direction direction, DateTimeOffset gateClosure, bool arming) =>
        new(transformerId, period, capacity, maxPrice, direction, gateClosure, arming);

    /// <summary>
    /// Checks <paramref name="offer"/> at <paramref name="now"/> (before gate closure, <c>gate-closed</c>): the terms' direction,
    /// positive prices and capacity, the availability price cap (<c>price-cap</c>), and its stations (<see cref="Problem"/>).
    /// </summary>
    /// <exception cref="DomainException">
    /// A broken rule, named by field and rule: a station's on <c>stationIds</c>, a capacity above the stations' power
    /// (<c>physical-limit</c>) or above what the grid operators let them shift (<c>grid-max-power</c>) on <c>capacityKw</c>.
    /// </exception>
    /// <param name="grid">What the grid operators allow each station over the period, by station id (none when absent).</param>
    public void AcceptOffer(AvailabilityOffer offer, IReadOnlyList<ChargingStation> stations, GridNode transformer,
        PrequalificationRequirements? requirements, DateTimeOffset now, IReadOnlyDictionary<string, GridRestriction>? grid = null)
    {
        if (now >= GateClosure) throw new DomainException("gateClosure", "gate-closed", $"The gate closed at {GateClosure:O}.");
        if (offer.Direction != Direction)
            throw new DomainException("direction", "direction", $"The request's direction is {Direction}; an offer must have the same direction.");
        if (offer.Capacity.Value <= 0) throw new DomainException("capacityKw", "positive", "capacityKw must be greater than zero.");
        if (offer.AvailabilityPrice.Value <= 0) throw new DomainException("availabilityPriceEurPerKw", "positive", "availabilityPriceEurPerKw must be greater than zero.");
        if (offer.ActivationPrice.Value <= 0) throw new DomainException("activationPriceEurPerKwh", "positive", "activationPriceEurPerKwh must be greater than zero.");
        if (offer.AvailabilityPrice.Value > MaxPrice.Value)
            throw new DomainException("availabilityPriceEurPerKw", "price-cap", $"availabilityPriceEurPerKw exceeds the request's cap of {MaxPrice}.");
        if (stations.Count == 0) throw new DomainException("stationIds", "required", "An offer needs at least one station.");
        if (Problems(offer, stations, transformer, requirements, now, grid).FirstOrDefault() is ({ } field, { } problem))
            throw new DomainException(field, problem.Rule, problem.Message);
    }

    /// <summary>
    /// Why <paramref name="stations"/> may not hold <paramref name="offer"/>'s capacity over the period, judged at
    /// <paramref name="at"/> (an offer, and again at the gate), or null: each the CPO's own (<c>own-station</c>), eligible
    /// behind the transformer (<see cref="Eligibility"/>, <c>qualified</c>) and allowed by the grid operators for the
    /// period (<see cref="GridRestriction.Problem"/>: <c>grid-red</c>, <c>grid-dynamic-connection</c>, <c>grid-not-approved</c>,
    /// <c>grid-hours</c>); the capacity within their power (<c>physical-limit</c>) and within what the grid's caps
    /// (conditional maximum power, temporary limits in the period) let them shift (<c>grid-max-power</c>).
    /// </summary>
    public QualificationReason? Problem(AvailabilityOffer offer, IReadOnlyList<ChargingStation> stations, GridNode transformer,
        PrequalificationRequirements? requirements, DateTimeOffset at, IReadOnlyDictionary<string, GridRestriction>? grid) =>
        Problems(offer, stations, transformer, requirements, at, grid).FirstOrDefault().Problem;

    private IEnumerable<(string Field, QualificationReason Problem)> Problems(AvailabilityOffer offer, IReadOnlyList<ChargingStation> stations,
        GridNode transformer, PrequalificationRequirements? requirements, DateTimeOffset at, IReadOnlyDictionary<string, GridRestriction>? grid)
    {
        foreach (var s in stations)
        {
            if (s.CpoId != offer.CpoId) yield return ("stationIds", new("own-station", $"Station {s.Id} is not yours."));
            if (Eligibility.Problem(s, transformer, requirements, at) is { } problem) yield return ("stationIds", new("qualified", problem.Message));
            if (GridRestriction.Of(s.Id, grid).Problem(s.Id, Period) is { } gridProblem) yield return ("stationIds", gridProblem);
        }
        var power = stations.Sum(s => s.MaxPower.Value);
        if (offer.Capacity.Value > power)
            yield return ("capacityKw", new("physical-limit", $"capacityKw exceeds the offer's stations' power of {power} kW."));
        var (usable, caps) = GridRestriction.UsablePower(stations, grid);
        if (caps is not null && offer.Capacity.Value > usable.Value)
            yield return ("capacityKw", new("grid-max-power", $"capacityKw exceeds what the grid operators allow the offer's stations over the period: at most {usable} ({caps})."));
    }

    /// <summary>The period cut at UTC midnights: the days that are armed or released one by one (a block of hours is one slice).</summary>
    public IReadOnlyList<TimeWindow> Days()
    {
        var days = new List<TimeWindow>();
        for (var start = Period.Start; start < Period.End;)
        {
            var end = new DateTimeOffset(start.UtcDateTime.Date.AddDays(1), TimeSpan.Zero);
            if (end > Period.End) end = Period.End;
            days.Add(new TimeWindow(start, end));
            start = end;
        }
        return days;
    }
}

/// <summary>
/// A CPO's sealed offer on an availability request: <see cref="Capacity"/> held ready at its stations for the whole
/// period at <see cref="AvailabilityPrice"/> per kW, and energy when called at <see cref="ActivationPrice"/>. Divisible:
/// the last offer needed is reserved in part (to the watt).
/// </summary>
public sealed record AvailabilityOffer(
    string Id, string CpoId, IReadOnlyList<string> StationIds, Kilowatts Capacity, EurosPerKilowatt AvailabilityPrice,
    EurosPerKilowattHour ActivationPrice, DateTimeOffset SubmittedAt)
{
    /// <summary>Which way the offer moves consumption; it must be its request's.</summary>
    public Direction Direction { get; init; } = Direction.ReduceConsumption;
}

/// <summary>A winner of an availability request: capacity reserved at its stations for the period, and its prices.</summary>
/// <param name="OfferedAt">Its offer's submission time: its merit-order tie-break when called.</param>
public sealed record AvailabilityHolder(
    string OfferId, string CpoId, IReadOnlyList<string> StationIds, Kilowatts Reserved, EurosPerKilowatt AvailabilityPrice,
    EurosPerKilowattHour ActivationPrice, DateTimeOffset OfferedAt)
{
    /// <summary>The availability payment for the whole period: reserved kW x availability price.</summary>
    public Euros AvailabilityPayment => Reserved * AvailabilityPrice;
}

/// <summary>One availability offer's outcome: reserved in whole or in part (<see cref="Reserved"/>), or why not.</summary>
public sealed record ReservationOutcome(string OfferId, OfferOutcomeKind Kind, Kilowatts Reserved, string? Detail = null);

/// <summary>The holders an availability request's clearing chose (merit order) and every offer's outcome, in merit order.</summary>
public sealed record AvailabilityReservation(IReadOnlyList<AvailabilityHolder> Holders, IReadOnlyList<ReservationOutcome> Outcomes)
{
    /// <summary>The capacity reserved, summed over the holders (kW).</summary>
    public Kilowatts Reserved => new(Holders.Sum(h => h.Reserved.Value));

    /// <summary>
    /// Fills <paramref name="terms"/>' capacity in merit order of availability price (cheapest first; ties by submission
    /// time, then offer id), cutting the last offer needed. An offer is rejected when late, of the other direction, above
    /// the price cap, without stations or capacity, in <paramref name="ineligible"/> (its reason the outcome's detail), or
    /// naming a station <paramref name="taken"/> books for a window overlapping the period (any buyer).
    /// </summary>
    /// <param name="ineligible">Why offers may not hold capacity at the gate (<see cref="AvailabilityTerms.Problem"/>), by offer id; null for none.</param>
    public static AvailabilityReservation Reserve(AvailabilityTerms terms, IEnumerable<AvailabilityOffer> offers,
        IReadOnlyCollection<StationBooking> taken, IReadOnlyDictionary<string, QualificationReason>? ineligible = null)
    {
        var remaining = terms.Capacity.Value;
        var holders = new List<AvailabilityHolder>();
        var outcomes = new List<ReservationOutcome>();
        foreach (var o in offers.OrderBy(o => o.AvailabilityPrice).ThenBy(o => o.SubmittedAt).ThenBy(o => o.Id, StringComparer.Ordinal))
        {
            var clash = taken.FirstOrDefault(b => o.StationIds.Contains(b.StationId) && b.Window.Overlaps(terms.Period));
            var problem = ineligible?.GetValueOrDefault(o.Id);
            var rejection =
                o.SubmittedAt >= terms.GateClosure ? OfferOutcomeKind.RejectedLate
                : o.Direction != terms.Direction ? OfferOutcomeKind.RejectedWrongDirection
                : o.StationIds.Count == 0 || o.Capacity.Value <= 0 || o.ActivationPrice.Value <= 0 || o.AvailabilityPrice.Value <= 0
                  || problem is not null ? OfferOutcomeKind.RejectedNotEligible
                : o.AvailabilityPrice.Value > terms.MaxPrice.Value ? OfferOutcomeKind.RejectedOverPriceCap
                : clash is not null ? OfferOutcomeKind.RejectedCapacityConflict
                : remaining == 0 ? OfferOutcomeKind.RejectedNotNeeded
                : (OfferOutcomeKind?)null;
            if (rejection is { } kind)
            {
                outcomes.Add(new(o.Id, kind, default, kind switch
                {
                    OfferOutcomeKind.RejectedNotEligible => problem?.Message,
                    OfferOutcomeKind.RejectedCapacityConflict => clash!.Describe(),
                    _ => null,
                }));
                continue;
            }
            var reserved = Math.Min(remaining, o.Capacity.Value);
            remaining -= reserved;
            holders.Add(new(o.Id, o.CpoId, o.StationIds, new Kilowatts(reserved), o.AvailabilityPrice, o.ActivationPrice, o.SubmittedAt));
            outcomes.Add(new(o.Id, reserved == o.Capacity.Value ? OfferOutcomeKind.Accepted : OfferOutcomeKind.PartlyAccepted, new Kilowatts(reserved)));
        }
        return new(holders, outcomes);
    }
}

/// <summary>Where one day of an availability contract stands for arming. Numbers are stable; names go on the wire.</summary>
public enum ArmingState
{
    /// <summary>Not armed yet, and its arming deadline is still ahead: the capacity stays withheld.</summary>
    Pending = 1,

    /// <summary>Armed by the DSO: withheld from other buyers, and the DSO may call it.</summary>
    Armed = 2,

    /// <summary>Not armed by its deadline: released to other buyers (its bookings removed); it cannot be called.</summary>
    Released = 3,
}

/// <summary>
/// An availability request's holders after its gate: capacity reserved over the period, the DSO's armed days and its
/// calls. Changes through <see cref="Arm"/> and <see cref="Call"/>, which throw <see cref="DomainException"/> when a rule
/// forbids them.
/// </summary>
public sealed class AvailabilityContract(
    string id, string dsoId, AvailabilityTerms terms, IReadOnlyList<AvailabilityHolder> holders,
    IEnumerable<DateTimeOffset>? armedDays = null, IEnumerable<TimeWindow>? calls = null)
{
    private readonly SortedSet<DateTimeOffset> _armed = new(armedDays ?? []);
    private readonly List<TimeWindow> _calls = [.. calls ?? []];

    /// <summary>The availability request's id.</summary>
    public string Id { get; } = id;
    public string DsoId { get; } = dsoId;
    public AvailabilityTerms Terms { get; } = terms;
    public IReadOnlyList<AvailabilityHolder> Holders { get; } = holders;

    /// <summary>The starts of the days (<see cref="AvailabilityTerms.Days"/>) the DSO armed.</summary>
    public IReadOnlyCollection<DateTimeOffset> ArmedDays => _armed;

    /// <summary>The windows of the calls made so far.</summary>
    public IReadOnlyList<TimeWindow> Calls => _calls;

    /// <summary>The capacity reserved over all holders (kW).</summary>
    public Kilowatts Reserved => new(Holders.Sum(h => h.Reserved.Value));

    /// <summary>
    /// A day's arming state at <paramref name="now"/>: without arming every day is armed; with it a day is armed when the
    /// DSO armed it, pending until <paramref name="lead"/> before it starts, released after.
    /// </summary>
    public ArmingState StateOf(TimeWindow day, DateTimeOffset now, TimeSpan lead) =>
        !Terms.Arming || _armed.Contains(day.Start) ? ArmingState.Armed
        : now < day.Start - lead ? ArmingState.Pending
        : ArmingState.Released;

    /// <summary>
    /// Arms the day starting at <paramref name="dayStart"/>, no later than <paramref name="lead"/> before it (Norway: two
    /// days). Arming an armed day again changes nothing.
    /// </summary>
    public void Arm(DateTimeOffset dayStart, DateTimeOffset now, TimeSpan lead)
    {
        if (!Terms.Arming) throw new DomainException("day", "arming-off", "This availability contract was bought without arming: every day is withheld.");
        var day = Terms.Days().FirstOrDefault(d => d.Start == dayStart);
        if (day == default) throw new DomainException("day", "arming-day", $"{dayStart:O} is not the start of a day of the period {Terms.Period}.");
        switch (StateOf(day, now, lead))
        {
            case ArmingState.Armed: return;
            case ArmingState.Released:
                throw new DomainException("day", "arming-lead", $"A day is armed at least {lead} before it starts, by {day.Start - lead:O}; it is released.");
        }
        _armed.Add(dayStart);
    }

    /// <summary>
    /// The station bookings that withhold the holders' stations at <paramref name="now"/>: one per station and day not
    /// released, by the holder's award id (<see cref="Award.IdFor"/> of the contract and offer).
    /// </summary>
    public IEnumerable<StationBooking> Bookings(DateTimeOffset now, TimeSpan lead) =>
        from day in Terms.Days()
        where StateOf(day, now, lead) != ArmingState.Released
        from h in Holders
        from s in h.StationIds
        select new StationBooking(s, day, Award.IdFor(Id, h.OfferId));

    /// <summary>The bookings of the released days at <paramref name="now"/>: those to remove from storage.</summary>
    public IEnumerable<StationBooking> Released(DateTimeOffset now, TimeSpan lead) =>
        from day in Terms.Days()
        where StateOf(day, now, lead) == ArmingState.Released
        from h in Holders
        from s in h.StationIds
        select new StationBooking(s, day, Award.IdFor(Id, h.OfferId));

    /// <summary>
    /// Checks a call of <paramref name="energy"/> over <paramref name="window"/> and records it. A call lies inside the
    /// period (<c>call-period</c>), on armed days only (<c>call-unarmed</c>), overlaps no earlier call (<c>call-overlap</c>:
    /// the reserved capacity is used once at a time) and asks at most the reserved kW over the window
    /// (<c>call-capacity</c>).
    /// </summary>
    public void Call(TimeWindow window, KilowattHours energy, DateTimeOffset now, TimeSpan lead)
    {
        if (window.Start < Terms.Period.Start || window.End > Terms.Period.End)
            throw new DomainException("deliveryStart", "call-period", $"A call's window must lie inside the availability period {Terms.Period}.");
        if (Terms.Days().FirstOrDefault(d => d.Overlaps(window) && StateOf(d, now, lead) != ArmingState.Armed) is { } unarmed && unarmed != default)
            throw new DomainException("deliveryStart", "call-unarmed", $"The day {unarmed} is not armed: only armed days can be called.");
        if (_calls.FirstOrDefault(c => c.Overlaps(window)) is { } earlier && earlier != default)
            throw new DomainException("deliveryStart", "call-overlap", $"The call overlaps the earlier call {earlier} of this contract.");
        var most = Reserved * window.Duration;
        if (energy > most)
            throw new DomainException("energyKwh", "call-capacity", $"A call asks at most the reserved {Reserved} over its window: {most}.");
        _calls.Add(window);
    }

    /// <summary>
    /// The holders as offers on the call <paramref name="callId"/> over <paramref name="window"/> (checked by <see cref="Call"/>): each its reserved kW over
    /// the call's window at its activation price, divisible, with its availability offer's time, so the clearing engine
    /// clears the call only among the holders by activation price within their reserved capacity. No booking is taken:
    /// the capacity is already theirs.
    /// </summary>
    public IReadOnlyList<Offer> CallOffers(string callId, TimeWindow window) =>
        Holders.Select(h => new Offer(h.OfferId, callId, h.CpoId, h.StationIds, h.Reserved * window.Duration,
            h.ActivationPrice, Divisible: true, h.OfferedAt) { Direction = Terms.Direction }).ToList();

    /// <summary>
    /// The holders cut into escrow batches of at most <paramref name="maxPerBatch"/> holders each, in merit order: one lock
    /// and one settlement transaction per batch, as a gate cycle's awards are cut (<see cref="GateCycle.PlanBatches"/>), so a
    /// contract with more holders than one lock can carry is paid through several. Each holder is in exactly one batch.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="maxPerBatch"/> is below 1.</exception>
    public IReadOnlyList<IReadOnlyList<AvailabilityHolder>> EscrowBatches(int maxPerBatch)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxPerBatch, 1);
        return [.. Holders.Chunk(maxPerBatch)];
    }

    /// <summary>
    /// What a holder is paid for availability: its full availability payment, unless it failed a call. A holder fails a
    /// call when the call awarded it energy and the award's verification did not succeed (below the request's success
    /// threshold in any market interval); one failed call forfeits the whole period's availability payment. A holder
    /// not called, or called and delivering, keeps it (DOMAIN.md section 4: OMIE's rule).
    /// </summary>
    /// <param name="callVerifications">The verifications of the holder's awards in this contract's calls.</param>
    public static Euros AvailabilityPayout(AvailabilityHolder holder, IEnumerable<Verification> callVerifications) =>
        callVerifications.Any(v => !v.Succeeded) ? Euros.Zero : holder.AvailabilityPayment;
}
