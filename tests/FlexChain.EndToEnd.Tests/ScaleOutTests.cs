using System.Numerics;
using FlexChain.Ethereum;
using FlexChain.Verification;

namespace FlexChain.EndToEnd.Tests;

/// <summary>Two app instances on the same storage and chain, both running the gate timer, as when the platform scales out.</summary>
[Collection(MarketCollection.Name)]
public sealed class ScaleOutTests(MarketFixture market)
{
    // Hardhat accounts #7, #8 and #9 (funded and approved by the deploy script; no other test uses them).
    private static readonly Wallet Dso = new Wallet("0x4bbbf85ce3377467afe5d46f804f221813b2bb87f24d81f60f1fcdbf7cbf4356");
    private static readonly Wallet CpoA = new Wallet("0xdbda1821b80551c9d65939329250298aa3472ba22feea921c0cf5d620ea67b97");
    private static readonly Wallet CpoB = new Wallet("0x2a871d0798f97d79848a013d4936a73bf4cc922c825d33c1cf7073dff6d409c6");

    [Fact]
    public async Task GateCycle_TwoInstances_LockAndPayEveryAwardExactlyOnce()
    {
        await using var second = market.NewInstance();
        using var secondClient = second.CreateClient(); // starts the second instance and its gate timer
        var api = new MarketClient(market.Client);
        var t0 = market.Clock.GetUtcNow();
        var dso = await api.RegisterAsync("Dso", "Scale-out DSO", Dso);
        var cpoA = await api.RegisterAsync("Cpo", "Scale-out CPO A", CpoA);
        var cpoB = await api.RegisterAsync("Cpo", "Scale-out CPO B", CpoB);
        var transformer = await api.TransformerAsync(dso);
        var stationsA = new List<string>();
        var stationsB = new List<string>();
        var requests = new List<string>();
        var windowStart = t0.AddHours(2);
        for (var i = 0; i < 4; i++)
        {
            // Each request needs 10 kWh; A offers 6 at 0.20, B offers 6 at 0.30: A wins 6, B the remaining 4 (divisible).
            stationsA.Add(await api.StationAsync(cpoA, transformer, $"IT001E7000000{i}"));
            stationsB.Add(await api.StationAsync(cpoB, transformer, $"IT001E8000000{i}"));
            var request = await api.RequestAsync(dso, transformer, t0.AddHours(1), windowStart);
            await api.PostAsync($"/v1/requests/{request}/offers", cpoA, new { stationIds = new[] { stationsA[i] }, energyKwh = 6m, priceEurPerKwh = 0.20m, divisible = true });
            await api.PostAsync($"/v1/requests/{request}/offers", cpoB, new { stationIds = new[] { stationsB[i] }, energyKwh = 6m, priceEurPerKwh = 0.30m, divisible = true });
            requests.Add(request);
        }
        var before = await BalancesAsync();
        var fromBlock = (ulong)(await market.Web3.Eth.Blocks.GetBlockNumber.SendRequestAsync()).Value;

        market.Clock.SetTo(t0.AddHours(1));
        foreach (var r in requests) await api.WaitForStateAsync(r, dso, "Awarded");
        market.Clock.SetTo(windowStart);
        for (var i = 0; i < 4; i++)
        {
            // Both deliver in full: baseline 5 kWh per quarter; A consumes 3.5 (6 kWh less), B 4 (4 kWh less).
            await api.PostQuarterReadingsAsync(cpoA, stationsA[i], windowStart.AddHours(-1), 5m);
            await api.PostQuarterReadingsAsync(cpoB, stationsB[i], windowStart.AddHours(-1), 5m);
        }
        market.Clock.SetTo(windowStart.AddHours(1));
        for (var i = 0; i < 4; i++)
        {
            await api.PostQuarterReadingsAsync(cpoA, stationsA[i], windowStart, 3.5m);
            await api.PostQuarterReadingsAsync(cpoB, stationsB[i], windowStart, 4m);
        }
        market.Clock.SetTo(windowStart.AddHours(1).AddMinutes(5));
        foreach (var r in requests) await api.WaitForStateAsync(r, dso, "Settled");

        // The four requests close in one gate cycle with one DSO and one delivery end: one escrow batch of 8 awards, so
        // exactly one lock and one settlement on chain, one payment per award, whichever instance sent them.
        var locks = await market.LogsAsync<CycleLockedEvent>(fromBlock);
        var settles = await market.LogsAsync<CycleSettledEvent>(fromBlock);
        var payments = await market.LogsAsync<AwardSettledEvent>(fromBlock);
        var dsoTopic = EscrowTopics.Of(Dso.Address);
        Assert.Equal(1, locks.Count(l => l.Topic(2) == dsoTopic));
        Assert.Equal(1, settles.Count(l => l.Topic(2) == dsoTopic));
        var mine = payments.Where(l => l.Topic(3) == dsoTopic).ToList();
        Assert.Equal(8, mine.Count);
        Assert.Equal(8, mine.Select(l => l.Topic(1)).Distinct().Count());

        // Each request pays A 6 x 0.20 = 1.2 and B 4 x 0.30 = 1.2 tEUR: 4.8 tEUR to each CPO in all, from the DSO.
        var after = await BalancesAsync();
        Assert.Equal(before.Dso - 9_600_000, after.Dso);
        Assert.Equal(before.A + 4_800_000, after.A);
        Assert.Equal(before.B + 4_800_000, after.B);
    }

    private async Task<(BigInteger Dso, BigInteger A, BigInteger B)> BalancesAsync() =>
        (await market.TokenBalanceAsync(Dso.Address), await market.TokenBalanceAsync(CpoA.Address), await market.TokenBalanceAsync(CpoB.Address));
}
