using FlexChain.Domain;

namespace FlexChain.Benchmarks;

/// <summary>
/// A realistic, reproducible gate cycle: 5 requests per transformer with overlapping 2-hour windows an hour apart, 150
/// stations per transformer named by 1 or 2 per offer (so stations collide across requests and windows), prices
/// 0.05-0.60 EUR/kWh against a 0.50 cap, about 1 in 7 offers late, 1 in 4 indivisible, half the requests
/// pay-as-clear, each request needing about a third of what is offered on it. Offers are shuffled.
/// </summary>
public static class GateCycle
{
    private static readonly DateTimeOffset Day = new(2026, 6, 1, 0, 0, 0, TimeSpan.Zero);

    public static (ClearingRequest[] Requests, Offer[] Offers) Generate(int requestCount, int offerCount, int seed)
    {
        const int requestsPerTransformer = 5, stationsPerTransformer = 150;
        var random = new Random(seed);
        var gate = Day.AddHours(6);
        var perRequest = offerCount / requestCount;
        var requests = new ClearingRequest[requestCount];
        var offers = new Offer[offerCount];
        var o = 0;
        for (var r = 0; r < requestCount; r++)
        {
            var transformer = r / requestsPerTransformer;
            var start = Day.AddHours(8 + r % requestsPerTransformer);
            var id = $"req-{r:D5}";
            var count = r == requestCount - 1 ? offerCount - o : perRequest;
            var offeredWh = 0L;
            for (var k = 0; k < count; k++, o++)
            {
                var wh = random.Next(500, 50_000);
                offeredWh += wh;
                var first = random.Next(stationsPerTransformer);
                string[] stations = random.Next(3) == 0
                    ? [Station(transformer, first), Station(transformer, (first + 1 + random.Next(stationsPerTransformer - 1)) % stationsPerTransformer)]
                    : [Station(transformer, first)];
                offers[o] = new Offer($"off-{o:D7}", id, $"cpo-{random.Next(500)}", stations,
                    new KilowattHours(wh / 1000m), new EurosPerKilowattHour(random.Next(500, 6_000) / 10_000m),
                    Divisible: random.Next(4) != 0, SubmittedAt: gate.AddSeconds(-random.Next(-600, 3_600)));
            }
            requests[r] = new ClearingRequest(id, new TimeWindow(start, start.AddHours(2)), new KilowattHours(offeredWh / 3 / 1000m),
                new EurosPerKilowattHour(0.5m), gate, r % 2 == 0 ? PricingRule.PayAsBid : PricingRule.PayAsClear);
        }
        random.Shuffle(offers);
        return (requests, offers);
    }

    /// <summary>
    /// The same gate cycle with power profiles (issue 16): 30-minute market intervals, so each 2-hour window has 4; every
    /// offer covers each interval with probability 3/4 at its own kW, each request wants a third of what is offered per
    /// interval, and every station has 50 kW registered, so clearing books capacity per interval.
    /// </summary>
    public static (ClearingRequest[] Requests, Offer[] Offers) GenerateProfiled(int requestCount, int offerCount, int seed)
    {
        var (requests, offers) = Generate(requestCount, offerCount, seed);
        var random = new Random(seed + 1);
        var interval = MarketInterval.From(30);
        var byRequest = new Dictionary<string, long[]>(requestCount, StringComparer.Ordinal);
        var stations = new Dictionary<string, StationCapacity>(StringComparer.Ordinal);
        for (var i = 0; i < offers.Length; i++)
        {
            // Watt-hours per 30 minutes, even so that the power (2 x Wh per hour) is whole watts; 0 for an interval not covered.
            var wh = new long[4];
            for (var k = 0; k < 4; k++) wh[k] = random.Next(4) == 0 ? 0 : 2 * random.Next(60, 6_250);
            if (wh.Sum() == 0) wh[random.Next(4)] = 1_000;
            ref var need = ref System.Runtime.InteropServices.CollectionsMarshal.GetValueRefOrAddDefault(byRequest, offers[i].RequestId, out _);
            need ??= new long[4];
            for (var k = 0; k < 4; k++) need[k] += wh[k];
            offers[i] = offers[i] with { Energy = new KilowattHours(wh.Sum() / 1000m), Profile = wh.Select(w => new Kilowatts(2 * w / 1000m)).ToArray() };
            foreach (var s in offers[i].StationIds) stations.TryAdd(s, new StationCapacity(new Kilowatts(50), TimeSpan.Zero));
        }
        for (var r = 0; r < requests.Length; r++)
        {
            // A third of each interval's offers, rounded down to an even watt-hour.
            var wh = byRequest[requests[r].Id].Select(w => w / 3 / 2 * 2).ToArray();
            requests[r] = requests[r] with
            {
                Energy = new KilowattHours(wh.Sum() / 1000m), Profile = wh.Select(w => new Kilowatts(2 * w / 1000m)).ToArray(), Interval = interval, Stations = stations,
            };
        }
        return (requests, offers);
    }

    private static string Station(int transformer, int n) => $"st-{transformer:D4}-{n:D3}";
}
