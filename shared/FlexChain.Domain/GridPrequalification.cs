namespace FlexChain.Domain;

/// <summary>A set of hours of the UTC day (0 to 23), as a 24-bit mask: bit h set means hour h is in the set.</summary>
/// <param name="Mask">Bits 0 to 23; use <see cref="Between"/> or <see cref="FromMask"/> to build a checked one.</param>
public readonly record struct HoursOfDay(int Mask)
{
    private const int AllMask = (1 << 24) - 1;

    /// <summary>Every hour of the day.</summary>
    public static HoursOfDay All => new(AllMask);

    /// <summary>The hours from <paramref name="fromHour"/> up to (not including) <paramref name="toHour"/>, across midnight when <paramref name="toHour"/> is smaller.</summary>
    /// <exception cref="DomainException">An hour outside 0..23, or equal hours (rule <c>hours</c>).</exception>
    public static HoursOfDay Between(int fromHour, int toHour, string field)
    {
        if (fromHour is < 0 or > 23 || toHour is < 0 or > 23 || fromHour == toHour)
            throw new DomainException(field, "hours", $"{field} needs two different hours 0 to 23 (UTC): from inclusive, to exclusive, across midnight when to is smaller.");
        var mask = 0;
        for (var h = fromHour; h != toHour; h = (h + 1) % 24) mask |= 1 << h;
        return new(mask);
    }

    /// <summary>A stored mask, checked.</summary>
    public static HoursOfDay FromMask(int mask) =>
        mask is >= 0 and <= AllMask ? new(mask) : throw new ArgumentOutOfRangeException(nameof(mask), "24 bits");

    /// <summary>The hours in both sets (possibly none).</summary>
    public HoursOfDay Intersect(HoursOfDay other) => new(Mask & other.Mask);

    /// <summary>The hours in the set, ascending.</summary>
    public IReadOnlyList<int> Hours
    {
        get
        {
            var mask = Mask;
            return Enumerable.Range(0, 24).Where(h => (mask & (1 << h)) != 0).ToList();
        }
    }

    /// <summary>Whether every hour that <paramref name="window"/> touches (UTC) is in the set.</summary>
    public bool Covers(TimeWindow window)
    {
        var hour = new DateTimeOffset(window.Start.UtcDateTime.Date.AddHours(window.Start.UtcDateTime.Hour), TimeSpan.Zero);
        for (var i = 0; hour < window.End && i < 24; hour = hour.AddHours(1), i++)
            if ((Mask & (1 << hour.Hour)) == 0) return false;
        return true;
    }

    /// <inheritdoc/>
    public override string ToString() => Mask == AllMask ? "every hour" : "UTC hours " + string.Join(",", Hours);
}

/// <summary>An operator's answer in a station's grid prequalification (DOMAIN.md section 7). Numbers are stable; names go on the wire.</summary>
public enum GridVerdict
{
    Approved = 1,

    /// <summary>Approved only in given hours, or up to a maximum power, or both.</summary>
    ConditionallyApproved = 2,

    /// <summary>Refused, with a justification that includes why a temporary limit would not do.</summary>
    NotApproved = 3,
}

