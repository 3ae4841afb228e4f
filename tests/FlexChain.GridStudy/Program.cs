// The TSO-DSO coordination study (issue 20; docs/BENCHMARKS.md): every scheme on the upward and the downward case,
// printed as the Markdown table of BENCHMARKS.md. Usage: dotnet run -c Release --project tests/FlexChain.GridStudy [-- --seed N] [--violations]
using System.Diagnostics;
using System.Globalization;
using FlexChain.Domain;
using FlexChain.Grid;

var seed = 20;
var listViolations = false;
for (var i = 0; i < args.Length; i++)
{
    if (args[i] == "--seed" && i + 1 < args.Length) seed = int.Parse(args[++i], CultureInfo.InvariantCulture);
    else if (args[i] == "--violations") listViolations = true;
    else { Console.Error.WriteLine($"unknown argument {args[i]}; usage: [--seed N] [--violations]"); return 2; }
}

var settings = new StudySettings { Seed = seed };
var schemes = Enum.GetValues<CoordinationScheme>();
var inv = CultureInfo.InvariantCulture;
Console.WriteLine($"seed {seed}; TSO need {settings.TsoNeedKwh} kWh in {settings.Window}; limits {settings.Limits}");
Console.WriteLine();
Console.WriteLine("| case | scheme | cost EUR | eta | TSO kWh | DSO kWh | TSO unmet kWh | T congestions | worst T loading | D congestions | worst D loading | voltage violations | V min p.u. | solve ms |");
Console.WriteLine("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
foreach (var direction in new[] { Direction.ReduceConsumption, Direction.IncreaseConsumption })
{
    var caseName = direction == Direction.ReduceConsumption ? "upward (TSO buys less consumption)" : "downward (TSO buys more consumption)";
    var study = new CoordinationStudy(settings.Build(direction));
    var before = study.BaseCheck();
    Console.WriteLine($"| {caseName} | before flexibility | | | | | | {Grid(before)} |  |");
    foreach (var s in schemes) study.Run(s); // warm-up: JIT and OR-Tools' native library
    var outcomes = schemes.Select(s => (Scheme: s, Result: Timed(() => study.Run(s)))).ToList();
    var common = outcomes.Single(o => o.Scheme == CoordinationScheme.CommonMarket).Result.Outcome.Cost.Value;
    foreach (var (scheme, (outcome, ms)) in outcomes)
    {
        var cost = outcome.Cost.Value;
        var eta = common == 0 ? "n/a" : ((cost - common) / Math.Abs(common) * 100).ToString("+0.0;-0.0;0.0", inv) + " %";
        var tso = outcome.BoughtBy("tso").Value;
        var dso = outcome.Activations.Where(a => a.BuyerId != "tso").Sum(a => a.Energy.Value);
        var g = outcome.Grid;
        Console.WriteLine($"| {caseName} | {Name(scheme)} | {cost.ToString("0.00", inv)} | {eta} | {tso.ToString("0.000", inv)} | {dso.ToString("0.000", inv)} | {outcome.TsoShortfall.Value.ToString("0.000", inv)} | {Grid(g)} | {ms.ToString("0.0", inv)} |");
        if (listViolations)
            foreach (var v in g.Violations) Console.WriteLine($"    {Name(scheme)}: {v}");
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
