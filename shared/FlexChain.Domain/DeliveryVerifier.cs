using System.Runtime.InteropServices;

namespace FlexChain.Domain;

/// <summary>How the baseline (what the site would have consumed without the activation) is computed (DOMAIN.md section 5).</summary>
public enum BaselineMethod
{
    /// <summary>Meter-before-meter-after: the average rate over the <see cref="VerificationRules.MbmaMinutes"/> just before the window.</summary>
    MeterBeforeMeterAfter = 1,

    /// <summary>The mean of the X highest of the last Y similar days (<see cref="MarketCalendar"/>) at the same hours.</summary>
    HighXOfY = 2,

    /// <summary>The mean of the X middle days of the last Y days at the same hours: the Y - X extremes are dropped
    /// evenly from both ends, the odd one from the top (Mid 4 of 5 drops the highest day).</summary>
    MidXOfY = 3,

    /// <summary>A schedule the CPO declared before the window.</summary>
    Declared = 4,
}

/// <summary>
/// What a verified delivery pays (DOMAIN.md section 5). Divisibility only decides what clearing may accept: an
/// indivisible offer is awarded whole, and its delivery is paid by the same rule as any award. Below the threshold
/// <see cref="ZeroBelowThreshold"/> and <see cref="Full"/> pay nothing and <see cref="ProRataByScore"/> pays the
/// score's share; a partial delivery of an indivisible award is not turned into zero, nor paid beyond the rule.
/// </summary>
public enum PayoutRule
{
    /// <summary>At or above the success threshold, the verified energy (capped at the award) at the awarded price; below it, nothing.</summary>
    ZeroBelowThreshold = 1,

    /// <summary>At or above the success threshold, the whole award; below it, nothing.</summary>
    Full = 2,

    /// <summary>The award's value times the score (MAESHA: payout = scheduled x price x score), whatever the threshold.</summary>
    ProRataByScore = 3,
}

/// <summary>A request's verification rules.</summary>
/// <param name="SuccessThreshold">Fraction of the awarded energy that counts as a successful activation (Slovenia: 0.8).</param>
/// <param name="Tolerance">Fraction of the awarded energy within which a discrepancy scores 1 (MAESHA: 0.1).</param>
/// <param name="MbmaMinutes">
/// For <see cref="BaselineMethod.MeterBeforeMeterAfter"/>: how long before the window the average is taken over, in
/// minutes (1 to 1,440; default 60). A duration, not a count of readings: with 1-second data a count would be a few
/// seconds, which a CPO could inflate by charging flat out just before the window.
/// </param>
/// <param name="X">For X-of-Y: how many days are averaged.</param>
/// <param name="Y">For X-of-Y: how many usable days are looked at (days of another type and the station's activation days are skipped).</param>
/// <param name="MarketTimeZone">
/// IANA id of the market's time zone (default Europe/Rome), in which X-of-Y tells calendar days and their types apart.
/// </param>
public sealed record VerificationRules(
    BaselineMethod Baseline = BaselineMethod.MeterBeforeMeterAfter, PayoutRule Payout = PayoutRule.ZeroBelowThreshold,
    decimal SuccessThreshold = 0.8m, decimal Tolerance = 0.1m, int MbmaMinutes = 60, int X = 4, int Y = 5,
    string MarketTimeZone = "Europe/Rome")
{
    /// <summary>The pilots' defaults: MBMA over the hour before the window, 80 % threshold, pay verified energy.</summary>
    public static readonly VerificationRules Default = new();

    /// <summary>How many days back X-of-Y looks for usable days at most.</summary>
    public const int MaxLookbackDays = 60;

    /// <summary>
    /// The meter data the verifier may look at for a delivery <paramref name="window"/>: MBMA looks back
    /// <see cref="MbmaMinutes"/> and an hour more (readings are at most 60 minutes long, so one straddling the start of
    /// the baseline period starts up to an hour before it), X-of-Y up to <see cref="MaxLookbackDays"/> days and one more
    /// (the same clock time lies earlier in UTC when the clocks went back since), a declared baseline only at the window itself.
    /// </summary>
    public TimeWindow EvidenceRange(TimeWindow window) => Baseline switch
    {
        BaselineMethod.MeterBeforeMeterAfter => new TimeWindow(window.Start - MbmaPeriod - TimeSpan.FromHours(1), window.End),
        BaselineMethod.HighXOfY or BaselineMethod.MidXOfY => new TimeWindow(window.Start - TimeSpan.FromDays(MaxLookbackDays + 1), window.End),
        _ => window,
    };

    /// <summary>The MBMA baseline period, <see cref="MbmaMinutes"/> long.</summary>
    public TimeSpan MbmaPeriod => TimeSpan.FromMinutes(MbmaMinutes);

    /// <summary>The market's time zone.</summary>
    /// <exception cref="DomainException">The id is not a time zone of this system (it needs the IANA database, tzdata on Linux).</exception>
    public TimeZoneInfo Zone()
    {
        try
        {
            return TimeZoneInfo.FindSystemTimeZoneById(MarketTimeZone);
        }
        catch (Exception e) when (e is TimeZoneNotFoundException or InvalidTimeZoneException or ArgumentException)
        {
            throw new DomainException("marketTimeZone", "time-zone", $"Unknown time zone '{MarketTimeZone}'.");
        }
    }

    /// <summary>Checks ranges; throws <see cref="DomainException"/> naming the field.</summary>
    public VerificationRules Validate()
    {
        if (SuccessThreshold is < 0m or > 1m) throw new DomainException("successThreshold", "range", "successThreshold must be between 0 and 1.");
        if (Tolerance is < 0m or > 1m) throw new DomainException("tolerance", "range", "tolerance must be between 0 and 1.");
        if (MbmaMinutes is < 1 or > 1440) throw new DomainException("mbmaMinutes", "range", "mbmaMinutes must be between 1 and 1440.");
        if (Y is < 1 or > 30) throw new DomainException("y", "range", "y must be between 1 and 30.");
        if (X < 1 || X > Y) throw new DomainException("x", "range", "x must be between 1 and y.");
        if (!Enum.IsDefined(Baseline)) throw new DomainException("baseline", "enum", "Unknown baseline method.");
        if (!Enum.IsDefined(Payout)) throw new DomainException("payout", "enum", "Unknown payout rule.");
        Zone();
        return this;
    }
}

