namespace FlexChain.Domain;

/// <summary>
/// A request's place in its gate cycle (ARCHITECTURE.md section 4). Numbers are stable; names go on the wire.
/// </summary>
public enum RequestState
{
    /// <summary>Accepting offers until gate closure; for manual selection, decided until the decision deadline.</summary>
    Open = 1,

    /// <summary>Cleared with at least one award (<see cref="FlexRequest.Fill"/>: filled or partly filled); escrow not yet locked.</summary>
    Cleared = 3,

    /// <summary>The awards' funds are locked in escrow; delivery is awaited and then verified.</summary>
    Awarded = 4,

    /// <summary>Delivery verified; settlement on chain is under way.</summary>
    Settling = 7,

    /// <summary>Every award is settled on chain.</summary>
    Settled = 8,

    /// <summary>Cancelled by its DSO before gate closure.</summary>
    Cancelled = 10,

    /// <summary>Cleared without any award (<see cref="FlexRequest.Fill"/> counts why each offer was rejected); nothing more happens.</summary>
    Unfilled = 11,

    /// <summary>
    /// Cleared, but the escrow could not draw the awards' funds from the DSO (its consent, allowance or balance no longer
    /// sufficed when locking; <see cref="FlexRequest.StateReason"/> says which). Terminal: nothing is locked or paid.
    /// </summary>
    FundingFailed = 12,

    /// <summary>
    /// The awards' funds were locked but returned to the DSO on chain before any settlement (a refund after the escrow's
    /// refund time; <see cref="FlexRequest.StateReason"/> says when and where). Terminal: nothing was paid.
    /// </summary>
    Unpaid = 13,
}

/// <summary>How much of a cleared request was covered. Numbers are stable; names go on the wire.</summary>
public enum FillKind
{
    /// <summary>The awards cover the requested energy.</summary>
    Filled = 1,

    /// <summary>Some energy was awarded, less than requested.</summary>
    PartlyFilled = 2,

    /// <summary>Nothing was awarded.</summary>
    Unfilled = 3,
}

/// <summary>How many offers of a request were rejected for one reason.</summary>
public readonly record struct RejectionCount(OfferOutcomeKind Reason, int Count);

/// <summary>What clearing gave a request: how much of it is covered and why the other offers lost.</summary>
/// <param name="Kind">Filled, partly filled or unfilled.</param>
/// <param name="Awarded">The energy awarded (kWh).</param>
/// <param name="Shortfall">The requested energy not awarded (kWh); zero when filled.</param>
/// <param name="Rejections">How many offers were rejected, per reason, in the reasons' order; empty when none was.</param>
public sealed record RequestFill(FillKind Kind, KilowattHours Awarded, KilowattHours Shortfall, IReadOnlyList<RejectionCount> Rejections)
{
    /// <summary>The fill of a request for <paramref name="requested"/> energy given its clearing's awards and outcomes.</summary>
    public static RequestFill Of(KilowattHours requested, IReadOnlyList<Award> awards, IReadOnlyList<OfferOutcome> outcomes)
    {
        var awarded = awards.Aggregate(KilowattHours.Zero, (sum, a) => sum + a.Energy);
        var shortfall = awarded >= requested ? KilowattHours.Zero : requested - awarded;
        var kind = awards.Count == 0 ? FillKind.Unfilled : shortfall == KilowattHours.Zero ? FillKind.Filled : FillKind.PartlyFilled;
        var rejections = outcomes.Where(o => !o.IsAccepted).GroupBy(o => o.Kind).OrderBy(g => g.Key).Select(g => new RejectionCount(g.Key, g.Count())).ToList();
        return new RequestFill(kind, awarded, shortfall, rejections);
    }

    public bool Equals(RequestFill? other) =>
        other is not null && Kind == other.Kind && Awarded == other.Awarded && Shortfall == other.Shortfall && Rejections.SequenceEqual(other.Rejections);

    public override int GetHashCode() => HashCode.Combine(Kind, Awarded, Shortfall);
}

/// <summary>
/// A DSO's flexibility request and its gate cycle. It changes only through its verbs, each of which checks the
/// current state and throws <see cref="DomainException"/> on an illegal transition.
/// </summary>
/// <summary>
/// The DSO's consent to pay for a request, as it signed it (EIP-712, checked against its wallet when the request was
/// posted): at most <see cref="MaxAmount"/> token units (decimal digits), usable until <see cref="Deadline"/>, under
/// <see cref="Nonce"/> (decimal digits), with <see cref="Signature"/> (0x and 65 bytes). The escrow checks it again.
/// </summary>
public sealed record FundingConsent(string MaxAmount, DateTimeOffset Deadline, string Nonce, string Signature);

