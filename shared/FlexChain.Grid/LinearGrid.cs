using System.Globalization;

namespace FlexChain.Grid;

/// <summary>What a grid limit bounds. Numbers are stable; names go on the wire.</summary>
public enum LimitKind
{
    /// <summary>Active power on a branch (MW, both directions).</summary>
    Flow = 1,

    /// <summary>A bus's squared voltage (p.u.^2): LinDistFlow is linear in V^2.</summary>
    Voltage = 2,
}

/// <summary>One linear grid limit: <c>Lower &lt;= Base + sensitivity . change &lt;= Upper</c>.</summary>
/// <param name="OperatorId">The operator whose grid element it is.</param>
/// <param name="Kind">Flow or voltage.</param>
/// <param name="Element">The branch (<c>4-7</c>) or bus (<c>65</c>) in the operator's case.</param>
/// <param name="Lower">Lower bound (MW or p.u.^2).</param>
/// <param name="Upper">Upper bound (MW or p.u.^2).</param>
/// <param name="Base">The value before any flexibility is activated.</param>
public sealed record GridLimit(string OperatorId, LimitKind Kind, string Element, double Lower, double Upper, double Base);

/// <summary>How the study sets the limits the MATPOWER cases leave open (every rateA is 0 in the three cases).</summary>
/// <param name="TransmissionHeadroom">A transmission branch without a rating may carry this multiple of its base-case DC flow.</param>
/// <param name="TransmissionMinimumMw">... but at least this many MW.</param>
/// <param name="DistributionHeadroom">A distribution branch without a rating may carry this multiple of the flow of the case's own loads.</param>
/// <param name="DistributionMarginMw">... plus this many MW.</param>
public sealed record LimitRule(double TransmissionHeadroom, double TransmissionMinimumMw, double DistributionHeadroom, double DistributionMarginMw);

/// <summary>
/// The grid as a set of linear limits around a base state, with each limit's sensitivity to more consumption at a
/// location: DC PTDF rows for the transmission branches, LinDistFlow rows (branch flow, squared voltage) for each
/// distribution grid. Every market scheme and check in the study reads the grid through this one model.
/// </summary>
public sealed class LinearGrid
{
    /// <summary>A limit counts as violated only beyond this much (MW for flows: 1 kW; p.u.^2 for voltages), the rounding of awards to the watt-hour.</summary>
    public const double FlowTolerance = 1e-3, VoltageTolerance = 1e-5;

    private readonly Dictionary<GridLocation, double[]> _sensitivities; // shared by the rebased copies: the model is linear

    /// <summary>
    /// Builds the limits for <paramref name="hierarchy"/> with <paramref name="extraLoadMw"/> (e.g. the charging
    /// baseline) added to the distribution cases' loads. Transmission base flows are the case's own (its loads include
    /// the distribution grids below them). Limits without a rating follow <paramref name="rule"/>, from the case's own loads.
    /// </summary>
    public LinearGrid(GridHierarchy hierarchy, IReadOnlyDictionary<GridLocation, double> extraLoadMw, LimitRule rule)
    {
        ArgumentNullException.ThrowIfNull(hierarchy);
        ArgumentNullException.ThrowIfNull(extraLoadMw);
        ArgumentNullException.ThrowIfNull(rule);
        Hierarchy = hierarchy;
        _sensitivities = [];
        var limits = new List<GridLimit>();
        var t = hierarchy.Transmission;
        var flows = t.Flows(t.Grid.Buses.ToDictionary(b => b.Id, b => b.GenerationMw - b.LoadMw));
        for (var l = 0; l < flows.Length; l++)
        {
            var br = t.Grid.Branches[l];
            var limit = br.RateAMva > 0 ? br.RateAMva : Math.Max(rule.TransmissionHeadroom * Math.Abs(flows[l]), rule.TransmissionMinimumMw);
            limits.Add(new GridLimit(hierarchy.Tso.Id, LimitKind.Flow, br.ToString(), -limit, limit, flows[l]));
        }
        foreach (var area in hierarchy.Dsos)
        {
            var feeder = area.Feeder;
            var buses = feeder.Grid.Buses;
            var (ownFlows, _) = feeder.Solve(buses.Select(b => b.LoadMw).ToList(), buses.Select(b => b.LoadMvar).ToList());
            for (var l = 0; l < ownFlows.Length; l++)
            {
                var br = feeder.Grid.Branches[l];
                var limit = br.RateAMva > 0 ? br.RateAMva : rule.DistributionHeadroom * Math.Abs(ownFlows[l]) + rule.DistributionMarginMw;
                limits.Add(new GridLimit(area.Operator.Id, LimitKind.Flow, br.ToString(), -limit, limit, 0));
            }
            foreach (var bus in buses.Where(b => b.Id != feeder.Root))
                limits.Add(new GridLimit(area.Operator.Id, LimitKind.Voltage, bus.Id.ToString(CultureInfo.InvariantCulture),
                    bus.VminPu * bus.VminPu, bus.VmaxPu * bus.VmaxPu, 1));
        }
        Limits = WithBase(hierarchy, limits, extraLoadMw, 1);
    }

