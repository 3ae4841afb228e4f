using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace FlexChain.Ethereum;

/// <summary>
/// A minimal Ethereum JSON-RPC client over HTTP. Thread-safe.
/// </summary>
/// <remarks>
/// Errors: a JSON-RPC error answered by the node is an <see cref="EthRpcException"/>; a transport failure (connection
/// refused, non-JSON HTTP error status) is the <see cref="HttpRequestException"/> from <see cref="HttpClient"/>;
/// a malformed answer is a <see cref="FormatException"/>.
/// </remarks>
public sealed class EthJsonRpcClient : IDisposable
{
    private static readonly MediaTypeHeaderValue JsonMediaType = new("application/json");
    private readonly Uri _endpoint;
    private readonly HttpClient _http;
    private readonly bool _ownsHttp;
    private long _nextId;

    /// <summary>A client for the node at <paramref name="endpoint"/>.</summary>
    /// <param name="endpoint">The node's HTTP JSON-RPC URL, e.g. http://127.0.0.1:8545.</param>
    /// <param name="httpClient">A shared client (not disposed by this class); null creates and owns one.</param>
    public EthJsonRpcClient(Uri endpoint, HttpClient? httpClient = null)
    {
        ArgumentNullException.ThrowIfNull(endpoint);
        _endpoint = endpoint;
        _ownsHttp = httpClient is null;
        _http = httpClient ?? new HttpClient();
    }

    /// <summary>The node URL.</summary>
    public Uri Endpoint => _endpoint;

    /// <summary>eth_chainId: the chain id (31337 for Hardhat).</summary>
    public async Task<ulong> GetChainIdAsync(CancellationToken cancellationToken) =>
        ReadUInt64(await RequestAsync("eth_chainId", [], cancellationToken).ConfigureAwait(false));

    /// <summary>eth_blockNumber: the latest block number.</summary>
    public async Task<ulong> GetBlockNumberAsync(CancellationToken cancellationToken) =>
        ReadUInt64(await RequestAsync("eth_blockNumber", [], cancellationToken).ConfigureAwait(false));

    /// <summary>eth_getBalance: the balance of <paramref name="address"/> at <paramref name="block"/> (default latest).</summary>
    public async Task<Wei> GetBalanceAsync(EthAddress address, BlockParameter? block, CancellationToken cancellationToken) =>
        ReadWei(await RequestAsync("eth_getBalance", [address.ToString(), Block(block)], cancellationToken).ConfigureAwait(false));

    /// <summary>
    /// eth_getTransactionCount: the nonce of the next transaction of <paramref name="address"/>; pass
    /// <see cref="BlockParameter.Pending"/> to count transactions waiting in the pool.
    /// </summary>
    public async Task<ulong> GetTransactionCountAsync(EthAddress address, BlockParameter block, CancellationToken cancellationToken) =>
        ReadUInt64(await RequestAsync("eth_getTransactionCount", [address.ToString(), block.ToString()], cancellationToken).ConfigureAwait(false));

    /// <summary>eth_gasPrice: the node's legacy gas price suggestion, per gas unit.</summary>
    public async Task<Wei> GetGasPriceAsync(CancellationToken cancellationToken) =>
        ReadWei(await RequestAsync("eth_gasPrice", [], cancellationToken).ConfigureAwait(false));

    /// <summary>eth_maxPriorityFeePerGas: the node's tip suggestion, per gas unit.</summary>
    public async Task<Wei> GetMaxPriorityFeePerGasAsync(CancellationToken cancellationToken) =>
        ReadWei(await RequestAsync("eth_maxPriorityFeePerGas", [], cancellationToken).ConfigureAwait(false));

    /// <summary>eth_feeHistory over <paramref name="blockCount"/> blocks ending at <paramref name="newestBlock"/>.</summary>
    /// <param name="blockCount">Number of blocks, 1..1024.</param>
    /// <param name="newestBlock">The last block of the range.</param>
    /// <param name="rewardPercentiles">Ascending percentiles in [0, 100] of priority fees to report; null for none.</param>
    /// <param name="cancellationToken">Cancels the request.</param>
    public async Task<FeeHistory> GetFeeHistoryAsync(
        int blockCount, BlockParameter newestBlock, IReadOnlyList<double>? rewardPercentiles, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(blockCount, 1);
        var percentiles = new JsonArray((rewardPercentiles ?? []).Select(p => (JsonNode?)JsonValue.Create(p)).ToArray());
        var result = await RequestAsync("eth_feeHistory", [Hex.EncodeQuantity(blockCount), newestBlock.ToString(), percentiles], cancellationToken)
            .ConfigureAwait(false);
        var rewards = result.TryGetProperty("reward", out var r) && r.ValueKind == JsonValueKind.Array
            ? r.EnumerateArray().Select(block => (IReadOnlyList<Wei>)block.EnumerateArray().Select(ReadWei).ToArray()).ToArray()
            : [];
        return new FeeHistory(
            ReadUInt64(result.GetProperty("oldestBlock")),
            result.GetProperty("baseFeePerGas").EnumerateArray().Select(ReadWei).ToArray(),
            result.GetProperty("gasUsedRatio").EnumerateArray().Select(e => e.GetDouble()).ToArray(),
            rewards);
    }

