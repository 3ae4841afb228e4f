using BenchmarkDotNet.Attributes;
using FlexChain.Domain;

namespace FlexChain.Benchmarks;

/// <summary>
/// One market area's gate cycle in the common market (<see cref="CommonMarketClearing"/>): the DSOs' requests (one per
/// transformer) and two TSO requests on overlapping windows, every station offered once to its transformer's DSO and once
/// to a TSO request (each offer on its own request, its own price), half of them indivisible, each request needing about
/// 40 % of what is offered on it. Results and the command are in docs/BENCHMARKS.md.
/// </summary>
[MemoryDiagnoser]
[MedianColumn]
[SimpleJob(launchCount: 1, warmupCount: 1, iterationCount: 5)]
public class CommonMarketBenchmarks
{
    private static readonly DateTimeOffset Day = new(2026, 6, 1, 0, 0, 0, TimeSpan.Zero);

    private ClearingRequest[] _requests = [];
    private Offer[] _offers = [];

    /// <summary>The requests (N) and offers (M) of the cycle: N - 2 DSO requests and 2 TSO requests.</summary>
    [Params("10 requests, 400 offers", "22 requests, 2000 offers")]
    public string Cycle { get; set; } = "";

    [GlobalSetup]
    public void Setup()
    {
        var parts = Cycle.Split(' ');
        (_requests, _offers) = Generate(int.Parse(parts[0], System.Globalization.CultureInfo.InvariantCulture),
            int.Parse(parts[2], System.Globalization.CultureInfo.InvariantCulture), seed: 20);
    }

    [Benchmark]
    public GateCycleResult ClearCommonMarket() => CommonMarketClearing.Clear(_requests, _offers);

    /// <summary>The same cycle cleared DSOs first (two engine runs), for scale.</summary>
    [Benchmark(Baseline = true)]
    public GateCycleResult ClearDsoFirst() => CoordinatedClearing.Clear(
        _requests.Select(r => new CoordinatedRequest(r, r.Id.StartsWith("tso", StringComparison.Ordinal) ? Role.Tso : Role.Dso, CoordinationModel.DsoFirst)).ToList(), _offers);

    public static (ClearingRequest[] Requests, Offer[] Offers) Generate(int requestCount, int offerCount, int seed)
    {
        var random = new Random(seed);
        var dsoRequests = requestCount - 2;
        var stations = offerCount / 2;
        var gate = Day.AddHours(6);
        var offers = new List<Offer>(offerCount);
        var offeredWh = new long[requestCount];
        var ids = Enumerable.Range(0, dsoRequests).Select(i => $"dso-{i:D3}").Concat(["tso-0", "tso-1"]).ToArray();
        for (var s = 0; s < stations; s++)
        {
            // Station s sits behind transformer s mod (DSO requests) and is offered to that DSO and to one TSO request.
            foreach (var request in new[] { s % dsoRequests, dsoRequests + s % 2 })
            {
                var wh = random.Next(1_000, 11_000);
                offeredWh[request] += wh;
                offers.Add(new Offer($"off-{offers.Count:D5}", ids[request], $"cpo-{s % 40}", [$"st-{s:D5}"], KilowattHours.From(wh / 1000m),
                    EurosPerKilowattHour.From(random.Next(500, 4_000) / 10_000m), random.Next(2) == 0, gate.AddMinutes(-random.Next(1, 600))));
            }
        }
        var requests = ids.Select((id, r) => new ClearingRequest(id,
            new TimeWindow(Day.AddHours(17).AddMinutes(r < dsoRequests ? 0 : 30 * (r - dsoRequests)), Day.AddHours(18).AddMinutes(r < dsoRequests ? 0 : 30 * (r - dsoRequests))),
            KilowattHours.From(Math.Max(1, offeredWh[r] * 2 / 5) / 1000m), EurosPerKilowattHour.From(random.Next(2_500, 5_000) / 10_000m), gate, PricingRule.PayAsBid)).ToArray();
        return (requests, [.. offers.OrderBy(_ => random.Next())]);
    }

    /// <summary>
    /// Grid limits for a cycle of <see cref="Generate"/>: one node per DSO request's transformer over its stations, with a
    /// headroom per quarter hour from 17:00 to 18:30 (every window's span) of 20-80 % (uniform) of the power offered on its
    /// stations (every window is an hour: kWh offered = kW), so some quarter hours bind and others do not.
    /// </summary>
    public static IReadOnlyList<NodeHeadroom> Nodes(int requestCount, IReadOnlyList<Offer> offers, int seed)
    {
        var random = new Random(seed);
        var transformers = requestCount - 2;
        var below = offers.GroupBy(o => int.Parse(o.StationIds[0][3..], System.Globalization.CultureInfo.InvariantCulture) % transformers).OrderBy(g => g.Key);
        return below.Select(g => new NodeHeadroom($"tr-{g.Key:D3}", g.Select(o => o.StationIds[0]).ToHashSet(),
            Enumerable.Range(0, 6).Select(q => (new TimeWindow(Day.AddHours(17).AddMinutes(15 * q), Day.AddHours(17).AddMinutes(15 * (q + 1))),
                Kilowatts.From(decimal.Round(g.Sum(o => o.Energy.Value) * random.Next(20, 81) / 100m, 3)))).ToList())).ToList();
    }
}
