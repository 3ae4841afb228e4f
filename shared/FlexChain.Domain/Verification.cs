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
    /// Delivered (at or above the success threshold), paid pro rata below it (<see cref="PayoutRule.ProRataByScore"/>
    /// with a positive payout: a partial delivery, not a failure), or not delivered (nothing paid).
    /// </summary>
    public DeliveryOutcome Outcome =>
        Succeeded ? DeliveryOutcome.Delivered : Payout.Value > 0 ? DeliveryOutcome.PaidProRata : DeliveryOutcome.NotDelivered;
}

/// <summary>How a verified award ended. Numbers are stable; names go on the wire.</summary>
public enum DeliveryOutcome
{
    /// <summary>At or above the success threshold; paid by the payout rule.</summary>
    Delivered = 1,

    /// <summary>Below the success threshold, paid the score's share (<see cref="PayoutRule.ProRataByScore"/>).</summary>
    PaidProRata = 2,

    /// <summary>Below the success threshold with nothing paid; <see cref="Verification.FailureReason"/> says why.</summary>
    NotDelivered = 3,
}