public sealed class FlexRequest
{
    /// <summary>Rehydrates a stored request; use <see cref="Post"/> to create a new one.</summary>
    public FlexRequest(
        string id, string dsoId, string transformerId, TimeWindow delivery, KilowattHours energy, Direction direction,
        EurosPerKilowattHour maxPrice, DateTimeOffset gateClosure, PricingRule pricing, DateTimeOffset createdAt,
        RequestState state, IReadOnlyList<Award> awards, IReadOnlyList<OfferOutcome> outcomes,
        IReadOnlyList<Verification> verifications,
        KilowattHours? minimumOfferEnergy = null, SelectionMode selection = SelectionMode.Automatic, DateTimeOffset? decisionDeadline = null,
        DateTimeOffset? cancelledAt = null, VerificationRules? verification = null, ManualDecision? decision = null,
        SelectionMode? appliedSelection = null, string? selectionNote = null, DateTimeOffset? decisionFixedAt = null,
        FundingConsent? consent = null, string? stateReason = null, MarketInterval interval = default, Role buyer = Role.Dso,
        DateTimeOffset? approvalDeadline = null, string? gateCycleId = null, string? availabilityId = null, IReadOnlyList<Kilowatts>? profile = null,
        Kilowatts? minBlock = null)
    {
        Buyer = buyer;
        MinBlock = minBlock;
        ApprovalDeadline = approvalDeadline;
        GateCycleId = gateCycleId;
        AvailabilityId = availabilityId;
        Profile = profile;
        StateReason = stateReason;
        Consent = consent;
        Interval = interval.Minutes == 0 ? MarketInterval.Default : interval; // a request stored before market intervals
        Verification = verification ?? VerificationRules.Default;
        Decision = decision;
        DecisionFixedAt = decisionFixedAt;
        AppliedSelection = appliedSelection;
        SelectionNote = selectionNote;
        MinimumOfferEnergy = minimumOfferEnergy;
        Selection = selection;
        DecisionDeadline = decisionDeadline;
        CancelledAt = cancelledAt;
        Id = id;
        DsoId = dsoId;
        TransformerId = transformerId;
        Delivery = delivery;
        Energy = energy;
        Direction = direction;
        MaxPrice = maxPrice;
        GateClosure = gateClosure;
        Pricing = pricing;
        CreatedAt = createdAt;
        State = state;
        Awards = awards;
        Outcomes = outcomes;
        Verifications = verifications;
    }

    public string Id { get; }

    /// <summary>The buyer, who pays: a DSO, or a TSO (its balancing request, on an HV/MV substation); see <see cref="Buyer"/>.</summary>
    public string DsoId { get; }

    /// <summary>Whether the buyer is a DSO (a request on its MV/LV transformer) or a TSO (a balancing request on its HV/MV substation).</summary>
    public Role Buyer { get; }

    /// <summary>
    /// A TSO's request only: the impacted DSOs answer on its trades (<see cref="TradeAnswer"/>) from gate closure until this
    /// instant, when it clears; null when it clears at gate closure (no answer can come: every trade is green).
    /// </summary>
    public DateTimeOffset? ApprovalDeadline { get; }

    /// <summary>
    /// A TSO's request only: the smallest block it takes (kW of average power over the window, <see cref="Pooling.PowerOf"/>),
    /// or null for any size. An offer or pool below it never wins (<see cref="OfferOutcomeKind.RejectedBelowMinimumBlock"/>);
    /// forwarded offers below it are pooled into blocks of at least this size at clearing (<see cref="Pooling"/>).
    /// </summary>
    public Kilowatts? MinBlock { get; }

    /// <summary>
    /// For a call on an availability contract (<see cref="AvailabilityContract.Call"/>), the contract's id: the request clears
    /// only among the contract's holders (<see cref="AvailabilityContract.CallOffers"/>) and takes no offers; null otherwise.
    /// </summary>
    public string? AvailabilityId { get; }
    public string TransformerId { get; }
    public TimeWindow Delivery { get; }
    public KilowattHours Energy { get; }
    public Direction Direction { get; }
    public EurosPerKilowattHour MaxPrice { get; }

    /// <summary>
    /// The power wanted per market interval of <see cref="Delivery"/> (kW, one per interval of <see cref="Interval"/>),
    /// whose sum (kW x interval) is <see cref="Energy"/>; null for a flat request (energy spread evenly over the window).
    /// </summary>
    public IReadOnlyList<Kilowatts>? Profile { get; }

    /// <summary>The market interval when the request was posted: delivery is checked per interval of this length (requests stored before it: 15 minutes).</summary>
    public MarketInterval Interval { get; }

    /// <summary>Bid deadline: offers are accepted while now &lt; GateClosure.</summary>
    public DateTimeOffset GateClosure { get; }
    public PricingRule Pricing { get; }
    public DateTimeOffset CreatedAt { get; }
    public RequestState State { get; private set; }
    public IReadOnlyList<Award> Awards { get; private set; }
    public IReadOnlyList<OfferOutcome> Outcomes { get; private set; }
    public IReadOnlyList<Verification> Verifications { get; private set; }

    /// <summary>
    /// What clearing gave this request (filled, partly filled with the shortfall, unfilled with the reasons), or null
    /// before clearing. A method, not a property: it is derived from the awards and outcomes and never stored.
    /// </summary>
    public RequestFill? Fill() => State is RequestState.Open or RequestState.Cancelled ? null : RequestFill.Of(Energy, Awards, Outcomes);

