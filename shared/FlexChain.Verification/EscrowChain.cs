using System.Numerics;
using FlexChain.Ethereum;

namespace FlexChain.Verification;

/// <summary>On-chain status of an escrow cycle (the contract's award status values).</summary>
public enum CycleStatus
{
    None = 0,
    Locked = 1,
    Settled = 2,
    Refunded = 3,
}

/// <summary>What <c>getCycle(cycleId)</c> returns. Amounts in the token's smallest units; <see cref="RefundAfter"/> in Unix seconds.</summary>
public sealed record EscrowCycle(CycleStatus Status, EthAddress Dso, ulong RefundAfter, BigInteger Total, BigInteger Paid, Hash32 AwardsHash);

/// <summary>The payment token of an escrow: its address and decimals.</summary>
public sealed record TokenInfo(EthAddress Address, int Decimals);

/// <summary>The reads verification makes on the escrow contract, and nothing else: logs, receipts and <c>getCycle</c>.</summary>
public interface IEscrowChain
{
    /// <summary>The escrow contract's address.</summary>
    EthAddress Escrow { get; }

    /// <summary>The escrow's logs matching <paramref name="topics"/> (null = any) from <paramref name="fromBlock"/> to the latest block.</summary>
    Task<IReadOnlyList<LogEntry>> GetLogsAsync(IReadOnlyList<Hash32?> topics, ulong fromBlock, CancellationToken cancellationToken);

    /// <summary>The receipt of a mined transaction, or null when the chain does not know it.</summary>
    Task<TransactionReceipt?> GetReceiptAsync(Hash32 transactionHash, CancellationToken cancellationToken);

    /// <summary><c>getCycle(cycleId)</c> at the latest block.</summary>
    Task<EscrowCycle> GetCycleAsync(Hash32 cycleId, CancellationToken cancellationToken);
}

/// <summary>An escrow on a node reached over JSON-RPC (any node the wallet holder chooses).</summary>
public sealed class JsonRpcEscrowChain(EthJsonRpcClient rpc, EthAddress escrow) : IEscrowChain
{
    public EthAddress Escrow { get; } = escrow;

    public Task<IReadOnlyList<LogEntry>> GetLogsAsync(IReadOnlyList<Hash32?> topics, ulong fromBlock, CancellationToken cancellationToken) =>
        rpc.GetLogsAsync(new LogFilter(Escrow, topics, fromBlock, BlockParameter.Latest), cancellationToken);

    public Task<TransactionReceipt?> GetReceiptAsync(Hash32 transactionHash, CancellationToken cancellationToken) =>
        rpc.GetTransactionReceiptAsync(transactionHash, cancellationToken);

    public async Task<EscrowCycle> GetCycleAsync(Hash32 cycleId, CancellationToken cancellationToken)
    {
        var c = (object?[])(await CallAsync(Escrow, EscrowAbi.GetCycle, cycleId, cancellationToken).ConfigureAwait(false))[0]!;
        return new EscrowCycle((CycleStatus)Convert.ToInt32(c[2]), (EthAddress)c[0]!, Convert.ToUInt64(c[1]), ToBig(c[3]), ToBig(c[4]), (Hash32)c[5]!);
    }

    /// <summary>The escrow's payment token and its decimals, for showing amounts in token units.</summary>
    public async Task<TokenInfo> GetTokenAsync(CancellationToken cancellationToken)
    {
        var token = (EthAddress)(await CallAsync(Escrow, EscrowAbi.Token, null, cancellationToken).ConfigureAwait(false))[0]!;
        var decimals = Convert.ToInt32((await CallAsync(token, EscrowAbi.Decimals, null, cancellationToken).ConfigureAwait(false))[0]);
        return new TokenInfo(token, decimals);
    }

    private async Task<object?[]> CallAsync(EthAddress to, Ethereum.Abi.AbiFunction function, object? argument, CancellationToken cancellationToken)
    {
        var data = argument is null ? function.EncodeCall() : function.EncodeCall(argument);
        return function.DecodeOutput(await rpc.CallAsync(new CallRequest(to, data), BlockParameter.Latest, cancellationToken).ConfigureAwait(false));
    }

    private static BigInteger ToBig(object? value) => value switch
    {
        BigInteger b => b,
        ulong u => u,
        _ => throw new FormatException("unexpected ABI value " + value?.GetType().Name),
    };
}
