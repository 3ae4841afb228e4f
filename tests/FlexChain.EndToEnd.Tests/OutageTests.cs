using System.Net;
using System.Text.Json.Nodes;
using FlexChain.Ethereum;
using FlexChain.Testing;
using FlexChain.Verification;
using Nethereum.Contracts;

namespace FlexChain.EndToEnd.Tests;

/// <summary>
/// The chain node and, separately, the storage emulator go away for 30 s in the middle of a gate cycle: the cycle
/// still completes with exactly one lock and one payment, and during the storage outage the API answers 503 problems.
/// </summary>
[Collection(MarketCollection.Name)]
public sealed class OutageTests(MarketFixture market)
{

    private readonly MarketClient _api = new(market.Client);

    private async Task<(Caller Dso, Caller Cpo, string Station, string Request, DateTimeOffset Start)> CycleAsync(string name)
    {
        var t0 = market.Clock.GetUtcNow();
        var dso = await _api.RegisterAsync("Dso", name + " DSO", MarketFixture.DsoKey);
        var cpo = await _api.RegisterAsync("Cpo", name + " CPO", MarketFixture.CpoAKey);
        var transformer = await _api.TransformerAsync(dso);
        var station = await _api.StationAsync(cpo, transformer, "IT001E00000071");
        var start = t0.AddHours(2);
        var request = await _api.RequestAsync(dso, transformer, t0.AddHours(1), start, kwh: 4m);
        await _api.PostAsync($"/v1/requests/{request}/offers", cpo, new { stationIds = new[] { station }, energyKwh = 4m, priceEurPerKwh = 0.25m, divisible = false });
        return (dso, cpo, station, request, start);
    }

    /// <summary>Delivers in full (baseline 5, measured 4 kWh per quarter hour) and waits until the cycle is settled.</summary>
    private async Task DeliverAndSettleAsync(Caller dso, Caller cpo, string station, string request, DateTimeOffset start)
    {
        market.Clock.SetTo(start);
        await _api.PostQuarterReadingsAsync(cpo, station, start.AddHours(-1), 5m);
        market.Clock.SetTo(start.AddHours(1));
        await _api.PostQuarterReadingsAsync(cpo, station, start, 4m);
        market.Clock.SetTo(start.AddHours(1).AddMinutes(5));
        await _api.WaitForStateAsync(request, dso, "Settled");
    }

    private async Task AssertExactlyOnceAsync(string request, Caller dso, ulong fromBlock)
    {
        var cycle = Hash32.Parse((await _api.GetAsync($"/v1/requests/{request}", dso))["awards"]![0]!["record"]!["awardId"]!.GetValue<string>());
        var cycleTopic = EscrowIds.CycleOf(cycle);
        var locks = await market.LogsAsync<CycleLockedEvent>(fromBlock, cycleTopic);
        var payments = await market.LogsAsync<AwardSettledEvent>(fromBlock, cycle);
        Assert.Single(locks);
        Assert.Single(payments);
        Assert.Equal(new System.Numerics.BigInteger(1_000_000), payments[0].DecodeEvent<AwardSettledEvent>().Event.Paid); // 4 kWh x 0.25
    }

    [Fact]
    public async Task GateCycle_ChainNodeSilentFor30SecondsAtGateClosure_CompletesExactlyOnce()
    {
        var (dso, cpo, station, request, start) = await CycleAsync("Chain outage");
        var fromBlock = (ulong)(await market.Web3.Eth.Blocks.GetBlockNumber.SendRequestAsync()).Value;
        await market.Chain.SuspendAsync();
        try
        {
            market.Clock.SetTo(start.AddHours(-1)); // gate closes while the node is gone: clearing works, the escrow lock waits
            await Task.Delay(TimeSpan.FromSeconds(30)); // the outage itself, not a wait for a condition
            Assert.Equal("Cleared", (await _api.GetAsync($"/v1/requests/{request}", dso))["state"]!.GetValue<string>());
        }
        finally
        {
            await market.Chain.ResumeAsync();
        }
        await _api.WaitForStateAsync(request, dso, "Awarded");
        await DeliverAndSettleAsync(dso, cpo, station, request, start);
        await AssertExactlyOnceAsync(request, dso, fromBlock);
    }