/// <summary>One operator's answer on one grid prequalification case.</summary>
/// <param name="AllowedHours">When conditional on hours: the UTC hours the station may deliver in; else null.</param>
/// <param name="MaxPower">When conditional on power: the most the station may shift (kW); else null.</param>
/// <param name="Justification">Why (required when not approved).</param>
/// <param name="WhyNoTemporaryLimit">Why a temporary limit would not do (required when not approved).</param>
public sealed record GridAnswer(
    GridVerdict Verdict, HoursOfDay? AllowedHours, Kilowatts? MaxPower, string? Justification, string? WhyNoTemporaryLimit, DateTimeOffset AnsweredAt)
{
    /// <summary>A checked answer.</summary>
    /// <exception cref="DomainException">
    /// Conditions on an approval or a refusal (field <c>allowedHours</c> or <c>maxKw</c>, rule <c>conditions</c>); a
    /// conditional approval without a condition (field <c>verdict</c>, rule <c>conditions</c>); a refusal without
    /// <c>justification</c> or <c>whyNoTemporaryLimit</c> (rule <c>required</c>).
    /// </exception>
    public static GridAnswer Create(
        GridVerdict verdict, HoursOfDay? allowedHours, Kilowatts? maxPower, string? justification, string? whyNoTemporaryLimit, DateTimeOffset now)
    {
        if (verdict != GridVerdict.ConditionallyApproved)
        {
            if (allowedHours is not null) throw new DomainException("allowedHours", "conditions", $"Only a conditional approval has allowed hours; this is {verdict}.");
            if (maxPower is not null) throw new DomainException("maxKw", "conditions", $"Only a conditional approval has a maximum power; this is {verdict}.");
        }
        else if (allowedHours is null && maxPower is null)
            throw new DomainException("verdict", "conditions", "A conditional approval names its conditions: allowedHours, maxKw or both.");
        if (verdict == GridVerdict.NotApproved)
        {
            if (string.IsNullOrWhiteSpace(justification)) throw new DomainException("justification", "required", "A refusal needs a justification.");
            if (string.IsNullOrWhiteSpace(whyNoTemporaryLimit))
                throw new DomainException("whyNoTemporaryLimit", "required", "A refusal says why a temporary limit would not do.");
        }
        return new(verdict, allowedHours, maxPower, justification, whyNoTemporaryLimit, now);
    }
}

/// <summary>Where a station's grid prequalification stands. Numbers are stable; names go on the wire.</summary>
public enum GridStatusKind
{
    /// <summary>Some operator has not answered and its deadline has not passed: the answers given so far apply.</summary>
    Pending = 1,
    Approved = 2,
    ConditionallyApproved = 3,
    NotApproved = 4,
}

/// <summary>
/// A station's grid prequalification case (DOMAIN.md section 7): opened when its CPO applies, answered by the connecting
/// operator and every impacted operator by the deadline; silence by then is approval.
/// </summary>
/// <param name="NodeId">The grid node the station was connected to when the case opened.</param>
/// <param name="Deadline">The operators answer before it (UTC); after it, an operator that did not answer has approved.</param>
public sealed record GridCase(
    string StationId, string CpoId, string NodeId, string ConnectingOperatorId, IReadOnlyList<string> ImpactedOperatorIds, DateTimeOffset OpenedAt,
    DateTimeOffset Deadline)
{
    /// <summary>Opens a case for <paramref name="station"/> at <paramref name="now"/>, to be answered within <paramref name="answerPeriod"/>.</summary>
    public static GridCase Open(ChargingStation station, GridOperators operators, DateTimeOffset now, TimeSpan answerPeriod)
    {
        if (answerPeriod < TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(answerPeriod), "not negative");
        return new(station.Id, station.CpoId, station.TransformerId, operators.Connecting, operators.Impacted, now, now + answerPeriod);
    }

    /// <summary>
    /// Whether a CPO applying for <paramref name="station"/> (whose current case stands at <paramref name="current"/>) opens a new case: when it has none,
    /// when it was moved to another node since, or when its case was refused (asking again).
    /// </summary>
    public static bool NeedsNew(ChargingStation station, GridStatus? current) =>
        station.GridCase is not { } c || c.NodeId != station.TransformerId || current?.Status == GridStatusKind.NotApproved;

    /// <summary>The connecting operator and then every impacted one.</summary>
    public IReadOnlyList<string> Operators => [ConnectingOperatorId, .. ImpactedOperatorIds];

    /// <summary>Checks that <paramref name="operatorId"/> may answer at <paramref name="now"/>.</summary>
    /// <exception cref="DomainException">Not one of the case's operators (rule <c>own-grid</c>); at or after the deadline (rule <c>answer-deadline</c>).</exception>
    public void RequireAnswerable(string operatorId, DateTimeOffset now)
    {
        if (!Operators.Contains(operatorId))
            throw new DomainException("stationId", "own-grid", $"Station {StationId} is not connected in or below your grid.");
        if (now >= Deadline)
            throw new DomainException("stationId", "answer-deadline", $"The answers were due by {Deadline:O}; silence by then is approval. A temporary limit can still restrict the station.");
    }

    /// <summary>
    /// The combined status at <paramref name="now"/> from <paramref name="answers"/> (by operator id; answers of others are
    /// ignored): any refusal refuses; conditions add up (allowed hours intersect, the lowest maximum power holds);
    /// pending while an operator may still answer.
    /// </summary>
    public GridStatus StatusAt(IReadOnlyDictionary<string, GridAnswer> answers, DateTimeOffset now)
    {
        var given = Operators.Where(answers.ContainsKey).Select(o => (Operator: o, Answer: answers[o])).ToList();
        var refusedBy = given.Where(g => g.Answer.Verdict == GridVerdict.NotApproved).Select(g => g.Operator).ToList();
        HoursOfDay? hours = null;
        Kilowatts? max = null;
        foreach (var (_, a) in given)
        {
            if (a.AllowedHours is { } h) hours = hours is { } sofar ? sofar.Intersect(h) : h;
            if (a.MaxPower is { } m && (max is null || m.Value < max.Value.Value)) max = m;
        }
        var status = refusedBy.Count > 0 ? GridStatusKind.NotApproved
            : given.Count < Operators.Count && now < Deadline ? GridStatusKind.Pending
            : hours is null && max is null ? GridStatusKind.Approved : GridStatusKind.ConditionallyApproved;
        return new(status, new GridRestriction(refusedBy, hours, max));
    }
}

