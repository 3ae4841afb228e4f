using Google.OrTools.LinearSolver;

namespace FlexChain.Domain;

/// <summary>
/// The common market (DOMAIN.md section 7, <see cref="CoordinationModel.Common"/>): the DSO and TSO requests of a market
/// area's gate cycle cleared together over one order book, each station to the buyer that values it most.
/// <list type="number">
/// <item><b>The order book.</b> Every offer of the requests, each on its own request (a CPO offers a station to each buyer
/// it wants to sell to, itself or by forwarding). Each request is first cleared alone by the <see cref="ClearingEngine"/>
/// with a need no offer set can fill, so the engine's own checks decide which offers may clear at all (late, other
/// direction, over the price cap, a station not eligible: grid prequalification, its conditions and temporary limits as
/// <see cref="ClearingRequest.QualifiedStationIds"/> carries them; a station booked by an earlier award; more power than
/// the stations have); those keep the engine's outcome, and the rest are the candidates.</item>
/// <item><b>The allocation</b>, a mixed-integer program (OR-Tools' SCIP, in whole watt-hours): per candidate, the energy
/// taken in each slot (the request's market intervals when it clears by profile, else its whole window), at most what
/// it offers there; indivisible offers all or nothing; a divisible offer's part at least the request's minimum
/// (<see cref="ClearingRequest.MinimumAccepted"/>); per request and slot, at most the need (the common market buys no
/// overfill: <see cref="ClearingRequest.OverfillAllowance"/> does not apply); and a station taken by at most one award
/// among windows that overlap (its recovery time included), whatever their buyers; and the grid limits (below). The objective: maximise the surplus,
/// the sum over awards of (the request's price cap - the offer's price) x energy. Then what is left of each need is filled
/// with the offers left out that fit, request by request in merit order (price, submission time, id): an offer at the
/// cap adds no surplus but still fills a need, as in the engine. The model is built in a fixed order (requests by id,
/// offers in merit order) and SCIP runs on one thread, so the same input gives the same awards, ties included. A solve
/// that runs out of time (<see cref="TimeLimit"/>) keeps the best allocation found so far.</item>
/// <item><b>The result</b>: the engine clears each request once more with exactly the allocated offers (a divisible offer
/// cut to its part), so awards, prices (the request's pricing rule), bookings and outcomes are the engine's own. An
/// offer left out is <see cref="OfferOutcomeKind.RejectedCapacityConflict"/> when its station went to another buyer's
/// award (the detail names it), <see cref="OfferOutcomeKind.RejectedIndivisibleOvershoot"/> when it is indivisible and
/// larger than what is left of the need, otherwise <see cref="OfferOutcomeKind.RejectedNotNeeded"/>; but an offer a grid
/// limit kept out (below) is <see cref="OfferOutcomeKind.RejectedCapacityConflict"/>, its detail naming the node and its headroom.</item>
/// <item><b>The grid limits</b> (<see cref="NodeHeadroom"/>): for every grid node with limits and a forecast in a market
/// interval, the awards' net added load below the node there (the kW of increase-consumption awards on its stations minus
/// the kW of reduce-consumption awards on them) must not exceed its headroom to its operational limit,
/// max(0, operational limit - forecast load). So the market never adds load at a node beyond its operational limit, and at a
/// node already above it an increase clears only where reductions below the same node at least offset it. A node without
/// limits, or an interval without a forecast, constrains nothing. An award's kW in a slot is its watt-hours there over the
/// slot's length (a flat award's power is even over its window); the limit holds at every instant of the interval, so it is
/// one constraint per node and piece of the interval between the slot boundaries of the awards below the node. An offer on
/// stations under different nodes counts whole: an increase adds its kW at every node any of its stations is below, a
/// reduction relieves only a node all of its stations are below (so no split of its power can break a limit). The fill in
/// merit order keeps to the same limits, cutting a divisible offer to the room left. Awards of earlier gate cycles below
/// the node (any market) are counted in the headroom passed in (<see cref="NodeHeadroom.Of"/>: the operator's forecast is
/// the load without market activations); a retried clearing of the same cycle does not count its own.</item>
/// </list>
/// A station's power is not shared between two buyers in one interval (the sequential models let it be, when its power
/// allows): in the common market one award books it.
/// </summary>
public static class CommonMarketClearing
{
    /// <summary>How long the solver searches before it takes the best allocation found.</summary>
    public static readonly TimeSpan TimeLimit = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Clears <paramref name="requests"/> together over <paramref name="offers"/> (matched by <see cref="Offer.RequestId"/>);
    /// <paramref name="taken"/> are the stations booked by earlier clearings; <paramref name="nodes"/> the grid nodes' headroom
    /// (none: no grid limit).
    /// </summary>
    /// <returns>One result per request, by request id, and the offers that named no request of the cycle.</returns>
    /// <exception cref="DomainException">As <see cref="ClearingEngine.Clear"/> for a request that is not valid.</exception>
    /// <exception cref="ArgumentException">A request carries a manual decision (<see cref="CoordinatedClearing"/> clears those before the common market); or as <see cref="ClearingEngine.Clear"/>.</exception>
    public static GateCycleResult Clear(IReadOnlyList<ClearingRequest> requests, IReadOnlyList<Offer> offers, IReadOnlyCollection<StationBooking>? taken = null,
        IReadOnlyList<NodeHeadroom>? nodes = null)
    {
        ArgumentNullException.ThrowIfNull(requests);
        ArgumentNullException.ThrowIfNull(offers);
        if (requests.FirstOrDefault(r => r.Decision is not null) is { } manual)
            throw new ArgumentException($"request {manual.Id} carries a manual decision; it clears before the common market", nameof(requests));
        var ordered = requests.OrderBy(r => r.Id, StringComparer.Ordinal).ToList();
        ClearingEngine.Clear(ordered, []); // the engine's checks of the requests themselves (ids, energy, cap, profile), offers aside
        var ids = ordered.Select(r => r.Id).ToHashSet(StringComparer.Ordinal);
        var byRequest = offers.Where(o => ids.Contains(o.RequestId)).ToLookup(o => o.RequestId, StringComparer.Ordinal);
        var sides = new List<Side>(ordered.Count);
        var candidates = new List<Candidate>();
        foreach (var r in ordered)
        {
            sides.Add(Side.Of(sides.Count, candidates.Count, r, byRequest[r.Id].ToList(), taken));
            candidates.AddRange(sides[^1].Candidates);
        }
        var clashes = Clashes(sides, candidates).ToList();
        var limits = NodeLimit.Of(nodes ?? [], sides, candidates);
        var rooms = NodeLimit.OnIncreases(limits);
        var taking = Allocate(sides, candidates, clashes, limits, rooms);
        // A left-out offer whose station went to another buyer's award names that award.
        var lostTo = new Dictionary<Candidate, (string Station, Candidate Winner)>();
        foreach (var (a, b, station) in clashes)
        {
            if (taking.ContainsKey(a) && !taking.ContainsKey(b)) lostTo.TryAdd(b, (station, a));
            if (taking.ContainsKey(b) && !taking.ContainsKey(a)) lostTo.TryAdd(a, (station, b));
        }
        var cleared = ClearingEngine.Clear(
            sides.Where(s => s.Taken(taking).Any()).Select(s => s.Cut(taking)).ToList(),
            sides.SelectMany(s => s.Taken(taking).Select(c => c.Cut(taking[c]))).ToList(), taken);
        var results = sides.Select(s => s.Result(taking, cleared, lostTo, rooms, ordered)).ToList();
        return new GateCycleResult(results, ClearingEngine.Clear([], offers.Where(o => !ids.Contains(o.RequestId)).ToList()).Unmatched);
    }

