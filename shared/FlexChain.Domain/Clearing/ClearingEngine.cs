using System.Buffers;
using System.Runtime.InteropServices;

namespace FlexChain.Domain;

/// <summary>
/// Clears every request of a gate cycle at once (DOMAIN.md section 4). Pure: no I/O, no clock; exact (integer
/// watt-hours and 0.0001 EUR/kWh inside); the result does not depend on the order of the inputs.
/// <list type="bullet">
/// <item>Per request, offers are taken in merit order: price ascending, then submission time, then offer id
/// (ordinal). Late, ineligible, other-direction and over-cap offers are rejected first; the rest go to the request's selection
/// strategy: automatic merit order, or the DSO's manual picks when they were made in time.</item>
/// <item>Conflicts between requests: requests are processed one after the other, by gate closure, then delivery
/// start, then request id (ordinal). Earlier gate closure goes first because that request's result is published
/// first and results are final. A station awarded to an offer is blocked for every overlapping delivery window;
/// a later offer that names it, on this request or a later one, is rejected with
/// <see cref="OfferOutcomeKind.RejectedCapacityConflict"/> and the next offer in merit order is tried.</item>
/// <item>Bookings from earlier clearings (<see cref="StationBooking"/>, any gate cycle) are taken the same way: an offer
/// naming a station booked for a window overlapping its request's is rejected with
/// <see cref="OfferOutcomeKind.RejectedCapacityConflict"/>, its detail naming the award holding it.</item>
/// <item>Pricing per request: pay-as-bid, or pay-as-clear at the highest accepted price (the last accepted offer in
/// merit order).</item>
/// </list>
/// Runs in O(n log k) for n offers spread over requests of at most k offers, with no per-offer allocation other
/// than the outcome itself.
/// </summary>
public static class ClearingEngine
{
    /// <summary>
    /// Clears <paramref name="offers"/> against <paramref name="requests"/>; offers are matched by <see cref="Offer.RequestId"/>.
    /// <paramref name="taken"/> are the stations booked by earlier clearings (null or empty: none).
    /// </summary>
    /// <returns>One result per request, in processing order, and the offers that named no request of the cycle.</returns>
    /// <exception cref="DomainException">
    /// Two requests share an id; a request's energy is not a positive whole number of watt-hours, its cap or
    /// allowance is negative or too precise, its pricing rule is unknown, or its decision names another request.
    /// </exception>
    /// <exception cref="ArgumentException">Two offers on one request share an id (the message names it): both would be awarded under one award id.</exception>
    public static GateCycleResult Clear(IReadOnlyList<ClearingRequest> requests, IReadOnlyList<Offer> offers, IReadOnlyCollection<StationBooking>? taken = null)
    {
        ArgumentNullException.ThrowIfNull(requests);
        ArgumentNullException.ThrowIfNull(offers);
        var ordered = new ClearingRequest[requests.Count];
        for (var i = 0; i < ordered.Length; i++) ordered[i] = requests[i] ?? throw new ArgumentNullException(nameof(requests));
        Array.Sort(ordered, static (a, b) =>
        {
            var c = a.GateClosure.UtcTicks.CompareTo(b.GateClosure.UtcTicks);
            if (c == 0) c = a.Delivery.Start.UtcTicks.CompareTo(b.Delivery.Start.UtcTicks);
            return c != 0 ? c : string.CompareOrdinal(a.Id, b.Id);
        });
        var plans = new RequestPlan[ordered.Length];
        var ranks = new Dictionary<string, int>(ordered.Length, StringComparer.Ordinal);
        // Requests usually share one map of the stations, or each brings the few its offers name: merged once either way.
        var maps = new HashSet<IReadOnlyDictionary<string, StationCapacity>>(ReferenceEqualityComparer.Instance);
        for (var i = 0; i < ordered.Length; i++)
        {
            if (!ranks.TryAdd(ordered[i].Id, i))
                throw new DomainException("requests", "unique-id", $"Request {ordered[i].Id} appears twice in the gate cycle.");
            plans[i] = RequestPlan.For(ordered[i]);
            if (ordered[i].Stations is { } map) maps.Add(map);
        }
        IReadOnlyDictionary<string, StationCapacity>? capacity = maps.Count switch
        {
            0 => null,
            1 => maps.First(),
            _ => maps.SelectMany(m => m).GroupBy(kv => kv.Key, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Last().Value, StringComparer.Ordinal),
        };
        return new Clearer(plans, AsArray(offers), ranks, new StationBook(plans, capacity, taken)).Run();
    }

