namespace FlexChain.Domain;

/// <summary>
/// A TSO's minimum block size and the pooling of forwarded offers into blocks of at least that size (DOMAIN.md section 7:
/// NorFlex pooled unbought local volume into blocks of at least 1 MW; 500 kW and 0.1 MW elsewhere), done around the
/// clearing engine: the pools go in as single offers, and their results come out again per member.
/// <list type="bullet">
/// <item>Block size is average power over the request's window: an offer's energy over the window's length. An offer at or
/// above <see cref="FlexRequest.MinBlock"/> clears on its own, as any offer.</item>
/// <item>Below it, a direct offer never wins; a forwarded one (<see cref="Offer.ForwardedFrom"/>) is pooled if it could win
/// on its own: in the request's direction, within the price cap, submitted before gate closure, its power profile (if any)
/// fitting the request's market intervals, its stations eligible and none booked for an overlapping window by an earlier
/// clearing. Any other offer below the block is
/// <see cref="OfferOutcomeKind.RejectedBelowMinimumBlock"/>, its detail saying why.</item>
/// <item>Pools form in merit order (price, then submission time, then offer id): each takes the next offers until its power
/// reaches the block, then the next pool starts. Offers left in a last pool below the block lose (below minimum block).</item>
/// <item>A pool is one indivisible offer in clearing, ranked and priced as its dearest member, submitted as its latest one;
/// every member is paid the pool's price (the engine's pay-as-bid or pay-as-clear price of the block), which is at least
/// its own. A pool of flat offers is a flat block; with a profiled member (forwarding keeps the power offered per interval)
/// the block's profile is the members' power summed interval by interval, a flat member's spread evenly. On a request with
/// a power profile, or with a profiled block, the block clears only where every interval still needs what it brings there
/// (an indivisible offer across all its intervals).</item>
/// <item>Partial activation: none. A pool is activated whole or not at all: when the TSO needs less than the block
/// (<see cref="OfferOutcomeKind.RejectedIndivisibleOvershoot"/>), or a member's station is taken in the same clearing
/// (<see cref="OfferOutcomeKind.RejectedCapacityConflict"/>), every member loses with the pool's outcome.</item>
/// <item>An activated pool yields one award per member (its own offer, stations, energy and CPO, naming the pool in
/// <see cref="Award.PoolId"/>; per interval, a profiled block's members get their own power, and a flat block cleared on
/// a profile request is shared among its members in proportion to their energy, to the watt-hour), so escrow, verification and payment stay per CPO; each member's outcome names its pool
/// (<see cref="OfferOutcome.PoolId"/>). Outcomes list the cleared offers in the engine's order (a pool's members in its
/// place, in merit order), then the offers below the block.</item>
/// </list>
/// </summary>
public static class Pooling
{
    /// <summary>The average power of <paramref name="energy"/> over <paramref name="window"/> (kW, to the watt, rounded down).</summary>
    public static Kilowatts PowerOf(KilowattHours energy, TimeWindow window) =>
        new(decimal.Round(energy.Value * TimeSpan.TicksPerHour / window.Duration.Ticks, 3, MidpointRounding.ToZero));

    /// <summary>Whether <paramref name="energy"/> over <paramref name="window"/> averages less than <paramref name="block"/> (exact, no rounding).</summary>
    public static bool IsBelow(KilowattHours energy, Kilowatts block, TimeWindow window) =>
        energy.Value * TimeSpan.TicksPerHour < block.Value * window.Duration.Ticks;

    /// <summary>
    /// Clears a gate cycle as <see cref="CoordinatedClearing.Clear"/> does, with the offers of each request in
    /// <paramref name="minimumBlocks"/> pooled into blocks of at least its size (the rules above).
    /// </summary>
    /// <param name="minimumBlocks">The minimum block (kW) by request id; requests not in it clear as they are.</param>
    /// <param name="nodes">The grid nodes' headroom, for the common market (<see cref="CoordinatedClearing.Clear"/>).</param>
    public static GateCycleResult Clear(
        IReadOnlyList<CoordinatedRequest> requests, IReadOnlyList<Offer> offers, IReadOnlyCollection<StationBooking>? taken,
        IReadOnlyDictionary<string, Kilowatts> minimumBlocks, IReadOnlyList<NodeHeadroom>? nodes = null)
    {
        ArgumentNullException.ThrowIfNull(requests);
        ArgumentNullException.ThrowIfNull(offers);
        ArgumentNullException.ThrowIfNull(minimumBlocks);
        var blocked = requests.Where(r => minimumBlocks.ContainsKey(r.Request.Id)).ToList();
        if (blocked.Count == 0) return CoordinatedClearing.Clear(requests, offers, taken, nodes);
        var byRequest = offers.ToLookup(o => o.RequestId, StringComparer.Ordinal);
        var booked = (taken ?? []).ToLookup(b => b.StationId, StringComparer.Ordinal);
        var plans = blocked.ToDictionary(r => r.Request.Id, r => Plan(r.Request, minimumBlocks[r.Request.Id], byRequest[r.Request.Id], booked), StringComparer.Ordinal);
        var input = offers.Where(o => !plans.TryGetValue(o.RequestId, out var p) || p.Alone.Contains(o.Id))
            .Concat(plans.Values.SelectMany(p => p.Pools.Values.Select(x => x.Block))).ToList();
        var cleared = CoordinatedClearing.Clear(requests, input, taken, nodes);
        return cleared with { Results = cleared.Results.Select(r => plans.TryGetValue(r.RequestId, out var p) ? Expand(r, p) : r).ToList() };
    }

