using System.Buffers;
using System.Runtime.CompilerServices;
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
        // Requests usually share one map of the stations, or each brings the few its offers name: merged once either way,
        // and each map's grid caps (which hold for its requests' windows only) are found once.
        var maps = new Dictionary<IReadOnlyDictionary<string, StationCapacity>, Dictionary<string, Kilowatts>?>(ReferenceEqualityComparer.Instance);
        for (var i = 0; i < ordered.Length; i++)
        {
            if (!ranks.TryAdd(ordered[i].Id, i))
                throw new DomainException("requests", "unique-id", $"Request {ordered[i].Id} appears twice in the gate cycle.");
            Dictionary<string, Kilowatts>? caps = null;
            if (ordered[i].Stations is { } map && !maps.TryGetValue(map, out caps)) maps[map] = caps = GridCapsOf(map);
            plans[i] = RequestPlan.For(ordered[i], caps);
        }
        IReadOnlyDictionary<string, StationCapacity>? capacity = maps.Count switch
        {
            0 => null,
            1 => maps.Keys.First(),
            _ => maps.Keys.SelectMany(m => m).GroupBy(kv => kv.Key, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Last().Value, StringComparer.Ordinal),
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

    /// <summary>The stations <paramref name="map"/> caps (<see cref="StationCapacity.GridCap"/>), or null when it caps none.</summary>
    private static Dictionary<string, Kilowatts>? GridCapsOf(IReadOnlyDictionary<string, StationCapacity> map)
    {
        Dictionary<string, Kilowatts>? caps = null;
        foreach (var (id, c) in map)
            if (c.GridCap is { } cap) (caps ??= new(StringComparer.Ordinal))[id] = cap;
        return caps;
    }

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

    /// <summary>The grid operators' caps on stations for this request's window (<see cref="StationCapacity.GridCap"/>), or null when none is capped.</summary>
    public Dictionary<string, Kilowatts>? GridCaps { get; init; }

    // Echoed into the result.
    public required KilowattHours Requested { get; init; }
    public required KilowattHours Allowance { get; init; }
    public required PricingRule Pricing { get; init; }
    public required SelectionMode Selection { get; init; }
    public string? SelectionNote { get; init; }

    /// <summary>The plan of <paramref name="r"/>, with the grid caps of its <see cref="ClearingRequest.Stations"/> (found once per map by the caller).</summary>
    public static RequestPlan For(ClearingRequest r, Dictionary<string, Kilowatts>? gridCaps)
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
            GridCaps = gridCaps,
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

/// <summary>
/// One offer's sort key: the integers of the merit order and the offer's index. Kept this small (24 bytes) because the
/// per-request sort moves it; what is decided for the offer goes straight into its <see cref="OutcomeRow"/>.
/// </summary>
internal readonly record struct MeritKey(long Price, long Ticks, int Offer)
{
    /// <summary>The price of an offer whose price is not valid (not positive, or finer than 0.0001 EUR/kWh): sorts last.</summary>
    public const long NoPrice = long.MaxValue;
}

/// <summary>Merit order: price, then submission time, then offer id (ordinal).</summary>
internal readonly struct MeritComparer(Offer[] offers) : IComparer<MeritKey>
{
    public int Compare(MeritKey a, MeritKey b)
    {
        if (a.Price != b.Price) return a.Price < b.Price ? -1 : 1;
        if (a.Ticks != b.Ticks) return a.Ticks < b.Ticks ? -1 : 1;
        return string.CompareOrdinal(offers[a.Offer].Id, offers[b.Offer].Id);
    }
}

/// <summary>One stretch of power an award asks of its stations: [Start, End) in UTC ticks at Watts (pooled).</summary>
internal readonly record struct Segment(long Start, long End, long Watts);

/// <summary>
/// What is booked of each station, by this clearing and earlier ones. Each station id is looked up once per offer that
/// needs it and numbered in order of first sight; its registered power, recovery time and latest piece are kept by that
/// number, and its pieces form a linked list in one pooled array, so booking allocates nothing per award; both arrays
/// hold no references, so <see cref="Dispose"/> returns them without clearing them.
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
    private const long Unknown = -1;
    private readonly RequestPlan[] _plans;
    private readonly IReadOnlyDictionary<string, StationCapacity>? _capacity;
    private readonly Dictionary<string, int> _numbers;
    private readonly List<StationBooking> _earlier = [];
    private readonly List<Conflict> _conflicts = [];
    private string[] _ids = ArrayPool<string>.Shared.Rent(1024);
    private Station[] _stations = ArrayPool<Station>.Shared.Rent(1024);
    private Piece[] _pieces = ArrayPool<Piece>.Shared.Rent(1024);
    private int _count;
    private int _earlierWhole; // earlier bookings' pieces that take a station whole: only they can block before selection

    private struct Station
    {
        public int Last;             // the station's latest piece, or -1
        public long Power;           // registered watts, or Unknown
        public long Rest;            // recovery time, ticks
    }

    private struct Piece
    {
        public int Station;
        public int Previous;         // the station's previous piece, or -1
        public long Start, End;      // UTC ticks
        public long Watts;           // Whole for the whole station
        public bool Rest;
        public int Plan;             // the award's request, or -1 for an earlier booking
        public int Earlier;          // the earlier booking's index in _earlier, or -1
        public int Conflict;         // 1 + the index in _conflicts of the explanation of an offer that clashed with it, or 0
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
        _numbers = new(capacity?.Count ?? 0, StringComparer.Ordinal);
        foreach (var b in earlier ?? [])
        {
            ArgumentNullException.ThrowIfNull(b, nameof(earlier));
            var s = Number(b.StationId);
            _earlier.Add(b);
            if (b.Power is not { } power) Add(s, b.Window.Start.UtcTicks, b.Window.End.UtcTicks, Whole, false, -1, _earlier.Count - 1);
            else
            {
                var cuts = b.Interval.Cut(b.Window);
                for (var i = 0; i < cuts.Count && i < power.Count; i++)
                    if (Watts(power[i]) is > 0 and var w) Add(s, cuts[i].Start.UtcTicks, cuts[i].End.UtcTicks, w, false, -1, _earlier.Count - 1);
            }
            if (_stations[s].Rest > 0) Add(s, b.Window.End.UtcTicks, b.Window.End.UtcTicks + _stations[s].Rest, Whole, true, -1, _earlier.Count - 1);
        }
    }

    /// <summary>Whole watts of <paramref name="kw"/>, rounded up (a booking never counts as less than it holds).</summary>
    public static long Watts(Kilowatts kw) => (long)decimal.Ceiling(kw.Value * 1000m);

    /// <summary>Whether an earlier booking can block an offer before selection (<see cref="Blocked"/>); false saves the station look-ups.</summary>
    public bool AnyEarlierWhole => _earlierWhole > 0;

    /// <summary>Fills <paramref name="numbers"/> with the numbers of <paramref name="ids"/> (one dictionary look-up each).</summary>
    public void Number(IReadOnlyList<string> ids, Span<int> numbers)
    {
        for (var s = 0; s < numbers.Length; s++) numbers[s] = Number(ids[s]);
    }

    private int Number(string id)
    {
        ref var number = ref CollectionsMarshal.GetValueRefOrAddDefault(_numbers, id, out var exists);
        if (exists) return number;
        number = _numbers.Count - 1;
        if (number == _stations.Length) _stations = Grow(_stations, number);
        if (number == _ids.Length) _ids = Grow(_ids, number);
        var c = default(StationCapacity);
        var known = _capacity is not null && _capacity.TryGetValue(id, out c);
        _ids[number] = id;
        _stations[number] = new Station { Last = -1, Power = known ? Watts(c.MaxPower) : Unknown, Rest = known ? c.Recovery.Ticks : 0 };
        return number;
    }

    /// <summary>
    /// An earlier booking that takes one of <paramref name="stations"/> whole for part of <paramref name="plan"/>'s window
    /// (a booking without power, or a rest), whatever the offer's size; -1 when there is none.
    /// </summary>
    public int Blocked(ReadOnlySpan<int> stations, int plan)
    {
        var p = _plans[plan];
        foreach (var s in stations)
            for (var q = _stations[s].Last; q >= 0; q = _pieces[q].Previous)
            {
                ref var x = ref _pieces[q];
                if (x.Plan < 0 && x.Watts == Whole && Overlaps(x, p)) return q;
            }
        return -1;
    }

    /// <summary>
    /// Books <paramref name="segments"/> (pooled power) on <paramref name="stations"/> for <paramref name="plan"/>'s
    /// award, and each station's rest after the window; or, when they do not fit, books nothing and returns the piece in
    /// the way (or <see cref="NoRoom"/>); -1 when booked. When every station's power is known, <paramref name="watts"/>
    /// (stations x segments, station-major) receives what each station took in each segment and <paramref name="pooled"/>
    /// is true; otherwise the stations are taken whole. <paramref name="used"/> is scratch of the same size.
    /// </summary>
    public int TryBook(ReadOnlySpan<int> stations, int plan, ReadOnlySpan<Segment> segments, Span<long> watts, Span<long> used, out bool pooled)
    {
        var p = _plans[plan];
        var known = true;
        foreach (var s in stations) known &= _stations[s].Power != Unknown;
        pooled = known;
        var n = segments.Length;
        used.Clear();
        // One walk of each station's pieces finds what is in the way and sums the watts already used per segment.
        for (var s = 0; s < stations.Length; s++)
        {
            var rest = _stations[stations[s]].Rest;
            for (var q = _stations[stations[s]].Last; q >= 0; q = _pieces[q].Previous)
            {
                ref var x = ref _pieces[q];
                if (x.Rest)
                {
                    if (Overlaps(x, p)) return q;
                    continue;
                }
                if ((rest > 0 && x.Start < p.WindowEnd + rest && p.WindowEnd < x.End) || ((!known || x.Watts == Whole) && Overlaps(x, p))) return q;
                if (!known) continue;
                for (var k = 0; k < n; k++)
                    if (x.Start < segments[k].End && segments[k].Start < x.End) used[s * n + k] += x.Watts;
            }
        }
        if (known)
        {
            watts.Clear();
            for (var k = 0; k < n; k++)
            {
                var need = segments[k].Watts;
                for (var s = 0; s < stations.Length && need > 0; s++)
                {
                    var take = Math.Min(Math.Max(PowerFor(p, stations[s]) - used[s * n + k], 0), need);
                    watts[s * n + k] = take;
                    need -= take;
                }
                if (need > 0) return InTheWay(stations, segments[k]);
            }
            for (var s = 0; s < stations.Length; s++)
                for (var k = 0; k < n; k++)
                    if (watts[s * n + k] is > 0 and var w) Add(stations[s], segments[k].Start, segments[k].End, w, false, plan, -1);
        }
        else
            foreach (var s in stations) Add(s, p.WindowStart, p.WindowEnd, Whole, false, plan, -1);
        foreach (var s in stations)
            if (_stations[s].Rest is > 0 and var rest) Add(s, p.WindowEnd, p.WindowEnd + rest, Whole, true, plan, -1);
        return -1;
    }

    /// <summary>The watts station <paramref name="s"/> may hold in <paramref name="p"/>'s window: its registered power, under the grid's cap for that window.</summary>
    private long PowerFor(RequestPlan p, int s) =>
        p.GridCaps is { } caps && caps.TryGetValue(_ids[s], out var cap) ? Math.Min(Watts(cap), _stations[s].Power) : _stations[s].Power;

    /// <summary>Whether <paramref name="x"/> overlaps <paramref name="p"/>'s window: a rest or a whole-station booking blocks the window, whichever intervals an offer covers (as <see cref="Blocked"/> does).</summary>
    private static bool Overlaps(in Piece x, RequestPlan p) => x.Start < p.WindowEnd && p.WindowStart < x.End;

    private int InTheWay(ReadOnlySpan<int> stations, Segment segment)
    {
        foreach (var s in stations)
            for (var q = _stations[s].Last; q >= 0; q = _pieces[q].Previous)
                if (!_pieces[q].Rest && _pieces[q].Start < segment.End && segment.Start < _pieces[q].End) return q;
        return NoRoom;
    }

    private void Add(int station, long start, long end, long watts, bool rest, int plan, int earlier)
    {
        if (_count == _pieces.Length) _pieces = Grow(_pieces, _count);
        ref var last = ref _stations[station].Last;
        _pieces[_count] = new Piece { Station = station, Previous = last, Start = start, End = end, Watts = watts, Rest = rest, Plan = plan, Earlier = earlier };
        if (plan < 0 && watts == Whole) _earlierWhole++;
        last = _count++;
    }

    /// <summary>The detail code for an offer that clashed with <paramref name="clash"/>.</summary>
    public Why WhyOf(int clash) =>
        clash == NoRoom ? Why.NoPower : _pieces[clash].Rest ? Why.Recovery : _pieces[clash].Plan < 0 ? Why.Booked : Why.CapacityConflict;

    /// <summary>
    /// The explanation for an offer on <paramref name="plan"/> naming <paramref name="stations"/> that clashed with
    /// <paramref name="clash"/>: the shared one (<see cref="Describe(int)"/>), and when the stations lacked power while the
    /// grid caps some of them for the plan's window, the caps.
    /// </summary>
    public object? Describe(int clash, int plan, ReadOnlySpan<int> stations)
    {
        var why = Describe(clash);
        if (_plans[plan].GridCaps is not { } caps || (clash != NoRoom && (_pieces[clash].Rest || _pieces[clash].Watts == Whole))) return why;
        List<string>? capped = null;
        foreach (var s in stations)
            if (caps.TryGetValue(_ids[s], out var cap)) (capped ??= []).Add($"station {_ids[s]} at {cap}");
        return capped is null ? why
            : $"{why} The grid operators cap {string.Join(", ", capped)} for this window (grid prequalification or a temporary limit), for all its awards together.";
    }

    /// <summary>The explanation for an offer that clashed with <paramref name="clash"/>, shared by every offer that clashes with it.</summary>
    private object? Describe(int clash)
    {
        if (clash == NoRoom) return Explain.Text(Why.NoPower);
        ref var x = ref _pieces[clash];
        if (x.Earlier >= 0) return x.Rest ? $"{_earlier[x.Earlier].Describe()} Its recovery time follows the window." : _earlier[x.Earlier].Describe();
        if (x.Conflict == 0)
        {
            _conflicts.Add(new Conflict(_ids[x.Station], _plans[x.Plan].Id, x.Rest));
            x.Conflict = _conflicts.Count;
        }
        return _conflicts[x.Conflict - 1];
    }

    public void Dispose()
    {
        Array.Clear(_ids, 0, _numbers.Count);
        ArrayPool<string>.Shared.Return(_ids);
        ArrayPool<Piece>.Shared.Return(_pieces);
        ArrayPool<Station>.Shared.Return(_stations);
    }

    /// <summary>A pooled array twice as long holding the first <paramref name="count"/> items; the old one goes back to the pool (cleared when it holds references).</summary>
    private static T[] Grow<T>(T[] array, int count)
    {
        var bigger = ArrayPool<T>.Shared.Rent(array.Length * 2);
        Array.Copy(array, bigger, count);
        ArrayPool<T>.Shared.Return(array, RuntimeHelpers.IsReferenceOrContainsReferences<T>());
        return bigger;
    }
}