    /// <summary>
    /// Checks <paramref name="request"/>'s <see cref="ClearingRequest.Decision"/> against its offers alone (other
    /// requests' awards are not known here, so capacity conflicts across requests show only at clearing). Use it
    /// when the DSO submits picks, to answer with every problem at once.
    /// </summary>
    /// <returns>Every pick that would be rejected, with the reason; empty when all picks are valid.</returns>
    /// <exception cref="ArgumentException">The request carries no decision.</exception>
    /// <exception cref="DomainException">The decision is outside the decision period (rule <c>decision-deadline</c>), or as for <see cref="Clear"/>.</exception>
    public static IReadOnlyList<PickProblem> ValidateDecision(ClearingRequest request, IReadOnlyList<Offer> offers)
    {
        var decision = request.Decision ?? throw new ArgumentException("The request carries no decision.", nameof(request));
        var result = Clear([request], offers).Results[0];
        if (result.Selection != SelectionMode.Manual)
            throw new DomainException("decidedAt", "decision-deadline", result.SelectionNote ?? "The decision is outside the decision period.");
        var byId = new Dictionary<string, OfferOutcome>(result.Outcomes.Count, StringComparer.Ordinal);
        foreach (var o in result.Outcomes) byId.TryAdd(o.OfferId, o);
        var problems = new List<PickProblem>();
        foreach (var pick in decision.Picks)
        {
            if (!byId.TryGetValue(pick.OfferId, out var outcome))
                problems.Add(new(pick.OfferId, OfferOutcomeKind.RejectedNotEligible, $"There is no offer {pick.OfferId} on request {request.Id}."));
            else if (!outcome.IsAccepted)
                problems.Add(new(pick.OfferId, outcome.Kind, outcome.Detail ?? Describe(outcome.Kind)));
        }
        return problems;
    }

    private static string Describe(OfferOutcomeKind kind) => kind switch
    {
        OfferOutcomeKind.RejectedLate => "The offer was submitted after gate closure.",
        OfferOutcomeKind.RejectedOverPriceCap => "The offer's price is above the request's price cap.",
        OfferOutcomeKind.RejectedWrongDirection => Explain.Text(Why.WrongDirection)!,
        _ => kind.ToString(),
    };

    private static Offer[] AsArray(IReadOnlyList<Offer> offers)
    {
        if (offers is Offer[] array) return array;
        var copy = new Offer[offers.Count];
        for (var i = 0; i < copy.Length; i++) copy[i] = offers[i];
        return copy;
    }
}

/// <summary>A request reduced to the integers the engine compares, with its strategies chosen.</summary>
internal sealed class RequestPlan
{
    public required string Id { get; init; }
    public required long RequestedWh { get; init; }
    public required long AllowanceWh { get; init; }
    public required long MinimumWh { get; init; }
    public required long CapUnits { get; init; }
    public required long GateTicks { get; init; }
    public required long WindowStart { get; init; }
    public required long WindowEnd { get; init; }
    public required Direction Direction { get; init; }
    public required IPricingStrategy PricingStrategy { get; init; }
    public required ISelectionStrategy SelectionStrategy { get; init; }
    public IReadOnlySet<string>? Qualified { get; init; }
    public required int IntervalMinutes { get; init; }
    public required int IntervalCount { get; init; }
    public required bool WholeIntervals { get; init; }

    /// <summary>The watt-hours wanted per market interval, or null for a flat request.</summary>
    public long[]? ProfileWh { get; init; }

    // Echoed into the result.
    public required KilowattHours Requested { get; init; }
    public required KilowattHours Allowance { get; init; }
    public required PricingRule Pricing { get; init; }
    public required SelectionMode Selection { get; init; }
    public string? SelectionNote { get; init; }

    public static RequestPlan For(ClearingRequest r)
    {
        var (selection, strategy, note) = ChooseSelection(r);
        var id = r.Id ?? throw new ArgumentNullException(nameof(r), "A request has no id.");
        var minimumWh = r.MinimumAccepted is { } min ? Units.WattHours(min, "minimumOfferKwh") : 0;
        var requestedWh = Units.WattHours(r.Energy, "energyKwh");
        if (requestedWh <= 0) throw new DomainException("energyKwh", "positive", $"Request {id}: energyKwh must be greater than zero.");
        var allowanceWh = Units.WattHours(r.OverfillAllowance, "overfillAllowanceKwh");
        if (allowanceWh < 0) throw new DomainException("overfillAllowanceKwh", "not-negative", $"Request {id}: the overfill allowance must not be negative.");
        var capUnits = Units.PriceUnits(r.PriceCap, "maxPriceEurPerKwh");
        if (capUnits < 0) throw new DomainException("maxPriceEurPerKwh", "not-negative", $"Request {id}: the price cap must not be negative.");
        var minutes = r.Interval.Minutes == 0 ? MarketInterval.Default.Minutes : r.Interval.Minutes;
        var length = TimeSpan.FromMinutes(minutes).Ticks;
        var windowTicks = r.Delivery.End.UtcTicks - r.Delivery.Start.UtcTicks;
        var count = (int)((windowTicks + length - 1) / length);
        long[]? profileWh = null;
        if (r.Profile is { } profile)
        {
            profileWh = new long[count];
            if (profile.Count != count || !Profiles.IntervalWh(profile, minutes, windowTicks % length == 0, profileWh))
                throw new DomainException("profileKw", "profile", Profiles.Rule(id, minutes, count));
            if (profileWh.Sum() != requestedWh)
                throw new DomainException("profileKw", "profile-energy", $"Request {id}: energyKwh must be the profile's sum (kW x {minutes} min).");
        }
        return new RequestPlan
        {
            IntervalMinutes = minutes, IntervalCount = count, WholeIntervals = windowTicks % length == 0, ProfileWh = profileWh,
            Id = id, RequestedWh = requestedWh, AllowanceWh = allowanceWh, CapUnits = capUnits,
            GateTicks = r.GateClosure.UtcTicks, WindowStart = r.Delivery.Start.UtcTicks, WindowEnd = r.Delivery.End.UtcTicks, Direction = r.Direction,
            PricingStrategy = PricingStrategies.For(r.Pricing), SelectionStrategy = strategy, Qualified = r.QualifiedStationIds, MinimumWh = minimumWh,
            Requested = r.Energy, Allowance = r.OverfillAllowance, Pricing = r.Pricing, Selection = selection, SelectionNote = note,
        };
    }

