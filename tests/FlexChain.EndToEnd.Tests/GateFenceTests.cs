using System.Net;
using System.Text.Json.Nodes;

namespace FlexChain.EndToEnd.Tests;

/// <summary>
/// Gate closure is a fence, whatever the instances' clocks say: offers, modifications, withdrawals and manual decisions
/// fired across the closing instant through two app instances whose clocks differ by 2 s are in the clearing input
/// exactly when the API acknowledged them (2xx), and a refusal names the closing time and leaves nothing behind.
/// </summary>
[Collection(MarketCollection.Name)]
public sealed class GateFenceTests(MarketFixture market)
{
    /// <summary>What one participant last got acknowledged on one request: its offer (id and price) or none; a decision or none.</summary>
    private sealed class Slot
    {
        public string? OfferId;
        public decimal? Price;
        public bool DearPicked;
        public int Acknowledged, Refused;
    }

    [Fact]
    public async Task WritesAcrossTheClosingInstant_FromTwoInstancesTwoSecondsApart_AreInTheClearingInputExactlyWhenAcknowledged()
    {
        await using var ahead = market.NewInstance(TimeSpan.FromSeconds(2));
        using var aheadClient = ahead.CreateClient();   // starts the instance and its gate timer
        var api = new MarketClient(market.Client);
        MarketClient[] instances = [api, new MarketClient(aheadClient)];
        var m = await api.SmallMarketAsync("Fence", MarketFixture.RuleDsoKey, MarketFixture.RuleCpoAKey, MarketFixture.RuleCpoBKey, "IT001E60000001", "IT001E60000002");
        var t0 = market.Clock.GetUtcNow();
        var closure = t0.AddHours(1);
        var deadline = closure.AddMinutes(10);

        // Automatic requests: both CPOs create, modify and withdraw offers on each across its gate closure. Manual ones:
        // A offers 10 kWh at 0.20, B at 0.40 before closure; the DSO records and withdraws a pick of B's across the deadline.
        // Each closes a second after the last, so each is a gate cycle of its own: whichever instance runs a cycle (by its
        // clock), the other writes through its own clock, ahead of or behind the cycle's.
        var automatic = new List<string>();
        for (var i = 0; i < 4; i++) automatic.Add(await RequestAsync(api, m, closure.AddSeconds(i), closure.AddHours(1 + i), manual: false));
        var manual = new List<(string Request, string Cheap, string Dear)>();
        for (var i = 0; i < 2; i++)
        {
            var request = await RequestAsync(api, m, closure, closure.AddHours(5 + i), manual: true, deadline.AddSeconds(i));
            manual.Add((request, await OfferIdAsync(api, request, m.CpoA, m.StationA, 0.20m), await OfferIdAsync(api, request, m.CpoB, m.StationB, 0.40m)));
        }

        var offers = automatic.SelectMany(r => new[] { (r, m.CpoA, m.StationA), (r, m.CpoB, m.StationB) })
            .ToDictionary(s => s, _ => new Slot());
        await AcrossAsync(closure, closure.AddSeconds(3), (worker, random, running) => OfferWorkerAsync(instances, offers.ElementAt(worker), random, running), offers.Count);

        var decisions = manual.ToDictionary(r => r, _ => new Slot());
        await AcrossAsync(deadline, deadline.AddSeconds(1), (worker, random, running) => DecisionWorkerAsync(instances, m.Dso, decisions.ElementAt(worker), random, running), decisions.Count);

        // Every acknowledged write is in the clearing input (each offer in it has an outcome), and nothing else is.
        foreach (var request in automatic)
        {
            var cleared = await LeftOpenAsync(api, request, m.Dso);
            var expected = offers.Where(o => o.Key.Item1 == request && o.Value.OfferId is not null).ToDictionary(o => o.Value.OfferId!, o => o.Value.Price!.Value);
            var input = cleared["offers"]!.AsArray().ToDictionary(o => o!["id"]!.GetValue<string>(), o => o!["priceEurPerKwh"]!.GetValue<decimal>());
            Assert.Equal(expected.OrderBy(e => e.Key), input.OrderBy(e => e.Key));
            Assert.Equal(expected.Keys.Order(), cleared["outcomes"]!.AsArray().Select(o => o!["offerId"]!.GetValue<string>()).Order());
        }
        foreach (var ((request, cheap, dear), slot) in decisions)
        {
            var cleared = await LeftOpenAsync(api, request, m.Dso);
            var accepted = cleared["outcomes"]!.AsArray().Where(o => o!["outcome"]!.GetValue<string>() == "Accepted").Select(o => o!["offerId"]!.GetValue<string>());
            Assert.Equal(slot.DearPicked ? dear : cheap, Assert.Single(accepted));
            Assert.Equal(slot.DearPicked ? "Manual" : "Automatic", cleared["appliedSelection"]!.GetValue<string>());
        }
        // The race was run: writes were acknowledged and refused on both sides of each closing instant.
        Assert.All(offers.Values.Concat(decisions.Values), s => Assert.True(s.Acknowledged > 0 && s.Refused > 0, $"{s.Acknowledged} acknowledged, {s.Refused} refused"));
    }

