using System.Text.Json.Nodes;
using FlexChain.Testing;

namespace FlexChain.EndToEnd.Tests;

/// <summary>
/// An unfunded DSO fails its own awards, not the gate cycle: two DSOs in one gate cycle, one withdraws its allowance to
/// the escrow after posting; at gate closure its awards end FundingFailed (announced, with the reason), while the other
/// DSO's awards are locked, settled and paid.
/// </summary>
[Collection(MarketCollection.Name)]
public sealed class FundingFailureTests(MarketFixture market)
{
    private readonly MarketClient _api = new(market.Client);

    [Fact]
    public async Task GateCycle_OneDsoWithdrawsItsAllowance_ItsAwardsFundingFailedAnnounced_TheOtherDsoIsPaid()
    {
        var (payingWallet, _) = await market.FundedWalletAsync(5_000_000);
        var (withdrawingWallet, withdrawingToken) = await market.FundedWalletAsync(5_000_000);
        var paying = await _api.SmallMarketAsync("Paying", payingWallet, MarketFixture.CpoAKey, MarketFixture.CpoBKey, "IT001E00000041", "IT001E00000042");
        var withdrawing = await _api.SmallMarketAsync("Withdrawing", withdrawingWallet, MarketFixture.CpoAKey, MarketFixture.CpoBKey, "IT001E00000043", "IT001E00000044");
        var t0 = market.Clock.GetUtcNow();
        var windowStart = t0.AddHours(2);
        // Same gate closure: one gate cycle, one escrow batch per DSO.
        var paid = await _api.RequestAsync(paying.Dso, paying.Transformer, t0.AddHours(1), windowStart, kwh: 4m);
        var unfunded = await _api.RequestAsync(withdrawing.Dso, withdrawing.Transformer, t0.AddHours(1), windowStart, kwh: 4m);
        await _api.PostAsync($"/v1/requests/{paid}/offers", paying.CpoA, new { stationIds = new[] { paying.StationA }, energyKwh = 4m, priceEurPerKwh = 0.25m, divisible = false });
        await _api.PostAsync($"/v1/requests/{unfunded}/offers", withdrawing.CpoB, new { stationIds = new[] { withdrawing.StationB }, energyKwh = 4m, priceEurPerKwh = 0.25m, divisible = false });
        // Checked when posted; withdrawn before gate closure.
        await withdrawingToken.ApproveRequestAndWaitForReceiptAsync(market.Settlement.ToString(), 0);
        var cpoABefore = await market.TokenBalanceAsync(MarketFixture.CpoAWallet);

        market.Clock.SetTo(t0.AddHours(1));
        var failed = await _api.WaitForRequestAsync(unfunded, withdrawing.Dso, s => s is not ("Open" or "Cleared"), "leaving Cleared");
        Assert.Equal("FundingFailed", failed["state"]!.GetValue<string>());
        Assert.Equal($"allowance: the DSO's wallet {withdrawingWallet.Address} allows the escrow 0 token units; the batch needs 1000000",
            failed["stateReason"]!.GetValue<string>());
        Assert.Null(Assert.Single(failed["awards"]!.AsArray())!["lockTransactionHash"]);
        Assert.Equal(5_000_000, await market.TokenBalanceAsync(withdrawingWallet.Address)); // nothing taken
        var awarded = await _api.WaitForStateAsync(paid, paying.Dso, "Awarded");
        Assert.Null(awarded["stateReason"]);

        // Announced to the DSO and its winner, with the reason, like every other transition.
        var store = await StoreCollection.NewStoreAsync(market.StorageConnectionString);
        foreach (var recipient in new[] { withdrawing.Dso.Id, withdrawing.CpoB.Id })
            await Poll.UntilAsync(() => store.EventExistsAsync(recipient, $"{unfunded}:funding.failed:{recipient}", default), e => e,
                TimeSpan.FromSeconds(30), $"funding.failed for {recipient}");
        Assert.False(await store.EventExistsAsync(withdrawing.CpoB.Id, $"{unfunded}:activation:{withdrawing.CpoB.Id}", default));
        var cycleId = awarded["gateCycleId"]!.GetValue<string>();
        Assert.Equal(cycleId, failed["gateCycleId"]!.GetValue<string>());

        // The paying DSO's award is delivered, verified, settled and paid: 4 kWh x 0.25 = 1 tEUR.
        market.Clock.SetTo(windowStart);
        await _api.PostQuarterReadingsAsync(paying.CpoA, paying.StationA, windowStart.AddHours(-1), 2m);
        market.Clock.SetTo(windowStart.AddHours(1));
        await _api.PostQuarterReadingsAsync(paying.CpoA, paying.StationA, windowStart, 1m);
        market.Clock.SetTo(windowStart.AddHours(1).AddMinutes(5));
        var settled = await _api.WaitForStateAsync(paid, paying.Dso, "Settled");
        Assert.Equal("1000000", Assert.Single(settled["settlements"]!.AsArray())!["payoutUnits"]!.GetValue<string>());
        Assert.Equal(cpoABefore + 1_000_000, await market.TokenBalanceAsync(MarketFixture.CpoAWallet));

        var cycle = await Poll.UntilAsync(() => _api.GetAsync($"/v1/gate-cycles/{cycleId}", paying.Dso),
            c => c["state"]!.GetValue<string>() == "Settled", TimeSpan.FromSeconds(60), $"gate cycle {cycleId} finishing");
        Assert.Null(cycle["needsAttention"]);
        Assert.Equal("1 escrow batch(es) settled, 1 not funded, 0 unpaid", cycle["history"]!.AsArray()[^1]!["cause"]!.GetValue<string>());
        var batches = cycle["escrowBatches"]!.AsArray().Select(b => b!.AsObject()).ToList();
        Assert.Equal(failed["stateReason"]!.GetValue<string>(), Assert.Single(batches, b => b["dsoId"]!.GetValue<string>() == withdrawing.Dso.Id)["fundingFailure"]!.GetValue<string>());
        Assert.Null(Assert.Single(batches, b => b["dsoId"]!.GetValue<string>() == paying.Dso.Id)["fundingFailure"]);
    }
}
