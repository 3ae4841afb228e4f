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
        var booked = TakenStations.From(taken);
        for (var i = 0; i < ordered.Length; i++)
        {
            if (!ranks.TryAdd(ordered[i].Id, i))
                throw new DomainException("requests", "unique-id", $"Request {ordered[i].Id} appears twice in the gate cycle.");
            plans[i] = RequestPlan.For(ordered[i], booked);
        }
        return new Clearer(plans, AsArray(offers), ranks).Run();
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
    public TakenStations? Taken { get; init; }

    // Echoed into the result.
    public required KilowattHours Requested { get; init; }
    public required KilowattHours Allowance { get; init; }
    public required PricingRule Pricing { get; init; }
    public required SelectionMode Selection { get; init; }
    public string? SelectionNote { get; init; }

    public static RequestPlan For(ClearingRequest r, TakenStations? taken = null)
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
        return new RequestPlan
        {
            Id = id, RequestedWh = requestedWh, AllowanceWh = allowanceWh, CapUnits = capUnits,
            GateTicks = r.GateClosure.UtcTicks, WindowStart = r.Delivery.Start.UtcTicks, WindowEnd = r.Delivery.End.UtcTicks, Direction = r.Direction,
            PricingStrategy = PricingStrategies.For(r.Pricing), SelectionStrategy = strategy, Qualified = r.QualifiedStationIds, Taken = taken, MinimumWh = minimumWh,
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

/// <summary>
/// Which stations are awarded for which windows: a linked list of bookings per station in one pooled array, so
/// booking allocates nothing per award; <see cref="Dispose"/> returns the array.
/// </summary>
internal sealed class StationBook(RequestPlan[] plans) : IDisposable
{
    private readonly Dictionary<string, int> _last = new(StringComparer.Ordinal);
    private Booking[] _bookings = ArrayPool<Booking>.Shared.Rent(1024);
    private int _count;

    private struct Booking
    {
        public string Station;
        public int Previous;  // the station's previous booking, or -1
        public int Plan;      // index into plans: its window and id
        public Conflict? Conflict;
    }

    /// <summary>Why an offer lost a station; formatted only when someone reads the outcome's detail.</summary>
    private sealed class Conflict(string station, string requestId)
    {
        public override string ToString() =>
            $"Station {station} is already awarded to request {requestId} for an overlapping window.";
    }

    /// <summary>
    /// Books <paramref name="stations"/> for <paramref name="plan"/>'s window, or, when one of them is already booked
    /// for an overlapping window, books nothing and returns that booking's index; -1 when booked.
    /// </summary>
    public int TryBook(IReadOnlyList<string> stations, int plan)
    {
        if (stations.Count == 1)
        {
            // Most offers name one station: one dictionary lookup both checks and books it.
            ref var last = ref CollectionsMarshal.GetValueRefOrAddDefault(_last, stations[0], out var exists);
            if (exists)
            {
                var clash = Overlap(last, plans[plan]);
                if (clash >= 0) return clash;
            }
            last = Add(stations[0], exists ? last : -1, plan);
            return -1;
        }
        for (var s = 0; s < stations.Count; s++)
        {
            if (!_last.TryGetValue(stations[s], out var head)) continue;
            var clash = Overlap(head, plans[plan]);
            if (clash >= 0) return clash;
        }
        for (var s = 0; s < stations.Count; s++)
        {
            ref var last = ref CollectionsMarshal.GetValueRefOrAddDefault(_last, stations[s], out var exists);
            last = Add(stations[s], exists ? last : -1, plan);
        }
        return -1;
    }

    private int Overlap(int booking, RequestPlan plan)
    {
        for (; booking >= 0; booking = _bookings[booking].Previous)
        {
            var other = plans[_bookings[booking].Plan];
            if (other.WindowStart < plan.WindowEnd && plan.WindowStart < other.WindowEnd) return booking;
        }
        return -1;
    }

    private int Add(string station, int previous, int plan)
    {
        if (_count == _bookings.Length) Grow();
        _bookings[_count] = new Booking { Station = station, Previous = previous, Plan = plan };
        return _count++;
    }

    /// <summary>The explanation for an offer that clashed with <paramref name="booking"/>, shared by every offer that clashes with it.</summary>
    public object Describe(int booking)
    {
        ref var b = ref _bookings[booking];
        return b.Conflict ??= new Conflict(b.Station, plans[b.Plan].Id);
    }

    public void Dispose() => ArrayPool<Booking>.Shared.Return(_bookings, clearArray: true);

    private void Grow()
    {
        var bigger = ArrayPool<Booking>.Shared.Rent(_bookings.Length * 2);
        Array.Copy(_bookings, bigger, _count);
        ArrayPool<Booking>.Shared.Return(_bookings, clearArray: true);
        _bookings = bigger;
    }
}

/// <summary>One run of the engine over a gate cycle. Pooled scratch arrays are returned at the end.</summary>
internal sealed class Clearer(RequestPlan[] plans, Offer[] offers, Dictionary<string, int> ranks)
{
    private readonly StationBook _book = new(plans);

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

        var remaining = p.RequestedWh;
        var acceptedCount = 0;
        var last = -1;
        for (var i = 0; i < slice.Length; i++)
        {
            ref var e = ref slice[i];
            var o = offers[e.Offer];
            if (e.Ticks >= p.GateTicks) e.Kind = OfferOutcomeKind.RejectedLate;
            else if (e.Why != Why.None) e.Kind = OfferOutcomeKind.RejectedNotEligible;
            else if (o.Direction != p.Direction) (e.Kind, e.Why) = (OfferOutcomeKind.RejectedWrongDirection, Why.WrongDirection);
            else if (o.StationIds is not { Count: > 0 }) (e.Kind, e.Why) = (OfferOutcomeKind.RejectedNotEligible, Why.NoStation);
            else if (p.Qualified is { } q && !AllIn(o.StationIds, q)) (e.Kind, e.Why) = (OfferOutcomeKind.RejectedNotEligible, Why.StationNotQualified);
            else if (e.Price > p.CapUnits) e.Kind = OfferOutcomeKind.RejectedOverPriceCap;
            else if (p.Taken?.Clash(o.StationIds, p.WindowStart, p.WindowEnd) is not null) (e.Kind, e.Why) = (OfferOutcomeKind.RejectedCapacityConflict, Why.Booked);
            else
            {
                var d = p.SelectionStrategy.Decide(o, e.Wh, remaining, p.AllowanceWh, p.MinimumWh);
                (e.Kind, e.Why) = (d.Kind, d.Why);
                if (!d.Accepts) continue;
                var clash = _book.TryBook(o.StationIds, plan);
                if (clash >= 0)
                {
                    (e.Kind, e.Why, e.Slot) = (OfferOutcomeKind.RejectedCapacityConflict, Why.CapacityConflict, clash);
                    continue;
                }
                e.AcceptedWh = d.WattHours;
                remaining -= d.WattHours;
                acceptedCount++;
                last = i;
            }
        }
        return Publish(p, slice, acceptedCount, last);
    }

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

    private ClearingResult Publish(RequestPlan p, Span<Entry> slice, int acceptedCount, int last)
    {
        // Offers are accepted in merit order, so the last accepted one carries the highest accepted price.
        var clearingPrice = last >= 0 ? offers[slice[last].Offer].Price : default;
        var rows = new OutcomeRow[slice.Length];
        for (var i = 0; i < slice.Length; i++)
        {
            ref var e = ref slice[i];
            var o = offers[e.Offer];
            rows[i] = new OutcomeRow(o, e.AcceptedWh, e.Kind, e.Why switch
            {
                Why.CapacityConflict => _book.Describe(e.Slot),
                Why.Booked => TakenStations.Describe(p.Taken!.Clash(o.StationIds, p.WindowStart, p.WindowEnd)!),
                _ => Explain.Text(e.Why),
            });
        }
        var built = new RequestRows(p.Id, rows, p.PricingStrategy, clearingPrice);
        return new ClearingResult(new BuiltOnRead<Award>(acceptedCount, built.Awards), new BuiltOnRead<OfferOutcome>(rows.Length, built.Outcomes))
        {
            RequestId = p.Id, Requested = p.Requested, OverfillAllowance = p.Allowance, Pricing = p.Pricing,
            Selection = p.Selection, SelectionNote = p.SelectionNote, ClearingPrice = clearingPrice,
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
/// A request's clearing result as compact rows, one per offer in merit order, from which the award and outcome
/// objects are built when first read. Storage reads one request at a time, so clearing a million offers does not hold
/// a million objects that every garbage collection during the run would copy.
/// </summary>
internal sealed class RequestRows(string requestId, OutcomeRow[] rows, IPricingStrategy pricing, EurosPerKilowattHour clearingPrice)
{
    public Award[] Awards()
    {
        var awards = new List<Award>();
        foreach (var r in rows)
            if (r.IsAccepted)
                awards.Add(new Award(Award.IdFor(requestId, r.Offer.Id), r.Offer.Id, r.Offer.CpoId, r.Offer.StationIds, r.Energy, pricing.PriceFor(r.Offer.Price, clearingPrice)));
        return [.. awards];
    }

    public OfferOutcome[] Outcomes()
    {
        var outcomes = new OfferOutcome[rows.Length];
        for (var i = 0; i < rows.Length; i++)
        {
            var r = rows[i];
            outcomes[i] = r.IsAccepted
                ? new OfferOutcome(r.Offer.Id, r.Kind, r.Energy) { Price = pricing.PriceFor(r.Offer.Price, clearingPrice) }
                : new OfferOutcome(r.Offer.Id, r.Kind, KilowattHours.Zero) { DeferredDetail = r.Detail };
        }
        return outcomes;
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
