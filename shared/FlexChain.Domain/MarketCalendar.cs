namespace FlexChain.Domain;

/// <summary>The kinds of day an X-of-Y baseline compares like with like (DOMAIN.md section 5).</summary>
public enum DayType
{
    /// <summary>Monday to Friday, not a holiday.</summary>
    WorkingDay = 1,

    /// <summary>A Saturday that is not a holiday.</summary>
    Saturday = 2,

    /// <summary>A Sunday, holiday or not (Easter Sunday is a Sunday).</summary>
    Sunday = 3,

    /// <summary>
    /// A national holiday on any other day. Its similar days are the earlier holidays within the look-back; when there are
    /// too few of them, Sundays (which a holiday's consumption resembles).
    /// </summary>
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

    /// <summary>
    /// <paramref name="interval"/> taken <paramref name="days"/> calendar days earlier at the same local clock time in
    /// <paramref name="zone"/>: it starts when that day's clock showed the same time and lasts as long, ending at the
    /// same clock time. Null when that day's clock skipped its start (the hour lost on a 23-hour day), showed it twice
    /// (the hour repeated on a 25-hour day) or changed inside it: those hours have no single like-for-like interval that
    /// day. An interval on a change day itself is taken at the clock times it showed (01:45 to the jump at 02:00 on the
    /// 23-hour day is 01:45-02:00 on the day before; both of the 25-hour day's 02:15s are 02:15 on the days before).
    /// </summary>
    public static TimeWindow? SameClockTime(TimeWindow interval, int days, TimeZoneInfo zone)
    {
        var start = TimeZoneInfo.ConvertTime(interval.Start, zone).DateTime.AddDays(-days);
        if (zone.IsInvalidTime(start) || zone.IsAmbiguousTime(start)) return null;
        var utc = new DateTimeOffset(TimeZoneInfo.ConvertTimeToUtc(start, zone));
        var then = new TimeWindow(utc, utc + interval.Duration);
        // The instant before each end, as an interval ending on the hour a clock change skips still ends where it should.
        return ClockTime(then.End.AddTicks(-1), zone) == ClockTime(interval.End.AddTicks(-1), zone).AddDays(-days) ? then : null;
    }

    private static DateTime ClockTime(DateTimeOffset utc, TimeZoneInfo zone) => TimeZoneInfo.ConvertTime(utc, zone).DateTime;
}
