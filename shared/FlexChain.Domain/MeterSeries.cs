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
        var sorted = readings.Where(r => r.StationId == stationId)
            .OrderBy(r => r.Interval.Start).ThenBy(r => r.Interval.End).ThenByDescending(r => r.Revision).ToList();
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

    /// <summary>Whether a kept reading overlapping <paramref name="range"/> is a correction or won over a conflicting reading.</summary>
    public bool IsRevised(TimeWindow range) => _readings.Any(r => r.Interval.Overlaps(range) && _revised.Contains(r));

    /// <summary>The parts of <paramref name="range"/> that no reading covers.</summary>
    public IReadOnlyList<TimeWindow> Gaps(TimeWindow range)
    {
        var gaps = new List<TimeWindow>();
        var cursor = range.Start;
        foreach (var r in _readings)
        {
            if (r.Interval.End <= cursor) continue;
            if (r.Interval.Start >= range.End) break;
            if (r.Interval.Start > cursor) gaps.Add(new TimeWindow(cursor, r.Interval.Start));
            cursor = r.Interval.End;
            if (cursor >= range.End) break;
        }
        if (cursor < range.End) gaps.Add(new TimeWindow(cursor, range.End));
        return gaps;
    }

    /// <summary>The exact (unrounded) energy metered in <paramref name="range"/>, or null when part of it is not covered.</summary>
    public decimal? EnergyIn(TimeWindow range)
    {
        if (Gaps(range).Count > 0) return null;
        var total = 0m;
        foreach (var r in _readings)
        {
            if (r.Interval.End <= range.Start) continue;
            if (r.Interval.Start >= range.End) break;
            var from = r.Interval.Start > range.Start ? r.Interval.Start : range.Start;
            var to = r.Interval.End < range.End ? r.Interval.End : range.End;
            total += from == r.Interval.Start && to == r.Interval.End
                ? r.Energy.Value
                : r.Energy.Value * (to - from).Ticks / r.Interval.Duration.Ticks;
        }
        return total;
    }

    /// <summary>The reading boundaries inside <paramref name="range"/>: the intervals at which delivery is reported.</summary>
    public IReadOnlyList<TimeWindow> IntervalsIn(TimeWindow range)
    {
        var result = new List<TimeWindow>();
        foreach (var r in _readings)
        {
            if (r.Interval.End <= range.Start) continue;
            if (r.Interval.Start >= range.End) break;
            var from = r.Interval.Start > range.Start ? r.Interval.Start : range.Start;
            var to = r.Interval.End < range.End ? r.Interval.End : range.End;
            result.Add(new TimeWindow(from, to));
        }
        return result;
    }
}
