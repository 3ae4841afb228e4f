using System.Numerics;
using System.Text;
using System.Text.Json.Nodes;
using FlexChain.Ethereum.Abi;
using FlexChain.Testing;

namespace FlexChain.Ethereum.Tests;

/// <summary>The JSON-RPC client and the transaction sender against a real Hardhat node.</summary>
public sealed class HardhatTests : IClassFixture<HardhatNodeFixture>, IDisposable
{
    private static readonly AbiEvent Stored = AbiEvent.Parse("Stored(address indexed sender, uint256 value)");
    private readonly EthJsonRpcClient _client;
    private readonly CancellationTokenSource _timeout = new(TimeSpan.FromSeconds(60));

    public HardhatTests(HardhatNodeFixture node) => _client = new EthJsonRpcClient(node.RpcUri);

    public void Dispose()
    {
        _client.Dispose();
        _timeout.Dispose();
    }

    /// <summary>Every test gives up after a minute rather than hanging the run.</summary>
    private CancellationToken Timeout => _timeout.Token;

    [Fact]
    public async Task GetChainId_HardhatNode_Is31337()
    {
        Assert.Equal(31337UL, await _client.GetChainIdAsync(Timeout));
    }

    [Fact]
    public async Task FeeQueries_HardhatNode_ReturnLondonFees()
    {
        var block = await _client.GetBlockByNumberAsync(BlockParameter.Latest, Timeout);
        Assert.NotNull(block);
        Assert.NotNull(block.BaseFeePerGas);
        Assert.True(block.Timestamp > 1_600_000_000);
        Assert.Equal(await _client.GetBlockNumberAsync(Timeout), block.Number);
        Assert.True(await _client.GetGasPriceAsync(Timeout) > Wei.Zero);
        Assert.True(await _client.GetMaxPriorityFeePerGasAsync(Timeout) >= Wei.Zero);
        var history = await _client.GetFeeHistoryAsync(1, BlockParameter.Latest, [50], Timeout);
        Assert.Equal(2, history.BaseFeePerGas.Count);
        Assert.Single(history.Reward);
        Assert.Null(await _client.GetBlockByNumberAsync(BlockParameter.AtBlock(10_000_000), Timeout));
    }

    [Fact]
    public async Task SendAndWaitForReceipt_EtherToFreshAddress_BalanceAndReceiptMatch()
    {
        using var sender = new TransactionSender(_client, EthereumKey.FromHex(HardhatNodeFixture.AccountKeys[0]), HardhatNodeFixture.ChainId);
        var recipient = FreshAddress();
        var amount = Wei.FromEther(1.25m);
        var balanceBefore = await _client.GetBalanceAsync(sender.Address, null, Timeout);

        var receipt = await sender.SendAndWaitForReceiptAsync(recipient, default, amount, Timeout);

        Assert.True(receipt.Succeeded);
        Assert.Equal(sender.Address, receipt.From);
        Assert.Equal(recipient, receipt.To);
        Assert.Equal(21000UL, receipt.GasUsed);
        Assert.Empty(receipt.Logs);
        Assert.Equal(amount, await _client.GetBalanceAsync(recipient, null, Timeout));
        Assert.Equal(balanceBefore - amount - receipt.Fee, await _client.GetBalanceAsync(sender.Address, BlockParameter.AtBlock(receipt.BlockNumber), Timeout));
        Assert.Equal(receipt.TransactionHash, (await _client.GetTransactionReceiptAsync(receipt.TransactionHash, Timeout))!.TransactionHash);
    }

    [Fact]
    public async Task DeployHandWrittenContract_CallAndLog_ReturnConstantAndDecodableEvent()
    {
        using var sender = new TransactionSender(_client, EthereumKey.FromHex(HardhatNodeFixture.AccountKeys[1]), HardhatNodeFixture.ChainId);
        var deployment = await sender.SendAndWaitForReceiptAsync(null, TestContract.InitCode(Stored.Topic), Wei.Zero, Timeout);
        var contract = Assert.IsType<EthAddress>(deployment.ContractAddress);

        var output = await sender.CallAsync(contract, default, Timeout);
        Assert.Equal(new BigInteger(42), (BigInteger)AbiCodec.Decode("uint256", output)[0]!);

        var receipt = await sender.SendAndWaitForReceiptAsync(contract, AbiCodec.Encode("uint256", 7), Wei.Zero, Timeout);
        var log = Assert.Single(receipt.Logs);
        Assert.Equal(contract, log.Address);
        Assert.Equal(receipt.TransactionHash, log.TransactionHash);
        Assert.Equal(0UL, log.LogIndex);
        var values = Stored.DecodeLog(log);
        Assert.Equal(sender.Address, values[0]);
        Assert.Equal(new BigInteger(7), values[1]);

        var logs = await _client.GetLogsAsync(
            new LogFilter(contract, [Stored.Topic, new Hash32([.. new byte[12], .. sender.Address.ToArray()])], BlockParameter.AtBlock(deployment.BlockNumber), BlockParameter.Latest),
            Timeout);
        Assert.Equal(log, Assert.Single(logs), LogComparer);
        var none = await _client.GetLogsAsync(new LogFilter(contract, [Hash32.Zero], BlockParameter.AtBlock(deployment.BlockNumber), BlockParameter.Latest), Timeout);
        Assert.Empty(none);
    }