/// <summary>
/// One station's delivery over one interval (the station's own reading boundaries, clipped to the window), in exact
/// kWh: not rounded, so that their sums are exact and the totals are rounded once (a 1-second interval's share of a
/// 20 kWh/h baseline is 0.00555.. kWh, which rounded to the Wh would add 8 %).
/// </summary>
/// <param name="Revised">A reading measured in the interval is a correction, or won over a conflicting reading (the latest revision wins).</param>
/// <param name="Missing">No reading covers the interval: it counts zero for baseline, measured and delivered, and fails on its own.</param>
/// <param name="Delivered">
/// The award's part of the station's delivery: <paramref name="Share"/> x (baseline - measured) for a reduction,
/// <paramref name="Share"/> x (measured - baseline) for an increase.
/// </param>
/// <param name="Share">
/// The award's share of the station's delivery in the interval's market interval (0 to 1): 1 unless other awards booked
/// the station there too (<see cref="DeliveryShares"/>).
/// </param>
public sealed record IntervalDelivery(
    string StationId, TimeWindow Interval, KilowattHours Baseline, KilowattHours Measured, KilowattHours Delivered, bool Revised = false, bool Missing = false,
    decimal Share = 1m);

/// <summary>
/// What the verifier gets to see: meter readings (window, before it and past days), a declared schedule, days to exclude,
/// the stations' power and their bookings.
/// </summary>
/// <param name="declared">For a declared baseline: the CPO's schedule, as readings of expected energy per station.</param>
/// <param name="activations">Each station's past activation windows: X-of-Y skips the days they touch, for that station only.</param>
/// <param name="maxPower">
/// Each station's registered maximum power (kW): no baseline exceeds it over an interval (a baseline above what the
/// station can draw is not consumption that was given up), and for an increase no measured energy either, so both
/// figures stand on the same footing: capping only the baseline would pay a station metering above its power before and
/// during the window for energy it never added. Of the two even-handed choices (cap both, cap neither) capping both never
/// pays more for an increase the station made. A station missing here is not capped.
/// </param>
/// <param name="bookings">
/// The bookings of the awarded stations overlapping the window, by every award (any request, gate cycle or buyer), the
/// verified ones included: a station booked by several awards shares its delivery among them (<see cref="DeliveryShares"/>).
/// Null or empty: every award is alone on its stations.
/// </param>
public sealed class DeliveryEvidence(
    IReadOnlyCollection<MeterReading> readings, IReadOnlyCollection<MeterReading>? declared = null, IReadOnlyDictionary<string, IReadOnlyList<TimeWindow>>? activations = null,
    IReadOnlyDictionary<string, Kilowatts>? maxPower = null, IReadOnlyDictionary<string, TimeSpan>? recovery = null,
    IReadOnlyCollection<StationBooking>? bookings = null)
{
    /// <summary>The stations' bookings (see the constructor).</summary>
    public IReadOnlyCollection<StationBooking>? Bookings { get; } = bookings;

    private ILookup<string, StationBooking>? _bookingsByStation;

    /// <summary>The bookings of one station.</summary>
    public IEnumerable<StationBooking> BookingsOf(string stationId) =>
        (_bookingsByStation ??= (Bookings ?? []).ToLookup(b => b.StationId, StringComparer.Ordinal))[stationId];

    /// <summary>Each station's recovery time (<see cref="ChargingStation.RecoveryMinutes"/>); a station missing rests for none.</summary>
    public IReadOnlyDictionary<string, TimeSpan>? Recovery { get; } = recovery;

    public IReadOnlyCollection<MeterReading> Readings { get; } = readings;
    public IReadOnlyCollection<MeterReading>? Declared { get; } = declared;
    public IReadOnlyDictionary<string, IReadOnlyList<TimeWindow>>? Activations { get; } = activations;
    public IReadOnlyDictionary<string, Kilowatts>? MaxPower { get; } = maxPower;

    // Grouped once, so verifying many awards of one request costs one pass over the readings, not one per award.
    private Dictionary<string, List<MeterReading>>? _byStation;
    private Dictionary<string, List<MeterReading>>? _declaredByStation;

    /// <summary>The readings of one station.</summary>
    public IReadOnlyList<MeterReading> ReadingsOf(string stationId) => Of(_byStation ??= ByStation(Readings), stationId);

    /// <summary>The declared schedule of one station.</summary>
    public IReadOnlyList<MeterReading> DeclaredOf(string stationId) => Of(_declaredByStation ??= ByStation(Declared ?? []), stationId);

    private static IReadOnlyList<MeterReading> Of(Dictionary<string, List<MeterReading>> byStation, string stationId) =>
        byStation.TryGetValue(stationId, out var list) ? list : [];

    private static Dictionary<string, List<MeterReading>> ByStation(IEnumerable<MeterReading> readings)
    {
        var byStation = new Dictionary<string, List<MeterReading>>(StringComparer.Ordinal);
        foreach (var r in readings)
        {
            ref var list = ref CollectionsMarshal.GetValueRefOrAddDefault(byStation, r.StationId, out _);
            (list ??= []).Add(r);
        }
        return byStation;
    }
}

