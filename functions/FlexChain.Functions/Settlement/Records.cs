using System.Numerics;
using System.Text;
using FlexChain.Domain;
using FlexChain.Ethereum;
using FlexChain.Ethereum.Abi;

namespace FlexChain.Functions.Settlement;

/// <summary>
/// The off-chain record of an award as it is locked in escrow. Its canonical hash is Keccak-256 of the ABI encoding
/// <c>abi.encode(bytes32 awardId, address dso, address cpo, uint256 energyWh, uint256 priceMicroEurPerKwh,
/// uint256 lockedUnits, uint64 deliveryStart, uint64 deliveryEnd)</c> (times in Unix seconds), so anyone can
/// recompute it from the published fields and compare it with the <c>AwardLocked</c> event.
/// </summary>
public sealed record AwardRecord(
    Hash32 AwardId, EthAddress Dso, EthAddress Cpo, long EnergyWh, long PriceMicroEurPerKwh, BigInteger LockedUnits,
    long DeliveryStart, long DeliveryEnd)
{
    public const string Abi = "bytes32,address,address,uint256,uint256,uint256,uint64,uint64";

    public static AwardRecord For(FlexRequest request, Award award, WalletAddress dso, WalletAddress cpo, int tokenDecimals) =>
        new(EscrowId(award.Id), EthAddress.Parse(dso.Value), EthAddress.Parse(cpo.Value), award.Energy.WattHours,
            checked((long)(award.Price.Value * 1_000_000m)), award.Value.ToTokenUnits(tokenDecimals),
            request.Delivery.Start.ToUnixTimeSeconds(), request.Delivery.End.ToUnixTimeSeconds());

    /// <summary>The escrow id of an award: Keccak-256 of <c>"flexchain:award:" + award id</c>. It doubles as the settlement id.</summary>
    public static Hash32 EscrowId(string awardId) => new(Keccak256.Hash(Encoding.UTF8.GetBytes("flexchain:award:" + awardId)));

    public Hash32 Hash() => new(Keccak256.Hash(AbiCodec.Encode(Abi,
        AwardId, Dso, Cpo, EnergyWh, PriceMicroEurPerKwh, LockedUnits, DeliveryStart, DeliveryEnd)));
}

/// <summary>
/// The off-chain record of a settlement. Canonical hash: Keccak-256 of <c>abi.encode(bytes32 awardId,
/// uint256 awardedWh, int256 baselineWh, int256 measuredWh, int256 deliveredWh, bool succeeded, uint256 payoutUnits,
/// uint256 lockedUnits)</c>; it is the <c>settlementHash</c> of the <c>AwardSettled</c> event.
/// </summary>
public sealed record SettlementRecord(
    Hash32 AwardId, long AwardedWh, long BaselineWh, long MeasuredWh, long DeliveredWh, bool Succeeded, BigInteger PayoutUnits,
    BigInteger LockedUnits)
{
    public const string Abi = "bytes32,uint256,int256,int256,int256,bool,uint256,uint256";

    public static SettlementRecord For(Award award, Verification v, int tokenDecimals) =>
        new(AwardRecord.EscrowId(award.Id), award.Energy.WattHours, v.Baseline.WattHours, v.Measured.WattHours, v.Delivered.WattHours,
            v.Succeeded, v.Payout.ToTokenUnits(tokenDecimals), award.Value.ToTokenUnits(tokenDecimals));

    public Hash32 Hash() => new(Keccak256.Hash(AbiCodec.Encode(Abi,
        AwardId, AwardedWh, BaselineWh, MeasuredWh, DeliveredWh, Succeeded, PayoutUnits, LockedUnits)));
}
