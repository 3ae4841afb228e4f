namespace FlexChain.Domain;

/// <summary>
/// A grid node's state in one market interval (the Slovenian traffic light, DOMAIN.md section 7). Numbers are stable and
/// grow with the severity; names go on the wire.
/// </summary>
public enum GridStateColour
{
    /// <summary>The forecast load is within the planning limit: trades are checked against capacity, no DSO market is needed.</summary>
    Green = 1,

    /// <summary>Above the planning limit, within the operational limit: short-term flexibility.</summary>
    Yellow = 2,

    /// <summary>Above the operational limit, within the rated power: all flexibility, including resources under dynamic connection agreements.</summary>
    Orange = 3,

    /// <summary>Above the rated power: the market is suspended; only rule-based operator actions.</summary>
    Red = 4,
}

/// <summary>
/// A node's planning and operational limits (kW), <c>0 &lt; planning &lt;= operational &lt;= rated power</c>. With its
/// rated power they cut the forecast load into the four colours (<see cref="Classify"/>).
/// </summary>
public sealed record GridLimits(Kilowatts Planning, Kilowatts Operational)
{
    /// <summary>The limits of a node of <paramref name="rated"/> power.</summary>
    /// <exception cref="DomainException">
    /// Field <c>planningLimitKw</c>, rule <c>limit-order</c>: not positive or above the operational limit; field
    /// <c>operationalLimitKw</c>, rule <c>limit-order</c>: above the rated power.
    /// </exception>
    public static GridLimits For(Kilowatts planning, Kilowatts operational, Kilowatts rated)
    {
        if (planning.Value <= 0 || planning.Value > operational.Value)
            throw new DomainException("planningLimitKw", "limit-order", $"The planning limit must be positive and at most the operational limit ({operational}).");
        if (operational.Value > rated.Value)
            throw new DomainException("operationalLimitKw", "limit-order", $"The operational limit must be at most the rated power ({rated}).");
        return new(planning, operational);
    }

    /// <summary>
    /// The colour of <paramref name="load"/>: green up to the planning limit, yellow up to the operational limit, orange up
    /// to <paramref name="rated"/> power, red above it (each limit inclusive).
    /// </summary>
    public GridStateColour Classify(Kilowatts load, Kilowatts rated) =>
        load.Value <= Planning.Value ? GridStateColour.Green
        : load.Value <= Operational.Value ? GridStateColour.Yellow
        : load.Value <= rated.Value ? GridStateColour.Orange
        : GridStateColour.Red;
}

/// <summary>One market interval of a node's state: the forecast load there and its colour.</summary>
/// <param name="Load">The node's forecast load (kW): its own forecast's peak in the interval, or its children's summed.</param>
/// <param name="Colour">The load against the node's limits, or null when the node has no limits.</param>
public sealed record GridStateInterval(DateTimeOffset Start, DateTimeOffset End, Kilowatts Load, GridStateColour? Colour);

/// <summary>
/// A node's state over one UTC day, per market interval where a load is known (intervals without a forecast below the
/// node are absent). <see cref="Version"/> grows by one with every change, so each change is announced once.
/// </summary>
public sealed record GridStateDay(string NodeId, DateOnly Day, IReadOnlyList<GridStateInterval> Intervals, int Version, DateTimeOffset ComputedAt)
{
    /// <summary>Whether <paramref name="other"/> says the same (loads and colours), whatever its version and time.</summary>
    public bool SameAs(GridStateDay? other) =>
        other is not null && other.NodeId == NodeId && other.Day == Day && other.Intervals.SequenceEqual(Intervals);
}

/// <summary>
/// How grid states are evaluated, bottom-up: a node with its own congestion forecast (an MV/LV transformer) takes, per
/// market interval of the UTC day, the forecast's peak load among the points overlapping the interval; a node without one
/// takes the sum of its children's loads in each interval where any child has one (a child without a forecast adds
/// nothing, so the sum is a lower bound); each load is classified against the node's own limits
/// (<see cref="GridLimits.Classify"/>). A parent is therefore at least as bad as its children's summed forecast implies
/// against its own limits, and a market on a node sees the worst state on its path to the root (<see cref="GridPathState"/>).
/// </summary>
public static class GridStateEvaluation
{
    /// <summary>Per market interval of the forecast's day that a point overlaps, the peak forecast load there.</summary>
    public static IReadOnlyDictionary<DateTimeOffset, Kilowatts> Loads(CongestionForecast forecast, MarketInterval interval)
    {
        var loads = new SortedDictionary<DateTimeOffset, Kilowatts>();
        var dayStart = new DateTimeOffset(forecast.Day.ToDateTime(TimeOnly.MinValue), TimeSpan.Zero);
        foreach (var p in forecast.Points)
            for (var start = dayStart + interval.Length * ((p.Start - dayStart).Ticks / interval.Length.Ticks); start < p.End; start += interval.Length)
                if (!loads.TryGetValue(start, out var peak) || peak.Value < p.ExpectedLoad.Value) loads[start] = p.ExpectedLoad;
        return loads;
    }