/// <summary>
/// Verifies one award's delivery. Per station, the window is cut at the station's reading boundaries and at the market
/// interval's; for each piece the baseline and measured energy are kept exact, and delivered = baseline - measured for
/// a reduction (measured - baseline for an increase). A station other awards booked too is shared: in each market
/// interval the award gets the part of the station's delivery in proportion to the kW it booked there against all the
/// awards' bookings of the station in that interval, either direction (<see cref="DeliveryShares"/>; 1 when it is alone,
/// and <see cref="Verification.SharingNote"/> says with how many other awards it was shared), so one reduction is never
/// paid twice. Each market interval is then checked on its own against its
/// share of the award (the award's profile: its kW there x the interval; without a profile, the award's energy spread
/// evenly over the window; intervals a profile does not cover are not checked), so a rebound inside the window shows:
/// an interval meets the award when it delivers at least the success threshold of its share, and the payout rule gives
/// the energy each interval is paid for, exact, summed (only the intervals delivered are paid; see <see cref="PayoutRule"/>).
/// The award succeeds when every interval meets it. The totals are exact sums rounded once to the Wh: delivered and the
/// paid energy down (toward negative infinity, in the DSO's favour), baseline and measured to the nearest Wh for the
/// record; so delivered can be a Wh below baseline - measured, never above the exact figure. The payout is the paid
/// energy in whole Wh times the awarded price (with every interval met and none above its share, the recorded
/// delivered energy times the price), converted to token units once, rounded down (<see cref="Euros.ToTokenUnits"/>):
/// anyone can recompute it from the record. An interval of the window without readings is
/// reported missing and delivers zero: it fails that interval, not the verification, so the DSO never pays for it and
/// the rest still counts. Missing baseline data fails the verification with a reason, never a silent zero.
/// </summary>
public static class DeliveryVerifier
{
    public static Verification Verify(
        Award award, TimeWindow window, Direction direction, VerificationRules rules, DeliveryEvidence evidence, MarketInterval interval)
    {
        rules.Validate();
        var marketIntervals = interval.Cut(window);
        var intervals = new List<IntervalDelivery>();
        var qualityPoints = new List<(decimal Baseline, decimal Measured)>();
        var missing = new List<string>();
        var sharedWith = new SortedSet<string>(StringComparer.Ordinal);
        var sharedStations = new List<string>();
        foreach (var station in award.StationIds)
        {
            var series = MeterSeries.For(station, evidence.ReadingsOf(station));
            var gaps = series.Gaps(window);
            if (gaps.Count > 0) missing.Add($"station {station} has no readings for {string.Join(", ", gaps)}");
            var own = gaps.Select(g => new IntervalDelivery(station, g, KilowattHours.Zero, KilowattHours.Zero, KilowattHours.Zero, Missing: true)).ToList();
            var cuts = Split(series.IntervalsIn(window), marketIntervals);
            var baseline = BaselineFor(station, series, window, cuts, rules, evidence, out var problem);
            if (baseline is null) return Failed(award, rules, problem!);
            var shares = DeliveryShares.Of(award, station, window, interval, marketIntervals, evidence, sharedWith, out problem);
            if (shares is null) return Failed(award, rules, problem!);
            if (shares.Any(x => x < 1m)) sharedStations.Add(station);
            var power = evidence.MaxPower?.TryGetValue(station, out var kw) == true ? kw.Value : (decimal?)null;
            for (var i = 0; i < cuts.Count; i++)
            {
                // No figure above the station's power counts: for a reduction it caps the baseline, for an increase both
                // figures (a capped baseline against an uncapped measurement paid for energy never added).
                var most = power * cuts[i].Duration.Ticks / TimeSpan.TicksPerHour ?? decimal.MaxValue;
                var expected = Math.Min(baseline[i], most);
                var measured = series.EnergyIn(cuts[i])!.Value;
                if (direction == Direction.IncreaseConsumption) measured = Math.Min(measured, most);
                var share = shares[(cuts[i].Start - window.Start).Ticks / interval.Length.Ticks];
                var delivered = share * (direction == Direction.ReduceConsumption ? expected - measured : measured - expected);
                own.Add(new IntervalDelivery(station, cuts[i], new(expected), new(measured), new(delivered), series.IsRevised(cuts[i]), Share: share));
                qualityPoints.Add((expected, measured));
            }
            intervals.AddRange(own.OrderBy(d => d.Interval.Start));
        }

        var totalBaseline = Wh(Sum(intervals, d => d.Baseline), MidpointRounding.AwayFromZero);
        var totalMeasured = Wh(Sum(intervals, d => d.Measured), MidpointRounding.AwayFromZero);
        var totalDelivered = Wh(Sum(intervals, d => d.Delivered), MidpointRounding.ToNegativeInfinity);
        var results = PerMarketInterval(award, window, rules, interval, marketIntervals, intervals);
        var paid = 0m;
        var weighted = 0m;
        var failed = 0;
        MarketIntervalDelivery? firstFailed = null;
        foreach (var r in results)
        {
            paid += PaidEnergy(r, rules);
            weighted += r.Score * r.Scheduled.Value;
            if (!r.Met && failed++ == 0) firstFailed = r;
        }
        var succeeded = failed == 0;
        // The overall score weighs each interval's score by its share of the award (4 decimals, rounded down).
        var score = decimal.Round(weighted / award.Energy.Value, 4, MidpointRounding.ToZero);
        var quality = rules.Baseline == BaselineMethod.Declared ? QualityFactor(qualityPoints) : (decimal?)null;
        var sharing = sharedWith.Count == 0 ? null
            : $"delivery shared: station{(sharedStations.Count == 1 ? "" : "s")} {string.Join(", ", sharedStations)} also booked by {sharedWith.Count} other "
              + $"award{(sharedWith.Count == 1 ? "" : "s")} ({string.Join(", ", sharedWith)}); in each market interval a station's delivery is split among "
              + "its awards in proportion to the kW each booked there";
        var reason = firstFailed is not { } first ? null
            : $"{failed} of {results.Length} market intervals delivered below {rules.SuccessThreshold:P0} of their share of the award (the first, from "
              + $"{first.Interval.Start:O}: {Wh(first.Delivered.Value, MidpointRounding.ToNegativeInfinity)} of {Wh(first.Scheduled.Value, MidpointRounding.AwayFromZero)}); "
              + $"delivered {totalDelivered} of the awarded {award.Energy} in all"
              + (missing.Count > 0 ? "; missing meter data: " + string.Join("; ", missing) : "")
              + (sharing is null ? "" : "; " + sharing);
        // The paid energy is rounded once, down to the Wh, and priced: the record's figures give the payout.
        var payout = Wh(paid, MidpointRounding.ToNegativeInfinity) * award.Price;
        return new Verification(award.Id, totalBaseline, totalMeasured, totalDelivered, succeeded, payout, reason, score, quality, intervals, rules)
        {
            MarketIntervals = results,
            Rebound = ReboundAfter(award, window, direction, evidence, intervals),
            SharingNote = sharing,
        };
    }

