using FlexChain.Domain;
using FlexChain.Ethereum;
using FlexChain.Verification;

namespace FlexChain.Functions.Settlement;

/// <summary>
/// Builds a request's records. The record types, their canonical hashes and the escrow ids live in
/// FlexChain.Verification, which wallet holders use without FlexChain's domain; only these factories need the
/// request aggregate, so they stay here as static extensions (<c>AwardRecord.For(...)</c> reads as before).
/// </summary>
public static class RequestRecords
{
    extension(AwardRecord)
    {
        /// <summary>The record of <c>request.Awards[index]</c>, whose on-chain id is <paramref name="awardId"/> (its escrow slot).</summary>
        public static AwardRecord For(FlexRequest request, int index, Hash32 awardId, WalletAddress dso, WalletAddress cpo, int tokenDecimals)
        {
            var award = request.Awards[index];
            return new(awardId, EthAddress.Parse(dso.Value), EthAddress.Parse(cpo.Value),
                award.Energy.WattHours, checked((long)(award.Price.Value * 1_000_000m)), award.Value.ToTokenUnits(tokenDecimals),
                request.Delivery.Start.ToUnixTimeSeconds(), request.Delivery.End.ToUnixTimeSeconds());
        }
    }

    extension(SettlementRecord)
    {
        /// <summary>The settlement record of <c>request.Awards[index]</c> from its verification.</summary>
        public static SettlementRecord For(FlexRequest request, int index, Hash32 awardId, int tokenDecimals)
        {
            var (award, v) = (request.Awards[index], request.Verifications[index]);
            return new(awardId, award.Energy.WattHours, v.Baseline.WattHours, v.Measured.WattHours,
                v.Delivered.WattHours, v.Succeeded, v.Payout.ToTokenUnits(tokenDecimals), award.Value.ToTokenUnits(tokenDecimals));
        }
    }
}
