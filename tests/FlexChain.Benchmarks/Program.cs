using System.Diagnostics;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Running;
using FlexChain.Benchmarks;
using FlexChain.Domain;

// Run with: dotnet run -c Release --project tests/FlexChain.Benchmarks -- --filter '*Clearing*'
// `-- --quick [rounds]` times a few rounds (3 by default) with a stopwatch instead, for a fast check while optimising.
if (args is ["--quick", ..])
{
    var b = new ClearingBenchmarks { Offers = 1_000_000, Requests = 10_000 };
    b.Setup();
    var rounds = args is [_, var n, ..] ? int.Parse(n, System.Globalization.CultureInfo.InvariantCulture) : 3;
    for (var round = 0; round < rounds; round++)
    {
        Time("sort", () => b.SortEachRequestsOffers());
        Time("clear", () => b.ClearGateCycle());
        Time("+read", () => b.ClearAndReadEveryResult());
        Time("profil", () => b.ClearProfiledGateCycle());
    }
    var flat = b.ClearGateCycle().Results;
    var profiled = b.ClearProfiledGateCycle().Results;
    Console.WriteLine($"flat: {flat.Sum(r => r.Awards.Count)} awards, {flat.Sum(r => r.Outcomes.Count(o => o.Kind == OfferOutcomeKind.RejectedCapacityConflict))} capacity conflicts; "
        + $"profile: {profiled.Sum(r => r.Awards.Count)} awards, {profiled.Sum(r => r.Outcomes.Count(o => o.Kind == OfferOutcomeKind.RejectedCapacityConflict))} capacity conflicts");
    var x = new XOfYVerificationBenchmarks { Stations = 50 };
    x.Setup();
    Time("x-of-y", () => x.VerifyXOfYOneMinute());
    Console.WriteLine($"x-of-y: {x.VerifyXOfYOneMinute()} of 50 verified as delivered");
    return;
}
// `-- --repeat <sort|clear|profil> [rounds]` times one of them over and over (20 rounds by default), for a profiler to sample.
if (args is ["--repeat", var only, ..])
{
    var b = new ClearingBenchmarks { Offers = 1_000_000, Requests = 10_000 };
    b.Setup();
    var rounds = args is [_, _, var n, ..] ? int.Parse(n, System.Globalization.CultureInfo.InvariantCulture) : 20;
    Func<object> run = only switch { "clear" => b.ClearGateCycle, "profil" => b.ClearProfiledGateCycle, _ => () => b.SortEachRequestsOffers() };
    for (var round = 0; round < rounds; round++) Time(only, run);
    return;
}
// `-- --common` times the common market's clearing of one market area's cycle (docs/BENCHMARKS.md); then the same cycle
// as increases, without and with the transformers' grid limits (the limits constrain increases only).
if (args is ["--common", ..])
{
    foreach (var (requests, offers) in new[] { (10, 400), (22, 2_000) })
    {
        var (r, o) = CommonMarketBenchmarks.Generate(requests, offers, seed: 20);
        var up = (r.Select(x => x with { Direction = Direction.IncreaseConsumption }).ToList(), o.Select(x => x with { Direction = Direction.IncreaseConsumption }).ToList());
        var nodes = CommonMarketBenchmarks.Nodes(requests, o, seed: 20);
        foreach (var (name, clear) in new (string, Func<GateCycleResult>)[]
        {
            ("reduce", () => CommonMarketClearing.Clear(r, o)),
            ("increase, no grid limits", () => CommonMarketClearing.Clear(up.Item1, up.Item2)),
            ($"increase, {nodes.Count} nodes' limits", () => CommonMarketClearing.Clear(up.Item1, up.Item2, null, nodes)),
        })
            for (var round = 0; round < 3; round++)
            {
                var cpu = Process.GetCurrentProcess().TotalProcessorTime;
                var watch = Stopwatch.StartNew();
                var result = clear();
                Console.WriteLine($"{requests} requests, {offers} offers, {name}: {watch.Elapsed.TotalMilliseconds:F0} ms wall, "
                    + $"{(Process.GetCurrentProcess().TotalProcessorTime - cpu).TotalMilliseconds:F0} ms cpu, {result.Results.Sum(x => x.Awards.Count)} awards, "
                    + $"{result.Results.Sum(x => x.AcceptedEnergy.Value)} kWh");
            }
    }
    return;
}
// The generated benchmark project is built while other work may share the machine: allow it more than the default 2 minutes.
BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args, ManualConfig.Create(DefaultConfig.Instance).WithBuildTimeout(TimeSpan.FromMinutes(10)));

static void Time(string name, Func<object> run)
{
    GC.Collect();
    var (gen0, gen1, gen2) = (GC.CollectionCount(0), GC.CollectionCount(1), GC.CollectionCount(2));
    var bytes = GC.GetAllocatedBytesForCurrentThread();
    var cpu = Process.GetCurrentProcess().TotalProcessorTime;
    var watch = Stopwatch.StartNew();
    var result = run();
    watch.Stop();
    cpu = Process.GetCurrentProcess().TotalProcessorTime - cpu;
    GC.KeepAlive(result);
    Console.WriteLine($"{name,-6} {watch.Elapsed.TotalMilliseconds,8:F1} ms wall {cpu.TotalMilliseconds,8:F1} ms cpu {(GC.GetAllocatedBytesForCurrentThread() - bytes) / 1_000_000.0,8:F1} MB (B/offer for 1,000,000 offers)"
        + $", GCs {GC.CollectionCount(0) - gen0}/{GC.CollectionCount(1) - gen1}/{GC.CollectionCount(2) - gen2}");
}
