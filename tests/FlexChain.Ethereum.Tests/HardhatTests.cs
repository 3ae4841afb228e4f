using System.Numerics;
using FlexChain.Testing;
using Nethereum.ABI.FunctionEncoding.Attributes;
using Nethereum.Contracts;
using Nethereum.Hex.HexConvertors.Extensions;
using Nethereum.JsonRpc.Client;
using Nethereum.RPC.Eth.DTOs;
using Nethereum.Signer;
using Nethereum.Util;
using Nethereum.Web3;
using Nethereum.Web3.Accounts;

namespace FlexChain.Ethereum.Tests;

/// <summary>The transaction sender and the chain reads against a real Hardhat node.</summary>
public sealed class HardhatTests : IClassFixture<HardhatNodeFixture>, IDisposable
{
    private readonly Web3 _web3;
    private readonly CancellationTokenSource _timeout = new(TimeSpan.FromSeconds(60));

    public HardhatTests(HardhatNodeFixture node) => _web3 = new Web3(node.RpcUri.AbsoluteUri);

    public void Dispose() => _timeout.Dispose();

    /// <summary>Every test gives up after a minute rather than hanging the run.</summary>
    private CancellationToken Timeout => _timeout.Token;

    [Event("Stored")]
    public sealed class StoredEvent : IEventDTO
    {
        [Parameter("address", "sender", 1, true)] public string Sender { get; set; } = "";
        [Parameter("uint256", "value", 2, false)] public BigInteger Value { get; set; }
    }

    /// <summary>The test contract ignores selectors: call data whose first word is not 0xee... is "store" and logs that word.</summary>
    [Function("store", "uint256")]
    public sealed class StoreFunction : FunctionMessage
    {
        [Parameter("uint256", "value", 1)] public BigInteger Value { get; set; }
    }

    [Error("AlreadySettled")]
    public sealed class AlreadySettledError
    {
        [Parameter("bytes32", "settlementId", 1)] public byte[] SettlementId { get; set; } = [];
    }

    [Error("CycleExists")]
    public sealed class OtherError
    {
        [Parameter("bytes32", "cycleId", 1)] public byte[] CycleId { get; set; } = [];
    }

    private TransactionSender Sender(int account, TransactionSenderOptions? options = null) =>
        new(_web3, new Account(HardhatNodeFixture.AccountKeys[account], HardhatNodeFixture.ChainId), options);

    private async Task<EthAddress> DeployAsync(TransactionSender sender) =>
        EthAddress.Parse((await sender.SendAndWaitForReceiptAsync(null, TestContract.InitCode(StoredTopic).ToHex(prefix: true), 0, Timeout)).ContractAddress);

    private static Hash32 StoredTopic => Hash32.Parse("0x" + EventExtensions.GetEventABI<StoredEvent>().Sha3Signature);

    [Fact]
    public async Task RequireChainId_Configured31337_Passes() =>
        await _web3.RequireChainIdAsync(HardhatNodeFixture.ChainId, Timeout);

    [Fact]
    public async Task RequireChainId_OtherChainConfigured_RefusesNamingBothIds()
    {
        var e = await Assert.ThrowsAsync<ChainMismatchException>(() => _web3.RequireChainIdAsync(1, Timeout));
        Assert.Equal(1, e.Expected);
        Assert.Equal(31337, e.Actual);
        Assert.Contains("31337", e.Message);
        Assert.Contains("chain id 1 is configured", e.Message);
    }

    [Fact]
    public async Task RequireChainId_NothingListening_ThrowsTransportError()
    {
        var web3 = new Web3($"http://127.0.0.1:{ServerProcess.FreePort()}/");
        await Assert.ThrowsAsync<RpcClientUnknownException>(() => web3.RequireChainIdAsync(HardhatNodeFixture.ChainId, Timeout));
    }