/// <summary>A station's combined grid prequalification: its status and what it restricts.</summary>
public sealed record GridStatus(GridStatusKind Status, GridRestriction Restriction);

/// <summary>
/// What the grid operators allow a station (grid prequalification conditions and refusals, temporary limits): enforced
/// when it is offered and again when it is cleared.
/// </summary>
/// <param name="RefusedBy">The operators that refused it (none: not refused).</param>
/// <param name="AllowedHours">The UTC hours it may deliver in, or null for any.</param>
/// <param name="MaxPower">The most it may shift (kW), or null for its own maximum.</param>
public sealed record GridRestriction(IReadOnlyList<string> RefusedBy, HoursOfDay? AllowedHours, Kilowatts? MaxPower)
{
    /// <summary>No restriction.</summary>
    public static GridRestriction None { get; } = new([], null, null);

    /// <summary>Why the grid state keeps the station out (<see cref="GridPathState.RestrictionFor"/>), or null.</summary>
    public QualificationReason? StateProblem { get; init; }

    /// <summary>Both restrictions at once: refusals add up, hours intersect, the lower power holds, the first state problem holds.</summary>
    public GridRestriction And(GridRestriction other) => new(
        [.. RefusedBy, .. other.RefusedBy.Except(RefusedBy)],
        (AllowedHours, other.AllowedHours) switch { ({ } a, { } b) => a.Intersect(b), (var a, var b) => a ?? b },
        (MaxPower, other.MaxPower) switch { ({ } a, { } b) => a.Value <= b.Value ? a : b, (var a, var b) => a ?? b })
    {
        StateProblem = StateProblem ?? other.StateProblem,
    };

    /// <summary>
    /// Why <paramref name="stationId"/> may not deliver in <paramref name="delivery"/>, or null: its grid's state (rules
    /// <c>grid-red</c>, <c>grid-dynamic-connection</c>), refused (rule <c>grid-not-approved</c>) or outside its allowed hours (<c>grid-hours</c>).
    /// </summary>
    public QualificationReason? Problem(string stationId, TimeWindow delivery)
    {
        if (StateProblem is not null) return StateProblem;
        if (RefusedBy.Count > 0)
            return new("grid-not-approved", $"Station {stationId} is not approved in grid prequalification by {string.Join(", ", RefusedBy)}.");
        if (AllowedHours is { } h && !h.Covers(delivery))
            return new("grid-hours", $"Station {stationId} may deliver only in {h} by grid prequalification; the window {delivery.Start:O} to {delivery.End:O} is outside them.");
        return null;
    }

    /// <summary>The power a station of <paramref name="max"/> may shift under this restriction (kW).</summary>
    public Kilowatts Usable(Kilowatts max) => MaxPower is { } cap && cap.Value < max.Value ? cap : max;

