using FlexChain.Domain;

namespace FlexChain.Domain.Tests;

public class MeterSeriesTests
{
    private static readonly DateTimeOffset T = new(2026, 6, 10, 0, 0, 0, TimeSpan.Zero);

    private static MeterReading R(int fromMinute, int toMinute, decimal kwh, string station = "st1", int revision = 1) =>
        new(station, new TimeWindow(T.AddMinutes(fromMinute), T.AddMinutes(toMinute)), KilowattHours.From(kwh), revision);

    [Fact]
    public void For_DuplicatesAndConflicts_AreReportedAndDropped()
    {
        // 15-30 was sent twice with different values and no order between them: neither is kept (it used to keep the
        // lower), nor the reading of the same revision inside it, which leaves a gap.
        var s = MeterSeries.For("st1", [R(0, 15, 1), R(0, 15, 1), R(15, 30, 2), R(15, 30, 3), R(20, 25, 1), R(0, 15, 9, "st2")]);
        Assert.Equal([R(0, 15, 1)], s.Readings);
        Assert.Equal([MeterIssueKind.Duplicate, MeterIssueKind.Conflict, MeterIssueKind.Conflict], s.Issues.Select(i => i.Kind));
        Assert.Equal([new TimeWindow(T.AddMinutes(15), T.AddMinutes(30))], s.Gaps(new TimeWindow(T, T.AddMinutes(30))));
    }

    [Fact]
    public void For_ConflictWithoutRevisionOrder_TrustsNeither()
    {
        var s = MeterSeries.For("st1", [R(0, 15, 1), R(0, 15, 4)]);
        Assert.Empty(s.Readings);
        Assert.Null(s.EnergyIn(new TimeWindow(T, T.AddMinutes(15))));
    }

    [Fact]
    public void For_ConflictingRevisions_LatestRevisionWinsAndIsFlagged()
    {
        var s = MeterSeries.For("st1", [R(0, 15, 4, revision: 2), R(0, 15, 1), R(15, 30, 2), R(10, 20, 7, revision: 3)]);
        // 0-15 revision 2 beats revision 1; 10-20 revision 3 beats the 0-15 it overlaps; 15-30 overlaps 10-20 at a lower revision.
        Assert.Equal([R(10, 20, 7, revision: 3)], s.Readings);
        Assert.True(s.IsRevised(new TimeWindow(T.AddMinutes(10), T.AddMinutes(15))));
        Assert.False(MeterSeries.For("st1", [R(0, 15, 1)]).IsRevised(new TimeWindow(T, T.AddMinutes(15))));
    }

    [Fact]
    public void Gaps_ListsUncoveredParts()
    {
        var s = MeterSeries.For("st1", [R(15, 30, 1), R(45, 60, 1)]);
        Assert.Equal([new TimeWindow(T, T.AddMinutes(15)), new TimeWindow(T.AddMinutes(30), T.AddMinutes(45)), new TimeWindow(T.AddMinutes(60), T.AddMinutes(75))],
            s.Gaps(new TimeWindow(T, T.AddMinutes(75))));
    }

    [Fact]
    public void EnergyIn_PartialReading_IsProportional()
    {
        var s = MeterSeries.For("st1", [R(0, 60, 6)]);
        Assert.Equal(1.5m, s.EnergyIn(new TimeWindow(T.AddMinutes(15), T.AddMinutes(30))));
        Assert.Null(s.EnergyIn(new TimeWindow(T.AddMinutes(30), T.AddMinutes(90))));
    }
}
