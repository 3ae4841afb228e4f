namespace FlexChain.Domain;

/// <summary>The kinds of day an X-of-Y baseline compares like with like (DOMAIN.md section 5).</summary>
public enum DayType
{
    /// <summary>Monday to Friday, not a holiday.</summary>
    WorkingDay = 1,

    /// <summary>A Saturday that is not a holiday.</summary>
    Saturday = 2,

    /// <summary>A Sunday.</summary>
    Sunday = 3,

    /// <summary>A national holiday on any other day; consumption on it looks like a Sunday's.</summary>
    Holiday = 4,
}

/// <summary>
/// Day types of a market's calendar days: the Italian pilot's national holidays (New Year, Epiphany, Easter Monday,
/// Liberation Day, Labour Day, Republic Day, Assumption, All Saints, Immaculate Conception, Christmas, St Stephen),
/// Easter computed for any year.
/// </summary>
public static class MarketCalendar
{
    /// <summary>The day type of a calendar <paramref name="date"/> of the market.</summary>
    public static DayType DayTypeOf(DateOnly date) => date.DayOfWeek switch
    {
        DayOfWeek.Sunday => DayType.Sunday,
        _ when IsHoliday(date) => DayType.Holiday,
        DayOfWeek.Saturday => DayType.Saturday,
        _ => DayType.WorkingDay,
    };

    /// <summary>Whether two day types count as similar days: the same type, or Sundays and holidays together.</summary>
    public static bool AreSimilar(DayType a, DayType b) => a == b || (a is DayType.Sunday or DayType.Holiday && b is DayType.Sunday or DayType.Holiday);

    /// <summary>Whether <paramref name="date"/> is an Italian national holiday.</summary>
    public static bool IsHoliday(DateOnly date) => (date.Month, date.Day) switch
    {
        (1, 1) or (1, 6) or (4, 25) or (5, 1) or (6, 2) or (8, 15) or (11, 1) or (12, 8) or (12, 25) or (12, 26) => true,
        _ => date == EasterSunday(date.Year).AddDays(1),
    };

    /// <summary>Western (Gregorian) Easter Sunday of <paramref name="year"/> (1583 to 9999), by the anonymous Gregorian algorithm.</summary>
    public static DateOnly EasterSunday(int year)
    {
        int a = year % 19, b = year / 100, c = year % 100, d = b / 4, e = b % 4, f = (b + 8) / 25, g = (b - f + 1) / 3;
        int h = (19 * a + b - d - g + 15) % 30, i = c / 4, k = c % 4, l = (32 + 2 * e + 2 * i - h - k) % 7, m = (a + 11 * h + 22 * l) / 451;
        var month = (h + l - 7 * m + 114) / 31;
        var day = (h + l - 7 * m + 114) % 31 + 1;
        return new DateOnly(year, month, day);
    }

    /// <summary>The market's calendar date at the UTC instant <paramref name="utc"/>.</summary>
    public static DateOnly LocalDate(DateTimeOffset utc, TimeZoneInfo zone) => DateOnly.FromDateTime(TimeZoneInfo.ConvertTime(utc, zone).DateTime);
}
