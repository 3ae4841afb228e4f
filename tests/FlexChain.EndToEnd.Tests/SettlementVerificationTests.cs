using System.Net;
using System.Text.Json.Nodes;
using FlexChain.Ethereum;
using FlexChain.Testing;
using FlexChain.Verification;
using FlexChain.Verification.Cli;

namespace FlexChain.EndToEnd.Tests;

/// <summary>
/// A wallet holder checks settled payments: the verification library and the <c>flexchain-verify</c> command against
/// the real Hardhat chain and the app's published records, and a tampered record caught.
/// </summary>
[Collection(MarketCollection.Name)]
public sealed class SettlementVerificationTests(MarketFixture market)
{
    private readonly MarketClient _api = new(market.Client);

    [Fact]
    public async Task SettledCycle_VerifiedByAwardTransactionAndWallet_TamperedRecordIsNot()
    {
        var (settlements, fromBlock) = await SettleTwoAwardCycleAsync();
        var awardIds = settlements.Select(s => Hash32.Parse(s["awardId"]!.GetValue<string>())).ToList();
        var tx = Hash32.Parse(settlements[0]["transactionHash"]!.GetValue<string>());
        var verifier = new PaymentVerifier(new JsonRpcEscrowChain(market.Web3, market.Settlement), new HttpPublishedRecords(market.Client, market.Client.BaseAddress!));

        // By award (settlement) id, by the settling transaction (one per cycle: both awards), by each party's wallet.
        foreach (var id in awardIds)
            AssertVerified(Assert.Single(await verifier.VerifyAwardAsync(id, default)));
        var byTx = await verifier.VerifyTransactionAsync(tx, default);
        Assert.Equal(awardIds, byTx.Select(v => v.AwardId!.Value));
        Assert.All(byTx, v => AssertVerified(v));
        var byCpoA = await verifier.VerifyWalletAsync(MarketFixture.CpoAWallet, fromBlock, default);
        Assert.Equal(awardIds[0], AssertVerified(Assert.Single(byCpoA)).AwardId);
        var byDso = await verifier.VerifyWalletAsync(MarketFixture.DsoWallet, fromBlock, default);
        Assert.Equal(awardIds, byDso.Select(v => AssertVerified(v).AwardId!.Value));
        Assert.Equal(new System.Numerics.BigInteger(2_250_000), byCpoA[0].Payment!.Paid);

        // The same record with one field altered after fetching it: its hash no longer matches the one on chain.
        var published = await PublishedAsync(awardIds[0]);
        published["settlement"]!["deliveredWh"] = 10_000;
        var tampered = new PaymentVerifier(new JsonRpcEscrowChain(market.Web3, market.Settlement), new FixedRecords(PublishedSettlementJson.Parse(published)));
        var verdict = Assert.Single(await tampered.VerifyAwardAsync(awardIds[0], default));
        Assert.False(verdict.Verified);
        var failure = Assert.Single(verdict.Failures);
        Assert.Equal(VerificationCheck.SettlementHash, failure.Check);
        Assert.Contains("the event's settlementHash is " + settlements[0]["recordHash"]!.GetValue<string>(), failure.Reason);

        // An award list altered in the published cycle: the escrow's commitment catches it.
        published = await PublishedAsync(awardIds[0]);
        published["cycleAwards"]![1]!["lockedUnits"] = "9999999";
        verdict = Assert.Single(await new PaymentVerifier(new JsonRpcEscrowChain(market.Web3, market.Settlement),
            new FixedRecords(PublishedSettlementJson.Parse(published))).VerifyAwardAsync(awardIds[0], default));
        Assert.Equal([VerificationCheck.CycleCommitment, VerificationCheck.CycleCommitment], verdict.Failures.Select(f => f.Check));

        // The command line: records from the in-process app, everything else from the node.
        var (output, error) = (new StringWriter(), new StringWriter());
        string[] args = ["--rpc", market.Chain.RpcUri.ToString(), "--escrow", market.Settlement.ToString(), "--api", market.Client.BaseAddress!.ToString(), "--tx", tx.ToString()];
        var wrongChain = new StringWriter();
        Assert.Equal(VerifyCommand.NotVerified, await VerifyCommand.RunAsync([.. args, "--chain-id", "1"], new StringWriter(), wrongChain, market.Client, default));
        Assert.Contains("the node is on chain id 31337, but chain id 1 is configured", wrongChain.ToString());
        Assert.Equal(VerifyCommand.AllVerified, await VerifyCommand.RunAsync([.. args, "--chain-id", "31337"], output, error, market.Client, default));
        var lines = output.ToString().Split(Environment.NewLine, StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(["VERIFIED award " + awardIds[0], "VERIFIED award " + awardIds[1]], lines[..2].Select(l => l[..(15 + 66)]));
        Assert.Contains("paid 2.25 refunded 0.25", lines[0]);
        Assert.StartsWith($"VERIFIED award {awardIds[0]} (paid) request", lines[0], StringComparison.Ordinal);
        Assert.StartsWith("2 of 2 payment(s) verified", lines[2]);
        Assert.Empty(error.ToString());
        var unknown = EscrowIds.Award(EscrowIds.Cycle("rq_never"), 0).ToString();
        Assert.Equal(VerifyCommand.NotVerified, await VerifyCommand.RunAsync([.. args[..6], "--award", unknown], output, error, market.Client, default));

        // The server-side convenience verifier agrees.
        var verify = await GetJsonAsync($"/v1/verify?wallet={MarketFixture.CpoBWallet}&fromBlock={fromBlock}");
        Assert.True(verify["verified"]!.GetValue<bool>());
        Assert.Equal(awardIds[1].ToString(), Assert.Single(verify["payments"]!.AsArray())!["awardId"]!.GetValue<string>());
        Assert.NotNull(verify["payments"]![0]!["status"]);
        verify = await GetJsonAsync($"/v1/verify?awardId={unknown}");
        Assert.False(verify["verified"]!.GetValue<bool>());
        Assert.Equal("Event", verify["payments"]![0]!["failures"]![0]!["check"]!.GetValue<string>());
    }

    [Theory]
    [InlineData("/v1/settlements/0x1234", 400, "awardId")]
    [InlineData("/v1/verify", 400, "awardId")]
    [InlineData("/v1/verify?awardId=0x00&tx=0x00", 400, "tx")]
    [InlineData("/v1/verify?wallet=0xnotanaddress", 400, "wallet")]
    [InlineData("/v1/verify?tx=abc", 400, "tx")]
    public async Task PublishedRecords_BadIds_AreProblemsNamingTheField(string path, int status, string field)
    {
        using var response = await _api.SendAsync(HttpMethod.Get, path, null, null);

        Assert.Equal((HttpStatusCode)status, response.StatusCode);
        var problem = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
        Assert.Equal(field, problem["field"]!.GetValue<string>());
    }

    [Fact]
    public async Task PublishedRecords_UnknownAward_IsNotFound()
    {
        using var response = await _api.SendAsync(HttpMethod.Get, $"/v1/settlements/{EscrowIds.Award(EscrowIds.Cycle("rq_never"), 0)}", null, null);

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
    }

    private static PaymentVerdict AssertVerified(PaymentVerdict v)
    {
        Assert.True(v.Verified, v.Describe(6));
        return v;
    }

    private async Task<JsonObject> PublishedAsync(Hash32 awardId) => await GetJsonAsync($"/v1/settlements/{awardId}");

    /// <summary>An anonymous GET: published settlements need no API key.</summary>
    private async Task<JsonObject> GetJsonAsync(string path)
    {
        using var response = await _api.SendAsync(HttpMethod.Get, path, null, null);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, text);
        return JsonNode.Parse(text)!.AsObject();
    }

