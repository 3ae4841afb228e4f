using FlexChain.Domain;

namespace FlexChain.Grid;

/// <summary>The TSO-DSO coordination schemes compared (DOMAIN.md section 7; ALEXANDER's names in brackets). Numbers are stable.</summary>
public enum CoordinationScheme
{
    /// <summary>DSO markets first, then the unbought offers go to the TSO, no grid check (ML01).</summary>
    DsoFirst = 1,

    /// <summary>DSO markets first, forwarded offers prequalified by the impacted operators (ML03).</summary>
    DsoFirstPrequalified = 2,

    /// <summary>TSO market first, then the DSO markets on what is left, no grid check (ML05).</summary>
    TsoFirst = 3,

    /// <summary>TSO market first on prequalified offers, then the DSO markets (ML06).</summary>
    TsoFirstPrequalified = 4,

    /// <summary>One LP over the TSO's need and every grid limit (the common market).</summary>
    CommonMarket = 5,
}

/// <summary>What one buyer bought from one station.</summary>
/// <param name="Resource">The station.</param>
/// <param name="Direction">Which way it moves its consumption.</param>
/// <param name="BuyerId">The operator paying: the TSO for balancing, the connecting operator for its grid.</param>
/// <param name="Energy">Energy over the window (kWh, to the watt-hour).</param>
/// <param name="Price">Price paid (EUR/kWh; pay-as-bid).</param>
public sealed record Activation(FlexResource Resource, Direction Direction, string BuyerId, KilowattHours Energy, EurosPerKilowattHour Price)
{
    /// <summary>What the buyer pays.</summary>
    public Euros Cost => Energy * Price;
}

/// <summary>One scheme's result on one case.</summary>
/// <param name="Scheme">The scheme.</param>
/// <param name="Activations">Everything bought, by whom.</param>
/// <param name="Grid">The limits the final state breaks (reported, never hidden).</param>
/// <param name="TsoShortfall">How much of the TSO's need was not bought (kWh).</param>
public sealed record SchemeOutcome(CoordinationScheme Scheme, IReadOnlyList<Activation> Activations, GridCheck Grid, KilowattHours TsoShortfall)
{
    /// <summary>Total paid by all buyers.</summary>
    public Euros Cost => Activations.Aggregate(Euros.Zero, (sum, a) => sum + a.Cost);

    /// <summary>Energy bought by <paramref name="buyerId"/>.</summary>
    public KilowattHours BoughtBy(string buyerId) =>
        Activations.Where(a => a.BuyerId == buyerId).Aggregate(KilowattHours.Zero, (sum, a) => sum + a.Energy);
}

/// <summary>
/// Runs the coordination schemes on a <see cref="StudyCase"/>. The sequential schemes clear every market with
/// FlexChain's own <see cref="ClearingEngine"/> (merit order, pay-as-bid, one booking per station); only the common
/// market needs an LP (<see cref="CommonMarket"/>), because its "need" is the grid limits themselves, not a volume a
/// merit order could fill.
/// <para>A DSO's needs follow from the limits its grid breaks: bottom-up (deepest bus first), a request at bus n for
/// the larger of the overload of the branch feeding n and the reduction below n that lifts n's voltage to its lower
/// bound (every bus below n shares n's path, so its effect on n's voltage is the same), less what the requests below n
/// already buy. Requests are cleared deepest first, each seeing the stations booked before it.</para>
/// <para>Prequalification: the impacted operators (connecting DSO and TSO) approve forwarded offers in merit order,
/// each up to the headroom the limits leave once the offers approved before it are fully activated (a conditional
/// approval "up to a maximum kW"); whatever subset of them the TSO then takes breaks no limit the state before met.</para>
/// </summary>
public sealed class CoordinationStudy(StudyCase study)
{
    private const string TsoRequestId = "tso-balancing";
    private static readonly EurosPerKilowattHour NoCap = new(1000m);

    /// <summary>The case studied.</summary>
    public StudyCase Case { get; } = study ?? throw new ArgumentNullException(nameof(study));

    /// <summary>The limits the base state breaks: the DSOs' congestion before any flexibility.</summary>
    public GridCheck BaseCheck() => Case.Grid.Check(Case.Grid.Evaluate([]));