    /// <summary>Solves the allocation: the watt-hours of each candidate taken, per slot (candidates left out are absent).</summary>
    private static Dictionary<Candidate, long[]> Allocate(
        List<Side> sides, List<Candidate> candidates, List<(Candidate A, Candidate B, string Station)> clashes, List<NodeLimit> limits,
        ILookup<Candidate, (int Slot, NodeLimit Limit)> rooms)
    {
        var taking = new Dictionary<Candidate, long[]>();
        if (candidates.Count == 0) return taking;
        using var solver = Solver.CreateSolver("SCIP") ?? throw new InvalidOperationException("OR-Tools has no SCIP solver.");
        solver.SetNumThreads(1);
        solver.SetTimeLimit((long)TimeLimit.TotalMilliseconds);
        var take = new Variable[candidates.Count];
        var parts = new Variable[candidates.Count][];
        foreach (var side in sides)
        {
            var need = side.NeedWh.Select((wh, k) => solver.MakeConstraint(double.NegativeInfinity, wh, $"need-{side.Index}-{k}")).ToArray();
            foreach (var c in side.Candidates)
            {
                take[c.Index] = solver.MakeBoolVar($"take-{c.Index}");
                parts[c.Index] = c.OfferedWh.Select((wh, k) => solver.MakeIntVar(0, wh, $"wh-{c.Index}-{k}")).ToArray();
                for (var k = 0; k < need.Length; k++)
                {
                    need[k].SetCoefficient(parts[c.Index][k], 1);
                    // Indivisible: all of every slot or nothing; divisible: any part, only when taken.
                    var link = c.Offer.Divisible ? solver.MakeConstraint(double.NegativeInfinity, 0) : solver.MakeConstraint(0, 0);
                    link.SetCoefficient(parts[c.Index][k], 1);
                    link.SetCoefficient(take[c.Index], -c.OfferedWh[k]);
                }
                if (c.Offer.Divisible && side.MinimumWh > 0)
                {
                    var least = solver.MakeConstraint(0, double.PositiveInfinity);
                    foreach (var x in parts[c.Index]) least.SetCoefficient(x, 1);
                    least.SetCoefficient(take[c.Index], -Math.Min(side.MinimumWh, c.OfferedWh.Sum()));
                }
            }
        }
        foreach (var (a, b, _) in clashes)
        {
            var once = solver.MakeConstraint(double.NegativeInfinity, 1);
            once.SetCoefficient(take[a.Index], 1);
            once.SetCoefficient(take[b.Index], 1);
        }
        foreach (var limit in limits)
        {
            var room = solver.MakeConstraint(double.NegativeInfinity, (double)limit.HeadroomW);
            foreach (var (c, slot, wPerWh) in limit.Terms) room.SetCoefficient(parts[c.Index][slot], (double)wPerWh);
        }

        // Maximise the surplus: (cap - price) in 0.0001 EUR per kWh, per watt-hour taken.
        var goal = solver.Objective();
        foreach (var c in candidates)
            foreach (var x in parts[c.Index]) goal.SetCoefficient(x, c.SurplusUnits);
        goal.SetMaximization();
        var parameters = new MPSolverParameters();
        parameters.SetDoubleParam(MPSolverParameters.DoubleParam.RELATIVE_MIP_GAP, 0);
        var status = solver.Solve(parameters);
        // Out of time, SCIP still has an allocation (at worst none at all, which is feasible): the best found so far.
        if (status is not (Solver.ResultStatus.OPTIMAL or Solver.ResultStatus.FEASIBLE))
            throw new InvalidOperationException($"The common market's solver stopped with {status}.");
        foreach (var c in candidates)
        {
            var wh = parts[c.Index].Select(x => (long)Math.Round(x.SolutionValue())).ToArray();
            if (wh.Sum() > 0) taking.Add(c, wh);
        }
        Fill(sides, taking, clashes, rooms);
        return taking;
    }