    /// <summary>
    /// One request of 15 kWh won by two CPOs (A: 10 kWh at 0.25, B: 5 kWh at 0.30), delivered (A 9 kWh, B 5 kWh) and
    /// settled on chain in one cycle, as the gate-cycle test drives it. Returns the published settlements and the
    /// block before the cycle was locked.
    /// </summary>
    private async Task<(IReadOnlyList<JsonNode> Settlements, ulong FromBlock)> SettleTwoAwardCycleAsync()
    {
        var t0 = market.Clock.GetUtcNow();
        var (dso, cpoA, cpoB, transformer, stationA, stationB) =
            await _api.SmallMarketAsync("Verification", MarketFixture.DsoKey, MarketFixture.CpoAKey, MarketFixture.CpoBKey, "IT001E00000081", "IT001E00000082");
        var windowStart = t0.AddHours(2);
        var request = await _api.RequestAsync(dso, transformer, t0.AddHours(1), windowStart, kwh: 15m);
        await _api.PostAsync($"/v1/requests/{request}/offers", cpoA, new { stationIds = new[] { stationA }, energyKwh = 10m, priceEurPerKwh = 0.25m, divisible = false });
        await _api.PostAsync($"/v1/requests/{request}/offers", cpoB, new { stationIds = new[] { stationB }, energyKwh = 5m, priceEurPerKwh = 0.30m, divisible = false });
        var fromBlock = (ulong)(await market.Web3.Eth.Blocks.GetBlockNumber.SendRequestAsync()).Value;

        market.Clock.SetTo(t0.AddHours(1));
        Assert.Equal(2, (await _api.WaitForStateAsync(request, dso, "Awarded"))["awards"]!.AsArray().Count);
        market.Clock.SetTo(windowStart);
        await _api.PostQuarterReadingsAsync(cpoA, stationA, windowStart.AddHours(-1), 5m);
        await _api.PostQuarterReadingsAsync(cpoB, stationB, windowStart.AddHours(-1), 5m);
        market.Clock.SetTo(windowStart.AddHours(1));
        await _api.PostQuarterReadingsAsync(cpoA, stationA, windowStart, 2.75m);
        await _api.PostQuarterReadingsAsync(cpoB, stationB, windowStart, 3.75m);
        market.Clock.SetTo(windowStart.AddHours(1).AddMinutes(5));
        var settled = await _api.WaitForStateAsync(request, dso, "Settled");
        var settlements = settled["settlements"]!.AsArray().Select(s => s!).ToList();
        Assert.Equal(["2250000", "1500000"], settlements.Select(s => s["payoutUnits"]!.GetValue<string>()));
        return (settlements, fromBlock);
    }

