namespace FlexChain.EndToEnd.Tests;

/// <summary>Requests whose gates close together are cleared together: a station is never awarded twice for overlapping windows.</summary>
[Collection(MarketCollection.Name)]
public sealed class GateClearingTests(MarketFixture market)
{
    [Fact]
    public async Task GateTick_SameStationOfferedOnOverlappingRequests_AwardedOnceAndCyclesSettle()
    {
        var api = new MarketClient(market.Client);
        var t0 = market.Clock.GetUtcNow();
        var (dso, cpoA, cpoB, transformer, shared, other) =
            await api.SmallMarketAsync("Gate", MarketFixture.DsoKey, MarketFixture.CpoAKey, MarketFixture.CpoBKey, "IT001E00000051", "IT001E00000052");

        // Two requests with the same gate closure and overlapping windows (10:00-11:00 and 10:30-11:30).
        var start = t0.AddHours(2);
        var first = await api.RequestAsync(dso, transformer, t0.AddHours(1), start, kwh: 5m);
        var second = await api.RequestAsync(dso, transformer, t0.AddHours(1), start.AddMinutes(30), kwh: 5m);
        // A offers its one station, cheapest, to both; B offers another station to the second, dearer.
        await api.PostAsync($"/v1/requests/{first}/offers", cpoA, new { stationIds = new[] { shared }, energyKwh = 5m, priceEurPerKwh = 0.10m, divisible = false });
        await api.PostAsync($"/v1/requests/{second}/offers", cpoA, new { stationIds = new[] { shared }, energyKwh = 5m, priceEurPerKwh = 0.10m, divisible = false });
        await api.PostAsync($"/v1/requests/{second}/offers", cpoB, new { stationIds = new[] { other }, energyKwh = 5m, priceEurPerKwh = 0.20m, divisible = false });

        market.Clock.SetTo(t0.AddHours(1));
        var a = await api.WaitForStateAsync(first, dso, "Awarded");
        var b = await api.WaitForStateAsync(second, dso, "Awarded");

        Assert.Equal(cpoA.Id, Assert.Single(a["awards"]!.AsArray())!["cpoId"]!.GetValue<string>());
        Assert.Equal(cpoB.Id, Assert.Single(b["awards"]!.AsArray())!["cpoId"]!.GetValue<string>());
        var conflict = b["outcomes"]!.AsArray().Single(o => o!["outcome"]!.GetValue<string>() != "Accepted")!;
        Assert.Equal("RejectedCapacityConflict", conflict["outcome"]!.GetValue<string>());

        // Finish both cycles so no funds stay locked for the tests that follow.
        market.Clock.SetTo(start.AddMinutes(30));
        await api.PostQuarterReadingsAsync(cpoA, shared, start.AddHours(-1), 5m);
        await api.PostQuarterReadingsAsync(cpoB, other, start.AddMinutes(-30), 5m);
        market.Clock.SetTo(start.AddMinutes(90));
        await api.PostQuarterReadingsAsync(cpoA, shared, start, 3.75m);
        await api.PostQuarterReadingsAsync(cpoB, other, start.AddMinutes(30), 3.75m);
        market.Clock.SetTo(start.AddMinutes(100));
        await api.WaitForStateAsync(first, dso, "Settled");
        await api.WaitForStateAsync(second, dso, "Settled");
    }
}
