using Nethereum.Hex.HexConvertors.Extensions;
using Nethereum.Util;

namespace FlexChain.Ethereum;

/// <summary>
/// A 20-byte Ethereum account or contract address. Equality is on the bytes; <see cref="ToString"/> gives the
/// EIP-55 mixed-case checksum form (Nethereum's <see cref="AddressUtil"/>).
/// </summary>
public readonly record struct EthAddress
{
    /// <summary>Length of an address in bytes.</summary>
    public const int Length = 20;

    private readonly byte[]? _bytes;

    /// <summary>Wraps a copy of exactly 20 bytes.</summary>
    /// <exception cref="ArgumentException"><paramref name="bytes"/> is not 20 bytes long.</exception>
    public EthAddress(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length != Length)
            throw new ArgumentException("an address needs exactly 20 bytes", nameof(bytes));
        _bytes = bytes.ToArray();
    }

    /// <summary>The zero address 0x0000...0000 (also what <c>default</c> holds).</summary>
    public static EthAddress Zero => new(new byte[Length]);

    /// <summary>The 20 bytes (a read-only view).</summary>
    public ReadOnlySpan<byte> Bytes => _bytes ?? new byte[Length];

    /// <summary>
    /// Parses "0x" + 40 hex digits. All-lower-case and all-upper-case digits are accepted without a checksum;
    /// mixed case must match the EIP-55 checksum.
    /// </summary>
    /// <exception cref="FormatException">Wrong length, not hex, or a mixed-case checksum that does not match.</exception>
    public static EthAddress Parse(string text) =>
        TryParse(text, out var address, out var error) ? address : throw new FormatException(error);

    /// <summary>Like <see cref="Parse"/> but returns false instead of throwing.</summary>
    public static bool TryParse(string? text, out EthAddress address) => TryParse(text, out address, out _);

    /// <summary>A copy of the 20 bytes.</summary>
    public byte[] ToArray() => Bytes.ToArray();

    /// <summary>Equality on the 20 bytes.</summary>
    public bool Equals(EthAddress other) => Bytes.SequenceEqual(other.Bytes);

    /// <inheritdoc />
    public override int GetHashCode() => BitConverter.ToInt32(Bytes[..4]);

    /// <summary>The EIP-55 checksummed form, e.g. 0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed.</summary>
    public override string ToString() => AddressUtil.Current.ConvertToChecksumAddress(Bytes.ToArray().ToHex(prefix: true));

    private static bool TryParse(string? text, out EthAddress address, out string error)
    {
        address = default;
        if (text is null || text.Length != 42 || !text.StartsWith("0x", StringComparison.OrdinalIgnoreCase) || !text.IsHex())
        {
            error = "an address is 0x followed by 40 hex digits";
            return false;
        }
        var digits = text.AsSpan(2);
        if (digits.ContainsAny("abcdef") && digits.ContainsAny("ABCDEF") && !AddressUtil.Current.IsChecksumAddress("0x" + digits.ToString()))
        {
            error = "mixed-case address does not match its EIP-55 checksum";
            return false;
        }
        address = new EthAddress(text[2..].HexToByteArray());
        error = "";
        return true;
    }
}