    [Fact]
    public async Task GateCycle_StorageDownFor30SecondsAtGateClosure_Answers503AndCompletesExactlyOnce()
    {
        var (dso, cpo, station, request, start) = await CycleAsync("Storage outage");
        var fromBlock = (ulong)(await market.Web3.Eth.Blocks.GetBlockNumber.SendRequestAsync()).Value;
        await market.Storage.StopAsync();
        try
        {
            market.Clock.SetTo(start.AddHours(-1));
            var outageEnds = DateTime.UtcNow + TimeSpan.FromSeconds(30);
            var answers = 0;
            while (DateTime.UtcNow < outageEnds)
            {
                using var response = await _api.SendAsync(HttpMethod.Get, $"/v1/requests/{request}", dso, null);
                Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
                Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
                Assert.Equal("unavailable", JsonNode.Parse(await response.Content.ReadAsStringAsync())!["rule"]!.GetValue<string>());
                answers++;
            }
            Assert.True(answers > 0);
        }
        finally
        {
            await market.Storage.StartAsync();
        }
        await _api.WaitForStateAsync(request, dso, "Awarded");
        await DeliverAndSettleAsync(dso, cpo, station, request, start);
        await AssertExactlyOnceAsync(request, dso, fromBlock);
    }

    [Fact]
    public async Task GateCycle_MessageServiceRefusesSendsAtSettlement_CycleWaitsUntilTheAnnouncementIsOut()
    {
        var (dso, cpo, station, request, start) = await CycleAsync("Queue outage");
        var fromBlock = (ulong)(await market.Web3.Eth.Blocks.GetBlockNumber.SendRequestAsync()).Value;
        market.Clock.SetTo(start.AddHours(-1));
        var cycle = (await _api.WaitForStateAsync(request, dso, "Awarded"))["gateCycleId"]!.GetValue<string>();
        var tables = new Azure.Data.Tables.TableServiceClient(market.StorageConnectionString);
        var settled = $"{request}:Settled";
        async Task<bool> Dispatched() => await tables.GetTableClient("requests")
            .GetEntityIfExistsAsync<Azure.Data.Tables.TableEntity>(request, FlexChain.Messaging.Outbox.OutboxBatch.RowKeyFor(settled)) is { HasValue: true } row
            && row.Value!.GetBoolean("Dispatched") == true;
        async Task<string> CycleState() => (await _api.GetAsync($"/v1/gate-cycles/{cycle}", dso))["state"]!.GetValue<string>();

        market.MessageSendsRefused = true;
        try
        {
            // Payment and the request's state are saved, but the cycle must not finish while its announcement is unsent.
            await DeliverAndSettleAsync(dso, cpo, station, request, start);
            await Task.Delay(TimeSpan.FromSeconds(5)); // several gate ticks retry the step during the outage
            Assert.False(await Dispatched());
            Assert.Equal("Awarded", await CycleState());
        }
        finally
        {
            market.MessageSendsRefused = false;
        }
        await Poll.UntilAsync(CycleState, state => state == "Settled", TimeSpan.FromSeconds(30), $"gate cycle {cycle} settling");
        Assert.True(await Dispatched());
        var consumer = new FlexChain.Messaging.Outbox.IdempotentConsumer(
            tables.GetTableClient(FlexChain.Functions.Hosting.LocalTriggerDriver.ProcessedTable), "RequestEvents");
        await Poll.UntilAsync(() => consumer.HasProcessedAsync(settled), done => done, TimeSpan.FromSeconds(30), $"RequestEvents consuming {settled}");
        await AssertExactlyOnceAsync(request, dso, fromBlock);
    }
}
