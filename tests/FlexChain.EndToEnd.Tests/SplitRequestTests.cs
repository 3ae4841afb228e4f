using System.Globalization;
using System.Numerics;
using System.Text.Json.Nodes;
using FlexChain.Ethereum;
using FlexChain.Functions.Settlement;
using FlexChain.Testing;

namespace FlexChain.EndToEnd.Tests;

/// <summary>
/// A request with more awards than one escrow batch carries (GateCycle:MaxAwardsPerBatch) is locked in several batches,
/// each drawing on the DSO's one consent (an allowance up to its maximum), and every award is settled and paid.
/// </summary>
[Collection(MarketCollection.Name)]
public sealed class SplitRequestTests(MarketFixture market)
{
    [Fact]
    public async Task GateCycle_RequestWithMoreAwardsThanABatch_LocksEveryBatchUnderItsOneConsentAndPaysAll()
    {
        // A market of its own (storage, chain, app instance with batches of at most 3 awards): the shared market's instance
        // would plan this cycle's batches with its own setting, and the exact balances below need a chain of their own.
        var chain = new HardhatNodeFixture();
        await chain.InitializeAsync();
        var deployment = await MarketFixture.DeployAsync(chain.RpcUri);
        var escrow = EthAddress.Parse(deployment.GetProperty("settlement").GetString()!);
        var token = EthAddress.Parse(deployment.GetProperty("token").GetString()!);
        var (app, storage) = await market.IsolatedInstanceAsync(("Chain:RpcUrl", chain.RpcUri.ToString()), ("Chain:SettlementContract", escrow.ToString()),
            ("GateCycle:MaxAwardsPerBatch", "3"));
        try
        {
            using var client = app.CreateClient();
            var api = new MarketClient(client);
            api.KnowChain((long)HardhatNodeFixture.ChainId, escrow, 6);
            var web3 = new Nethereum.Web3.Web3(chain.RpcUri.AbsoluteUri);
            var dso = await api.RegisterAsync("Dso", "Split DSO", MarketFixture.DsoKey);
            var transformer = await api.TransformerAsync(dso);
            // One offer per CPO per request: five CPOs, each with its own fresh wallet and station.
            var cpos = new List<(Caller Cpo, Wallet Wallet, string Station)>();
            for (var i = 1; i <= 5; i++)
            {
                var wallet = new Wallet(Nethereum.Signer.EthECKey.GenerateKey().GetPrivateKey());
                var cpo = await api.RegisterAsync("Cpo", $"Split CPO {i}", wallet);
                cpos.Add((cpo, wallet, await api.StationAsync(cpo, transformer, $"IT001E0000005{i}")));
            }
            var t0 = market.Clock.GetUtcNow();
            var windowStart = t0.AddHours(2);
            var body = new JsonObject
            {
                ["transformerId"] = transformer, ["deliveryStart"] = windowStart.ToString("O", CultureInfo.InvariantCulture), ["deliveryEnd"] = windowStart.AddHours(1).ToString("O", CultureInfo.InvariantCulture),
                ["energyKwh"] = 10m, ["direction"] = "ReduceConsumption", ["maxPriceEurPerKwh"] = 0.5m, ["gateClosure"] = t0.AddHours(1).ToString("O", CultureInfo.InvariantCulture),
                ["pricing"] = "PayAsBid",
            };
            body["consent"] = await api.ConsentAsync(MarketFixture.DsoKey, body);
            var nonce = BigInteger.Parse(body["consent"]!["nonce"]!.GetValue<string>(), CultureInfo.InvariantCulture);
            var request = (await api.PostAsync("/v1/requests", dso, body))["id"]!.GetValue<string>();
            foreach (var (cpo, _, station) in cpos)
                await api.PostAsync($"/v1/requests/{request}/offers", cpo, new { stationIds = new[] { station }, energyKwh = 2m, priceEurPerKwh = 0.25m, divisible = false });
            var balances = async () => await Task.WhenAll(cpos.Select(c => c.Wallet.Address).Prepend(MarketFixture.DsoWallet)
                .Select(w => MarketFixture.TokenBalanceAsync(web3, token, w)));
            var before = await balances();

            // Five awards of 2 kWh x 0.25 = 0.5 tEUR: batches of 3 and 2, both locked under the one consent for 10 kWh x 0.5 = 5 tEUR.
            market.Clock.SetTo(t0.AddHours(1));
            var awarded = await api.WaitForStateAsync(request, dso, "Awarded");
            Assert.Equal(5, awarded["awards"]!.AsArray().Count);
            var cycleId = awarded["gateCycleId"]!.GetValue<string>();
            var batches = (await api.GetAsync($"/v1/gate-cycles/{cycleId}", dso))["escrowBatches"]!.AsArray();
            Assert.Equal([3, 2], batches.Select(b => b!["awardCount"]!.GetValue<int>()));
            Assert.All(batches, b => Assert.Null(b!["fundingFailure"]));
            Assert.Equal(2, batches.Select(b => b!["lockTransactionHash"]!.GetValue<string>()).Distinct().Count());
            var drawn = await web3.Eth.GetContractQueryHandler<ConsentDrawnFunction>().QueryAsync<BigInteger>(escrow.ToString(),
                new ConsentDrawnFunction { Dso = MarketFixture.DsoWallet.ToString(), ConsentNonce = nonce });
            Assert.Equal(new BigInteger(2_500_000), drawn);
            Assert.Equal(before[0] - 2_500_000, (await balances())[0]);

            // Each station delivers its 2 kWh (5 kWh per quarter hour before the window, 4.5 during it): all paid in full.
            market.Clock.SetTo(windowStart);
            foreach (var (cpo, _, station) in cpos) await api.PostQuarterReadingsAsync(cpo, station, windowStart.AddHours(-1), 5m);
            market.Clock.SetTo(windowStart.AddHours(1));
            foreach (var (cpo, _, station) in cpos) await api.PostQuarterReadingsAsync(cpo, station, windowStart, 4.5m);
            market.Clock.SetTo(windowStart.AddHours(1).AddMinutes(5));
            var settled = await api.WaitForStateAsync(request, dso, "Settled");
            Assert.Equal(Enumerable.Repeat("500000", 5), settled["settlements"]!.AsArray().Select(s => s!["payoutUnits"]!.GetValue<string>()));
            Assert.Equal(before.Select((b, i) => i == 0 ? b - 2_500_000 : b + 500_000), await balances());
            var cycle = await Poll.UntilAsync(() => api.GetAsync($"/v1/gate-cycles/{cycleId}", dso),
                c => c["state"]!.GetValue<string>() == "Settled", TimeSpan.FromSeconds(60), $"gate cycle {cycleId} finishing");
            Assert.All(cycle["escrowBatches"]!.AsArray(), b => Assert.NotNull(b!["settleTransactionHash"]));
        }
        finally
        {
            await app.DisposeAsync();
            await storage.DisposeAsync();
            await chain.DisposeAsync();
        }
    }
}
