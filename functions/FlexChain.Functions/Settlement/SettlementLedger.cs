using System.ComponentModel.DataAnnotations;
using System.Numerics;
using Azure.Storage.Blobs;
using FlexChain.Ethereum;
using FlexChain.Ethereum.Abi;
using FlexChain.Functions.Api;
using FlexChain.Verification;
using Microsoft.Extensions.Options;

namespace FlexChain.Functions.Settlement;

/// <summary>Chain settings (section <c>Chain</c>). The operator key comes from the environment or Key Vault, never from files in the repository.</summary>
public sealed class SettlementOptions
{
    [Required] public string RpcUrl { get; set; } = "";

    /// <summary>Address of the deployed FlexSettlement escrow.</summary>
    [Required] public string SettlementContract { get; set; } = "";

    /// <summary>The market operator's signing key (hex). Holds the escrow's settler role.</summary>
    [Required] public string OperatorKey { get; set; } = "";

    /// <summary>Confirmations (1 = mined in a block) before a chain step counts as done.</summary>
    [Range(1, 64)] public int Confirmations { get; set; } = 1;

    /// <summary>First block to scan for the escrow's events (its deployment block).</summary>
    public ulong FromBlock { get; set; }

    /// <summary>
    /// Duration of the operator key's signer lease, 15 s to 60 s (the storage service's range): how long after a holder
    /// dies or hangs another instance may take over. A live holder renews it every third of this.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:15", "00:01:00")] public TimeSpan SignerLease { get; set; } = TimeSpan.FromSeconds(30);
}

/// <summary>
/// The FlexSettlement escrow, seen from the market operator: each escrow batch of a gate cycle is locked and settled
/// as one escrow cycle (one transaction each, however many awards; a gate cycle's transactions go out back to back). Both steps are idempotent: each first asks the contract for the
/// cycle's status and only sends a transaction when it is still needed; a lost race with another instance ends in the
/// contract's own refusal, after which the cycle is read back and compared with the records. Every call returns the
/// hash of the transaction that did the work, found from the contract's events. Transactions are sent under a
/// <see cref="SignerLease"/>, so several app instances never interleave the operator key's nonces.
/// </summary>
public sealed class SettlementLedger(IOptions<SettlementOptions> options, BlobServiceClient blobs, ILogger<SignerLease> leaseLog) : IDisposable
{
    private static readonly AbiFunction LockCycleFn = AbiFunction.Parse(
        "lockCycle(bytes32 cycleId, address dso, uint64 refundAfter, (address,uint256,bytes32)[] awards)");
    private static readonly AbiFunction SettleCycleFn = AbiFunction.Parse(
        "settleCycle(bytes32 cycleId, (address,uint256,bytes32)[] awards, uint256[] payouts, bytes32[] settlementHashes)");

    /// <summary>Refusals that mean another attempt already did the work; the caller then reads the cycle back.</summary>
    private static readonly AbiError[] AlreadyDone = [AbiError.Parse("CycleExists(bytes32)"), AbiError.Parse("CycleNotLocked(bytes32,uint8)")];

    private readonly SettlementOptions _options = options.Value;
    private readonly EthJsonRpcClient _rpc = new(new Uri(options.Value.RpcUrl));
    private TransactionSender? _sender;
    private EthContract? _escrow;
    private ChainInfo? _info;

    /// <summary>Chain id, escrow and token, read from the chain at start-up.</summary>
    public ChainInfo Info => _info ?? throw new InvalidOperationException("The ledger is not initialised.");

    /// <summary>On-chain status of a cycle.</summary>
    public enum CycleStatus { None = 0, Locked = 1, Settled = 2, Refunded = 3 }

    /// <summary>What the escrow holds for a cycle.</summary>
    public sealed record CycleState(CycleStatus Status, EthAddress Dso, BigInteger Total, BigInteger Paid, Hash32 AwardsHash);