    [Fact]
    public async Task EthContract_QueryAndRequest_DecodeOutputsAndEvents()
    {
        using var sender = new TransactionSender(_client, EthereumKey.FromHex(HardhatNodeFixture.AccountKeys[1]), HardhatNodeFixture.ChainId);
        var deployment = await sender.SendAndWaitForReceiptAsync(null, TestContract.InitCode(Stored.Topic), Wei.Zero, Timeout);
        var contract = new EthContract(deployment.ContractAddress!.Value, sender);
        // The test contract ignores selectors: any call data starting with a word is "store", and it always returns 42.
        var store = AbiFunction.Parse("store(uint256 value) returns (uint256)");

        var receipt = await contract.RequestAndWaitForReceiptAsync(store, [BigInteger.One << 200], Wei.Zero, Timeout);
        var events = contract.DecodeEvents(Stored, receipt);

        Assert.Equal(sender.Address, Assert.Single(events)[0]);
        // The selector is the first word's high bytes, so the logged value is the call data's first 32 bytes.
        Assert.Equal(Hex.FromBigEndian(store.EncodeCall(BigInteger.One << 200).AsSpan(0, 32)), events[0][1]);
        Assert.Equal(new object?[] { new BigInteger(42) }, await contract.QueryAsync(store, [BigInteger.One], Timeout));
    }

    [Fact]
    public async Task EstimateRevert_ErrorString_ThrowsContractRevertWithReason()
    {
        using var sender = new TransactionSender(_client, EthereumKey.FromHex(HardhatNodeFixture.AccountKeys[1]), HardhatNodeFixture.ChainId);
        var contract = (await sender.SendAndWaitForReceiptAsync(null, TestContract.InitCode(Stored.Topic), Wei.Zero, Timeout)).ContractAddress!.Value;
        var revertData = AbiError.Parse("Error(string)").Encode("not the market operator");

        var e = await Assert.ThrowsAsync<ContractRevertException>(() => sender.SendAsync(contract, TestContract.RevertWith(revertData), Wei.Zero, Timeout));

        Assert.Equal(RevertKind.Error, e.Reason.Kind);
        Assert.Equal("not the market operator", e.Reason.Message);
        Assert.Null(e.TransactionHash);
        var call = await Assert.ThrowsAsync<ContractRevertException>(() => sender.CallAsync(contract, TestContract.RevertWith(revertData), Timeout));
        Assert.Equal("not the market operator", call.Reason.Message);
        var raw = await Assert.ThrowsAsync<EthRpcException>(() =>
            _client.CallAsync(new CallRequest(contract, TestContract.RevertWith(revertData)), BlockParameter.Latest, Timeout));
        Assert.True(raw.IsRevert);
        Assert.Equal(revertData, raw.RevertData);
    }

