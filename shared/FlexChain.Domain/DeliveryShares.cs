namespace FlexChain.Domain;

/// <summary>
/// How one station's delivery is shared among the awards that booked it (DOMAIN.md section 4, no double selling; section 5,
/// MAESHA subtracts the energy used for another service). Clearing may put several awards on one station while its
/// registered power allows (<see cref="StationBooking.Power"/>), but the meter sees one change: in each market interval,
/// the station's delivered energy is shared among all the awards whose bookings hold it there, in proportion to the
/// energy each holds in the interval (its booked kW times the time it holds them there; with equal market intervals,
/// simply its kW). A booking without power (the station taken whole) holds the station's registered power. Bookings carry
/// no direction, so an award of the other direction counts too: the station's change is never paid twice, whichever way
/// it went. An award that no other award shares the station with in an interval keeps the whole delivery there, as
/// before (share 1), even where it booked no kW itself (a pooled award whose other station covered that interval). An
/// award without a booking of its own beside another award's gets nothing of that station there.
/// </summary>
internal static class DeliveryShares
{
    /// <summary>
    /// <paramref name="award"/>'s share (0 to 1, exact up to decimal's precision) of <paramref name="station"/>'s
    /// delivery in each of <paramref name="marketIntervals"/> (<paramref name="interval"/> cut from <paramref name="window"/>'s
    /// start); the other awards holding the station in any of them are added to <paramref name="others"/>. Null, with a
    /// <paramref name="problem"/>, when the station is shared and a booking took it whole but its registered power is unknown.
    /// </summary>
    public static decimal[]? Of(Award award, string station, TimeWindow window, MarketInterval interval, IReadOnlyList<TimeWindow> marketIntervals,
        DeliveryEvidence evidence, ISet<string> others, out string? problem)
    {
        problem = null;
        var shares = new decimal[marketIntervals.Count];
        Array.Fill(shares, 1m);
        var holding = evidence.BookingsOf(station).Where(b => b.Window.Overlaps(window)).ToList();
        if (holding.All(b => b.AwardId == award.Id)) return shares;
        Kilowatts? power = evidence.MaxPower is { } registered && registered.TryGetValue(station, out var kw) ? kw : null;
        if (power is null && holding.FirstOrDefault(b => b.Power is null) is { } whole)
        {
            problem = $"station {station} is shared with other awards and booked whole by award {whole.AwardId}, but its registered power is unknown: its delivery cannot be shared";
            return null;
        }
        var own = new decimal[marketIntervals.Count];
        var total = new decimal[marketIntervals.Count];
        var shared = new bool[marketIntervals.Count];
        foreach (var b in holding)
        {
            var held = Held(b, power, window, interval, marketIntervals);
            var mine = b.AwardId == award.Id;
            for (var i = 0; i < held.Length; i++)
            {
                total[i] += held[i];
                if (mine) own[i] += held[i];
                else if (held[i] > 0m)
                {
                    shared[i] = true;
                    others.Add(b.AwardId);
                }
            }
        }
        for (var i = 0; i < shares.Length; i++)
            if (shared[i]) shares[i] = own[i] / total[i];
        return shares;
    }

    /// <summary>
    /// What <paramref name="booking"/> holds in each market interval, in kW x ticks: each of its own intervals' kW (or the
    /// station's <paramref name="power"/> when it took the station whole) times the ticks that interval overlaps the market
    /// interval. Its intervals and the market intervals are both in time order, so one walk of each suffices.
    /// </summary>
    private static decimal[] Held(StationBooking booking, Kilowatts? power, TimeWindow window, MarketInterval interval, IReadOnlyList<TimeWindow> marketIntervals)
    {
        var held = new decimal[marketIntervals.Count];
        IEnumerable<(TimeWindow Piece, Kilowatts Kw)> pieces = booking.Power is { } kw
            ? booking.Interval.Cut(booking.Window).Zip(kw)
            : [(booking.Window, power!.Value)];
        foreach (var (piece, pieceKw) in pieces)
        {
            if (pieceKw.Value == 0m || !piece.Overlaps(window)) continue;
            var from = piece.Start > window.Start ? (piece.Start - window.Start).Ticks / interval.Length.Ticks : 0;
            for (var i = (int)from; i < marketIntervals.Count && marketIntervals[i].Start < piece.End; i++)
            {
                var m = marketIntervals[i];
                var overlap = (piece.End < m.End ? piece.End : m.End) - (piece.Start > m.Start ? piece.Start : m.Start);
                if (overlap > TimeSpan.Zero) held[i] += pieceKw.Value * overlap.Ticks;
            }
        }
        return held;
    }
}