    private static (SelectionMode, ISelectionStrategy, string?) ChooseSelection(ClearingRequest r)
    {
        if (r.Decision is not { } d) return (SelectionMode.Automatic, AutomaticSelection.Instance, null);
        if (d.RequestId != r.Id)
            throw new DomainException("decision", "request-mismatch", $"The decision for request {d.RequestId} was given to request {r.Id}.");
        // A decision that does not count is not an error at clearing: the DSO simply did not decide in time.
        if (r.DecisionDeadline is not { } deadline)
            return (SelectionMode.Automatic, AutomaticSelection.Instance, "The request has no manual decision period; automatic clearing applied.");
        if (d.DecidedAt < r.GateClosure)
            return (SelectionMode.Automatic, AutomaticSelection.Instance, "The decision was taken before gate closure; automatic clearing applied.");
        if (d.DecidedAt >= deadline)
            return (SelectionMode.Automatic, AutomaticSelection.Instance, "No decision before the deadline; automatic clearing applied.");
        return (SelectionMode.Manual, new ManualSelection(d.Picks ?? []), null);
    }
}

/// <summary>One offer as the engine sees it: integer keys for the sort, and what was decided for it.</summary>
[StructLayout(LayoutKind.Auto)]
internal struct Entry
{
    public long Price;       // 0.0001 EUR/kWh; long.MaxValue when not a valid price (sorts last)
    public long Ticks;       // submission time, UTC ticks
    public long Wh;          // offered energy
    public long AcceptedWh;
    public int Offer;        // index into the offers array
    public int Slot;         // the conflicting booking, for a capacity conflict
    public int Extra;        // 1 + the index of the per-interval figures kept for an accepted offer, or 0
    public OfferOutcomeKind Kind;
    public Why Why;          // set before selection when the offer is not eligible on its own
}

/// <summary>Merit order: price, then submission time, then offer id (ordinal).</summary>
internal readonly struct MeritComparer(Offer[] offers) : IComparer<Entry>
{
    public int Compare(Entry a, Entry b)
    {
        if (a.Price != b.Price) return a.Price < b.Price ? -1 : 1;
        if (a.Ticks != b.Ticks) return a.Ticks < b.Ticks ? -1 : 1;
        return string.CompareOrdinal(offers[a.Offer].Id, offers[b.Offer].Id);
    }
}

/// <summary>One stretch of power an award asks of its stations: [Start, End) in UTC ticks at Watts (pooled).</summary>
internal readonly record struct Segment(long Start, long End, long Watts);

/// <summary>
/// What is booked of each station, by this clearing and earlier ones: a linked list of pieces per station in one pooled
/// array, so booking allocates nothing per award when capacities are unknown; <see cref="Dispose"/> returns the array.
/// A piece uses some watts of its station for a stretch, or the whole station (its power unknown, or a booking stored
/// without power), or is a rest: the station's recovery time after an awarded window, which no use may overlap.
/// A station with a known power takes any uses whose watts fit beside each other in every stretch (the watts of all
/// pieces overlapping a stretch are summed, which is exact when the pieces share the market interval's grid and errs on
/// the safe side otherwise); a station with an unknown power is taken whole by one award, as before capacities. A rest or a
/// whole-station booking blocks a request's whole window, whichever of its intervals an offer covers.
/// </summary>
internal sealed class StationBook : IDisposable
{
    /// <summary><see cref="TryBook"/>'s answer when the offer's stations lack the power with nothing else booked.</summary>
    public const int NoRoom = -2;

    private const long Whole = -1;
    private readonly RequestPlan[] _plans;
    private readonly IReadOnlyDictionary<string, StationCapacity>? _capacity;
    private readonly Dictionary<string, int> _last = new(StringComparer.Ordinal);
    private Piece[] _pieces = ArrayPool<Piece>.Shared.Rent(1024);
    private int _count;

    private struct Piece
    {
        public string Station;
        public int Previous;         // the station's previous piece, or -1
        public long Start, End;      // UTC ticks
        public long Watts;           // Whole for the whole station
        public bool Rest;
        public int Plan;             // the award's request, or -1 for an earlier booking
        public StationBooking? Earlier;
        public Conflict? Conflict;
    }

    /// <summary>Why an offer lost a station; formatted only when someone reads the outcome's detail.</summary>
    private sealed class Conflict(string station, string requestId, bool rest)
    {
        public override string ToString() => rest
            ? $"Station {station} rests (its recovery time) after its award to request {requestId}, overlapping this offer's window or its own rest."
            : $"Station {station} is already awarded to request {requestId} for an overlapping window.";
    }