/// <summary>One run of the engine over a gate cycle. Pooled scratch arrays are returned at the end.</summary>
internal sealed class Clearer(RequestPlan[] plans, Offer[] offers, Dictionary<string, int> ranks, StationBook book)
{
    private readonly StationBook _book = book;

    // Scratch reused for every offer and request: station numbers, per-interval figures, and what the accepted offers of
    // one request took (watt-hours per interval, watts per station and stretch), copied out at the end of the request.
    private int[] _numbers = new int[4];
    private long[] _watts = new long[16], _used = new long[16];
    private long[] _keptWh = new long[64], _keptWatts = new long[64];

    // What the requests' results keep, in a few large arrays for the whole cycle rather than small ones per request:
    // large arrays are allocated where the garbage collector does not copy them, so a million rows kept until storage
    // reads them cost no copying in each collection during the run. The rows are filled request by request (each
    // request's slice of offers); kept figures go into chunks.
    private OutcomeRow[] _rows = [];
    private long[] _chunk = [];
    private int _chunkUsed;
    private long[] _offered = [], _taking = [];
    private Segment[] _segments = new Segment[1];

    public GateCycleResult Run()
    {
        var n = offers.Length;
        var rankOf = ArrayPool<int>.Shared.Rent(n);
        var byOffer = ArrayPool<MeritKey>.Shared.Rent(n);
        var keys = ArrayPool<MeritKey>.Shared.Rent(n);
        try
        {
            // Bucket the offers by request (counting sort, O(n)); each bucket is then sorted on its own, which is
            // cheaper than one global sort and keeps the comparisons on small, cache-friendly slices. The offers
            // are read once, in input order; the scatter then moves only the compact keys.
            var starts = new int[plans.Length + 1];
            var anyProfile = new bool[plans.Length];
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
                    var price = Units.TryScaled(o.Price.Value, Units.PriceScale, out var units) && units > 0 ? units : MeritKey.NoPrice;
                    byOffer[i] = new MeritKey(price, o.SubmittedAt.UtcTicks, i);
                    anyProfile[rank] |= o.Profile is not null;
                }
                else (unmatched ??= []).Add(new OfferOutcome(o.Id, OfferOutcomeKind.RejectedNotEligible, KilowattHours.Zero)
                    { Detail = $"There is no request {o.RequestId} in this gate cycle." });
            }
            for (var r = 0; r < plans.Length; r++) starts[r + 1] += starts[r];
            _rows = new OutcomeRow[starts[^1]];
            var next = (int[])starts.Clone();
            for (var i = 0; i < n; i++)
                if (rankOf[i] >= 0) keys[next[rankOf[i]]++] = byOffer[i];