    /// <summary>
    /// The smallest offer the DSO accepts (kWh), or null for any size; also the least part of an offer that clearing
    /// accepts or a manual pick takes (<see cref="ClearingRequest.MinimumAccepted"/>).
    /// </summary>
    public KilowattHours? MinimumOfferEnergy { get; }

    /// <summary>Automatic (merit order) or manual selection by the DSO after gate closure.</summary>
    public SelectionMode Selection { get; }

    /// <summary>Manual selection only: the DSO picks before this instant (after gate closure); without a pick, automatic clearing applies.</summary>
    public DateTimeOffset? DecisionDeadline { get; }

    /// <summary>When the DSO cancelled the request, or null.</summary>
    public DateTimeOffset? CancelledAt { get; private set; }

    /// <summary>How delivery is verified and paid: baseline method, success threshold, tolerance and payout rule.</summary>
    public VerificationRules Verification { get; }

    /// <summary>
    /// Manual selection only: the DSO's latest decision (<see cref="Decide"/>), or null when it made none; the request
    /// is then cleared automatically at its decision deadline.
    /// </summary>
    public ManualDecision? Decision { get; private set; }

    /// <summary>
    /// Manual selection only: when the gate cycle fixed the decision in force for clearing (<see cref="FixDecision"/>),
    /// or null. From then on the decision cannot change, whatever the clock of the instance asked says.
    /// </summary>
    public DateTimeOffset? DecisionFixedAt { get; private set; }

    /// <summary>The DSO's signed consent to pay for this request (null only for requests stored before consents existed).</summary>
    public FundingConsent? Consent { get; }

    /// <summary>How the winners were chosen when the request was cleared, or null before clearing.</summary>
    public SelectionMode? AppliedSelection { get; private set; }

    /// <summary>Why <see cref="AppliedSelection"/> differs from what the DSO asked for (e.g. no decision in time), or null.</summary>
    public string? SelectionNote { get; private set; }

    /// <summary>
    /// The gate cycle the request clears in, fixed when it joins the cycle before it is first stored (null only for
    /// requests stored before offers were kept per gate cycle).
    /// </summary>
    public string? GateCycleId { get; private set; }

    /// <summary>Records the gate cycle the request clears in; a request never moves to another cycle.</summary>
    public void JoinGateCycle(string cycleId)
    {
        if (GateCycleId is not null && GateCycleId != cycleId)
            throw new InvalidOperationException($"request {Id} clears in gate cycle {GateCycleId}, not {cycleId}");
        GateCycleId = cycleId;
    }

