namespace FlexChain.Domain;

/// <summary>What a participant may do in the market. Numbers are stable; names go on the wire.</summary>
public enum Role
{
    Dso = 1,
    Cpo = 2,
    Operator = 3,

    /// <summary>A transmission system operator: owns the top of the grid (HV/MV substations) above the DSOs.</summary>
    Tso = 4,
}

/// <summary>A registered market participant.</summary>
public sealed record Participant(string Id, Role Role, string LegalName, string Contact, WalletAddress Wallet, DateTimeOffset RegisteredAt)
{
    /// <summary>When the participant proved, by an EIP-191 signature of a server challenge, that it controls <see cref="Wallet"/>; null until then.</summary>
    public DateTimeOffset? WalletVerifiedAt { get; init; }

    /// <summary>Whether the wallet is proven. No payment may go to an unproven wallet (ARCHITECTURE.md section 6).</summary>
    public bool WalletVerified => WalletVerifiedAt is not null;

    /// <summary>
    /// The eligibility hook for anything that pays this participant (offer intake today, clearing and settlement
    /// later): only a proven wallet may receive money.
    /// </summary>
    public bool CanReceivePayments => WalletVerified;
}

/// <summary>A point on the earth (WGS 84 degrees): latitude -90..90, longitude -180..180.</summary>
public readonly record struct GeoLocation(decimal Latitude, decimal Longitude);

/// <summary>What a grid node is, from the top of the distribution grid down. Numbers are stable and grow downwards; names go on the wire.</summary>
public enum GridNodeKind
{
    HvMvSubstation = 1,
    MvFeeder = 2,
    MvLvTransformer = 3,
    LvFeeder = 4,
}

/// <summary>
/// A node of the grid tree (DOMAIN.md section 7), owned by one operator: a TSO's HV/MV substation, a DSO's feeders and
/// MV/LV transformers (where congestion is managed and stations connect). Nodes never change once registered.
/// </summary>
/// <param name="OperatorId">The operator (TSO or DSO) that owns the node.</param>
/// <param name="RatedPower">What the node may carry (kW).</param>
public sealed record GridNode(string Id, string OperatorId, string Name, Kilowatts RatedPower)
{
    public GridNodeKind Kind { get; init; } = GridNodeKind.MvLvTransformer;

    /// <summary>The node above this one, or null for a root.</summary>
    public string? ParentId { get; init; }

    /// <summary>Every node above this one, from the parent up to the root (empty for a root).</summary>
    public IReadOnlyList<string> AncestorIds { get; init; } = [];

    /// <summary>Where the node stands, or null when its operator did not say (older records).</summary>
    public GeoLocation? Location { get; init; }

    /// <summary>When it was registered (UTC).</summary>
    public DateTimeOffset RegisteredAt { get; init; }

    /// <summary>Its planning and operational limits, against which its grid state is evaluated; null: the node has no grid state.</summary>
    public GridLimits? Limits { get; init; }

    /// <summary>
    /// A new node of <paramref name="kind"/> under <paramref name="parent"/> (null: a root), registered by
    /// <paramref name="operatorId"/> in <paramref name="role"/>. The tree grows downwards only (a child's kind is below its
    /// parent's), a TSO owns only HV/MV substations and a DSO every kind but those, and an operator registers under its own nodes, or, as a DSO, under a
    /// TSO's substation (where its grid connects to the transmission grid).
    /// </summary>
    /// <param name="parentOwnerRole">The role of <paramref name="parent"/>'s owner; ignored for a root.</param>
    /// <exception cref="DomainException">
    /// Field <c>kind</c>, rule <c>tso-kind</c> (a TSO node that is not an HV/MV substation), <c>dso-kind</c> (a DSO's HV/MV
    /// substation) or <c>kind-order</c> (not below
    /// the parent); field <c>parentId</c>, rule <c>own-node</c> (the parent belongs to another operator and is not a TSO's).
    /// </exception>
    public static GridNode Register(
        string id, string operatorId, Role role, string name, Kilowatts ratedPower, GridNodeKind kind, GridNode? parent, Role parentOwnerRole)
    {
        if (role is not (Role.Dso or Role.Tso)) throw new ArgumentException("only a DSO or a TSO owns grid nodes", nameof(role));
        if (role == Role.Tso && kind != GridNodeKind.HvMvSubstation)
            throw new DomainException("kind", "tso-kind", "A TSO registers HV/MV substations only; the DSOs register the nodes below them.");
        if (role == Role.Dso && kind == GridNodeKind.HvMvSubstation)
            throw new DomainException("kind", "dso-kind", "A DSO registers MvFeeder, MvLvTransformer and LvFeeder nodes; HV/MV substations are the TSO's.");
        if (parent is not null)
        {
            if (kind <= parent.Kind)
                throw new DomainException("kind", "kind-order", $"A {kind} cannot hang below a {parent.Kind}: the tree runs HvMvSubstation, MvFeeder, MvLvTransformer, LvFeeder.");
            if (parent.OperatorId != operatorId && !(role == Role.Dso && parentOwnerRole == Role.Tso))
                throw new DomainException("parentId", "own-node", $"Node {parent.Id} belongs to another operator: register under your own nodes or under a TSO's substation.");
        }
        return new GridNode(id, operatorId, name, ratedPower)
        {
            Kind = kind, ParentId = parent?.Id, AncestorIds = parent is null ? [] : [parent.Id, .. parent.AncestorIds],
        };
    }
}