    /// <summary>
    /// The rebound in the stations' recovery periods after the window, or null when none of them rests: per station, what
    /// it metered beyond its average baseline power in the window (above it after a reduction, below it after an
    /// increase), summed over the readings of [end, end + its recovery time) and rounded to the Wh. Reported to the DSO,
    /// never paid against. Readings not yet sent when the award is verified are missing: then <see cref="Rebound.Complete"/> is false.
    /// </summary>
    private static Rebound? ReboundAfter(Award award, TimeWindow window, Direction direction, DeliveryEvidence evidence, List<IntervalDelivery> intervals)
    {
        var longest = TimeSpan.Zero;
        var energy = 0m;
        var complete = true;
        foreach (var station in award.StationIds)
        {
            if (evidence.Recovery?.GetValueOrDefault(station) is not { } rest || rest <= TimeSpan.Zero) continue;
            longest = rest > longest ? rest : longest;
            var own = intervals.Where(d => d.StationId == station && !d.Missing).ToList();
            var hours = own.Sum(d => (decimal)d.Interval.Duration.Ticks) / TimeSpan.TicksPerHour;
            if (hours == 0) continue;
            var baselineKw = own.Sum(d => d.Baseline.Value) / hours;
            var period = new TimeWindow(window.End, window.End + rest);
            var series = MeterSeries.For(station, evidence.ReadingsOf(station));
            complete &= series.Gaps(period).Count == 0;
            foreach (var cut in series.IntervalsIn(period))
            {
                var measured = series.EnergyIn(cut)!.Value;
                var expected = baselineKw * cut.Duration.Ticks / TimeSpan.TicksPerHour;
                energy += Math.Max(0m, direction == Direction.ReduceConsumption ? measured - expected : expected - measured);
            }
        }
        return longest == TimeSpan.Zero ? null
            : new Rebound(new TimeWindow(window.End, window.End + longest), Wh(energy, MidpointRounding.AwayFromZero), complete);
    }

