using System.Numerics;
using System.Text.Json.Nodes;
using FlexChain.Ethereum;
using FlexChain.Verification;
using FlexChain.Testing;
using Nethereum.ABI;
using Nethereum.Contracts;
using Nethereum.Util;

namespace FlexChain.EndToEnd.Tests;

/// <summary>One gate cycle from DSO request to on-chain payment, over HTTP, with real Azurite and a real Hardhat node.</summary>
[Collection(MarketCollection.Name)]
public sealed class GateCycleEndToEndTests(MarketFixture market)
{
    private readonly MarketClient _api = new(market.Client);

    [Fact]
    public async Task GateCycle_TwoOffersOneWinner_PaysVerifiedDeliveryOnChain()
    {
        var t0 = market.Clock.GetUtcNow();
        var (dso, cpoA, cpoB, transformer, stationA, stationB) =
            await _api.SmallMarketAsync("Terni", MarketFixture.DsoKey, MarketFixture.CpoAKey, MarketFixture.CpoBKey);

        // Every wallet that pays or is paid is proven by an EIP-191 signature of the server's challenge (Hardhat's public dev keys).
        foreach (var caller in new[] { dso, cpoA, cpoB })
            Assert.True((await _api.GetAsync("/v1/participants/me", caller))["walletVerified"]!.GetValue<bool>());

        var windowStart = t0.AddHours(2);
        var request = await _api.RequestAsync(dso, transformer, t0.AddHours(1), windowStart);

        await PostAsync($"/v1/requests/{request}/offers", cpoA, new { stationIds = new[] { stationA }, energyKwh = 10m, priceEurPerKwh = 0.25m, divisible = false });
        await PostAsync($"/v1/requests/{request}/offers", cpoB, new { stationIds = new[] { stationB }, energyKwh = 10m, priceEurPerKwh = 0.30m, divisible = false });

        // Sealed until gate closure: the DSO sees no offers, a CPO sees only its own.
        Assert.Null((await GetRequestAsync(request, dso))["offers"]);
        var seenByB = (await GetRequestAsync(request, cpoB))["offers"]!.AsArray();
        Assert.Equal(stationB, Assert.Single(seenByB)!["stationIds"]![0]!.GetValue<string>());

        var dsoBefore = await market.TokenBalanceAsync(MarketFixture.DsoWallet);
        var cpoABefore = await market.TokenBalanceAsync(MarketFixture.CpoAWallet);
        var cpoBBefore = await market.TokenBalanceAsync(MarketFixture.CpoBWallet);
        var escrowBefore = await market.TokenBalanceAsync(market.Settlement);

        // Gate closes: merit order picks CPO A (cheaper); 10 kWh x 0.25 EUR/kWh = 2.5 tEUR is locked in escrow.
        market.Clock.SetTo(t0.AddHours(1));
        var awarded = await _api.WaitForStateAsync(request, dso, "Awarded");
        var award = Assert.Single(awarded["awards"]!.AsArray())!;
        Assert.Equal(cpoA.Id, award["cpoId"]!.GetValue<string>());
        Assert.Equal(2, awarded["offers"]!.AsArray().Count);
        Assert.Equal(dsoBefore - 2_500_000, await market.TokenBalanceAsync(MarketFixture.DsoWallet));
        // The escrow is shared with the other tests' requests, which may lock at the same gate closure: at least ours is in it.
        Assert.True(await market.TokenBalanceAsync(market.Settlement) >= escrowBefore + 2_500_000);

        // Meter data: 5 kWh per quarter hour before the window, 2.75 during it: 9 kWh delivered (90 %).
        market.Clock.SetTo(windowStart);
        await _api.PostQuarterReadingsAsync(cpoA, stationA, windowStart.AddHours(-1), 5m);
        market.Clock.SetTo(windowStart.AddHours(1));
        await _api.PostQuarterReadingsAsync(cpoA, stationA, windowStart, 2.75m);

        market.Clock.SetTo(windowStart.AddHours(1).AddMinutes(5));
        var settled = await _api.WaitForStateAsync(request, dso, "Settled");
        var settlement = Assert.Single(settled["settlements"]!.AsArray())!;
        Assert.Equal(9000, settlement["deliveredWh"]!.GetValue<long>());
        Assert.Equal("2250000", settlement["payoutUnits"]!.GetValue<string>());

        // The chain itself: the winner got exactly 9 kWh x 0.25 = 2.25 tEUR, the DSO got the other 0.25 back, B got nothing.
        Assert.Equal(cpoABefore + 2_250_000, await market.TokenBalanceAsync(MarketFixture.CpoAWallet));
        Assert.Equal(dsoBefore - 2_250_000, await market.TokenBalanceAsync(MarketFixture.DsoWallet));
        Assert.Equal(cpoBBefore, await market.TokenBalanceAsync(MarketFixture.CpoBWallet));

        // The settlement event's hash equals the hash of the record the API returns, recomputed here from its fields.
        var awardId = Hash32.Parse(settlement["awardId"]!.GetValue<string>());
        var logs = await market.LogsAsync<AwardSettledEvent>(0, awardId);
        var evt = Assert.Single(logs).DecodeEvent<AwardSettledEvent>().Event;
        var recomputed = new Hash32(Sha3Keccack.Current.CalculateHash(new ABIEncode().GetABIEncoded(
            new ABIValue("bytes32", awardId.ToArray()), new ABIValue("uint256", settlement["awardedWh"]!.GetValue<long>()),
            new ABIValue("int256", settlement["baselineWh"]!.GetValue<long>()), new ABIValue("int256", settlement["measuredWh"]!.GetValue<long>()),
            new ABIValue("int256", settlement["deliveredWh"]!.GetValue<long>()), new ABIValue("bool", settlement["succeeded"]!.GetValue<bool>()),
            new ABIValue("uint256", BigInteger.Parse(settlement["payoutUnits"]!.GetValue<string>())),
            new ABIValue("uint256", BigInteger.Parse(settlement["lockedUnits"]!.GetValue<string>())))));
        Assert.Equal(recomputed, new Hash32(evt.SettlementHash));
        Assert.Equal(recomputed.ToString(), settlement["recordHash"]!.GetValue<string>());
        Assert.Equal(new BigInteger(2_250_000), evt.Paid);
        Assert.Equal(new BigInteger(250_000), evt.Refunded);
        Assert.Equal(logs[0].TransactionHash.ToString(), settlement["transactionHash"]!.GetValue<string>());
        Assert.Equal("Settled", settled["state"]!.GetValue<string>());
    }

    private Task<JsonNode> GetRequestAsync(string id, Caller caller) => _api.GetAsync($"/v1/requests/{id}", caller);

    private Task<JsonNode> PostAsync(string path, Caller? caller, object body) => _api.PostAsync(path, caller, body);
}