/// <summary>
/// The operators a station's flexibility concerns (the EU network code on demand response): the connecting operator owns
/// the node it is connected to; every other owner of a node above it is impacted.
/// </summary>
/// <param name="Connecting">The owner of the station's node.</param>
/// <param name="Impacted">The other owners of the nodes above it, nearest first, each once.</param>
public sealed record GridOperators(string Connecting, IReadOnlyList<string> Impacted)
{
    /// <summary>The operators of a station connected to <paramref name="node"/>, whose ancestors are <paramref name="ancestors"/> (parent first).</summary>
    /// <exception cref="ArgumentException"><paramref name="ancestors"/> are not <paramref name="node"/>'s, in order.</exception>
    public static GridOperators Of(GridNode node, IReadOnlyList<GridNode> ancestors)
    {
        if (!ancestors.Select(a => a.Id).SequenceEqual(node.AncestorIds)) throw new ArgumentException("not the node's ancestors, parent first", nameof(ancestors));
        return new(node.OperatorId, ancestors.Select(a => a.OperatorId).Where(o => o != node.OperatorId).Distinct().ToList());
    }

    /// <summary>Every operator concerned, the connecting one first.</summary>
    public IEnumerable<string> All => [Connecting, .. Impacted];
}

/// <summary>One interval of a transformer's day-ahead congestion forecast: expected load against its limit.</summary>
/// <param name="Start">Interval start (UTC, inclusive).</param>
/// <param name="End">Interval end (UTC, exclusive); at most 15 minutes after <paramref name="Start"/>.</param>
/// <param name="ExpectedLoad">The forecast load (kW).</param>
/// <param name="Limit">The load the transformer may carry (kW).</param>
public sealed record ForecastPoint(DateTimeOffset Start, DateTimeOffset End, Kilowatts ExpectedLoad, Kilowatts Limit)
{
    /// <summary>Whether the forecast load exceeds the limit (congestion).</summary>
    public bool Congested => ExpectedLoad.Value > Limit.Value;
}

/// <summary>A transformer's day-ahead congestion forecast for one UTC day, as published by its DSO.</summary>
public sealed record CongestionForecast(string TransformerId, DateOnly Day, IReadOnlyList<ForecastPoint> Points, DateTimeOffset PublishedAt);

/// <summary>Whether a device can deliver (the Slovenian registry's statuses). Numbers are stable; names go on the wire.</summary>
public enum DeviceStatus
{
    Operational = 1,
    InDevelopment = 2,
    NonOperational = 3,
}