    /// <summary>
    /// Each market interval's share of the award (its energy in proportion to the interval's part of the window), what
    /// the award's stations delivered in it, its score and whether it met the success threshold.
    /// </summary>
    private static MarketIntervalDelivery[] PerMarketInterval(
        Award award, TimeWindow window, VerificationRules rules, MarketInterval interval, IReadOnlyList<TimeWindow> marketIntervals, List<IntervalDelivery> pieces)
    {
        // Every piece lies within one market interval (a gap delivers zero wherever it falls): one pass sums them.
        var delivered = new decimal[marketIntervals.Count];
        foreach (var p in pieces)
            delivered[(p.Interval.Start - window.Start).Ticks / interval.Length.Ticks] += p.Delivered.Value;
        var results = new List<MarketIntervalDelivery>(marketIntervals.Count);
        for (var i = 0; i < marketIntervals.Count; i++)
        {
            var m = marketIntervals[i];
            // A profiled award schedules its own kW per interval; an interval it does not cover is not checked.
            var scheduled = award.Profile is { } profile
                ? (i < profile.Count ? profile[i].Value * m.Duration.Ticks / TimeSpan.TicksPerHour : 0m)
                : award.Energy.Value * m.Duration.Ticks / window.Duration.Ticks;
            if (award.Profile is not null && scheduled == 0m) continue;
            var sum = decimal.Round(delivered[i], 18); // proportional splits leave residues near decimal's 28th digit
            results.Add(new MarketIntervalDelivery(m, new(scheduled), new(sum), Score(scheduled, sum, rules.Tolerance), sum >= scheduled * rules.SuccessThreshold));
        }
        return [.. results];
    }

