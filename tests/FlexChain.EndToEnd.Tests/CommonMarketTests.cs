using System.Text.Json.Nodes;

namespace FlexChain.EndToEnd.Tests;

/// <summary>
/// The common market over HTTP: a TSO sets its area to <c>Common</c>, and a DSO request and a TSO balancing request of one
/// gate cycle clear together, the shared station to the buyer that values it most, both buyers' awards locked in escrow.
/// </summary>
[Collection(MarketCollection.Name)]
public sealed class CommonMarketTests(MarketFixture market)
{
    private readonly MarketClient _api = new(market.Client);

    private static readonly object Where = new { latitude = 42.5636m, longitude = 12.6427m };

    private static object Offer(decimal price, string station, string direction = "ReduceConsumption", decimal kwh = 5m) =>
        new { stationIds = new[] { station }, energyKwh = kwh, priceEurPerKwh = price, divisible = false, direction };

    private static object Request(string node, DateTimeOffset gate, DateTimeOffset start, decimal kwh, decimal cap, string direction = "ReduceConsumption") => new
    {
        transformerId = node, deliveryStart = start, deliveryEnd = start.AddHours(1), energyKwh = kwh, direction,
        maxPriceEurPerKwh = cap, gateClosure = gate, pricing = "PayAsBid",
    };

    [Fact]
    public async Task Common_ADsoAndATsoRequestOfOneCycle_TheSharedStationGoesToTheBuyerThatValuesItMore_BothLockedInEscrow()
    {
        var (tsoWallet, _) = await market.FundedWalletAsync(1_000_000_000);
        var tso = await _api.RegisterAsync("Tso", "Terna", tsoWallet);
        var (dsoWallet, _) = await market.FundedWalletAsync(1_000_000_000);
        var dso = await _api.RegisterAsync("Dso", "ASM Terni", dsoWallet);
        var cpoA = await _api.RegisterAsync("Cpo", "Be Charge", MarketFixture.CpoAKey);
        var cpoB = await _api.RegisterAsync("Cpo", "Enel X", MarketFixture.CpoBKey);
        var substation = (await _api.PostAsync("/v1/grid/nodes", tso, new { kind = "HvMvSubstation", name = "Terni HV/MV", ratedPowerKw = 40_000m, location = Where }))["id"]!.GetValue<string>();
        var transformer = (await _api.PostAsync("/v1/transformers", dso, new { name = "Terni Nord 3", ratedPowerKw = 630, location = Where, parentId = substation }))["id"]!.GetValue<string>();
        var stationA = await _api.StationAsync(cpoA, transformer, "IT001E0000291", acKw: 8m);
        var stationB = await _api.StationAsync(cpoB, transformer, "IT001E0000292", acKw: 8m);
        var set = await _api.SendOkAsync(HttpMethod.Put, $"/v1/grid/nodes/{substation}/coordination", tso, new { model = "Common" });
        Assert.Equal("Common", set["model"]!.GetValue<string>());
        Assert.Equal("Common", (await _api.GetAsync($"/v1/grid/nodes/{substation}/coordination", cpoA))["model"]!.GetValue<string>());

        // One gate cycle, overlapping windows. The TSO's request sorts first in the engine's usual order (earlier delivery)
        // and is offered station A cheaper, but the DSO gains more from it: (1.00 - 0.30) x 5 = 3.50 EUR against (0.50 - 0.10) x 5 = 2.00 EUR.
        var t0 = market.Clock.GetUtcNow();
        var tsoRequest = (await _api.PostAsync("/v1/requests", tso, Request(substation, t0.AddHours(1), t0.AddHours(2), 10m, 0.5m)))["id"]!.GetValue<string>();
        var dsoRequest = (await _api.PostAsync("/v1/requests", dso, Request(transformer, t0.AddHours(1), t0.AddHours(2).AddMinutes(30), 5m, 1m)))["id"]!.GetValue<string>();
        var toTso = (await _api.PostAsync($"/v1/requests/{tsoRequest}/offers", cpoA, Offer(0.1m, stationA)))["id"]!.GetValue<string>();
        var toDso = (await _api.PostAsync($"/v1/requests/{dsoRequest}/offers", cpoA, Offer(0.3m, stationA)))["id"]!.GetValue<string>();
        var fromB = (await _api.PostAsync($"/v1/requests/{tsoRequest}/offers", cpoB, Offer(0.2m, stationB)))["id"]!.GetValue<string>();
        var (tsoBefore, dsoBefore) = (await market.TokenBalanceAsync(tsoWallet.Address), await market.TokenBalanceAsync(dsoWallet.Address));

        market.Clock.SetTo(t0.AddHours(1));
        var byDso = await _api.WaitForStateAsync(dsoRequest, dso, "Awarded");
        var byTso = await _api.WaitForStateAsync(tsoRequest, tso, "Awarded");
        Assert.Equal(byDso["gateCycleId"]!.GetValue<string>(), byTso["gateCycleId"]!.GetValue<string>());
        var dsoAward = Assert.Single(byDso["awards"]!.AsArray())!;
        var tsoAward = Assert.Single(byTso["awards"]!.AsArray())!;
        Assert.Equal((toDso, 0.3m), (dsoAward["offerId"]!.GetValue<string>(), dsoAward["priceEurPerKwh"]!.GetValue<decimal>()));
        Assert.Equal((fromB, 0.2m), (tsoAward["offerId"]!.GetValue<string>(), tsoAward["priceEurPerKwh"]!.GetValue<decimal>()));
        var lost = byTso["outcomes"]!.AsArray().Single(o => o!["offerId"]!.GetValue<string>() == toTso)!;
        Assert.Equal("RejectedCapacityConflict", lost["outcome"]!.GetValue<string>());
        Assert.Contains(dsoAward["id"]!.GetValue<string>(), lost["detail"]!.GetValue<string>());

        // Locked on chain for both buyers: each award's lock transaction, and each buyer's wallet paid its award into escrow (6-decimal token).
        Assert.NotNull(dsoAward["lockTransactionHash"]);
        Assert.NotNull(tsoAward["lockTransactionHash"]);
        Assert.Equal(new System.Numerics.BigInteger(1_500_000), dsoBefore - await market.TokenBalanceAsync(dsoWallet.Address));
        Assert.Equal(new System.Numerics.BigInteger(1_000_000), tsoBefore - await market.TokenBalanceAsync(tsoWallet.Address));
    }

