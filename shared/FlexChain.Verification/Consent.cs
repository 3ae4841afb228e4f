using System.Numerics;
using System.Text;
using FlexChain.Ethereum;
using Nethereum.ABI;
using Nethereum.ABI.FunctionEncoding.Attributes;
using Nethereum.Hex.HexConvertors.Extensions;
using Nethereum.Signer;
using Nethereum.Util;

namespace FlexChain.Verification;

/// <summary>
/// A DSO's consent to pay for one request, given as an EIP-712 signature over the escrow's type
/// <c>Consent(bytes32 requestHash,uint256 maxAmount,uint256 deadline,uint256 nonce)</c> in the domain
/// <c>{ name: "FlexSettlement", version: "1", chainId, verifyingContract: escrow }</c>. The escrow takes from the DSO
/// only amounts drawn under such consents (each at most <see cref="MaxAmount"/>, before <see cref="Deadline"/>, each
/// nonce once).
/// </summary>
/// <param name="RequestHash">Keccak-256 of the request's terms (<see cref="RequestHashOf"/>).</param>
/// <param name="MaxAmount">The most the DSO authorises for the request, in the token's smallest units.</param>
/// <param name="Deadline">Unix seconds after which the consent cannot be used.</param>
/// <param name="Nonce">The DSO's nonce; each is usable once.</param>
/// <param name="Signature">The 65-byte signature (0x, r || s || v) of <see cref="Digest"/>.</param>
public sealed record DsoConsent(Hash32 RequestHash, BigInteger MaxAmount, BigInteger Deadline, BigInteger Nonce, string Signature)
{
    /// <summary>The escrow's EIP-712 type string.</summary>
    public const string TypeString = "Consent(bytes32 requestHash,uint256 maxAmount,uint256 deadline,uint256 nonce)";

    private static readonly Hash32 DomainType =
        Keccak("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)");

    /// <summary>
    /// The request hash a DSO signs: Keccak-256 of <c>abi.encode(string transformerId, uint64 deliveryStart,
    /// uint64 deliveryEnd, uint256 energyWh, uint256 maxPriceMicroEurPerKwh, uint64 gateClosure)</c> (times in Unix
    /// seconds, energy in whole watt-hours, the price cap in micro-euros per kWh, each truncated).
    /// </summary>
    public static Hash32 RequestHashOf(string transformerId, long deliveryStart, long deliveryEnd, long energyWh, long maxPriceMicroEurPerKwh, long gateClosure) =>
        RecordHash.Of(new("string", transformerId), new("uint64", new BigInteger(deliveryStart)), new("uint64", new BigInteger(deliveryEnd)),
            new("uint256", new BigInteger(energyWh)), new("uint256", new BigInteger(maxPriceMicroEurPerKwh)), new("uint64", new BigInteger(gateClosure)));

    /// <summary>The EIP-712 digest of this consent for the escrow <paramref name="escrow"/> on chain <paramref name="chainId"/>.</summary>
    public Hash32 Digest(long chainId, EthAddress escrow)
    {
        var domain = RecordHash.Of(new("bytes32", DomainType.ToArray()), new("bytes32", Keccak("FlexSettlement").ToArray()),
            new("bytes32", Keccak("1").ToArray()), new("uint256", new BigInteger(chainId)), new("address", escrow.ToString()));
        var body = RecordHash.Of(new("bytes32", Keccak(TypeString).ToArray()), new("bytes32", RequestHash.ToArray()),
            new("uint256", MaxAmount), new("uint256", Deadline), new("uint256", Nonce));
        return new Hash32(Sha3Keccack.Current.CalculateHash([0x19, 0x01, .. domain.ToArray(), .. body.ToArray()]));
    }

    /// <summary>The address whose key made <see cref="Signature"/> over <see cref="Digest"/>, or null for a malformed signature.</summary>
    public EthAddress? Signer(long chainId, EthAddress escrow)
    {
        try
        {
            var key = EthECKey.RecoverFromSignature(EthECDSASignatureFactory.ExtractECDSASignature(Signature), Digest(chainId, escrow).ToArray());
            return key is null ? null : EthAddress.Parse(key.GetPublicAddress());
        }
        catch (Exception e) when (e is ArgumentException or FormatException or IndexOutOfRangeException or InvalidOperationException)
        {
            return null;
        }
    }

    /// <summary>Signs a consent with <paramref name="key"/> as a wallet's <c>eth_signTypedData_v4</c> does (for tests and tools).</summary>
    public static DsoConsent Sign(EthECKey key, long chainId, EthAddress escrow, Hash32 requestHash, BigInteger maxAmount, BigInteger deadline, BigInteger nonce)
    {
        ArgumentNullException.ThrowIfNull(key);
        var unsigned = new DsoConsent(requestHash, maxAmount, deadline, nonce, "");
        var signature = key.SignAndCalculateV(unsigned.Digest(chainId, escrow).ToArray());
        return unsigned with { Signature = EthECDSASignature.CreateStringSignature(signature) };
    }

    /// <summary>The contract's <c>Consent</c> tuple for <c>lockCycle</c>, drawing <paramref name="amount"/> under this consent.</summary>
    public CycleConsent Draw(BigInteger amount) => new()
    {
        RequestHash = RequestHash.ToArray(), MaxAmount = MaxAmount, Deadline = Deadline, Nonce = Nonce, Amount = amount,
        Signature = Signature.HexToByteArray(),
    };

    private static Hash32 Keccak(string text) => new(Sha3Keccack.Current.CalculateHash(Encoding.UTF8.GetBytes(text)));
}

/// <summary>The escrow's <c>Consent(bytes32 requestHash, uint256 maxAmount, uint256 deadline, uint256 nonce, uint256 amount, bytes signature)</c> tuple.</summary>
public sealed class CycleConsent
{
    [Parameter("bytes32", "requestHash", 1)] public byte[] RequestHash { get; set; } = [];
    [Parameter("uint256", "maxAmount", 2)] public BigInteger MaxAmount { get; set; }
    [Parameter("uint256", "deadline", 3)] public BigInteger Deadline { get; set; }
    [Parameter("uint256", "nonce", 4)] public BigInteger Nonce { get; set; }
    [Parameter("uint256", "amount", 5)] public BigInteger Amount { get; set; }
    [Parameter("bytes", "signature", 6)] public byte[] Signature { get; set; } = [];
}
