using System.Numerics;
using FlexChain.Testing;
using Nethereum.RPC.Eth.DTOs;
using Nethereum.Web3;
using Nethereum.Web3.Accounts;

namespace FlexChain.Ethereum.Tests;

/// <summary>The sender against a real Hardhat node that stops mining, drops transactions or goes silent.</summary>
public sealed class SenderResilienceTests : IClassFixture<HardhatNodeFixture>, IAsyncLifetime, IDisposable
{
    private readonly HardhatNodeFixture _node;
    private readonly Web3 _web3;
    private readonly CancellationTokenSource _timeout = new(TimeSpan.FromMinutes(2));

    public SenderResilienceTests(HardhatNodeFixture node)
    {
        _node = node;
        _web3 = new Web3(node.RpcUri.AbsoluteUri);
    }

    private CancellationToken Timeout => _timeout.Token;

    public Task InitializeAsync() => Task.CompletedTask;

    /// <summary>Whatever a test did to the node, it mines again afterwards.</summary>
    public async Task DisposeAsync() => await SetAutomineAsync(true);

    public void Dispose() => _timeout.Dispose();

    private TransactionSender Sender(int account, TimeSpan replaceAfter) =>
        new(_web3, new Account(HardhatNodeFixture.AccountKeys[account], HardhatNodeFixture.ChainId),
            new TransactionSenderOptions { ReplaceAfter = replaceAfter, InitialPollInterval = TimeSpan.FromMilliseconds(50), MaxPollInterval = TimeSpan.FromMilliseconds(200) });

    private static EthAddress Fresh() => new(System.Security.Cryptography.RandomNumberGenerator.GetBytes(20));

    private static readonly BigInteger Gwei = 1_000_000_000;

    private Task SetAutomineAsync(bool on) => _web3.Client.SendRequestAsync<object>("evm_setAutomine", null, on);

    private async Task<BigInteger> BalanceAsync(EthAddress address) => (await _web3.Eth.GetBalance.SendRequestAsync(address.ToString())).Value;

    private async Task<BigInteger> NonceAsync(EthAddress address, BlockParameter block) =>
        (await _web3.Eth.Transactions.GetTransactionCount.SendRequestAsync(address.ToString(), block)).Value;

    private async Task<TransactionReceipt> MineUntilAsync(Task<TransactionReceipt> waiting)
    {
        while (!waiting.IsCompleted)
        {
            await _web3.Client.SendRequestAsync<string>("evm_mine");
            await Task.WhenAny(waiting, Task.Delay(200, Timeout));
        }
        return await waiting;
    }

    [Fact]
    public async Task WaitForReceipt_StuckTransaction_IsReplacedWithHigherFeesAndSameNonce()
    {
        using var sender = Sender(4, TimeSpan.FromMilliseconds(500));
        await SetAutomineAsync(false);
        var to = Fresh();
        var nonce = await NonceAsync(sender.Address, BlockParameter.CreatePending());
        var original = await sender.SendAsync(to, "0x", Gwei, Timeout);

        // Nothing is mined for a while: the sender replaces its pending transaction, then a block includes the replacement.
        var waiting = sender.WaitForReceiptAsync(original, Timeout);
        await Poll.UntilAsync(() => _web3.Eth.Transactions.GetTransactionByHash.SendRequestAsync(original), t => t is null,
            TimeSpan.FromSeconds(30), "the original leaving the mempool");
        var receipt = await MineUntilAsync(waiting);

        Assert.Equal(1, receipt.Status.Value);
        Assert.NotEqual(original, receipt.TransactionHash);
        Assert.Equal(nonce + 1, await NonceAsync(sender.Address, BlockParameter.CreateLatest()));
        Assert.Null(await _web3.Eth.Transactions.GetTransactionReceipt.SendRequestAsync(original));
        Assert.Equal(Gwei, await BalanceAsync(to));
    }

    [Fact]
    public async Task WaitForReceipt_DroppedTransaction_IsSentAgain()
    {
        using var sender = Sender(5, TimeSpan.FromMilliseconds(500));
        await SetAutomineAsync(false);
        var to = Fresh();
        var original = await sender.SendAsync(to, "0x", 2 * Gwei, Timeout);
        await _web3.Client.SendRequestAsync<bool>("hardhat_dropTransaction", null, original);

        var receipt = await MineUntilAsync(sender.WaitForReceiptAsync(original, Timeout));

        Assert.Equal(1, receipt.Status.Value);
        Assert.Equal(original, receipt.TransactionHash); // re-broadcast unchanged: the node had forgotten it
        Assert.Equal(2 * Gwei, await BalanceAsync(to));
    }