    /// <summary>
    /// Fills what the allocation left of each need with the offers it left out that fit, request by request in merit order:
    /// offers at the price cap add no surplus, so the solver may leave them out, but they fill a need as the engine would.
    /// An increase takes no more in a slot than the grid limits leave it.
    /// </summary>
    private static void Fill(List<Side> sides, Dictionary<Candidate, long[]> taking, List<(Candidate A, Candidate B, string Station)> clashes,
        ILookup<Candidate, (int Slot, NodeLimit Limit)> rooms)
    {
        var rivals = clashes.SelectMany(x => new[] { (x.A, x.B), (x.B, x.A) }).ToLookup(x => x.Item1, x => x.Item2);
        foreach (var side in sides)
        {
            var left = side.Left(taking);
            foreach (var c in side.Candidates)
            {
                if (taking.ContainsKey(c) || rivals[c].Any(taking.ContainsKey)) continue;
                var wh = c.OfferedWh.Select((offered, k) => Math.Min(offered, Math.Max(left[k], 0))).ToArray();
                foreach (var (k, limit) in rooms[c]) wh[k] = Math.Min(wh[k], limit.RoomWh(c, taking));
                var whole = wh.SequenceEqual(c.OfferedWh);
                if (wh.Sum() == 0 || (!c.Offer.Divisible && !whole) || (!whole && wh.Sum() < side.MinimumWh)) continue;
                taking.Add(c, wh);
                for (var k = 0; k < left.Length; k++) left[k] -= wh[k];
            }
        }
    }

