using System.Numerics;

namespace FlexChain.Domain;

/// <summary>Thrown when a value or a transition breaks a market rule; <see cref="Field"/> names the input at fault.</summary>
public sealed class DomainException(string field, string rule, string message) : Exception(message)
{
    /// <summary>The input field (camelCase, as on the wire) that broke the rule.</summary>
    public string Field { get; } = field;

    /// <summary>A stable machine-readable rule name, e.g. <c>gate-closed</c>.</summary>
    public string Rule { get; } = rule;
}

internal static class Decimals
{
    public static decimal Exact(decimal value, int maxScale, string field, string unit)
    {
        if (value.Scale > maxScale && decimal.Round(value, maxScale) != value)
            throw new DomainException(field, "precision", $"{field} has more than {maxScale} decimals of {unit}.");
        return decimal.Round(value, maxScale);
    }
}

/// <summary>Energy in kilowatt-hours, exact to the watt-hour (3 decimals). May be negative (a delivery shortfall).</summary>
public readonly record struct KilowattHours(decimal Value) : IComparable<KilowattHours>
{
    /// <summary>The smallest energy step: 1 Wh.</summary>
    public const int Scale = 3;

    public static readonly KilowattHours Zero = new(0m);

    /// <summary>Validates precision (at most 3 decimals); <paramref name="field"/> names the input in errors.</summary>
    public static KilowattHours From(decimal kwh, string field = "energyKwh") => new(Decimals.Exact(kwh, Scale, field, "kWh"));

    /// <summary>Whole watt-hours, the integer form used on chain.</summary>
    public long WattHours => checked((long)(Value * 1000m));

    public static KilowattHours operator +(KilowattHours a, KilowattHours b) => new(a.Value + b.Value);
    public static KilowattHours operator -(KilowattHours a, KilowattHours b) => new(a.Value - b.Value);
    public static Euros operator *(KilowattHours e, EurosPerKilowattHour p) => new(e.Value * p.Value);
    public static bool operator <(KilowattHours a, KilowattHours b) => a.Value < b.Value;
    public static bool operator >(KilowattHours a, KilowattHours b) => a.Value > b.Value;
    public static bool operator <=(KilowattHours a, KilowattHours b) => a.Value <= b.Value;
    public static bool operator >=(KilowattHours a, KilowattHours b) => a.Value >= b.Value;
    public static KilowattHours Min(KilowattHours a, KilowattHours b) => a <= b ? a : b;
    public static KilowattHours Max(KilowattHours a, KilowattHours b) => a >= b ? a : b;
    public int CompareTo(KilowattHours other) => Value.CompareTo(other.Value);
    public override string ToString() => $"{Value} kWh";
}

/// <summary>Power in kilowatts (3 decimals).</summary>
public readonly record struct Kilowatts(decimal Value)
{
    public static Kilowatts From(decimal kw, string field = "powerKw") => new(Decimals.Exact(kw, 3, field, "kW"));

    /// <summary>Energy at this constant power over <paramref name="duration"/>, rounded down to the watt-hour.</summary>
    public static KilowattHours operator *(Kilowatts p, TimeSpan duration) =>
        new(decimal.Round(p.Value * duration.Ticks / TimeSpan.TicksPerHour, KilowattHours.Scale, MidpointRounding.ToZero));

    public override string ToString() => $"{Value} kW";
}

/// <summary>An activation price in EUR per kWh, at most 4 decimals (DOMAIN.md section 8).</summary>
public readonly record struct EurosPerKilowattHour(decimal Value) : IComparable<EurosPerKilowattHour>
{
    public const int Scale = 4;

    public static EurosPerKilowattHour From(decimal eurPerKwh, string field = "priceEurPerKwh") =>
        new(Decimals.Exact(eurPerKwh, Scale, field, "EUR/kWh"));

    public static bool operator <(EurosPerKilowattHour a, EurosPerKilowattHour b) => a.Value < b.Value;
    public static bool operator >(EurosPerKilowattHour a, EurosPerKilowattHour b) => a.Value > b.Value;
    public static bool operator <=(EurosPerKilowattHour a, EurosPerKilowattHour b) => a.Value <= b.Value;
    public static bool operator >=(EurosPerKilowattHour a, EurosPerKilowattHour b) => a.Value >= b.Value;
    public int CompareTo(EurosPerKilowattHour other) => Value.CompareTo(other.Value);
    public override string ToString() => $"{Value} EUR/kWh";
}