    [Fact]
    public async Task MinedRevert_CustomError_ThrowsContractRevertWithDecodedError()
    {
        var settled = AbiError.Parse("AlreadySettled(bytes32 settlementId)");
        using var sender = new TransactionSender(_client, EthereumKey.FromHex(HardhatNodeFixture.AccountKeys[2]), HardhatNodeFixture.ChainId,
            new TransactionSenderOptions { KnownErrors = [settled] });
        var contract = (await sender.SendAndWaitForReceiptAsync(null, TestContract.InitCode(Stored.Topic), Wei.Zero, Timeout)).ContractAddress!.Value;
        var id = new Hash32(Keccak256.Hash("settlement-1"));
        var nonceBefore = await _client.GetTransactionCountAsync(sender.Address, BlockParameter.Pending, Timeout);

        // A fixed gas limit skips estimation, so the transaction is mined and reverts on chain.
        var e = await Assert.ThrowsAsync<ContractRevertException>(() =>
            sender.SendAndWaitForReceiptAsync(contract, TestContract.RevertWith(settled.Encode(id)), Wei.Zero, gasLimit: 100_000, Timeout));

        Assert.Equal(RevertKind.CustomError, e.Reason.Kind);
        Assert.Same(settled, e.Reason.Error);
        Assert.Equal(id, e.Reason.Arguments![0]);
        Assert.NotNull(e.TransactionHash);
        var receipt = await _client.GetTransactionReceiptAsync(e.TransactionHash.Value, Timeout);
        Assert.False(receipt!.Succeeded);
        Assert.Equal(nonceBefore + 1, await _client.GetTransactionCountAsync(sender.Address, BlockParameter.Pending, Timeout));

        // The sender's nonce is still right after the failure.
        Assert.True((await sender.SendAndWaitForReceiptAsync(FreshAddress(), default, new Wei(1), Timeout)).Succeeded);
    }

    [Fact]
    public async Task SendAsync_TwentyConcurrentSends_UseConsecutiveNoncesAndAllSucceed()
    {
        using var sender = new TransactionSender(_client, EthereumKey.FromHex(HardhatNodeFixture.AccountKeys[3]), HardhatNodeFixture.ChainId);
        var start = await _client.GetTransactionCountAsync(sender.Address, BlockParameter.Pending, Timeout);
        var recipient = FreshAddress();

        var receipts = await Task.WhenAll(Enumerable.Range(1, 20).Select(i =>
            sender.SendAndWaitForReceiptAsync(recipient, default, new Wei(i), Timeout)));

        Assert.All(receipts, r => Assert.True(r.Succeeded));
        Assert.Equal(20, receipts.Select(r => r.TransactionHash).Distinct().Count());
        Assert.Equal(start + 20, await _client.GetTransactionCountAsync(sender.Address, BlockParameter.Latest, Timeout));
        Assert.Equal(new Wei(Enumerable.Range(1, 20).Sum()), await _client.GetBalanceAsync(recipient, null, Timeout));
    }

    [Fact]
    public async Task SendAsync_NonceUsedElsewhere_FailsOnceThenResyncsFromPending()
    {
        var key = EthereumKey.FromHex(HardhatNodeFixture.AccountKeys[4]);
        using var sender = new TransactionSender(_client, key, HardhatNodeFixture.ChainId);
        using var other = new TransactionSender(_client, key, HardhatNodeFixture.ChainId);
        await sender.SendAndWaitForReceiptAsync(FreshAddress(), default, new Wei(1), Timeout); // caches the next nonce
        await other.SendAndWaitForReceiptAsync(FreshAddress(), default, new Wei(1), Timeout); // uses that nonce behind its back

        await Assert.ThrowsAsync<EthRpcException>(() => sender.SendAsync(FreshAddress(), default, new Wei(1), Timeout));
        var receipt = await sender.SendAndWaitForReceiptAsync(FreshAddress(), default, new Wei(1), Timeout);

        Assert.True(receipt.Succeeded);
    }

    [Fact]
    public async Task SendAndWaitForReceipt_TwoConfirmations_WaitsForNextBlock()
    {
        using var sender = new TransactionSender(_client, EthereumKey.FromHex(HardhatNodeFixture.AccountKeys[5]), HardhatNodeFixture.ChainId,
            new TransactionSenderOptions { Confirmations = 2, InitialPollInterval = TimeSpan.FromMilliseconds(20), MaxPollInterval = TimeSpan.FromMilliseconds(50) });
        var hash = await sender.SendAsync(FreshAddress(), default, new Wei(1), Timeout);
        var mined = await Poll.UntilAsync(() => _client.GetTransactionReceiptAsync(hash, Timeout), r => r is not null, TimeSpan.FromSeconds(30), "mining");

        var waiting = sender.WaitForReceiptAsync(hash, Timeout);
        await Poll.UntilAsync(() => _client.GetBlockNumberAsync(Timeout), n => n >= mined!.BlockNumber, TimeSpan.FromSeconds(5), "head");
        Assert.False(waiting.IsCompleted); // automining made one block only: the transaction has 1 confirmation
        await _client.RequestAsync("evm_mine", [], Timeout);

        Assert.Equal(hash, (await waiting).TransactionHash);
    }

