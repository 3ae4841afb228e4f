using System.Security.Cryptography;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Azure.Storage.Blobs;
using FlexChain.Domain;
using FlexChain.Ethereum;
using FlexChain.Functions.Settlement;
using FlexChain.Testing;
using FlexChain.Verification;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Nethereum.Contracts;
using Nethereum.RPC.Eth.DTOs;
using Nethereum.Web3.Accounts;

namespace FlexChain.EndToEnd.Tests;

/// <summary>The settlement ledger on the real Hardhat node: the configured chain id, the payee list, and a restart after a lost broadcast.</summary>
[Collection(MarketCollection.Name)]
public sealed class SettlementChainTests(MarketFixture market)
{
    private readonly string _operator = new Account(MarketFixture.OperatorKey).Address;

    private SettlementLedger Ledger() => Ledger(market.Chain.RpcUri, market.Settlement, market.StorageConnectionString);

    private static SettlementLedger Ledger(Uri rpc, EthAddress escrow, string storage, int confirmations = 1, ChainFinality finality = ChainFinality.Confirmations) => new(
        Options.Create(new SettlementOptions
        {
            RpcUrl = rpc.ToString(), ChainId = (long)HardhatNodeFixture.ChainId, SettlementContract = escrow.ToString(),
            OperatorKey = MarketFixture.OperatorKey, RegistrarKey = MarketFixture.RegistrarKey, Confirmations = confirmations, Finality = finality,
        }),
        new BlobServiceClient(storage), NullLogger<FlexChain.Functions.Hosting.ExclusiveLease>.Instance);

    private readonly string _registrar = new Account(MarketFixture.RegistrarKey).Address;

    private async Task<System.Numerics.BigInteger> NonceAsync(BlockParameter block, string? account = null) =>
        (await market.Web3.Eth.Transactions.GetTransactionCount.SendRequestAsync(account ?? _operator, block)).Value;

    private static EthAddress NewWallet() => EthAddress.Parse(Nethereum.Signer.EthECKey.GenerateKey().GetPublicAddress());

    /// <summary>A cycle of one 250-unit award to <paramref name="cpo"/>, with its DSO's consent (by default the funded DSO's, valid until after delivery).</summary>
    private SettlementLedger.CycleLock OneAwardCycle(string label, EthAddress cpo, Wallet? dso = null, long? consentDeadline = null, TimeSpan? refundAfterDelivery = null)
    {
        dso ??= MarketFixture.DsoKey;
        var cycleId = EscrowIds.Cycle(label + "/" + Guid.NewGuid().ToString("N"));
        var delivery = market.Clock.GetUtcNow().AddDays(1);
        var award = new AwardRecord(EscrowIds.Award(cycleId, 0), dso.Address, cpo, 1_000, 250_000, 250,
            delivery.ToUnixTimeSeconds(), delivery.AddHours(1).ToUnixTimeSeconds(), Hash32.Zero);
        // The DSO's consent for the 250 units (any request hash: the escrow checks the signature, not the request).
        var consent = DsoConsent.Sign(dso.Key, (long)HardhatNodeFixture.ChainId, market.Settlement, cycleId, 250,
            consentDeadline ?? delivery.AddDays(1).ToUnixTimeSeconds(), new System.Numerics.BigInteger(System.Security.Cryptography.RandomNumberGenerator.GetBytes(16), isUnsigned: true));
        return new SettlementLedger.CycleLock(cycleId, [award], delivery + (refundAfterDelivery ?? TimeSpan.FromDays(1)), [consent.Draw(250)]);
    }

