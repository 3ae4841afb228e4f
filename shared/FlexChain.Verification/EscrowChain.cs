using System.Numerics;
using FlexChain.Ethereum;
using Nethereum.Hex.HexTypes;
using Nethereum.RPC.Eth.DTOs;
using Nethereum.Web3;

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
public sealed record EscrowCycle(CycleStatus Status, EthAddress Dso, ulong RefundAfter, BigInteger Total, BigInteger Paid, Hash32 AwardsHash)
{
    /// <summary>The cycle from the contract's struct.</summary>
    public static EscrowCycle From(CycleStruct c)
    {
        ArgumentNullException.ThrowIfNull(c);
        return new((CycleStatus)c.Status, EthAddress.Parse(c.Dso), c.RefundAfter, c.Total, c.Paid, new Hash32(c.AwardsHash));
    }
}

/// <summary>The payment token of an escrow: its address and decimals.</summary>
public sealed record TokenInfo(EthAddress Address, int Decimals);

/// <summary>The reads verification makes on the escrow contract, and nothing else: logs, receipts and <c>getCycle</c>.</summary>
public interface IEscrowChain
{
    /// <summary>The escrow contract's address.</summary>
    EthAddress Escrow { get; }

    /// <summary>The escrow's logs matching <paramref name="topics"/> (null = any) from <paramref name="fromBlock"/> to the latest block.</summary>
    Task<IReadOnlyList<FilterLog>> GetLogsAsync(IReadOnlyList<Hash32?> topics, ulong fromBlock, CancellationToken cancellationToken);

    /// <summary>The receipt of a mined transaction, or null when the chain does not know it.</summary>
    Task<TransactionReceipt?> GetReceiptAsync(Hash32 transactionHash, CancellationToken cancellationToken);

    /// <summary><c>getCycle(cycleId)</c> at the latest block.</summary>
    Task<EscrowCycle> GetCycleAsync(Hash32 cycleId, CancellationToken cancellationToken);

    /// <summary>The escrow's payment token and its decimals.</summary>
    Task<TokenInfo> GetTokenAsync(CancellationToken cancellationToken);

    /// <summary>The chain id the node reports.</summary>
    Task<long> GetChainIdAsync(CancellationToken cancellationToken);

    /// <summary>The number of the node's <c>finalized</c> block, or null when it reports none.</summary>
    Task<ulong?> GetFinalizedBlockAsync(CancellationToken cancellationToken);
}

/// <summary>
/// An escrow on a node reached over JSON-RPC (any node the wallet holder chooses). Log scans ask for at most
/// <paramref name="maxLogBlockSpan"/> blocks per eth_getLogs, because providers cap the range of one request.
/// </summary>
public sealed class JsonRpcEscrowChain(IWeb3 web3, EthAddress escrow, ulong maxLogBlockSpan = JsonRpcEscrowChain.DefaultMaxLogBlockSpan) : IEscrowChain
{
    /// <summary>The default span of one eth_getLogs request (public providers commonly cap it between 1,000 and 10,000).</summary>
    public const ulong DefaultMaxLogBlockSpan = 2_000;

    public EthAddress Escrow { get; } = escrow;

    public Task<IReadOnlyList<FilterLog>> GetLogsAsync(IReadOnlyList<Hash32?> topics, ulong fromBlock, CancellationToken cancellationToken) =>
        web3.GetLogsAsync(Escrow, topics.Select(t => t?.ToString()).ToList(), fromBlock, toBlock: null, maxLogBlockSpan, cancellationToken);

    public async Task<TransactionReceipt?> GetReceiptAsync(Hash32 transactionHash, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return await web3.Eth.Transactions.GetTransactionReceipt.SendRequestAsync(transactionHash.ToString()).ConfigureAwait(false);
    }

    public Task<EscrowCycle> GetCycleAsync(Hash32 cycleId, CancellationToken cancellationToken) =>
        GetCycleAsync(cycleId, BlockParameter.CreateLatest(), cancellationToken);

    /// <summary><c>getCycle(cycleId)</c> as of <paramref name="block"/>.</summary>
    public async Task<EscrowCycle> GetCycleAsync(Hash32 cycleId, BlockParameter block, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var output = await web3.Eth.GetContractQueryHandler<GetCycleFunction>()
            .QueryDeserializingToObjectAsync<GetCycleOutput>(new GetCycleFunction { CycleId = cycleId.ToArray() }, Escrow.ToString(), block)
            .ConfigureAwait(false);
        return EscrowCycle.From(output.Cycle);
    }

    public async Task<long> GetChainIdAsync(CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return (long)(await web3.Eth.ChainId.SendRequestAsync().ConfigureAwait(false)).Value;
    }

    public async Task<ulong?> GetFinalizedBlockAsync(CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var block = await web3.Client.SendRequestAsync<BlockWithTransactionHashes?>("eth_getBlockByNumber", null, "finalized", false).ConfigureAwait(false);
        return block?.Number.ToUInt64();
    }

    /// <summary>The escrow's payment token and its decimals, for showing amounts in token units.</summary>
    public async Task<TokenInfo> GetTokenAsync(CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var token = await web3.Eth.GetContractQueryHandler<TokenFunction>().QueryAsync<string>(Escrow.ToString(), new TokenFunction()).ConfigureAwait(false);
        var decimals = await web3.Eth.ERC20.GetContractService(token).DecimalsQueryAsync().ConfigureAwait(false);
        return new TokenInfo(EthAddress.Parse(token), decimals);
    }
}

/// <summary>Reads of Nethereum's log and receipt DTOs in FlexChain's value types.</summary>
public static class LogFields
{
    /// <summary>The log's topic at <paramref name="index"/>, or null when it has fewer.</summary>
    public static Hash32? Topic(this FilterLog log, int index) =>
        log.Topics is { } topics && index < topics.Length && topics[index]?.ToString() is { } t ? Hash32.Parse(t) : null;

    /// <summary>Whether the log was emitted by <paramref name="contract"/>.</summary>
    public static bool IsFrom(this FilterLog log, EthAddress contract) =>
        EthAddress.TryParse(log.Address, out var address) && address == contract;

    /// <summary>A quantity as a 64-bit number, or null when absent (pending logs).</summary>
    public static ulong? ToUInt64(this HexBigInteger? value) => value is null ? null : (ulong)value.Value;
}