    public StationBook(RequestPlan[] plans, IReadOnlyDictionary<string, StationCapacity>? capacity, IReadOnlyCollection<StationBooking>? earlier)
    {
        _plans = plans;
        _capacity = capacity;
        foreach (var b in earlier ?? [])
        {
            ArgumentNullException.ThrowIfNull(b, nameof(earlier));
            if (b.Power is not { } power) Add(b.StationId, b.Window.Start.UtcTicks, b.Window.End.UtcTicks, Whole, false, -1, b);
            else
            {
                var cuts = b.Interval.Cut(b.Window);
                for (var i = 0; i < cuts.Count && i < power.Count; i++)
                    if (Watts(power[i]) is > 0 and var w) Add(b.StationId, cuts[i].Start.UtcTicks, cuts[i].End.UtcTicks, w, false, -1, b);
            }
            if (RestOf(b.StationId) is > 0 and var rest) Add(b.StationId, b.Window.End.UtcTicks, b.Window.End.UtcTicks + rest, Whole, true, -1, b);
        }
    }

    /// <summary>Whole watts of <paramref name="kw"/>, rounded up (a booking never counts as less than it holds).</summary>
    public static long Watts(Kilowatts kw) => (long)decimal.Ceiling(kw.Value * 1000m);

    private long RestOf(string station) => _capacity is not null && _capacity.TryGetValue(station, out var c) ? c.Recovery.Ticks : 0;

    /// <summary>
    /// An earlier booking that takes one of <paramref name="stations"/> whole for part of <paramref name="plan"/>'s window
    /// (a booking without power, or a rest), whatever the offer's size; -1 when there is none.
    /// </summary>
    public int Blocked(IReadOnlyList<string> stations, int plan)
    {
        if (_count == 0) return -1;
        var p = _plans[plan];
        for (var s = 0; s < stations.Count; s++)
        {
            if (!_last.TryGetValue(stations[s], out var q)) continue;
            for (; q >= 0; q = _pieces[q].Previous)
            {
                ref var x = ref _pieces[q];
                if (x.Plan < 0 && x.Watts == Whole && x.Start < p.WindowEnd && p.WindowStart < x.End) return q;
            }
        }
        return -1;
    }

    /// <summary>
    /// Books <paramref name="segments"/> (pooled power) on <paramref name="stations"/> for <paramref name="plan"/>'s
    /// award, and each station's rest after the window; or, when they do not fit, books nothing and returns the piece in
    /// the way (or <see cref="NoRoom"/>); -1 when booked. <paramref name="watts"/> receives what each station took in
    /// each segment (station-major), or null when a station's power is unknown and the stations are taken whole.
    /// </summary>
    public int TryBook(IReadOnlyList<string> stations, int plan, ReadOnlySpan<Segment> segments, out long[]? watts)
    {
        watts = null;
        var p = _plans[plan];
        if (_capacity is null && stations.Count == 1)
        {
            // Most offers name one station and no capacity is known: one dictionary lookup both checks and books it.
            ref var last = ref CollectionsMarshal.GetValueRefOrAddDefault(_last, stations[0], out var exists);
            if (exists)
                for (var q = last; q >= 0; q = _pieces[q].Previous)
                    if (_pieces[q].Start < p.WindowEnd && p.WindowStart < _pieces[q].End) return q;
            last = Add(stations[0], exists ? last : -1, p.WindowStart, p.WindowEnd, Whole, false, plan, null);
            return -1;
        }
        var known = _capacity is not null;
        for (var s = 0; s < stations.Count && known; s++) known = _capacity!.ContainsKey(stations[s]);
        for (var s = 0; s < stations.Count; s++)
        {
            if (!_last.TryGetValue(stations[s], out var q)) continue;
            var rest = RestOf(stations[s]);
            for (; q >= 0; q = _pieces[q].Previous)
            {
                ref var x = ref _pieces[q];
                if (x.Rest)
                {
                    if (Overlaps(x, p)) return q;
                }
                else if ((rest > 0 && x.Start < p.WindowEnd + rest && p.WindowEnd < x.End)
                         || ((!known || x.Watts == Whole) && Overlaps(x, p))) return q;
            }
        }
        if (known)
        {
            watts = new long[stations.Count * segments.Length];
            for (var k = 0; k < segments.Length; k++)
            {
                var need = segments[k].Watts;
                for (var s = 0; s < stations.Count && need > 0; s++)
                {
                    var free = Watts(_capacity![stations[s]].MaxPower) - Used(stations[s], segments[k]);
                    var take = Math.Min(Math.Max(free, 0), need);
                    watts[s * segments.Length + k] = take;
                    need -= take;
                }
                if (need > 0) return InTheWay(stations, segments[k]);
            }
            for (var s = 0; s < stations.Count; s++)
                for (var k = 0; k < segments.Length; k++)
                    if (watts[s * segments.Length + k] is > 0 and var w) Add(stations[s], segments[k].Start, segments[k].End, w, false, plan, null);
        }
        else
            for (var s = 0; s < stations.Count; s++) Add(stations[s], p.WindowStart, p.WindowEnd, Whole, false, plan, null);
        for (var s = 0; s < stations.Count; s++)
            if (RestOf(stations[s]) is > 0 and var rest) Add(stations[s], p.WindowEnd, p.WindowEnd + rest, Whole, true, plan, null);
        return -1;
    }

