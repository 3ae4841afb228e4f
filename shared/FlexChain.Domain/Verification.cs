namespace FlexChain.Domain;

/// <summary>Energy a station's meter measured over one interval.</summary>
public sealed record MeterReading(string StationId, TimeWindow Interval, KilowattHours Energy);

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

/// <summary>
/// Delivery verification with the meter-before-meter-after baseline (DOMAIN.md section 5): each station's
/// baseline is its average consumption rate over the readings in <see cref="BaselineSpan"/> before the window,
/// applied to every interval of the window. Delivered = baseline - measured for a reduction (measured - baseline for
/// an increase), summed over stations and intervals. The award succeeds when delivered reaches
/// <see cref="SuccessThreshold"/> of the awarded energy; it then pays the verified energy (capped at the award) at the
/// awarded price. Below the threshold it pays nothing. Missing meter data is a failure with a reason, never a zero.
/// </summary>
public sealed record MbmaVerifier(TimeSpan BaselineSpan, decimal SuccessThreshold)
{
    /// <summary>The Slovenian pilot's rule: at least 80 % of the agreed value, one hour of baseline.</summary>
    public static readonly MbmaVerifier Default = new(TimeSpan.FromHours(1), 0.8m);

    public Verification Verify(Award award, TimeWindow window, Direction direction, IReadOnlyCollection<MeterReading> readings)
    {
        var baselineWindow = new TimeWindow(window.Start - BaselineSpan, window.Start);
        var baseline = KilowattHours.Zero;
        var measured = KilowattHours.Zero;
        foreach (var station in award.StationIds)
        {
            var mine = readings.Where(r => r.StationId == station).ToList();
            var before = mine.Where(r => baselineWindow.Covers(r.Interval)).ToList();
            var during = mine.Where(r => window.Covers(r.Interval)).OrderBy(r => r.Interval.Start).ToList();
            if (before.Count == 0)
                return Failed(award, $"no meter readings for station {station} in the baseline period {baselineWindow}");
            if (!CoversExactly(window, during))
                return Failed(award, $"meter readings for station {station} do not cover the delivery window {window} without gaps or overlaps");

            var beforeEnergy = before.Sum(r => r.Energy.Value);
            var beforeTicks = before.Sum(r => r.Interval.Duration.Ticks);
            // The baseline rate is energy per tick; scaling by the window's length keeps it exact in decimal.
            baseline += new KilowattHours(decimal.Round(beforeEnergy * window.Duration.Ticks / beforeTicks, KilowattHours.Scale, MidpointRounding.ToZero));
            measured += new KilowattHours(during.Sum(r => r.Energy.Value));
        }

        var delivered = direction == Direction.ReduceConsumption ? baseline - measured : measured - baseline;
        var succeeded = delivered.Value >= award.Energy.Value * SuccessThreshold;
        var paid = succeeded ? KilowattHours.Min(delivered, award.Energy) * award.Price : Euros.Zero;
        return new Verification(award.Id, baseline, measured, delivered, succeeded, paid,
            succeeded ? null : $"delivered {delivered} is below {SuccessThreshold:P0} of the awarded {award.Energy}");
    }

    private static Verification Failed(Award award, string reason) =>
        new(award.Id, KilowattHours.Zero, KilowattHours.Zero, KilowattHours.Zero, false, Euros.Zero, reason);

    private static bool CoversExactly(TimeWindow window, List<MeterReading> ordered)
    {
        var cursor = window.Start;
        foreach (var r in ordered)
        {
            if (r.Interval.Start != cursor) return false;
            cursor = r.Interval.End;
        }
        return cursor == window.End;
    }
}