    /// <summary>
    /// Creates a request on <paramref name="transformer"/>, which must belong to <paramref name="dsoId"/>: a DSO's request on
    /// one of its MV/LV transformers, or a TSO's balancing request on one of its HV/MV substations (<paramref name="buyer"/>
    /// <see cref="Role.Tso"/>), which draws on the stations anywhere below it, in any DSO's grid.
    /// </summary>
    /// <param name="dsoId">The buyer (the payer): a DSO, or a TSO for a balancing request.</param>
    public static FlexRequest Post(
        string id, string dsoId, GridNode transformer, TimeWindow delivery, KilowattHours energy, Direction direction,
        EurosPerKilowattHour maxPrice, DateTimeOffset gateClosure, PricingRule pricing, DateTimeOffset now,
        KilowattHours? minimumOfferEnergy = null, SelectionMode selection = SelectionMode.Automatic, DateTimeOffset? decisionDeadline = null,
        VerificationRules? verification = null, FundingConsent? consent = null, MarketInterval? interval = null, Role buyer = Role.Dso,
        DateTimeOffset? approvalDeadline = null, string? availabilityId = null, IReadOnlyList<Kilowatts>? profile = null, Kilowatts? minBlock = null)
    {
        if (buyer is not (Role.Dso or Role.Tso)) throw new ArgumentException("only a DSO or a TSO posts requests", nameof(buyer));
        (verification ?? VerificationRules.Default).Validate();
        if (profile is not null && Profiles.Energy(profile, interval ?? MarketInterval.Default, delivery) != energy)
            throw new DomainException("energyKwh", "profile-energy", "energyKwh must be the profile's sum (kW x market interval), or be left out with a profile.");
        if (transformer.OperatorId != dsoId)
            throw new DomainException("transformerId", "own-transformer", "A DSO or TSO can post requests only on its own grid nodes.");
        if (buyer == Role.Dso && transformer.Kind != GridNodeKind.MvLvTransformer)
            throw new DomainException("transformerId", "node-kind", $"A DSO posts requests on MV/LV transformers; {transformer.Id} is a {transformer.Kind}.");
        if (buyer == Role.Tso && transformer.Kind != GridNodeKind.HvMvSubstation)
            throw new DomainException("transformerId", "node-kind", $"A TSO posts balancing requests on its HV/MV substations; {transformer.Id} is a {transformer.Kind}.");
        if (approvalDeadline is { } approval)
        {
            if (buyer != Role.Tso) throw new DomainException("approvalDeadline", "tso-only", "Only a TSO's balancing request has trades for the DSOs to approve.");
            if (selection == SelectionMode.Manual) throw new DomainException("approvalDeadline", "selection", "A request with an approval deadline is cleared automatically, at that deadline.");
            if (approval <= gateClosure || approval > delivery.Start)
                throw new DomainException("approvalDeadline", "approval-deadline", "approvalDeadline must be after gateClosure and not after the delivery window starts.");
        }
        if (energy.Value <= 0) throw new DomainException("energyKwh", "positive", "energyKwh must be greater than zero.");
        if (maxPrice.Value <= 0) throw new DomainException("maxPriceEurPerKwh", "positive", "maxPriceEurPerKwh must be greater than zero.");
        if (gateClosure <= now) throw new DomainException("gateClosure", "future", "gateClosure must be in the future.");
        if (gateClosure > delivery.Start) throw new DomainException("gateClosure", "before-delivery", "gateClosure must not be after the delivery window starts.");
        if (minimumOfferEnergy is { } min && (min.Value <= 0 || min > energy))
            throw new DomainException("minimumOfferKwh", "minimum-offer-size", "minimumOfferKwh must be greater than zero and at most energyKwh.");
        if (minBlock is { } block)
        {
            if (buyer != Role.Tso) throw new DomainException("minBlockKw", "tso-only", "Only a TSO's balancing request has a minimum block size.");
            if (selection == SelectionMode.Manual)
                throw new DomainException("minBlockKw", "selection", "A request with a minimum block is cleared automatically: its pools are formed at clearing.");
            if (block.Value <= 0 || Pooling.IsBelow(energy, block, delivery))
                throw new DomainException("minBlockKw", "min-block-size",
                    $"minBlockKw must be greater than zero and at most the request's average power, {Pooling.PowerOf(energy, delivery)} (energyKwh over the window).");
        }
        if (selection == SelectionMode.Manual)
        {
            if (decisionDeadline is not { } deadline)
                throw new DomainException("decisionDeadline", "required", "Manual selection needs a decisionDeadline.");
            if (deadline <= gateClosure || deadline > delivery.Start)
                throw new DomainException("decisionDeadline", "decision-window", "decisionDeadline must be after gateClosure and not after the delivery window starts.");
        }
        else if (decisionDeadline is not null)
            throw new DomainException("decisionDeadline", "manual-only", "decisionDeadline applies only to manual selection.");
        return new FlexRequest(id, dsoId, transformer.Id, delivery, energy, direction, maxPrice, gateClosure, pricing, now,
            RequestState.Open, [], [], [], minimumOfferEnergy, selection, decisionDeadline, verification: verification, consent: consent, interval: interval ?? MarketInterval.Default, buyer: buyer,
            approvalDeadline: approvalDeadline, availabilityId: availabilityId, profile: profile, minBlock: minBlock);
    }