    private LinearGrid(LinearGrid other, IReadOnlyList<GridLimit> limits)
    {
        Hierarchy = other.Hierarchy;
        _sensitivities = other._sensitivities;
        Limits = limits;
    }

    /// <summary>
    /// The same grid and limits around another base state: the distribution cases' loads times <paramref name="loadScale"/>
    /// plus <paramref name="extraLoadMw"/> (transmission base flows stay the case's). Not thread-safe: the copies share one
    /// cache of sensitivities.
    /// </summary>
    public LinearGrid Rebased(IReadOnlyDictionary<GridLocation, double> extraLoadMw, double loadScale)
    {
        ArgumentNullException.ThrowIfNull(extraLoadMw);
        return new LinearGrid(this, WithBase(Hierarchy, Limits, extraLoadMw, loadScale));
    }

    // The distribution limits' base values: LinDistFlow on each feeder's scaled loads plus the extra load.
    private static List<GridLimit> WithBase(GridHierarchy hierarchy, IReadOnlyList<GridLimit> limits, IReadOnlyDictionary<GridLocation, double> extraLoadMw, double loadScale)
    {
        var result = limits.ToList();
        var next = hierarchy.Transmission.Grid.Branches.Count;
        foreach (var area in hierarchy.Dsos)
        {
            var feeder = area.Feeder;
            var buses = feeder.Grid.Buses;
            var (flows, v) = feeder.Solve(
                buses.Select(b => b.LoadMw * loadScale + extraLoadMw.GetValueOrDefault(new GridLocation(area.Operator.Id, b.Id))).ToList(),
                buses.Select(b => b.LoadMvar * loadScale).ToList());
            foreach (var flow in flows)
            {
                result[next] = result[next] with { Base = flow };
                next++;
            }
            for (var i = 0; i < buses.Count; i++)
            {
                if (buses[i].Id == feeder.Root) continue;
                result[next] = result[next] with { Base = v[i] };
                next++;
            }
        }
        return result;
    }

    /// <summary>The operators and their grids.</summary>
    public GridHierarchy Hierarchy { get; }

    /// <summary>Every limit, transmission branches first, then each DSO's branches and bus voltages.</summary>
    public IReadOnlyList<GridLimit> Limits { get; }

    /// <summary>Per limit, how its value changes per MW more consumed at <paramref name="location"/> (negative MW: less consumed).</summary>
    public IReadOnlyList<double> Sensitivity(GridLocation location)
    {
        if (_sensitivities.TryGetValue(location, out var cached)) return cached;
        var s = new double[Limits.Count];
        var t = Hierarchy.Transmission;
        var tBus = Hierarchy.TransmissionBusOf(location);
        for (var l = 0; l < t.Grid.Branches.Count; l++) s[l] = -t.Factor(l, tBus); // consumption is negative injection
        var area = Hierarchy.AreaOf(location.OperatorId);
        for (var i = t.Grid.Branches.Count; i < Limits.Count; i++)
        {
            var limit = Limits[i];
            if (area is null || limit.OperatorId != area.Operator.Id) continue;
            var feeder = area.Feeder;
            var element = limit.Element;
            s[i] = limit.Kind switch
            {
                LimitKind.Flow => feeder.IsBelow(location.Bus, feeder.Downstream(BranchIndex(feeder.Grid, element))) ? 1 : 0,
                _ => feeder.VoltageSquaredPerMw(int.Parse(element, CultureInfo.InvariantCulture), location.Bus),
            };
        }
        _sensitivities[location] = s;
        return s;
    }

    /// <summary>Every limit's value after the consumption changes (MW per location; positive: more consumed).</summary>
    public double[] Evaluate(IEnumerable<(GridLocation Location, double Mw)> changes)
    {
        ArgumentNullException.ThrowIfNull(changes);
        var values = Limits.Select(l => l.Base).ToArray();
        foreach (var (location, mw) in changes) Add(values, location, mw);
        return values;
    }