    [Fact]
    public async Task LockCycles_OneDsoCannotFundItsCycle_ItIsRefusedWithTheReasonAndTheOthersAreLocked()
    {
        using var ledger = Ledger();
        await ledger.InitializeAsync(CancellationToken.None);
        var unfunded = new Wallet(Nethereum.Signer.EthECKey.GenerateKey().GetPrivateKey()); // no tokens, no allowance
        var refused = OneAwardCycle("unfunded", MarketFixture.CpoAWallet, unfunded);
        var funded = OneAwardCycle("funded", MarketFixture.CpoAWallet);
        var expired = OneAwardCycle("expired-consent", MarketFixture.CpoAWallet, consentDeadline: 1);
        var nonceBefore = await NonceAsync(BlockParameter.CreateLatest());

        var outcomes = await ledger.LockCyclesAsync([refused, funded, expired], CancellationToken.None);

        Assert.Equal(new SettlementLedger.LockOutcome(null, $"allowance: the DSO's wallet {unfunded.Address} allows the escrow 0 token units; the batch needs 250"), outcomes[0]);
        Assert.Null(outcomes[1].FundingFailure);
        Assert.StartsWith("0x", outcomes[1].Transaction, StringComparison.Ordinal);
        Assert.Null(outcomes[2].Transaction);
        Assert.StartsWith("consent-expired: the consent for request hash " + expired.CycleId + " expired at 1970-01-01T00:00:01", outcomes[2].FundingFailure, StringComparison.Ordinal);
        Assert.Equal([CycleStatus.None, CycleStatus.Locked, CycleStatus.None],
            await Task.WhenAll(new[] { refused, funded, expired }.Select(async c => (await ledger.GetCycleAsync(c.CycleId, CancellationToken.None)).Status)));
        Assert.Equal(nonceBefore + 1, await NonceAsync(BlockParameter.CreateLatest())); // the refused ones were never sent
    }

    [Fact]
    public async Task LockAndSettle_EighteenDecimalToken_AmountsBeyond64BitsAreExactToTheUnit()
    {
        // A chain and storage of their own, with the token deployed at 18 decimals like EURe; the decimals are read from the token.
        var chain = new HardhatNodeFixture();
        var storage = new AzuriteFixture();
        await Task.WhenAll(chain.InitializeAsync(), storage.InitializeAsync());
        try
        {
            var deployment = await MarketFixture.DeployAsync(chain.RpcUri, tokenDecimals: 18);
            var escrow = EthAddress.Parse(deployment.GetProperty("settlement").GetString()!);
            var token = EthAddress.Parse(deployment.GetProperty("token").GetString()!);
            using var ledger = Ledger(chain.RpcUri, escrow, storage.ConnectionString);
            await ledger.InitializeAsync(CancellationToken.None);
            Assert.Equal(18, ledger.Info.TokenDecimals);

            // 4,938.271 kWh at 0.25 EUR/kWh = 1,234.56775 EUR: 1.23e21 units, far beyond 2^64 (about 18.4 EUR at 18 decimals).
            var locked = (KilowattHours.From(4938.271m) * EurosPerKilowattHour.From(0.25m)).ToTokenUnits(ledger.Info.TokenDecimals);
            Assert.Equal(System.Numerics.BigInteger.Parse("1234567750000000000000", System.Globalization.CultureInfo.InvariantCulture), locked);
            var cycleId = EscrowIds.Cycle("eure/" + Guid.NewGuid().ToString("N"));
            var delivery = market.Clock.GetUtcNow().AddDays(1);
            var award = new AwardRecord(EscrowIds.Award(cycleId, 0), MarketFixture.DsoWallet, MarketFixture.CpoAWallet, 4_938_271, 250_000, locked,
                delivery.ToUnixTimeSeconds(), delivery.AddHours(1).ToUnixTimeSeconds(), Hash32.Zero);
            var consent = DsoConsent.Sign(MarketFixture.DsoKey.Key, (long)HardhatNodeFixture.ChainId, escrow, cycleId, locked, delivery.AddDays(1).ToUnixTimeSeconds(), 1);
            var web3 = new Nethereum.Web3.Web3(chain.RpcUri.AbsoluteUri);
            var (dsoBefore, cpoBefore) = (await MarketFixture.TokenBalanceAsync(web3, token, MarketFixture.DsoWallet), await MarketFixture.TokenBalanceAsync(web3, token, MarketFixture.CpoAWallet));

            var lockOutcome = Assert.Single(await ledger.LockCyclesAsync(
                [new SettlementLedger.CycleLock(cycleId, [award], delivery.AddDays(1), [consent.Draw(locked)])], CancellationToken.None));
            Assert.Null(lockOutcome.FundingFailure);
            Assert.Equal(dsoBefore - locked, await MarketFixture.TokenBalanceAsync(web3, token, MarketFixture.DsoWallet));

            // 4,000 kWh delivered: 1,000 EUR paid, 234.56775 EUR back to the DSO, each to the unit.
            var payout = (KilowattHours.From(4000m) * EurosPerKilowattHour.From(0.25m)).ToTokenUnits(ledger.Info.TokenDecimals);
            var settlement = new SettlementRecord(award.AwardId, 4_938_271, 9_000_000, 4_061_729, 4_000_000, true, payout, locked);
            var settleOutcome = Assert.Single(await ledger.SettleCyclesAsync(
                [new SettlementLedger.CycleSettlement(cycleId, [award], [settlement])], CancellationToken.None));

            Assert.NotNull(settleOutcome.Transaction);
            Assert.Equal(cpoBefore + payout, await MarketFixture.TokenBalanceAsync(web3, token, MarketFixture.CpoAWallet));
            Assert.Equal(dsoBefore - payout, await MarketFixture.TokenBalanceAsync(web3, token, MarketFixture.DsoWallet));
            var paid = Assert.Single(await MarketFixture.LogsAsync<AwardSettledEvent>(web3, escrow, 0, award.AwardId)).DecodeEvent<AwardSettledEvent>().Event;
            Assert.Equal((payout, locked - payout, settlement.Hash()), (paid.Paid, paid.Refunded, new Hash32(paid.SettlementHash)));
        }
        finally
        {
            await chain.DisposeAsync();
            await storage.DisposeAsync();
        }
    }

