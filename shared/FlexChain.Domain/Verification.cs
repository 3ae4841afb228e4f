namespace FlexChain.Domain;

/// <summary>Energy a station's meter measured over one interval.</summary>
/// <param name="Revision">
/// Order of arrival of the values sent for this interval: 1 for the first, one more for each correction (the store
/// counts them). Of conflicting readings the latest revision wins.
/// </param>
public sealed record MeterReading(string StationId, TimeWindow Interval, KilowattHours Energy, int Revision = 1);

/// <summary>
/// The verified delivery of one award and what it pays: a signed-off record with its inputs (per-interval baseline
/// and measured energy, and the rules), so that anyone can recompute it.
/// </summary>
/// <param name="Score">Delivery score in [0, 1] (4 decimals): 1 - |awarded - delivered| / awarded, 1 within the tolerance.</param>
/// <param name="QualityFactor">For a declared baseline: 1 - RMSE(baseline - measured) / max(mean baseline, 1) over the intervals.</param>
public sealed record Verification(
    string AwardId, KilowattHours Baseline, KilowattHours Measured, KilowattHours Delivered, bool Succeeded,
    Euros Payout, string? FailureReason, decimal Score = 0m, decimal? QualityFactor = null,
    IReadOnlyList<IntervalDelivery>? Intervals = null, VerificationRules? Rules = null)
{
    /// <summary>
    /// Each market interval of the window with its share of the award, what was delivered in it (exact kWh), its score
    /// and whether it met the success threshold; null for verifications recorded before market intervals were checked.
    /// </summary>
    public IReadOnlyList<MarketIntervalDelivery>? MarketIntervals { get; init; }

    /// <summary>The rebound in the recovery period after the window (not paid against), or null when no station of the award rests.</summary>
    public Rebound? Rebound { get; init; }

    /// <summary>
    /// When other awards booked one of the award's stations in the window too: which stations, how many other awards
    /// (and their ids), and that each market interval's delivery of a station was split among its awards in proportion
    /// to the kW each booked there (<see cref="IntervalDelivery.Share"/>); null when the award was alone on its stations.
    /// </summary>
    public string? SharingNote { get; init; }

    /// <summary>
    /// Delivered (every market interval at or above the success threshold), paid pro rata (some intervals below it but a
    /// positive payout: a partial delivery, not a failure), or not delivered (nothing paid).
    /// </summary>
    public DeliveryOutcome Outcome =>
        Succeeded ? DeliveryOutcome.Delivered : Payout.Value > 0 ? DeliveryOutcome.PaidProRata : DeliveryOutcome.NotDelivered;
}

/// <summary>What an award's stations metered beyond their baseline in their recovery time after the window (reported, not paid against).</summary>
/// <param name="Period">From the window's end for the longest recovery time of the award's stations.</param>
/// <param name="Energy">The rebound: consumption above the baseline after a reduction (below it after an increase), kWh to the Wh.</param>
/// <param name="Complete">Whether readings covered the whole period when the award was verified.</param>
public sealed record Rebound(TimeWindow Period, KilowattHours Energy, bool Complete);

/// <summary>One market interval of a verified award.</summary>
/// <param name="Interval">The market interval, clipped to the delivery window.</param>
/// <param name="Scheduled">Its share of the award: the award's energy times the interval's part of the window (exact).</param>
/// <param name="Delivered">What the award's stations delivered in it, summed over stations, each station's delivery times the award's share of it (exact; negative for a rebound).</param>
/// <param name="Score">1 - |scheduled - delivered| / scheduled, 1 within the tolerance, never below 0 (exact: the payout is rounded once, from the sum).</param>
/// <param name="Met">Whether it delivered at least the success threshold of its share; only such intervals are paid, except by score, which pays every interval its score's share.</param>
public sealed record MarketIntervalDelivery(TimeWindow Interval, KilowattHours Scheduled, KilowattHours Delivered, decimal Score, bool Met);

/// <summary>How a verified award ended. Numbers are stable; names go on the wire.</summary>
public enum DeliveryOutcome
{
    /// <summary>At or above the success threshold; paid by the payout rule.</summary>
    Delivered = 1,

    /// <summary>
    /// Not every market interval met the success threshold, but something is paid: the intervals that met it, or the
    /// score's share of each (<see cref="PayoutRule.ProRataByScore"/>).
    /// </summary>
    PaidProRata = 2,

    /// <summary>Below the success threshold with nothing paid; <see cref="Verification.FailureReason"/> says why.</summary>
    NotDelivered = 3,
}
