using FlexChain.Domain;

namespace FlexChain.Grid;

/// <summary>
/// The week of 15-minute gates of issue 20 in reduced form: the study's grid (two DSOs, one TSO) with
/// <see cref="Stations"/> chargers placed at random distribution buses, each interval its own gate. Per interval the
/// feeders' own loads follow a daily profile, each charger's baseline follows an EV charging profile, the DSOs' needs
/// follow from the limits that base state breaks, and the TSO needs balancing in some intervals (random direction and
/// size). Every value is drawn from <see cref="Seed"/>.
/// </summary>
public sealed record WeekSettings
{
    /// <summary>Seed of the stations, profiles' noise and TSO needs.</summary>
    public int Seed { get; init; } = 7;

    /// <summary>Chargers in the two distribution grids.</summary>
    public int Stations { get; init; } = 1000;

    /// <summary>Market intervals simulated (7 days of 96 by default).</summary>
    public int Intervals { get; init; } = 7 * 96;

    /// <summary>The first interval's start (a Monday, UTC).</summary>
    public DateTimeOffset Start { get; init; } = new(2026, 12, 14, 0, 0, 0, TimeSpan.Zero);

    /// <summary>The market interval (15 minutes, the pilots' norm).</summary>
    public TimeSpan Interval { get; init; } = TimeSpan.FromMinutes(15);

    /// <summary>Charger ratings (kW), drawn uniformly: single-phase, three-phase 11 kW and 22 kW AC.</summary>
    public IReadOnlyList<decimal> RatingsKw { get; init; } = [3.7m, 7.4m, 11m, 22m];

    /// <summary>Probability that the TSO needs balancing in an interval, and the need's size (MW), each direction equally likely.</summary>
    public double TsoNeedProbability { get; init; } = 0.5;

    /// <inheritdoc cref="TsoNeedProbability"/>
    public (decimal Min, decimal Max) TsoNeedMw { get; init; } = (0.5m, 2m);

    /// <summary>The grid, its limits, prices and the transmission offers (<see cref="StudySettings"/>).</summary>
    public StudySettings Study { get; init; } = new();

    /// <summary>
    /// The share of a charger's rating drawn in its baseline by hour of day (UTC stands in for local time here): the
    /// evening peak 17-22 h, the night, the working day (weekends charge more by day).
    /// </summary>
    public static double ChargingShare(DateTimeOffset t) => t.Hour switch
    {
        >= 17 and < 22 => 0.45,
        >= 22 or < 6 => 0.25,
        _ => t.DayOfWeek is DayOfWeek.Saturday or DayOfWeek.Sunday ? 0.2 : 0.1,
    };

    /// <summary>The feeders' own loads as a share of the case's: 1 at the evening peak, 0.85 by day, 0.6 at night.</summary>
    public static double LoadShare(DateTimeOffset t) => t.Hour switch
    {
        >= 17 and < 22 => 1.0,
        >= 7 and < 17 => 0.85,
        _ => 0.6,
    };
}

/// <summary>One scheme's totals over the week.</summary>
/// <param name="Scheme">The scheme.</param>
/// <param name="EnergyByBuyer">Energy bought per buyer (kWh).</param>
/// <param name="Cost">Everything paid.</param>
/// <param name="TsoShortfall">TSO need not bought (kWh).</param>
/// <param name="IntervalsWithViolations">Intervals ending with any limit broken.</param>
/// <param name="BrokenLimitIntervals">Limits broken after clearing, summed over the intervals.</param>
/// <param name="BrokenBeforeToo">Of those, the ones the base state (before any flexibility) broke as well: a DSO need left unmet, or met and broken again.</param>
/// <param name="DoubleAwards">Stations awarded more than once in one interval (capacity sold twice).</param>
public sealed record WeekTotals(
    CoordinationScheme Scheme, IReadOnlyDictionary<string, KilowattHours> EnergyByBuyer, Euros Cost, KilowattHours TsoShortfall,
    int IntervalsWithViolations, int BrokenLimitIntervals, int BrokenBeforeToo, int DoubleAwards);

