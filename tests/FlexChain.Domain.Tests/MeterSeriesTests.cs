using FlexChain.Domain;

namespace FlexChain.Domain.Tests;

public class MeterSeriesTests
{
    private static readonly DateTimeOffset T = new(2026, 6, 10, 0, 0, 0, TimeSpan.Zero);

    private static MeterReading R(int fromMinute, int toMinute, decimal kwh, string station = "st1") =>
        new(station, new TimeWindow(T.AddMinutes(fromMinute), T.AddMinutes(toMinute)), KilowattHours.From(kwh));

    [Fact]
    public void For_DuplicatesAndConflicts_AreReportedAndDropped()
    {
        var s = MeterSeries.For("st1", [R(0, 15, 1), R(0, 15, 1), R(15, 30, 2), R(15, 30, 3), R(20, 25, 1), R(0, 15, 9, "st2")]);
        Assert.Equal(2, s.Readings.Count);
        Assert.Equal([MeterIssueKind.Duplicate, MeterIssueKind.Conflict, MeterIssueKind.Conflict], s.Issues.Select(i => i.Kind));
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
