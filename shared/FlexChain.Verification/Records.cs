using System.Buffers.Binary;
using System.Numerics;
using System.Text;
using FlexChain.Ethereum;
using Nethereum.ABI;
using Nethereum.ABI.FunctionEncoding;
using Nethereum.ABI.FunctionEncoding.Attributes;
using Nethereum.Contracts;
using Nethereum.Hex.HexConvertors.Extensions;
using Nethereum.Util;

namespace FlexChain.Verification;

/// <summary>
/// Awards are locked and settled on chain in escrow batches, each one escrow cycle. Its id is Keccak-256 of
/// <c>"flexchain:cycle:" + batch key</c> (<c>{gateCycleId}/{batchNumber}</c>) with the low 32 bits cleared; the award
/// at 0-based position i of the batch has the on-chain id <c>cycleId | (i + 1)</c> (the contract's
/// <c>cycleAwardId</c>), so an award id leads back to its cycle and position.
/// </summary>
public static class EscrowIds
{
    /// <summary>The escrow cycle id of an escrow batch key.</summary>
    public static Hash32 Cycle(string key)
    {
        ArgumentNullException.ThrowIfNull(key);
        var bytes = Sha3Keccack.Current.CalculateHash(Encoding.UTF8.GetBytes("flexchain:cycle:" + key));
        bytes.AsSpan(28).Clear();
        return new Hash32(bytes);
    }

    /// <summary>The id of the award at 0-based <paramref name="index"/> of the cycle.</summary>
    /// <exception cref="OverflowException"><paramref name="index"/> is negative or beyond 2^32 - 2.</exception>
    public static Hash32 Award(Hash32 cycleId, int index)
    {
        var bytes = cycleId.ToArray();
        BinaryPrimitives.WriteUInt32BigEndian(bytes.AsSpan(28), checked((uint)(index + 1)));
        return new Hash32(bytes);
    }

    /// <summary>The cycle an award id belongs to (<c>id &amp; ~0xffffffff</c>).</summary>
    public static Hash32 CycleOf(Hash32 awardId)
    {
        var bytes = awardId.ToArray();
        bytes.AsSpan(28).Clear();
        return new Hash32(bytes);
    }

    /// <summary>The 0-based position of an award in its cycle, or -1 when the id is a cycle id (low 32 bits zero).</summary>
    public static long IndexOf(Hash32 awardId) => (long)BinaryPrimitives.ReadUInt32BigEndian(awardId.Bytes[28..]) - 1;
}

/// <summary>
/// The off-chain record of an award as it is locked in escrow. Its canonical hash is Keccak-256 of the ABI encoding
/// <c>abi.encode(bytes32 awardId, address dso, address cpo, uint256 energyWh, uint256 priceMicroEurPerKwh,
/// uint256 lockedUnits, uint64 deliveryStart, uint64 deliveryEnd, bytes32 profileHash)</c> (times in Unix seconds,
/// amounts in the token's smallest units, <c>profileHash</c> the <see cref="ProfileRecord.Hash"/> of the power awarded
/// per interval); it is the award's <c>awardHash</c> in the cycle's committed award list, so anyone can recompute it
/// from the published fields.
/// </summary>
public sealed record AwardRecord(
    Hash32 AwardId, EthAddress Dso, EthAddress Cpo, long EnergyWh, long PriceMicroEurPerKwh, BigInteger LockedUnits,
    long DeliveryStart, long DeliveryEnd, Hash32 ProfileHash) : IEscrowEntry
{
    /// <summary>The canonical hash, recomputed from the fields.</summary>
    public Hash32 Hash() => RecordHash.Of(
        new("bytes32", AwardId.ToArray()), new("address", Dso.ToString()), new("address", Cpo.ToString()),
        new("uint256", new BigInteger(EnergyWh)), new("uint256", new BigInteger(PriceMicroEurPerKwh)), new("uint256", LockedUnits),
        new("uint64", new BigInteger(DeliveryStart)), new("uint64", new BigInteger(DeliveryEnd)), new("bytes32", ProfileHash.ToArray()));
}

