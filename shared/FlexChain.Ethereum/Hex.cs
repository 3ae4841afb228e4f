using System.Globalization;
using System.Numerics;

namespace FlexChain.Ethereum;

/// <summary>
/// 0x-prefixed hexadecimal as used by Ethereum JSON-RPC: byte strings ("DATA", even number of digits) and
/// unsigned integers ("QUANTITY", no leading zeros, "0x0" for zero).
/// </summary>
/// <remarks>
/// Parse errors never echo the input, because callers pass private keys through <see cref="Decode(string)"/>.
/// </remarks>
public static class Hex
{
    private const string Digits = "0123456789abcdef";

    /// <summary>Encodes bytes as lower-case hex with a "0x" prefix ("0x" for no bytes).</summary>
    public static string Encode(ReadOnlySpan<byte> bytes)
    {
        return string.Create(2 + bytes.Length * 2, bytes.ToArray(), static (chars, b) =>
        {
            chars[0] = '0';
            chars[1] = 'x';
            for (var i = 0; i < b.Length; i++)
            {
                chars[2 + 2 * i] = Digits[b[i] >> 4];
                chars[3 + 2 * i] = Digits[b[i] & 0xF];
            }
        });
    }

    /// <summary>Decodes a "0x"-prefixed hex byte string (either case, even number of digits).</summary>
    /// <exception cref="FormatException">The prefix is missing, the length is odd or a character is not a hex digit.</exception>
    public static byte[] Decode(string hex)
    {
        ArgumentNullException.ThrowIfNull(hex);
        if (!HasPrefix(hex))
            throw new FormatException("hex string must start with 0x");
        var digits = hex.AsSpan(2);
        if (digits.Length % 2 != 0)
            throw new FormatException("hex string must have an even number of digits");
        var result = new byte[digits.Length / 2];
        for (var i = 0; i < result.Length; i++)
            result[i] = (byte)((Nibble(digits[2 * i], 2 + 2 * i) << 4) | Nibble(digits[2 * i + 1], 3 + 2 * i));
        return result;
    }

    /// <summary>Decodes a hex byte string that must be exactly <paramref name="length"/> bytes long.</summary>
    /// <exception cref="FormatException">Not valid hex or not <paramref name="length"/> bytes.</exception>
    public static byte[] Decode(string hex, int length)
    {
        var bytes = Decode(hex);
        if (bytes.Length != length)
            throw new FormatException($"expected {length} bytes of hex, got {bytes.Length}");
        return bytes;
    }

    /// <summary>Encodes a non-negative integer as a JSON-RPC QUANTITY ("0x0", "0x1a").</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="value"/> is negative.</exception>
    public static string EncodeQuantity(BigInteger value)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(value);
        if (value.IsZero) return "0x0";
        var hex = value.ToString("x", CultureInfo.InvariantCulture).TrimStart('0');
        return "0x" + hex;
    }

    /// <summary>Decodes a JSON-RPC QUANTITY: "0x" followed by at least one digit and no leading zeros.</summary>
    /// <exception cref="FormatException">The text is not a canonical quantity.</exception>
    public static BigInteger DecodeQuantity(string quantity)
    {
        ArgumentNullException.ThrowIfNull(quantity);
        if (!HasPrefix(quantity) || quantity.Length == 2)
            throw new FormatException("quantity must be 0x followed by at least one hex digit");
        if (quantity.Length > 3 && quantity[2] == '0')
            throw new FormatException("quantity must not have leading zeros");
        BigInteger value = BigInteger.Zero;
        for (var i = 2; i < quantity.Length; i++)
            value = (value << 4) | Nibble(quantity[i], i);
        return value;
    }

    /// <summary>Decodes a QUANTITY that must fit in 64 bits (block numbers, nonces, gas).</summary>
    /// <exception cref="FormatException">Not a canonical quantity, or larger than <see cref="ulong.MaxValue"/>.</exception>
    public static ulong DecodeUInt64(string quantity)
    {
        var value = DecodeQuantity(quantity);
        if (value > ulong.MaxValue)
            throw new FormatException("quantity does not fit in 64 bits");
        return (ulong)value;
    }

    /// <summary>Minimal unsigned big-endian bytes of a non-negative integer (empty for zero).</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="value"/> is negative.</exception>
    public static byte[] ToBigEndian(BigInteger value)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(value);
        return value.IsZero ? [] : value.ToByteArray(isUnsigned: true, isBigEndian: true);
    }

    /// <summary>Unsigned big-endian bytes of a non-negative integer, left-padded with zeros to <paramref name="length"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException">Negative, or needs more than <paramref name="length"/> bytes.</exception>
    public static byte[] ToBigEndian(BigInteger value, int length)
    {
        var minimal = ToBigEndian(value);
        if (minimal.Length > length)
            throw new ArgumentOutOfRangeException(nameof(value), $"value needs more than {length} bytes");
        var result = new byte[length];
        minimal.CopyTo(result, length - minimal.Length);
        return result;
    }

    /// <summary>Reads unsigned big-endian bytes as a non-negative integer (empty is zero).</summary>
    public static BigInteger FromBigEndian(ReadOnlySpan<byte> bytes) =>
        bytes.IsEmpty ? BigInteger.Zero : new BigInteger(bytes, isUnsigned: true, isBigEndian: true);

    private static bool HasPrefix(string s) => s.Length >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X');

    private static int Nibble(char c, int position) => c switch
    {
        >= '0' and <= '9' => c - '0',
        >= 'a' and <= 'f' => c - 'a' + 10,
        >= 'A' and <= 'F' => c - 'A' + 10,
        _ => throw new FormatException($"invalid hex digit at position {position}"),
    };
}
