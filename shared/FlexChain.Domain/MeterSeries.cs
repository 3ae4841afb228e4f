namespace FlexChain.Domain;

/// <summary>What is wrong with a station's meter data.</summary>
public enum MeterIssueKind
{
    /// <summary>The same interval was read twice with the same value; one copy is kept.</summary>
    Duplicate = 1,

    /// <summary>
    /// Two readings overlap with different values: the later revision is kept, the other dropped; when both have the same
    /// revision neither is trusted and both are dropped, which leaves a gap.
    /// </summary>
    Conflict = 2,

    /// <summary>No reading covers part of the range asked about.</summary>
    Gap = 3,
}

/// <summary>One problem found in meter data, with the interval it concerns.</summary>
public sealed record MeterIssue(MeterIssueKind Kind, string StationId, TimeWindow Interval, string Detail);

/// <summary>
/// One station's readings, sorted, de-duplicated and free of overlaps, at any mix of resolutions. Energy inside a
/// reading is taken as spread evenly over it, so a reading that straddles a boundary is split in proportion to time.
/// </summary>
public sealed class MeterSeries
{
    private readonly List<MeterReading> _readings;
    private readonly HashSet<MeterReading> _revised;

    private MeterSeries(string stationId, List<MeterReading> readings, List<MeterIssue> issues, HashSet<MeterReading> revised)
    {
        StationId = stationId;
        _readings = readings;
        Issues = issues;
        _revised = revised;
    }

    public string StationId { get; }

    /// <summary>The kept readings, by start time.</summary>
    public IReadOnlyList<MeterReading> Readings => _readings;

    /// <summary>Duplicates and conflicts found while building the series.</summary>
    public IReadOnlyList<MeterIssue> Issues { get; }

    /// <summary>Builds the series of <paramref name="stationId"/> from any readings (others' are ignored).</summary>
    public static MeterSeries For(string stationId, IEnumerable<MeterReading> readings)
    {
        var sorted = new List<MeterReading>();
        foreach (var r in readings)
            if (r.StationId == stationId) sorted.Add(r);
        // Stored readings usually come in order already; checking costs one pass, sorting far more.
        for (var i = 1; i < sorted.Count; i++)
            if (Order(sorted[i - 1], sorted[i]) > 0)
            {
                sorted.Sort(Order);
                break;
            }
        var kept = new List<MeterReading>(sorted.Count);
        var issues = new List<MeterIssue>();
        var revised = sorted.Where(r => r.Revision > 1).ToHashSet();
        (DateTimeOffset End, int Revision) untrusted = (DateTimeOffset.MinValue, 0);
        foreach (var r in sorted)
        {
            if (r.Interval.Start < untrusted.End && r.Revision <= untrusted.Revision)
            {
                issues.Add(new(MeterIssueKind.Conflict, stationId, r.Interval, $"{r.Interval} ({r.Energy}, revision {r.Revision}) overlaps conflicting readings of a later revision"));
                continue;
            }
            if (kept.Count > 0 && kept[^1].Interval.End > r.Interval.Start)
            {
                var last = kept[^1];
                if (last.Interval == r.Interval && last.Energy == r.Energy)
                    issues.Add(new(MeterIssueKind.Duplicate, stationId, r.Interval, $"{r.Interval} was read twice"));
                else
                {
                    issues.Add(new(MeterIssueKind.Conflict, stationId, r.Interval,
                        $"{r.Interval} ({r.Energy}, revision {r.Revision}) overlaps {last.Interval} ({last.Energy}, revision {last.Revision})"));
                    // The later revision is the meter operator's correction; with no order between them neither value is evidence.
                    if (r.Revision == last.Revision)
                    {
                        kept.RemoveAt(kept.Count - 1);
                        untrusted = (last.Interval.End > r.Interval.End ? last.Interval.End : r.Interval.End, r.Revision);
                    }
                    else
                    {
                        if (r.Revision > last.Revision) kept[^1] = r;
                        revised.Add(kept[^1]);
                    }
                }
                continue;
            }
            kept.Add(r);
        }
        revised.IntersectWith(kept);
        return new MeterSeries(stationId, kept, issues, revised);
    }