    [Fact]
    public async Task WaitForReceipt_ReorgRemovesTheMinedTransactionBeforeItsConfirmations_SameNonceIsMinedAgainOnce()
    {
        using var sender = new TransactionSender(_web3, new Account(HardhatNodeFixture.AccountKeys[3], HardhatNodeFixture.ChainId),
            new TransactionSenderOptions
            {
                Confirmations = 3, ReplaceAfter = TimeSpan.FromHours(1), // only the reorg may cause a re-send
                InitialPollInterval = TimeSpan.FromMilliseconds(50), MaxPollInterval = TimeSpan.FromMilliseconds(200),
            });
        var to = Fresh();
        var nonce = await NonceAsync(sender.Address, BlockParameter.CreateLatest());
        var snapshot = await _web3.Client.SendRequestAsync<string>("evm_snapshot");
        var hash = await sender.SendAsync(to, "0x", 4 * Gwei, Timeout);
        var mined = await _web3.Eth.Transactions.GetTransactionReceipt.SendRequestAsync(hash); // automine: in a block already
        Assert.NotNull(mined);

        // A reorg takes the block away (1 confirmation of the 3 needed): the transaction is in no block and no pool.
        Assert.True(await _web3.Client.SendRequestAsync<bool>("evm_revert", null, snapshot));
        Assert.Null(await _web3.Eth.Transactions.GetTransactionReceipt.SendRequestAsync(hash));
        Assert.Equal(0, await BalanceAsync(to));

        var receipt = await MineUntilAsync(sender.WaitForReceiptAsync(hash, Timeout));

        Assert.Equal(hash, receipt.TransactionHash); // the same signed transaction, broadcast again
        Assert.Equal(1, receipt.Status.Value);
        var head = (await _web3.Eth.Blocks.GetBlockNumber.SendRequestAsync()).Value;
        Assert.True(head - receipt.BlockNumber.Value + 1 >= 3, $"block {receipt.BlockNumber.Value} has {head - receipt.BlockNumber.Value + 1} confirmations");
        Assert.Equal(receipt.BlockHash, (await _web3.Eth.Blocks.GetBlockWithTransactionsHashesByNumber.SendRequestAsync(receipt.BlockNumber)).BlockHash);
        Assert.Equal(nonce + 1, await NonceAsync(sender.Address, BlockParameter.CreateLatest()));
        Assert.Equal(4 * Gwei, await BalanceAsync(to)); // paid once
    }

    [Fact]
    public async Task Rebroadcast_SignedBeforeARestartAndDropped_IsMinedOnce()
    {
        var signed = new List<SignedTransaction>();
        using (var before = new TransactionSender(_web3, new Account(HardhatNodeFixture.AccountKeys[6], HardhatNodeFixture.ChainId))
        {
            Signed = (t, _) => { signed.Add(t); return Task.CompletedTask; },
        })
        {
            await SetAutomineAsync(false);
            var hash = await before.SendAsync(Fresh(), "0x", 5 * Gwei, Timeout);
            await _web3.Client.SendRequestAsync<bool>("hardhat_dropTransaction", null, hash);
        } // the process dies: nothing of the sender survives but what Signed stored

        using var after = Sender(6, System.Threading.Timeout.InfiniteTimeSpan);
        var stored = Assert.Single(signed);
        Assert.True(await after.RebroadcastAsync(stored.Raw, Timeout));
        Assert.True(await after.RebroadcastAsync(stored.Raw, Timeout)); // the node already has it: still fine
        var receipt = await MineUntilAsync(after.WaitForReceiptAsync(stored.Hash, Timeout));

        Assert.Equal(1, receipt.Status.Value);
        Assert.False(await after.RebroadcastAsync(stored.Raw, Timeout)); // mined: its nonce is used
    }

    [Fact]
    public async Task SendAndWait_NodeSilentFor30Seconds_CompletesAfterItResumes()
    {
        using var sender = Sender(6, System.Threading.Timeout.InfiniteTimeSpan);
        await SetAutomineAsync(false);
        var to = Fresh();
        var hash = await sender.SendAsync(to, "0x", 3 * Gwei, Timeout);
        var waiting = sender.WaitForReceiptAsync(hash, Timeout);

        await _node.SuspendAsync();
        try
        {
            await Task.Delay(TimeSpan.FromSeconds(30), Timeout); // the node is gone for 30 s: the point of the test, not a wait for a condition
            Assert.False(waiting.IsCompleted);
        }
        finally
        {
            await _node.ResumeAsync();
        }
        var receipt = await MineUntilAsync(waiting);
        Assert.Equal(1, receipt.Status.Value);
        Assert.Equal(3 * Gwei, await BalanceAsync(to));
    }

    [Fact]
    public async Task SendAsync_SuggestedFees_CoverTheBaseFee()
    {
        using var sender = Sender(6, System.Threading.Timeout.InfiniteTimeSpan);
        var receipt = await sender.SendAndWaitForReceiptAsync(Fresh(), "0x", Gwei, Timeout);
        var block = await _web3.Eth.Blocks.GetBlockWithTransactionsHashesByNumber.SendRequestAsync(receipt.BlockNumber);
        Assert.True(receipt.EffectiveGasPrice.Value >= block.BaseFeePerGas.Value);
    }
}
