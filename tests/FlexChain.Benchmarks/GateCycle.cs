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

    private static string Station(int transformer, int n) => $"st-{transformer:D4}-{n:D3}";
}