            var results = new ClearingResult[plans.Length];
            for (var r = 0; r < plans.Length; r++)
                results[r] = ClearRequest(r, starts[r], keys.AsSpan(starts[r], starts[r + 1] - starts[r]), anyProfile[r]);

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
            ArrayPool<MeritKey>.Shared.Return(byOffer);
            ArrayPool<MeritKey>.Shared.Return(keys);
        }
    }

    private int Rank(string requestId) => requestId is not null && ranks.TryGetValue(requestId, out var r) ? r : -1;

    private ClearingResult ClearRequest(int plan, int first, Span<MeritKey> slice, bool anyProfile)
    {
        var p = plans[plan];
        slice.Sort(new MeritComparer(offers));
        // A profile on the request or any offer clears the request interval by interval; otherwise on totals, as ever.
        var need = p.ProfileWh is not null || (p.WholeIntervals && anyProfile) ? Need(p) : null;
        var rows = new ArraySegment<OutcomeRow>(_rows, first, slice.Length);
        var allowance = p.AllowanceWh;
        var remaining = p.RequestedWh;
        int acceptedCount = 0, last = -1, bookings = 0, keptWh = 0, keptWatts = 0;
        ResetSeen();
        Prefetch(slice);
        for (var i = 0; i < slice.Length; i++)
        {
            var key = slice[i];
            var o = offers[key.Offer];
            RefuseRepeated(o.Id, p);
            var (kind, why, slot, wh) = (OfferOutcomeKind.RejectedNotEligible, Why.None, 0, 0L);
            var stations = o.StationIds;
            var numbered = false;
            if (key.Ticks >= p.GateTicks) kind = OfferOutcomeKind.RejectedLate;
            else if (!Units.TryScaled(o.Energy.Value, Units.EnergyScale, out wh) || wh <= 0) why = Why.EnergyNotWholeWh;
            else if (key.Price == MeritKey.NoPrice) why = Why.PriceNotValid;
            else if (o.Direction != p.Direction) (kind, why) = (OfferOutcomeKind.RejectedWrongDirection, Why.WrongDirection);
            else if (stations is not { Count: > 0 }) why = Why.NoStation;
            else if (p.Qualified is { } q && !AllIn(stations, q)) why = Why.StationNotQualified;
            else if (key.Price > p.CapUnits) kind = OfferOutcomeKind.RejectedOverPriceCap;
            else if (_book.AnyEarlierWhole && (slot = _book.Blocked(Numbers(stations, ref numbered), plan)) >= 0)
                (kind, why) = (OfferOutcomeKind.RejectedCapacityConflict, _book.WhyOf(slot));
            else if (need is null && o.Profile is not null) why = Why.ProfileNotValid;
            else if (need is not null && !OfferedWh(o, wh, p, _offered)) why = Why.ProfileNotValid;
            else
            {
                SelectionDecision d;
                Span<Segment> segments;
                if (need is null)
                {
                    d = p.SelectionStrategy.Decide(o, wh, remaining, p.AllowanceWh, p.MinimumWh);
                    segments = _segments.AsSpan(0, 1);
                    if (d.Accepts) segments[0] = new Segment(p.WindowStart, p.WindowEnd, FlatWatts(d.WattHours, p));
                }
                else
                {
                    Array.Clear(_taking);
                    d = p.SelectionStrategy.DecideProfile(o, _offered, need, allowance, p.MinimumWh, _taking);
                    segments = _segments.AsSpan(0, need.Length);
                    var length = TimeSpan.TicksPerMinute * p.IntervalMinutes;
                    if (d.Accepts)
                        for (var k = 0; k < segments.Length; k++)
                            segments[k] = new Segment(p.WindowStart + k * length, p.WindowStart + (k + 1) * length, _taking[k] * (60 / p.IntervalMinutes));
                }
                (kind, why) = (d.Kind, d.Why);
                if (d.Accepts)
                {
                    var numbers = Numbers(stations, ref numbered);
                    var size = numbers.Length * segments.Length;
                    if (_watts.Length < size) (_watts, _used) = (new long[size], new long[size]);
                    slot = _book.TryBook(numbers, plan, segments, _watts.AsSpan(0, size), _used.AsSpan(0, size), out var pooled);
                    if (slot != -1) (kind, why) = (OfferOutcomeKind.RejectedCapacityConflict, _book.WhyOf(slot));
                    else
                    {
                        var extra = 0;
                        if (pooled)
                        {
                            extra = 1 + keptWatts;
                            Append(ref _keptWatts, ref keptWatts, _watts.AsSpan(0, size));
                        }
                        if (need is not null)
                        {
                            for (var k = 0; k < need.Length; k++)
                            {
                                allowance -= Math.Max(0, _taking[k] - Math.Max(need[k], 0));
                                need[k] -= _taking[k];
                            }
                            Append(ref _keptWh, ref keptWh, _taking);
                        }
                        else remaining -= d.WattHours;
                        rows[i] = new OutcomeRow(o, d.WattHours, kind, null, extra);
                        acceptedCount++;
                        bookings += stations.Count;
                        last = i;
                        continue;
                    }
                }
            }
            rows[i] = new OutcomeRow(o, 0, kind, why switch
            {
                Why.CapacityConflict or Why.Booked or Why.Recovery or Why.NoPower => _book.Describe(slot, plan, Numbers(stations, ref numbered)),
                _ => Explain.Text(why),
            });
        }
        // Offers are accepted in merit order, so the last accepted one carries the highest accepted price.
        var clearingPrice = last >= 0 ? rows[last].Offer.Price : default;
        var built = new RequestRows(p, rows, clearingPrice, need is null ? (ArraySegment<long>?)null : Keep(_keptWh.AsSpan(0, keptWh)), Keep(_keptWatts.AsSpan(0, keptWatts)));
        return new ClearingResult(new BuiltOnRead<Award>(acceptedCount, built.Awards), new BuiltOnRead<OfferOutcome>(rows.Count, built.Outcomes))
        {
            RequestId = p.Id, Requested = p.Requested, OverfillAllowance = p.Allowance, Pricing = p.Pricing,
            Selection = p.Selection, SelectionNote = p.SelectionNote, ClearingPrice = clearingPrice,
            Bookings = new BuiltOnRead<StationBooking>(bookings, built.Bookings),
        };
    }

    /// <summary>The watt-hours <paramref name="p"/> needs per interval; sizes the per-interval scratch to match.</summary>
    private long[] Need(RequestPlan p)
    {
        var need = new long[p.IntervalCount];
        if (p.ProfileWh is { } wanted) Array.Copy(wanted, need, need.Length);
        else Profiles.Spread(p.RequestedWh, need);
        if (_offered.Length != need.Length) (_offered, _taking) = (new long[need.Length], new long[need.Length]);
        if (_segments.Length < need.Length) _segments = new Segment[need.Length];
        return need;
    }

    /// <summary>The numbers of <paramref name="stations"/> in the station book, looked up on first use for the offer.</summary>
    private ReadOnlySpan<int> Numbers(IReadOnlyList<string> stations, ref bool numbered)
    {
        if (_numbers.Length < stations.Count) _numbers = new int[stations.Count];
        var numbers = _numbers.AsSpan(0, stations.Count);
        if (!numbered) _book.Number(stations, numbers);
        numbered = true;
        return numbers;
    }

    /// <summary>A copy of <paramref name="values"/> in the current chunk; a full chunk is left to the results holding parts of it.</summary>
    private ArraySegment<long> Keep(ReadOnlySpan<long> values)
    {
        if (_chunk.Length - _chunkUsed < values.Length)
            (_chunk, _chunkUsed) = (new long[Math.Max(1 << 16, values.Length)], 0);
        values.CopyTo(_chunk.AsSpan(_chunkUsed));
        _chunkUsed += values.Length;
        return new ArraySegment<long>(_chunk, _chunkUsed - values.Length, values.Length);
    }

    private static void Append(ref long[] kept, ref int count, ReadOnlySpan<long> values)
    {
        if (kept.Length < count + values.Length) Array.Resize(ref kept, Math.Max(kept.Length * 2, count + values.Length));
        values.CopyTo(kept.AsSpan(count));
        count += values.Length;
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
        if (!Profiles.IntervalWh(o.Profile, p.IntervalMinutes, p.WholeIntervals, offered)) return false;
        var sum = 0L;
        foreach (var v in offered) sum += v;
        return sum == wh;
    }

    /// <summary>The power of <paramref name="wh"/> spread evenly over the request's window, in whole watts rounded up.</summary>
    private static long FlatWatts(long wh, RequestPlan p)
    {
        var ticks = p.WindowEnd - p.WindowStart;
        return (long)(((Int128)wh * TimeSpan.TicksPerHour + ticks - 1) / ticks);
    }

    private HashSet<string> _seen = new(StringComparer.Ordinal);
    private int _read;

    /// <summary>
    /// Reads, in merit order, the objects the merit pass will read of each offer of a request: the offer, its id, its
    /// profile and its station ids. They lie at scattered addresses, and a loop doing this little per offer lets the
    /// processor fetch many of them at once; the merit pass, doing much per offer (checks, selection, station look-ups,
    /// booking), would wait for each in turn. What is read is kept in <see cref="_read"/> only so that it is read.
    /// </summary>
    private void Prefetch(Span<MeritKey> slice)
    {
        var read = 0;
        foreach (var key in slice)
        {
            var o = offers[key.Offer];
            read ^= o.Id.Length ^ (o.Profile?.Count ?? 0);
            if (o.StationIds is not { } stations) continue;
            for (var s = 0; s < stations.Count; s++) read ^= stations[s]?.Length ?? 0;
        }
        _read ^= read;
    }

    private void ResetSeen()
    {
        // One small set reused for every request; a large one is dropped rather than cleared over and over.
        if (_seen.Count > 4096) _seen = new(StringComparer.Ordinal);
        else _seen.Clear();
    }

    /// <summary>Award ids are built from request and offer ids, so an offer id twice on one request would pay one award id twice.</summary>
    private void RefuseRepeated(string id, RequestPlan p)
    {
        if (!_seen.Add(id))
            throw new ArgumentException($"Offer {id} appears twice on request {p.Id}; offer ids must be unique.", nameof(offers));
    }

    private static bool AllIn(IReadOnlyList<string> stations, IReadOnlySet<string> qualified)
    {
        for (var s = 0; s < stations.Count; s++)
            if (!qualified.Contains(stations[s])) return false;
        return true;
    }
}

