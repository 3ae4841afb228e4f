using System.Numerics;
using Org.BouncyCastle.Asn1.X9;
using Org.BouncyCastle.Crypto.EC;
using Org.BouncyCastle.Crypto.Parameters;
using Org.BouncyCastle.Math.EC;
using BcBigInteger = Org.BouncyCastle.Math.BigInteger;

namespace FlexChain.Ethereum;

/// <summary>The secp256k1 curve parameters and the conversions to BouncyCastle types.</summary>
internal static class Secp256k1
{
    public static readonly X9ECParameters Curve = CustomNamedCurves.GetByName("secp256k1");
    public static readonly ECDomainParameters Domain = new(Curve.Curve, Curve.G, Curve.N, Curve.H);
    public static readonly BigInteger N = ToBig(Curve.N);
    public static readonly BigInteger HalfN = N >> 1;

    public static BcBigInteger ToBc(BigInteger value) => new(1, Hex.ToBigEndian(value, 32));

    public static BigInteger ToBig(BcBigInteger value) => Hex.FromBigEndian(value.ToByteArrayUnsigned());

    /// <summary>SEC 1 v2 section 4.1.6: the public key Q with s*R = e*G + r*Q, for the R selected by the recovery id.</summary>
    public static ECPoint? RecoverPublicKey(ReadOnlySpan<byte> hash, BigInteger r, BigInteger s, int recoveryId)
    {
        // Ethereum only uses recovery ids 0 and 1, i.e. R.x == r (r + n would exceed p with negligible probability).
        var xBytes = Hex.ToBigEndian(r, 32);
        var compressed = new byte[33];
        compressed[0] = (byte)(recoveryId == 1 ? 0x03 : 0x02);
        xBytes.CopyTo(compressed, 1);
        ECPoint pointR;
        try
        {
            pointR = Curve.Curve.DecodePoint(compressed);
        }
        catch (ArgumentException)
        {
            return null; // r is not the x coordinate of a curve point
        }

        var n = Curve.N;
        var e = new BcBigInteger(1, hash.ToArray());
        var rInv = ToBc(r).ModInverse(n);
        var eInvRInv = e.Negate().Mod(n).Multiply(rInv).Mod(n);
        var sRInv = ToBc(s).Multiply(rInv).Mod(n);
        var q = ECAlgorithms.SumOfTwoMultiplies(Curve.G, eInvRInv, pointR, sRInv).Normalize();
        return q.IsInfinity ? null : q;
    }

    public static byte[] Uncompressed(ECPoint point) => point.Normalize().GetEncoded(false);
}
