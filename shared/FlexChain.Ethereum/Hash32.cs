using Nethereum.Hex.HexConvertors.Extensions;

namespace FlexChain.Ethereum;

/// <summary>
/// A 32-byte value: a transaction or block hash, an event topic, a bytes32 value. Equality is on the bytes;
/// <see cref="ToString"/> is lower-case 0x-prefixed hex.
/// </summary>
public readonly struct Hash32 : IEquatable<Hash32>
{
    private readonly byte[]? _bytes;

    /// <summary>Wraps a copy of exactly 32 bytes.</summary>
    /// <exception cref="ArgumentException"><paramref name="bytes"/> is not 32 bytes long.</exception>
    public Hash32(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length != 32)
            throw new ArgumentException("a 32-byte hash needs exactly 32 bytes", nameof(bytes));
        _bytes = bytes.ToArray();
    }

    /// <summary>The all-zero value (also what <c>default</c> holds).</summary>
    public static Hash32 Zero => new(new byte[32]);

    /// <summary>The 32 bytes (a read-only view).</summary>
    public ReadOnlySpan<byte> Bytes => _bytes ?? new byte[32];

    /// <summary>Parses "0x" followed by exactly 64 hex digits (either case).</summary>
    /// <exception cref="FormatException">Not 0x-prefixed hex of 32 bytes.</exception>
    public static Hash32 Parse(string hex) =>
        hex is { Length: 66 } && hex.StartsWith("0x", StringComparison.OrdinalIgnoreCase) && hex.IsHex()
            ? new(hex[2..].HexToByteArray())
            : throw new FormatException("a 32-byte value is 0x followed by 64 hex digits");

    /// <summary>A copy of the 32 bytes.</summary>
    public byte[] ToArray() => Bytes.ToArray();

    /// <inheritdoc />
    public bool Equals(Hash32 other) => Bytes.SequenceEqual(other.Bytes);

    /// <inheritdoc />
    public override bool Equals(object? obj) => obj is Hash32 other && Equals(other);

    /// <inheritdoc />
    public override int GetHashCode() => BitConverter.ToInt32(Bytes[..4]);

    /// <summary>Lower-case 0x-prefixed hex, 66 characters.</summary>
    public override string ToString() => ToArray().ToHex(prefix: true);

    /// <summary>Equality on the bytes.</summary>
    public static bool operator ==(Hash32 left, Hash32 right) => left.Equals(right);

    /// <summary>Inequality on the bytes.</summary>
    public static bool operator !=(Hash32 left, Hash32 right) => !left.Equals(right);
}
