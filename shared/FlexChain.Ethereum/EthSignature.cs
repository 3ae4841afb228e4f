using System.Numerics;

namespace FlexChain.Ethereum;

/// <summary>
/// A secp256k1 ECDSA signature with its recovery id: r and s in [1, n - 1], <see cref="RecoveryId"/> 0 or 1
/// (the parity of the y coordinate of the ephemeral point R).
/// </summary>
/// <remarks>Signatures are not secret, but they are kept out of logs (STYLE.md), so <see cref="ToString"/> does not show them.</remarks>
public readonly record struct EthSignature
{
    /// <summary>A signature from its parts.</summary>
    /// <exception cref="ArgumentOutOfRangeException">r or s outside [1, n - 1], or a recovery id other than 0 or 1.</exception>
    public EthSignature(BigInteger r, BigInteger s, byte recoveryId)
    {
        if (r.Sign <= 0 || r >= Secp256k1.N)
            throw new ArgumentOutOfRangeException(nameof(r), "r must be in [1, n - 1]");
        if (s.Sign <= 0 || s >= Secp256k1.N)
            throw new ArgumentOutOfRangeException(nameof(s), "s must be in [1, n - 1]");
        if (recoveryId > 1)
            throw new ArgumentOutOfRangeException(nameof(recoveryId), "recovery id must be 0 or 1");
        R = r;
        S = s;
        RecoveryId = recoveryId;
    }

    /// <summary>The r value.</summary>
    public BigInteger R { get; }

    /// <summary>The s value; signatures made by <see cref="EthereumKey"/> have s &lt;= n/2 (EIP-2).</summary>
    public BigInteger S { get; }

    /// <summary>0 or 1; also the "yParity" of typed transactions.</summary>
    public byte RecoveryId { get; }

    /// <summary>Whether s is in the lower half of the curve order, as EIP-2 requires of transactions.</summary>
    public bool IsLowS => S <= Secp256k1.HalfN;

    /// <summary>The 65-byte form r (32) || s (32) || v, with v = 27 + recovery id (as personal_sign returns).</summary>
    public byte[] ToBytes()
    {
        var result = new byte[65];
        Hex.ToBigEndian(R, 32).CopyTo(result, 0);
        Hex.ToBigEndian(S, 32).CopyTo(result, 32);
        result[64] = (byte)(27 + RecoveryId);
        return result;
    }

    /// <summary>Reads r || s || v where v is 27/28 or 0/1.</summary>
    /// <exception cref="ArgumentException">Not 65 bytes, v not in {0, 1, 27, 28}, or r/s out of range.</exception>
    public static EthSignature FromBytes(ReadOnlySpan<byte> signature)
    {
        if (signature.Length != 65)
            throw new ArgumentException("a signature is 65 bytes: r || s || v", nameof(signature));
        var v = signature[64];
        byte recoveryId = v switch
        {
            0 or 1 => v,
            27 or 28 => (byte)(v - 27),
            _ => throw new ArgumentException("signature v must be 27, 28, 0 or 1", nameof(signature)),
        };
        try
        {
            return new EthSignature(Hex.FromBigEndian(signature[..32]), Hex.FromBigEndian(signature[32..64]), recoveryId);
        }
        catch (ArgumentOutOfRangeException e)
        {
            throw new ArgumentException(e.Message, nameof(signature), e);
        }
    }

    /// <summary>A placeholder that does not reveal the signature; use <see cref="ToBytes"/> for its value.</summary>
    public override string ToString() => "EthSignature(65 bytes)";
}