    /// <summary>Pairs of candidates of different requests that name one station for windows that overlap, its recovery time included.</summary>
    private static IEnumerable<(Candidate A, Candidate B, string Station)> Clashes(List<Side> sides, List<Candidate> candidates)
    {
        var byStation = candidates.SelectMany(c => c.Offer.StationIds.Distinct().Select(s => (s, c))).ToLookup(x => x.s, x => x.c, StringComparer.Ordinal);
        foreach (var station in byStation)
        {
            var named = station.ToList();
            for (var i = 0; i < named.Count; i++)
                for (var j = i + 1; j < named.Count; j++)
                    if (named[i].Side != named[j].Side && Overlap(sides[named[i].Side].Request, sides[named[j].Side].Request, station.Key))
                        yield return (named[i], named[j], station.Key);
        }
    }

    /// <summary>Whether awards of <paramref name="a"/> and <paramref name="b"/> on <paramref name="station"/> would overlap, the station's rest after each window included.</summary>
    private static bool Overlap(ClearingRequest a, ClearingRequest b, string station)
    {
        var rest = TimeSpan.Zero;
        foreach (var map in new[] { a.Stations, b.Stations })
            if (map is not null && map.TryGetValue(station, out var capacity) && capacity.Recovery > rest) rest = capacity.Recovery;
        return a.Delivery.Start < b.Delivery.End + rest && b.Delivery.Start < a.Delivery.End + rest;
    }

    private static long Wh(KilowattHours energy) => Units.WattHours(energy, "energyKwh");

    /// <summary>The watt-hours per market interval of <paramref name="profile"/> (valid: the engine has checked it).</summary>
    private static long[] Wh(IReadOnlyList<Kilowatts> profile, int minutes)
    {
        var wh = new long[profile.Count];
        Profiles.IntervalWh(profile, minutes, wholeIntervals: true, wh);
        return wh;
    }

    /// <summary>An offer that may clear on its request: what it offers per slot and what a watt-hour of it is worth.</summary>
    private sealed class Candidate(int index, int side, Offer offer, long[] offeredWh, long surplusUnits, int minutes, bool profiled)
    {
        public int Index => index;
        public int Side => side;

        public Offer Offer => offer;
        public long[] OfferedWh => offeredWh;

        /// <summary>The request's cap minus the offer's price, in 0.0001 EUR per kWh.</summary>
        public long SurplusUnits => surplusUnits;

        /// <summary>The offer as the final clearing takes it: whole, or cut to <paramref name="wh"/> per slot.</summary>
        public Offer Cut(long[] wh)
        {
            var total = wh.Sum();
            if (total == Wh(offer.Energy)) return offer;
            return profiled
                ? offer with { Energy = Units.Kwh(total), Profile = Array.ConvertAll(wh, w => Profiles.Power(w, minutes)) }
                : offer with { Energy = Units.Kwh(total) };
        }
    }

    /// <summary>
    /// One grid limit of the allocation: a node's headroom over a piece of one of its market intervals, and the slots of the
    /// candidates below it that cover the piece, each with the watts per watt-hour it adds there (negative for a reduction).
    /// </summary>
    private sealed class NodeLimit(string nodeId, TimeWindow piece, Kilowatts headroom, List<(Candidate C, int Slot, decimal WPerWh)> terms)
    {
        public decimal HeadroomW => headroom.Value * 1000m;
        public List<(Candidate C, int Slot, decimal WPerWh)> Terms => terms;

        /// <summary>The limits of <paramref name="nodes"/> on <paramref name="candidates"/>: one per node and piece of an interval between slot boundaries, where an increase is below it.</summary>
        public static List<NodeLimit> Of(IReadOnlyList<NodeHeadroom> nodes, List<Side> sides, List<Candidate> candidates)
        {
            var limits = new List<NodeLimit>();
            foreach (var node in nodes.OrderBy(n => n.NodeId, StringComparer.Ordinal))
            {
                // An increase counts at every node any of its stations is below; a reduction only where all of them are.
                var below = candidates.Select(c => (c, Up: sides[c.Side].Request.Direction == Direction.IncreaseConsumption))
                    .Where(x => x.Up ? x.c.Offer.StationIds.Any(node.StationIds.Contains) : x.c.Offer.StationIds.All(node.StationIds.Contains))
                    .SelectMany(x => sides[x.c.Side].Slots.Select((w, k) => (x.c, k, w, x.Up))).ToList();
                if (!below.Any(x => x.Up)) continue;
                foreach (var (interval, room) in node.Intervals)
                {
                    var here = below.Where(x => x.w.Overlaps(interval)).ToList();
                    foreach (var piece in NodeHeadroom.Pieces(interval, here.Select(x => x.w)))
                    {
                        var terms = here.Where(x => x.w.Overlaps(piece))
                            .Select(x => (x.c, x.k, (x.Up ? 1 : -1) * TimeSpan.TicksPerHour / (decimal)x.w.Duration.Ticks)).ToList();
                        if (terms.Any(t => t.Item3 > 0)) limits.Add(new(node.NodeId, piece, room, terms));
                    }
                }
            }
            return limits;
        }