    public async Task InitializeAsync(CancellationToken cancellationToken)
    {
        var chainId = await _rpc.GetChainIdAsync(cancellationToken);
        _sender = new TransactionSender(_rpc, EthereumKey.FromHex(_options.OperatorKey), chainId,
            new TransactionSenderOptions { Confirmations = _options.Confirmations, KnownErrors = AlreadyDone });
        _escrow = new EthContract(EthAddress.Parse(_options.SettlementContract), _sender);
        var token = (EthAddress)(await _escrow.QueryAsync(EscrowAbi.Token, [], cancellationToken))[0]!;
        var decimals = Convert.ToInt32((await new EthContract(token, _sender).QueryAsync(EscrowAbi.Decimals, [], cancellationToken))[0]);
        _info = new ChainInfo(checked((long)chainId), _escrow.Address.ToString(), token.ToString(), decimals);
    }

    public async Task<CycleState> GetCycleAsync(Hash32 cycleId, CancellationToken cancellationToken)
    {
        var c = (object?[])(await Escrow.QueryAsync(EscrowAbi.GetCycle, [cycleId], cancellationToken))[0]!;
        return new CycleState((CycleStatus)Convert.ToInt32(c[2]), (EthAddress)c[0]!, ToBig(c[3]), ToBig(c[4]), (Hash32)c[5]!);
    }

    /// <summary>The commitment the escrow stores for an award list: Keccak-256 of <c>abi.encode((address,uint256,bytes32)[])</c>.</summary>
    public static Hash32 AwardsHash(IReadOnlyList<AwardRecord> awards) => CycleCommitment.Hash(awards);

    /// <summary>An escrow cycle to lock: its award list (all of one DSO) and when anyone may refund it.</summary>
    public sealed record CycleLock(Hash32 CycleId, IReadOnlyList<AwardRecord> Awards, DateTimeOffset RefundAfter);

    /// <summary>An escrow cycle to settle: its award list and a settlement record per award, in list order.</summary>
    public sealed record CycleSettlement(Hash32 CycleId, IReadOnlyList<AwardRecord> Awards, IReadOnlyList<SettlementRecord> Settlements);

    /// <summary>
    /// Locks each cycle's total from its DSO in escrow, unless already done: the transactions still needed go out
    /// back to back under one signer lease and are then awaited together.
    /// </summary>
    /// <returns>The locking transaction of each cycle, in order.</returns>
    /// <exception cref="InvalidOperationException">A cycle is on chain with a different award list.</exception>
    /// <exception cref="TimeoutException">Another instance held the signer lease throughout the wait for it.</exception>
    /// <exception cref="SignerLeaseLostException">The signer lease was lost part-way: the rest was not sent.</exception>
    public async Task<IReadOnlyList<string>> LockCyclesAsync(IReadOnlyList<CycleLock> cycles, CancellationToken cancellationToken)
    {
        var before = await Task.WhenAll(cycles.Select(c => GetCycleAsync(c.CycleId, cancellationToken)));
        await SendAllAsync(cycles.Where((_, i) => before[i].Status == CycleStatus.None)
            .Select(c => (LockCycleFn, new object?[] { c.CycleId, c.Awards[0].Dso, c.RefundAfter.ToUnixTimeSeconds(), AwardTuples(c.Awards) })).ToList(), cancellationToken);
        return await Task.WhenAll(cycles.Select(async c =>
        {
            var onChain = await GetCycleAsync(c.CycleId, cancellationToken);
            if (onChain.Status == CycleStatus.None || onChain.AwardsHash != AwardsHash(c.Awards))
                throw new InvalidOperationException($"cycle {c.CycleId} on chain does not match its award records");
            return await FindTransactionAsync(EscrowAbi.CycleLocked, c.CycleId, cancellationToken);
        }));
    }