    /// <summary>The restriction of station <paramref name="stationId"/> in <paramref name="grid"/> (by station id; none when absent).</summary>
    public static GridRestriction Of(string stationId, IReadOnlyDictionary<string, GridRestriction>? grid) =>
        grid?.GetValueOrDefault(stationId) ?? None;

    /// <summary>
    /// What <paramref name="stations"/> may shift together under <paramref name="grid"/>'s caps (kW, the sum of
    /// <see cref="Usable"/>), and the caps that hold them, for a message (null when none is capped).
    /// </summary>
    public static (Kilowatts Power, string? Caps) UsablePower(IReadOnlyList<ChargingStation> stations, IReadOnlyDictionary<string, GridRestriction>? grid)
    {
        var capped = stations.Where(s => Of(s.Id, grid).MaxPower is not null).ToList();
        return (new Kilowatts(stations.Sum(s => Of(s.Id, grid).Usable(s.MaxPower).Value)),
            capped.Count == 0 ? null : string.Join(", ", capped.Select(s => $"station {s.Id} capped at {Of(s.Id, grid).MaxPower}")));
    }
}

/// <summary>
/// An operator's temporary limit (DOMAIN.md section 7): for a period, a station, or a grid node and everything under it,
/// may shift at most <see cref="MaxPower"/> (zero: nothing). Not a routine tool: for congestion foreseen too late for
/// prequalification, announced at least <see cref="Lead"/> before the gate closure of every request it affects.
/// </summary>
/// <param name="TargetId">The limited station or grid node.</param>
/// <param name="Period">When the limit holds; a request whose delivery overlaps it is affected as a whole.</param>
public sealed record TemporaryLimit(
    string Id, string OperatorId, string TargetId, TimeWindow Period, Kilowatts MaxPower, string Reason, DateTimeOffset AnnouncedAt)
{
    /// <summary>How long before an affected request's gate closure a limit must be announced: one hour.</summary>
    public static readonly TimeSpan Lead = TimeSpan.FromHours(1);

    /// <summary>The longest period of one limit: 31 days (a longer restriction is a matter for prequalification).</summary>
    public static readonly TimeSpan LongestPeriod = TimeSpan.FromDays(31);

    /// <summary>Announces a limit at <paramref name="now"/>, checked against <paramref name="requests"/> (those on the grid it limits).</summary>
    /// <exception cref="DomainException">
    /// The period has ended (field <c>periodEnd</c>, rule <c>future</c>) or is too long (<c>period-length</c>); a request
    /// whose delivery overlaps the period closes its gate less than an hour after <paramref name="now"/> (field
    /// <c>periodStart</c>, rule <c>announcement-lead</c>, naming the request and its gate closure).
    /// </exception>
    public static TemporaryLimit Announce(
        string id, string operatorId, string targetId, TimeWindow period, Kilowatts maxPower, string reason, DateTimeOffset now, IEnumerable<FlexRequest> requests)
    {
        if (period.End <= now) throw new DomainException("periodEnd", "future", "A temporary limit's period must end in the future.");
        if (period.Duration > LongestPeriod)
            throw new DomainException("periodEnd", "period-length", $"A temporary limit lasts at most {LongestPeriod.TotalDays} days; a longer one is a condition of grid prequalification.");
        var late = requests.Where(r => r.State != RequestState.Cancelled && r.Delivery.Overlaps(period) && r.GateClosure < now + Lead)
            .OrderBy(r => r.GateClosure).FirstOrDefault();
        if (late is not null)
            throw new DomainException("periodStart", "announcement-lead",
                $"A temporary limit is announced at least 1 hour before the gate closure of every request it affects: request {late.Id} closes at {late.GateClosure:O}, so it had to be announced by {late.GateClosure - Lead:O}.");
        return new(id, operatorId, targetId, period, maxPower, reason, now);
    }

    /// <summary>What the limit restricts for a delivery in <paramref name="window"/>: its cap when the periods overlap, else nothing.</summary>
    public GridRestriction RestrictionFor(TimeWindow window) => Period.Overlaps(window) ? new([], null, MaxPower) : GridRestriction.None;
}
