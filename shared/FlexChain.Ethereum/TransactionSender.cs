using System.Collections.Concurrent;
using System.Numerics;
using System.Text.Json;
using FlexChain.Ethereum.Abi;

namespace FlexChain.Ethereum;

/// <summary>Settings of a <see cref="TransactionSender"/>.</summary>
public sealed class TransactionSenderOptions
{
    /// <summary>Percent added to eth_estimateGas (default 20): estimates can fall short when state changes before mining.</summary>
    public int GasMarginPercent { get; init; } = 20;

    /// <summary>Blocks that must include or follow the transaction's block before its receipt counts (default 1: mined).</summary>
    public int Confirmations { get; init; } = 1;

    /// <summary>How long <see cref="TransactionSender.WaitForReceiptAsync"/> polls before giving up (default 5 minutes).</summary>
    public TimeSpan ReceiptTimeout { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>First receipt poll interval (default 100 ms); doubles after each poll up to <see cref="MaxPollInterval"/>.</summary>
    public TimeSpan InitialPollInterval { get; init; } = TimeSpan.FromMilliseconds(100);

    /// <summary>Longest receipt poll interval (default 4 s).</summary>
    public TimeSpan MaxPollInterval { get; init; } = TimeSpan.FromSeconds(4);

    /// <summary>Custom errors of the contracts called, so that reverts decode to their names and arguments.</summary>
    public IReadOnlyList<AbiError> KnownErrors { get; init; } = [];

    /// <summary>The clock for deadlines and poll delays (tests may pass a fake one).</summary>
    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;

    /// <summary>
    /// How long a sent transaction may stay unmined before it is re-sent with the same nonce: as it was when the node
    /// no longer knows it (dropped), with fees raised by <see cref="FeeBumpPercent"/> when it is still pending (stuck).
    /// Default 60 s; <see cref="Timeout.InfiniteTimeSpan"/> never re-sends.
    /// </summary>
    public TimeSpan ReplaceAfter { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>Percent by which a replacement raises both fees (default 13; nodes require at least 10).</summary>
    public int FeeBumpPercent { get; init; } = 13;

    /// <summary>How many recent blocks' priority fees (50th percentile) are considered (default 10).</summary>
    public int FeeHistoryBlocks { get; init; } = 10;
}

/// <summary>
/// Sends EIP-1559 transactions for one signer key on one chain: fees from the node, gas from eth_estimateGas plus a
/// margin, nonces assigned in order within this process, receipts awaited by polling.
/// </summary>
/// <remarks>
/// Nonces are serialised by a lock inside this instance only: use exactly one instance per signer per process, and
/// one process per signer (ARCHITECTURE.md section 5). After a rejected send the next nonce is re-read from the
/// node's pending transaction count. Fees come from eth_feeHistory: maxPriorityFeePerGas is the median of the recent
/// blocks' 50th-percentile priority fees (eth_maxPriorityFeePerGas when they paid none); maxFeePerGas = 2 x the next
/// block's base fee + priority fee, which stays valid through six consecutive full blocks.
/// While waiting for a receipt, transport failures (a node that went silent or restarted its HTTP side) are retried
/// until the deadline, and a transaction unmined after <see cref="TransactionSenderOptions.ReplaceAfter"/> is re-sent
/// with the same nonce (re-broadcast if dropped, fees bumped if stuck); any of its versions' receipts completes the wait.
/// </remarks>
public sealed class TransactionSender : IDisposable
{
    private readonly EthJsonRpcClient _client;
    private readonly EthereumKey _key;
    private readonly TransactionSenderOptions _options;
    private readonly SemaphoreSlim _nonceLock = new(1, 1);
    private readonly ConcurrentDictionary<Hash32, Pending> _pending = new();
    private ulong? _nextNonce;

    /// <summary>A sent transaction and every version of it sent since (same nonce), newest last.</summary>
    private sealed class Pending(Eip1559Transaction transaction, SignedTransaction signed, DateTimeOffset sentAt)
    {
        public Eip1559Transaction Transaction { get; set; } = transaction;
        public List<SignedTransaction> Versions { get; } = [signed];
        public DateTimeOffset LastSentAt { get; set; } = sentAt;
    }

    /// <summary>A sender for <paramref name="key"/> on chain <paramref name="chainId"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="chainId"/> is zero, or an option is out of range.</exception>
    public TransactionSender(EthJsonRpcClient client, EthereumKey key, ulong chainId, TransactionSenderOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(client);
        ArgumentNullException.ThrowIfNull(key);
        ArgumentOutOfRangeException.ThrowIfZero(chainId);
        _options = options ?? new TransactionSenderOptions();
        ArgumentOutOfRangeException.ThrowIfNegative(_options.GasMarginPercent, nameof(options));
        ArgumentOutOfRangeException.ThrowIfLessThan(_options.Confirmations, 1, nameof(options));
        _client = client;
        _key = key;
        ChainId = chainId;
    }

    /// <summary>The signer's address (the "from" of every transaction).</summary>
    public EthAddress Address => _key.Address;

    /// <summary>The chain id every transaction is signed for.</summary>
    public ulong ChainId { get; }

    /// <summary>Signs and submits a transaction; returns its hash without waiting for it to be mined.</summary>
    /// <param name="to">Recipient or contract; null deploys <paramref name="data"/> as init code.</param>
    /// <param name="data">Call data or init code.</param>
    /// <param name="value">Ether to send.</param>
    /// <param name="cancellationToken">Cancels waiting; a transaction already submitted stays submitted.</param>
    /// <exception cref="ContractRevertException">Gas estimation (or an automining node) reports a revert.</exception>
    /// <exception cref="EthRpcException">The node rejects the transaction.</exception>
    public Task<Hash32> SendAsync(EthAddress? to, ReadOnlyMemory<byte> data, Wei value, CancellationToken cancellationToken) =>
        SendAsync(to, data, value, gasLimit: null, cancellationToken);

    /// <summary>Like <see cref="SendAsync(EthAddress?, ReadOnlyMemory{byte}, Wei, CancellationToken)"/> with a fixed gas limit
    /// (null estimates it); a fixed limit skips estimation, so a reverting call is only found in its receipt.</summary>
    public async Task<Hash32> SendAsync(EthAddress? to, ReadOnlyMemory<byte> data, Wei value, ulong? gasLimit, CancellationToken cancellationToken)
    {
        var gas = gasLimit ?? await EstimateGasAsync(to, data, value, cancellationToken).ConfigureAwait(false);
        var (priorityFee, maxFee) = await GetFeesAsync(cancellationToken).ConfigureAwait(false);

        await _nonceLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var nonce = _nextNonce ?? await _client.GetTransactionCountAsync(Address, BlockParameter.Pending, cancellationToken).ConfigureAwait(false);
            var transaction = new Eip1559Transaction(ChainId, nonce, priorityFee, maxFee, gas, to, value, data);
            var signed = transaction.Sign(_key);
            try
            {
                // Not cancellable once signed: abandoning the request half-way would leave us unsure whether the nonce is used.
                await _client.SendRawTransactionAsync(signed.Raw, CancellationToken.None).ConfigureAwait(false);
            }
            catch (EthRpcException e) when (e.IsRevert)
            {
                // An automining node (Hardhat) mines the transaction and reports its revert right away.
                _nextNonce = null;
                throw new ContractRevertException(RevertReason.Decode(e.RevertData ?? [], _options.KnownErrors), signed.Hash, e);
            }
            catch (EthRpcException)
            {
                _nextNonce = null;
                throw;
            }
            catch (Exception e) when (IsTransient(e, cancellationToken))
            {
                // The node may or may not have it: keep the nonce taken; waiting re-broadcasts it if the node does not know it.
            }
            _nextNonce = nonce + 1;
            _pending[signed.Hash] = new Pending(transaction, signed, _options.TimeProvider.GetUtcNow());
            return signed.Hash;
        }
        finally
        {
            _nonceLock.Release();
        }
    }

    /// <summary>Sends a transaction and waits for its receipt with the configured confirmations.</summary>
    /// <exception cref="ContractRevertException">Estimation reverts, or the mined transaction has status 0.</exception>
    /// <exception cref="TimeoutException">No receipt (with enough confirmations) within <see cref="TransactionSenderOptions.ReceiptTimeout"/>.</exception>
    public Task<TransactionReceipt> SendAndWaitForReceiptAsync(EthAddress? to, ReadOnlyMemory<byte> data, Wei value, CancellationToken cancellationToken) =>
        SendAndWaitForReceiptAsync(to, data, value, gasLimit: null, cancellationToken);

    /// <summary>Like <see cref="SendAndWaitForReceiptAsync(EthAddress?, ReadOnlyMemory{byte}, Wei, CancellationToken)"/> with a fixed gas limit.</summary>
    public async Task<TransactionReceipt> SendAndWaitForReceiptAsync(
        EthAddress? to, ReadOnlyMemory<byte> data, Wei value, ulong? gasLimit, CancellationToken cancellationToken)
    {
        var hash = await SendAsync(to, data, value, gasLimit, cancellationToken).ConfigureAwait(false);
        return await WaitCoreAsync(hash, new CallRequest(to, data, Address, value), cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Polls for the receipt of <paramref name="transactionHash"/> with backoff until it has the configured confirmations.</summary>
    /// <exception cref="ContractRevertException">The transaction reverted (the reason is not known here: use
    /// <see cref="SendAndWaitForReceiptAsync(EthAddress?, ReadOnlyMemory{byte}, Wei, CancellationToken)"/> to get it).</exception>
    /// <exception cref="TimeoutException">The deadline passed.</exception>
    public Task<TransactionReceipt> WaitForReceiptAsync(Hash32 transactionHash, CancellationToken cancellationToken) =>
        WaitCoreAsync(transactionHash, replay: null, cancellationToken);

    /// <summary>eth_call from this signer's address at the latest block.</summary>
    /// <exception cref="ContractRevertException">The call reverts.</exception>
    public async Task<byte[]> CallAsync(EthAddress to, ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        try
        {
            return await _client.CallAsync(new CallRequest(to, data, Address), BlockParameter.Latest, cancellationToken).ConfigureAwait(false);
        }
        catch (EthRpcException e) when (e.IsRevert)
        {
            throw new ContractRevertException(RevertReason.Decode(e.RevertData ?? [], _options.KnownErrors), null, e);
        }
    }

    /// <summary>
    /// Forgets the cached next nonce, so the next send reads the node's pending count: call it after another process
    /// may have sent with this key (e.g. on taking over the signer lease from another instance).
    /// </summary>
    public async Task ResyncNonceAsync(CancellationToken cancellationToken)
    {
        await _nonceLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        _nextNonce = null;
        _nonceLock.Release();
    }

    /// <summary>Releases the nonce lock.</summary>
    public void Dispose() => _nonceLock.Dispose();

    private async Task<ulong> EstimateGasAsync(EthAddress? to, ReadOnlyMemory<byte> data, Wei value, CancellationToken cancellationToken)
    {
        ulong estimate;
        try
        {
            estimate = await _client.EstimateGasAsync(new CallRequest(to, data, Address, value), cancellationToken).ConfigureAwait(false);
        }
        catch (EthRpcException e) when (e.IsRevert)
        {
            throw new ContractRevertException(RevertReason.Decode(e.RevertData ?? [], _options.KnownErrors), null, e);
        }
        return (ulong)(new BigInteger(estimate) * (100 + _options.GasMarginPercent) / 100);
    }

    private async Task<(Wei Priority, Wei Max)> GetFeesAsync(CancellationToken cancellationToken)
    {
        var history = await _client.GetFeeHistoryAsync(_options.FeeHistoryBlocks, BlockParameter.Latest, [50], cancellationToken).ConfigureAwait(false);
        // The last base fee in the history is the next block's.
        var nextBaseFee = history.BaseFeePerGas.Count > 0 ? history.BaseFeePerGas[^1]
            : throw new NotSupportedException("the chain has no EIP-1559 base fee; legacy transactions are not sent by this class");
        var paid = history.Reward.Where(r => r.Count > 0 && r[0] > Wei.Zero).Select(r => r[0]).OrderBy(w => w).ToList();
        var priority = paid.Count > 0 ? paid[paid.Count / 2] : await _client.GetMaxPriorityFeePerGasAsync(cancellationToken).ConfigureAwait(false);
        return (priority, nextBaseFee * 2 + priority);
    }

    private async Task<TransactionReceipt> WaitCoreAsync(Hash32 hash, CallRequest? replay, CancellationToken cancellationToken)
    {
        var clock = _options.TimeProvider;
        var deadline = clock.GetUtcNow() + _options.ReceiptTimeout;
        var delay = _options.InitialPollInterval;
        var pending = _pending.GetValueOrDefault(hash);
        try
        {
            while (true)
            {
                try
                {
                    foreach (var version in pending?.Versions.Select(v => v.Hash).ToArray() ?? [hash])
                    {
                        var receipt = await _client.GetTransactionReceiptAsync(version, cancellationToken).ConfigureAwait(false);
                        if (receipt is null || !await IsConfirmedAsync(receipt, cancellationToken).ConfigureAwait(false)) continue;
                        if (!receipt.Succeeded)
                            throw new ContractRevertException(await ReplayForReasonAsync(receipt, replay, cancellationToken).ConfigureAwait(false), version);
                        return receipt;
                    }
                    if (pending is not null && clock.GetUtcNow() - pending.LastSentAt >= _options.ReplaceAfter)
                        await ResendAsync(pending, cancellationToken).ConfigureAwait(false);
                }
                catch (Exception e) when (IsTransient(e, cancellationToken))
                {
                    // The node is unreachable or silent: keep polling until the deadline.
                }
                if (clock.GetUtcNow() >= deadline)
                    throw new TimeoutException($"transaction {hash} has no receipt with {_options.Confirmations} confirmation(s) after {_options.ReceiptTimeout}");
                await Task.Delay(delay, clock, cancellationToken).ConfigureAwait(false);
                delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, _options.MaxPollInterval.Ticks));
            }
        }
        finally
        {
            _pending.TryRemove(hash, out _);
        }
    }

    /// <summary>Re-sends an unmined transaction with its nonce: unchanged if the node dropped it, with higher fees if it is stuck.</summary>
    private async Task ResendAsync(Pending pending, CancellationToken cancellationToken)
    {
        var latest = pending.Versions[^1];
        var known = await _client.RequestAsync("eth_getTransactionByHash", [latest.Hash.ToString()], cancellationToken).ConfigureAwait(false);
        var signed = latest;
        if (known.ValueKind != JsonValueKind.Null)
        {
            var t = pending.Transaction;
            var (priority, maxFee) = await GetFeesAsync(cancellationToken).ConfigureAwait(false);
            pending.Transaction = t with
            {
                MaxPriorityFeePerGas = Max(Bump(t.MaxPriorityFeePerGas), priority),
                MaxFeePerGas = Max(Bump(t.MaxFeePerGas), maxFee),
            };
            signed = pending.Transaction.Sign(_key);
            pending.Versions.Add(signed);
        }
        pending.LastSentAt = _options.TimeProvider.GetUtcNow();
        try
        {
            await _client.SendRawTransactionAsync(signed.Raw, cancellationToken).ConfigureAwait(false);
        }
        catch (EthRpcException)
        {
            // "already known", "nonce too low" (a version was mined: its receipt ends the wait) or "underpriced" (try
            // again later): none of them is a reason to stop waiting before the deadline.
        }
    }

    private Wei Bump(Wei fee) => new(fee.Value * (100 + _options.FeeBumpPercent) / 100 + 1);

    private static Wei Max(Wei a, Wei b) => a >= b ? a : b;

    /// <summary>Failures of the connection to the node (not of a request it answered), which a retry may get past.</summary>
    private static bool IsTransient(Exception e, CancellationToken cancellationToken) =>
        e is HttpRequestException || (e is TaskCanceledException && !cancellationToken.IsCancellationRequested);

    private async Task<bool> IsConfirmedAsync(TransactionReceipt receipt, CancellationToken cancellationToken)
    {
        if (_options.Confirmations <= 1) return true;
        var head = await _client.GetBlockNumberAsync(cancellationToken).ConfigureAwait(false);
        return head + 1 >= receipt.BlockNumber + (ulong)_options.Confirmations;
    }

    private async Task<RevertReason> ReplayForReasonAsync(TransactionReceipt receipt, CallRequest? replay, CancellationToken cancellationToken)
    {
        // Receipts carry no revert data; re-running the call on the state before the block usually reproduces it.
        if (replay is null || receipt.BlockNumber == 0) return RevertReason.Decode([]);
        try
        {
            await _client.CallAsync(replay, BlockParameter.AtBlock(receipt.BlockNumber - 1), cancellationToken).ConfigureAwait(false);
            return RevertReason.Decode([]);
        }
        catch (EthRpcException e) when (e.IsRevert)
        {
            return RevertReason.Decode(e.RevertData ?? [], _options.KnownErrors);
        }
    }
}