    [Fact]
    public async Task SettleCycles_SettledOtherwiseThanTheseRecords_FailsNamingEachDifference()
    {
        using var ledger = Ledger();
        await ledger.InitializeAsync(CancellationToken.None);
        var cycle = OneAwardCycle("settled-otherwise", MarketFixture.CpoAWallet);
        Assert.NotNull(Assert.Single(await ledger.LockCyclesAsync([cycle], CancellationToken.None)).Transaction);
        var award = cycle.Awards[0];
        var paid = new SettlementRecord(award.AwardId, 1_000, 2_000, 1_200, 800, true, 200, 250);
        var settled = Assert.Single(await ledger.SettleCyclesAsync([new(cycle.CycleId, cycle.Awards, [paid])], CancellationToken.None));
        Assert.NotNull(settled.Transaction);

        // Records paying the same amount but differing in a measurement: the chain's AwardSettled does not match them.
        var other = paid with { MeasuredWh = 1_199 };
        var e = await Assert.ThrowsAsync<SettlementMismatchException>(() =>
            ledger.SettleCyclesAsync([new(cycle.CycleId, cycle.Awards, [other])], CancellationToken.None));

        Assert.Equal($"cycle {cycle.CycleId} was settled in {settled.Transaction} otherwise than its records: award {award.AwardId} paid 200 to " +
            $"{MarketFixture.CpoAWallet}, refunded 50, settlement hash {paid.Hash()}; its records say 200 to {MarketFixture.CpoAWallet}, refunded 50, " +
            $"settlement hash {other.Hash()}", e.Message);
    }

    [Fact]
    public async Task LockCycles_RevertForAnotherReasonThanFunding_FailsTheStep()
    {
        using var ledger = Ledger();
        await ledger.InitializeAsync(CancellationToken.None);
        var tooLate = OneAwardCycle("refund-after-out-of-bounds", MarketFixture.CpoAWallet, refundAfterDelivery: TimeSpan.FromDays(3650));

        var e = await Assert.ThrowsAsync<ContractRevertException>(() => ledger.LockCyclesAsync([tooLate], CancellationToken.None));

        Assert.Contains("execution reverted with error 0x", e.Message, StringComparison.Ordinal);
        Assert.Equal(CycleStatus.None, (await ledger.GetCycleAsync(tooLate.CycleId, CancellationToken.None)).Status);
    }