    /// <summary>
    /// By start, then end, then the latest revision first; equal intervals and revisions by energy, so the order (and
    /// every issue's wording) never depends on the order the readings came in.
    /// </summary>
    private static int Order(MeterReading a, MeterReading b)
    {
        var c = a.Interval.Start.UtcTicks.CompareTo(b.Interval.Start.UtcTicks);
        if (c == 0) c = a.Interval.End.UtcTicks.CompareTo(b.Interval.End.UtcTicks);
        if (c == 0) c = b.Revision.CompareTo(a.Revision);
        return c != 0 ? c : a.Energy.Value.CompareTo(b.Energy.Value);
    }

    /// <summary>Whether a kept reading overlapping <paramref name="range"/> is a correction or won over a conflicting reading.</summary>
    public bool IsRevised(TimeWindow range)
    {
        if (_revised.Count == 0) return false;
        for (var i = FirstEndingAfter(range.Start); i < _readings.Count && _readings[i].Interval.Start < range.End; i++)
            if (_revised.Contains(_readings[i])) return true;
        return false;
    }

    /// <summary>The parts of <paramref name="range"/> that no reading covers.</summary>
    public IReadOnlyList<TimeWindow> Gaps(TimeWindow range)
    {
        var gaps = new List<TimeWindow>();
        var cursor = range.Start;
        for (var i = FirstEndingAfter(range.Start); i < _readings.Count && cursor < range.End; i++)
        {
            var r = _readings[i].Interval;
            if (r.Start >= range.End) break;
            if (r.Start > cursor) gaps.Add(new TimeWindow(cursor, r.Start));
            cursor = r.End;
        }
        if (cursor < range.End) gaps.Add(new TimeWindow(cursor, range.End));
        return gaps;
    }

    /// <summary>The exact (unrounded) energy metered in <paramref name="range"/>, or null when part of it is not covered.</summary>
    public decimal? EnergyIn(TimeWindow range)
    {
        var total = 0m;
        var cursor = range.Start;
        for (var i = FirstEndingAfter(range.Start); i < _readings.Count && cursor < range.End; i++)
        {
            var r = _readings[i];
            if (r.Interval.Start > cursor) return null; // a gap (also when the next reading starts after the range)
            var from = r.Interval.Start > range.Start ? r.Interval.Start : range.Start;
            var to = r.Interval.End < range.End ? r.Interval.End : range.End;
            total += from == r.Interval.Start && to == r.Interval.End
                ? r.Energy.Value
                : r.Energy.Value * (to - from).Ticks / r.Interval.Duration.Ticks;
            cursor = r.Interval.End;
        }
        return cursor >= range.End ? total : null;
    }

    /// <summary>The reading boundaries inside <paramref name="range"/>: the intervals at which delivery is reported.</summary>
    public IReadOnlyList<TimeWindow> IntervalsIn(TimeWindow range)
    {
        var result = new List<TimeWindow>();
        for (var i = FirstEndingAfter(range.Start); i < _readings.Count && _readings[i].Interval.Start < range.End; i++)
        {
            var r = _readings[i].Interval;
            result.Add(new TimeWindow(r.Start > range.Start ? r.Start : range.Start, r.End < range.End ? r.End : range.End));
        }
        return result;
    }

    /// <summary>
    /// The index of the first kept reading that ends after <paramref name="time"/> (binary search: the kept readings
    /// do not overlap, so their ends rise with their starts); the count when none does.
    /// </summary>
    private int FirstEndingAfter(DateTimeOffset time)
    {
        int low = 0, high = _readings.Count;
        while (low < high)
        {
            var mid = (low + high) >>> 1;
            if (_readings[mid].Interval.End <= time) low = mid + 1;
            else high = mid;
        }
        return low;
    }
}