        /// <summary>The limits on each increase candidate, with the slot each takes it in.</summary>
        public static ILookup<Candidate, (int Slot, NodeLimit Limit)> OnIncreases(List<NodeLimit> limits) =>
            limits.SelectMany(l => l.Terms.Where(t => t.WPerWh > 0).Select(t => (t.C, t.Slot, Limit: l))).ToLookup(x => x.C, x => (x.Slot, x.Limit));

        /// <summary>What <paramref name="c"/>, an increase not taken, may still take in its slot here (Wh) on top of <paramref name="taking"/>.</summary>
        public long RoomWh(Candidate c, Dictionary<Candidate, long[]> taking) =>
            Math.Max(0, (long)decimal.Floor(LeftW(taking) / terms.Single(t => t.C == c).WPerWh));

        /// <summary>The headroom left (W) after the net load <paramref name="taking"/> adds.</summary>
        private decimal LeftW(Dictionary<Candidate, long[]> taking) =>
            HeadroomW - terms.Where(t => taking.ContainsKey(t.C)).Sum(t => t.WPerWh * taking[t.C][t.Slot]);

        public OfferOutcome KeptOut(Candidate c, Dictionary<Candidate, long[]> taking) =>
            new(c.Offer.Id, OfferOutcomeKind.RejectedCapacityConflict, KilowattHours.Zero)
            {
                Detail = $"Grid node {nodeId} has {headroom} of headroom to its operational limit in {piece}{AfterEarlier}; the common market's other awards "
                    + $"below it leave {new Kilowatts(decimal.Round(Math.Max(0m, LeftW(taking)) / 1000m, 3, MidpointRounding.ToZero))}, too little for this offer.",
            };

        /// <summary>Why an offer was taken only in part: the awards below the node, its own included, fill its headroom.</summary>
        public string CutShort() =>
            $"Cut to the grid limit: grid node {nodeId} has {headroom} of headroom to its operational limit in {piece}{AfterEarlier}, which the common market's awards below it, this one included, fill.";

        private const string AfterEarlier = " (after earlier gate cycles' awards below it)";
    }

    /// <summary>One request: the engine's verdict on each of its offers alone, its candidates and its need per slot.</summary>
    private sealed class Side
    {
        public required int Index { get; init; }
        public required ClearingRequest Request { get; init; }

        /// <summary>The request cleared alone with a need no offer set fills: its outcomes hold every offer, in merit order.</summary>
        public required ClearingResult Alone { get; init; }
        public required List<Candidate> Candidates { get; init; }

        /// <summary>The need per slot: per market interval when the request clears by profile, else one for the window.</summary>
        public required long[] NeedWh { get; init; }
        public required long MinimumWh { get; init; }
        public required bool Profiled { get; init; }
        public required int Minutes { get; init; }

        /// <summary>The time of each slot: the request's market intervals when it clears by profile, else its window.</summary>
        public required IReadOnlyList<TimeWindow> Slots { get; init; }

        /// <param name="index">The request's place (by id).</param>
        /// <param name="first">The index its first candidate gets.</param>
        public static Side Of(int index, int first, ClearingRequest r, List<Offer> offers, IReadOnlyCollection<StationBooking>? taken)
        {
            var minutes = r.Interval.Minutes == 0 ? MarketInterval.Default.Minutes : r.Interval.Minutes;
            var intervals = MarketInterval.From(minutes).Cut(r.Delivery);
            var cuts = intervals.Count;
            // Per interval, more than the request and all its offers together: every offer that may clear is accepted whole.
            var room = (long)decimal.Ceiling((r.Energy.Value + offers.Sum(o => Math.Max(o.Energy.Value, 0m))) * 1000m);
            var wide = r with
            {
                Energy = Units.Kwh(room * cuts), OverfillAllowance = KilowattHours.Zero,
                Profile = r.Profile is null ? null : Enumerable.Repeat(Profiles.Power(room, minutes), cuts).ToArray(),
            };
            var alone = ClearingEngine.Clear([wide], offers, taken).Results[0];
            // The engine clears by interval when the request or an offer has a profile; its awards then carry one.
            var profiled = alone.Awards.Any(a => a.Profile is not null);
            var need = new long[profiled ? cuts : 1];
            if (!profiled) need[0] = Wh(r.Energy);
            else if (r.Profile is { } profile) need = Wh(profile, minutes);
            else Profiles.Spread(Wh(r.Energy), need);
            var byId = offers.ToDictionary(o => o.Id, StringComparer.Ordinal);
            var cap = Units.PriceUnits(r.PriceCap, "maxPriceEurPerKwh");
            return new Side
            {
                Index = index, Request = r, Alone = alone, NeedWh = need, Profiled = profiled, Minutes = minutes,
                Slots = profiled ? intervals : [r.Delivery],
                MinimumWh = r.MinimumAccepted is { } min ? Wh(min) : 0,
                Candidates = alone.Awards.Select((a, rank) => new Candidate(first + rank, index, byId[a.OfferId],
                    profiled ? Wh(a.Profile!, minutes) : [Wh(a.Energy)],
                    cap - Units.PriceUnits(byId[a.OfferId].Price, "priceEurPerKwh"), minutes, profiled)).ToList(),
            };
        }

