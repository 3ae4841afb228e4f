using System.Collections.Concurrent;
using System.Numerics;
using Nethereum.Contracts;
using Nethereum.Hex.HexConvertors.Extensions;
using Nethereum.Hex.HexTypes;
using Nethereum.JsonRpc.Client;
using Nethereum.RPC.TransactionTypes;
using Nethereum.RPC.Eth.DTOs;
using Nethereum.Util;
using Nethereum.Web3;
using Nethereum.Web3.Accounts;

namespace FlexChain.Ethereum;

/// <summary>Settings of a <see cref="TransactionSender"/>.</summary>
public sealed class TransactionSenderOptions
{
    /// <summary>Percent added to eth_estimateGas (default 20): estimates can fall short when state changes before mining.</summary>
    public int GasMarginPercent { get; init; } = 20;

    /// <summary>
    /// Blocks that must include or follow the transaction's block before its receipt counts (head - block + 1 >=
    /// Confirmations; default 1: mined). Until then a reorg may take it out again: it is then sent again (same nonce).
    /// </summary>
    public int Confirmations { get; init; } = 1;

    /// <summary>How long <see cref="TransactionSender.WaitForReceiptAsync"/> polls before giving up (default 5 minutes).</summary>
    public TimeSpan ReceiptTimeout { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>First receipt poll interval (default 100 ms); doubles after each poll up to <see cref="MaxPollInterval"/>.</summary>
    public TimeSpan InitialPollInterval { get; init; } = TimeSpan.FromMilliseconds(100);

    /// <summary>Longest receipt poll interval (default 4 s).</summary>
    public TimeSpan MaxPollInterval { get; init; } = TimeSpan.FromSeconds(4);

    /// <summary>The clock for deadlines and poll delays (tests may pass a fake one).</summary>
    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;

    /// <summary>
    /// How long a sent transaction may stay pending before it is re-sent with the same nonce and fees raised by
    /// <see cref="FeeBumpPercent"/> (stuck). Default 60 s; <see cref="Timeout.InfiniteTimeSpan"/> never raises fees. A
    /// transaction the node no longer knows (dropped, or removed from the chain by a reorg) is re-broadcast unchanged at once.
    /// </summary>
    public TimeSpan ReplaceAfter { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>Percent by which a replacement raises both fees (default 13; nodes require at least 10).</summary>
    public int FeeBumpPercent { get; init; } = 13;
}

/// <summary>
/// Sends EIP-1559 transactions for one signer key on one chain with Nethereum (fees from its fee-history strategy,
/// signing offline with <see cref="AccountOfflineTransactionSigner"/>), and adds what Nethereum lacks: nonces assigned
/// in order within this process, waiting for a configured number of confirmations on the canonical chain, and
/// re-sending a stuck, dropped or reorged-out transaction with the same nonce.
/// </summary>
/// <remarks>
/// Nonces are serialised by a lock inside this instance only: use exactly one instance per signer per process, and
/// one process per signer (ARCHITECTURE.md section 5). After a rejected send the next nonce is re-read from the
/// node's pending transaction count. While waiting for a receipt, transport failures (a node that went silent or
/// restarted its HTTP side) are retried until the deadline; an unmined transaction the node no longer knows (dropped,
/// or taken out of the chain by a reorg before its confirmations) is re-broadcast unchanged at once, and one still
/// pending after <see cref="TransactionSenderOptions.ReplaceAfter"/> is re-sent with the same nonce and bumped fees;
/// a receipt of any of its versions completes the wait once its block has the confirmations and is still canonical. The signed raw transactions of a pending
/// nonce are kept in memory only; a caller that must survive a restart re-sends through
/// <see cref="RebroadcastAsync"/> what it stored from <see cref="Signed"/>.
/// </remarks>
public sealed class TransactionSender : IDisposable
{
    private readonly IWeb3 _web3;
    private readonly Account _account;
    private readonly TransactionSenderOptions _options;
    private readonly AccountOfflineTransactionSigner _signer = new();
    private readonly SemaphoreSlim _nonceLock = new(1, 1);
    private readonly ConcurrentDictionary<string, Pending> _pending = new(StringComparer.OrdinalIgnoreCase);
    private BigInteger? _nextNonce;

    /// <summary>A sent transaction and every version of it signed since (same nonce), newest last.</summary>
    private sealed class Pending(TransactionInput input, SignedTransaction signed, DateTimeOffset sentAt)
    {
        public TransactionInput Input { get; } = input;
        public List<SignedTransaction> Versions { get; } = [signed];
        public DateTimeOffset LastSentAt { get; set; } = sentAt;
    }

    /// <summary>A sender for <paramref name="account"/>, whose <see cref="Account.ChainId"/> every transaction is signed for.</summary>
    /// <exception cref="ArgumentException">The account has no chain id, or an option is out of range.</exception>
    public TransactionSender(IWeb3 web3, Account account, TransactionSenderOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(web3);
        ArgumentNullException.ThrowIfNull(account);
        if (account.ChainId is null) throw new ArgumentException("the account must carry the chain id it signs for", nameof(account));
        _options = options ?? new TransactionSenderOptions();
        ArgumentOutOfRangeException.ThrowIfNegative(_options.GasMarginPercent, nameof(options));
        ArgumentOutOfRangeException.ThrowIfLessThan(_options.Confirmations, 1, nameof(options));
        _web3 = web3;
        _account = account;
        Address = EthAddress.Parse(account.Address);
    }

    /// <summary>The signer's address (the "from" of every transaction).</summary>
    public EthAddress Address { get; }

    /// <summary>The chain id every transaction is signed for.</summary>
    public BigInteger ChainId => _account.ChainId!.Value;

    /// <summary>Called with every transaction this sender signs, before it is broadcast (to store it for a re-send after a restart).</summary>
    public Func<SignedTransaction, CancellationToken, Task>? Signed { get; init; }

    /// <summary>Signs and submits a call of <paramref name="message"/> on <paramref name="contract"/>; returns the hash without waiting.</summary>
    /// <exception cref="ContractRevertException">Gas estimation (or an automining node) reports a revert.</exception>
    /// <exception cref="RpcResponseException">The node rejects the transaction.</exception>
    public Task<string> SendAsync<TFunction>(EthAddress contract, TFunction message, CancellationToken cancellationToken)
        where TFunction : FunctionMessage, new()
    {
        ArgumentNullException.ThrowIfNull(message);
        return SendAsync(contract, message.GetCallData().ToHex(prefix: true), message.AmountToSend, message.Gas, cancellationToken);
    }

    /// <summary>Signs and submits a transaction with an estimated gas limit; returns its hash without waiting for it to be mined.</summary>
    /// <exception cref="ContractRevertException">Gas estimation (or an automining node) reports a revert.</exception>
    /// <exception cref="RpcResponseException">The node rejects the transaction.</exception>
    public Task<string> SendAsync(EthAddress? to, string data, BigInteger value, CancellationToken cancellationToken) =>
        SendAsync(to, data, value, gas: null, cancellationToken);

    /// <summary>Signs and submits a transaction; returns its hash without waiting for it to be mined.</summary>
    /// <param name="to">Recipient or contract; null deploys <paramref name="data"/> as init code.</param>
    /// <param name="data">0x-prefixed call data or init code.</param>
    /// <param name="value">Wei to send.</param>
    /// <param name="gas">A fixed gas limit, or null to estimate it; a fixed limit skips estimation, so a reverting call is only found in its receipt.</param>
    /// <param name="cancellationToken">Cancels waiting; a transaction already submitted stays submitted.</param>
    /// <exception cref="ContractRevertException">Gas estimation (or an automining node) reports a revert.</exception>
    /// <exception cref="RpcResponseException">The node rejects the transaction.</exception>
    public async Task<string> SendAsync(EthAddress? to, string data, BigInteger value, BigInteger? gas, CancellationToken cancellationToken)
    {
        var input = new TransactionInput
        {
            From = _account.Address, To = to?.ToString(), Data = data, Value = new HexBigInteger(value),
            Type = new HexBigInteger(TransactionType.EIP1559.AsByte()),
        };
        input.Gas = gas is { } fixedGas ? new HexBigInteger(fixedGas) : await EstimateGasAsync(input, cancellationToken).ConfigureAwait(false);
        var fee = await _web3.FeeSuggestion.GetMedianPriorityFeeHistorySuggestionStrategy().SuggestFeeAsync().ConfigureAwait(false);
        input.MaxPriorityFeePerGas = new HexBigInteger(fee.MaxPriorityFeePerGas!.Value);
        input.MaxFeePerGas = new HexBigInteger(fee.MaxFeePerGas!.Value);

        await _nonceLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            input.Nonce = new HexBigInteger(_nextNonce ??
                (await _web3.Eth.Transactions.GetTransactionCount.SendRequestAsync(_account.Address, BlockParameter.CreatePending()).ConfigureAwait(false)).Value);
            var signed = await SignAsync(input, cancellationToken).ConfigureAwait(false);
            try
            {
                // Not cancellable once signed: abandoning the request half-way would leave us unsure whether the nonce is used.
                await _web3.Eth.Transactions.SendRawTransaction.SendRequestAsync(signed.Raw).ConfigureAwait(false);
            }
            catch (RpcResponseException e) when (IsRevert(e))
            {
                // An automining node (Hardhat) mines the transaction and reports its revert right away.
                _nextNonce = null;
                throw new ContractRevertException(e.RpcError.GetDataAsString(), signed.Hash, e);
            }
            catch (RpcResponseException)
            {
                _nextNonce = null;
                throw;
            }
            catch (Exception e) when (IsTransient(e))
            {
                // The node may or may not have it: keep the nonce taken; waiting re-broadcasts it if the node does not know it.
            }
            _nextNonce = input.Nonce.Value + 1;
            _pending[signed.Hash] = new Pending(input, signed, _options.TimeProvider.GetUtcNow());
            return signed.Hash;
        }
        finally
        {
            _nonceLock.Release();
        }
    }

    /// <summary>
    /// Runs <paramref name="data"/> against <paramref name="to"/> as this account would send it, on the latest block, without
    /// a transaction (eth_call): what the contract would do now, to decide before sending.
    /// </summary>
    /// <exception cref="ContractRevertException">The call reverts (with the contract's error data when the node gives it).</exception>
    public async Task CallAsync(EthAddress to, string data, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        try
        {
            await _web3.Eth.Transactions.Call.SendRequestAsync(new CallInput(data, to.ToString()) { From = _account.Address }).ConfigureAwait(false);
        }
        catch (RpcResponseException e) when (IsRevert(e))
        {
            throw new ContractRevertException(e.RpcError.GetDataAsString(), null, e);
        }
    }

    /// <summary>Sends a call of <paramref name="message"/> and waits for its receipt with the configured confirmations.</summary>
    /// <exception cref="ContractRevertException">Estimation reverts, or the mined transaction has status 0.</exception>
    /// <exception cref="TimeoutException">No receipt (with enough confirmations) within <see cref="TransactionSenderOptions.ReceiptTimeout"/>.</exception>
    public async Task<TransactionReceipt> SendAndWaitForReceiptAsync<TFunction>(EthAddress contract, TFunction message, CancellationToken cancellationToken)
        where TFunction : FunctionMessage, new() =>
        await WaitForReceiptAsync(await SendAsync(contract, message, cancellationToken).ConfigureAwait(false), cancellationToken).ConfigureAwait(false);

    /// <summary>Sends a transaction and waits for its receipt with the configured confirmations.</summary>
    /// <exception cref="ContractRevertException">Estimation reverts, or the mined transaction has status 0.</exception>
    /// <exception cref="TimeoutException">No receipt (with enough confirmations) within <see cref="TransactionSenderOptions.ReceiptTimeout"/>.</exception>
    public async Task<TransactionReceipt> SendAndWaitForReceiptAsync(EthAddress? to, string data, BigInteger value, CancellationToken cancellationToken) =>
        await WaitForReceiptAsync(await SendAsync(to, data, value, cancellationToken).ConfigureAwait(false), cancellationToken).ConfigureAwait(false);

    /// <summary>
    /// Polls for the receipt of <paramref name="transactionHash"/> (or of any re-sent version of it) with backoff until it
    /// has the configured confirmations, re-sending it when it stays unmined.
    /// </summary>
    /// <exception cref="ContractRevertException">The transaction reverted (the reason from replaying it on the block before).</exception>
    /// <exception cref="TimeoutException">The deadline passed.</exception>
    public async Task<TransactionReceipt> WaitForReceiptAsync(string transactionHash, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(transactionHash);
        var clock = _options.TimeProvider;
        var deadline = clock.GetUtcNow() + _options.ReceiptTimeout;
        var delay = _options.InitialPollInterval;
        var pending = _pending.GetValueOrDefault(transactionHash);
        try
        {
            while (true)
            {
                cancellationToken.ThrowIfCancellationRequested();
                try
                {
                    var mined = false;
                    foreach (var version in pending?.Versions.Select(v => v.Hash).ToArray() ?? [transactionHash])
                    {
                        var receipt = await _web3.Eth.Transactions.GetTransactionReceipt.SendRequestAsync(version).ConfigureAwait(false);
                        if (receipt?.BlockNumber is null) continue;
                        mined = true;
                        if (!await IsFinalAsync(receipt).ConfigureAwait(false)) continue;
                        if (receipt.Status?.Value != 1)
                            throw new ContractRevertException(await ReplayForRevertDataAsync(receipt, pending?.Input).ConfigureAwait(false), version);
                        return receipt;
                    }
                    if (pending is not null && !mined) await ResendAsync(pending, cancellationToken).ConfigureAwait(false);
                }
                catch (Exception e) when (IsTransient(e))
                {
                    // The node is unreachable or silent: keep polling until the deadline.
                }
                if (clock.GetUtcNow() >= deadline)
                    throw new TimeoutException($"transaction {transactionHash} has no receipt with {_options.Confirmations} confirmation(s) after {_options.ReceiptTimeout}");
                await Task.Delay(delay, clock, cancellationToken).ConfigureAwait(false);
                delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, _options.MaxPollInterval.Ticks));
            }
        }
        finally
        {
            _pending.TryRemove(transactionHash, out _);
        }
    }

    /// <summary>
    /// Broadcasts again a transaction signed before (by this or an earlier process with the same key): used after a
    /// restart for what <see cref="Signed"/> stored. A node that already has it, or has mined its nonce, is not an error.
    /// </summary>
    /// <returns>Whether the node accepted it or already knew it (false when its nonce is already used).</returns>
    public async Task<bool> RebroadcastAsync(string rawTransaction, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        try
        {
            await _web3.Eth.Transactions.SendRawTransaction.SendRequestAsync(rawTransaction).ConfigureAwait(false);
            return true;
        }
        catch (RpcResponseException e) when (e.Message.Contains("known", StringComparison.OrdinalIgnoreCase))
        {
            return true;
        }
        catch (RpcResponseException e) when (e.Message.Contains("nonce", StringComparison.OrdinalIgnoreCase))
        {
            return false;
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

    private async Task<SignedTransaction> SignAsync(TransactionInput input, CancellationToken cancellationToken)
    {
        var raw = _signer.SignTransaction(_account, input, _account.ChainId).EnsureHexPrefix();
        var signed = new SignedTransaction(input.Nonce.Value, raw, Sha3Keccack.Current.CalculateHash(raw.HexToByteArray()).ToHex(prefix: true));
        if (Signed is { } store) await store(signed, cancellationToken).ConfigureAwait(false);
        return signed;
    }

    private async Task<HexBigInteger> EstimateGasAsync(TransactionInput input, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        try
        {
            var estimate = await _web3.Eth.Transactions.EstimateGas.SendRequestAsync(new CallInput(input.Data, input.To, input.Value) { From = input.From }).ConfigureAwait(false);
            return new HexBigInteger(estimate.Value * (100 + _options.GasMarginPercent) / 100);
        }
        catch (RpcResponseException e) when (IsRevert(e))
        {
            throw new ContractRevertException(e.RpcError.GetDataAsString(), null, e);
        }
    }

    /// <summary>
    /// Re-sends an unmined transaction with its nonce: unchanged as soon as the node no longer knows it (dropped from its
    /// pool, or taken out of the chain by a reorg), with higher fees once it is stuck for <see cref="TransactionSenderOptions.ReplaceAfter"/>.
    /// </summary>
    private async Task ResendAsync(Pending pending, CancellationToken cancellationToken)
    {
        var latest = pending.Versions[^1];
        var known = await _web3.Eth.Transactions.GetTransactionByHash.SendRequestAsync(latest.Hash).ConfigureAwait(false);
        var signed = latest;
        if (known is not null)
        {
            if (_options.ReplaceAfter == Timeout.InfiniteTimeSpan || _options.TimeProvider.GetUtcNow() - pending.LastSentAt < _options.ReplaceAfter) return;
            var fee = await _web3.FeeSuggestion.GetMedianPriorityFeeHistorySuggestionStrategy().SuggestFeeAsync().ConfigureAwait(false);
            var input = pending.Input;
            input.MaxPriorityFeePerGas = new HexBigInteger(BigInteger.Max(Bump(input.MaxPriorityFeePerGas.Value), fee.MaxPriorityFeePerGas!.Value));
            input.MaxFeePerGas = new HexBigInteger(BigInteger.Max(Bump(input.MaxFeePerGas.Value), fee.MaxFeePerGas!.Value));
            signed = await SignAsync(input, cancellationToken).ConfigureAwait(false);
            pending.Versions.Add(signed);
        }
        pending.LastSentAt = _options.TimeProvider.GetUtcNow();
        try
        {
            await _web3.Eth.Transactions.SendRawTransaction.SendRequestAsync(signed.Raw).ConfigureAwait(false);
        }
        catch (RpcResponseException)
        {
            // "already known", "nonce too low" (a version was mined: its receipt ends the wait) or "underpriced" (try
            // again later): none of them is a reason to stop waiting before the deadline.
        }
    }

    private BigInteger Bump(BigInteger fee) => fee * (100 + _options.FeeBumpPercent) / 100 + 1;

    /// <summary>Failures of the connection to the node (not of a request it answered), which a retry may get past.</summary>
    private static bool IsTransient(Exception e) => e is RpcClientUnknownException or RpcClientTimeoutException;

    /// <summary>Whether the node says the call or transaction reverted (code 3, revert data, or "revert" in the message).</summary>
    private static bool IsRevert(RpcResponseException e) =>
        e.RpcError.Code == 3 || e.RpcError.GetDataAsString() is { Length: >= 10 } data && data.HasHexPrefix() && data.IsHex()
        || e.RpcError.Message.Contains("revert", StringComparison.OrdinalIgnoreCase);

    /// <summary>
    /// Whether the receipt's block has the configured confirmations (head - block + 1 >= Confirmations) and is still the
    /// chain's block at that height (a reorg since the receipt was read replaced it: not final, the next poll reads again).
    /// </summary>
    private async Task<bool> IsFinalAsync(TransactionReceipt receipt)
    {
        var head = await _web3.Eth.Blocks.GetBlockNumber.SendRequestAsync().ConfigureAwait(false);
        if (head.Value - receipt.BlockNumber.Value + 1 < _options.Confirmations) return false;
        var block = await _web3.Eth.Blocks.GetBlockWithTransactionsHashesByNumber.SendRequestAsync(receipt.BlockNumber).ConfigureAwait(false);
        return string.Equals(block?.BlockHash, receipt.BlockHash, StringComparison.OrdinalIgnoreCase);
    }

    private async Task<string?> ReplayForRevertDataAsync(TransactionReceipt receipt, TransactionInput? input)
    {
        // Receipts carry no revert data; re-running the call on the state before the block usually reproduces it.
        if (input is null || receipt.BlockNumber.Value.IsZero) return null;
        try
        {
            await _web3.Eth.Transactions.Call.SendRequestAsync(new CallInput(input.Data, input.To, input.Value) { From = input.From },
                new BlockParameter(new HexBigInteger(receipt.BlockNumber.Value - 1))).ConfigureAwait(false);
            return null;
        }
        catch (RpcResponseException e) when (IsRevert(e))
        {
            return e.RpcError.GetDataAsString();
        }
    }
}

/// <summary>A signed transaction: its nonce, raw 0x-hex encoding (what eth_sendRawTransaction takes) and hash.</summary>
public sealed record SignedTransaction(BigInteger Nonce, string Raw, string Hash);

/// <summary>A contract call or transaction reverted; carries the revert data when the node gave it.</summary>
public sealed class ContractRevertException : Exception
{
    /// <summary>A revert with its 0x-hex revert data (null when unknown), optionally of a mined transaction.</summary>
    public ContractRevertException(string? revertData, string? transactionHash = null, Exception? innerException = null)
        : base((transactionHash is { } h ? $"transaction {h} reverted" : "execution reverted") + Describe(revertData), innerException)
    {
        RevertData = revertData;
        TransactionHash = transactionHash;
    }

    /// <summary>The 0x-hex revert data (a custom error's selector and arguments), or null.</summary>
    public string? RevertData { get; }

    /// <summary>The mined transaction that reverted; null when the revert was found by a gas estimate or send.</summary>
    public string? TransactionHash { get; }

    /// <summary>Whether the revert is the custom error <typeparamref name="TError"/> (a Nethereum <c>[Error]</c> DTO).</summary>
    public bool Is<TError>() => RevertData is { } data && data.HasHexPrefix() && data.IsHex() && data.IsExceptionEncodedDataForError<TError>();

    private static string Describe(string? data) => data is { Length: >= 10 } && data.HasHexPrefix() ? $" with error {data[..10]}" : "";
}
