// The TSO-DSO coordination study (issue 20; docs/BENCHMARKS.md): every scheme on the upward and the downward case,
// printed as the Markdown tables of BENCHMARKS.md.
// Usage: dotnet run -c Release --project tests/FlexChain.GridStudy [-- --seed N] [--seeds N] [--need kWh] [--violations] [--week]
using System.Diagnostics;
using System.Globalization;
using FlexChain.Domain;
using FlexChain.Grid;

var inv = CultureInfo.InvariantCulture;
var settings = new StudySettings();
var seeds = 0;
var listViolations = false;
var week = false;
for (var i = 0; i < args.Length; i++)
{
    if (args[i] == "--seed" && i + 1 < args.Length) settings = settings with { Seed = int.Parse(args[++i], inv) };
    else if (args[i] == "--seeds" && i + 1 < args.Length) seeds = int.Parse(args[++i], inv);
    else if (args[i] == "--need" && i + 1 < args.Length) settings = settings with { TsoNeedKwh = decimal.Parse(args[++i], inv) };
    else if (args[i] == "--violations") listViolations = true;
    else if (args[i] == "--week") week = true;
    else { Console.Error.WriteLine($"unknown argument {args[i]}; usage: [--seed N] [--seeds N] [--need kWh] [--violations] [--week]"); return 2; }
}
var schemes = Enum.GetValues<CoordinationScheme>();
Direction[] directions = [Direction.ReduceConsumption, Direction.IncreaseConsumption];
Console.WriteLine($"TSO need {settings.TsoNeedKwh} kWh in {settings.Window}; {settings.Limits}");
Console.WriteLine();