    [Fact]
    public async Task SendAndWaitForReceipt_EtherToFreshAddress_BalanceAndReceiptMatch()
    {
        using var sender = Sender(0);
        var recipient = FreshAddress();
        var amount = BigInteger.Parse("1250000000000000000");

        var receipt = await sender.SendAndWaitForReceiptAsync(recipient, "0x", amount, Timeout);

        Assert.Equal(1, receipt.Status.Value);
        Assert.Equal(sender.Address, EthAddress.Parse(receipt.From));
        Assert.Equal(recipient, EthAddress.Parse(receipt.To));
        Assert.Equal(21000, receipt.GasUsed.Value);
        Assert.Empty(receipt.Logs);
        Assert.Equal(amount, (await _web3.Eth.GetBalance.SendRequestAsync(recipient.ToString())).Value);
    }

    [Fact]
    public async Task SendAndWaitForReceipt_TypedMessage_EmitsDecodableEvent()
    {
        using var sender = Sender(1);
        var contract = await DeployAsync(sender);

        var receipt = await sender.SendAndWaitForReceiptAsync(contract, new StoreFunction { Value = 7 }, Timeout);

        var stored = Assert.Single(receipt.DecodeAllEvents<StoredEvent>());
        Assert.Equal(sender.Address, EthAddress.Parse(stored.Event.Sender));
        // The selector is the first word's high bytes, so the logged value is the call data's first 32 bytes.
        Assert.Equal(new BigInteger(new StoreFunction { Value = 7 }.GetCallData().AsSpan(0, 32), isUnsigned: true, isBigEndian: true), stored.Event.Value);
        Assert.Equal(42, await _web3.Eth.GetContractQueryHandler<StoreFunction>().QueryAsync<BigInteger>(contract.ToString(), new StoreFunction { Value = 1 }));
    }

    [Fact]
    public async Task GetLogs_SmallerSpanThanTheRange_FindsTheSameLogsInOrder()
    {
        using var sender = Sender(1);
        var contract = await DeployAsync(sender);
        var first = (ulong)(await _web3.Eth.Blocks.GetBlockNumber.SendRequestAsync()).Value;
        for (var i = 0; i < 5; i++)
        {
            await sender.SendAndWaitForReceiptAsync(contract, new StoreFunction { Value = i }, Timeout);
            await _web3.Client.SendRequestAsync<string>("evm_mine"); // an empty block between the logs
        }
        var last = (ulong)(await _web3.Eth.Blocks.GetBlockNumber.SendRequestAsync()).Value;

        var whole = await _web3.GetLogsAsync(contract, [StoredTopic.ToString()], first, last, maxBlockSpan: 1_000, Timeout);
        Assert.Equal(5, whole.Count);
        foreach (var span in new ulong[] { 1, 2, 3, 7 })
        {
            var chunked = await _web3.GetLogsAsync(contract, [StoredTopic.ToString()], first, last, span, Timeout);
            Assert.Equal(whole.Select(l => (l.TransactionHash, l.LogIndex.Value)), chunked.Select(l => (l.TransactionHash, l.LogIndex.Value)));
        }
        Assert.Empty(await _web3.GetLogsAsync(contract, [Hash32.Zero.ToString()], first, last, 2, Timeout));
        Assert.Empty(await _web3.GetLogsAsync(contract, [StoredTopic.ToString()], last + 1, last, 2, Timeout));
    }