    /// <summary>Pays each CPO of each cycle its payout and refunds the DSO the rest, unless already done (sent like <see cref="LockCyclesAsync"/>).</summary>
    /// <returns>The settling transaction of each cycle, in order.</returns>
    /// <exception cref="InvalidOperationException">A cycle was refunded, or settled with other payouts.</exception>
    /// <exception cref="TimeoutException">Another instance held the signer lease throughout the wait for it.</exception>
    /// <exception cref="SignerLeaseLostException">The signer lease was lost part-way: the rest was not sent.</exception>
    public async Task<IReadOnlyList<string>> SettleCyclesAsync(IReadOnlyList<CycleSettlement> cycles, CancellationToken cancellationToken)
    {
        var before = await Task.WhenAll(cycles.Select(c => GetCycleAsync(c.CycleId, cancellationToken)));
        await SendAllAsync(cycles.Where((_, i) => before[i].Status == CycleStatus.Locked)
            .Select(c => (SettleCycleFn, new object?[] { c.CycleId, AwardTuples(c.Awards), c.Settlements.Select(s => (object)s.PayoutUnits).ToArray(),
                c.Settlements.Select(s => (object)s.Hash()).ToArray() })).ToList(), cancellationToken);
        return await Task.WhenAll(cycles.Select(async c =>
        {
            var onChain = await GetCycleAsync(c.CycleId, cancellationToken);
            var paid = c.Settlements.Aggregate(BigInteger.Zero, (sum, s) => sum + s.PayoutUnits);
            if (onChain.Status != CycleStatus.Settled || onChain.Paid != paid)
                throw new InvalidOperationException($"cycle {c.CycleId} is {onChain.Status} on chain with {onChain.Paid} paid, not settled with these records");
            return await FindTransactionAsync(EscrowAbi.CycleSettled, c.CycleId, cancellationToken);
        }));
    }

    public void Dispose()
    {
        _sender?.Dispose();
        _rpc.Dispose();
    }

    private EthContract Escrow => _escrow ?? throw new InvalidOperationException("The ledger is not initialised.");

    private static object[] AwardTuples(IReadOnlyList<AwardRecord> awards) => CycleCommitment.Tuples(awards);

    private static BigInteger ToBig(object? value) => value switch
    {
        BigInteger b => b,
        ulong u => u,
        _ => throw new InvalidOperationException("unexpected ABI value " + value?.GetType().Name),
    };

    /// <summary>
    /// Sends the calls back to back under the signer lease, each after proving the lease is still held, then waits for
    /// every receipt (the lease renewed meanwhile). A call the contract refuses as
    /// already done (another instance, or an earlier attempt whose receipt was lost, got there first) is skipped; the
    /// caller reads the cycles back either way.
    /// </summary>
    private async Task SendAllAsync(IReadOnlyList<(AbiFunction Function, object?[] Arguments)> calls, CancellationToken cancellationToken)
    {
        if (calls.Count == 0) return;
        // One instance at a time sends with the operator key; whoever sent last may have used nonces we have not seen.
        await using var lease = await SignerLease.AcquireAsync(blobs, _sender!.Address.ToString(), _options.SignerLease,
            _options.SignerLease + TimeSpan.FromSeconds(30), leaseLog, cancellationToken);
        await _sender.ResyncNonceAsync(cancellationToken);
        var sent = new List<Hash32>();
        foreach (var (function, arguments) in calls)
        {
            // An instance paused past its lease must not send with a nonce the instance that took over now owns.
            await lease.EnsureHeldAsync(cancellationToken);
            try
            {
                sent.Add(await Escrow.RequestAsync(function, arguments, Wei.Zero, cancellationToken));
            }
            catch (ContractRevertException e) when (IsAlreadyDone(e))
            {
            }
        }
        foreach (var hash in sent)
        {
            try
            {
                await _sender.WaitForReceiptAsync(hash, cancellationToken);
            }
            catch (ContractRevertException)
            {
                // Mined but reverted: raced by another sender; the read-back decides.
            }
        }
    }

    private static bool IsAlreadyDone(ContractRevertException e) =>
        e.Reason.Selector is { } selector && AlreadyDone.Any(a => a.Selector.AsSpan().SequenceEqual(selector));

    private async Task<string> FindTransactionAsync(AbiEvent evt, Hash32 cycleId, CancellationToken cancellationToken)
    {
        var logs = await _rpc.GetLogsAsync(new LogFilter(Escrow.Address, [evt.Topic, cycleId], _options.FromBlock, BlockParameter.Latest), cancellationToken);
        return logs.Count == 1 && logs[0].TransactionHash is { } tx
            ? tx.ToString()
            : throw new InvalidOperationException($"expected one {evt.Name} event for cycle {cycleId}, found {logs.Count}");
    }
}