    /// <summary>Whether <paramref name="x"/> overlaps <paramref name="p"/>'s window: a rest or a whole-station booking blocks the window, whichever intervals an offer covers (as <see cref="Blocked"/> does).</summary>
    private static bool Overlaps(in Piece x, RequestPlan p) => x.Start < p.WindowEnd && p.WindowStart < x.End;

    /// <summary>The watts of <paramref name="station"/> already used at some point of <paramref name="segment"/> (rests aside).</summary>
    private long Used(string station, Segment segment)
    {
        var used = 0L;
        if (!_last.TryGetValue(station, out var q)) return 0;
        for (; q >= 0; q = _pieces[q].Previous)
        {
            ref var x = ref _pieces[q];
            if (!x.Rest && x.Start < segment.End && segment.Start < x.End) used += x.Watts;
        }
        return used;
    }

    private int InTheWay(IReadOnlyList<string> stations, Segment segment)
    {
        for (var s = 0; s < stations.Count; s++)
        {
            if (!_last.TryGetValue(stations[s], out var q)) continue;
            for (; q >= 0; q = _pieces[q].Previous)
                if (!_pieces[q].Rest && _pieces[q].Start < segment.End && segment.Start < _pieces[q].End) return q;
        }
        return NoRoom;
    }

    private void Add(string station, long start, long end, long watts, bool rest, int plan, StationBooking? earlier)
    {
        ref var last = ref CollectionsMarshal.GetValueRefOrAddDefault(_last, station, out var exists);
        last = Add(station, exists ? last : -1, start, end, watts, rest, plan, earlier);
    }

    private int Add(string station, int previous, long start, long end, long watts, bool rest, int plan, StationBooking? earlier)
    {
        if (_count == _pieces.Length) Grow();
        _pieces[_count] = new Piece { Station = station, Previous = previous, Start = start, End = end, Watts = watts, Rest = rest, Plan = plan, Earlier = earlier };
        return _count++;
    }

    /// <summary>The detail code for an offer that clashed with <paramref name="clash"/>.</summary>
    public Why WhyOf(int clash) =>
        clash == NoRoom ? Why.NoPower : _pieces[clash].Rest ? Why.Recovery : _pieces[clash].Plan < 0 ? Why.Booked : Why.CapacityConflict;

    /// <summary>The explanation for an offer that clashed with <paramref name="clash"/>, shared by every offer that clashes with it.</summary>
    public object? Describe(int clash)
    {
        if (clash == NoRoom) return Explain.Text(Why.NoPower);
        ref var x = ref _pieces[clash];
        if (x.Earlier is { } earlier) return x.Rest ? $"{earlier.Describe()} Its recovery time follows the window." : earlier.Describe();
        return x.Conflict ??= new Conflict(x.Station, _plans[x.Plan].Id, x.Rest);
    }

    public void Dispose() => ArrayPool<Piece>.Shared.Return(_pieces, clearArray: true);

    private void Grow()
    {
        var bigger = ArrayPool<Piece>.Shared.Rent(_pieces.Length * 2);
        Array.Copy(_pieces, bigger, _count);
        ArrayPool<Piece>.Shared.Return(_pieces, clearArray: true);
        _pieces = bigger;
    }
}

/// <summary>One run of the engine over a gate cycle. Pooled scratch arrays are returned at the end.</summary>
internal sealed class Clearer(RequestPlan[] plans, Offer[] offers, Dictionary<string, int> ranks, StationBook book)
{
    private readonly StationBook _book = book;

    public GateCycleResult Run()
    {
        var n = offers.Length;
        var rankOf = ArrayPool<int>.Shared.Rent(n);
        var byOffer = ArrayPool<Entry>.Shared.Rent(n);
        var entries = ArrayPool<Entry>.Shared.Rent(n);
        try
        {
            // Bucket the offers by request (counting sort, O(n)); each bucket is then sorted on its own, which is
            // cheaper than one global sort and keeps the comparisons on small, cache-friendly slices. The offers
            // are read once, in input order; the scatter then moves only the compact entries.
            var starts = new int[plans.Length + 1];
            List<OfferOutcome>? unmatched = null;
            for (var i = 0; i < n; i++)
            {
                var o = offers[i] ?? throw new ArgumentNullException(nameof(offers), "An offer is null.");
                if (o.Id is null) throw new ArgumentNullException(nameof(offers), "An offer has no id.");
                var rank = Rank(o.RequestId);
                rankOf[i] = rank;
                if (rank >= 0)
                {
                    starts[rank + 1]++;
                    byOffer[i] = EntryFor(o, i);
                }
                else (unmatched ??= []).Add(new OfferOutcome(o.Id, OfferOutcomeKind.RejectedNotEligible, KilowattHours.Zero)
                    { Detail = $"There is no request {o.RequestId} in this gate cycle." });
            }
            for (var r = 0; r < plans.Length; r++) starts[r + 1] += starts[r];
            var next = (int[])starts.Clone();
            for (var i = 0; i < n; i++)
                if (rankOf[i] >= 0) entries[next[rankOf[i]]++] = byOffer[i];

            var results = new ClearingResult[plans.Length];
            for (var r = 0; r < plans.Length; r++)
                results[r] = ClearRequest(r, entries.AsSpan(starts[r], starts[r + 1] - starts[r]));

            IReadOnlyList<OfferOutcome> rest = [];
            if (unmatched is not null)
            {
                unmatched.Sort(static (a, b) => string.CompareOrdinal(a.OfferId, b.OfferId));
                rest = unmatched.AsReadOnly();
            }
            return new GateCycleResult(Array.AsReadOnly(results), rest);
        }
        finally
        {
            _book.Dispose();
            ArrayPool<int>.Shared.Return(rankOf);
            ArrayPool<Entry>.Shared.Return(byOffer);
            ArrayPool<Entry>.Shared.Return(entries);
        }
    }