    [Fact]
    public async Task GetLogs_ZeroSpan_Throws() =>
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => _web3.GetLogsAsync(EthAddress.Zero, [], 0, 1, 0, Timeout));

    [Fact]
    public async Task SendAsync_EstimateReverts_ThrowsContractRevertWithTheCustomError()
    {
        using var sender = Sender(1);
        var contract = await DeployAsync(sender);
        var id = Sha3Keccack.Current.CalculateHash("settlement-1"u8.ToArray());
        var revertData = Sha3Keccack.Current.CalculateHash("AlreadySettled(bytes32)"u8.ToArray())[..4].Concat(id).ToArray();

        var e = await Assert.ThrowsAsync<ContractRevertException>(() => sender.SendAsync(contract, TestContract.RevertWith(revertData).ToHex(prefix: true), 0, Timeout));

        Assert.True(e.Is<AlreadySettledError>());
        Assert.False(e.Is<OtherError>());
        Assert.Equal(revertData.ToHex(prefix: true), e.RevertData);
        Assert.Null(e.TransactionHash);
    }

    [Fact]
    public async Task SendAsync_FixedGasOnAnAutominingNode_ThrowsTheMinedRevertAndKeepsTheNonce()
    {
        using var sender = Sender(2);
        var contract = await DeployAsync(sender);
        var nonceBefore = await PendingNonceAsync(sender);

        // A fixed gas limit skips estimation, so the transaction is mined and reverts on chain; Hardhat reports it at once.
        var e = await Assert.ThrowsAsync<ContractRevertException>(() => sender.SendAsync(contract, RevertingCall(), 0, gas: 100_000, Timeout));

        Assert.True(e.Is<AlreadySettledError>());
        Assert.Equal(0, (await _web3.Eth.Transactions.GetTransactionReceipt.SendRequestAsync(e.TransactionHash)).Status.Value);
        Assert.Equal(nonceBefore + 1, await PendingNonceAsync(sender));
        Assert.Equal(1, (await sender.SendAndWaitForReceiptAsync(FreshAddress(), "0x", 1, Timeout)).Status.Value);
    }

    [Fact]
    public async Task WaitForReceipt_MinedRevert_ThrowsWithTheErrorReplayedOnThePreviousBlock()
    {
        using var sender = Sender(2);
        var contract = await DeployAsync(sender);
        await _web3.Client.SendRequestAsync<object>("evm_setAutomine", null, false);
        string hash;
        try
        {
            hash = await sender.SendAsync(contract, RevertingCall(), 0, gas: 100_000, Timeout);
            await _web3.Client.SendRequestAsync<string>("evm_mine");
        }
        finally
        {
            await _web3.Client.SendRequestAsync<object>("evm_setAutomine", null, true);
        }

        var e = await Assert.ThrowsAsync<ContractRevertException>(() => sender.WaitForReceiptAsync(hash, Timeout));

        Assert.True(e.Is<AlreadySettledError>());
        Assert.Equal(hash, e.TransactionHash);
    }

    private static string RevertingCall() =>
        TestContract.RevertWith([.. Sha3Keccack.Current.CalculateHash("AlreadySettled(bytes32)"u8.ToArray())[..4], .. new byte[32]]).ToHex(prefix: true);

    private async Task<BigInteger> PendingNonceAsync(TransactionSender sender) =>
        (await _web3.Eth.Transactions.GetTransactionCount.SendRequestAsync(sender.Address.ToString(), BlockParameter.CreatePending())).Value;

    [Fact]
    public async Task SendAsync_TwentyConcurrentSends_UseConsecutiveNoncesAndAllSucceed()
    {
        using var sender = Sender(3);
        var start = (await _web3.Eth.Transactions.GetTransactionCount.SendRequestAsync(sender.Address.ToString(), BlockParameter.CreatePending())).Value;
        var recipient = FreshAddress();

        var receipts = await Task.WhenAll(Enumerable.Range(1, 20).Select(i => sender.SendAndWaitForReceiptAsync(recipient, "0x", i, Timeout)));

        Assert.All(receipts, r => Assert.Equal(1, r.Status.Value));
        Assert.Equal(20, receipts.Select(r => r.TransactionHash).Distinct().Count());
        Assert.Equal(start + 20, (await _web3.Eth.Transactions.GetTransactionCount.SendRequestAsync(sender.Address.ToString(), BlockParameter.CreateLatest())).Value);
        Assert.Equal(Enumerable.Range(1, 20).Sum(), (int)(await _web3.Eth.GetBalance.SendRequestAsync(recipient.ToString())).Value);
    }

    [Fact]
    public async Task SendAsync_NonceUsedElsewhere_FailsOnceThenResyncsFromPending()
    {
        using var sender = Sender(4);
        using var other = Sender(4);
        await sender.SendAndWaitForReceiptAsync(FreshAddress(), "0x", 1, Timeout); // caches the next nonce
        await other.SendAndWaitForReceiptAsync(FreshAddress(), "0x", 1, Timeout); // uses that nonce behind its back

        await Assert.ThrowsAsync<RpcResponseException>(() => sender.SendAsync(FreshAddress(), "0x", 1, Timeout));
        Assert.Equal(1, (await sender.SendAndWaitForReceiptAsync(FreshAddress(), "0x", 1, Timeout)).Status.Value);
    }

    [Fact]
    public async Task Signed_EverySend_IsReportedBeforeBroadcastAndRebroadcastsAfterARestart()
    {
        var signed = new List<SignedTransaction>();
        using var sender = new TransactionSender(_web3, new Account(HardhatNodeFixture.AccountKeys[5], HardhatNodeFixture.ChainId))
        {
            Signed = (t, _) => { signed.Add(t); return Task.CompletedTask; },
        };
        var hash = await sender.SendAsync(FreshAddress(), "0x", 1, Timeout);
        var receipt = await sender.WaitForReceiptAsync(hash, Timeout);

        var record = Assert.Single(signed);
        Assert.Equal(hash, record.Hash);
        Assert.Equal(receipt.TransactionHash, Sha3Keccack.Current.CalculateHash(record.Raw.HexToByteArray()).ToHex(prefix: true));
        // After a restart the same signed transaction may be sent again: its nonce is used, so nothing happens twice.
        using var restarted = Sender(5);
        Assert.False(await restarted.RebroadcastAsync(record.Raw, Timeout));
    }

    [Fact]
    public async Task SendAndWaitForReceipt_TwoConfirmations_WaitsForNextBlock()
    {
        using var sender = Sender(5, new TransactionSenderOptions { Confirmations = 2, InitialPollInterval = TimeSpan.FromMilliseconds(20), MaxPollInterval = TimeSpan.FromMilliseconds(50) });
        var hash = await sender.SendAsync(FreshAddress(), "0x", 1, Timeout);
        var mined = await Poll.UntilAsync(() => _web3.Eth.Transactions.GetTransactionReceipt.SendRequestAsync(hash), r => r is not null, TimeSpan.FromSeconds(30), "mining");

        var waiting = sender.WaitForReceiptAsync(hash, Timeout);
        await Poll.UntilAsync(() => _web3.Eth.Blocks.GetBlockNumber.SendRequestAsync(), n => n.Value >= mined!.BlockNumber.Value, TimeSpan.FromSeconds(5), "head");
        Assert.False(waiting.IsCompleted); // automining made one block only: the transaction has 1 confirmation
        await _web3.Client.SendRequestAsync<string>("evm_mine");

        Assert.Equal(hash, (await waiting).TransactionHash);
    }

    [Fact]
    public async Task WaitForReceipt_UnknownTransaction_TimesOut()
    {
        using var sender = Sender(0, new TransactionSenderOptions { ReceiptTimeout = TimeSpan.FromMilliseconds(300), InitialPollInterval = TimeSpan.FromMilliseconds(50) });
        await Assert.ThrowsAsync<TimeoutException>(() => sender.WaitForReceiptAsync(Sha3Keccack.Current.CalculateHash("nope"u8.ToArray()).ToHex(prefix: true), Timeout));
    }

    [Fact]
    public async Task EcRecover_NodePersonalSign_MatchesAccount0AndLocalSignature()
    {
        const string message = "FlexChain: I control this wallet. Challenge 5c1e";
        var account = new Account(HardhatNodeFixture.AccountKeys[0]);
        var messageHex = System.Text.Encoding.UTF8.GetBytes(message).ToHex(prefix: true);

        var personal = await _web3.Client.SendRequestAsync<string>("personal_sign", null, messageHex, account.Address);
        var ethSign = await _web3.Client.SendRequestAsync<string>("eth_sign", null, account.Address, messageHex);

        foreach (var signature in new[] { personal, ethSign })
        {
            Assert.Equal(account.Address, new EthereumMessageSigner().EncodeUTF8AndEcRecover(message, signature));
            Assert.Equal(signature, new EthereumMessageSigner().EncodeUTF8AndSign(message, new EthECKey(HardhatNodeFixture.AccountKeys[0])));
        }
    }

    private static EthAddress FreshAddress() => new(Sha3Keccack.Current.CalculateHash(Guid.NewGuid().ToByteArray())[12..]);
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