    /// <summary>The interval-wise sum of <paramref name="children"/>'s loads, over every interval any of them has.</summary>
    public static IReadOnlyDictionary<DateTimeOffset, Kilowatts> Sum(IEnumerable<GridStateDay> children)
    {
        var sums = new SortedDictionary<DateTimeOffset, Kilowatts>();
        foreach (var i in children.SelectMany(c => c.Intervals))
            sums[i.Start] = new Kilowatts((sums.TryGetValue(i.Start, out var s) ? s.Value : 0m) + i.Load.Value);
        return sums;
    }

    /// <summary>The state of <paramref name="node"/> on <paramref name="day"/> from its loads per interval start, as the version after <paramref name="previous"/> when it changed.</summary>
    /// <returns><paramref name="previous"/> itself when nothing changed, else the new state.</returns>
    public static GridStateDay Evaluate(
        GridNode node, DateOnly day, IReadOnlyDictionary<DateTimeOffset, Kilowatts> loads, MarketInterval interval, GridStateDay? previous, DateTimeOffset now)
    {
        var intervals = loads.OrderBy(kv => kv.Key)
            .Select(kv => new GridStateInterval(kv.Key, kv.Key + interval.Length, kv.Value, node.Limits?.Classify(kv.Value, node.RatedPower)))
            .ToList();
        var next = new GridStateDay(node.Id, day, intervals, (previous?.Version ?? 0) + 1, now);
        return next.SameAs(previous) ? previous! : next;
    }
}

/// <summary>
/// The state a market on a node sees over a window: per interval the worst colour among the node and every node above it
/// that has one there (an activation there flows through all of them), null where none has, and whether the node itself
/// has one there.
/// </summary>
/// <param name="Window">The window judged.</param>
/// <param name="Intervals">Its market intervals with their effective colour, in time order.</param>
public sealed record GridPathState(TimeWindow Window, IReadOnlyList<(TimeWindow Interval, GridStateColour? Colour, bool OwnColour)> Intervals)
{
    /// <summary>
    /// The effective state over <paramref name="window"/> cut in <paramref name="interval"/>s on <paramref name="nodeId"/>, from the
    /// states of its path (the node and the nodes above it; any days; other times are ignored).
    /// </summary>
    public static GridPathState Of(TimeWindow window, MarketInterval interval, string nodeId, IEnumerable<GridStateDay> path)
    {
        var states = path.SelectMany(d => d.Intervals.Select(i => (d.NodeId, i))).Where(x => x.i.Colour is not null).ToList();
        return new(window, interval.Cut(window).Select(w =>
        {
            var here = states.Where(s => s.i.Start < w.End && w.Start < s.i.End).ToList();
            return (w, here.Select(s => s.i.Colour).Max(), here.Any(s => s.NodeId == nodeId));
        }).ToList());
    }

    /// <summary>The worst colour in the window, or null when no interval has one.</summary>
    public GridStateColour? Worst => Intervals.Select(i => i.Colour).Max();

    /// <summary>Whether every interval of the window is green, the node's own colour known in each (a node without a forecast of its own may need a market).</summary>
    public bool AllGreen => Intervals.All(i => i.Colour == GridStateColour.Green && i.OwnColour);

    /// <summary>
    /// Why a DSO may not post a request for this window on <paramref name="nodeId"/>, or null: red in any interval suspends
    /// the market (rule <c>grid-red</c>); green in every interval needs none (rule <c>grid-green</c>).
    /// </summary>
    public QualificationReason? RequestProblem(string nodeId) =>
        Worst == GridStateColour.Red
            ? new("grid-red", $"Grid node {nodeId} or a node above it is red in {Window}: the market is suspended there.")
            : AllGreen ? new("grid-green", $"Grid node {nodeId} and every node above it are green for the whole window {Window}: no DSO market is needed in green.")
            : null;

    /// <summary>
    /// What the state allows a station on this path: nothing in red (rule <c>grid-red</c>); everyone in orange ("all
    /// flexibility, including resources under dynamic connection agreements"); in green and yellow (short-term flexibility)
    /// every station but one under a dynamic connection agreement, which takes part only in orange (rule
    /// <c>grid-dynamic-connection</c>); no restriction where no colour is known.
    /// </summary>
    public GridRestriction RestrictionFor(ChargingStation station) => Worst switch
    {
        GridStateColour.Red => GridRestriction.None with
        {
            StateProblem = new("grid-red", $"Station {station.Id}'s grid is red in {Window}: the market is suspended there."),
        },
        GridStateColour.Green or GridStateColour.Yellow when station.DynamicConnection => GridRestriction.None with
        {
            StateProblem = new("grid-dynamic-connection",
                $"Station {station.Id} is under a dynamic connection agreement: such resources take part only when the grid is orange; its grid is {Worst} in {Window}."),
        },
        _ => GridRestriction.None,
    };
}