        public IEnumerable<Candidate> Taken(Dictionary<Candidate, long[]> taking) => Candidates.Where(taking.ContainsKey);

        /// <summary>The request as the final clearing takes it: exactly what was allocated to it, per slot.</summary>
        public ClearingRequest Cut(Dictionary<Candidate, long[]> taking)
        {
            var wh = Allocated(taking);
            return Request with
            {
                Energy = Units.Kwh(wh.Sum()), OverfillAllowance = KilowattHours.Zero, MinimumAccepted = null,
                Profile = Profiled ? Array.ConvertAll(wh, w => Profiles.Power(w, Minutes)) : null,
            };
        }

        /// <summary>The need left per slot after what is allocated to the request.</summary>
        public long[] Left(Dictionary<Candidate, long[]> taking) => Allocated(taking).Select((wh, k) => NeedWh[k] - wh).ToArray();

        private long[] Allocated(Dictionary<Candidate, long[]> taking)
        {
            var wh = new long[NeedWh.Length];
            foreach (var c in Taken(taking))
                for (var k = 0; k < wh.Length; k++) wh[k] += taking[c][k];
            return wh;
        }

        /// <summary>The request's result: the final clearing's awards and bookings, and an outcome for every offer in merit order.</summary>
        public ClearingResult Result(Dictionary<Candidate, long[]> taking, GateCycleResult cleared,
            Dictionary<Candidate, (string Station, Candidate Winner)> lostTo, ILookup<Candidate, (int Slot, NodeLimit Limit)> rooms, List<ClearingRequest> requests)
        {
            var chosen = Taken(taking).Count();
            var final = chosen == 0 ? null : cleared.For(Request.Id);
            if (final is not null && final.Awards.Count != chosen)
                throw new InvalidOperationException($"Request {Request.Id}: the engine awarded {final.Awards.Count} of the {chosen} offers the common market allocated.");
            var finals = final?.Outcomes.ToDictionary(o => o.OfferId, StringComparer.Ordinal);
            var left = Left(taking);
            var candidates = Candidates.ToDictionary(c => c.Offer.Id, StringComparer.Ordinal);
            var outcomes = Alone.Outcomes.Select(o =>
                !candidates.TryGetValue(o.OfferId, out var c) ? o
                : taking.ContainsKey(c) ? Took(finals![o.OfferId], c, Cutting(c, rooms, taking, left))
                : lostTo.TryGetValue(c, out var lost) ? LostTo(c, lost.Station, requests[lost.Winner.Side].Id, lost.Winner)
                : Blocking(c, rooms, taking, left) is { } limit ? limit.KeptOut(c, taking)
                : LeftOut(c, left)).ToArray();
            var result = final ?? (Alone with { Awards = [], ClearingPrice = default, Bookings = [] });
            return result with { Outcomes = outcomes, Requested = Request.Energy, OverfillAllowance = Request.OverfillAllowance };
        }

        private static OfferOutcome Took(OfferOutcome outcome, Candidate c, NodeLimit? cutBy) =>
            outcome.AcceptedEnergy < c.Offer.Energy ? outcome with { Kind = OfferOutcomeKind.PartlyAccepted, Detail = cutBy?.CutShort() ?? outcome.Detail } : outcome;

