using System.Numerics;
using System.Text;
using FlexChain.Domain;
using FlexChain.Ethereum;
using FlexChain.Ethereum.Abi;

namespace FlexChain.Functions.Settlement;

/// <summary>
/// A request's awards are locked and settled on chain as one escrow cycle. Its id is Keccak-256 of
/// <c>"flexchain:cycle:" + request id</c> with the low 32 bits cleared; the award at 0-based position i of the
/// request's awards has the on-chain id <c>cycleId | (i + 1)</c> (the contract's <c>cycleAwardId</c>).
/// </summary>
public static class EscrowIds
{
    public static Hash32 Cycle(string requestId)
    {
        var bytes = Keccak256.Hash(Encoding.UTF8.GetBytes("flexchain:cycle:" + requestId));
        bytes.AsSpan(28).Clear();
        return new Hash32(bytes);
    }

    public static Hash32 Award(Hash32 cycleId, int index)
    {
        var bytes = cycleId.ToArray();
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(bytes.AsSpan(28), checked((uint)(index + 1)));
        return new Hash32(bytes);
    }
}

/// <summary>
/// The off-chain record of an award as it is locked in escrow. Its canonical hash is Keccak-256 of the ABI encoding
/// <c>abi.encode(bytes32 awardId, address dso, address cpo, uint256 energyWh, uint256 priceMicroEurPerKwh,
/// uint256 lockedUnits, uint64 deliveryStart, uint64 deliveryEnd)</c> (times in Unix seconds); it is the award's
/// <c>awardHash</c> in the cycle's committed award list, so anyone can recompute it from the published fields.
/// </summary>
public sealed record AwardRecord(
    Hash32 AwardId, EthAddress Dso, EthAddress Cpo, long EnergyWh, long PriceMicroEurPerKwh, BigInteger LockedUnits,
    long DeliveryStart, long DeliveryEnd)
{
    public const string Abi = "bytes32,address,address,uint256,uint256,uint256,uint64,uint64";

    /// <summary>The record of <c>request.Awards[index]</c>.</summary>
    public static AwardRecord For(FlexRequest request, int index, WalletAddress dso, WalletAddress cpo, int tokenDecimals)
    {
        var award = request.Awards[index];
        return new(EscrowIds.Award(EscrowIds.Cycle(request.Id), index), EthAddress.Parse(dso.Value), EthAddress.Parse(cpo.Value),
            award.Energy.WattHours, checked((long)(award.Price.Value * 1_000_000m)), award.Value.ToTokenUnits(tokenDecimals),
            request.Delivery.Start.ToUnixTimeSeconds(), request.Delivery.End.ToUnixTimeSeconds());
    }

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

    /// <summary>The settlement record of <c>request.Awards[index]</c> from its verification.</summary>
    public static SettlementRecord For(FlexRequest request, int index, int tokenDecimals)
    {
        var (award, v) = (request.Awards[index], request.Verifications[index]);
        return new(EscrowIds.Award(EscrowIds.Cycle(request.Id), index), award.Energy.WattHours, v.Baseline.WattHours, v.Measured.WattHours,
            v.Delivered.WattHours, v.Succeeded, v.Payout.ToTokenUnits(tokenDecimals), award.Value.ToTokenUnits(tokenDecimals));
    }

    public Hash32 Hash() => new(Keccak256.Hash(AbiCodec.Encode(Abi,
        AwardId, AwardedWh, BaselineWh, MeasuredWh, DeliveredWh, Succeeded, PayoutUnits, LockedUnits)));
}