    [Fact]
    public async Task LockAndSettle_FinalityAtTheFinalizedTag_CountOnceTheNodesFinalizedBlockHasThem()
    {
        // Hardhat serves the "finalized" tag (as its latest block: it never reorganises), so this shows the reads, not a wait.
        using var ledger = Ledger(market.Chain.RpcUri, market.Settlement, market.StorageConnectionString, confirmations: 64, finality: ChainFinality.Finalized);
        await ledger.InitializeAsync(CancellationToken.None);
        var cycle = OneAwardCycle("finalized-tag", MarketFixture.CpoAWallet);

        var locked = Assert.Single(await ledger.LockCyclesAsync([cycle], CancellationToken.None));
        var settled = Assert.Single(await ledger.SettleCyclesAsync(
            [new(cycle.CycleId, cycle.Awards, [new SettlementRecord(cycle.Awards[0].AwardId, 1_000, 2_000, 1_000, 1_000, true, 250, 250)])], CancellationToken.None));

        // Done although 64 confirmations never came: the finalized block decided.
        Assert.NotNull(locked.Transaction);
        Assert.NotNull(settled.Transaction);
        var finalized = await market.Web3.Client.SendRequestAsync<BlockWithTransactionHashes>("eth_getBlockByNumber", null, "finalized", false);
        var receipt = await market.Web3.Eth.Transactions.GetTransactionReceipt.SendRequestAsync(settled.Transaction);
        Assert.True(finalized.Number.Value >= receipt.BlockNumber.Value);
        Assert.Equal(CycleStatus.Settled, (await ledger.GetCycleAsync(cycle.CycleId, CancellationToken.None)).Status);
    }

    /// <summary>A Hardhat node, Azurite and a deployment of their own (these tests revert or mine blocks), with one funded 250-unit award to CPO A.</summary>
    private sealed record OwnChain(Uri Rpc, EthAddress Escrow, EthAddress Token, string Storage, Nethereum.Web3.Web3 Web3,
        AwardRecord Award, SettlementLedger.CycleLock Lock, SettlementLedger.CycleSettlement Settlement);

    private async Task WithOwnChainAsync(Func<OwnChain, Task> test)
    {
        var chain = new HardhatNodeFixture();
        var storage = new AzuriteFixture();
        await Task.WhenAll(chain.InitializeAsync(), storage.InitializeAsync());
        try
        {
            var deployment = await MarketFixture.DeployAsync(chain.RpcUri);
            var escrow = EthAddress.Parse(deployment.GetProperty("settlement").GetString()!);
            var cycleId = EscrowIds.Cycle("own-chain/" + Guid.NewGuid().ToString("N"));
            var delivery = market.Clock.GetUtcNow().AddDays(1);
            var award = new AwardRecord(EscrowIds.Award(cycleId, 0), MarketFixture.DsoWallet, MarketFixture.CpoAWallet, 1_000, 250_000, 250,
                delivery.ToUnixTimeSeconds(), delivery.AddHours(1).ToUnixTimeSeconds(), Hash32.Zero);
            var consent = DsoConsent.Sign(MarketFixture.DsoKey.Key, (long)HardhatNodeFixture.ChainId, escrow, cycleId, 250, delivery.AddDays(1).ToUnixTimeSeconds(), 1);
            await test(new OwnChain(chain.RpcUri, escrow, EthAddress.Parse(deployment.GetProperty("token").GetString()!), storage.ConnectionString,
                new Nethereum.Web3.Web3(chain.RpcUri.AbsoluteUri), award,
                new SettlementLedger.CycleLock(cycleId, [award], delivery.AddDays(1), [consent.Draw(250)]),
                new SettlementLedger.CycleSettlement(cycleId, [award], [new SettlementRecord(award.AwardId, 1_000, 2_000, 0, 1_000, true, 250, 250)])));
        }
        finally
        {
            await chain.DisposeAsync();
            await storage.DisposeAsync();
        }
    }

    private async Task<System.Numerics.BigInteger> NonceAsync(OwnChain own) =>
        (await own.Web3.Eth.Transactions.GetTransactionCount.SendRequestAsync(_operator, BlockParameter.CreateLatest())).Value;