        /// <summary>
        /// The grid limit that cut <paramref name="c"/>, taken in part, or null: one with less room left than the rest of its
        /// offer in a slot where it was cut, while the request still needed energy or took a dearer offer instead.
        /// </summary>
        private NodeLimit? Cutting(Candidate c, ILookup<Candidate, (int Slot, NodeLimit Limit)> rooms, Dictionary<Candidate, long[]> taking, long[] left)
        {
            var took = taking[c];
            if (!MayBind(c, rooms, taking, left)) return null;
            return rooms[c].FirstOrDefault(x => took[x.Slot] < c.OfferedWh[x.Slot] && x.Limit.RoomWh(c, taking) < c.OfferedWh[x.Slot] - took[x.Slot]).Limit;
        }

        private static OfferOutcome LostTo(Candidate c, string station, string requestId, Candidate winner) =>
            new(c.Offer.Id, OfferOutcomeKind.RejectedCapacityConflict, KilowattHours.Zero)
            {
                Detail = $"Station {station} goes to award {Award.IdFor(requestId, winner.Offer.Id)} of request {requestId} for an overlapping window: "
                    + "the common market's allocation gains more from it there.",
            };

        /// <summary>
        /// The grid limit that kept <paramref name="c"/> out, or null: one without room for it whole in a slot (or, divisible, for
        /// the least part the request takes) where the request still needed energy or took a dearer offer instead.
        /// </summary>
        private NodeLimit? Blocking(Candidate c, ILookup<Candidate, (int Slot, NodeLimit Limit)> rooms, Dictionary<Candidate, long[]> taking, long[] left)
        {
            if (!MayBind(c, rooms, taking, left)) return null;
            var least = c.Offer.Divisible ? Math.Max(1, Math.Min(MinimumWh, c.OfferedWh.Sum())) : c.OfferedWh.Sum();
            return rooms[c].FirstOrDefault(x => x.Limit.RoomWh(c, taking) < Math.Min(least, c.OfferedWh[x.Slot])).Limit;
        }

        /// <summary>Whether a grid limit can explain what <paramref name="c"/> did not get: one lies on it, and the request still needed energy or took a dearer offer instead.</summary>
        private bool MayBind(Candidate c, ILookup<Candidate, (int Slot, NodeLimit Limit)> rooms, Dictionary<Candidate, long[]> taking, long[] left) =>
            rooms[c].Any() && (left.Any(wh => wh > 0) || Taken(taking).Any(t => t.SurplusUnits < c.SurplusUnits));

        private static OfferOutcome LeftOut(Candidate c, long[] left)
        {
            var remaining = Units.Kwh(left.Sum()).Value;
            return !c.Offer.Divisible && c.OfferedWh.Where((wh, k) => wh > left[k]).Any()
                ? new(c.Offer.Id, OfferOutcomeKind.RejectedIndivisibleOvershoot, KilowattHours.Zero)
                    { Detail = $"The common market's allocation leaves {remaining} kWh of the request, less than this indivisible offer." }
                : new(c.Offer.Id, OfferOutcomeKind.RejectedNotNeeded, KilowattHours.Zero)
                    { Detail = $"The common market's allocation covers the request without it ({remaining} kWh left, below what may be taken of it)." };
        }
    }
}

/// <summary>
/// A grid node's room for the common market (<see cref="CommonMarketClearing"/>): the stations below it and, per market
/// interval where it has limits and a forecast, its headroom to its operational limit,
/// max(0, operational limit - forecast load - the net load earlier gate cycles' awards already add below it there).
/// The operator's forecast is taken as the load without market activations, so earlier awards are counted here, once
/// (<see cref="NodeLoad"/>), and never assumed to be in the forecast.
/// </summary>
/// <param name="StationIds">The stations connected at or below the node.</param>
/// <param name="Intervals">
/// Its intervals with a forecast, in time order, each cut where an earlier award's market interval starts or ends inside it
/// (the headroom of each piece is its own); an interval not listed is unconstrained.
/// </param>
public sealed record NodeHeadroom(string NodeId, IReadOnlySet<string> StationIds, IReadOnlyList<(TimeWindow Interval, Kilowatts Headroom)> Intervals)
{
    /// <summary>
    /// The headroom of <paramref name="node"/> in each interval of its <paramref name="states"/> (other nodes' are ignored),
    /// with <paramref name="stationIds"/> below it, less the net load <paramref name="awarded"/> adds below it (other nodes'
    /// are ignored): an earlier increase takes headroom, an earlier reduction gives it back, as a reduction offsets an
    /// increase within one clearing; never below zero. Null when the node has no limits.
    /// </summary>
    /// <param name="awarded">The net load of earlier gate cycles' awards below the node (none: the forecast alone).</param>
    public static NodeHeadroom? Of(GridNode node, IEnumerable<GridStateDay> states, IEnumerable<string> stationIds, IEnumerable<NodeLoad> awarded)
    {
        ArgumentNullException.ThrowIfNull(node);
        if (node.Limits is not { } limits) return null;
        var loads = awarded.Where(l => l.NodeId == node.Id).SelectMany(l => l.Interval.Cut(l.Window).Zip(l.Power)).ToList();
        return new(node.Id, stationIds.ToHashSet(StringComparer.Ordinal), states.Where(d => d.NodeId == node.Id).SelectMany(d => d.Intervals)
            .OrderBy(i => i.Start).SelectMany(i => Pieces(new TimeWindow(i.Start, i.End), loads.Select(x => x.First)).Select(piece => (piece, new Kilowatts(Math.Max(0m,
                limits.Operational.Value - i.Load.Value - loads.Where(x => x.First.Overlaps(piece)).Sum(x => x.Second.Value))))))
            .ToList());
    }

