using BenchmarkDotNet.Attributes;
using FlexChain.Domain;

namespace FlexChain.Benchmarks;

/// <summary>
/// Issue 4: clearing 1,000,000 offers over 10,000 requests in one gate cycle, against a plain sort of the same
/// offers by (price, submission time) as the baseline. Targets: at most 3x the sort's time and 200 allocated bytes
/// per offer. Results and the command are in docs/BENCHMARKS.md.
/// </summary>
[MemoryDiagnoser]
[MedianColumn]
[SimpleJob(launchCount: 1, warmupCount: 2, iterationCount: 7)]
public class ClearingBenchmarks
{
    private ClearingRequest[] _requests = [];
    private Offer[] _offers = [];
    private Offer[] _scratch = [];

    /// <summary>Offers in the cycle (100 per request).</summary>
    [Params(1_000_000)]
    public int Offers { get; set; }

    /// <summary>Requests in the cycle.</summary>
    [Params(10_000)]
    public int Requests { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        (_requests, _offers) = GateCycle.Generate(Requests, Offers, seed: 4);
        _scratch = new Offer[_offers.Length];
    }

    /// <summary>The baseline: sort the offers by (price, submission time), as any merit order must at least do.</summary>
    [Benchmark(Baseline = true)]
    public Offer[] SortByPriceThenTime()
    {
        Array.Copy(_offers, _scratch, _offers.Length);
        Array.Sort(_scratch, static (a, b) =>
        {
            var c = a.Price.CompareTo(b.Price);
            return c != 0 ? c : a.SubmittedAt.CompareTo(b.SubmittedAt);
        });
        return _scratch;
    }

    /// <summary>The whole gate cycle: merit order per request, station capacity across overlapping windows, pricing, outcomes.</summary>
    [Benchmark]
    public GateCycleResult ClearGateCycle() => ClearingEngine.Clear(_requests, _offers);
}