    /// <summary>
    /// The energy one market interval is paid for, exact kWh: <see cref="PayoutRule.ZeroBelowThreshold"/> its delivered
    /// energy up to its share when it met the threshold; <see cref="PayoutRule.Full"/> its whole share when it met it;
    /// <see cref="PayoutRule.ProRataByScore"/> its share times its (exact) score.
    /// </summary>
    private static decimal PaidEnergy(MarketIntervalDelivery r, VerificationRules rules) => rules.Payout switch
    {
        PayoutRule.ZeroBelowThreshold => r.Met ? Math.Min(r.Delivered.Value, r.Scheduled.Value) : 0m,
        PayoutRule.Full => r.Met ? r.Scheduled.Value : 0m,
        PayoutRule.ProRataByScore => r.Scheduled.Value * r.Score,
        _ => throw new ArgumentOutOfRangeException(nameof(rules), rules.Payout, "payout rule"),
    };

    /// <summary><paramref name="cuts"/> (in time order) cut further at the boundaries of <paramref name="marketIntervals"/>.</summary>
    private static List<TimeWindow> Split(IReadOnlyList<TimeWindow> cuts, IReadOnlyList<TimeWindow> marketIntervals)
    {
        var pieces = new List<TimeWindow>(Math.Max(cuts.Count, marketIntervals.Count));
        foreach (var c in cuts)
            foreach (var m in marketIntervals)
                if (m.Overlaps(c))
                    pieces.Add(new TimeWindow(c.Start > m.Start ? c.Start : m.Start, c.End < m.End ? c.End : m.End));
        return pieces;
    }

    /// <summary>
    /// MAESHA's score: 1 - |awarded - delivered| / awarded, 1 within the tolerance, never below 0; exact (an interval's
    /// score is summed into the payout, which is rounded once).
    /// </summary>
    public static decimal Score(decimal awarded, decimal delivered, decimal tolerance)
    {
        if (awarded <= 0) return 0m;
        var discrepancy = Math.Abs(awarded - delivered);
        if (discrepancy <= tolerance * awarded) return 1m;
        return Math.Max(0m, 1m - discrepancy / awarded);
    }

    /// <summary>MAESHA's baseline quality: 1 - RMSE(baseline - measured) / max(mean baseline, 1), 4 decimals, rounded down.</summary>
    public static decimal QualityFactor(IReadOnlyList<(decimal Baseline, decimal Measured)> points)
    {
        if (points.Count == 0) return 0m;
        var meanSquare = points.Sum(p => (p.Baseline - p.Measured) * (p.Baseline - p.Measured)) / points.Count;
        var rmse = (decimal)Math.Sqrt((double)meanSquare); // a square root has no exact decimal form; 4 decimals is all we keep
        var mean = points.Average(p => p.Baseline);
        return decimal.Round(1m - rmse / Math.Max(mean, 1m), 4, MidpointRounding.ToZero);
    }