/// <summary>
/// One offer's result as the engine leaves it: the offer, the watt-hours accepted, the outcome and its explanation, and
/// for an award whose stations' power is known, 1 + where the watts its stations took begin in the request's
/// <see cref="RequestRows"/> (0: none, the stations are taken whole).
/// </summary>
internal readonly record struct OutcomeRow(Offer Offer, long AcceptedWh, OfferOutcomeKind Kind, object? Detail, int WattsAt = 0)
{
    public bool IsAccepted => Kind is OfferOutcomeKind.Accepted or OfferOutcomeKind.PartlyAccepted;

    /// <summary>The accepted energy: the offer's own value when all of it is taken, so the award reads exactly as offered.</summary>
    public KilowattHours Energy =>
        Units.TryScaled(Offer.Energy.Value, Units.EnergyScale, out var wh) && wh == AcceptedWh ? Offer.Energy : Units.Kwh(AcceptedWh);
}

/// <summary>
/// A request's clearing result as compact rows, one per offer in merit order, from which the award, outcome and booking
/// objects are built when first read. Storage reads one request at a time, so clearing a million offers does not hold
/// a million objects that every garbage collection during the run would copy. The rows are the request's slice of one
/// array for the whole cycle, so a kept result keeps that array alive. What the accepted offers took beyond their totals
/// is kept in two slices of chunks shared by the cycle's requests: <paramref name="wh"/>, for a request cleared per interval,
/// the watt-hours of each interval for each award in merit order (null for a request cleared on totals); and
/// <paramref name="watts"/>, for each award whose stations' power is known, the watts each station took per stretch
/// (station-major: one stretch for a request cleared on totals, one per interval otherwise), from its row's
/// <see cref="OutcomeRow.WattsAt"/>.
/// </summary>
internal sealed class RequestRows(RequestPlan plan, ArraySegment<OutcomeRow> rows, EurosPerKilowattHour clearingPrice, ArraySegment<long>? wh, ArraySegment<long> watts)
{
    private TimeWindow Window => new(new DateTimeOffset(plan.WindowStart, TimeSpan.Zero), new DateTimeOffset(plan.WindowEnd, TimeSpan.Zero));