    private int Rank(string requestId) => requestId is not null && ranks.TryGetValue(requestId, out var r) ? r : -1;

    private static Entry EntryFor(Offer o, int i)
    {
        var e = new Entry { Offer = i, Ticks = o.SubmittedAt.UtcTicks, Price = long.MaxValue };
        if (!Units.TryScaled(o.Price.Value, Units.PriceScale, out var price) || price <= 0) e.Why = Why.PriceNotValid;
        else e.Price = price;
        if (!Units.TryScaled(o.Energy.Value, Units.EnergyScale, out e.Wh) || e.Wh <= 0) e.Why = Why.EnergyNotWholeWh;
        return e;
    }

    private ClearingResult ClearRequest(int plan, Span<Entry> slice)
    {
        var p = plans[plan];
        RefuseRepeatedIds(p, slice);
        // Offer ids are unique within the request, so the merit order never depends on input order.
        slice.Sort(new MeritComparer(offers));
        // A profile on the request or any offer clears the request interval by interval; otherwise on totals, as ever.
        var profiled = p.ProfileWh is not null || (p.WholeIntervals && AnyProfile(slice));
        long[]? need = null;
        if (profiled)
        {
            need = new long[p.IntervalCount];
            if (p.ProfileWh is { } wanted) Array.Copy(wanted, need, need.Length);
            else Profiles.Spread(p.RequestedWh, need);
        }
        var allowance = p.AllowanceWh;
        var remaining = p.RequestedWh;
        var acceptedCount = 0;
        var last = -1;
        List<(long[]? Wh, long[]? Watts)>? extras = null;
        Span<Segment> flat = stackalloc Segment[1];
        // Scratch for the per-interval figures of one offer; only an accepted offer keeps a copy.
        var offered = need is null ? null : new long[need.Length];
        var taking = need is null ? null : new long[need.Length];
        var segments = need is null ? null : new Segment[need.Length];
        for (var i = 0; i < slice.Length; i++)
        {
            ref var e = ref slice[i];
            var o = offers[e.Offer];
            int clash;
            if (e.Ticks >= p.GateTicks) e.Kind = OfferOutcomeKind.RejectedLate;
            else if (e.Why != Why.None) e.Kind = OfferOutcomeKind.RejectedNotEligible;
            else if (o.Direction != p.Direction) (e.Kind, e.Why) = (OfferOutcomeKind.RejectedWrongDirection, Why.WrongDirection);
            else if (o.StationIds is not { Count: > 0 }) (e.Kind, e.Why) = (OfferOutcomeKind.RejectedNotEligible, Why.NoStation);
            else if (p.Qualified is { } q && !AllIn(o.StationIds, q)) (e.Kind, e.Why) = (OfferOutcomeKind.RejectedNotEligible, Why.StationNotQualified);
            else if (e.Price > p.CapUnits) e.Kind = OfferOutcomeKind.RejectedOverPriceCap;
            else if ((clash = _book.Blocked(o.StationIds, plan)) >= 0) (e.Kind, e.Why, e.Slot) = (OfferOutcomeKind.RejectedCapacityConflict, _book.WhyOf(clash), clash);
            else if (need is null)
            {
                if (o.Profile is not null)
                {
                    (e.Kind, e.Why) = (OfferOutcomeKind.RejectedNotEligible, Why.ProfileNotValid);
                    continue;
                }
                var d = p.SelectionStrategy.Decide(o, e.Wh, remaining, p.AllowanceWh, p.MinimumWh);
                (e.Kind, e.Why) = (d.Kind, d.Why);
                if (!d.Accepts) continue;
                flat[0] = new Segment(p.WindowStart, p.WindowEnd, FlatWatts(d.WattHours, p));
                clash = _book.TryBook(o.StationIds, plan, flat, out var watts);
                if (clash != -1)
                {
                    (e.Kind, e.Why, e.Slot) = (OfferOutcomeKind.RejectedCapacityConflict, _book.WhyOf(clash), clash);
                    continue;
                }
                if (watts is not null) e.Extra = Keep(ref extras, null, watts);
                e.AcceptedWh = d.WattHours;
                remaining -= d.WattHours;
                acceptedCount++;
                last = i;
            }
            else
            {
                if (!OfferedWh(o, e.Wh, p, offered!))
                {
                    (e.Kind, e.Why) = (OfferOutcomeKind.RejectedNotEligible, Why.ProfileNotValid);
                    continue;
                }
                Array.Clear(taking!);
                var d = p.SelectionStrategy.DecideProfile(o, offered!, need, allowance, p.MinimumWh, taking!);
                (e.Kind, e.Why) = (d.Kind, d.Why);
                if (!d.Accepts) continue;
                var length = TimeSpan.TicksPerMinute * p.IntervalMinutes;
                for (var k = 0; k < segments!.Length; k++)
                    segments[k] = new Segment(p.WindowStart + k * length, p.WindowStart + (k + 1) * length, taking![k] * (60 / p.IntervalMinutes));
                clash = _book.TryBook(o.StationIds, plan, segments, out var watts);
                if (clash != -1)
                {
                    (e.Kind, e.Why, e.Slot) = (OfferOutcomeKind.RejectedCapacityConflict, _book.WhyOf(clash), clash);
                    continue;
                }
                for (var k = 0; k < need.Length; k++)
                {
                    allowance -= Math.Max(0, taking![k] - Math.Max(need[k], 0));
                    need[k] -= taking[k];
                }
                e.Extra = Keep(ref extras, (long[])taking!.Clone(), watts);
                e.AcceptedWh = d.WattHours;
                acceptedCount++;
                last = i;
            }
        }
        return Publish(p, slice, acceptedCount, last, extras);
    }

