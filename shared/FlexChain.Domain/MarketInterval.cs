namespace FlexChain.Domain;

/// <summary>
/// The market interval (DOMAIN.md section 4): the unit in which power is traded and delivery is checked, 15 minutes in
/// the pilots, 1 to 60 minutes allowed, dividing the hour. A delivery window is cut into intervals from its start (a
/// window on the quarter hours gets the market's quarter hours); a window that is not a whole number of intervals long
/// ends with a shorter one.
/// </summary>
public readonly record struct MarketInterval
{
    /// <summary>The pilots' quarter hour.</summary>
    public static readonly MarketInterval Default = new(15);

    private MarketInterval(int minutes) => Minutes = minutes;

    /// <summary>The length in whole minutes.</summary>
    public int Minutes { get; }

    /// <summary>The length.</summary>
    public TimeSpan Length => TimeSpan.FromMinutes(Minutes);

    /// <summary>The interval of <paramref name="minutes"/> minutes.</summary>
    /// <exception cref="DomainException">Not 1 to 60 minutes, or not dividing the hour (field <paramref name="field"/>, rule <c>market-interval</c>).</exception>
    public static MarketInterval From(int minutes, string field = "marketIntervalMinutes") =>
        minutes is >= 1 and <= 60 && 60 % minutes == 0
            ? new MarketInterval(minutes)
            : throw new DomainException(field, "market-interval", $"The market interval must be 1 to 60 minutes and divide the hour, not {minutes}.");

    /// <summary><paramref name="window"/> cut into intervals of this length from its start, in time order; the last may be shorter.</summary>
    public IReadOnlyList<TimeWindow> Cut(TimeWindow window)
    {
        var cuts = new List<TimeWindow>();
        for (var start = window.Start; start < window.End; start += Length)
            cuts.Add(new TimeWindow(start, start + Length < window.End ? start + Length : window.End));
        return cuts;
    }

    public override string ToString() => $"{Minutes} min";
}