/// <summary>A money amount in EUR, exact (kWh with 3 decimals times EUR/kWh with 4 gives at most 7 decimals).</summary>
public readonly record struct Euros(decimal Value)
{
    public static readonly Euros Zero = new(0m);

    /// <summary>
    /// Whole token units for a token with <paramref name="decimals"/> decimals (6 for EURC, 18 for EURe), rounded toward
    /// zero so the market never pays more than was earned. Exact for any amount: arbitrary-precision integers, because
    /// 18 decimals overflow 64 bits from about 9.2 EUR.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="decimals"/> is outside 0 to 77 (uint256 holds at most 77 digits).</exception>
    public BigInteger ToTokenUnits(int decimals)
    {
        if (decimals is < 0 or > 77) throw new ArgumentOutOfRangeException(nameof(decimals), "token decimals must be 0 to 77");
        // The decimal is mantissa / 10^scale exactly; BigInteger division truncates toward zero.
        Span<int> bits = stackalloc int[4];
        decimal.GetBits(Value, bits);
        // The three low ints are the 96-bit mantissa's unsigned words (reinterpreted, not converted: checked arithmetic is on).
        var mantissa = new BigInteger(unchecked((uint)bits[0])) | new BigInteger(unchecked((uint)bits[1])) << 32 | new BigInteger(unchecked((uint)bits[2])) << 64;
        if (Value < 0) mantissa = -mantissa;
        return BigInteger.Divide(mantissa * BigInteger.Pow(10, decimals), BigInteger.Pow(10, Value.Scale));
    }

    public static Euros operator +(Euros a, Euros b) => new(a.Value + b.Value);
    public static Euros operator -(Euros a, Euros b) => new(a.Value - b.Value);
    public override string ToString() => $"{Value} EUR";
}

/// <summary>A half-open UTC time window [Start, End).</summary>
public readonly record struct TimeWindow
{
    public TimeWindow(DateTimeOffset start, DateTimeOffset end)
    {
        if (start.Offset != TimeSpan.Zero || end.Offset != TimeSpan.Zero)
            throw new DomainException("window", "utc", "Times must be UTC.");
        if (end <= start) throw new DomainException("window", "end-after-start", "The window must end after it starts.");
        Start = start;
        End = end;
    }

    public DateTimeOffset Start { get; }
    public DateTimeOffset End { get; }
    public TimeSpan Duration => End - Start;

    public bool Contains(DateTimeOffset t) => t >= Start && t < End;
    public bool Overlaps(TimeWindow other) => Start < other.End && other.Start < End;
    public override string ToString() => $"[{Start:O}, {End:O})";
}

/// <summary>An Ethereum account address, normalised to lower case (the domain does not check EIP-55; the API layer does).</summary>
public readonly record struct WalletAddress
{
    private WalletAddress(string value) => Value = value;

    public string Value { get; }

    public static WalletAddress Parse(string? text, string field = "walletAddress")
    {
        if (text is null || text.Length != 42 || !text.StartsWith("0x", StringComparison.Ordinal) ||
            !text.AsSpan(2).ContainsOnlyHexDigits())
            throw new DomainException(field, "address", $"{field} must be a 0x-prefixed 20-byte hex address.");
        if (text.AsSpan(2).IndexOfAnyExcept('0') < 0)
            throw new DomainException(field, "address", $"{field} must not be the zero address.");
        return new WalletAddress(text.ToLowerInvariant());
    }

    public override string ToString() => Value;
}

internal static class SpanHex
{
    public static bool ContainsOnlyHexDigits(this ReadOnlySpan<char> s)
    {
        foreach (var c in s)
            if (!char.IsAsciiHexDigit(c)) return false;
        return true;
    }
}