    /// <summary>
    /// Checks that winners can be told in time: the gate cycle this request clears in closes at <see cref="ClearsAt"/>
    /// rounded up to the <paramref name="cadence"/> (<see cref="GateCycle.ClosingTimeFor"/>), and that closing time
    /// plus <paramref name="activationLeadTime"/> must not be after the delivery window starts.
    /// </summary>
    /// <param name="cadence">The gate cadence (positive).</param>
    /// <param name="activationLeadTime">How long winners need between the results and delivery (zero or more).</param>
    /// <exception cref="DomainException">
    /// Too late: field <c>gateClosure</c> (<c>decisionDeadline</c> for manual selection), rule <c>lead-time</c>, the message
    /// naming the latest acceptable one.
    /// </exception>
    /// <exception cref="ArgumentOutOfRangeException">The cadence is not positive or the lead time is negative.</exception>
    public void RequireLeadTime(TimeSpan cadence, TimeSpan activationLeadTime)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(activationLeadTime, TimeSpan.Zero);
        var closesAt = GateCycle.ClosingTimeFor(ClearsAt, cadence);
        if (closesAt + activationLeadTime <= Delivery.Start) return;
        // The latest cycle boundary that still leaves the lead time; any instant up to it rounds up to at most it.
        var byLead = Delivery.Start - activationLeadTime;
        var latest = byLead.AddTicks(-((byLead - DateTimeOffset.UnixEpoch).Ticks % cadence.Ticks));
        var field = Selection == SelectionMode.Manual ? "decisionDeadline" : "gateClosure";
        throw new DomainException(field, "lead-time",
            $"Results are published when the gate cycle closes at {closesAt:O} (every {cadence:c}), and winners need {activationLeadTime:c} before delivery starts at {Delivery.Start:O}: {field} must be {latest:O} or earlier.");
    }

    /// <summary>
    /// Cancels the request before gate closure (its DSO only). A cancelled request has no next step, so the gate cycle
    /// leaves it alone and its offers are never cleared.
    /// </summary>
    public void Cancel(string dsoId, DateTimeOffset now)
    {
        if (dsoId != DsoId) throw new DomainException("requestId", "own-request", "Only the DSO that posted a request can cancel it.");
        Require(RequestState.Open, "cancel");
        if (now >= GateClosure)
            throw new DomainException("requestId", "gate-closed", $"The gate for this request closed at {GateClosure:O}; it can no longer be cancelled.");
        State = RequestState.Cancelled;
        CancelledAt = now;
    }

    /// <summary>
    /// Checks that an offer may still be submitted, modified or withdrawn at <paramref name="now"/> (until gate closure).
    /// </summary>
    /// <exception cref="DomainException">Rule <c>gate-closed</c>, the message naming the gate closure time (or the cancellation).</exception>
    public void RequireOpen(DateTimeOffset now)
    {
        if (IsOpenAt(now)) return;
        throw new DomainException("requestId", "gate-closed", State == RequestState.Cancelled
            ? $"The request was cancelled at {CancelledAt:O}; offers were accepted until then."
            : $"The gate for this request closed at {GateClosure:O}; offers can no longer be submitted, modified or withdrawn.");
    }

    /// <summary>
    /// Whether the request's DSO may see its offers at <paramref name="now"/>: after gate closure, or once the request has
    /// moved past Open. A request cancelled before gate closure stays sealed until the closure time.
    /// </summary>
    public bool OffersUnsealedAt(DateTimeOffset now) => now >= GateClosure || State is not (RequestState.Open or RequestState.Cancelled);

    /// <summary>When the request is cleared: at gate closure, for manual selection at the decision deadline, for a TSO request with trade approval at its approval deadline.</summary>
    public DateTimeOffset ClearsAt => Selection == SelectionMode.Manual ? DecisionDeadline!.Value : ApprovalDeadline ?? GateClosure;

    /// <summary>Whether offers may still be submitted at <paramref name="now"/>.</summary>
    public bool IsOpenAt(DateTimeOffset now) => State == RequestState.Open && now < GateClosure;

    /// <summary>
    /// Checks that <paramref name="offer"/> may be submitted now on the CPO's own stations, each eligible for this request
    /// (<see cref="Eligibility.Problem"/> against <paramref name="requirements"/>, the DSO's current ones), and that it is
    /// physically possible: its energy (kWh) is at most what its stations can shift in the delivery window, the sum of
    /// their <see cref="ChargingStation.MaxPower"/> (kW, the larger of AC and DC) times the window's length.
    /// </summary>
    /// <exception cref="DomainException">
    /// A broken rule, named by field and rule; an offer of the other direction than the request: field <c>direction</c>,
    /// rule <c>direction</c>; an offer above its stations' capability: field <c>energyKwh</c>, rule
    /// <c>physical-limit</c>, with the limit in the message.
    /// </exception>
    /// <param name="sites">
    /// For a request on a node above the transformers (a TSO's balancing request): each station's transformer and its DSO's
    /// requirements, by station id; a station must sit below the request's node and be eligible with its own DSO.
    /// </param>
    public void AcceptOffer(
        Offer offer, IReadOnlyList<ChargingStation> stations, GridNode transformer, PrequalificationRequirements? requirements, DateTimeOffset now,
        IReadOnlyDictionary<string, GridRestriction>? grid = null, IReadOnlyDictionary<string, StationSite>? sites = null)
    {
        RequireOpen(now);
        if (AvailabilityId is not null)
            throw new DomainException("requestId", "call-holders-only", $"This request calls availability contract {AvailabilityId}: it clears among the contract's holders and takes no offers.");
        if (offer.Direction != Direction)
            throw new DomainException("direction", "direction", $"The request's direction is {Direction}; an offer must have the same direction.");
        if (offer.ForwardToTso && Buyer == Role.Tso)
            throw new DomainException("forwardToTso", "dso-request", "Only an offer to a DSO's request can be forwarded to a TSO; this is a TSO's request.");
        if (offer.Energy.Value <= 0) throw new DomainException("energyKwh", "positive", "energyKwh must be greater than zero.");
        if (offer.Price.Value <= 0) throw new DomainException("priceEurPerKwh", "positive", "priceEurPerKwh must be greater than zero.");
        if (offer.Price > MaxPrice) throw new DomainException("priceEurPerKwh", "price-cap", $"priceEurPerKwh exceeds the request's cap of {MaxPrice}.");
        if (MinimumOfferEnergy is { } min && offer.Energy < min)
            throw new DomainException("energyKwh", "minimum-offer-size", $"energyKwh is below the request's minimum offer of {min}.");
        // A forwarded offer below the block may still win in a pool; a direct one never can.
        if (MinBlock is { } block && offer.ForwardedFrom is null && Pooling.IsBelow(offer.Energy, block, Delivery))
            throw new DomainException("energyKwh", "min-block",
                $"The offer averages {Pooling.PowerOf(offer.Energy, Delivery)} over the window, below the request's minimum block of {block}; only offers forwarded from a DSO's request are pooled.");
        if (stations.Count == 0) throw new DomainException("stationIds", "required", "An offer needs at least one station.");
        foreach (var s in stations)
        {
            if (s.CpoId != offer.CpoId) throw new DomainException("stationIds", "own-station", $"Station {s.Id} is not yours.");
            if (StationSite.Problem(s, transformer, requirements, sites, now) is { } problem)
                throw new DomainException("stationIds", "qualified", problem.Message);
            if (GridRestriction.Of(s.Id, grid).Problem(s.Id, Delivery) is { } gridProblem)
                throw new DomainException("stationIds", gridProblem.Rule, gridProblem.Message);
        }
        var power = new Kilowatts(stations.Sum(s => s.MaxPower.Value));
        if (offer.Profile is { } profile)
        {
            if (Profiles.Energy(profile, Interval, Delivery) != offer.Energy)
                throw new DomainException("energyKwh", "profile-energy", "energyKwh must be the profile's sum (kW x market interval), or be left out with a profile.");
            var usable = GridRestriction.UsablePower(stations, grid).Power;
            if (profile.Any(kw => kw.Value > usable.Value))
                throw new DomainException("profileKw", "physical-limit",
                    $"A profile value exceeds what the offer's stations can shift: at most {usable} in any interval (their power, under the grid's caps).");
        }
        var limit = power * Delivery.Duration;
        if (offer.Energy > limit)
            throw new DomainException("energyKwh", "physical-limit",
                $"energyKwh exceeds what the offer's stations can shift in the delivery window: at most {limit} ({power} for {Delivery.Duration:c}).");
        if (GridCapProblem(offer, stations, grid) is { } cap) throw new DomainException("energyKwh", cap.Rule, cap.Message);
    }

    /// <summary>Whether <paramref name="offer"/> asks more than its stations may shift under the grid's power caps (rule <c>grid-max-power</c>).</summary>
    private QualificationReason? GridCapProblem(Offer offer, IReadOnlyList<ChargingStation> stations, IReadOnlyDictionary<string, GridRestriction>? grid)
    {
        var (power, caps) = GridRestriction.UsablePower(stations, grid);
        if (caps is null) return null;
        var limit = power * Delivery.Duration;
        return offer.Energy > limit
            ? new("grid-max-power", $"energyKwh exceeds what the grid operators allow the offer's stations in the delivery window: at most {limit} ({power} for {Delivery.Duration:c}; {caps}).")
            : null;
    }

    /// <summary>
    /// Records the DSO's manual decision, taken at <paramref name="now"/>, replacing any earlier one. Allowed on a
    /// manual-selection request from gate closure until (not at) its decision deadline. Every pick is checked against
    /// <paramref name="offers"/> as the clearing engine will check it (<see cref="ClearingEngine.ValidateDecision"/>):
    /// when any pick would be refused, nothing is recorded and the earlier decision, if any, stands.
    /// </summary>
    /// <param name="dsoId">The caller; only the request's own DSO decides.</param>
    /// <param name="picks">The offers picked, each at most once; an energy (kWh, to the watt-hour) picks part of a divisible offer.</param>
    /// <param name="offers">Every offer on this request (frozen since gate closure).</param>
    /// <param name="now">The decision time (UTC); it becomes <see cref="ManualDecision.DecidedAt"/>.</param>
    /// <returns>Every pick the engine would refuse, with the reason; empty when the decision was recorded.</returns>
    /// <exception cref="DomainException">
    /// Another DSO (rule <c>own-request</c>); an automatic-selection request (<c>manual-only</c>); a cancelled or already
    /// cleared request (<c>illegal-transition</c>); before gate closure or at or after the deadline (<c>decision-deadline</c>);
    /// no pick, or an offer picked twice (field <c>picks</c>, rules <c>required</c>, <c>unique</c>).
    /// </exception>
    public IReadOnlyList<PickProblem> Decide(string dsoId, IReadOnlyList<OfferPick> picks, IReadOnlyList<Offer> offers, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(picks);
        ArgumentNullException.ThrowIfNull(offers);
        RequireDecisionPeriod(dsoId, now, "record a decision");
        if (picks.Count == 0) throw new DomainException("picks", "required", "Pick at least one offer.");
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var p in picks)
            if (!seen.Add(p.OfferId)) throw new DomainException("picks", "unique", $"Offer {p.OfferId} is picked twice; pick each offer once.");
        var decision = new ManualDecision(Id, picks.ToArray(), now);
        var problems = ClearingEngine.ValidateDecision(ToClearingRequest() with { Decision = decision }, offers);
        if (problems.Count == 0) Decision = decision;
        return problems;
    }

    /// <summary>
    /// Withdraws the DSO's decision, at <paramref name="now"/>: without a new one before the deadline the request is
    /// cleared automatically (merit order). Allowed when a decision may be recorded (<see cref="Decide"/>).
    /// </summary>
    /// <returns>Whether there was a decision to withdraw.</returns>
    /// <exception cref="DomainException">As for <see cref="Decide"/>: <c>own-request</c>, <c>manual-only</c>, <c>illegal-transition</c>, <c>decision-deadline</c>.</exception>
    public bool WithdrawDecision(string dsoId, DateTimeOffset now)
    {
        RequireDecisionPeriod(dsoId, now, "withdraw a decision");
        var had = Decision is not null;
        Decision = null;
        return had;
    }

    /// <summary>
    /// Fixes the decision in force for clearing, at or after the decision deadline: the gate cycle does this (and saves
    /// it under If-Match) before the engine runs, so a decision whose save is in flight fails, and a later one is refused
    /// even by an instance whose clock lags behind the deadline.
    /// </summary>
    /// <exception cref="DomainException">An automatic request (<c>manual-only</c>); not open (<c>illegal-transition</c>); before the deadline (<c>gate-open</c>).</exception>
    public void FixDecision(DateTimeOffset now)
    {
        if (Selection != SelectionMode.Manual)
            throw new DomainException("selection", "manual-only", "Only a request posted with selection Manual has a decision to fix.");
        Require(RequestState.Open, "fix its decision");
        if (now < ClearsAt)
            throw new DomainException("decisionDeadline", "gate-open", $"The decision period runs until {ClearsAt:O}; the decision is fixed only then.");
        DecisionFixedAt ??= now;
    }

    /// <summary>The caller is this manual request's DSO and <paramref name="now"/> lies in the decision period of an open request.</summary>
    private void RequireDecisionPeriod(string dsoId, DateTimeOffset now, string action)
    {
        if (dsoId != DsoId) throw new DomainException("requestId", "own-request", "Only the DSO that posted a request can decide it.");
        if (Selection != SelectionMode.Manual)
            throw new DomainException("selection", "manual-only", "This request is cleared automatically (merit order); only a request posted with selection Manual takes a decision.");
        // A cancelled request never clears, so its decision period is moot; say so before talking about time.
        if (State == RequestState.Cancelled) Require(RequestState.Open, action);
        if (now < GateClosure)
            throw new DomainException("gateClosure", "decision-deadline", $"The decision period opens at gate closure, {GateClosure:O}; offers are sealed until then.");
        var deadline = DecisionDeadline!.Value; // Post requires it for manual selection
        if (now >= deadline)
            throw new DomainException("decisionDeadline", "decision-deadline",
                $"The decision period ended at {deadline:O}: the request is cleared with the decision recorded by then, or automatically without one.");
        if (DecisionFixedAt is { } fixedAt)
            throw new DomainException("decisionDeadline", "decision-deadline",
                $"The decision period ended at {deadline:O}; the gate cycle fixed the decision in force at {fixedAt:O}.");
        Require(RequestState.Open, action);
    }

    /// <summary>
    /// What the clearing engine needs to clear this request. A manual-selection request is cleared at its decision
    /// deadline with the DSO's <see cref="Decision"/>; without a decision by then, automatic merit order applies.
    /// </summary>
    public ClearingRequest ToClearingRequest() =>
        new(Id, Delivery, Energy, MaxPrice, GateClosure, Pricing)
        {
            Direction = Direction,
            DecisionDeadline = Selection == SelectionMode.Manual ? DecisionDeadline : null,
            Decision = Selection == SelectionMode.Manual ? Decision : null,
            MinimumAccepted = MinimumOfferEnergy,
            Interval = Interval,
            Profile = Profile,
        };

    /// <summary>
    /// This request as the engine clears it at <paramref name="at"/>, re-checking eligibility: an offer naming a station
    /// that is not eligible then (<see cref="Eligibility.Problem"/>: deactivated, or its qualification lapsed since it was
    /// offered) or not among <paramref name="stations"/> is rejected with <see cref="OfferOutcomeKind.RejectedNotEligible"/>.
    /// </summary>
    /// <param name="stations">The current state of the stations its offers name.</param>
    /// <param name="transformer">The request's transformer.</param>
    /// <param name="requirements">Its DSO's current prequalification requirements, or null when there are none.</param>
    /// <param name="at">The clearing time (UTC).</param>
    /// <param name="offers">The request's offers, for the grid's power caps.</param>
    /// <param name="grid">
    /// The grid operators' restrictions by station id (none when absent), re-checked as an offer is checked: a station
    /// refused, or outside its allowed hours, is not eligible, and neither are the stations of an offer that asks more
    /// than the grid's power caps allow them (a station is in at most one offer per request). A station's power cap for
    /// the window goes to the engine (<see cref="StationCapacity.GridCap"/>), so its awards together keep within it.
    /// </param>
    /// <exception cref="ArgumentException"><paramref name="transformer"/> is not the request's.</exception>
    /// <param name="sites">For a request above the transformers: each station's transformer and its DSO's requirements (<see cref="AcceptOffer"/>).</param>
    public ClearingRequest ToClearingRequest(
        IEnumerable<ChargingStation> stations, GridNode transformer, PrequalificationRequirements? requirements, DateTimeOffset at,
        IEnumerable<Offer>? offers = null, IReadOnlyDictionary<string, GridRestriction>? grid = null, IReadOnlyDictionary<string, StationSite>? sites = null)
    {
        if (transformer.Id != TransformerId)
            throw new ArgumentException($"request {Id} is on transformer {TransformerId}, not {transformer.Id}", nameof(transformer));
        var current = stations.DistinctBy(s => s.Id).ToDictionary(s => s.Id, StringComparer.Ordinal);
        var eligible = current.Values.Where(s => StationSite.Problem(s, transformer, requirements, sites, at) is null && GridRestriction.Of(s.Id, grid).Problem(s.Id, Delivery) is null)
            .Select(s => s.Id).ToHashSet(StringComparer.Ordinal);
        foreach (var o in offers ?? [])
            if (o.StationIds.All(current.ContainsKey) && GridCapProblem(o, o.StationIds.Select(id => current[id]).ToList(), grid) is not null)
                eligible.ExceptWith(o.StationIds);
        return ToClearingRequest() with
        {
            QualifiedStationIds = eligible,
            Stations = current.Values.ToDictionary(s => s.Id, s => new StationCapacity(s.MaxPower, TimeSpan.FromMinutes(s.RecoveryMinutes))
            {
                GridCap = GridRestriction.Of(s.Id, grid).MaxPower,
            }, StringComparer.Ordinal),
        };
    }

    /// <summary>
    /// Closes the gate with this request's part of the gate cycle's clearing (<see cref="ClearingEngine.Clear"/> over
    /// every request closing together, so a station is never awarded twice for overlapping windows). With an award it is
    /// <see cref="RequestState.Cleared"/>, without one <see cref="RequestState.Unfilled"/>; <see cref="Fill"/> says how much
    /// was covered and why offers lost. Results are final once recorded.
    /// </summary>
    public void Close(ClearingResult result, DateTimeOffset now)
    {
        Require(RequestState.Open, "close the gate");
        if (now < ClearsAt)
            throw new DomainException("state", "gate-open", now < GateClosure
                ? "The gate closes at " + GateClosure.ToString("O")
                : Selection == SelectionMode.Manual ? "The DSO may decide until " + ClearsAt.ToString("O")
                : "The impacted DSOs may answer on its trades until " + ClearsAt.ToString("O"));
        if (result.RequestId != Id) throw new ArgumentException($"the result is for request {result.RequestId}, not {Id}", nameof(result));
        Awards = result.Awards;
        Outcomes = result.Outcomes;
        AppliedSelection = result.Selection;
        // The engine explains a decision it could not use; a manual request without any decision deserves a word too.
        SelectionNote = result.SelectionNote ?? (Selection == SelectionMode.Manual && result.Selection == SelectionMode.Automatic
            ? "No decision before the deadline; automatic clearing applied." : null);
        State = result.Awards.Count == 0 ? RequestState.Unfilled : RequestState.Cleared;
    }

    /// <summary>Records that every award's funds are locked in escrow on chain.</summary>
    public void MarkAwarded()
    {
        Require(RequestState.Cleared, "mark awarded");
        State = RequestState.Awarded;
    }

    /// <summary>Verifies every award against the meter readings once the window has ended; moves to Settling.</summary>
    public void Verify(DeliveryEvidence evidence, DateTimeOffset now)
    {
        Require(RequestState.Awarded, "verify delivery");
        if (now < Delivery.End) throw new DomainException("state", "window-open", "Delivery ends at " + Delivery.End.ToString("O"));
        Verifications = Awards.Select(a => DeliveryVerifier.Verify(a, Delivery, Direction, Verification, evidence, Interval)).ToList();
        State = RequestState.Settling;
    }

    /// <summary>Records that every award has been settled on chain.</summary>
    public void MarkSettled()
    {
        Require(RequestState.Settling, "mark settled");
        State = RequestState.Settled;
    }

    /// <summary>Why the request is <see cref="RequestState.FundingFailed"/> or <see cref="RequestState.Unpaid"/>; null in every other state.</summary>
    public string? StateReason { get; private set; }

    /// <summary>The escrow could not fund the cleared request's awards (<paramref name="reason"/>, for its DSO and CPOs); terminal.</summary>
    /// <exception cref="DomainException">The request is not Cleared (rule <c>illegal-transition</c>).</exception>
    public void FailFunding(string reason)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(reason);
        Require(RequestState.Cleared, "fail funding");
        State = RequestState.FundingFailed;
        StateReason = reason;
    }

    /// <summary>
    /// The locked funds went back to the DSO before settlement (<paramref name="reason"/>); terminal. From Awarded (delivery
    /// not yet verified) or Settling (verified, not yet settled).
    /// </summary>
    /// <exception cref="DomainException">The request is neither Awarded nor Settling (rule <c>illegal-transition</c>).</exception>
    public void MarkUnpaid(string reason)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(reason);
        if (State != RequestState.Settling) Require(RequestState.Awarded, "mark unpaid");
        State = RequestState.Unpaid;
        StateReason = reason;
    }

    /// <summary>When the gate cycle must next act on this request, or null when it is finished.</summary>
    public DateTimeOffset? NextStepAt(TimeSpan meterDataGrace) => State switch
    {
        RequestState.Open => ClearsAt,
        RequestState.Cleared or RequestState.Settling => CreatedAt,
        RequestState.Awarded => Delivery.End + meterDataGrace,
        _ => null,
    };

    private void Require(RequestState expected, string verb)
    {
        if (State != expected)
            throw new DomainException("state", "illegal-transition", $"Cannot {verb}: request {Id} is {State}, not {expected}.");
    }
}