/// <summary>
/// A CPO's charging station, connected behind one transformer. Stations are versioned: every update or
/// deactivation writes a new <see cref="Version"/> and keeps the old ones.
/// </summary>
/// <param name="MaxPower">The larger of <see cref="MaxAcPower"/> and <see cref="MaxDcPower"/>: what prequalification compares with a DSO's minimum.</param>
public sealed record ChargingStation(
    string Id, string CpoId, string TransformerId, Kilowatts MaxPower, string MeteringPointId, bool RealTimeMonitoring)
{
    public string Model { get; init; } = "";
    /// <summary>ISO 3166-1 alpha-2 country code.</summary>
    public string Country { get; init; } = "";
    public string City { get; init; } = "";
    public string Address { get; init; } = "";
    /// <summary>Maximum AC output (kW); zero when the station has no AC output.</summary>
    public Kilowatts MaxAcPower { get; init; }
    /// <summary>Maximum DC output (kW); zero when the station has no DC output.</summary>
    public Kilowatts MaxDcPower { get; init; }
    /// <summary>Connector types, e.g. <c>Type2</c>, <c>CCS2</c>, <c>CHAdeMO</c>.</summary>
    public IReadOnlyList<string> Connectors { get; init; } = [];
    public DeviceStatus Status { get; init; } = DeviceStatus.Operational;
    /// <summary>1 at registration, +1 on every update or deactivation.</summary>
    public int Version { get; init; } = 1;

    /// <summary>
    /// How long the station rests after an awarded window (minutes, 0 to <see cref="MaxRecoveryMinutes"/>): clearing keeps
    /// it booked whole for that long, and verification reports a rebound in that period.
    /// </summary>
    public int RecoveryMinutes { get; init; }

    /// <summary>The longest recovery time: 12 hours (Slovenia's rest time is 0 to 720 minutes).</summary>
    public const int MaxRecoveryMinutes = 720;
    /// <summary>When this version was written (UTC).</summary>
    public DateTimeOffset UpdatedAt { get; init; }
    /// <summary>When the CPO deactivated the station; a deactivated station cannot be offered or updated.</summary>
    public DateTimeOffset? DeactivatedAt { get; init; }
    /// <summary>The station's prequalification with the DSO of its transformer, or null before the CPO applied.</summary>
    public Qualification? Qualification { get; init; }

    /// <summary>The station's current grid prequalification case with the operators of its grid, or null before its CPO first applied.</summary>
    public GridCase? GridCase { get; init; }

    /// <summary>Whether the station is under a dynamic connection agreement: such a station takes part only where the grid state on its path is orange (<see cref="GridPathState.RestrictionFor"/>).</summary>
    public bool DynamicConnection { get; init; }

    /// <summary>The balance responsible party of its metering point, or null when not given: activations are reported to it.</summary>
    public string? BalanceResponsibleParty { get; init; }

    public bool Active => DeactivatedAt is null;
}

/// <summary>
/// Which way consumption moves: a request says which way the DSO needs it, an offer which way the CPO moves it. Clearing
/// never mixes them; a station's capacity is one, whichever way it is booked.
/// </summary>
public enum Direction
{
    ReduceConsumption = 1,
    IncreaseConsumption = 2,
}

/// <summary>How accepted offers are priced (DOMAIN.md section 4).</summary>
public enum PricingRule
{
    /// <summary>Each winner is paid its own price.</summary>
    PayAsBid = 1,

    /// <summary>Every winner is paid the price of the last (most expensive) accepted offer.</summary>
    PayAsClear = 2,
}

/// <summary>A CPO's electric vehicle, registered so that its flexibility can be described (versioned like stations).</summary>
public sealed record ElectricVehicle(string Id, string CpoId, string Model, KilowattHours BatteryCapacity, Kilowatts MaxChargingPower)
{
    public int Version { get; init; } = 1;
    public DateTimeOffset UpdatedAt { get; init; }
    public DateTimeOffset? DeactivatedAt { get; init; }
    public bool Active => DeactivatedAt is null;
}

