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
/// <param name="RequestHash">Keccak-256 of the request's terms (<see cref="RequestTerms.Hash"/>).</param>
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

/// <summary>
/// The terms of a request that its DSO's consent binds: every term a DSO could dispute about what it agreed to pay for.
/// Their hash, the consent's <c>requestHash</c>, is Keccak-256 of <c>abi.encode(string transformerId, uint64 deliveryStart,
/// uint64 deliveryEnd, uint256 energyWh, string direction, uint256 maxPriceMicroEurPerKwh, uint64 gateClosure,
/// string pricing, uint256 minimumOfferWh, string selection, uint64 decisionDeadline, string baseline, string payout,
/// uint256 successThresholdPpm, uint256 tolerancePpm, uint256 mbmaMinutes, uint256 x, uint256 y, bytes32 profileHash,
/// string availabilityId)</c>:
/// times in Unix seconds, energy in whole watt-hours, the price cap in micro-euros per kWh, the threshold and tolerance in
/// parts per million (each truncated), the enumerated terms by their API names, <c>profileHash</c> the
/// <see cref="ProfileRecord.Hash"/> of the power asked per interval (a request with <c>profileKw</c>: its intervals, the
/// window over their count, each kW x interval in Wh; a flat request: <see cref="ProfileRecord.Flat"/>, its energy over
/// its whole window), <c>availabilityId</c> the availability contract a call names ("" for an ordinary request), so a
/// consent for a call on one contract cannot pay a call on another. A term the request leaves out takes its default, as
/// the API does: a minimum offer or decision deadline the request does not set is 0.
/// </summary>
/// <param name="ProfileHash">The hash of the request's profile; null for a flat request (<see cref="ProfileRecord.Flat"/> of its window and energy).</param>
/// <param name="AvailabilityId">The availability contract a call names; empty for an ordinary request.</param>
public sealed record RequestTerms(
    string TransformerId, long DeliveryStart, long DeliveryEnd, long EnergyWh, long MaxPriceMicroEurPerKwh, long GateClosure,
    string Direction = "ReduceConsumption", string Pricing = "PayAsBid", long MinimumOfferWh = 0, string Selection = "Automatic",
    long DecisionDeadline = 0, string Baseline = "MeterBeforeMeterAfter", string Payout = "ZeroBelowThreshold",
    long SuccessThresholdPpm = 800_000, long TolerancePpm = 100_000, int MbmaMinutes = 60, int X = 4, int Y = 5, Hash32? ProfileHash = null,
    string AvailabilityId = "")
{
    /// <summary>The request hash a DSO signs in its consent.</summary>
    public Hash32 Hash() => RecordHash.Of(
        new("string", TransformerId), new("uint64", new BigInteger(DeliveryStart)), new("uint64", new BigInteger(DeliveryEnd)),
        new("uint256", new BigInteger(EnergyWh)), new("string", Direction), new("uint256", new BigInteger(MaxPriceMicroEurPerKwh)),
        new("uint64", new BigInteger(GateClosure)), new("string", Pricing), new("uint256", new BigInteger(MinimumOfferWh)),
        new("string", Selection), new("uint64", new BigInteger(DecisionDeadline)), new("string", Baseline), new("string", Payout),
        new("uint256", new BigInteger(SuccessThresholdPpm)), new("uint256", new BigInteger(TolerancePpm)), new("uint256", new BigInteger(MbmaMinutes)),
        new("uint256", new BigInteger(X)), new("uint256", new BigInteger(Y)),
        new("bytes32", (ProfileHash ?? ProfileRecord.Flat(DeliveryStart, DeliveryEnd, EnergyWh).Hash()).ToArray()), new("string", AvailabilityId));
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