/// <summary>Runs <see cref="WeekSettings"/>'s week for each scheme.</summary>
public static class WeekSimulation
{
    /// <summary>Clears every interval of the week with each of <paramref name="schemes"/> and adds up the results.</summary>
    public static IReadOnlyList<WeekTotals> Run(WeekSettings settings, IReadOnlyList<CoordinationScheme> schemes)
    {
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(schemes);
        var hierarchy = settings.Study.Hierarchy();
        var random = new Random(settings.Seed);
        var buses = hierarchy.Dsos.SelectMany(a => a.Feeder.Grid.Buses.Where(b => !b.IsSlack).Select(b => new GridLocation(a.Operator.Id, b.Id))).ToList();
        var stations = Enumerable.Range(1, settings.Stations).Select(i => (
            Id: $"st-{i:D4}", Cpo: $"cpo-{i % 5 + 1}", At: buses[random.Next(buses.Count)],
            Rating: settings.RatingsKw[random.Next(settings.RatingsKw.Count)],
            Reduce: StudySettings.Draw(random, settings.Study.ReducePrice, 4), Increase: StudySettings.Draw(random, settings.Study.IncreasePrice, 4))).ToList();
        var transmission = settings.Study.TransmissionOffers(hierarchy, random).ToList();
        var grid = new LinearGrid(hierarchy, new Dictionary<GridLocation, double>(), settings.Study.Limits);

        var totals = schemes.ToDictionary(s => s, _ => new Accumulator());
        for (var k = 0; k < settings.Intervals; k++)
        {
            var start = settings.Start + settings.Interval * k;
            var window = new TimeWindow(start, start + settings.Interval);
            var draw = new Random(unchecked(settings.Seed * 100_003 + k)); // each interval its own draws (HashCode is randomised per process)
            var share = WeekSettings.ChargingShare(start);
            var resources = new List<FlexResource>(stations.Count + transmission.Count);
            var baseline = new Dictionary<GridLocation, double>();
            foreach (var s in stations)
            {
                var kw = Math.Min(s.Rating, Math.Round(s.Rating * (decimal)(share * (0.5 + draw.NextDouble())), 1));
                baseline[s.At] = baseline.GetValueOrDefault(s.At) + (double)kw / 1000;
                resources.Add(new FlexResource(s.Id, s.Cpo, s.At, new Kilowatts(kw), new Kilowatts(s.Rating - kw),
                    new EurosPerKilowattHour(s.Reduce), new EurosPerKilowattHour(s.Increase)));
            }
            resources.AddRange(transmission);
            var needMw = draw.NextDouble() < settings.TsoNeedProbability ? StudySettings.Draw(draw, settings.TsoNeedMw, 3) : 0m;
            var direction = draw.Next(2) == 0 ? Direction.ReduceConsumption : Direction.IncreaseConsumption;
            var interval = new StudyCase(grid.Rebased(baseline, WeekSettings.LoadShare(start)), resources,
                new TsoNeed(direction, new KilowattHours(needMw * 1000 * (decimal)settings.Interval.TotalHours)), window);
            var study = new CoordinationStudy(interval);
            var before = interval.Grid.Evaluate([]);
            foreach (var scheme in schemes) totals[scheme].Add(interval, before, study.Run(scheme));
        }
        return schemes.Select(s => totals[s].Totals(s)).ToList();
    }

    private sealed class Accumulator
    {
        private readonly Dictionary<string, KilowattHours> _byBuyer = [];
        private Euros _cost = Euros.Zero;
        private KilowattHours _shortfall = KilowattHours.Zero;
        private int _intervals, _broken, _brokenBefore, _doubles;

        public void Add(StudyCase interval, double[] before, SchemeOutcome outcome)
        {
            foreach (var a in outcome.Activations)
                _byBuyer[a.BuyerId] = _byBuyer.GetValueOrDefault(a.BuyerId) + a.Energy;
            _cost += outcome.Cost;
            _shortfall += outcome.TsoShortfall;
            _doubles += outcome.Activations.GroupBy(a => a.Resource.StationId).Count(g => g.Count() > 1);
            if (outcome.Grid.Count == 0) return;
            _intervals++;
            var after = interval.Grid.Evaluate(outcome.Activations.Select(a =>
                (a.Resource.Location, interval.Megawatts(a.Energy) * (a.Direction == Direction.IncreaseConsumption ? 1 : -1))));
            for (var i = 0; i < after.Length; i++)
            {
                if (!interval.Grid.IsViolated(i, after[i])) continue;
                _broken++;
                if (interval.Grid.IsViolated(i, before[i])) _brokenBefore++;
            }
        }

        public WeekTotals Totals(CoordinationScheme scheme) =>
            new(scheme, _byBuyer, _cost, _shortfall, _intervals, _broken, _brokenBefore, _doubles);
    }
}