/// <summary>
/// A power profile as the records bind it: the energy of each interval of a delivery window, in whole watt-hours, and the
/// intervals' length, in seconds (the window cut from its start; the power of an interval is its energy over its length:
/// kW = energyWh x 3.6 / intervalSeconds). Its hash, a record's <c>profileHash</c>, is Keccak-256 of
/// <c>abi.encode(uint64 intervalSeconds, uint256[] energyWh)</c>. A profile is exact to the watt-hour per interval
/// (the API's rule), so watt-hours, not kW, are hashed: a flat request or award, whose energy is spread evenly over its
/// window, is then exact too, as the one interval of the whole window (<see cref="Flat"/>).
/// </summary>
/// <param name="IntervalSeconds">The length of each interval (positive).</param>
/// <param name="EnergyWh">The energy of each interval from the window's start, in Wh (0 for an interval with nothing scheduled).</param>
public sealed record ProfileRecord(long IntervalSeconds, IReadOnlyList<long> EnergyWh)
{
    /// <summary>The profile's hash.</summary>
    public Hash32 Hash() => RecordHash.Of(
        new("uint64", new BigInteger(IntervalSeconds)), new("uint256[]", EnergyWh.Select(wh => new BigInteger(wh)).ToList()));

    /// <summary>The profile of <paramref name="energyWh"/> spread evenly over the window [<paramref name="start"/>, <paramref name="end"/>) (Unix seconds): one interval.</summary>
    public static ProfileRecord Flat(long start, long end, long energyWh) => new(end - start, [energyWh]);
}

/// <summary>
/// The off-chain record of a settlement. Canonical hash: Keccak-256 of <c>abi.encode(bytes32 awardId,
/// uint256 awardedWh, int256 baselineWh, int256 measuredWh, int256 deliveredWh, bool succeeded, uint256 payoutUnits,
/// uint256 lockedUnits)</c>; it is the <c>settlementHash</c> of the award's <c>AwardSettled</c> event.
/// </summary>
public sealed record SettlementRecord(
    Hash32 AwardId, long AwardedWh, long BaselineWh, long MeasuredWh, long DeliveredWh, bool Succeeded, BigInteger PayoutUnits,
    BigInteger LockedUnits) : ISettlementEntry
{
    /// <summary>The canonical hash, recomputed from the fields.</summary>
    public Hash32 Hash() => RecordHash.Of(
        new("bytes32", AwardId.ToArray()), new("uint256", new BigInteger(AwardedWh)), new("int256", new BigInteger(BaselineWh)),
        new("int256", new BigInteger(MeasuredWh)), new("int256", new BigInteger(DeliveredWh)), new("bool", Succeeded),
        new("uint256", PayoutUnits), new("uint256", LockedUnits));
}

/// <summary>Keccak-256 of Nethereum's <c>abi.encode</c> of typed values: every record's canonical hash.</summary>
internal static class RecordHash
{
    public static Hash32 Of(params ABIValue[] values) => new(Sha3Keccack.Current.CalculateHash(new ABIEncode().GetABIEncoded(values)));
}

/// <summary>One entry of a cycle's committed award list: the contract's <c>CycleAward(address cpo, uint256 amount, bytes32 awardHash)</c>.</summary>
public sealed class CycleAward
{
    [Parameter("address", "cpo", 1)] public string Cpo { get; set; } = "";
    [Parameter("uint256", "amount", 2)] public BigInteger Amount { get; set; }
    [Parameter("bytes32", "awardHash", 3)] public byte[] AwardHash { get; set; } = [];
}

/// <summary>
/// The commitment the escrow stores for a cycle's award list: Keccak-256 of <c>abi.encode(CycleAward[])</c> with
/// <c>CycleAward = (address cpo, uint256 amount, bytes32 awardHash)</c>, in list (award index) order.
/// </summary>
public static class CycleCommitment
{
    /// <summary>The list as the contract takes it (one <c>(cpo, lockedUnits, awardHash)</c> entry per award).</summary>
    public static List<CycleAward> Entries(IReadOnlyList<IEscrowEntry> awards)
    {
        ArgumentNullException.ThrowIfNull(awards);
        return awards.Select(a => new CycleAward { Cpo = a.Cpo.ToString(), Amount = a.LockedUnits, AwardHash = a.Hash().ToArray() }).ToList();
    }

