using System.Numerics;
using System.Text;
using Org.BouncyCastle.Crypto.Digests;
using Org.BouncyCastle.Crypto.Parameters;
using Org.BouncyCastle.Crypto.Signers;

namespace FlexChain.Ethereum;

/// <summary>
/// A secp256k1 private key that signs Ethereum hashes, transactions and EIP-191 messages.
/// Key material never appears in <see cref="ToString"/> or in exception messages.
/// </summary>
public sealed class EthereumKey
{
    private readonly ECPrivateKeyParameters _privateKey;

    /// <summary>A key from its 32 big-endian bytes.</summary>
    /// <exception cref="ArgumentException">Not 32 bytes, or not in [1, n - 1].</exception>
    public EthereumKey(ReadOnlySpan<byte> privateKey)
    {
        if (privateKey.Length != 32)
            throw new ArgumentException("a private key is 32 bytes", nameof(privateKey));
        var d = Hex.FromBigEndian(privateKey);
        if (d.IsZero || d >= Secp256k1.N)
            throw new ArgumentException("private key is outside [1, n - 1]", nameof(privateKey));
        _privateKey = new ECPrivateKeyParameters(Secp256k1.ToBc(d), Secp256k1.Domain);
        var publicPoint = Secp256k1.Domain.G.Multiply(_privateKey.D).Normalize();
        PublicKey = Secp256k1.Uncompressed(publicPoint)[1..];
        Address = EthAddress.FromPublicKey(PublicKey.Span);
    }

    /// <summary>The uncompressed public key x || y (64 bytes).</summary>
    public ReadOnlyMemory<byte> PublicKey { get; }

    /// <summary>The account address of this key.</summary>
    public EthAddress Address { get; }

    /// <summary>Reads a key from 0x-prefixed (or bare) hex of 32 bytes, as in configuration.</summary>
    /// <exception cref="FormatException">Not 64 hex digits.</exception>
    /// <exception cref="ArgumentException">Not a valid secp256k1 private key.</exception>
    public static EthereumKey FromHex(string privateKeyHex)
    {
        ArgumentNullException.ThrowIfNull(privateKeyHex);
        var text = privateKeyHex.Trim();
        if (!text.StartsWith("0x", StringComparison.OrdinalIgnoreCase))
            text = "0x" + text;
        var bytes = Hex.Decode(text, 32);
        try
        {
            return new EthereumKey(bytes);
        }
        finally
        {
            Array.Clear(bytes);
        }
    }

    /// <summary>
    /// Signs a 32-byte hash with a deterministic nonce (RFC 6979, HMAC-SHA256) and returns a low-s signature (EIP-2)
    /// with its recovery id.
    /// </summary>
    /// <exception cref="ArgumentException"><paramref name="hash"/> is not 32 bytes.</exception>
    public EthSignature Sign(ReadOnlySpan<byte> hash)
    {
        if (hash.Length != 32)
            throw new ArgumentException("only 32-byte hashes are signed", nameof(hash));
        var signer = new ECDsaSigner(new HMacDsaKCalculator(new Sha256Digest()));
        signer.Init(true, _privateKey);
        var parts = signer.GenerateSignature(hash.ToArray());
        var r = Secp256k1.ToBig(parts[0]);
        var s = Secp256k1.ToBig(parts[1]);
        if (s > Secp256k1.HalfN)
            s = Secp256k1.N - s; // negating s flips the parity of R; the recovery id search below accounts for it

        for (byte recoveryId = 0; recoveryId <= 1; recoveryId++)
        {
            var q = Secp256k1.RecoverPublicKey(hash, r, s, recoveryId);
            if (q is not null && Secp256k1.Uncompressed(q).AsSpan(1).SequenceEqual(PublicKey.Span))
                return new EthSignature(r, s, recoveryId);
        }
        throw new InvalidOperationException("could not compute the signature's recovery id");
    }

    /// <summary>
    /// EIP-191 version 0x45 (personal_sign): signs Keccak-256("\x19Ethereum Signed Message:\n" + length + message).
    /// The 65-byte form of the result (<see cref="EthSignature.ToBytes"/>) has v = 27 or 28.
    /// </summary>
    public EthSignature SignMessage(ReadOnlySpan<byte> message) => Sign(HashMessage(message));

    /// <summary>The EIP-191 personal_sign hash of <paramref name="message"/> (32 bytes).</summary>
    public static byte[] HashMessage(ReadOnlySpan<byte> message)
    {
        var prefix = Encoding.ASCII.GetBytes("\x19" + "Ethereum Signed Message:\n" + message.Length.ToString(System.Globalization.CultureInfo.InvariantCulture));
        var buffer = new byte[prefix.Length + message.Length];
        prefix.CopyTo(buffer, 0);
        message.CopyTo(buffer.AsSpan(prefix.Length));
        return Keccak256.Hash(buffer);
    }

    /// <summary>The address whose key produced <paramref name="signature"/> over the 32-byte <paramref name="hash"/> (ecrecover).</summary>
    /// <exception cref="ArgumentException"><paramref name="hash"/> is not 32 bytes.</exception>
    /// <exception cref="FormatException">No public key can be recovered (r is not a valid x coordinate).</exception>
    public static EthAddress RecoverAddress(ReadOnlySpan<byte> hash, EthSignature signature)
    {
        if (hash.Length != 32)
            throw new ArgumentException("only 32-byte hashes are signed", nameof(hash));
        var q = Secp256k1.RecoverPublicKey(hash, signature.R, signature.S, signature.RecoveryId)
            ?? throw new FormatException("no public key can be recovered from this signature");
        return EthAddress.FromPublicKey(Secp256k1.Uncompressed(q));
    }

    /// <summary>The signer of an EIP-191 personal_sign message, from the 65-byte signature (v = 27/28 or 0/1).</summary>
    /// <exception cref="ArgumentException">The signature is malformed.</exception>
    /// <exception cref="FormatException">No public key can be recovered.</exception>
    public static EthAddress RecoverMessageSigner(ReadOnlySpan<byte> message, ReadOnlySpan<byte> signature) =>
        RecoverAddress(HashMessage(message), EthSignature.FromBytes(signature));

    /// <summary>Shows the address only, never the key.</summary>
    public override string ToString() => $"EthereumKey({Address})";
}