    /// <summary>
    /// A TSO's substation set to <c>Common</c>, two DSO transformers under it (operational limit 500 kW) with forecasts for
    /// tomorrow 10:00-11:00 (<see cref="LimitedArea.Window"/>) of <paramref name="firstLoad"/> and <paramref name="secondLoad"/> kW,
    /// and two CPOs.
    /// </summary>
    private async Task<LimitedArea> LimitedAreaAsync(string firstName, decimal firstLoad, string secondName, decimal secondLoad)
    {
        var (tsoWallet, _) = await market.FundedWalletAsync(1_000_000_000);
        var tso = await _api.RegisterAsync("Tso", "Terna", tsoWallet);
        var dso = await _api.RegisterAsync("Dso", "ASM Terni", MarketFixture.DsoKey);
        var cpoA = await _api.RegisterAsync("Cpo", "Be Charge", MarketFixture.CpoAKey);
        var cpoB = await _api.RegisterAsync("Cpo", "Enel X", MarketFixture.CpoBKey);
        var substation = (await _api.PostAsync("/v1/grid/nodes", tso, new { kind = "HvMvSubstation", name = "Terni HV/MV", ratedPowerKw = 40_000m, location = Where }))["id"]!.GetValue<string>();
        var t0 = market.Clock.GetUtcNow();
        var window = new DateTimeOffset(t0.UtcDateTime.Date.AddDays(1), TimeSpan.Zero).AddHours(10);
        var day = window.ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture);
        async Task<string> TransformerAsync(string name, decimal load)
        {
            var id = (await _api.PostAsync("/v1/transformers", dso, new
            {
                name, ratedPowerKw = 630m, location = Where, parentId = substation, planningLimitKw = 400m, operationalLimitKw = 500m,
            }))["id"]!.GetValue<string>();
            await _api.SendOkAsync(HttpMethod.Put, $"/v1/transformers/{id}/forecasts/{day}", dso, new
            {
                points = Enumerable.Range(0, 4).Select(q => new { start = window.AddMinutes(15 * q), end = window.AddMinutes(15 * (q + 1)), expectedLoadKw = load, limitKw = 630m }),
            });
            return id;
        }
        var first = await TransformerAsync(firstName, firstLoad);
        var second = await TransformerAsync(secondName, secondLoad);
        await _api.SendOkAsync(HttpMethod.Put, $"/v1/grid/nodes/{substation}/coordination", tso, new { model = "Common" });
        return new LimitedArea(tso, cpoA, cpoB, substation, first, second, t0, window);
    }

    private sealed record LimitedArea(Caller Tso, Caller CpoA, Caller CpoB, string Substation, string First, string Second, DateTimeOffset T0, DateTimeOffset Window);

    [Fact]
    public async Task Common_ATsoIncrease_CannotTakeTheCheapStationUnderANodeWithNoHeadroom_TakesTheDearerOneElsewhere()
    {
        // Tomorrow 10:00-11:00: "full" is forecast at its operational limit (500 kW, yellow: no headroom), "free" at 100 kW.
        var (tso, cpoA, cpoB, substation, full, free, t0, window) = await LimitedAreaAsync("Terni Nord 3", 500m, "Terni Nord 4", 100m);
        var cheap = await _api.StationAsync(cpoA, full, "IT001E0000391", acKw: 8m);
        var dear = await _api.StationAsync(cpoB, free, "IT001E0000392", acKw: 8m);

        // The TSO wants 5 kW more consumption; the cheap station sits below "full", the dearer one below "free".
        var request = (await _api.PostAsync("/v1/requests", tso, Request(substation, t0.AddHours(1), window, 5m, 0.5m, "IncreaseConsumption")))["id"]!.GetValue<string>();
        var toFull = (await _api.PostAsync($"/v1/requests/{request}/offers", cpoA, Offer(0.1m, cheap, "IncreaseConsumption")))["id"]!.GetValue<string>();
        var toFree = (await _api.PostAsync($"/v1/requests/{request}/offers", cpoB, Offer(0.3m, dear, "IncreaseConsumption")))["id"]!.GetValue<string>();

        market.Clock.SetTo(t0.AddHours(1));
        var cleared = await _api.WaitForStateAsync(request, tso, "Awarded");
        AssertKeptOutBelow(full, cleared, toFull, toFree);
    }

    [Fact]
    public async Task Common_TwoCyclesForOneHour_TheSecondCannotAddLoadBelowANodeTheFirstFilled_TakesTheDearerOneElsewhere()
    {
        // Tomorrow 10:00-11:00: "tight" is forecast at 490 kW against its 500 kW operational limit (10 kW of headroom), "free" at 100 kW.
        var (tso, cpoA, cpoB, substation, tight, free, t0, window) = await LimitedAreaAsync("Terni Nord 5", 490m, "Terni Nord 6", 100m);
        var first = await _api.StationAsync(cpoA, tight, "IT001E0000491", acKw: 11m);
        var cheap = await _api.StationAsync(cpoA, tight, "IT001E0000492", acKw: 8m);
        var dear = await _api.StationAsync(cpoB, free, "IT001E0000493", acKw: 8m);

        // The first cycle awards a 10 kW increase below "tight" for the hour: all of its headroom.
        var earlier = (await _api.PostAsync("/v1/requests", tso, Request(substation, t0.AddHours(1), window, 10m, 0.5m, "IncreaseConsumption")))["id"]!.GetValue<string>();
        var filling = (await _api.PostAsync($"/v1/requests/{earlier}/offers", cpoA, Offer(0.1m, first, "IncreaseConsumption", kwh: 10m)))["id"]!.GetValue<string>();
        market.Clock.SetTo(t0.AddHours(1));
        var filled = await _api.WaitForStateAsync(earlier, tso, "Awarded");
        Assert.Equal(filling, Assert.Single(filled["awards"]!.AsArray())!["offerId"]!.GetValue<string>());

        // The second cycle, for the same hour, may add nothing more below "tight": the cheap station there is kept out.
        var later = (await _api.PostAsync("/v1/requests", tso, Request(substation, t0.AddHours(2), window, 5m, 0.5m, "IncreaseConsumption")))["id"]!.GetValue<string>();
        var toTight = (await _api.PostAsync($"/v1/requests/{later}/offers", cpoA, Offer(0.1m, cheap, "IncreaseConsumption")))["id"]!.GetValue<string>();
        var toFree = (await _api.PostAsync($"/v1/requests/{later}/offers", cpoB, Offer(0.3m, dear, "IncreaseConsumption")))["id"]!.GetValue<string>();
        market.Clock.SetTo(t0.AddHours(2));
        var cleared = await _api.WaitForStateAsync(later, tso, "Awarded");
        Assert.NotEqual(filled["gateCycleId"]!.GetValue<string>(), cleared["gateCycleId"]!.GetValue<string>());
        AssertKeptOutBelow(tight, cleared, toTight, toFree);
    }

    /// <summary>The request <paramref name="cleared"/> awarded <paramref name="dearer"/> at 0.30 alone; <paramref name="keptOut"/> was kept out by node <paramref name="node"/>, which has no headroom.</summary>
    private static void AssertKeptOutBelow(string node, JsonNode cleared, string keptOut, string dearer)
    {
        var award = Assert.Single(cleared["awards"]!.AsArray())!;
        Assert.Equal((dearer, 0.3m), (award["offerId"]!.GetValue<string>(), award["priceEurPerKwh"]!.GetValue<decimal>()));
        var kept = cleared["outcomes"]!.AsArray().Single(o => o!["offerId"]!.GetValue<string>() == keptOut)!;
        Assert.Equal("RejectedCapacityConflict", kept["outcome"]!.GetValue<string>());
        Assert.Contains($"Grid node {node} has 0 kW of headroom", kept["detail"]!.GetValue<string>());
    }
}
