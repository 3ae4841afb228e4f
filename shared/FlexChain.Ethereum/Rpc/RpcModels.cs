using System.Globalization;
using System.Numerics;

namespace FlexChain.Ethereum;

/// <summary>A block selector for JSON-RPC: a tag ("latest", "pending", ...) or a block number.</summary>
public readonly record struct BlockParameter
{
    private readonly string? _tag;
    private readonly bool _isNumber;

    private BlockParameter(string? tag, ulong number, bool isNumber)
    {
        _tag = tag;
        Number = number;
        _isNumber = isNumber;
    }

    /// <summary>The block number when this is not a tag, otherwise 0.</summary>
    public ulong Number { get; }

    /// <summary>The most recent block (also what <c>default</c> means).</summary>
    public static BlockParameter Latest => new("latest", 0, false);

    /// <summary>The pending state (includes transactions in the pool; use for the next nonce).</summary>
    public static BlockParameter Pending => new("pending", 0, false);

    /// <summary>The genesis block.</summary>
    public static BlockParameter Earliest => new("earliest", 0, false);

    /// <summary>The latest safe head (post-merge chains).</summary>
    public static BlockParameter Safe => new("safe", 0, false);

    /// <summary>The latest finalized block (post-merge chains).</summary>
    public static BlockParameter Finalized => new("finalized", 0, false);

    /// <summary>A specific block.</summary>
    public static BlockParameter AtBlock(ulong number) => new(null, number, true);

    /// <summary>Implicit conversion from a block number.</summary>
    public static implicit operator BlockParameter(ulong number) => AtBlock(number);

    /// <summary>The JSON-RPC form: a tag or a hex quantity.</summary>
    public override string ToString() => _isNumber ? Hex.EncodeQuantity(Number) : _tag ?? "latest";
}

/// <summary>The parameters of eth_call and eth_estimateGas.</summary>
/// <param name="To">The contract called; null for contract creation (estimate only).</param>
/// <param name="Data">Call data.</param>
/// <param name="From">The sender the call pretends to be.</param>
/// <param name="Value">Ether sent with the call.</param>
/// <param name="Gas">Gas limit for the call; null lets the node choose.</param>
public sealed record CallRequest(EthAddress? To, ReadOnlyMemory<byte> Data, EthAddress? From = null, Wei? Value = null, ulong? Gas = null);

/// <summary>A block header subset.</summary>
/// <param name="Number">Block number.</param>
/// <param name="Hash">Block hash.</param>
/// <param name="Timestamp">Unix time in seconds.</param>
/// <param name="BaseFeePerGas">EIP-1559 base fee; null before London.</param>
/// <param name="GasLimit">Block gas limit.</param>
/// <param name="GasUsed">Gas used by the block's transactions.</param>
public sealed record BlockHeader(ulong Number, Hash32 Hash, ulong Timestamp, Wei? BaseFeePerGas, ulong GasLimit, ulong GasUsed)
{
    /// <summary>The timestamp as a UTC instant.</summary>
    public DateTimeOffset Time => DateTimeOffset.FromUnixTimeSeconds(checked((long)Timestamp));
}

/// <summary>The result of eth_feeHistory.</summary>
/// <param name="OldestBlock">The first block in the range.</param>
/// <param name="BaseFeePerGas">Base fee of each block, plus one entry for the block after the range.</param>
/// <param name="GasUsedRatio">Fraction of the gas limit used per block (0..1; a ratio, not an amount).</param>
/// <param name="Reward">Per block, the priority fee at each requested percentile; empty when no percentiles were asked.</param>
public sealed record FeeHistory(ulong OldestBlock, IReadOnlyList<Wei> BaseFeePerGas, IReadOnlyList<double> GasUsedRatio, IReadOnlyList<IReadOnlyList<Wei>> Reward);

/// <summary>An event log. Record equality compares <see cref="Data"/> and <see cref="Topics"/> by reference.</summary>
/// <param name="Address">The contract that emitted it.</param>
/// <param name="Topics">topic[0] is the event signature hash (unless anonymous), then up to 3 indexed parameters.</param>
/// <param name="Data">The non-indexed parameters, ABI-encoded.</param>
/// <param name="BlockNumber">The block; null while pending.</param>
/// <param name="TransactionHash">The transaction that emitted it.</param>
/// <param name="LogIndex">Position in the block; null while pending.</param>
/// <param name="Removed">True when a reorg removed the log.</param>
public sealed record LogEntry(EthAddress Address, IReadOnlyList<Hash32> Topics, byte[] Data, ulong? BlockNumber, Hash32? TransactionHash, ulong? LogIndex, bool Removed);

