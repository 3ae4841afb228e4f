namespace FlexChain.Grid;

/// <summary>What kind of system operator owns a part of the grid. Numbers are stable; names go on the wire.</summary>
public enum OperatorRole
{
    /// <summary>Transmission system operator: the meshed grid at the top, buys balancing.</summary>
    Tso = 1,

    /// <summary>Distribution system operator: a radial grid hung under a transmission bus, buys congestion relief.</summary>
    Dso = 2,
}

/// <summary>A system operator.</summary>
public sealed record GridOperator(string Id, OperatorRole Role);

/// <summary>A point of connection: a bus of one operator's grid.</summary>
/// <param name="OperatorId">The connecting operator.</param>
/// <param name="Bus">The bus number in that operator's case.</param>
public readonly record struct GridLocation(string OperatorId, int Bus)
{
    public override string ToString() => $"{OperatorId}:{Bus}";
}

/// <summary>A DSO's radial grid and the transmission bus its root hangs under.</summary>
public sealed record DistributionArea(GridOperator Operator, LinDistFlow Feeder, int TransmissionBus);

/// <summary>
/// The grid as a tree of operators: one TSO's meshed grid (DC power flow) with DSOs' radial grids (LinDistFlow) hung
/// under its buses. A DSO's feeder load is part of its transmission bus's load in the transmission case, so the
/// transmission base flows are the case's own.
/// </summary>
public sealed class GridHierarchy
{
    /// <summary>Builds the hierarchy; every DSO's transmission bus must exist in the TSO's grid.</summary>
    /// <exception cref="ArgumentException">Operator ids repeat, or a DSO hangs under a bus the transmission grid lacks.</exception>
    public GridHierarchy(GridOperator tso, Ptdf transmission, IReadOnlyList<DistributionArea> dsos)
    {
        ArgumentNullException.ThrowIfNull(tso);
        ArgumentNullException.ThrowIfNull(transmission);
        ArgumentNullException.ThrowIfNull(dsos);
        if (dsos.Select(d => d.Operator.Id).Append(tso.Id).Distinct().Count() != dsos.Count + 1)
            throw new ArgumentException("Operator ids must be unique.", nameof(dsos));
        foreach (var d in dsos)
            if (transmission.Grid.Buses.All(b => b.Id != d.TransmissionBus))
                throw new ArgumentException($"{d.Operator.Id} hangs under bus {d.TransmissionBus}, which {transmission.Grid.Name} lacks.", nameof(dsos));
        Tso = tso;
        Transmission = transmission;
        Dsos = dsos;
    }

    /// <summary>The transmission operator at the top.</summary>
    public GridOperator Tso { get; }

    /// <summary>The transmission grid's DC power flow.</summary>
    public Ptdf Transmission { get; }

    /// <summary>The distribution grids below it.</summary>
    public IReadOnlyList<DistributionArea> Dsos { get; }

    /// <summary>The DSO area of <paramref name="operatorId"/>, or null for the TSO.</summary>
    public DistributionArea? AreaOf(string operatorId) => Dsos.FirstOrDefault(d => d.Operator.Id == operatorId);

    /// <summary>The transmission bus a location's power passes through.</summary>
    public int TransmissionBusOf(GridLocation location) =>
        AreaOf(location.OperatorId)?.TransmissionBus ?? location.Bus;

    /// <summary>
    /// The operators an activation at <paramref name="location"/> affects (the network code's connecting and impacted
    /// operators): the connecting operator first, then each one above it. They all take part in grid prequalification.
    /// </summary>
    public IReadOnlyList<GridOperator> ImpactedOperators(GridLocation location) =>
        AreaOf(location.OperatorId) is { } area ? [area.Operator, Tso] : [Tso];
}