    [Fact]
    public Task LockAndSettle_ReorgRemovesTheLockBeforeItsConfirmations_LockedAgainAndPaidOnce() => WithOwnChainAsync(async own =>
    {
        var (web3, token, cycleId) = (own.Web3, own.Token, own.Lock.CycleId);
        using (var registering = Ledger(own.Rpc, own.Escrow, own.Storage))
        {
            await registering.InitializeAsync(CancellationToken.None);
            await registering.RegisterPayeesAsync([MarketFixture.CpoAWallet], CancellationToken.None);
        }
        using var ledger = Ledger(own.Rpc, own.Escrow, own.Storage, confirmations: 3);
        await ledger.InitializeAsync(CancellationToken.None);
        var (dsoBefore, cpoBefore) = (await MarketFixture.TokenBalanceAsync(web3, token, MarketFixture.DsoWallet), await MarketFixture.TokenBalanceAsync(web3, token, MarketFixture.CpoAWallet));
        var nonceBefore = await NonceAsync(own);

        var snapshot = await web3.Client.SendRequestAsync<string>("evm_snapshot");
        var locking = ledger.LockCyclesAsync([own.Lock], CancellationToken.None);
        await Poll.UntilAsync(() => ledger.GetCycleAsync(cycleId, CancellationToken.None), c => c.Status == CycleStatus.Locked, TimeSpan.FromSeconds(60), "the lock mined");
        Assert.False(locking.IsCompleted); // mined in one block: 1 of the 3 confirmations
        Assert.True(await web3.Client.SendRequestAsync<bool>("evm_revert", null, snapshot)); // a reorg takes the lock's block away
        Assert.Equal(CycleStatus.None, (await ledger.GetCycleAsync(cycleId, CancellationToken.None)).Status);

        var locked = Assert.Single(await MineUntilAsync(web3, locking));
        Assert.NotNull(locked.Transaction);
        Assert.Null(locked.FundingFailure);
        Assert.Equal(nonceBefore + 1, await NonceAsync(own));
        Assert.Single(await MarketFixture.LogsAsync<CycleLockedEvent>(web3, own.Escrow, 0, cycleId));
        Assert.Equal(dsoBefore - 250, await MarketFixture.TokenBalanceAsync(web3, token, MarketFixture.DsoWallet));

        var settled = Assert.Single(await MineUntilAsync(web3, ledger.SettleCyclesAsync([own.Settlement], CancellationToken.None)));
        Assert.NotNull(settled.Transaction);
        Assert.Equal(cpoBefore + 250, await MarketFixture.TokenBalanceAsync(web3, token, MarketFixture.CpoAWallet)); // paid once
        Assert.Equal(dsoBefore - 250, await MarketFixture.TokenBalanceAsync(web3, token, MarketFixture.DsoWallet));
    });

    [Fact]
    public Task SettleCycles_SettledByAnEarlierAttemptButNotYetConfirmed_CountsOnlyAtTheConfirmations() => WithOwnChainAsync(async own =>
    {
        using (var earlier = Ledger(own.Rpc, own.Escrow, own.Storage))
        {
            // An earlier attempt (here with 1 confirmation, as if it had died before its confirmations) locks and settles.
            await earlier.InitializeAsync(CancellationToken.None);
            await earlier.LockCyclesAsync([own.Lock], CancellationToken.None);
            await earlier.SettleCyclesAsync([own.Settlement], CancellationToken.None);
        }
        using var ledger = Ledger(own.Rpc, own.Escrow, own.Storage, confirmations: 3);
        await ledger.InitializeAsync(CancellationToken.None);
        var nonce = await NonceAsync(own);

        var settling = ledger.SettleCyclesAsync([own.Settlement], CancellationToken.None);
        // The settlement's block has 1 of 3 confirmations and no block comes: the step does not count it as done.
        await Task.WhenAny(settling, Task.Delay(TimeSpan.FromSeconds(3)));
        Assert.False(settling.IsCompleted);

        var settled = Assert.Single(await MineUntilAsync(own.Web3, settling));
        Assert.NotNull(settled.Transaction);
        Assert.Equal(nonce, await NonceAsync(own)); // nothing sent again
    });

    /// <summary>Mines a block at a time until <paramref name="step"/> (waiting for its confirmations) completes.</summary>
    private static async Task<T> MineUntilAsync<T>(Nethereum.Web3.IWeb3 web3, Task<T> step)
    {
        for (var blocks = 0; !step.IsCompleted && blocks < 600; blocks++)
        {
            await web3.Client.SendRequestAsync<string>("evm_mine");
            await Task.WhenAny(step, Task.Delay(200));
        }
        return await step;
    }