    /// <summary>The commitment (<c>awardsHash</c>) of the list.</summary>
    public static Hash32 Hash(IReadOnlyList<IEscrowEntry> awards) => Hash(Entries(awards));

    /// <summary>The commitment (<c>awardsHash</c>) of a list of entries.</summary>
    public static Hash32 Hash(List<CycleAward> entries) =>
        new(Sha3Keccack.Current.CalculateHash(new ABIEncode().GetABIParamsEncoded(new AwardList { Awards = entries })));

    private sealed class AwardList
    {
        [Parameter("tuple[]", "awards", 1)] public List<CycleAward> Awards { get; set; } = [];
    }
}

/// <summary>What <c>getCycle</c> returns: the contract's <c>Cycle</c> struct.</summary>
public sealed class CycleStruct
{
    [Parameter("address", "dso", 1)] public string Dso { get; set; } = "";
    [Parameter("uint64", "refundAfter", 2)] public ulong RefundAfter { get; set; }
    [Parameter("uint8", "status", 3)] public byte Status { get; set; }
    [Parameter("uint128", "total", 4)] public BigInteger Total { get; set; }
    [Parameter("uint128", "paid", 5)] public BigInteger Paid { get; set; }
    [Parameter("bytes32", "awardsHash", 6)] public byte[] AwardsHash { get; set; } = [];
}

/// <summary>The escrow's <c>getCycle(bytes32 cycleId)</c>.</summary>
[Function("getCycle", typeof(GetCycleOutput))]
public sealed class GetCycleFunction : FunctionMessage
{
    [Parameter("bytes32", "cycleId", 1)] public byte[] CycleId { get; set; } = [];
}

/// <summary>The output of <see cref="GetCycleFunction"/>.</summary>
[FunctionOutput]
public sealed class GetCycleOutput : IFunctionOutputDTO
{
    [Parameter("tuple", "", 1)] public CycleStruct Cycle { get; set; } = new();
}

/// <summary>The escrow's <c>token()</c>: its payment token.</summary>
[Function("token", "address")]
public sealed class TokenFunction : FunctionMessage;

/// <summary><c>CycleLocked</c>: a cycle's total was taken from its DSO, committing to its award list.</summary>
[Event("CycleLocked")]
public sealed class CycleLockedEvent : IEventDTO
{
    [Parameter("bytes32", "cycleId", 1, true)] public byte[] CycleId { get; set; } = [];
    [Parameter("address", "dso", 2, true)] public string Dso { get; set; } = "";
    [Parameter("uint256", "total", 3, false)] public BigInteger Total { get; set; }
    [Parameter("uint64", "refundAfter", 4, false)] public ulong RefundAfter { get; set; }
    [Parameter("uint256", "awardCount", 5, false)] public BigInteger AwardCount { get; set; }
    [Parameter("bytes32", "awardsHash", 6, false)] public byte[] AwardsHash { get; set; } = [];
}

/// <summary><c>CycleSettled</c>: a cycle's awards were paid and the rest refunded to its DSO.</summary>
[Event("CycleSettled")]
public sealed class CycleSettledEvent : IEventDTO
{
    [Parameter("bytes32", "cycleId", 1, true)] public byte[] CycleId { get; set; } = [];
    [Parameter("address", "dso", 2, true)] public string Dso { get; set; } = "";
    [Parameter("uint256", "paid", 3, false)] public BigInteger Paid { get; set; }
    [Parameter("uint256", "refunded", 4, false)] public BigInteger Refunded { get; set; }
}

/// <summary><c>CycleRefunded</c>: a locked cycle's whole total went back to its DSO after its refund time, unsettled.</summary>
[Event("CycleRefunded")]
public sealed class CycleRefundedEvent : IEventDTO
{
    [Parameter("bytes32", "cycleId", 1, true)] public byte[] CycleId { get; set; } = [];
    [Parameter("address", "dso", 2, true)] public string Dso { get; set; } = "";
    [Parameter("uint256", "amount", 3, false)] public BigInteger Amount { get; set; }
}