    /// <summary>
    /// Runs <paramref name="workers"/> workers while the clock (the fixture's; the other instance's is 2 s ahead) moves from
    /// 3 s before <paramref name="first"/> to 3 s after <paramref name="last"/> in 20 ms steps every 50 ms of real time,
    /// and a while longer.
    /// </summary>
    private async Task AcrossAsync(DateTimeOffset first, DateTimeOffset last, Func<int, Random, Func<bool>, Task> worker, int workers)
    {
        market.Clock.SetTo(first.AddSeconds(-3));
        var running = true;
        var tasks = Enumerable.Range(0, workers).Select(i => Task.Run(() => worker(i, new Random(i), () => Volatile.Read(ref running)))).ToList();
        while (market.Clock.GetUtcNow() < last.AddSeconds(3))
        {
            await Task.Delay(50);
            market.Clock.Advance(TimeSpan.FromMilliseconds(20));
        }
        await Task.Delay(TimeSpan.FromSeconds(3));   // both instances past the instant: every write is refused now
        Volatile.Write(ref running, false);
        await Task.WhenAll(tasks);
    }

    /// <summary>Creates, modifies (a new price each time) and withdraws one CPO's offer on one request through random instances.</summary>
    private static async Task OfferWorkerAsync(MarketClient[] instances, KeyValuePair<(string Request, Caller Cpo, string Station), Slot> work, Random random, Func<bool> running)
    {
        var ((request, cpo, station), slot) = work;
        var path = $"/v1/requests/{request}/offers";
        for (var n = 1; running(); n++)
        {
            var api = instances[random.Next(instances.Length)];
            var price = 0.10m + n % 400 * 0.001m;   // a new price each time, within the request's cap of 0.5
            var body = new { stationIds = new[] { station }, energyKwh = 1m, priceEurPerKwh = price, divisible = true };
            using var response = slot.OfferId is null ? await api.SendAsync(HttpMethod.Post, path, cpo, body)
                : random.Next(3) == 0 ? await api.SendAsync(HttpMethod.Delete, $"{path}/{slot.OfferId}", cpo, null)
                : await api.SendAsync(HttpMethod.Put, $"{path}/{slot.OfferId}", cpo, body);
            if (await RefusedAsync(response, "requestId", "gate-closed")) { slot.Refused++; continue; }
            slot.Acknowledged++;
            if (response.StatusCode == HttpStatusCode.NoContent) (slot.OfferId, slot.Price) = (null, null);
            else (slot.OfferId, slot.Price) = (JsonNode.Parse(await response.Content.ReadAsStringAsync())!["id"]!.GetValue<string>(), price);
        }
    }

    /// <summary>Records a pick of the dear offer and withdraws it again through random instances.</summary>
    private static async Task DecisionWorkerAsync(MarketClient[] instances, Caller dso, KeyValuePair<(string Request, string Cheap, string Dear), Slot> work, Random random, Func<bool> running)
    {
        var ((request, _, dear), slot) = work;
        var path = $"/v1/requests/{request}/decision";
        while (running())
        {
            var api = instances[random.Next(instances.Length)];
            using var response = slot.DearPicked ? await api.SendAsync(HttpMethod.Delete, path, dso, null)
                : await api.SendAsync(HttpMethod.Put, path, dso, new { picks = new[] { new { offerId = dear } } });
            if (await RefusedAsync(response, "decisionDeadline", "decision-deadline")) { slot.Refused++; continue; }
            slot.Acknowledged++;
            slot.DearPicked = !slot.DearPicked;
        }
    }

    /// <summary>
    /// Whether the write was refused because its gate (or decision period) had closed: with the problem naming the field,
    /// the rule and the closing time; a 409 concurrent-update means the clearing fixed the request first. Fails on any
    /// other answer than a 2xx.
    /// </summary>
    private static async Task<bool> RefusedAsync(HttpResponseMessage response, string field, string rule)
    {
        if (response.IsSuccessStatusCode) return false;
        var text = await response.Content.ReadAsStringAsync();
        var problem = JsonNode.Parse(text)!;
        var refusal = (problem["field"]?.GetValue<string>(), problem["rule"]?.GetValue<string>());
        Assert.True(response.StatusCode is HttpStatusCode.Conflict or HttpStatusCode.UnprocessableEntity, $"{(int)response.StatusCode}: {text}");
        Assert.True(refusal == (field, rule) || refusal == ("id", "concurrent-update") || refusal == ("requestId", "illegal-transition"), text);
        if (refusal == (field, rule)) Assert.Matches(@"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", problem["detail"]!.GetValue<string>());
        return true;
    }

    private static async Task<string> RequestAsync(MarketClient api, SmallMarket m, DateTimeOffset closure, DateTimeOffset start, bool manual, DateTimeOffset? deadline = null) =>
        (await api.PostAsync("/v1/requests", m.Dso, new
        {
            transformerId = m.Transformer, deliveryStart = start, deliveryEnd = start.AddHours(1), energyKwh = 10m, direction = "ReduceConsumption",
            maxPriceEurPerKwh = 0.5m, gateClosure = closure, pricing = "PayAsBid", selection = manual ? "Manual" : "Automatic", decisionDeadline = deadline,
        }))["id"]!.GetValue<string>();

    private static async Task<string> OfferIdAsync(MarketClient api, string request, Caller cpo, string station, decimal price) =>
        (await api.PostAsync($"/v1/requests/{request}/offers", cpo, new { stationIds = new[] { station }, energyKwh = 10m, priceEurPerKwh = price, divisible = false }))["id"]!
            .GetValue<string>();

    /// <summary>The request as its DSO sees it once its gate cycle has cleared it.</summary>
    private static Task<JsonNode> LeftOpenAsync(MarketClient api, string request, Caller dso) =>
        FlexChain.Testing.Poll.UntilAsync(() => api.GetAsync($"/v1/requests/{request}", dso), r => r["state"]!.GetValue<string>() != "Open",
            TimeSpan.FromSeconds(60), $"request {request} clearing");
}