    /// <summary>
    /// Locks are sent with a gas limit from their size instead of an estimate (<see cref="SettlementLedger.LockGasLimit"/>):
    /// the costliest shapes of a batch (every award to a CPO the escrow has not seen in it, many consents) use less.
    /// </summary>
    [Theory]
    [InlineData(200, 20)]
    [InlineData(60, 60)]
    [InlineData(1, 1)]
    public async Task LockCycles_CostliestShapes_UseLessGasThanTheLimitTheyAreSentWith(int awards, int consents)
    {
        using var ledger = Ledger();
        await ledger.InitializeAsync(CancellationToken.None);
        var cycleId = EscrowIds.Cycle("gas/" + Guid.NewGuid().ToString("N"));
        var delivery = market.Clock.GetUtcNow().AddDays(1);
        var records = Enumerable.Range(0, awards).Select(i => new AwardRecord(EscrowIds.Award(cycleId, i), MarketFixture.DsoKey.Address, NewWallet(),
            1_000, 250_000, 250, delivery.ToUnixTimeSeconds(), delivery.AddHours(1).ToUnixTimeSeconds(), Hash32.Zero)).ToList();
        // The awards split as evenly as they go over the consents, each consent drawn for its share.
        var draws = Enumerable.Range(0, consents).Select(c => DsoConsent.Sign(MarketFixture.DsoKey.Key, (long)HardhatNodeFixture.ChainId, market.Settlement,
                EscrowIds.Cycle($"gas-consent/{cycleId}/{c}"), 250 * awards, delivery.AddDays(1).ToUnixTimeSeconds(), new System.Numerics.BigInteger(RandomNumberGenerator.GetBytes(16), isUnsigned: true))
            .Draw(250 * (awards / consents + (c < awards % consents ? 1 : 0)))).ToList();

        var locked = Assert.Single(await ledger.LockCyclesAsync([new SettlementLedger.CycleLock(cycleId, records, delivery.AddDays(1), draws)], CancellationToken.None));

        var receipt = await market.Web3.Eth.Transactions.GetTransactionReceipt.SendRequestAsync(locked.Transaction);
        Assert.Equal(1, (int)receipt.Status.Value);
        Assert.True(receipt.GasUsed.Value < SettlementLedger.LockGasLimit(awards, consents),
            $"{awards} awards under {consents} consents used {receipt.GasUsed.Value} gas; the limit is {SettlementLedger.LockGasLimit(awards, consents)}");
    }

    [Fact]
    public async Task RegisterPayees_UnlistedWallets_ListedInOneRegistrarTransactionAndNotAgain()
    {
        using var ledger = Ledger();
        await ledger.InitializeAsync(CancellationToken.None);
        var (a, b) = (NewWallet(), NewWallet());
        var before = await NonceAsync(BlockParameter.CreateLatest(), _registrar);

        await ledger.RegisterPayeesAsync([a, b, a], CancellationToken.None);
        await ledger.RegisterPayeesAsync([b, a], CancellationToken.None);

        Assert.True(await ledger.IsPayeeAsync(a, CancellationToken.None));
        Assert.True(await ledger.IsPayeeAsync(b, CancellationToken.None));
        Assert.Equal(before + 1, await NonceAsync(BlockParameter.CreateLatest(), _registrar));
    }

    [Fact]
    public async Task LockCycles_PayeeNotListedYet_IsListedByTheRegistrarThenLocked()
    {
        using var ledger = Ledger();
        await ledger.InitializeAsync(CancellationToken.None);
        var cpo = NewWallet();
        var cycle = OneAwardCycle("unlisted-payee", cpo);
        Assert.False(await ledger.IsPayeeAsync(cpo, CancellationToken.None));

        await ledger.LockCyclesAsync([cycle], CancellationToken.None);

        Assert.True(await ledger.IsPayeeAsync(cpo, CancellationToken.None));
        Assert.Equal(CycleStatus.Locked, (await ledger.GetCycleAsync(cycle.CycleId, CancellationToken.None)).Status);
    }

    [Fact]
    public void Startup_RegistrarKeySameAsOperatorKey_IsRefused()
    {
        using var factory = market.NewInstance(("Chain:RegistrarKey", MarketFixture.OperatorKey));

        var e = Assert.ThrowsAny<Exception>(() => factory.CreateClient());

        var refused = Assert.IsType<Microsoft.Extensions.Options.OptionsValidationException>(e is AggregateException a ? a.Flatten().InnerExceptions.Single() : e);
        Assert.Contains("Chain:RegistrarKey", refused.Message, StringComparison.Ordinal);
    }