    /// <summary>Adds the effect of <paramref name="mw"/> more consumed at <paramref name="location"/> to <paramref name="values"/>.</summary>
    public void Add(double[] values, GridLocation location, double mw)
    {
        ArgumentNullException.ThrowIfNull(values);
        var s = Sensitivity(location);
        for (var i = 0; i < values.Length; i++) values[i] += s[i] * mw;
    }

    /// <summary>Whether limit <paramref name="i"/> is broken at <paramref name="value"/> (beyond the tolerances).</summary>
    public bool IsViolated(int i, double value)
    {
        var tolerance = Limits[i].Kind == LimitKind.Flow ? FlowTolerance : VoltageTolerance;
        return value > Limits[i].Upper + tolerance || value < Limits[i].Lower - tolerance;
    }

    /// <summary>Counts the violations at <paramref name="values"/> and the worst branch loading.</summary>
    public GridCheck Check(IReadOnlyList<double> values)
    {
        ArgumentNullException.ThrowIfNull(values);
        int transmission = 0, distribution = 0, voltage = 0;
        double worstTransmission = 0, worstDistribution = 0, minV = double.MaxValue, maxV = double.MinValue;
        var broken = new List<string>();
        for (var i = 0; i < Limits.Count; i++)
        {
            var limit = Limits[i];
            if (limit.Kind == LimitKind.Flow && limit.OperatorId == Hierarchy.Tso.Id)
                worstTransmission = Math.Max(worstTransmission, Math.Abs(values[i]) / limit.Upper * 100);
            else if (limit.Kind == LimitKind.Flow)
                worstDistribution = Math.Max(worstDistribution, Math.Abs(values[i]) / limit.Upper * 100);
            else
            {
                minV = Math.Min(minV, Math.Sqrt(values[i]));
                maxV = Math.Max(maxV, Math.Sqrt(values[i]));
            }
            if (!IsViolated(i, values[i])) continue;
            if (limit.Kind == LimitKind.Voltage) voltage++;
            else if (limit.OperatorId == Hierarchy.Tso.Id) transmission++;
            else distribution++;
            broken.Add(limit.Kind == LimitKind.Flow
                ? $"{limit.OperatorId} branch {limit.Element}: {values[i]:0.000} MW, limit {limit.Upper:0.000} MW"
                : $"{limit.OperatorId} bus {limit.Element}: {Math.Sqrt(values[i]):0.0000} p.u., bounds {Math.Sqrt(limit.Lower):0.00}-{Math.Sqrt(limit.Upper):0.00}");
        }
        return new GridCheck(transmission, distribution, voltage, worstTransmission, worstDistribution, minV, maxV, broken);
    }

    private static int BranchIndex(MatpowerCase grid, string element)
    {
        for (var l = 0; l < grid.Branches.Count; l++) if (grid.Branches[l].ToString() == element) return l;
        throw new ArgumentException($"{grid.Name} has no branch {element}.", nameof(element));
    }
}

/// <summary>The grid limits a state breaks.</summary>
/// <param name="TransmissionCongestions">Transmission branches over their limit.</param>
/// <param name="DistributionCongestions">Distribution branches over their limit.</param>
/// <param name="VoltageViolations">Distribution buses outside their voltage bounds.</param>
/// <param name="WorstTransmissionLoadingPercent">The highest transmission branch flow as a percentage of its limit.</param>
/// <param name="WorstDistributionLoadingPercent">The highest distribution branch flow as a percentage of its limit.</param>
/// <param name="MinVoltagePu">The lowest distribution bus voltage (p.u.).</param>
/// <param name="MaxVoltagePu">The highest distribution bus voltage (p.u.).</param>
/// <param name="Violations">One line per broken limit.</param>
public sealed record GridCheck(
    int TransmissionCongestions, int DistributionCongestions, int VoltageViolations, double WorstTransmissionLoadingPercent,
    double WorstDistributionLoadingPercent,
    double MinVoltagePu, double MaxVoltagePu, IReadOnlyList<string> Violations)
{
    /// <summary>The highest branch flow as a percentage of its limit, over every branch.</summary>
    public double WorstLoadingPercent => Math.Max(WorstTransmissionLoadingPercent, WorstDistributionLoadingPercent);

    /// <summary>All violations together.</summary>
    public int Count => TransmissionCongestions + DistributionCongestions + VoltageViolations;
}
