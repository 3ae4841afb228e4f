using FlexChain.Domain;

namespace FlexChain.Grid;

/// <summary>
/// The published study's setting rebuilt (DOMAIN.md section 7, ALEXANDER): MATPOWER's IEEE 14-bus grid as the TSO's,
/// the 69-bus and 141-bus feeders as two DSOs' grids under two of its buses, flexible EV charging at every
/// distribution bus and balancing offers at the transmission grid's generator buses. Every figure that is not in the
/// case files is here, with its reason; generated values come from <see cref="Seed"/>.
/// </summary>
public sealed record StudySettings
{
    /// <summary>Seed of every generated volume and price.</summary>
    public int Seed { get; init; } = 20;

    /// <summary>
    /// The 69-bus feeder hangs under bus 14, the 141-bus one under bus 9: the two load buses of the 14-bus grid with
    /// the largest loads at its weak end (14.9 and 29.5 MW), so each feeder's load (3.8 and 11.9 MW) is a plausible part
    /// of its bus's load, and both sit behind the same few branches (9-14, 7-9, 4-9), where activations meet.
    /// </summary>
    public int Case69Bus { get; init; } = 14;

    /// <inheritdoc cref="Case69Bus"/>
    public int Case141Bus { get; init; } = 9;

    /// <summary>
    /// The cases give no ratings (rateA = 0), so: transmission branches may carry 110 % of their base-case DC flow, at
    /// least 5 MW (tight, as congestion studies make them, so that MW of flexibility matter); distribution branches
    /// 110 % of the flow of the case's own loads plus 50 kW, which the charging baseline on top of those loads breaks
    /// near the feeder heads: those overloads are the DSOs' needs.
    /// </summary>
    public LimitRule Limits { get; init; } = new(1.10, 5.0, 1.15, 0.05);

    /// <summary>Each distribution bus's charging baseline (kW): uniform in this range, to 0.1 kW.</summary>
    public (decimal Min, decimal Max) BaselineKw { get; init; } = (5m, 25m);

    /// <summary>How much more than its baseline a site can draw (kW): uniform in this range, to 0.1 kW.</summary>
    public (decimal Min, decimal Max) HeadroomKw { get; init; } = (10m, 40m);

    /// <summary>Price of reducing charging (EUR/kWh, 4 decimals): the EV driver's lost comfort.</summary>
    public (decimal Min, decimal Max) ReducePrice { get; init; } = (0.05m, 0.25m);

    /// <summary>Price of increasing charging (EUR/kWh): cheaper, charging earlier costs the driver little.</summary>
    public (decimal Min, decimal Max) IncreasePrice { get; init; } = (0.02m, 0.15m);

    /// <summary>Transmission-connected balancing offers (the generator buses other than the slack), each direction (MW).</summary>
    public decimal TransmissionOfferMw { get; init; } = 5m;

    /// <summary>Their prices (EUR/kWh) in both directions: dearer than the chargers, so the TSO's backstop.</summary>
    public (decimal Min, decimal Max) TransmissionPrice { get; init; } = (0.20m, 0.35m);

    /// <summary>The TSO's balancing need in each case (kWh over the one-hour window, i.e. kW).</summary>
    public decimal TsoNeedKwh { get; init; } = 2000m;

    /// <summary>The delivery window: one hour, the evening charging peak.</summary>
    public TimeWindow Window { get; init; } = new(
        new DateTimeOffset(2026, 12, 8, 17, 0, 0, TimeSpan.Zero), new DateTimeOffset(2026, 12, 8, 18, 0, 0, TimeSpan.Zero));

    /// <summary>Builds the case with the TSO needing <see cref="TsoNeedKwh"/> in <paramref name="tsoDirection"/>.</summary>
    public StudyCase Build(Direction tsoDirection)
    {
        var hierarchy = Hierarchy();
        var random = new Random(Seed);
        var resources = new List<FlexResource>();
        var baseline = new Dictionary<GridLocation, double>();
        foreach (var area in hierarchy.Dsos)
            foreach (var bus in area.Feeder.Grid.Buses.Where(b => !b.IsSlack))
            {
                var at = new GridLocation(area.Operator.Id, bus.Id);
                var b = Draw(random, BaselineKw, 1);
                baseline[at] = (double)b / 1000;
                resources.Add(new FlexResource($"st-{at.OperatorId}-{bus.Id:D3}", $"cpo-{bus.Id % 3 + 1}", at,
                    new Kilowatts(b), new Kilowatts(Draw(random, HeadroomKw, 1)),
                    new EurosPerKilowattHour(Draw(random, ReducePrice, 4)), new EurosPerKilowattHour(Draw(random, IncreasePrice, 4))));
            }
        resources.AddRange(TransmissionOffers(hierarchy, random));
        return new StudyCase(new LinearGrid(hierarchy, baseline, Limits), resources, new TsoNeed(tsoDirection, new KilowattHours(TsoNeedKwh)), Window);
    }

    /// <summary>The TSO's grid with the two feeders hung under <see cref="Case69Bus"/> and <see cref="Case141Bus"/>.</summary>
    public GridHierarchy Hierarchy() => new(new GridOperator("tso", OperatorRole.Tso), new Ptdf(MatpowerCase.Load("case14")),
    [
        new DistributionArea(new GridOperator("dso69", OperatorRole.Dso), new LinDistFlow(MatpowerCase.Load("case69")), Case69Bus),
        new DistributionArea(new GridOperator("dso141", OperatorRole.Dso), new LinDistFlow(MatpowerCase.Load("case141")), Case141Bus),
    ]);

    /// <summary>The balancing offers at the transmission grid's generator buses other than the slack (<see cref="TransmissionOfferMw"/> each way).</summary>
    public IEnumerable<FlexResource> TransmissionOffers(GridHierarchy hierarchy, Random random)
    {
        ArgumentNullException.ThrowIfNull(hierarchy);
        ArgumentNullException.ThrowIfNull(random);
        var mw = new Kilowatts(TransmissionOfferMw * 1000);
        return hierarchy.Transmission.Grid.Buses.Where(b => !b.IsSlack && (b.GenerationMw > 0 || b.Type == 2))
            .Select(bus => new FlexResource($"gen-tso-{bus.Id:D2}", "bsp-tso", new GridLocation(hierarchy.Tso.Id, bus.Id), mw, mw,
                new EurosPerKilowattHour(Draw(random, TransmissionPrice, 4)), new EurosPerKilowattHour(Draw(random, TransmissionPrice, 4))))
            .ToList();
    }

    /// <summary>A uniform draw in <paramref name="range"/>, rounded to <paramref name="decimals"/>.</summary>
    internal static decimal Draw(Random random, (decimal Min, decimal Max) range, int decimals) =>
        Math.Round(range.Min + (range.Max - range.Min) * (decimal)random.NextDouble(), decimals);
}
