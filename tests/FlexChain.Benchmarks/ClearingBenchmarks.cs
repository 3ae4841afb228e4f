using System.Buffers;
using BenchmarkDotNet.Attributes;
using FlexChain.Domain;

namespace FlexChain.Benchmarks;

/// <summary>
/// Clearing 1,000,000 offers over 10,000 requests in one gate cycle, against the floor any merit order pays: bucketing
/// the offers by request (the engine's counting sort) and sorting each request's own offers by (price, submission time,
/// id) on integer keys. Both in one class, so they are measured in the same run. Targets: the engine at most 1.5x that
/// baseline and at most 200 allocated bytes per offer. Results and the command are in docs/BENCHMARKS.md.
/// </summary>
[MemoryDiagnoser]
[MedianColumn]
[SimpleJob(launchCount: 1, warmupCount: 2, iterationCount: 9)]
public class ClearingBenchmarks
{
    private ClearingRequest[] _requests = [];
    private Offer[] _offers = [];
    private ClearingRequest[] _profiledRequests = [];
    private Offer[] _profiledOffers = [];

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
        (_profiledRequests, _profiledOffers) = GateCycle.GenerateProfiled(Requests, Offers, seed: 4);
    }

    /// <summary>
    /// The baseline: what any merit order must do at least. One pass reads each offer's request and integer sort keys
    /// (price in 0.0001 EUR/kWh from the decimal's bits, UTC ticks), a counting sort buckets them by request, and each
    /// bucket is sorted by (price, time, offer id). No capacity, pricing, outcomes or awards.
    /// </summary>
    [Benchmark(Baseline = true)]
    public int SortEachRequestsOffers()
    {
        var n = _offers.Length;
        var ranks = new Dictionary<string, int>(_requests.Length, StringComparer.Ordinal);
        for (var r = 0; r < _requests.Length; r++) ranks.Add(_requests[r].Id, r);
        var rankOf = ArrayPool<int>.Shared.Rent(n);
        var byOffer = ArrayPool<Key>.Shared.Rent(n);
        var keys = ArrayPool<Key>.Shared.Rent(n);
        try
        {
            var starts = new int[_requests.Length + 1];
            for (var i = 0; i < n; i++)
            {
                var o = _offers[i];
                var rank = ranks[o.RequestId];
                rankOf[i] = rank;
                starts[rank + 1]++;
                byOffer[i] = new Key(PriceUnits(o.Price.Value), o.SubmittedAt.UtcTicks, i);
            }
            for (var r = 0; r < _requests.Length; r++) starts[r + 1] += starts[r];
            var next = (int[])starts.Clone();
            for (var i = 0; i < n; i++) keys[next[rankOf[i]]++] = byOffer[i];
            var comparer = new KeyComparer(_offers);
            for (var r = 0; r < _requests.Length; r++) keys.AsSpan(starts[r], starts[r + 1] - starts[r]).Sort(comparer);
            return keys[0].Offer;
        }
        finally
        {
            ArrayPool<int>.Shared.Return(rankOf);
            ArrayPool<Key>.Shared.Return(byOffer);
            ArrayPool<Key>.Shared.Return(keys);
        }
    }

    /// <summary>The whole gate cycle: merit order per request, station capacity across overlapping windows, pricing, outcomes.</summary>
    [Benchmark]
    public GateCycleResult ClearGateCycle() => ClearingEngine.Clear(_requests, _offers);

    /// <summary>
    /// The profile variant (issue 16): the same cycle with 4 market intervals per request, every offer a profile over some
    /// of them, merit order per interval and station capacity booked per interval (50 kW per station).
    /// </summary>
    [Benchmark]
    public GateCycleResult ClearProfiledGateCycle() => ClearingEngine.Clear(_profiledRequests, _profiledOffers);

    /// <summary>
    /// The engine, then every award and outcome object read, as storage reads them request by request (the engine
    /// builds those objects on first read), so the whole cost of a cycle's results is visible too.
    /// </summary>
    [Benchmark]
    public int ClearAndReadEveryResult()
    {
        var read = 0;
        foreach (var result in ClearingEngine.Clear(_requests, _offers).Results)
        {
            foreach (var award in result.Awards) read += award.Id.Length;
            foreach (var outcome in result.Outcomes) read += (int)outcome.Kind;
        }
        return read;
    }

    private readonly record struct Key(long Price, long Ticks, int Offer);

    private readonly struct KeyComparer(Offer[] offers) : IComparer<Key>
    {
        public int Compare(Key a, Key b)
        {
            if (a.Price != b.Price) return a.Price < b.Price ? -1 : 1;
            if (a.Ticks != b.Ticks) return a.Ticks < b.Ticks ? -1 : 1;
            return string.CompareOrdinal(offers[a.Offer].Id, offers[b.Offer].Id);
        }
    }

    /// <summary>A price of at most 4 decimals in 0.0001 EUR/kWh, from the decimal's bits (as the engine reads it).</summary>
    private static long PriceUnits(decimal price)
    {
        Span<int> bits = stackalloc int[4];
        decimal.GetBits(price, bits);
        var scale = (bits[3] >> 16) & 0xFF;
        return (long)(uint)bits[0] * Pow10[4 - scale];
    }

    private static readonly long[] Pow10 = [1, 10, 100, 1_000, 10_000];
}
