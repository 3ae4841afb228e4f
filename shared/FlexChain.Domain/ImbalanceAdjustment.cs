namespace FlexChain.Domain;

/// <summary>One market interval of an imbalance adjustment: the energy the activation moved there (exact kWh, negative for a rebound).</summary>
public sealed record ImbalanceInterval(TimeWindow Interval, KilowattHours Energy);

/// <summary>
/// Trade position consistency (DOMAIN.md section 7): one station's part of a verified activation, for the balance
/// responsible party of its metering point, whose position the activation moved. The TSO computes the party's imbalance
/// adjustment from it. One per award and station; its id is deterministic, so writing it again replaces it.
/// </summary>
/// <param name="BalanceResponsibleParty">The party, or null when the station's CPO did not register one.</param>
/// <param name="BuyerId">Who bought the activation (the request's DSO, or a TSO).</param>
/// <param name="ConnectingOperatorId">The owner of the station's transformer.</param>
/// <param name="Direction">Which way consumption moved: a reduction leaves the party long, an increase short, by <see cref="Total"/>.</param>
/// <param name="Intervals">Per market interval of the request's window, in time order, what the station delivered there.</param>
public sealed record ImbalanceAdjustment(
    string RequestId, string AwardId, string StationId, string MeteringPointId, string? BalanceResponsibleParty, string CpoId, string BuyerId,
    string ConnectingOperatorId, Direction Direction, TimeWindow Delivery, IReadOnlyList<ImbalanceInterval> Intervals, DateTimeOffset RecordedAt)
{
    /// <summary>The energy moved over the whole window (exact kWh).</summary>
    public KilowattHours Total => new(Intervals.Sum(i => i.Energy.Value));

    /// <summary>
    /// The records of a verified request: for every award and each of its stations, the station's delivered energy per
    /// market interval of the request (<see cref="FlexRequest.Interval"/>), summed from the verification's intervals (the
    /// award's share of it where other awards booked the station too, so a shared station's change is adjusted once). A
    /// verification without per-interval data (recorded before they were kept) yields none.
    /// </summary>
    /// <param name="stations">Each awarded station with the owner of its transformer.</param>
    /// <exception cref="ArgumentException">The request is not verified, or a station is missing from <paramref name="stations"/>.</exception>
    public static IReadOnlyList<ImbalanceAdjustment> For(
        FlexRequest request, IReadOnlyDictionary<string, (ChargingStation Station, string ConnectingOperatorId)> stations, DateTimeOffset now)
    {
        if (request.Verifications.Count != request.Awards.Count) throw new ArgumentException($"request {request.Id} is not verified", nameof(request));
        var cuts = request.Interval.Cut(request.Delivery);
        var records = new List<ImbalanceAdjustment>();
        foreach (var (award, verification) in request.Awards.Zip(request.Verifications))
        {
            if (verification.Intervals is not { } delivered) continue;
            foreach (var stationId in award.StationIds)
            {
                if (!stations.TryGetValue(stationId, out var s)) throw new ArgumentException($"station {stationId} is missing", nameof(stations));
                var intervals = cuts.Select(cut => new ImbalanceInterval(cut, new KilowattHours(
                    delivered.Where(d => d.StationId == stationId && cut.Contains(d.Interval.Start)).Sum(d => d.Delivered.Value)))).ToList();
                records.Add(new(request.Id, award.Id, stationId, s.Station.MeteringPointId, s.Station.BalanceResponsibleParty, award.CpoId, request.DsoId,
                    s.ConnectingOperatorId, request.Direction, request.Delivery, intervals, now));
            }
        }
        return records;
    }
}
