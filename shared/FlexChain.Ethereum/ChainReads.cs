using System.Numerics;
using Nethereum.Hex.HexTypes;
using Nethereum.RPC.Eth.DTOs;
using Nethereum.Web3;

namespace FlexChain.Ethereum;

/// <summary>The node is on another chain than the one configured: nothing may be signed or trusted from it.</summary>
public sealed class ChainMismatchException(BigInteger expected, BigInteger actual)
    : Exception($"the node is on chain id {actual}, but chain id {expected} is configured: refusing to use it (check the RPC URL and the configured chain id)")
{
    /// <summary>The configured chain id.</summary>
    public BigInteger Expected { get; } = expected;

    /// <summary>The node's eth_chainId.</summary>
    public BigInteger Actual { get; } = actual;
}

/// <summary>Reads on top of Nethereum's RPC that every FlexChain chain user needs: the chain id check and bounded log scans.</summary>
public static class ChainReads
{
    /// <summary>Asks the node for its chain id and refuses a node on another chain.</summary>
    /// <exception cref="ChainMismatchException">eth_chainId differs from <paramref name="expected"/>.</exception>
    public static async Task RequireChainIdAsync(this IWeb3 web3, BigInteger expected, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(web3);
        cancellationToken.ThrowIfCancellationRequested();
        var actual = (await web3.Eth.ChainId.SendRequestAsync().ConfigureAwait(false)).Value;
        if (actual != expected) throw new ChainMismatchException(expected, actual);
    }

    /// <summary>
    /// eth_getLogs of <paramref name="address"/> with <paramref name="topics"/> (per position a 0x-hex topic or null for
    /// any) from <paramref name="fromBlock"/> to <paramref name="toBlock"/> (null: the latest block, read once), asked in
    /// ranges of at most <paramref name="maxBlockSpan"/> blocks because providers cap a single eth_getLogs range.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="maxBlockSpan"/> is zero.</exception>
    public static async Task<IReadOnlyList<FilterLog>> GetLogsAsync(
        this IWeb3 web3, EthAddress address, IReadOnlyList<string?> topics, ulong fromBlock, ulong? toBlock, ulong maxBlockSpan,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(web3);
        ArgumentNullException.ThrowIfNull(topics);
        ArgumentOutOfRangeException.ThrowIfZero(maxBlockSpan);
        var last = toBlock ?? (ulong)(await web3.Eth.Blocks.GetBlockNumber.SendRequestAsync().ConfigureAwait(false)).Value;
        var logs = new List<FilterLog>();
        for (var from = fromBlock; from <= last;)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var to = last - from < maxBlockSpan ? last : from + (maxBlockSpan - 1);
            var filter = new NewFilterInput
            {
                Address = [address.ToString()],
                Topics = topics.Cast<object?>().ToArray()!,
                FromBlock = new BlockParameter(new HexBigInteger(from)),
                ToBlock = new BlockParameter(new HexBigInteger(to)),
            };
            logs.AddRange(await web3.Eth.Filters.GetLogs.SendRequestAsync(filter).ConfigureAwait(false));
            if (to == last) break;
            from = to + 1;
        }
        return logs;
    }
}