    /// <summary><paramref name="interval"/> cut at every boundary of <paramref name="windows"/> inside it, so each piece lies within or outside each window.</summary>
    internal static IEnumerable<TimeWindow> Pieces(TimeWindow interval, IEnumerable<TimeWindow> windows)
    {
        var cuts = windows.SelectMany(w => new[] { w.Start, w.End }).Where(t => interval.Start < t && t < interval.End)
            .Append(interval.Start).Append(interval.End).Distinct().Order().ToList();
        for (var i = 0; i + 1 < cuts.Count; i++) yield return new TimeWindow(cuts[i], cuts[i + 1]);
    }
}

/// <summary>
/// The net load one award adds below a grid node, per market interval of its window: what a later gate cycle's common
/// market subtracts from the node's headroom (<see cref="NodeHeadroom.Of"/>). Attributed as the common market counts its own
/// awards: an increase of consumption adds its kW at every node any of its stations is below; a reduction relieves only a
/// node all of its stations are below (its power may come from any of them).
/// </summary>
/// <param name="NodeId">The node.</param>
/// <param name="AwardId">The award (<see cref="Award.Id"/>).</param>
/// <param name="Window">The award's delivery window.</param>
/// <param name="Interval">The market interval <paramref name="Power"/> is given per.</param>
/// <param name="Power">
/// The kW added in each interval of <paramref name="Interval"/>.Cut(<paramref name="Window"/>): positive for an increase of
/// consumption, negative for a reduction.
/// </param>
public sealed record NodeLoad(string NodeId, string AwardId, TimeWindow Window, MarketInterval Interval, IReadOnlyList<Kilowatts> Power)
{
    /// <summary>
    /// The load <paramref name="award"/> adds below each node it counts at: its profile's kW, or a flat award's energy spread
    /// evenly over <paramref name="delivery"/> (rounded to the watt towards more load, so a node is never left more headroom
    /// than it has).
    /// </summary>
    /// <param name="direction">The award's request's direction.</param>
    /// <param name="delivery">The request's delivery window.</param>
    /// <param name="interval">The request's market interval (its awards' profiles are given per it).</param>
    /// <param name="nodesAbove">The nodes a station is connected at or below (its transformer and every node above); empty when unknown.</param>
    public static IEnumerable<NodeLoad> Of(Award award, Direction direction, TimeWindow delivery, MarketInterval interval,
        Func<string, IReadOnlyList<string>> nodesAbove)
    {
        ArgumentNullException.ThrowIfNull(award);
        var sign = direction == Direction.IncreaseConsumption ? 1m : -1m;
        var power = award.Profile?.Select(kw => new Kilowatts(sign * kw.Value)).ToList()
            ?? Enumerable.Repeat(new Kilowatts(decimal.Round(sign * award.Energy.Value * TimeSpan.TicksPerHour / delivery.Duration.Ticks, 3,
                MidpointRounding.ToPositiveInfinity)), interval.Cut(delivery).Count).ToList();
        var paths = award.StationIds.Select(s => nodesAbove(s).ToHashSet(StringComparer.Ordinal)).ToList();
        var nodes = sign > 0 ? paths.SelectMany(p => p) : paths.SelectMany(p => p).Where(n => paths.All(p => p.Contains(n)));
        return nodes.Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).Select(n => new NodeLoad(n, award.Id, delivery, interval, power)).ToList();
    }
}