    /// <summary>
    /// A pool: its id on the request (<c>pool-1</c>, ...), its members in merit order and the single offer it clears as; with a
    /// profiled member, each member's own power per interval (the block's profile is their sum), else null.
    /// </summary>
    private sealed record Pool(string Id, IReadOnlyList<Offer> Members, Offer Block, IReadOnlyList<Kilowatts>[]? MemberProfiles);

    /// <summary>How one request's offers go into clearing: alone (by id), as pools (by block offer id), or rejected before it.</summary>
    private sealed record BlockPlan(HashSet<string> Alone, Dictionary<string, Pool> Pools, List<OfferOutcome> Rejected, MarketInterval Interval);

    private static BlockPlan Plan(ClearingRequest request, Kilowatts block, IEnumerable<Offer> offers, ILookup<string, StationBooking> booked)
    {
        var plan = new BlockPlan(new(StringComparer.Ordinal), new(StringComparer.Ordinal), [], request.Interval);
        var candidates = new List<Offer>();
        foreach (var o in offers)
        {
            if (!IsBelow(o.Energy, block, request.Delivery)) plan.Alone.Add(o.Id);
            else if (NotPoolable(request, o, booked) is { } why) plan.Rejected.Add(Below(o, request, block, why));
            else candidates.Add(o);
        }
        var members = new List<Offer>();
        var energy = KilowattHours.Zero;
        foreach (var o in candidates.OrderBy(o => o.Price.Value).ThenBy(o => o.SubmittedAt).ThenBy(o => o.Id, StringComparer.Ordinal))
        {
            members.Add(o);
            energy += o.Energy;
            if (IsBelow(energy, block, request.Delivery)) continue;
            var pool = NewPool(request, plan.Pools.Count + 1, members, energy);
            plan.Pools[pool.Block.Id] = pool;
            members = [];
            energy = KilowattHours.Zero;
        }
        foreach (var o in members)
            plan.Rejected.Add(Below(o, request, block,
                $"the forwarded offers left to pool with it ({members.Count} in all) reach only {PowerOf(energy, request.Delivery)}"));
        return plan;
    }

    /// <summary>Why a small offer cannot join a pool (it could not win on its own either), or null when it can.</summary>
    private static string? NotPoolable(ClearingRequest request, Offer o, ILookup<string, StationBooking> booked)
    {
        if (o.ForwardedFrom is null) return "only offers forwarded from a DSO's request are pooled";
        if (o.Profile is not null && Profiles.OfferedWh(o, request.Interval, request.Delivery) is null) return $"its power profile does not fit the request's market intervals of {request.Interval}";
        if (o.Direction != request.Direction) return "it moves consumption the other way";
        if (o.Price.Value <= 0 || o.Price > request.PriceCap) return $"its price is above the cap of {request.PriceCap}";
        if (o.SubmittedAt >= request.GateClosure) return "it came after gate closure";
        if (o.Energy.Value <= 0 || o.StationIds.Count == 0) return "it offers nothing";
        if (request.QualifiedStationIds is { } eligible && o.StationIds.FirstOrDefault(s => !eligible.Contains(s)) is { } ineligible)
            return $"station {ineligible} is not eligible";
        foreach (var s in o.StationIds)
            if (booked[s].FirstOrDefault(b => b.Window.Overlaps(request.Delivery)) is { } b)
                return $"station {s} is booked by award {b.AwardId} for an overlapping window";
        return null;
    }

    private static OfferOutcome Below(Offer o, ClearingRequest request, Kilowatts block, string why) =>
        new(o.Id, OfferOutcomeKind.RejectedBelowMinimumBlock, KilowattHours.Zero)
        {
            Detail = $"The offer averages {PowerOf(o.Energy, request.Delivery)}, below the request's minimum block of {block}, and is not pooled: {why}.",
        };

