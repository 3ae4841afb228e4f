namespace FlexChain.Domain;

/// <summary>
/// A station booked by an award of an earlier clearing (any gate cycle, any buyer) for a delivery window. The clearing
/// engine takes the bookings as an input (<see cref="ClearingEngine.Clear"/>) and books later awards only into what is
/// left: with <see cref="Power"/>, the station's registered power minus the booked kW in each interval; without it, the
/// station is taken whole for <see cref="Window"/>. After the window the station rests for its recovery time
/// (<see cref="StationCapacity.Recovery"/>), taken whole. An offer that does not fit is rejected with
/// <see cref="OfferOutcomeKind.RejectedCapacityConflict"/>, its detail naming <see cref="AwardId"/>. A released booking
/// (its award cancelled or refunded) is simply left out.
/// </summary>
/// <param name="StationId">The booked station.</param>
/// <param name="Window">The award's delivery window (half-open: a window ending at 10:15 leaves 10:15 free).</param>
/// <param name="AwardId">The award holding the station (<see cref="Award.Id"/>).</param>
public sealed record StationBooking(string StationId, TimeWindow Window, string AwardId)
{
    /// <summary>
    /// The kW booked in each interval of <see cref="Interval"/>.Cut(<see cref="Window"/>), or null when the award takes
    /// the whole station for the window (its power was not known at clearing, or a booking stored before capacities).
    /// </summary>
    public IReadOnlyList<Kilowatts>? Power { get; init; }

    /// <summary>The market interval <see cref="Power"/> is given per.</summary>
    public MarketInterval Interval { get; init; } = MarketInterval.Default;

    /// <summary>
    /// The bookings made by <paramref name="result"/>'s awards: those the engine recorded (<see cref="ClearingResult.Bookings"/>),
    /// or for a result stored before them, each station of each award taken whole for <paramref name="delivery"/>.
    /// </summary>
    public static IEnumerable<StationBooking> For(ClearingResult result, TimeWindow delivery) =>
        result.Bookings ?? result.Awards.SelectMany(a => a.StationIds.Select(s => new StationBooking(s, delivery, a.Id)));

    /// <summary>The explanation for an offer that does not fit beside this booking.</summary>
    internal string Describe() =>
        $"Station {StationId} is already booked by award {AwardId} for {Window}, which overlaps this request's window.";
}