    [Fact]
    public async Task WaitForReceipt_UnknownTransaction_TimesOut()
    {
        using var sender = new TransactionSender(_client, EthereumKey.FromHex(HardhatNodeFixture.AccountKeys[0]), HardhatNodeFixture.ChainId,
            new TransactionSenderOptions { ReceiptTimeout = TimeSpan.FromMilliseconds(300), InitialPollInterval = TimeSpan.FromMilliseconds(50) });
        await Assert.ThrowsAsync<TimeoutException>(() => sender.WaitForReceiptAsync(new Hash32(Keccak256.Hash("nope")), Timeout));
    }

    [Fact]
    public async Task SendRawTransaction_SignedLegacyEip155_IsMined()
    {
        var key = EthereumKey.FromHex(HardhatNodeFixture.AccountKeys[6]);
        var nonce = await _client.GetTransactionCountAsync(key.Address, BlockParameter.Pending, Timeout);
        var gasPrice = await _client.GetGasPriceAsync(Timeout);
        var recipient = FreshAddress();
        var tx = new LegacyTransaction(HardhatNodeFixture.ChainId, nonce, gasPrice, 21000, recipient, Wei.FromGwei(5), default).Sign(key);

        Assert.Equal(tx.Hash, await _client.SendRawTransactionAsync(tx.Raw, Timeout));
        var receipt = await Poll.UntilAsync(() => _client.GetTransactionReceiptAsync(tx.Hash, Timeout), r => r is not null, TimeSpan.FromSeconds(30), "mining");

        Assert.True(receipt!.Succeeded);
        Assert.Equal(key.Address, receipt.From);
        Assert.Equal(Wei.FromGwei(5), await _client.GetBalanceAsync(recipient, null, Timeout));
    }

    [Fact]
    public async Task RecoverMessageSigner_NodePersonalSign_MatchesAccount0AndLocalSignature()
    {
        var key = EthereumKey.FromHex(HardhatNodeFixture.AccountKeys[0]);
        var message = Encoding.UTF8.GetBytes("FlexChain: I control this wallet. Challenge 5c1e");

        var personal = await _client.RequestAsync("personal_sign", [Hex.Encode(message), key.Address.ToString()], Timeout);
        var ethSign = await _client.RequestAsync("eth_sign", [key.Address.ToString(), Hex.Encode(message)], Timeout);

        foreach (var signature in new[] { personal.GetString()!, ethSign.GetString()! })
        {
            Assert.Equal(key.Address, EthereumKey.RecoverMessageSigner(message, Hex.Decode(signature)));
            Assert.Equal(signature, Hex.Encode(key.SignMessage(message).ToBytes()));
        }
    }

    [Fact]
    public async Task RequestAsync_UnknownMethod_ThrowsEthRpcExceptionWithCode()
    {
        var e = await Assert.ThrowsAsync<EthRpcException>(() => _client.RequestAsync("eth_noSuchMethod", [], Timeout));
        Assert.NotEqual(0, e.Code); // Hardhat answers -32004 "method not supported" rather than the standard -32601
        Assert.Contains("eth_noSuchMethod", e.RpcMessage);
        Assert.False(e.IsRevert);
    }

    [Fact]
    public async Task SendRawTransaction_WrongChainId_ThrowsEthRpcException()
    {
        var key = EthereumKey.FromHex(HardhatNodeFixture.AccountKeys[0]);
        var tx = new Eip1559Transaction(1, 0, Wei.FromGwei(1), Wei.FromGwei(100), 21000, FreshAddress(), Wei.Zero, default).Sign(key);
        var e = await Assert.ThrowsAsync<EthRpcException>(() => _client.SendRawTransactionAsync(tx.Raw, Timeout));
        Assert.Equal("eth_sendRawTransaction", e.Method);
    }

    [Fact]
    public async Task GetChainId_NothingListening_ThrowsHttpRequestException()
    {
        using var client = new EthJsonRpcClient(new Uri($"http://127.0.0.1:{ServerProcess.FreePort()}/"));
        await Assert.ThrowsAsync<HttpRequestException>(() => client.GetChainIdAsync(Timeout));
    }

    private static EthAddress FreshAddress() => new(Keccak256.Hash(Guid.NewGuid().ToByteArray())[12..]);

    private static readonly IEqualityComparer<LogEntry> LogComparer = EqualityComparer<LogEntry>.Create(
        (a, b) => a!.Address == b!.Address && a.Topics.SequenceEqual(b.Topics) && a.Data.SequenceEqual(b.Data)
            && a.BlockNumber == b.BlockNumber && a.LogIndex == b.LogIndex && a.TransactionHash == b.TransactionHash,
        l => l.Address.GetHashCode());
}