    /// <summary>Runs <paramref name="scheme"/> from the base state.</summary>
    public SchemeOutcome Run(CoordinationScheme scheme)
    {
        var values = Case.Grid.Evaluate([]);
        var bought = new List<Activation>();
        var bookings = new List<StationBooking>();
        switch (scheme)
        {
            case CoordinationScheme.DsoFirst:
            case CoordinationScheme.DsoFirstPrequalified:
                Apply(DsoMarkets(values, bookings), values, bought);
                var caps = scheme == CoordinationScheme.DsoFirstPrequalified ? Prequalify(values, bookings) : null;
                Apply(TsoMarket(caps, bookings), values, bought);
                break;
            case CoordinationScheme.TsoFirst:
            case CoordinationScheme.TsoFirstPrequalified:
                var approved = scheme == CoordinationScheme.TsoFirstPrequalified ? Prequalify(values, bookings) : null;
                Apply(TsoMarket(approved, bookings), values, bought);
                Apply(DsoMarkets(values, bookings), values, bought);
                break;
            case CoordinationScheme.CommonMarket:
                Apply(CommonMarket.Solve(Case), values, bought);
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(scheme), scheme, "Unknown scheme.");
        }
        var tso = bought.Where(a => a.BuyerId == Case.Grid.Hierarchy.Tso.Id && a.Direction == Case.Need.Direction)
            .Aggregate(KilowattHours.Zero, (s, a) => s + a.Energy);
        return new SchemeOutcome(scheme, bought, Case.Grid.Check(values), KilowattHours.Max(KilowattHours.Zero, Case.Need.Energy - tso));
    }

    /// <summary>The DSOs' requests at <paramref name="values"/> (reduce consumption below a bus), deepest first per DSO.</summary>
    public IReadOnlyList<(DistributionArea Area, int Bus, KilowattHours Energy)> DsoNeeds(IReadOnlyList<double> values)
    {
        ArgumentNullException.ThrowIfNull(values);
        var grid = Case.Grid;
        var needs = new List<(DistributionArea, int, KilowattHours)>();
        foreach (var area in grid.Hierarchy.Dsos)
        {
            var feeder = area.Feeder;
            var flow = new Dictionary<string, int>();
            var voltage = new Dictionary<string, int>();
            for (var i = 0; i < grid.Limits.Count; i++)
            {
                if (grid.Limits[i].OperatorId != area.Operator.Id) continue;
                (grid.Limits[i].Kind == LimitKind.Flow ? flow : voltage)[grid.Limits[i].Element] = i;
            }
            var below = new Dictionary<int, double>(); // MW requested at or below each bus so far
            foreach (var bus in feeder.BottomUp())
            {
                if (bus == feeder.Root) continue;
                var f = flow[feeder.Grid.Branches[feeder.FeedingBranch(bus)].ToString()];
                var v = voltage[bus.ToString(System.Globalization.CultureInfo.InvariantCulture)];
                var overload = values[f] - grid.Limits[f].Upper;
                var perMwLess = -feeder.VoltageSquaredPerMw(bus, bus); // the squared voltage gained per MW less below the bus
                var lift = (grid.Limits[v].Lower - values[v]) / perMwLess;
                var requestedBelow = below.GetValueOrDefault(bus);
                var need = Math.Max(overload, lift) - requestedBelow;
                if (need > LinearGrid.FlowTolerance)
                {
                    needs.Add((area, bus, Case.Energy(need, MidpointRounding.ToPositiveInfinity)));
                    requestedBelow += need;
                }
                var parent = feeder.PathTo(bus)[^2];
                below[parent] = below.GetValueOrDefault(parent) + requestedBelow;
            }
        }
        return needs;
    }

    // The DSO markets: one request per need, cleared deepest first by the clearing engine, offers from every station
    // below the request's bus (each CPO offers its whole reducible power, divisible, at its price).
    private List<Activation> DsoMarkets(IReadOnlyList<double> values, List<StationBooking> bookings)
    {
        var gate = Case.Window.Start.AddHours(-7); // ALEXANDER's rule: the DSO market closes before the TSO's
        var bought = new List<Activation>();
        foreach (var (area, bus, energy) in DsoNeeds(values))
        {
            var request = new ClearingRequest($"{area.Operator.Id}-n{bus:D3}", Case.Window, energy, NoCap, gate, PricingRule.PayAsBid);
            var offers = Case.Resources
                .Where(r => r.Location.OperatorId == area.Operator.Id && area.Feeder.IsBelow(r.Location.Bus, bus) && r.Reducible.Value > 0)
                .Select(r => OfferOf(r, request.Id, Direction.ReduceConsumption, Case.Offerable(r, Direction.ReduceConsumption).Value, gate))
                .ToList();
            bought.AddRange(Clear(request, offers, bookings, area.Operator.Id));
        }
        return bought;
    }

    // The TSO market: one request for the need; every station not booked may offer, up to its prequalified cap if any.
    private List<Activation> TsoMarket(IReadOnlyDictionary<string, decimal>? caps, List<StationBooking> bookings)
    {
        if (Case.Need.Energy.Value <= 0) return []; // no balancing need in this interval
        var gate = Case.Window.Start.AddHours(-1);
        var d = Case.Need.Direction;
        var request = new ClearingRequest(TsoRequestId, Case.Window, Case.Need.Energy, NoCap, gate, PricingRule.PayAsBid) { Direction = d };
        var offers = Case.Resources
            .Select(r => (r, kwh: caps is null ? Case.Offerable(r, d).Value : caps.GetValueOrDefault(r.StationId)))
            .Where(o => o.kwh > 0)
            .Select(o => OfferOf(o.r, request.Id, d, o.kwh, gate))
            .ToList();
        return Clear(request, offers, bookings, Case.Grid.Hierarchy.Tso.Id);
    }

    /// <summary>
    /// The impacted operators' approval of the offers forwarded to the TSO at <paramref name="values"/>: kWh per station,
    /// in merit order, each up to what every limit still allows after the ones approved before it.
    /// </summary>
    public IReadOnlyDictionary<string, decimal> Prequalify(IReadOnlyList<double> values, IReadOnlyCollection<StationBooking> bookings)
    {
        ArgumentNullException.ThrowIfNull(values);
        ArgumentNullException.ThrowIfNull(bookings);
        var grid = Case.Grid;
        var d = Case.Need.Direction;
        var sign = d == Direction.IncreaseConsumption ? 1.0 : -1.0;
        var state = values.ToArray();
        var booked = bookings.Select(b => b.StationId).ToHashSet();
        var caps = new Dictionary<string, decimal>();
        foreach (var r in Case.Resources.Where(r => !booked.Contains(r.StationId)).OrderBy(r => r.Price(d)).ThenBy(r => r.StationId, StringComparer.Ordinal))
        {
            var s = grid.Sensitivity(r.Location);
            var impacted = grid.Hierarchy.ImpactedOperators(r.Location).Select(o => o.Id).ToHashSet();
            var mw = Case.Megawatts(Case.Offerable(r, d));
            for (var i = 0; i < s.Count && mw > 0; i++)
            {
                if (!impacted.Contains(grid.Limits[i].OperatorId)) continue; // only the connecting and impacted operators prequalify
                var change = s[i] * sign;
                if (change > 0) mw = Math.Min(mw, Math.Max(0, (grid.Limits[i].Upper - state[i]) / change));
                else if (change < 0) mw = Math.Min(mw, Math.Max(0, (grid.Limits[i].Lower - state[i]) / change));
            }
            var approved = Case.Energy(mw, MidpointRounding.ToNegativeInfinity);
            if (approved.Value <= 0) continue;
            caps[r.StationId] = approved.Value;
            grid.Add(state, r.Location, sign * Case.Megawatts(approved));
        }
        return caps;
    }

    private static Offer OfferOf(FlexResource r, string requestId, Direction d, decimal kwh, DateTimeOffset gate) =>
        new($"{r.StationId}@{requestId}", requestId, r.CpoId, [r.StationId], new KilowattHours(kwh), r.Price(d), Divisible: true, gate.AddHours(-1))
        {
            Direction = d,
        };

    private List<Activation> Clear(ClearingRequest request, List<Offer> offers, List<StationBooking> bookings, string buyerId)
    {
        var result = ClearingEngine.Clear([request], offers, bookings).For(request.Id);
        bookings.AddRange(StationBooking.For(result, request.Delivery));
        var byStation = Case.Resources.ToDictionary(r => r.StationId);
        return result.Awards.Select(a => new Activation(byStation[a.StationIds[0]], request.Direction, buyerId, a.Energy, a.Price)).ToList();
    }

    private void Apply(IEnumerable<Activation> activations, double[] values, List<Activation> bought)
    {
        foreach (var a in activations)
        {
            var mw = Case.Megawatts(a.Energy);
            Case.Grid.Add(values, a.Resource.Location, a.Direction == Direction.IncreaseConsumption ? mw : -mw);
            bought.Add(a);
        }
    }
}