    [Fact]
    public async Task LockedCycle_NotSettledYet_IsPendingOnTheNode()
    {
        // Locked on the real node by the operator's ledger, never settled: the award is pending, which is no failure.
        using var ledger = new FlexChain.Functions.Settlement.SettlementLedger(Microsoft.Extensions.Options.Options.Create(new FlexChain.Functions.Settlement.SettlementOptions
            {
                RpcUrl = market.Chain.RpcUri.ToString(), ChainId = (long)HardhatNodeFixture.ChainId, SettlementContract = market.Settlement.ToString(),
                OperatorKey = MarketFixture.OperatorKey, RegistrarKey = MarketFixture.RegistrarKey,
            }),
            new Azure.Storage.Blobs.BlobServiceClient(market.StorageConnectionString), Microsoft.Extensions.Logging.Abstractions.NullLogger<FlexChain.Functions.Hosting.ExclusiveLease>.Instance);
        await ledger.InitializeAsync(default);
        var cycleId = EscrowIds.Cycle("pending/" + Guid.NewGuid().ToString("N"));
        var delivery = market.Clock.GetUtcNow().AddDays(1);
        var award = new AwardRecord(EscrowIds.Award(cycleId, 0), MarketFixture.DsoWallet, MarketFixture.CpoAWallet, 1_000, 250_000, 250,
            delivery.ToUnixTimeSeconds(), delivery.AddHours(1).ToUnixTimeSeconds(), Hash32.Zero);
        var consent = DsoConsent.Sign(MarketFixture.DsoKey.Key, (long)HardhatNodeFixture.ChainId, market.Settlement, cycleId, 250, delivery.AddDays(1).ToUnixTimeSeconds(),
            new System.Numerics.BigInteger(System.Security.Cryptography.RandomNumberGenerator.GetBytes(16), isUnsigned: true));
        Assert.NotNull(Assert.Single(await ledger.LockCyclesAsync([new(cycleId, [award], delivery.AddDays(1), [consent.Draw(250)])], default)).Transaction);

        var verdict = Assert.Single(await new PaymentVerifier(new JsonRpcEscrowChain(market.Web3, market.Settlement),
            new HttpPublishedRecords(market.Client, market.Client.BaseAddress!)).VerifyAwardAsync(award.AwardId, default));

        Assert.Equal((PaymentStatus.Pending, true), (verdict.Status!.Value, verdict.Verified));
        var (output, error) = (new StringWriter(), new StringWriter());
        Assert.Equal(VerifyCommand.AllVerified, await VerifyCommand.RunAsync(["--rpc", market.Chain.RpcUri.ToString(), "--escrow", market.Settlement.ToString(),
            "--api", market.Client.BaseAddress!.ToString(), "--award", award.AwardId.ToString()], output, error, market.Client, default));
        Assert.StartsWith($"VERIFIED award {award.AwardId} (pending)", output.ToString(), StringComparison.Ordinal);
    }

    private sealed class FixedRecords(PublishedSettlement published) : IPublishedRecords
    {
        public Task<PublishedSettlement?> GetAsync(Hash32 awardId, CancellationToken cancellationToken) =>
            Task.FromResult<PublishedSettlement?>(published.Award.AwardId == awardId ? published : null);
    }
}
