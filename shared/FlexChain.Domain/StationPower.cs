namespace FlexChain.Domain;

/// <summary>
/// The physical bound on a station's meter data: a station cannot draw more than its rated power over an interval.
/// Readings above it are refused, so a CPO cannot poison delivery verification or a DSO's grid view with impossible values.
/// </summary>
public static class StationPower
{
    /// <summary>Headroom over the rated power, for meter tolerance and brief overshoot: 10 %.</summary>
    public const decimal Margin = 0.10m;

    /// <summary>The most energy <paramref name="station"/> can meter over <paramref name="interval"/>: rated power x duration x (1 + <see cref="Margin"/>).</summary>
    public static KilowattHours MaxEnergy(ChargingStation station, TimeWindow interval) =>
        new(decimal.Round(station.MaxPower.Value * (1 + Margin) * interval.Duration.Ticks / TimeSpan.TicksPerHour, KilowattHours.Scale, MidpointRounding.ToPositiveInfinity));

    /// <summary>Why <paramref name="reading"/> is impossible for <paramref name="station"/>, or null when it is within <see cref="MaxEnergy"/>.</summary>
    public static string? Problem(ChargingStation station, MeterReading reading)
    {
        ArgumentNullException.ThrowIfNull(station);
        ArgumentNullException.ThrowIfNull(reading);
        var max = MaxEnergy(station, reading.Interval);
        return Math.Abs(reading.Energy.Value) <= max.Value ? null
            : $"{reading.Energy} in {reading.Interval.Duration.TotalMinutes:0.##} min exceeds what station {station.Id} can draw at its rated {station.MaxPower} (+{Margin:P0}): at most {max}.";
    }
}