/// <summary><c>AwardSettled</c>: one award's payment to its CPO, the refund to its DSO and its settlement record's hash.</summary>
[Event("AwardSettled")]
public sealed class AwardSettledEvent : IEventDTO
{
    [Parameter("bytes32", "awardId", 1, true)] public byte[] AwardId { get; set; } = [];
    [Parameter("address", "cpo", 2, true)] public string Cpo { get; set; } = "";
    [Parameter("address", "dso", 3, true)] public string Dso { get; set; } = "";
    [Parameter("uint256", "paid", 4, false)] public BigInteger Paid { get; set; }
    [Parameter("uint256", "refunded", 5, false)] public BigInteger Refunded { get; set; }
    [Parameter("bytes32", "settlementHash", 6, false)] public byte[] SettlementHash { get; set; } = [];
}

/// <summary><c>AwardRefunded</c>: an award of a cycle refunded to its DSO unsettled, after the refund time (the CPO was not paid).</summary>
[Event("AwardRefunded")]
public sealed class AwardRefundedEvent : IEventDTO
{
    [Parameter("bytes32", "awardId", 1, true)] public byte[] AwardId { get; set; } = [];
    [Parameter("address", "cpo", 2, true)] public string Cpo { get; set; } = "";
    [Parameter("address", "dso", 3, true)] public string Dso { get; set; } = "";
    [Parameter("uint256", "amount", 4, false)] public BigInteger Amount { get; set; }
}

/// <summary><c>PaymentCredited</c>: the token refused a payment, credited to the account to claim later.</summary>
[Event("PaymentCredited")]
public sealed class PaymentCreditedEvent : IEventDTO
{
    [Parameter("address", "account", 1, true)] public string Account { get; set; } = "";
    [Parameter("uint256", "amount", 2, false)] public BigInteger Amount { get; set; }
}

/// <summary>The ERC-20 <c>Transfer</c> event of the payment token.</summary>
[Event("Transfer")]
public sealed class TokenTransferEvent : IEventDTO
{
    [Parameter("address", "from", 1, true)] public string From { get; set; } = "";
    [Parameter("address", "to", 2, true)] public string To { get; set; } = "";
    [Parameter("uint256", "value", 3, false)] public BigInteger Value { get; set; }
}

/// <summary>Topics of the escrow's events, for log filters.</summary>
public static class EscrowTopics
{
    /// <summary>The topic 0 (signature hash) of an event DTO, 0x-hex.</summary>
    public static Hash32 Of<TEvent>() where TEvent : IEventDTO => Hash32.Parse("0x" + EventExtensions.GetEventABI<TEvent>().Sha3Signature);

    /// <summary>An address as an indexed topic (left-padded to 32 bytes).</summary>
    public static Hash32 Of(EthAddress address)
    {
        var bytes = new byte[32];
        address.Bytes.CopyTo(bytes.AsSpan(12));
        return new Hash32(bytes);
    }
}

/// <summary>
/// A list of records as one ABI value, the form they are stored in as snapshots: <c>abi.encode(records)</c> of the
/// award records as <c>(bytes32,address,address,uint256,uint256,uint256,uint64,uint64)[]</c> or of the settlement
/// records as <c>(bytes32,uint256,int256,int256,int256,bool,uint256,uint256)[]</c>, each tuple the fields of the
/// record's canonical hash in their order.
/// </summary>
public static class RecordEncoding
{
    /// <summary>The ABI encoding of the award records.</summary>
    public static byte[] Encode(IReadOnlyList<AwardRecord> records)
    {
        ArgumentNullException.ThrowIfNull(records);
        return new ABIEncode().GetABIParamsEncoded(new AwardList { Records = records.Select(AwardTuple.From).ToList() });
    }

    /// <summary>The ABI encoding of the settlement records.</summary>
    public static byte[] Encode(IReadOnlyList<SettlementRecord> records)
    {
        ArgumentNullException.ThrowIfNull(records);
        return new ABIEncode().GetABIParamsEncoded(new SettlementList { Records = records.Select(SettlementTuple.From).ToList() });
    }

    /// <summary>The award records of an encoding made by <see cref="Encode(IReadOnlyList{AwardRecord})"/>.</summary>
    public static IReadOnlyList<AwardRecord> DecodeAwards(byte[] encoded) =>
        new FunctionCallDecoder().DecodeFunctionOutput<AwardList>(encoded.ToHex(prefix: true)).Records.Select(t => t.ToRecord()).ToList();