    private static int Keep(ref List<(long[]?, long[]?)>? extras, long[]? wh, long[]? watts)
    {
        (extras ??= []).Add((wh, watts));
        return extras.Count;
    }

    private bool AnyProfile(Span<Entry> slice)
    {
        foreach (ref var e in slice)
            if (offers[e.Offer].Profile is not null) return true;
        return false;
    }

    /// <summary>
    /// Fills <paramref name="offered"/> with the watt-hours <paramref name="o"/> offers per interval of <paramref name="p"/>:
    /// its profile, or its energy spread evenly; false when its profile is not valid there or does not sum to its energy.
    /// </summary>
    private static bool OfferedWh(Offer o, long wh, RequestPlan p, long[] offered)
    {
        if (o.Profile is null)
        {
            Profiles.Spread(wh, offered);
            return true;
        }
        return Profiles.IntervalWh(o.Profile, p.IntervalMinutes, p.WholeIntervals, offered) && Sum(offered) == wh;
    }

    private static long Sum(long[] values)
    {
        var sum = 0L;
        foreach (var v in values) sum += v;
        return sum;
    }

    /// <summary>The power of <paramref name="wh"/> spread evenly over the request's window, in whole watts rounded up.</summary>
    private static long FlatWatts(long wh, RequestPlan p) =>
        (long)decimal.Ceiling((decimal)wh * TimeSpan.TicksPerHour / (p.WindowEnd - p.WindowStart));

    private HashSet<string> _seen = new(StringComparer.Ordinal);

    /// <summary>Award ids are built from request and offer ids, so an offer id twice on one request would pay one award id twice.</summary>
    private void RefuseRepeatedIds(RequestPlan p, Span<Entry> slice)
    {
        // One small set reused for every request; a large one is dropped rather than cleared over and over.
        if (_seen.Count > 4096) _seen = new(StringComparer.Ordinal);
        else _seen.Clear();
        foreach (ref var e in slice)
        {
            var id = offers[e.Offer].Id;
            if (!_seen.Add(id))
                throw new ArgumentException($"Offer {id} appears twice on request {p.Id}; offer ids must be unique.", nameof(offers));
        }
    }

    private ClearingResult Publish(RequestPlan p, Span<Entry> slice, int acceptedCount, int last, List<(long[]? Wh, long[]? Watts)>? extras)
    {
        // Offers are accepted in merit order, so the last accepted one carries the highest accepted price.
        var clearingPrice = last >= 0 ? offers[slice[last].Offer].Price : default;
        var rows = new OutcomeRow[slice.Length];
        Dictionary<int, (long[]? Wh, long[]? Watts)>? kept = null;
        var bookings = 0;
        for (var i = 0; i < slice.Length; i++)
        {
            ref var e = ref slice[i];
            var o = offers[e.Offer];
            rows[i] = new OutcomeRow(o, e.AcceptedWh, e.Kind, e.Why switch
            {
                Why.CapacityConflict or Why.Booked or Why.Recovery or Why.NoPower => _book.Describe(e.Slot),
                _ => Explain.Text(e.Why),
            });
            if (e.Extra > 0) (kept ??= [])[i] = extras![e.Extra - 1];
            if (rows[i].IsAccepted) bookings += o.StationIds.Count;
        }
        var built = new RequestRows(p, rows, clearingPrice, kept);
        return new ClearingResult(new BuiltOnRead<Award>(acceptedCount, built.Awards), new BuiltOnRead<OfferOutcome>(rows.Length, built.Outcomes))
        {
            RequestId = p.Id, Requested = p.Requested, OverfillAllowance = p.Allowance, Pricing = p.Pricing,
            Selection = p.Selection, SelectionNote = p.SelectionNote, ClearingPrice = clearingPrice,
            Bookings = new BuiltOnRead<StationBooking>(bookings, built.Bookings),
        };
    }

