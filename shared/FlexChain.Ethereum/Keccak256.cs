using Org.BouncyCastle.Crypto.Digests;

namespace FlexChain.Ethereum;

/// <summary>
/// Keccak-256 as used by Ethereum (the original Keccak padding, not NIST SHA3-256).
/// </summary>
public static class Keccak256
{
    /// <summary>Length of a Keccak-256 hash in bytes.</summary>
    public const int HashLength = 32;

    /// <summary>Hashes <paramref name="data"/>; returns 32 bytes.</summary>
    public static byte[] Hash(ReadOnlySpan<byte> data)
    {
        var digest = new KeccakDigest(256);
        var input = data.ToArray();
        digest.BlockUpdate(input, 0, input.Length);
        var output = new byte[HashLength];
        digest.DoFinal(output, 0);
        return output;
    }

    /// <summary>Hashes the UTF-8 bytes of <paramref name="text"/> (function and event signatures); returns 32 bytes.</summary>
    public static byte[] Hash(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return Hash(System.Text.Encoding.UTF8.GetBytes(text));
    }
}