/// <summary>
/// A tiny contract written directly in EVM bytecode, so the Hardhat tests depend on no compiler. Its runtime:
/// <list type="bullet">
/// <item>no call data: returns uint256 42;</item>
/// <item>call data starting with byte 0xee: reverts with the rest of the call data as revert data (so a test can make
/// it revert with any Error(string), Panic or custom error encoding);</item>
/// <item>any other call data: emits <c>Stored(address indexed sender, uint256 value)</c> with value = the first 32
/// bytes of call data, then returns 42.</item>
/// </list>
/// </summary>
internal static class TestContract
{
    public static byte[] InitCode(Hash32 storedTopic)
    {
        var runtime = Runtime(storedTopic);
        byte[] constructor =
        [
            0x60, (byte)runtime.Length, // PUSH1 len         size of the runtime code
            0x80,                       // DUP1              keep len for RETURN
            0x60, 0x0b,                 // PUSH1 0x0b        runtime starts after these 11 bytes of init code
            0x60, 0x00,                 // PUSH1 0           memory destination
            0x39,                       // CODECOPY          mem[0..len] = code[0x0b..0x0b+len]
            0x60, 0x00,                 // PUSH1 0
            0xf3,                       // RETURN            return mem[0..len] as the deployed code
        ];
        return [.. constructor, .. runtime];
    }

    public static byte[] RevertWith(byte[] revertData) => [0xee, .. revertData];

    private static byte[] Runtime(Hash32 storedTopic)
    {
        byte[] code =
        [
            /* 00 */ 0x36,              // CALLDATASIZE
            /* 01 */ 0x15,              // ISZERO
            /* 02 */ 0x60, 0x3e,        // PUSH1 RET
            /* 04 */ 0x57,              // JUMPI             no call data: jump to RET
            /* 05 */ 0x60, 0x00,        // PUSH1 0
            /* 07 */ 0x35,              // CALLDATALOAD      first word of call data
            /* 08 */ 0x60, 0xf8,        // PUSH1 248
            /* 0a */ 0x1c,              // SHR               its first byte
            /* 0b */ 0x60, 0xee,        // PUSH1 0xee
            /* 0d */ 0x14,              // EQ
            /* 0e */ 0x60, 0x49,        // PUSH1 REV
            /* 10 */ 0x57,              // JUMPI             first byte 0xee: jump to REV
            /* 11 */ 0x60, 0x00,        // PUSH1 0
            /* 13 */ 0x35,              // CALLDATALOAD
            /* 14 */ 0x60, 0x00,        // PUSH1 0
            /* 16 */ 0x52,              // MSTORE            mem[0..32] = value
            /* 17 */ 0x33,              // CALLER            topic 1: indexed sender
            /* 18 */ 0x7f,              // PUSH32 topic 0    keccak256("Stored(address,uint256)"), 32 bytes follow
            .. storedTopic.ToArray(),
            /* 39 */ 0x60, 0x20,        // PUSH1 32          data size
            /* 3b */ 0x60, 0x00,        // PUSH1 0           data offset
            /* 3d */ 0xa2,              // LOG2
            /* 3e */ 0x5b,              // JUMPDEST RET
            /* 3f */ 0x60, 0x2a,        // PUSH1 42
            /* 41 */ 0x60, 0x00,        // PUSH1 0
            /* 43 */ 0x52,              // MSTORE            mem[0..32] = 42
            /* 44 */ 0x60, 0x20,        // PUSH1 32
            /* 46 */ 0x60, 0x00,        // PUSH1 0
            /* 48 */ 0xf3,              // RETURN            return uint256 42
            /* 49 */ 0x5b,              // JUMPDEST REV
            /* 4a */ 0x60, 0x01,        // PUSH1 1
            /* 4c */ 0x36,              // CALLDATASIZE
            /* 4d */ 0x03,              // SUB               n = calldatasize - 1
            /* 4e */ 0x80,              // DUP1
            /* 4f */ 0x60, 0x01,        // PUSH1 1           source offset: skip the 0xee marker
            /* 51 */ 0x60, 0x00,        // PUSH1 0           destination
            /* 53 */ 0x37,              // CALLDATACOPY      mem[0..n] = calldata[1..]
            /* 54 */ 0x60, 0x00,        // PUSH1 0
            /* 56 */ 0xfd,              // REVERT            revert with mem[0..n]
        ];
        if (code.Length != 0x57) throw new InvalidOperationException("jump targets above assume 0x57 bytes of runtime");
        return code;
    }
}