    private static bool AllIn(IReadOnlyList<string> stations, IReadOnlySet<string> qualified)
    {
        for (var s = 0; s < stations.Count; s++)
            if (!qualified.Contains(stations[s])) return false;
        return true;
    }
}

/// <summary>One offer's result as the engine leaves it: the offer, the watt-hours accepted, the outcome and its explanation.</summary>
internal readonly record struct OutcomeRow(Offer Offer, long AcceptedWh, OfferOutcomeKind Kind, object? Detail)
{
    public bool IsAccepted => Kind is OfferOutcomeKind.Accepted or OfferOutcomeKind.PartlyAccepted;

    /// <summary>The accepted energy: the offer's own value when all of it is taken, so the award reads exactly as offered.</summary>
    public KilowattHours Energy =>
        Units.TryScaled(Offer.Energy.Value, Units.EnergyScale, out var wh) && wh == AcceptedWh ? Offer.Energy : Units.Kwh(AcceptedWh);
}

/// <summary>
/// A request's clearing result as compact rows, one per offer in merit order, from which the award, outcome and booking
/// objects are built when first read. Storage reads one request at a time, so clearing a million offers does not hold
/// a million objects that every garbage collection during the run would copy. <paramref name="extras"/> holds, by row,
/// what an accepted offer took beyond its total: per interval its watt-hours (a request cleared per interval), and when
/// its stations' power is known the watts each station took per stretch (station-major: one stretch for a flat award,
/// one per interval otherwise).
/// </summary>
internal sealed class RequestRows(RequestPlan plan, OutcomeRow[] rows, EurosPerKilowattHour clearingPrice, Dictionary<int, (long[]? Wh, long[]? Watts)>? extras)
{
    private (long[]? Wh, long[]? Watts) ExtrasOf(int row) => extras is not null && extras.TryGetValue(row, out var x) ? x : default;

    private TimeWindow Window => new(new DateTimeOffset(plan.WindowStart, TimeSpan.Zero), new DateTimeOffset(plan.WindowEnd, TimeSpan.Zero));

    public Award[] Awards()
    {
        var awards = new List<Award>();
        for (var i = 0; i < rows.Length; i++)
        {
            var r = rows[i];
            if (r.IsAccepted)
                awards.Add(new Award(Award.IdFor(plan.Id, r.Offer.Id), r.Offer.Id, r.Offer.CpoId, r.Offer.StationIds, r.Energy, plan.PricingStrategy.PriceFor(r.Offer.Price, clearingPrice))
                {
                    Profile = ExtrasOf(i).Wh is { } wh ? Array.AsReadOnly(Array.ConvertAll(wh, w => Profiles.Power(w, plan.IntervalMinutes))) : null,
                });
        }
        return [.. awards];
    }

    public OfferOutcome[] Outcomes()
    {
        var outcomes = new OfferOutcome[rows.Length];
        for (var i = 0; i < rows.Length; i++)
        {
            var r = rows[i];
            outcomes[i] = r.IsAccepted
                ? new OfferOutcome(r.Offer.Id, r.Kind, r.Energy) { Price = plan.PricingStrategy.PriceFor(r.Offer.Price, clearingPrice) }
                : new OfferOutcome(r.Offer.Id, r.Kind, KilowattHours.Zero) { DeferredDetail = r.Detail };
        }
        return outcomes;
    }

    /// <summary>What the awards book: per station the kW it took in each market interval, or the whole station when its power was unknown.</summary>
    public StationBooking[] Bookings()
    {
        var interval = MarketInterval.From(plan.IntervalMinutes);
        var cuts = plan.IntervalCount;
        var bookings = new List<StationBooking>();
        for (var i = 0; i < rows.Length; i++)
        {
            var r = rows[i];
            if (!r.IsAccepted) continue;
            var id = Award.IdFor(plan.Id, r.Offer.Id);
            var stations = r.Offer.StationIds;
            var all = ExtrasOf(i).Watts;
            var stretches = all is null ? 0 : all.Length / stations.Count;
            for (var s = 0; s < stations.Count; s++)
            {
                Kilowatts[]? power = null;
                if (all is { } watts)
                {
                    power = new Kilowatts[cuts];
                    for (var k = 0; k < cuts; k++) power[k] = new(Units.Kwh(watts[s * stretches + (stretches == 1 ? 0 : k)]).Value);
                }
                bookings.Add(new StationBooking(stations[s], Window, id) { Power = power, Interval = interval });
            }
        }
        return [.. bookings];
    }
}

/// <summary>A read-only list of known length whose items are built on first read, once (thread-safe).</summary>
internal sealed class BuiltOnRead<T>(int count, Func<T[]> build) : IReadOnlyList<T>
{
    private T[]? _items;

    public int Count => count;

    public T this[int index] => Items[index];

    public IEnumerator<T> GetEnumerator() => ((IEnumerable<T>)Items).GetEnumerator();

    System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();

    private T[] Items
    {
        get
        {
            if (_items is { } items) return items;
            var built = build();
            return Interlocked.CompareExchange(ref _items, built, null) ?? built;
        }
    }
}
