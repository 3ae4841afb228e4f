using System.Buffers.Binary;
using System.Numerics;
using System.Text;
using FlexChain.Ethereum;
using FlexChain.Ethereum.Abi;

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
        var bytes = Keccak256.Hash(Encoding.UTF8.GetBytes("flexchain:cycle:" + key));
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
/// uint256 lockedUnits, uint64 deliveryStart, uint64 deliveryEnd)</c> (times in Unix seconds, amounts in the token's
/// smallest units); it is the award's <c>awardHash</c> in the cycle's committed award list, so anyone can recompute it
/// from the published fields.
/// </summary>
public sealed record AwardRecord(
    Hash32 AwardId, EthAddress Dso, EthAddress Cpo, long EnergyWh, long PriceMicroEurPerKwh, BigInteger LockedUnits,
    long DeliveryStart, long DeliveryEnd)
{
    public const string Abi = "bytes32,address,address,uint256,uint256,uint256,uint64,uint64";

    /// <summary>The canonical hash, recomputed from the fields.</summary>
    public Hash32 Hash() => new(Keccak256.Hash(AbiCodec.Encode(Abi,
        AwardId, Dso, Cpo, EnergyWh, PriceMicroEurPerKwh, LockedUnits, DeliveryStart, DeliveryEnd)));
}

/// <summary>
/// The off-chain record of a settlement. Canonical hash: Keccak-256 of <c>abi.encode(bytes32 awardId,
/// uint256 awardedWh, int256 baselineWh, int256 measuredWh, int256 deliveredWh, bool succeeded, uint256 payoutUnits,
/// uint256 lockedUnits)</c>; it is the <c>settlementHash</c> of the award's <c>AwardSettled</c> event.
/// </summary>
public sealed record SettlementRecord(
    Hash32 AwardId, long AwardedWh, long BaselineWh, long MeasuredWh, long DeliveredWh, bool Succeeded, BigInteger PayoutUnits,
    BigInteger LockedUnits)
{
    public const string Abi = "bytes32,uint256,int256,int256,int256,bool,uint256,uint256";

    /// <summary>The canonical hash, recomputed from the fields.</summary>
    public Hash32 Hash() => new(Keccak256.Hash(AbiCodec.Encode(Abi,
        AwardId, AwardedWh, BaselineWh, MeasuredWh, DeliveredWh, Succeeded, PayoutUnits, LockedUnits)));
}

/// <summary>
/// The commitment the escrow stores for a cycle's award list: Keccak-256 of <c>abi.encode(CycleAward[])</c> with
/// <c>CycleAward = (address cpo, uint256 amount, bytes32 awardHash)</c>, in list (award index) order.
/// </summary>
public static class CycleCommitment
{
    public const string Abi = "(address,uint256,bytes32)[]";

    /// <summary>The list as ABI values (one <c>(cpo, lockedUnits, awardHash)</c> tuple per award), as <c>lockCycle</c> and <c>settleCycle</c> take it.</summary>
    public static object[] Tuples(IReadOnlyList<AwardRecord> awards)
    {
        ArgumentNullException.ThrowIfNull(awards);
        return awards.Select(a => (object)new object[] { a.Cpo, a.LockedUnits, a.Hash() }).ToArray();
    }

    /// <summary>The commitment (<c>awardsHash</c>) of the list.</summary>
    public static Hash32 Hash(IReadOnlyList<AwardRecord> awards) => new(Keccak256.Hash(AbiCodec.Encode(Abi, (object)Tuples(awards))));
}

/// <summary>The escrow's functions and events that verification reads (see contracts-sol/README.md).</summary>
public static class EscrowAbi
{
    public static readonly AbiFunction GetCycle = AbiFunction.Parse(
        "getCycle(bytes32 cycleId) returns ((address,uint64,uint8,uint128,uint128,bytes32))");
    public static readonly AbiFunction Token = AbiFunction.Parse("token() returns (address)");
    public static readonly AbiFunction Decimals = AbiFunction.Parse("decimals() returns (uint8)");
    public static readonly AbiEvent CycleLocked = AbiEvent.Parse(
        "CycleLocked(bytes32 indexed cycleId, address indexed dso, uint256 total, uint64 refundAfter, uint256 awardCount, bytes32 awardsHash)");
    public static readonly AbiEvent CycleSettled = AbiEvent.Parse(
        "CycleSettled(bytes32 indexed cycleId, address indexed dso, uint256 paid, uint256 refunded)");
    public static readonly AbiEvent AwardSettled = AbiEvent.Parse(
        "AwardSettled(bytes32 indexed awardId, address indexed cpo, address indexed dso, uint256 paid, uint256 refunded, bytes32 settlementHash)");

    /// <summary>An address as an indexed topic (left-padded to 32 bytes).</summary>
    public static Hash32 Topic(EthAddress address)
    {
        var bytes = new byte[32];
        address.Bytes.CopyTo(bytes.AsSpan(12));
        return new Hash32(bytes);
    }
}