/// <summary>
/// A CPO's sealed offer on one request. One per CPO per request; modifying it keeps its id, increments
/// <see cref="Revision"/> and moves <see cref="SubmittedAt"/> to the modification (the offer loses its time priority).
/// </summary>
public sealed record Offer(
    string Id, string RequestId, string CpoId, IReadOnlyList<string> StationIds, KilowattHours Energy,
    EurosPerKilowattHour Price, bool Divisible, DateTimeOffset SubmittedAt)
{
    public int Revision { get; init; } = 1;

    /// <summary>Which way the offer moves consumption; it must be its request's (default: reduce, as every offer before directions).</summary>
    public Direction Direction { get; init; } = Direction.ReduceConsumption;

    /// <summary>
    /// The CPO's consent, offer by offer, to forward this offer to a TSO's request when the DSO does not buy it (DOMAIN.md
    /// section 7); without it the offer is never forwarded (<see cref="BidForwarding.Forward"/>).
    /// </summary>
    public bool ForwardToTso { get; init; }

    /// <summary>On an offer forwarded to a TSO's request: the id of the DSO request's offer it came from; null otherwise.</summary>
    public string? ForwardedFrom { get; init; }

    /// <summary>
    /// The power offered in each market interval of its request's window (kW, one per interval, zero for an interval it
    /// does not cover), pooled over <see cref="StationIds"/>; or null for a flat offer of <see cref="Energy"/> over the
    /// window. With a profile, <see cref="Energy"/> is its sum (kW x interval).
    /// </summary>
    public IReadOnlyList<Kilowatts>? Profile { get; init; }
}

/// <summary>An accepted (part of an) offer: what the CPO must deliver and what it is paid per kWh.</summary>
public sealed record Award(string Id, string OfferId, string CpoId, IReadOnlyList<string> StationIds, KilowattHours Energy, EurosPerKilowattHour Price)
{
    /// <summary>The most the CPO can earn: full delivery at the awarded price.</summary>
    public Euros Value => Energy * Price;

    /// <summary>
    /// The power awarded in each market interval of the request's window (kW, zero where nothing is awarded), whose sum
    /// (kW x interval) is <see cref="Energy"/>; or null for an award spread evenly over the window (a flat request
    /// cleared with flat offers). Delivery is verified against it interval by interval.
    /// </summary>
    public IReadOnlyList<Kilowatts>? Profile { get; init; }

    /// <summary>The pool whose block this award is part of (<see cref="Pooling"/>; every member of an activated pool has its own award), or null.</summary>
    public string? PoolId { get; init; }

    /// <summary>The deterministic award id: one per request and offer, so retries never create a second award.</summary>
    public static string IdFor(string requestId, string offerId) => $"{requestId}/{offerId}";
}

/// <summary>Where a station stands in a DSO's prequalification. Numbers are stable; names go on the wire.</summary>
public enum QualificationStatus
{
    /// <summary>Applied, but the DSO has not published requirements yet.</summary>
    Pending = 1,
    Qualified = 2,
    Failed = 3,
}

/// <summary>Why a station failed (or is still pending): a stable rule name and a sentence.</summary>
public sealed record QualificationReason(string Rule, string Message);

/// <summary>
/// A DSO's prequalification requirements (DOMAIN.md section 3.2): the transformers it accepts devices behind (null:
/// all of its transformers), the minimum power, whether real-time monitoring is required, and how long a qualification lasts.
/// </summary>
public sealed record PrequalificationRequirements(
    string DsoId, IReadOnlyList<string>? TransformerIds, Kilowatts MinimumPower, bool MonitoringRequired, TimeSpan Validity,
    int Version, DateTimeOffset UpdatedAt);

/// <summary>
/// The result of checking one station against one DSO's requirements. It is current only for the requirements and
/// station versions it was checked against, and only until <see cref="ValidUntil"/>.
/// </summary>
public sealed record Qualification(
    QualificationStatus Status, string DsoId, IReadOnlyList<QualificationReason> Reasons, DateTimeOffset CheckedAt,
    DateTimeOffset? ValidUntil, int RequirementsVersion, int StationVersion)
{
    /// <summary>Whether this is a qualification that still holds at <paramref name="now"/> for these station and requirement versions.</summary>
    public bool HoldsAt(DateTimeOffset now, ChargingStation station, PrequalificationRequirements? requirements) =>
        Status == QualificationStatus.Qualified && ValidUntil > now && station.Version == StationVersion &&
        requirements is not null && requirements.Version == RequirementsVersion && requirements.DsoId == DsoId;
}