    /// <summary>The exact baseline energy of each interval in <paramref name="cuts"/>, or null with a reason.</summary>
    private static decimal[]? BaselineFor(string station, MeterSeries series, TimeWindow window, IReadOnlyList<TimeWindow> cuts,
        VerificationRules rules, DeliveryEvidence evidence, out string? problem)
    {
        problem = null;
        switch (rules.Baseline)
        {
            case BaselineMethod.MeterBeforeMeterAfter:
            {
                // A reading that straddles the window start would carry activation consumption into the baseline, so
                // one must end exactly there; a reading straddling the period's start is split in proportion to time.
                var period = new TimeWindow(window.Start - rules.MbmaPeriod, window.Start);
                if (series.EnergyIn(period) is not { } energy || !series.Readings.Any(r => r.Interval.End == window.Start))
                {
                    problem = $"missing meter data: station {station} lacks back-to-back readings over the {rules.MbmaMinutes} minutes ending at {window.Start:O}";
                    return null;
                }
                return cuts.Select(c => energy * c.Duration.Ticks / period.Duration.Ticks).ToArray();
            }
            case BaselineMethod.HighXOfY:
            case BaselineMethod.MidXOfY:
            {
                var zone = rules.Zone();
                var today = MarketCalendar.LocalDate(window.Start, zone);
                var type = MarketCalendar.DayTypeOf(today);
                var excluded = (evidence.Activations?.GetValueOrDefault(station) ?? [])
                    .SelectMany(a => new[] { MarketCalendar.LocalDate(a.Start, zone), MarketCalendar.LocalDate(a.End.AddTicks(-1), zone) }).ToHashSet();
                // The usable days of one type, most recent first: each piece of the window at the same local clock time
                // (MarketCalendar.SameClockTime), complete readings, no activation of this station.
                List<decimal[]> UsableDays(DayType similar)
                {
                    var usable = new List<decimal[]>();
                    for (var back = 1; back <= VerificationRules.MaxLookbackDays && usable.Count < rules.Y; back++)
                    {
                        var date = today.AddDays(-back);
                        if (MarketCalendar.DayTypeOf(date) != similar || excluded.Contains(date)) continue;
                        var day = cuts.Select(c => MarketCalendar.SameClockTime(c, back, zone) is { } then ? series.EnergyIn(then) : null).ToArray();
                        if (day.All(e => e is not null)) usable.Add(day.Select(e => e!.Value).ToArray());
                    }
                    return usable;
                }
                var days = UsableDays(type);
                // Holidays are few (Italy has at most four in 60 days): too few, and a holiday takes Sundays, never a mix.
                if (days.Count < rules.Y && type == DayType.Holiday) (type, days) = (DayType.Sunday, UsableDays(DayType.Sunday));
                if (days.Count < rules.Y)
                {
                    problem = $"missing meter data: station {station} has {days.Count} complete {type} days of the {rules.Y} its baseline needs";
                    return null;
                }
                // Rank days by their window total; ties go to the more recent day (earlier in the list).
                var ranked = days.Select((d, i) => (Day: d, Total: d.Sum(), Recency: i))
                    .OrderByDescending(d => d.Total).ThenBy(d => d.Recency).ToList();
                var skip = rules.Baseline == BaselineMethod.HighXOfY ? 0 : (rules.Y - rules.X + 1) / 2;
                var chosen = ranked.Skip(skip).Take(rules.X).ToList();
                return cuts.Select((_, i) => chosen.Sum(d => d.Day[i]) / chosen.Count).ToArray();
            }
            case BaselineMethod.Declared:
            {
                var declared = MeterSeries.For(station, evidence.DeclaredOf(station));
                var gaps = declared.Gaps(window);
                if (gaps.Count > 0)
                {
                    problem = $"missing declared schedule: station {station} declared nothing for {string.Join(", ", gaps)}";
                    return null;
                }
                return cuts.Select(c => declared.EnergyIn(c)!.Value).ToArray();
            }
            default:
                throw new ArgumentOutOfRangeException(nameof(rules), rules.Baseline, "baseline method");
        }
    }

    /// <summary>An exact total rounded once to the Wh.</summary>
    private static KilowattHours Wh(decimal kwh, MidpointRounding mode) =>
        // Splitting a reading in proportion to time divides, which leaves residues near decimal's 28th digit; they are not
        // energy, so they go first, lest 3,600 one-second shares of 20 kWh sum to 19.999..9 and round down a whole Wh.
        new(decimal.Round(decimal.Round(kwh, 18), KilowattHours.Scale, mode));

    private static decimal Sum(List<IntervalDelivery> intervals, Func<IntervalDelivery, KilowattHours> pick) => intervals.Sum(d => pick(d).Value);

    private static Verification Failed(Award award, VerificationRules rules, string reason) =>
        new(award.Id, KilowattHours.Zero, KilowattHours.Zero, KilowattHours.Zero, false, Euros.Zero, reason, 0m, null, [], rules);
}