    public Award[] Awards()
    {
        var awards = new List<Award>();
        var cuts = plan.IntervalCount;
        foreach (var r in rows)
        {
            if (!r.IsAccepted) continue;
            Kilowatts[]? profile = null;
            if (wh is { } perInterval)
            {
                profile = new Kilowatts[cuts];
                for (var k = 0; k < cuts; k++) profile[k] = Profiles.Power(perInterval[awards.Count * cuts + k], plan.IntervalMinutes);
            }
            awards.Add(new Award(Award.IdFor(plan.Id, r.Offer.Id), r.Offer.Id, r.Offer.CpoId, r.Offer.StationIds, r.Energy, plan.PricingStrategy.PriceFor(r.Offer.Price, clearingPrice))
            {
                Profile = profile is null ? null : Array.AsReadOnly(profile),
            });
        }
        return [.. awards];
    }

    public OfferOutcome[] Outcomes()
    {
        var outcomes = new OfferOutcome[rows.Count];
        for (var i = 0; i < rows.Count; i++)
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
        var stretches = wh is null ? 1 : cuts;
        var bookings = new List<StationBooking>();
        foreach (var r in rows)
        {
            if (!r.IsAccepted) continue;
            var id = Award.IdFor(plan.Id, r.Offer.Id);
            var stations = r.Offer.StationIds;
            for (var s = 0; s < stations.Count; s++)
            {
                Kilowatts[]? power = null;
                if (r.WattsAt > 0)
                {
                    power = new Kilowatts[cuts];
                    for (var k = 0; k < cuts; k++) power[k] = new(Units.Kwh(watts[r.WattsAt - 1 + s * stretches + (stretches == 1 ? 0 : k)]).Value);
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
