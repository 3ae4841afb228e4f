namespace FlexChain.Domain;

/// <summary>
/// A station booked by an award of an earlier clearing (any gate cycle, any buyer) for a delivery window. The clearing
/// engine takes the bookings as an input (<see cref="ClearingEngine.Clear"/>): an offer naming a station booked for a
/// window overlapping its request's window is rejected with <see cref="OfferOutcomeKind.RejectedCapacityConflict"/>,
/// its detail naming <see cref="AwardId"/>. A released booking (its award cancelled or refunded) is simply left out.
/// </summary>
/// <param name="StationId">The booked station.</param>
/// <param name="Window">The award's delivery window (half-open: a window ending at 10:15 leaves 10:15 free).</param>
/// <param name="AwardId">The award holding the station (<see cref="Award.Id"/>).</param>
public sealed record StationBooking(string StationId, TimeWindow Window, string AwardId)
{
    /// <summary>The bookings made by <paramref name="result"/>'s awards: each award books each of its stations for <paramref name="delivery"/>.</summary>
    public static IEnumerable<StationBooking> For(ClearingResult result, TimeWindow delivery) =>
        result.Awards.SelectMany(a => a.StationIds.Select(s => new StationBooking(s, delivery, a.Id)));
}

/// <summary>The bookings from earlier clearings, by station, for the engine's check of each offer.</summary>
internal sealed class TakenStations
{
    private readonly Dictionary<string, List<StationBooking>> _byStation = new(StringComparer.Ordinal);

    private TakenStations(IEnumerable<StationBooking> bookings)
    {
        foreach (var b in bookings)
        {
            ArgumentNullException.ThrowIfNull(b, nameof(bookings));
            if (!_byStation.TryGetValue(b.StationId, out var list)) _byStation.Add(b.StationId, list = []);
            list.Add(b);
        }
    }

    /// <summary>The index of <paramref name="bookings"/>, or null when there are none (the engine then skips the check).</summary>
    public static TakenStations? From(IReadOnlyCollection<StationBooking>? bookings) => bookings is { Count: > 0 } ? new(bookings) : null;

    /// <summary>The first booking of one of <paramref name="stations"/> overlapping [start, end) (UTC ticks), or null.</summary>
    public StationBooking? Clash(IReadOnlyList<string> stations, long start, long end)
    {
        for (var s = 0; s < stations.Count; s++)
        {
            if (!_byStation.TryGetValue(stations[s], out var list)) continue;
            foreach (var b in list)
                if (b.Window.Start.UtcTicks < end && start < b.Window.End.UtcTicks) return b;
        }
        return null;
    }

    /// <summary>The explanation for an offer that names a station booked by an earlier award.</summary>
    public static string Describe(StationBooking b) =>
        $"Station {b.StationId} is already booked by award {b.AwardId} for {b.Window}, which overlaps this request's window.";
}
