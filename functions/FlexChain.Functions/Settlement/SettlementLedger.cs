using System.ComponentModel.DataAnnotations;
using System.Numerics;
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

    /// <summary>How long one instance may hold the operator key's lease before another may take it over (it dies or hangs).</summary>
    public TimeSpan SignerLease { get; set; } = TimeSpan.FromMinutes(1);
}

/// <summary>
/// The FlexSettlement escrow, seen from the market operator: a request's awards are locked and settled as one escrow
/// cycle (one transaction each, however many awards). Both steps are idempotent: each first asks the contract for the
/// cycle's status and only sends a transaction when it is still needed; a lost race with another instance ends in the
/// contract's own refusal, after which the cycle is read back and compared with the records. Every call returns the
/// hash of the transaction that did the work, found from the contract's events. Transactions are sent under a
/// <see cref="SignerLease"/>, so several app instances never interleave the operator key's nonces.
/// </summary>
public sealed class SettlementLedger(IOptions<SettlementOptions> options, FlexChain.Storage.TableServiceClient tables) : IDisposable
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
    private SignerLease? _lease;
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
        _lease = new SignerLease(tables, _sender.Address.ToString(), _options.SignerLease);
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

    /// <summary>Locks the total of <paramref name="awards"/> (all from one DSO) from the DSO in escrow, unless already done.</summary>
    /// <returns>The locking transaction.</returns>
    /// <exception cref="InvalidOperationException">The cycle is on chain with a different award list.</exception>
    public async Task<string> LockCycleAsync(Hash32 cycleId, IReadOnlyList<AwardRecord> awards, DateTimeOffset refundAfter, CancellationToken cancellationToken)
    {
        if ((await GetCycleAsync(cycleId, cancellationToken)).Status == CycleStatus.None)
            await SendAsync(LockCycleFn, [cycleId, awards[0].Dso, refundAfter.ToUnixTimeSeconds(), AwardTuples(awards)], cancellationToken);
        var onChain = await GetCycleAsync(cycleId, cancellationToken);
        if (onChain.Status == CycleStatus.None || onChain.AwardsHash != AwardsHash(awards))
            throw new InvalidOperationException($"cycle {cycleId} on chain does not match its award records");
        return await FindTransactionAsync(EscrowAbi.CycleLocked, cycleId, cancellationToken);
    }

    /// <summary>Pays each CPO its payout and refunds the DSO the rest, unless already done.</summary>
    /// <returns>The settling transaction.</returns>
    /// <exception cref="InvalidOperationException">The cycle was refunded, or settled with other payouts.</exception>
    public async Task<string> SettleCycleAsync(
        Hash32 cycleId, IReadOnlyList<AwardRecord> awards, IReadOnlyList<SettlementRecord> settlements, CancellationToken cancellationToken)
    {
        if ((await GetCycleAsync(cycleId, cancellationToken)).Status == CycleStatus.Locked)
            await SendAsync(SettleCycleFn, [cycleId, AwardTuples(awards), settlements.Select(s => (object)s.PayoutUnits).ToArray(),
                settlements.Select(s => (object)s.Hash()).ToArray()], cancellationToken);
        var onChain = await GetCycleAsync(cycleId, cancellationToken);
        var paid = settlements.Aggregate(BigInteger.Zero, (sum, s) => sum + s.PayoutUnits);
        if (onChain.Status != CycleStatus.Settled || onChain.Paid != paid)
            throw new InvalidOperationException($"cycle {cycleId} is {onChain.Status} on chain with {onChain.Paid} paid, not settled with these records");
        return await FindTransactionAsync(EscrowAbi.CycleSettled, cycleId, cancellationToken);
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

    private async Task SendAsync(AbiFunction function, object?[] arguments, CancellationToken cancellationToken)
    {
        // One instance at a time sends with the operator key; whoever sent last may have used nonces we have not seen.
        await using var held = await _lease!.AcquireAsync(_options.SignerLease + TimeSpan.FromSeconds(30), cancellationToken);
        await _sender!.ResyncNonceAsync(cancellationToken);
        try
        {
            await Escrow.RequestAndWaitForReceiptAsync(function, arguments, Wei.Zero, cancellationToken);
        }
        catch (ContractRevertException e) when (e.Reason.Selector is { } selector && AlreadyDone.Any(a => a.Selector.AsSpan().SequenceEqual(selector)))
        {
            // Another instance (or an earlier attempt whose receipt was lost) got there first; the caller reads the cycle back.
        }
    }

    private async Task<string> FindTransactionAsync(AbiEvent evt, Hash32 cycleId, CancellationToken cancellationToken)
    {
        var logs = await _rpc.GetLogsAsync(new LogFilter(Escrow.Address, [evt.Topic, cycleId], _options.FromBlock, BlockParameter.Latest), cancellationToken);
        return logs.Count == 1 && logs[0].TransactionHash is { } tx
            ? tx.ToString()
            : throw new InvalidOperationException($"expected one {evt.Name} event for cycle {cycleId}, found {logs.Count}");
    }
}
