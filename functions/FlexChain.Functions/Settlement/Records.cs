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
                request.Delivery.Start.ToUnixTimeSeconds(), request.Delivery.End.ToUnixTimeSeconds(), ProfileOf(request, award).Hash());
        }
    }

    /// <summary>The profile <paramref name="award"/> of <paramref name="request"/> schedules (its kW per interval, or flat over the window).</summary>
    public static ProfileRecord ProfileOf(FlexRequest request, Award award) => Profile(award.Profile, request.Interval, request.Delivery, award.Energy);

    /// <summary>
    /// The profile record of <paramref name="kw"/> per <paramref name="interval"/> over <paramref name="window"/>, or of
    /// <paramref name="energy"/> spread evenly over it when <paramref name="kw"/> is null (a flat request or award).
    /// </summary>
    /// <exception cref="InvalidOperationException">A value is not a whole number of Wh over the interval (the API refuses such profiles).</exception>
    public static ProfileRecord Profile(IReadOnlyList<Kilowatts>? kw, MarketInterval interval, TimeWindow window, KilowattHours energy)
    {
        if (kw is null) return ProfileRecord.Flat(window.Start.ToUnixTimeSeconds(), window.End.ToUnixTimeSeconds(), energy.WattHours);
        return new(interval.Minutes * 60L, kw.Select(k => k.Value * interval.Minutes * 1000m / 60m is var wh && wh == decimal.Truncate(wh)
            ? checked((long)wh) : throw new InvalidOperationException($"{k.Value} kW over {interval} is not a whole number of Wh")).ToList());
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
