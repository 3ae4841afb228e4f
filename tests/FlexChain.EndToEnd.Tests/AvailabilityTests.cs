using System.Net;
using System.Text.Json.Nodes;

namespace FlexChain.EndToEnd.Tests;

/// <summary>Availability over HTTP: capacity reserved in merit order at the gate, the holders' stations booked, arming releases unarmed days.</summary>
[Collection(MarketCollection.Name)]
public sealed class AvailabilityTests(MarketFixture market)
{
    private readonly MarketClient _api = new(market.Client);

    private static object Offer(string station, decimal kw, decimal availability, decimal activation) =>
        new { stationIds = new[] { station }, capacityKw = kw, availabilityPriceEurPerKw = availability, activationPriceEurPerKwh = activation };

    /// <summary>Posts a one-hour request at <paramref name="start"/> with one offer of <paramref name="station"/>, clears it and returns its offer's outcome.</summary>
    private async Task<string> OutcomeOfOfferAsync(Caller dso, Caller cpo, string transformer, string station, DateTimeOffset gate, DateTimeOffset start)
    {
        var request = await _api.RequestAsync(dso, transformer, gate, start, kwh: 2m);
        await _api.PostAsync($"/v1/requests/{request}/offers", cpo, new { stationIds = new[] { station }, energyKwh = 2m, priceEurPerKwh = 0.1m, divisible = false });
        market.Clock.SetTo(gate);
        var cleared = await FlexChain.Testing.Poll.UntilAsync(() => _api.GetAsync($"/v1/requests/{request}", dso),
            r => r["state"]!.GetValue<string>() != "Open", TimeSpan.FromSeconds(90), $"request {request} cleared");
        return Assert.Single(cleared["outcomes"]!.AsArray())!["outcome"]!.GetValue<string>();
    }

    [Fact]
    public async Task Availability_ReservedInMeritOrder_StationsBooked_UnarmedDayReleased()
    {
        var (dso, cpoA, cpoB, transformer, stationA, stationB) =
            await _api.SmallMarketAsync("Availability", MarketFixture.DsoKey, MarketFixture.CpoAKey, MarketFixture.CpoBKey, "IT001E00000961", "IT001E00000962");
        var t0 = market.Clock.GetUtcNow();
        var day1 = new DateTimeOffset(t0.UtcDateTime.Date.AddDays(4), TimeSpan.Zero);
        var day2 = day1.AddDays(1);
        object Terms(DateTimeOffset end) => new
        {
            transformerId = transformer, periodStart = day1, periodEnd = end, capacityKw = 10m, maxAvailabilityPriceEurPerKw = 5m,
            gateClosure = t0.AddHours(1), direction = "ReduceConsumption", arming = true,
        };
        using (var r = await _api.SendAsync(HttpMethod.Post, "/v1/availability", dso, Terms(day1.AddDays(8))))
            await MarketClient.ProblemAsync(r, HttpStatusCode.UnprocessableEntity, "periodEnd", "period-length");
        var id = (await _api.PostAsync("/v1/availability", dso, Terms(day2.AddDays(1))))["id"]!.GetValue<string>();

        // Sealed offers: over the cap refused; A is cheaper for availability, B cheaper to call.
        using (var r = await _api.SendAsync(HttpMethod.Put, $"/v1/availability/{id}/offer", cpoA, Offer(stationA, 8m, 5.5m, 0.3m)))
            await MarketClient.ProblemAsync(r, HttpStatusCode.UnprocessableEntity, "availabilityPriceEurPerKw", "price-cap");
        using (var r = await _api.SendAsync(HttpMethod.Put, $"/v1/availability/{id}/offer", cpoA, Offer(stationA, 23m, 2m, 0.3m)))
            await MarketClient.ProblemAsync(r, HttpStatusCode.UnprocessableEntity, "capacityKw", "physical-limit");
        await _api.SendOkAsync(HttpMethod.Put, $"/v1/availability/{id}/offer", cpoA, Offer(stationA, 8m, 2m, 0.3m));
        await _api.SendOkAsync(HttpMethod.Put, $"/v1/availability/{id}/offer", cpoB, Offer(stationB, 8m, 3m, 0.2m));
        var seenByB = await _api.GetAsync($"/v1/availability/{id}", cpoB);
        Assert.Equal(("Open", 8m), (seenByB["state"]!.GetValue<string>(), seenByB["offer"]!["capacityKw"]!.GetValue<decimal>()));

        market.Clock.SetTo(t0.AddHours(1));
        var reserved = await FlexChain.Testing.Poll.UntilAsync(() => _api.GetAsync($"/v1/availability/{id}", dso),
            r => r["state"]!.GetValue<string>() != "Open", TimeSpan.FromSeconds(90), $"availability {id} cleared");
        Assert.Equal("Reserved", reserved["state"]!.GetValue<string>());
        Assert.Equal([("Accepted", 8m), ("PartlyAccepted", 2m)],
            reserved["outcomes"]!.AsArray().Select(o => (o!["outcome"]!.GetValue<string>(), o["reservedKw"]!.GetValue<decimal>())));
        var holders = reserved["holders"]!.AsArray();
        Assert.Equal([(cpoA.Id, 16m), (cpoB.Id, 6m)], holders.Select(h => (h!["cpoId"]!.GetValue<string>(), h["availabilityPaymentEur"]!.GetValue<decimal>())));
        Assert.Equal(cpoA.Id, Assert.Single((await _api.GetAsync($"/v1/availability/{id}", cpoA))["holders"]!.AsArray())!["cpoId"]!.GetValue<string>());
        using (var r = await _api.SendAsync(HttpMethod.Put, $"/v1/availability/{id}/offer", cpoA, Offer(stationA, 8m, 1m, 0.3m)))
            await MarketClient.ProblemAsync(r, HttpStatusCode.Conflict, "gateClosure", "gate-closed");

        // The holders' stations are booked for the period: another buyer's request on day 2 cannot have station A.
        Assert.Equal("RejectedCapacityConflict", await OutcomeOfOfferAsync(dso, cpoA, transformer, stationA, t0.AddHours(2), day2.AddHours(10)));

        // Day 2 is armed in time; day 1 is not, and is released at its deadline (two days before it starts).
        await _api.SendOkAsync(HttpMethod.Post, $"/v1/availability/{id}/arm", dso, new { day = day2 });
        market.Clock.SetTo(day1.AddDays(-2));
        using (var r = await _api.SendAsync(HttpMethod.Post, $"/v1/availability/{id}/arm", dso, new { day = day1 }))
            await MarketClient.ProblemAsync(r, HttpStatusCode.UnprocessableEntity, "day", "arming-lead");
        using (var r = await _api.SendAsync(HttpMethod.Post, $"/v1/availability/{id}/arm", cpoA, new { day = day2 }))
            Assert.Equal(HttpStatusCode.Forbidden, r.StatusCode);
        Assert.Equal([day2], (await _api.GetAsync($"/v1/availability/{id}", dso))["armedDays"]!.AsArray().Select(d => d!.GetValue<DateTimeOffset>()));
        Assert.Equal("Accepted", await OutcomeOfOfferAsync(dso, cpoA, transformer, stationA, day1.AddDays(-2).AddHours(1), day1.AddHours(10)));
        Assert.Equal("RejectedCapacityConflict", await OutcomeOfOfferAsync(dso, cpoB, transformer, stationB, day1.AddDays(-2).AddHours(2), day2.AddHours(12)));
    }
}
