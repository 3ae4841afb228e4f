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
        var wh = new long[count];
        if (profile.Count != count || !IntervalWh(profile, interval.Minutes, window.Duration.Ticks % length == 0, wh))
            throw new DomainException(field, "profile", Rule("", interval.Minutes, count));
        var total = wh.Sum();
        if (total <= 0) throw new DomainException(field, "positive", $"{field} must have power in at least one interval.");
        return Units.Kwh(total);
    }

    /// <summary>The power of <paramref name="wh"/> watt-hours over an interval of <paramref name="minutes"/> (which divides the hour: exact).</summary>
    public static Kilowatts Power(long wh, int minutes) => new(Units.Kwh(wh * (60 / minutes)).Value);

    /// <summary>
    /// The watt-hours <paramref name="offer"/> offers in each <paramref name="interval"/> of <paramref name="window"/>: its
    /// profile, or its energy spread evenly (the remainder to the first intervals); null when its profile does not fit them
    /// or does not sum to its energy.
    /// </summary>
    public static long[]? OfferedWh(Offer offer, MarketInterval interval, TimeWindow window)
    {
        ArgumentNullException.ThrowIfNull(offer);
        var length = interval.Length.Ticks;
        var wh = new long[(window.Duration.Ticks + length - 1) / length];
        var energy = Units.WattHours(offer.Energy, "energyKwh");
        if (offer.Profile is null) Spread(energy, wh);
        else if (!IntervalWh(offer.Profile, interval.Minutes, window.Duration.Ticks % length == 0, wh) || wh.Sum() != energy) return null;
        return wh;
    }

    /// <summary>Fills <paramref name="wh"/> (one per interval) with the watt-hours of <paramref name="profile"/>; false when it breaks a rule of <see cref="Profiles"/>.</summary>
    internal static bool IntervalWh(IReadOnlyList<Kilowatts> profile, int minutes, bool wholeIntervals, long[] wh)
    {
        if (!wholeIntervals || profile.Count != wh.Length) return false;
        for (var i = 0; i < wh.Length; i++)
        {
            if (!Units.TryScaled(profile[i].Value, 3, out var watts) || watts < 0 || watts * minutes % 60 != 0) return false;
            wh[i] = watts * minutes / 60;
        }
        return true;
    }

    /// <summary>Fills <paramref name="spread"/> with <paramref name="wh"/> spread over its equal intervals to the watt-hour, the remainder to the first ones.</summary>
    internal static void Spread(long wh, long[] spread)
    {
        for (var i = 0; i < spread.Length; i++) spread[i] = wh / spread.Length + (i < wh % spread.Length ? 1 : 0);
    }

    internal static string Rule(string id, int minutes, int count) =>
        (id.Length > 0 ? $"Request {id}: " : "") + $"a profile needs a delivery window of whole {minutes}-minute market intervals and one value per interval ({count}), "
        + $"each at least 0 kW and a whole number of watt-hours over {minutes} minutes.";
}
