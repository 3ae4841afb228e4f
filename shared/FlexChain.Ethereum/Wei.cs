using System.Globalization;
using System.Numerics;

namespace FlexChain.Ethereum;

/// <summary>
/// An amount of ether in wei (1 ether = 10^18 wei, 1 gwei = 10^9 wei). Never negative; at most 2^256 - 1.
/// </summary>
public readonly record struct Wei : IComparable<Wei>
{
    /// <summary>Wei per gwei (10^9).</summary>
    public static readonly BigInteger WeiPerGwei = BigInteger.Pow(10, 9);

    /// <summary>Wei per ether (10^18).</summary>
    public static readonly BigInteger WeiPerEther = BigInteger.Pow(10, 18);

    private static readonly BigInteger Max = (BigInteger.One << 256) - 1;

    /// <summary>An amount of <paramref name="value"/> wei.</summary>
    /// <exception cref="ArgumentOutOfRangeException">Negative or above 2^256 - 1.</exception>
    public Wei(BigInteger value)
    {
        if (value.Sign < 0 || value > Max)
            throw new ArgumentOutOfRangeException(nameof(value), "wei must be in [0, 2^256 - 1]");
        Value = value;
    }

    /// <summary>The amount in wei.</summary>
    public BigInteger Value { get; }

    /// <summary>No ether.</summary>
    public static Wei Zero => default;

    /// <summary>An amount given in gwei.</summary>
    /// <exception cref="ArgumentOutOfRangeException">Negative or too large.</exception>
    public static Wei FromGwei(BigInteger gwei) => new(gwei * WeiPerGwei);

    /// <summary>An amount given in ether with up to 18 decimals, e.g. 0.5m.</summary>
    /// <exception cref="ArgumentException">More than 18 decimals (the amount would not be a whole number of wei).</exception>
    public static Wei FromEther(decimal ether)
    {
        var scaled = ether * 1_000_000_000m; // 10^9: keep within decimal's range before the second scale
        var whole = decimal.Truncate(scaled);
        var fraction = (scaled - whole) * 1_000_000_000m;
        if (fraction != decimal.Truncate(fraction))
            throw new ArgumentException("ether amount has more than 18 decimals", nameof(ether));
        return new Wei(new BigInteger(whole) * WeiPerGwei + new BigInteger(fraction));
    }

    /// <summary>Adds two amounts.</summary>
    public static Wei operator +(Wei a, Wei b) => new(a.Value + b.Value);

    /// <summary>Subtracts; throws <see cref="ArgumentOutOfRangeException"/> when the result would be negative.</summary>
    public static Wei operator -(Wei a, Wei b) => new(a.Value - b.Value);

    /// <summary>Scales an amount (for example a per-gas price times a gas quantity).</summary>
    public static Wei operator *(Wei a, BigInteger factor) => new(a.Value * factor);

    /// <summary>Ordering by amount.</summary>
    public static bool operator <(Wei a, Wei b) => a.Value < b.Value;

    /// <summary>Ordering by amount.</summary>
    public static bool operator >(Wei a, Wei b) => a.Value > b.Value;

    /// <summary>Ordering by amount.</summary>
    public static bool operator <=(Wei a, Wei b) => a.Value <= b.Value;

    /// <summary>Ordering by amount.</summary>
    public static bool operator >=(Wei a, Wei b) => a.Value >= b.Value;

    /// <inheritdoc />
    public int CompareTo(Wei other) => Value.CompareTo(other.Value);

    /// <summary>For example "1000000000 wei".</summary>
    public override string ToString() => Value.ToString(CultureInfo.InvariantCulture) + " wei";
}