    private Task SetAutomineAsync(bool on) => market.Web3.Client.SendRequestAsync<object>("evm_setAutomine", null, on);

    [Fact]
    public async Task Startup_NodeOnAnotherChainThanConfigured_ApiServesButRefusesChainWorkNamingBothChainIds()
    {
        await using var factory = market.NewInstance(("Chain:ChainId", "1"));
        using var client = factory.CreateClient();

        var health = await Poll.UntilAsync(() => client.GetFromJsonAsync<JsonNode>("/v1/health"),
            h => h!["chain"]!["state"]!.GetValue<string>() == "Refused", TimeSpan.FromSeconds(30), "the chain id check");
        Assert.Equal("degraded", health!["status"]!.GetValue<string>());
        Assert.Equal("the node is on chain id 31337, but chain id 1 is configured: refusing to use it (check the RPC URL and the configured chain id)",
            health["chain"]!["problem"]!.GetValue<string>());
        Assert.Null(health["chain"]!["chainId"]);

        // Chain work is refused, naming both ids; the rest of the API serves.
        using var verify = await client.GetAsync("/v1/verify?wallet=" + MarketFixture.CpoAWallet);
        Assert.Equal(System.Net.HttpStatusCode.ServiceUnavailable, verify.StatusCode);
        var problem = JsonNode.Parse(await verify.Content.ReadAsStringAsync())!;
        Assert.Equal("chain-unavailable", problem["rule"]!.GetValue<string>());
        Assert.Contains("chain id 31337, but chain id 1 is configured", problem["detail"]!.GetValue<string>());
        using var openApi = await client.GetAsync("/v1/openapi.json");
        Assert.Equal(System.Net.HttpStatusCode.OK, openApi.StatusCode);
    }

    [Fact]
    public async Task LockCycles_KilledAfterBroadcastAndTheNodeLostIt_TheRestartBroadcastsTheSameTransactionOnce()
    {
        var cycle = OneAwardCycle("journal-test", MarketFixture.CpoAWallet);
        var cycleId = cycle.CycleId;
        using (var registering = Ledger())
        {
            // Listed first: with automine off a registration would wait for a block too.
            await registering.InitializeAsync(CancellationToken.None);
            await registering.RegisterPayeesAsync([MarketFixture.CpoAWallet], CancellationToken.None);
        }
        var nonceBefore = await NonceAsync(BlockParameter.CreateLatest());
        var fromBlock = (ulong)(await market.Web3.Eth.Blocks.GetBlockNumber.SendRequestAsync()).Value;

        string lost;
        await SetAutomineAsync(false);
        try
        {
            using var crashed = Ledger();
            await crashed.InitializeAsync(CancellationToken.None);
            using var dies = new CancellationTokenSource();
            var locking = crashed.LockCyclesAsync([cycle], dies.Token);
            await Poll.UntilAsync(() => NonceAsync(BlockParameter.CreatePending()), n => n == nonceBefore + 1, TimeSpan.FromSeconds(30), "the lock's broadcast");
            dies.Cancel(); // the process dies after the broadcast, before any block
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => locking);

            // The node loses it too (restarted, or evicted from its pool): only the journal still has it.
            lost = Assert.Single((await market.Web3.Eth.Blocks.GetBlockWithTransactionsHashesByNumber.SendRequestAsync(BlockParameter.CreatePending())).TransactionHashes);
            Assert.True(await market.Web3.Client.SendRequestAsync<bool>("hardhat_dropTransaction", null, lost));
            Assert.Equal(nonceBefore, await NonceAsync(BlockParameter.CreatePending()));
        }
        finally
        {
            await SetAutomineAsync(true);
        }

        using var restarted = Ledger();
        await restarted.InitializeAsync(CancellationToken.None);
        var locked = Assert.Single(await restarted.LockCyclesAsync([cycle], CancellationToken.None));

        Assert.Equal(lost, locked.Transaction); // the very transaction signed before the crash, not a new one
        Assert.Equal(nonceBefore + 1, await NonceAsync(BlockParameter.CreateLatest())); // and nothing else was sent
        Assert.Single(await market.LogsAsync<CycleLockedEvent>(fromBlock, cycleId));
        Assert.Equal(CycleStatus.Locked, (await restarted.GetCycleAsync(cycleId, CancellationToken.None)).Status);
    }
}