/// <summary>
/// Whether a station may take part in a request's market (DOMAIN.md sections 3.2 and 4): checked when it is offered and
/// again when the offer is cleared, since a station may be deactivated or its qualification expire in between.
/// </summary>
public static class Eligibility
{
    /// <summary>
    /// Why <paramref name="station"/> may not be offered or awarded on a request behind <paramref name="transformer"/> at
    /// <paramref name="now"/>, or null when it may: it must be active, sit behind that transformer, have real-time
    /// monitoring, and hold a qualification with the transformer's DSO that has not expired at <paramref name="now"/>.
    /// A qualification checked against an older station version or older requirements is checked again against
    /// <paramref name="requirements"/> (the DSO's current ones, null when it has none): a change the station still
    /// meets does not knock out its offers, one it fails does.
    /// </summary>
    /// <returns>The broken rule (<c>active</c>, <c>transformer</c>, <c>monitoring</c> or <c>qualified</c>) and a sentence, or null.</returns>
    public static QualificationReason? Problem(
        ChargingStation station, GridNode transformer, PrequalificationRequirements? requirements, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(station);
        ArgumentNullException.ThrowIfNull(transformer);
        if (!station.Active) return new("active", $"Station {station.Id} is deactivated.");
        if (station.TransformerId != transformer.Id)
            return new("transformer", $"Station {station.Id} is not behind the request's transformer {transformer.Id}.");
        if (!station.RealTimeMonitoring) return new("monitoring", $"Station {station.Id} has no real-time monitoring.");
        return station.Qualification switch
        {
            null => new("qualified", $"Station {station.Id} is not prequalified: POST /v1/stations/{station.Id}/prequalification."),
            { Status: not QualificationStatus.Qualified } q =>
                new("qualified", $"Station {station.Id} is {q.Status} in prequalification: {string.Join(" ", q.Reasons.Select(r => r.Message))}"),
            var q when q.DsoId != transformer.OperatorId =>
                new("qualified", $"Station {station.Id} is not prequalified with DSO {transformer.OperatorId}: POST /v1/stations/{station.Id}/prequalification."),
            var q when q.ValidUntil <= now =>
                new("qualified", $"Station {station.Id}'s prequalification expired at {q.ValidUntil:O}: POST /v1/stations/{station.Id}/prequalification."),
            var q when q.HoldsAt(now, station, requirements) => null,
            _ => Prequalification.Check(station, transformer, requirements, now) is { Status: not QualificationStatus.Qualified } fresh
                ? new("qualified", $"Station {station.Id} no longer meets DSO {transformer.OperatorId}'s requirements: {string.Join(" ", fresh.Reasons.Select(r => r.Message))}")
                : null,
        };
    }
}

/// <summary>Prequalification: checks a station against the requirements of the DSO that owns its transformer.</summary>
public static class Prequalification
{
    /// <summary>
    /// Checks <paramref name="station"/> (behind <paramref name="transformer"/>) at <paramref name="now"/>: pending without
    /// requirements, qualified until now + validity when every rule holds, otherwise failed with every broken rule.
    /// </summary>
    public static Qualification Check(ChargingStation station, GridNode transformer, PrequalificationRequirements? requirements, DateTimeOffset now)
    {
        if (station.TransformerId != transformer.Id)
            throw new ArgumentException("the station is not behind this transformer", nameof(transformer));
        if (requirements is null || requirements.DsoId != transformer.OperatorId)
            return new Qualification(QualificationStatus.Pending, transformer.OperatorId,
                [new("requirements-missing", $"DSO {transformer.OperatorId} has not published prequalification requirements yet.")], now, null, 0, station.Version);
        var reasons = new List<QualificationReason>();
        if (!station.Active) reasons.Add(new("active", "The station is deactivated."));
        if (station.Status != DeviceStatus.Operational) reasons.Add(new("operational", $"The station is {station.Status}, not Operational."));
        if (requirements.TransformerIds is { } accepted && !accepted.Contains(transformer.Id))
            reasons.Add(new("transformer", $"The DSO does not procure flexibility behind transformer {transformer.Id}."));
        if (station.MaxPower.Value < requirements.MinimumPower.Value)
            reasons.Add(new("minimum-power", $"The station's {station.MaxPower} is below the DSO's minimum of {requirements.MinimumPower}."));
        if (requirements.MonitoringRequired && !station.RealTimeMonitoring)
            reasons.Add(new("monitoring", "The DSO requires real-time monitoring."));
        return reasons.Count == 0
            ? new Qualification(QualificationStatus.Qualified, requirements.DsoId, [], now, now + requirements.Validity, requirements.Version, station.Version)
            : new Qualification(QualificationStatus.Failed, requirements.DsoId, reasons, now, null, requirements.Version, station.Version);
    }
}
