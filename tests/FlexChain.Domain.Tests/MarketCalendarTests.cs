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
    [InlineData(DayType.Holiday, DayType.Sunday, true)]
    [InlineData(DayType.Sunday, DayType.Holiday, true)]
    [InlineData(DayType.Saturday, DayType.Sunday, false)]
    [InlineData(DayType.WorkingDay, DayType.Holiday, false)]
    [InlineData(DayType.WorkingDay, DayType.WorkingDay, true)]
    public void AreSimilar_DayTypes_GroupSundaysWithHolidays(DayType a, DayType b, bool expected) =>
        Assert.Equal(expected, MarketCalendar.AreSimilar(a, b));

    [Fact]
    public void LocalDate_JustBeforeUtcMidnight_IsTheNextDayInRome() =>
        Assert.Equal(new DateOnly(2026, 6, 11),
            MarketCalendar.LocalDate(new DateTimeOffset(2026, 6, 10, 22, 30, 0, TimeSpan.Zero), VerificationRules.Default.Zone()));
}
