namespace FlexChain.Domain;

/// <summary>
/// Power profiles: kW per market interval over a delivery window (DOMAIN.md section 4). A profile needs a window of whole
/// market intervals, one value per interval, each at least zero and exact to the watt-hour over its interval (kW x
/// interval a whole number of Wh: any kW to 0.004 at 15 minutes, to 0.06 at 1 minute), so that energy and payouts stay
/// exact. The engine works in watt-hours per interval; the power of an interval is its watt-hours over its length.
/// </summary>
public static class Profiles
{
    /// <summary>The energy of <paramref name="profile"/> over <paramref name="window"/> cut into <paramref name="interval"/>s (kWh, exact).</summary>
    /// <exception cref="DomainException">The profile breaks a rule above (field <paramref name="field"/>, rule <c>profile</c>), or is all zero (rule <c>positive</c>).</exception>
    public static KilowattHours Energy(IReadOnlyList<Kilowatts> profile, MarketInterval interval, TimeWindow window, string field = "profileKw")
    {
        ArgumentNullException.ThrowIfNull(profile);
        var length = interval.Length.Ticks;
        var count = (int)((window.Duration.Ticks + length - 1) / length);
        var wh = IntervalWh(profile, interval.Minutes, count, window.Duration.Ticks % length == 0, field)
            ?? throw new DomainException(field, "profile", Rule("", interval.Minutes, count));
        var total = wh.Sum();
        if (total <= 0) throw new DomainException(field, "positive", $"{field} must have power in at least one interval.");
        return Units.Kwh(total);
    }

    /// <summary>The power of <paramref name="wh"/> watt-hours over an interval of <paramref name="minutes"/> (which divides the hour: exact).</summary>
    public static Kilowatts Power(long wh, int minutes) => new(Units.Kwh(wh * (60 / minutes)).Value);

    /// <summary>The watt-hours per interval of <paramref name="profile"/>, or null when it breaks a rule of <see cref="Profiles"/>.</summary>
    internal static long[]? IntervalWh(IReadOnlyList<Kilowatts> profile, int minutes, int count, bool wholeIntervals, string field)
    {
        if (!wholeIntervals || profile.Count != count) return null;
        var wh = new long[count];
        for (var i = 0; i < count; i++)
        {
            if (!Units.TryScaled(profile[i].Value, 3, out var watts) || watts < 0 || watts * minutes % 60 != 0) return null;
            wh[i] = watts * minutes / 60;
        }
        return wh;
    }

    /// <summary><paramref name="wh"/> spread over <paramref name="count"/> equal intervals to the watt-hour, the remainder to the first ones.</summary>
    internal static long[] Spread(long wh, int count)
    {
        var spread = new long[count];
        for (var i = 0; i < count; i++) spread[i] = wh / count + (i < wh % count ? 1 : 0);
        return spread;
    }

    internal static string Rule(string id, int minutes, int count) =>
        (id.Length > 0 ? $"Request {id}: " : "") + $"a profile needs a delivery window of whole {minutes}-minute market intervals and one value per interval ({count}), "
        + $"each at least 0 kW and a whole number of watt-hours over {minutes} minutes.";
}
