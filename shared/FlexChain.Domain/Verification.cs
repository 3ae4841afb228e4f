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
    IReadOnlyList<IntervalDelivery>? Intervals = null, VerificationRules? Rules = null);
