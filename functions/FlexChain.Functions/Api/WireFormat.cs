namespace FlexChain.Functions.Api;

/// <summary>
/// The one number format per quantity on the wire, used by every response: energy in kWh and power in kW with 3
/// decimals, EUR amounts with 2, prices in EUR/kWh with 4. Values are rounded half away from zero to that many
/// decimals and always written with all of them (5 kWh is <c>5.000</c>), so a client reads one shape per quantity.
/// Exact figures stay available where they are settled: records carry whole watt-hours and token units.
/// </summary>
public static class Wire
{
    public const int KwhDecimals = 3, KwDecimals = 3, EurDecimals = 2, EurPerKwhDecimals = 4;

    /// <summary>Energy, kWh with 3 decimals.</summary>
    public static decimal Kwh(decimal value) => Fixed(value, KwhDecimals);

    /// <summary>Energy, kWh with 3 decimals, or null.</summary>
    public static decimal? Kwh(decimal? value) => value is { } v ? Kwh(v) : null;

    /// <summary>Power, kW with 3 decimals.</summary>
    public static decimal Kw(decimal value) => Fixed(value, KwDecimals);

    /// <summary>A profile's kW per market interval, or null for none.</summary>
    public static IReadOnlyList<decimal>? Profile(IReadOnlyList<FlexChain.Domain.Kilowatts>? profile) => profile?.Select(kw => Kw(kw.Value)).ToList();

    /// <summary>The average power of <paramref name="kwh"/> over <paramref name="duration"/>: kW with 3 decimals.</summary>
    public static decimal AverageKw(decimal kwh, TimeSpan duration) => Kw(kwh * TimeSpan.TicksPerHour / duration.Ticks);

    /// <summary>An amount, EUR with 2 decimals.</summary>
    public static decimal Eur(decimal value) => Fixed(value, EurDecimals);

    /// <summary>A price, EUR/kWh with 4 decimals.</summary>
    public static decimal EurPerKwh(decimal value) => Fixed(value, EurPerKwhDecimals);

    /// <summary>The format a quantity property states in the OpenAPI document, by its name's unit suffix; null for any other field.</summary>
    public static string? FormatOf(string property) =>
        property.EndsWith("MicroEurPerKwh", StringComparison.Ordinal) || property.EndsWith("MicroEurPerKw", StringComparison.Ordinal) ? null // an integer, as recorded on chain
        : property.EndsWith("EurPerKwh", StringComparison.Ordinal) ? $"EUR per kWh, a number with {EurPerKwhDecimals} decimals."
        : property.EndsWith("EurPerKw", StringComparison.Ordinal) ? $"EUR per kW for the whole period, a number with {EurPerKwhDecimals} decimals."
        : property.EndsWith("Kwh", StringComparison.Ordinal) ? $"kWh, a number with {KwhDecimals} decimals."
        : property.EndsWith("Kw", StringComparison.Ordinal) ? $"kW, a number with {KwDecimals} decimals."
        : property.EndsWith("Eur", StringComparison.Ordinal) ? $"EUR, a number with {EurDecimals} decimals."
        : null;

    // decimal keeps its scale: rounding to n places, then adding a zero of scale n, gives exactly n decimals.
    private static decimal Fixed(decimal value, int decimals) =>
        decimal.Round(value, decimals, MidpointRounding.AwayFromZero) + new decimal(0, 0, 0, false, (byte)decimals);
}