    /// <summary>eth_getBlockByNumber without transaction bodies; null when the block does not exist.</summary>
    public async Task<BlockHeader?> GetBlockByNumberAsync(BlockParameter block, CancellationToken cancellationToken)
    {
        var result = await RequestAsync("eth_getBlockByNumber", [block.ToString(), false], cancellationToken).ConfigureAwait(false);
        if (result.ValueKind == JsonValueKind.Null) return null;
        return new BlockHeader(
            ReadUInt64(result.GetProperty("number")),
            ReadHash(result.GetProperty("hash")),
            ReadUInt64(result.GetProperty("timestamp")),
            result.TryGetProperty("baseFeePerGas", out var fee) && fee.ValueKind == JsonValueKind.String ? ReadWei(fee) : null,
            ReadUInt64(result.GetProperty("gasLimit")),
            ReadUInt64(result.GetProperty("gasUsed")));
    }

    /// <summary>eth_estimateGas: gas units the call or deployment would use now.</summary>
    /// <exception cref="EthRpcException">The execution reverts (<see cref="EthRpcException.IsRevert"/>) or is invalid.</exception>
    public async Task<ulong> EstimateGasAsync(CallRequest call, CancellationToken cancellationToken) =>
        ReadUInt64(await RequestAsync("eth_estimateGas", [CallObject(call)], cancellationToken).ConfigureAwait(false));

    /// <summary>eth_call: executes without a transaction and returns the output bytes.</summary>
    /// <exception cref="EthRpcException">The execution reverts (<see cref="EthRpcException.IsRevert"/>) or is invalid.</exception>
    public async Task<byte[]> CallAsync(CallRequest call, BlockParameter? block, CancellationToken cancellationToken) =>
        ReadBytes(await RequestAsync("eth_call", [CallObject(call), Block(block)], cancellationToken).ConfigureAwait(false));

    /// <summary>eth_sendRawTransaction: submits a signed transaction and returns its hash.</summary>
    public async Task<Hash32> SendRawTransactionAsync(ReadOnlyMemory<byte> rawTransaction, CancellationToken cancellationToken) =>
        ReadHash(await RequestAsync("eth_sendRawTransaction", [Hex.Encode(rawTransaction.Span)], cancellationToken).ConfigureAwait(false));

    /// <summary>eth_getTransactionReceipt; null while the transaction is not mined (or unknown).</summary>
    public async Task<TransactionReceipt?> GetTransactionReceiptAsync(Hash32 transactionHash, CancellationToken cancellationToken)
    {
        var r = await RequestAsync("eth_getTransactionReceipt", [transactionHash.ToString()], cancellationToken).ConfigureAwait(false);
        if (r.ValueKind == JsonValueKind.Null) return null;
        return new TransactionReceipt(
            ReadHash(r.GetProperty("transactionHash")),
            ReadUInt64(r.GetProperty("blockNumber")),
            ReadHash(r.GetProperty("blockHash")),
            ReadAddress(r.GetProperty("from")),
            OptionalAddress(r, "to"),
            ReadUInt64(r.GetProperty("status")) == 1,
            ReadUInt64(r.GetProperty("gasUsed")),
            ReadWei(r.GetProperty("effectiveGasPrice")),
            OptionalAddress(r, "contractAddress"),
            r.GetProperty("logs").EnumerateArray().Select(ReadLog).ToArray());
    }

    /// <summary>eth_getLogs.</summary>
    public async Task<IReadOnlyList<LogEntry>> GetLogsAsync(LogFilter filter, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(filter);
        var obj = new JsonObject
        {
            ["fromBlock"] = Block(filter.FromBlock),
            ["toBlock"] = Block(filter.ToBlock),
        };
        if (filter.Address is { } address) obj["address"] = address.ToString();
        if (filter.Topics is { } topics)
            obj["topics"] = new JsonArray(topics.Select(t => t is { } topic ? (JsonNode?)JsonValue.Create(topic.ToString()) : null).ToArray());
        var result = await RequestAsync("eth_getLogs", [obj], cancellationToken).ConfigureAwait(false);
        return result.EnumerateArray().Select(ReadLog).ToArray();
    }