    private static Pool NewPool(ClearingRequest request, int number, IReadOnlyList<Offer> members, KilowattHours energy)
    {
        var id = $"pool-{number}";
        // With a profiled member the block is the members' power summed interval by interval (a flat one spread evenly);
        // otherwise it is flat, and the engine spreads it over the window as any flat offer.
        var wh = members.Any(m => m.Profile is not null) ? members.Select(m => Profiles.OfferedWh(m, request.Interval, request.Delivery)!).ToList() : null;
        IReadOnlyList<Kilowatts> Power(IEnumerable<long> intervals) => Array.AsReadOnly(intervals.Select(x => Profiles.Power(x, request.Interval.Minutes)).ToArray());
        var block = new Offer($"{request.Id}#{id}", request.Id, "", members.SelectMany(m => m.StationIds).ToList(), energy,
            new EurosPerKilowattHour(members.Max(m => m.Price.Value)), Divisible: false, members.Max(m => m.SubmittedAt))
        {
            Direction = request.Direction,
            Profile = wh is null ? null : Power(Enumerable.Range(0, wh[0].Length).Select(k => wh.Sum(m => m[k]))),
        };
        return new Pool(id, members, block, wh?.Select(Power).ToArray());
    }

    /// <summary>The request's result with each pool's outcome and award replaced by its members', and the offers below the block added.</summary>
    private static ClearingResult Expand(ClearingResult result, BlockPlan plan)
    {
        var outcomes = new List<OfferOutcome>(result.Outcomes.Count + plan.Rejected.Count);
        foreach (var o in result.Outcomes)
        {
            if (!plan.Pools.TryGetValue(o.OfferId, out var pool)) { outcomes.Add(o); continue; }
            var detail = $"Cleared as {pool.Id}, one block of {pool.Members.Count} pooled offers ({pool.Block.Energy}, priced as its dearest member)"
                + (o.Detail is { } d ? ": " + d : ".");
            outcomes.AddRange(pool.Members.Select(m => new OfferOutcome(m.Id, o.Kind, o.IsAccepted ? m.Energy : KilowattHours.Zero)
            {
                Price = o.Price, Detail = o.IsAccepted ? null : detail, PoolId = pool.Id,
            }));
        }
        outcomes.AddRange(plan.Rejected);
        var memberAwards = new Dictionary<string, string>(StringComparer.Ordinal); // pool award id + station -> member award id
        var awards = new List<Award>(result.Awards.Count);
        foreach (var a in result.Awards)
        {
            if (!plan.Pools.TryGetValue(a.OfferId, out var pool)) { awards.Add(a); continue; }
            if (a.Energy != pool.Block.Energy) throw new InvalidOperationException($"pool {pool.Id} of request {result.RequestId} was cut: a pool is indivisible");
            var profiles = pool.MemberProfiles ?? (a.Profile is null ? null : Share(a.Profile, pool.Members, plan.Interval));
            for (var j = 0; j < pool.Members.Count; j++)
            {
                var m = pool.Members[j];
                var award = new Award(Award.IdFor(result.RequestId, m.Id), m.Id, m.CpoId, m.StationIds, m.Energy, a.Price)
                {
                    PoolId = pool.Id, Profile = profiles?[j],
                };
                awards.Add(award);
                foreach (var s in m.StationIds) memberAwards[a.Id + "|" + s] = award.Id;
            }
        }
        var bookings = result.Bookings?.Select(b => memberAwards.TryGetValue(b.AwardId + "|" + b.StationId, out var id) ? b with { AwardId = id } : b).ToList();
        return result with { Awards = awards, Outcomes = outcomes, Bookings = bookings };
    }

    /// <summary>
    /// The block's per-interval energy (<paramref name="block"/>, kW per interval) shared among <paramref name="members"/> in
    /// proportion to their energy, in whole watt-hours: each member's row sums to its energy and each interval's column to the
    /// block's, so the members' profiles add up to exactly what the block was awarded (remainders go, a watt-hour at a time,
    /// to the first members and intervals still short).
    /// </summary>
    private static IReadOnlyList<Kilowatts>[] Share(IReadOnlyList<Kilowatts> block, IReadOnlyList<Offer> members, MarketInterval interval)
    {
        var column = block.Select(kw => decimal.ToInt64(kw.Value * 1000 * interval.Minutes / 60)).ToArray();
        var row = members.Select(m => Units.WattHours(m.Energy, "energyKwh")).ToArray();
        var total = column.Sum();
        var wh = new long[row.Length, column.Length];
        var rowShort = (long[])row.Clone();
        var columnShort = (long[])column.Clone();
        for (var j = 0; j < row.Length; j++)
            for (var k = 0; k < column.Length; k++)
            {
                wh[j, k] = (long)((Int128)row[j] * column[k] / total);
                rowShort[j] -= wh[j, k];
                columnShort[k] -= wh[j, k];
            }
        for (int j = 0, k = 0; j < row.Length && k < column.Length;)
        {
            var add = Math.Min(rowShort[j], columnShort[k]);
            wh[j, k] += add;
            rowShort[j] -= add;
            columnShort[k] -= add;
            if (rowShort[j] == 0) j++;
            else k++;
        }
        return [.. Enumerable.Range(0, row.Length).Select(j => (IReadOnlyList<Kilowatts>)Array.AsReadOnly(
            Enumerable.Range(0, column.Length).Select(k => Profiles.Power(wh[j, k], interval.Minutes)).ToArray()))];
    }
}
