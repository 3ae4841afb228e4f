using System.Diagnostics;
using BenchmarkDotNet.Running;
using FlexChain.Benchmarks;

// Run with: dotnet run -c Release --project tests/FlexChain.Benchmarks -- --filter '*Clearing*'
// `-- --quick` times a few runs with a stopwatch instead, for a fast check while optimising.
if (args is ["--quick", ..])
{
    var b = new ClearingBenchmarks { Offers = 1_000_000, Requests = 10_000 };
    b.Setup();
    for (var round = 0; round < 4; round++)
    {
        Time("sort", () => b.SortByPriceThenTime());
        Time("clear", () => b.ClearGateCycle());
    }
    return;
}
BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);

static void Time(string name, Func<object> run)
{
    GC.Collect();
    var bytes = GC.GetAllocatedBytesForCurrentThread();
    var watch = Stopwatch.StartNew();
    run();
    watch.Stop();
    Console.WriteLine($"{name,-6} {watch.Elapsed.TotalMilliseconds,8:F1} ms {(GC.GetAllocatedBytesForCurrentThread() - bytes) / 1_000_000.0,8:F1} B/offer");
}