    /// <summary>
    /// Sends any JSON-RPC request (for methods without a typed wrapper, e.g. eth_sign or evm_mine) and returns its result.
    /// </summary>
    /// <param name="method">The method name.</param>
    /// <param name="parameters">The positional parameters.</param>
    /// <param name="cancellationToken">Cancels the HTTP request.</param>
    /// <exception cref="EthRpcException">The node answered with a JSON-RPC error.</exception>
    /// <exception cref="HttpRequestException">The node could not be reached or answered with a non-JSON HTTP error.</exception>
    public async Task<JsonElement> RequestAsync(string method, JsonArray parameters, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(method);
        ArgumentNullException.ThrowIfNull(parameters);
        var request = new JsonObject
        {
            ["jsonrpc"] = "2.0",
            ["id"] = Interlocked.Increment(ref _nextId),
            ["method"] = method,
            ["params"] = parameters,
        };
        using var content = new StringContent(request.ToJsonString(), Encoding.UTF8);
        content.Headers.ContentType = JsonMediaType;
        using var response = await _http.PostAsync(_endpoint, content, cancellationToken).ConfigureAwait(false);
        var body = await response.Content.ReadAsByteArrayAsync(cancellationToken).ConfigureAwait(false);

        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(body);
        }
        catch (JsonException e)
        {
            response.EnsureSuccessStatusCode(); // an HTTP error with a non-JSON body is a transport failure
            throw new FormatException($"{method}: the node's answer is not JSON", e);
        }
        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind == JsonValueKind.Object && root.TryGetProperty("error", out var error) && error.ValueKind == JsonValueKind.Object)
                throw ReadError(method, error);
            response.EnsureSuccessStatusCode();
            if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("result", out var result))
                throw new FormatException($"{method}: the node's answer has neither result nor error");
            return result.Clone();
        }
    }

    /// <summary>Disposes the HttpClient if this instance created it.</summary>
    public void Dispose()
    {
        if (_ownsHttp) _http.Dispose();
    }

    private static EthRpcException ReadError(string method, JsonElement error)
    {
        var code = error.TryGetProperty("code", out var c) && c.TryGetInt32(out var value) ? value : 0;
        var message = error.TryGetProperty("message", out var m) && m.ValueKind == JsonValueKind.String ? m.GetString()! : "(no message)";
        string? data = null;
        if (error.TryGetProperty("data", out var d))
        {
            // Nodes differ: geth puts the revert data in "data" as a string; others nest it as {"data": "0x..."}.
            if (d.ValueKind == JsonValueKind.String) data = d.GetString();
            else if (d.ValueKind == JsonValueKind.Object && d.TryGetProperty("data", out var inner) && inner.ValueKind == JsonValueKind.String) data = inner.GetString();
            else if (d.ValueKind != JsonValueKind.Null) data = d.GetRawText();
        }
        return new EthRpcException(method, code, message, data);
    }

    private static JsonObject CallObject(CallRequest call)
    {
        ArgumentNullException.ThrowIfNull(call);
        var obj = new JsonObject { ["data"] = Hex.Encode(call.Data.Span) };
        if (call.To is { } to) obj["to"] = to.ToString();
        if (call.From is { } from) obj["from"] = from.ToString();
        if (call.Value is { } v) obj["value"] = Hex.EncodeQuantity(v.Value);
        if (call.Gas is { } gas) obj["gas"] = Hex.EncodeQuantity(gas);
        return obj;
    }

    private static string Block(BlockParameter? block) => (block ?? BlockParameter.Latest).ToString();

    private static LogEntry ReadLog(JsonElement e) => new(
        ReadAddress(e.GetProperty("address")),
        e.GetProperty("topics").EnumerateArray().Select(ReadHash).ToArray(),
        ReadBytes(e.GetProperty("data")),
        OptionalUInt64(e, "blockNumber"),
        e.TryGetProperty("transactionHash", out var h) && h.ValueKind == JsonValueKind.String ? ReadHash(h) : null,
        OptionalUInt64(e, "logIndex"),
        e.TryGetProperty("removed", out var removed) && removed.ValueKind == JsonValueKind.True);

    private static string Text(JsonElement e) =>
        e.ValueKind == JsonValueKind.String ? e.GetString()! : throw new FormatException($"expected a JSON string, got {e.ValueKind}");

    private static ulong ReadUInt64(JsonElement e) => Hex.DecodeUInt64(Text(e));

    private static Wei ReadWei(JsonElement e) => new(Hex.DecodeQuantity(Text(e)));

    private static byte[] ReadBytes(JsonElement e) => Hex.Decode(Text(e));

    private static Hash32 ReadHash(JsonElement e) => Hash32.Parse(Text(e));

    private static EthAddress ReadAddress(JsonElement e) => EthAddress.Parse(Text(e));

    private static EthAddress? OptionalAddress(JsonElement obj, string name) =>
        obj.TryGetProperty(name, out var e) && e.ValueKind == JsonValueKind.String ? ReadAddress(e) : null;

    private static ulong? OptionalUInt64(JsonElement obj, string name) =>
        obj.TryGetProperty(name, out var e) && e.ValueKind == JsonValueKind.String ? ReadUInt64(e) : null;
}
