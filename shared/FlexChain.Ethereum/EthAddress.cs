namespace FlexChain.Ethereum;

/// <summary>
/// A 20-byte Ethereum account or contract address. Equality is on the bytes; <see cref="ToString"/> gives the
/// EIP-55 mixed-case checksum form.
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
    public static EthAddress Parse(string text)
    {
        if (!TryParse(text, out var address, out var error))
            throw new FormatException(error);
        return address;
    }

    /// <summary>Like <see cref="Parse"/> but returns false instead of throwing.</summary>
    public static bool TryParse(string? text, out EthAddress address) => TryParse(text, out address, out _);

    /// <summary>The address of the account controlling a secp256k1 public key (last 20 bytes of Keccak-256 of x || y).</summary>
    /// <exception cref="ArgumentException"><paramref name="uncompressedPublicKey"/> is not 64 bytes (or 65 starting with 0x04).</exception>
    public static EthAddress FromPublicKey(ReadOnlySpan<byte> uncompressedPublicKey)
    {
        if (uncompressedPublicKey.Length == 65 && uncompressedPublicKey[0] == 0x04)
            uncompressedPublicKey = uncompressedPublicKey[1..];
        if (uncompressedPublicKey.Length != 64)
            throw new ArgumentException("an uncompressed public key is 64 bytes (x || y)", nameof(uncompressedPublicKey));
        return new EthAddress(Keccak256.Hash(uncompressedPublicKey).AsSpan(12));
    }

    /// <summary>A copy of the 20 bytes.</summary>
    public byte[] ToArray() => Bytes.ToArray();

    /// <summary>Equality on the 20 bytes.</summary>
    public bool Equals(EthAddress other) => Bytes.SequenceEqual(other.Bytes);

    /// <inheritdoc />
    public override int GetHashCode() => BitConverter.ToInt32(Bytes[..4]);

    /// <summary>The EIP-55 checksummed form, e.g. 0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed.</summary>
    public override string ToString() => ToChecksumString(Hex.Encode(Bytes)[2..]);

    private static string ToChecksumString(string lowerHex)
    {
        var hash = Keccak256.Hash(lowerHex);
        var chars = new char[42];
        chars[0] = '0';
        chars[1] = 'x';
        for (var i = 0; i < 40; i++)
        {
            var nibble = (i % 2 == 0 ? hash[i / 2] >> 4 : hash[i / 2]) & 0xF;
            chars[2 + i] = nibble >= 8 ? char.ToUpperInvariant(lowerHex[i]) : lowerHex[i];
        }
        return new string(chars);
    }

    private static bool TryParse(string? text, out EthAddress address, out string error)
    {
        address = default;
        if (text is null || text.Length != 42 || text[0] != '0' || (text[1] != 'x' && text[1] != 'X'))
        {
            error = "an address is 0x followed by 40 hex digits";
            return false;
        }
        byte[] bytes;
        try { bytes = Hex.Decode(text); }
        catch (FormatException e) { error = e.Message; return false; }

        var digits = text.AsSpan(2);
        var hasLower = digits.ContainsAny("abcdef");
        var hasUpper = digits.ContainsAny("ABCDEF");
        if (hasLower && hasUpper && !digits.SequenceEqual(ToChecksumString(digits.ToString().ToLowerInvariant()).AsSpan(2)))
        {
            error = "mixed-case address does not match its EIP-55 checksum";
            return false;
        }
        address = new EthAddress(bytes);
        error = "";
        return true;
    }
}