    /// <summary>The settlement records of an encoding made by <see cref="Encode(IReadOnlyList{SettlementRecord})"/>.</summary>
    public static IReadOnlyList<SettlementRecord> DecodeSettlements(byte[] encoded) =>
        new FunctionCallDecoder().DecodeFunctionOutput<SettlementList>(encoded.ToHex(prefix: true)).Records.Select(t => t.ToRecord()).ToList();

    [FunctionOutput]
    private sealed class AwardList : IFunctionOutputDTO
    {
        [Parameter("tuple[]", "records", 1)] public List<AwardTuple> Records { get; set; } = [];
    }

    [FunctionOutput]
    private sealed class SettlementList : IFunctionOutputDTO
    {
        [Parameter("tuple[]", "records", 1)] public List<SettlementTuple> Records { get; set; } = [];
    }

    private sealed class AwardTuple
    {
        [Parameter("bytes32", "awardId", 1)] public byte[] AwardId { get; set; } = [];
        [Parameter("address", "dso", 2)] public string Dso { get; set; } = "";
        [Parameter("address", "cpo", 3)] public string Cpo { get; set; } = "";
        [Parameter("uint256", "energyWh", 4)] public BigInteger EnergyWh { get; set; }
        [Parameter("uint256", "priceMicroEurPerKwh", 5)] public BigInteger Price { get; set; }
        [Parameter("uint256", "lockedUnits", 6)] public BigInteger LockedUnits { get; set; }
        [Parameter("uint64", "deliveryStart", 7)] public ulong DeliveryStart { get; set; }
        [Parameter("uint64", "deliveryEnd", 8)] public ulong DeliveryEnd { get; set; }
        [Parameter("bytes32", "profileHash", 9)] public byte[] ProfileHash { get; set; } = [];

        public static AwardTuple From(AwardRecord r) => new()
        {
            AwardId = r.AwardId.ToArray(), Dso = r.Dso.ToString(), Cpo = r.Cpo.ToString(), EnergyWh = r.EnergyWh, Price = r.PriceMicroEurPerKwh,
            LockedUnits = r.LockedUnits, DeliveryStart = checked((ulong)r.DeliveryStart), DeliveryEnd = checked((ulong)r.DeliveryEnd),
            ProfileHash = r.ProfileHash.ToArray(),
        };

        public AwardRecord ToRecord() => new(new Hash32(AwardId), EthAddress.Parse(Dso), EthAddress.Parse(Cpo), (long)EnergyWh, (long)Price, LockedUnits,
            checked((long)DeliveryStart), checked((long)DeliveryEnd), new Hash32(ProfileHash));
    }

    private sealed class SettlementTuple
    {
        [Parameter("bytes32", "awardId", 1)] public byte[] AwardId { get; set; } = [];
        [Parameter("uint256", "awardedWh", 2)] public BigInteger AwardedWh { get; set; }
        [Parameter("int256", "baselineWh", 3)] public BigInteger BaselineWh { get; set; }
        [Parameter("int256", "measuredWh", 4)] public BigInteger MeasuredWh { get; set; }
        [Parameter("int256", "deliveredWh", 5)] public BigInteger DeliveredWh { get; set; }
        [Parameter("bool", "succeeded", 6)] public bool Succeeded { get; set; }
        [Parameter("uint256", "payoutUnits", 7)] public BigInteger PayoutUnits { get; set; }
        [Parameter("uint256", "lockedUnits", 8)] public BigInteger LockedUnits { get; set; }

        public static SettlementTuple From(SettlementRecord r) => new()
        {
            AwardId = r.AwardId.ToArray(), AwardedWh = r.AwardedWh, BaselineWh = r.BaselineWh, MeasuredWh = r.MeasuredWh, DeliveredWh = r.DeliveredWh,
            Succeeded = r.Succeeded, PayoutUnits = r.PayoutUnits, LockedUnits = r.LockedUnits,
        };

        public SettlementRecord ToRecord() => new(new Hash32(AwardId), (long)AwardedWh, (long)BaselineWh, (long)MeasuredWh, (long)DeliveredWh, Succeeded,
            PayoutUnits, LockedUnits);
    }
}