if (week)
{
    // The week of 15-minute gates (WeekSettings): the sequential schemes (the LP per interval is left out: minutes).
    var weekSettings = new WeekSettings();
    CoordinationScheme[] sequential = [CoordinationScheme.DsoFirst, CoordinationScheme.DsoFirstPrequalified, CoordinationScheme.TsoFirst, CoordinationScheme.TsoFirstPrequalified];
    var watch = Stopwatch.StartNew();
    var totals = WeekSimulation.Run(weekSettings, sequential);
    Console.WriteLine($"week: {weekSettings.Intervals} intervals of {weekSettings.Interval.TotalMinutes} min, {weekSettings.Stations} stations, seed {weekSettings.Seed}; {watch.Elapsed.TotalSeconds:0} s for all schemes");
    Console.WriteLine();
    Console.WriteLine("| scheme | TSO MWh | dso69 MWh | dso141 MWh | cost EUR | TSO unmet MWh | intervals with a violation | limit-intervals broken | of those broken before flexibility too | double awards |");
    Console.WriteLine("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    foreach (var t in totals)
        Console.WriteLine(string.Create(inv,
            $"| {Name(t.Scheme)} | {Mwh(t, "tso"):0.000} | {Mwh(t, "dso69"):0.000} | {Mwh(t, "dso141"):0.000} | {t.Cost.Value:0.00} | {t.TsoShortfall.Value / 1000:0.000} | {t.IntervalsWithViolations} | {t.BrokenLimitIntervals} | {t.BrokenBeforeToo} | {t.DoubleAwards} |"));
    return 0;
}

if (seeds > 0)
{
    // Robustness: the same study over seeds 1..N (other volumes and prices), eta and violations per scheme.
    Console.WriteLine($"| case | scheme | eta mean | eta min | eta max | runs with violations (of {seeds}) | violations mean | worst loading max |");
    Console.WriteLine("|---|---|---:|---:|---:|---:|---:|---:|");
    foreach (var direction in directions)
    {
        var runs = Enumerable.Range(1, seeds).Select(seed =>
        {
            var study = new CoordinationStudy((settings with { Seed = seed }).Build(direction));
            var outcomes = schemes.ToDictionary(s => s, study.Run);
            var common = outcomes[CoordinationScheme.CommonMarket].Cost.Value;
            return outcomes.ToDictionary(o => o.Key, o => (Eta: (o.Value.Cost.Value - common) / Math.Abs(common) * 100, o.Value.Grid));
        }).ToList();
        foreach (var s in schemes)
        {
            var etas = runs.Select(r => r[s].Eta).ToList();
            var grids = runs.Select(r => r[s].Grid).ToList();
            Console.WriteLine(string.Create(inv,
                $"| {CaseName(direction)} | {Name(s)} | {etas.Average():+0.0;-0.0;0.0} % | {etas.Min():+0.0;-0.0;0.0} % | {etas.Max():+0.0;-0.0;0.0} % | {grids.Count(g => g.Count > 0)} | {grids.Average(g => g.Count):0.0} | {grids.Max(g => g.WorstLoadingPercent):0} % |"));
        }
    }
    return 0;
}

Console.WriteLine($"seed {settings.Seed}");
Console.WriteLine();
Console.WriteLine("| case | scheme | cost EUR | eta | TSO kWh | DSO kWh | TSO unmet kWh | T congestions | worst T loading | D congestions | worst D loading | voltage violations | V min p.u. | solve ms |");
Console.WriteLine("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
foreach (var direction in directions)
{
    var study = new CoordinationStudy(settings.Build(direction));
    Console.WriteLine($"| {CaseName(direction)} | before flexibility | | | | | | {Grid(study.BaseCheck())} |  |");
    foreach (var s in schemes) study.Run(s); // warm-up: JIT and OR-Tools' native library
    var outcomes = schemes.Select(s => (Scheme: s, Result: Timed(() => study.Run(s)))).ToList();
    var common = outcomes.Single(o => o.Scheme == CoordinationScheme.CommonMarket).Result.Outcome.Cost.Value;
    foreach (var (scheme, (outcome, ms)) in outcomes)
    {
        var cost = outcome.Cost.Value;
        var eta = ((cost - common) / Math.Abs(common) * 100).ToString("+0.0;-0.0;0.0", inv) + " %";
        var tso = outcome.BoughtBy("tso").Value;
        var dso = outcome.Activations.Where(a => a.BuyerId != "tso").Sum(a => a.Energy.Value);
        Console.WriteLine(string.Create(inv,
            $"| {CaseName(direction)} | {Name(scheme)} | {cost:0.00} | {eta} | {tso:0.000} | {dso:0.000} | {outcome.TsoShortfall.Value:0.000} | {Grid(outcome.Grid)} | {ms:0.0} |"));
        if (listViolations)
            foreach (var v in outcome.Grid.Violations) Console.WriteLine($"    {Name(scheme)}: {v}");
    }
}
return 0;

// The median of five runs (ms).
static (SchemeOutcome Outcome, double Ms) Timed(Func<SchemeOutcome> run)
{
    var times = new List<double>();
    SchemeOutcome? last = null;
    for (var i = 0; i < 5; i++)
    {
        var watch = Stopwatch.StartNew();
        last = run();
        times.Add(watch.Elapsed.TotalMilliseconds);
    }
    times.Sort();
    return (last!, times[2]);
}

static decimal Mwh(WeekTotals t, string buyer) => t.EnergyByBuyer.GetValueOrDefault(buyer).Value / 1000;

static string CaseName(Direction d) => d == Direction.ReduceConsumption ? "upward (TSO buys less consumption)" : "downward (TSO buys more consumption)";

static string Grid(GridCheck g) => string.Create(CultureInfo.InvariantCulture,
    $"{g.TransmissionCongestions} | {g.WorstTransmissionLoadingPercent:0} % | {g.DistributionCongestions} | {g.WorstDistributionLoadingPercent:0} % | {g.VoltageViolations} | {g.MinVoltagePu:0.0000}");

static string Name(CoordinationScheme s) => s switch
{
    CoordinationScheme.DsoFirst => "DSO first, no check (ML01)",
    CoordinationScheme.DsoFirstPrequalified => "DSO first, prequalified (ML03)",
    CoordinationScheme.TsoFirst => "TSO first, no check (ML05)",
    CoordinationScheme.TsoFirstPrequalified => "TSO first, prequalified (ML06)",
    CoordinationScheme.CommonMarket => "common market (LP)",
    _ => s.ToString(),
};