/// <summary>A transaction receipt.</summary>
/// <param name="TransactionHash">The transaction.</param>
/// <param name="BlockNumber">The block that included it.</param>
/// <param name="BlockHash">That block's hash.</param>
/// <param name="From">The sender.</param>
/// <param name="To">The recipient; null for contract creation.</param>
/// <param name="Succeeded">Status 1 (true) or 0 (reverted).</param>
/// <param name="GasUsed">Gas units used.</param>
/// <param name="EffectiveGasPrice">Price actually paid per gas unit.</param>
/// <param name="ContractAddress">The created contract, for contract creation.</param>
/// <param name="Logs">Logs in order.</param>
public sealed record TransactionReceipt(
    Hash32 TransactionHash, ulong BlockNumber, Hash32 BlockHash, EthAddress From, EthAddress? To, bool Succeeded,
    ulong GasUsed, Wei EffectiveGasPrice, EthAddress? ContractAddress, IReadOnlyList<LogEntry> Logs)
{
    /// <summary>The fee paid: gas used times effective gas price.</summary>
    public Wei Fee => EffectiveGasPrice * GasUsed;
}

/// <summary>The filter of eth_getLogs.</summary>
/// <param name="Address">Only logs of this contract; null for any.</param>
/// <param name="Topics">Per position, the required topic or null for any; trailing positions may be omitted.</param>
/// <param name="FromBlock">First block (inclusive); null means latest.</param>
/// <param name="ToBlock">Last block (inclusive); null means latest.</param>
public sealed record LogFilter(EthAddress? Address, IReadOnlyList<Hash32?>? Topics = null, BlockParameter? FromBlock = null, BlockParameter? ToBlock = null);

/// <summary>A JSON-RPC error answered by the node (the request reached it and was rejected).</summary>
public sealed class EthRpcException : Exception
{
    /// <summary>An error with the node's code, message and optional data.</summary>
    public EthRpcException(string method, int code, string message, string? data)
        : base($"{method} failed: {message} (code {code.ToString(CultureInfo.InvariantCulture)})")
    {
        Method = method;
        Code = code;
        RpcMessage = message;
        Data = data;
    }

    /// <summary>The JSON-RPC method that failed.</summary>
    public string Method { get; }

    /// <summary>The JSON-RPC error code (e.g. 3 execution reverted, -32000 server error, -32602 invalid params).</summary>
    public int Code { get; }

    /// <summary>The node's message.</summary>
    public string RpcMessage { get; }

    /// <summary>
    /// The error's data: 0x-prefixed revert data when the node provides it, otherwise the raw JSON text or null.
    /// (Hides <see cref="Exception.Data"/>, which this exception does not use.)
    /// </summary>
    public new string? Data { get; }

    /// <summary>The revert data as bytes, when <see cref="Data"/> is hex; otherwise null.</summary>
    public byte[]? RevertData
    {
        get
        {
            if (Data is null || !Data.StartsWith("0x", StringComparison.Ordinal)) return null;
            try { return Hex.Decode(Data); } catch (FormatException) { return null; }
        }
    }

    /// <summary>Whether the node says the call or transaction reverted (code 3, revert data, or "revert" in the message).</summary>
    public bool IsRevert => Code == 3 || RevertData is not null || RpcMessage.Contains("revert", StringComparison.OrdinalIgnoreCase);
}

/// <summary>A contract call or transaction reverted; carries the decoded reason.</summary>
public sealed class ContractRevertException : Exception
{
    /// <summary>A revert, optionally of a mined transaction.</summary>
    public ContractRevertException(Abi.RevertReason reason, Hash32? transactionHash = null, Exception? innerException = null)
        : base((transactionHash is { } h ? $"transaction {h} reverted: " : "execution reverted: ") + reason, innerException)
    {
        Reason = reason;
        TransactionHash = transactionHash;
    }

    /// <summary>The decoded revert data.</summary>
    public Abi.RevertReason Reason { get; }

    /// <summary>The mined transaction that reverted; null when the revert was found by a call or gas estimate.</summary>
    public Hash32? TransactionHash { get; }
}
