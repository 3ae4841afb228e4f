using FlexChain.Domain;

namespace FlexChain.Grid;

/// <summary>
/// One charging site's flexibility in the study: a baseline it would draw in the window and the most it can draw;
/// it can reduce to zero or increase to its maximum, each at its own price. A station's capacity is one: it is
/// awarded in one direction to one buyer at most (FlexChain's booking rule).
/// </summary>
/// <param name="StationId">The station (unique in the study).</param>
/// <param name="CpoId">The CPO offering it.</param>
/// <param name="Location">Where it is connected.</param>
/// <param name="Reducible">How much less it can draw (kW).</param>
/// <param name="Increasible">How much more it can draw (kW).</param>
/// <param name="ReducePrice">Its price for reducing (EUR/kWh).</param>
/// <param name="IncreasePrice">Its price for increasing (EUR/kWh).</param>
public sealed record FlexResource(
    string StationId, string CpoId, GridLocation Location, Kilowatts Reducible, Kilowatts Increasible,
    EurosPerKilowattHour ReducePrice, EurosPerKilowattHour IncreasePrice)
{
    /// <summary>The most it can move in <paramref name="direction"/> (kW).</summary>
    public Kilowatts Capacity(Direction direction) => direction == Direction.ReduceConsumption ? Reducible : Increasible;

    /// <summary>Its price in <paramref name="direction"/>.</summary>
    public EurosPerKilowattHour Price(Direction direction) => direction == Direction.ReduceConsumption ? ReducePrice : IncreasePrice;
}

/// <summary>The TSO's balancing need: energy in one direction over the study's window.</summary>
public sealed record TsoNeed(Direction Direction, KilowattHours Energy);

/// <summary>
/// One case of the study: the grid, its limits around the base state (charging at its baseline), the resources, the
/// TSO's need and the delivery window. The DSOs' needs are not inputs: they follow from the limits the base state
/// breaks (<see cref="CoordinationStudy"/>).
/// </summary>
public sealed record StudyCase(LinearGrid Grid, IReadOnlyList<FlexResource> Resources, TsoNeed Need, TimeWindow Window)
{
    /// <summary>What <paramref name="resource"/> can offer in <paramref name="direction"/> over the window (kWh).</summary>
    public KilowattHours Offerable(FlexResource resource, Direction direction)
    {
        ArgumentNullException.ThrowIfNull(resource);
        return resource.Capacity(direction) * Window.Duration;
    }

    /// <summary>Megawatts drawn in the window for <paramref name="energy"/> (the window's average power).</summary>
    public double Megawatts(KilowattHours energy) => (double)energy.Value / 1000 / Window.Duration.TotalHours;

    /// <summary>
    /// The energy over the window of a constant <paramref name="mw"/>, to the watt-hour: nearest by default, or
    /// <see cref="MidpointRounding.ToPositiveInfinity"/> (a need, never less) or <see cref="MidpointRounding.ToNegativeInfinity"/>
    /// (an approval, never more). Float noise below a micro-watt-hour is dropped first.
    /// </summary>
    public KilowattHours Energy(double mw, MidpointRounding rounding = MidpointRounding.ToEven)
    {
        var wh = Math.Round(Math.Round(mw * 1e6 * Window.Duration.TotalHours, 6), rounding);
        return new KilowattHours((decimal)wh / 1000m);
    }
}
