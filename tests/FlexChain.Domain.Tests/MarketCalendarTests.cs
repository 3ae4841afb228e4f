using FlexChain.Domain;

namespace FlexChain.Domain.Tests;

public class MarketCalendarTests
{
    [Theory]
    [InlineData(2024, 3, 31)]
    [InlineData(2025, 4, 20)]
    [InlineData(2026, 4, 5)]
    [InlineData(2027, 3, 28)]
    [InlineData(2038, 4, 25)]
    [InlineData(2285, 3, 22)]
    public void EasterSunday_Year_IsTheGregorianEaster(int year, int month, int day) =>
        Assert.Equal(new DateOnly(year, month, day), MarketCalendar.EasterSunday(year));

    [Theory]
    [InlineData(2026, 4, 6, DayType.Holiday)]    // Easter Monday
    [InlineData(2025, 4, 21, DayType.Holiday)]   // Easter Monday
    [InlineData(2026, 6, 2, DayType.Holiday)]    // Republic Day, a Tuesday
    [InlineData(2026, 12, 26, DayType.Holiday)]  // St Stephen, a Saturday
    [InlineData(2026, 4, 5, DayType.Sunday)]     // Easter Sunday
    [InlineData(2026, 6, 6, DayType.Saturday)]
    [InlineData(2026, 6, 3, DayType.WorkingDay)]
    [InlineData(2026, 4, 7, DayType.WorkingDay)] // the day after Easter Monday
    public void DayTypeOf_Date_FollowsTheItalianCalendar(int year, int month, int day, DayType expected) =>
        Assert.Equal(expected, MarketCalendar.DayTypeOf(new DateOnly(year, month, day)));

    [Theory]
    // Monday 30 March 2026 18:00-19:00 CEST, 3 days back: Friday 18:00 CET is 17:00 UTC, not the 16:00 of 72 UTC hours.
    [InlineData("2026-03-30T16:00:00Z", 60, 3, "2026-03-27T17:00:00Z")]
    // Sunday 5 April 02:30 CEST, a week back: 02:30 did not exist on 29 March (the clocks went from 02:00 to 03:00).
    [InlineData("2026-04-05T00:30:00Z", 15, 7, null)]
    // ... but 01:45-02:00 did, ending where the clocks jumped: 00:45-01:00 UTC.
    [InlineData("2026-04-04T23:45:00Z", 15, 7, "2026-03-29T00:45:00Z")]
    // ... and an hour from 01:30 ran across the jump (01:30 to 03:30 on the clock): no like-for-like hour.
    [InlineData("2026-04-04T23:30:00Z", 60, 7, null)]
    // On the 23-hour day itself, 01:45-03:00 on the clock is 15 minutes: the day before, 01:45-02:00 CET.
    [InlineData("2026-03-29T00:45:00Z", 15, 1, "2026-03-28T00:45:00Z")]
    // Sunday 1 November 02:15 CET, a week back: 02:15 happened twice on 25 October.
    [InlineData("2026-11-01T01:15:00Z", 15, 7, null)]
    // Both of the 25-hour day's 02:15s take 02:15 CEST of the Sunday before (00:15 UTC).
    [InlineData("2026-10-25T00:15:00Z", 15, 7, "2026-10-18T00:15:00Z")]
    [InlineData("2026-10-25T01:15:00Z", 15, 7, "2026-10-18T00:15:00Z")]
    // 03:00 CET, after the repeated hour, exists once on 25 October: 02:00 UTC.
    [InlineData("2026-11-01T02:00:00Z", 15, 7, "2026-10-25T02:00:00Z")]
    public void SameClockTime_AcrossClockChanges_TakesTheSameLocalTimeOrNone(string start, int minutes, int days, string? expected)
    {
        var from = DateTimeOffset.Parse(start, System.Globalization.CultureInfo.InvariantCulture);
        var then = MarketCalendar.SameClockTime(new TimeWindow(from, from.AddMinutes(minutes)), days, VerificationRules.Default.Zone());
        Assert.Equal(expected is null ? null : DateTimeOffset.Parse(expected, System.Globalization.CultureInfo.InvariantCulture), then?.Start);
        if (then is { } t) Assert.Equal(TimeSpan.FromMinutes(minutes), t.Duration);
    }

    [Fact]
    public void LocalDate_JustBeforeUtcMidnight_IsTheNextDayInRome() =>
        Assert.Equal(new DateOnly(2026, 6, 11),
            MarketCalendar.LocalDate(new DateTimeOffset(2026, 6, 10, 22, 30, 0, TimeSpan.Zero), VerificationRules.Default.Zone()));
}
