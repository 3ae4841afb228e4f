using FlexChain.Testing;

namespace FlexChain.Ethereum.Tests;

/// <summary>The sender against a real Hardhat node that stops mining, drops transactions or goes silent.</summary>
public sealed class SenderResilienceTests : IClassFixture<HardhatNodeFixture>, IAsyncLifetime, IDisposable
{
    private readonly HardhatNodeFixture _node;
    private readonly EthJsonRpcClient _client;
    private readonly CancellationTokenSource _timeout = new(TimeSpan.FromMinutes(2));

    public SenderResilienceTests(HardhatNodeFixture node)
    {
        _node = node;
        _client = new EthJsonRpcClient(node.RpcUri);
    }

    private CancellationToken Timeout => _timeout.Token;

    public Task InitializeAsync() => Task.CompletedTask;

    /// <summary>Whatever a test did to the node, it mines again afterwards.</summary>
    public async Task DisposeAsync() => await _client.RequestAsync("evm_setAutomine", [true], CancellationToken.None);

    public void Dispose()
    {
        _client.Dispose();
        _timeout.Dispose();
    }

    private TransactionSender Sender(int account, TimeSpan replaceAfter) =>
        new(_client, EthereumKey.FromHex(HardhatNodeFixture.AccountKeys[account]), HardhatNodeFixture.ChainId,
            new TransactionSenderOptions { ReplaceAfter = replaceAfter, InitialPollInterval = TimeSpan.FromMilliseconds(50), MaxPollInterval = TimeSpan.FromMilliseconds(200) });

    private static EthAddress Fresh() => new(System.Security.Cryptography.RandomNumberGenerator.GetBytes(20));

    private async Task<TransactionReceipt> MineUntilAsync(Task<TransactionReceipt> waiting)
    {
        while (!waiting.IsCompleted)
        {
            await _client.RequestAsync("evm_mine", [], Timeout);
            await Task.WhenAny(waiting, Task.Delay(200, Timeout));
        }
        return await waiting;
    }

    [Fact]
    public async Task WaitForReceipt_StuckTransaction_IsReplacedWithHigherFeesAndSameNonce()
    {
        using var sender = Sender(4, TimeSpan.FromMilliseconds(500));
        await _client.RequestAsync("evm_setAutomine", [false], Timeout);
        var to = Fresh();
        var nonce = await _client.GetTransactionCountAsync(sender.Address, BlockParameter.Pending, Timeout);
        var original = await sender.SendAsync(to, default, Wei.FromGwei(1), Timeout);

        // Nothing is mined for a while: the sender replaces its pending transaction, then a block includes the replacement.
        var waiting = sender.WaitForReceiptAsync(original, Timeout);
        await Poll.UntilAsync(async () => (await _client.RequestAsync("eth_getTransactionByHash", [original.ToString()], Timeout)).ValueKind,
            kind => kind == System.Text.Json.JsonValueKind.Null, TimeSpan.FromSeconds(30), "the original leaving the mempool");
        var receipt = await MineUntilAsync(waiting);

        Assert.True(receipt.Succeeded);
        Assert.NotEqual(original, receipt.TransactionHash);
        Assert.Equal(nonce + 1, await _client.GetTransactionCountAsync(sender.Address, BlockParameter.Latest, Timeout));
        Assert.Null(await _client.GetTransactionReceiptAsync(original, Timeout));
        Assert.Equal(Wei.FromGwei(1), await _client.GetBalanceAsync(to, null, Timeout));
    }

    [Fact]
    public async Task WaitForReceipt_DroppedTransaction_IsSentAgain()
    {
        using var sender = Sender(5, TimeSpan.FromMilliseconds(500));
        await _client.RequestAsync("evm_setAutomine", [false], Timeout);
        var to = Fresh();
        var original = await sender.SendAsync(to, default, Wei.FromGwei(2), Timeout);
        await _client.RequestAsync("hardhat_dropTransaction", [original.ToString()], Timeout);

        var receipt = await MineUntilAsync(sender.WaitForReceiptAsync(original, Timeout));

        Assert.True(receipt.Succeeded);
        Assert.Equal(original, receipt.TransactionHash); // re-broadcast unchanged: the node had forgotten it
        Assert.Equal(Wei.FromGwei(2), await _client.GetBalanceAsync(to, null, Timeout));
    }

    [Fact]
    public async Task SendAndWait_NodeSilentFor30Seconds_CompletesAfterItResumes()
    {
        using var sender = Sender(6, System.Threading.Timeout.InfiniteTimeSpan);
        await _client.RequestAsync("evm_setAutomine", [false], Timeout);
        var to = Fresh();
        var hash = await sender.SendAsync(to, default, Wei.FromGwei(3), Timeout);
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
        Assert.True(receipt.Succeeded);
        Assert.Equal(Wei.FromGwei(3), await _client.GetBalanceAsync(to, null, Timeout));
    }

    [Fact]
    public async Task SendAsync_FeesFromHistory_CoverTheNextBaseFee()
    {
        using var sender = Sender(6, System.Threading.Timeout.InfiniteTimeSpan);
        var receipt = await sender.SendAndWaitForReceiptAsync(Fresh(), default, Wei.FromGwei(1), Timeout);
        var block = await _client.GetBlockByNumberAsync(BlockParameter.AtBlock(receipt.BlockNumber), Timeout);
        Assert.True(receipt.EffectiveGasPrice >= block!.BaseFeePerGas!.Value);
    }
}
