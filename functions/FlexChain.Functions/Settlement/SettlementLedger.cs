using System.ComponentModel.DataAnnotations;
using System.Numerics;
using FlexChain.Ethereum;
using FlexChain.Ethereum.Abi;
using FlexChain.Functions.Api;
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
}

/// <summary>
/// The FlexSettlement escrow, seen from the market operator. Locking and settling are idempotent: each first asks
/// the contract for the award's status and only sends a transaction when it is still needed; a lost race with another
/// instance ends in the contract's own refusal, after which the award's on-chain record is read back and compared.
/// Every call returns the hash of the transaction that did the work, found from the contract's events.
/// </summary>
public sealed class SettlementLedger(IOptions<SettlementOptions> options) : IDisposable
{
    private static readonly AbiFunction TokenFn = AbiFunction.Parse("token() returns (address)");
    private static readonly AbiFunction DecimalsFn = AbiFunction.Parse("decimals() returns (uint8)");
    private static readonly AbiFunction GetAwardFn = AbiFunction.Parse(
        "getAward(bytes32 awardId) returns ((address,address,uint256,uint64,uint8,bytes32,bytes32,uint256))");
    private static readonly AbiFunction LockFn = AbiFunction.Parse(
        "lockAward(bytes32 awardId, address dso, address cpo, uint256 amount, uint64 refundAfter, bytes32 awardHash)");
    private static readonly AbiFunction SettleFn = AbiFunction.Parse("settle(bytes32 awardId, uint256 payout, bytes32 settlementHash)");
    public static readonly AbiEvent AwardLocked = AbiEvent.Parse(
        "AwardLocked(bytes32 indexed awardId, address indexed dso, address indexed cpo, uint256 amount, uint64 refundAfter, bytes32 awardHash)");
    public static readonly AbiEvent AwardSettled = AbiEvent.Parse(
        "AwardSettled(bytes32 indexed awardId, address indexed cpo, address indexed dso, uint256 paid, uint256 refunded, bytes32 settlementHash)");

    private readonly SettlementOptions _options = options.Value;
    private readonly EthJsonRpcClient _rpc = new(new Uri(options.Value.RpcUrl));
    private TransactionSender? _sender;
    private EthContract? _escrow;
    private ChainInfo? _info;

    /// <summary>Chain id, escrow and token, read from the chain at start-up.</summary>
    public ChainInfo Info => _info ?? throw new InvalidOperationException("The ledger is not initialised.");

    /// <summary>On-chain award status: 0 none, 1 locked, 2 settled, 3 refunded.</summary>
    public enum AwardStatus { None = 0, Locked = 1, Settled = 2, Refunded = 3 }

    public async Task InitializeAsync(CancellationToken cancellationToken)
    {
        var chainId = await _rpc.GetChainIdAsync(cancellationToken);
        _sender = new TransactionSender(_rpc, EthereumKey.FromHex(_options.OperatorKey), chainId,
            new TransactionSenderOptions { Confirmations = _options.Confirmations, KnownErrors = AlreadyDone });
        _escrow = new EthContract(EthAddress.Parse(_options.SettlementContract), _sender);
        var token = (EthAddress)(await _escrow.QueryAsync(TokenFn, [], cancellationToken))[0]!;
        var decimals = Convert.ToInt32((await new EthContract(token, _sender).QueryAsync(DecimalsFn, [], cancellationToken))[0]);
        _info = new ChainInfo(checked((long)chainId), _escrow.Address.ToString(), token.ToString(), decimals);
    }

    public async Task<(AwardStatus Status, Hash32 AwardHash, Hash32 SettlementHash)> GetAwardAsync(Hash32 awardId, CancellationToken cancellationToken)
    {
        var award = (object?[])(await Escrow.QueryAsync(GetAwardFn, [awardId], cancellationToken))[0]!;
        return ((AwardStatus)Convert.ToInt32(award[4]), (Hash32)award[5]!, (Hash32)award[6]!);
    }

    /// <summary>Locks the award's funds from the DSO in escrow, unless already done. Returns the locking transaction.</summary>
    /// <exception cref="InvalidOperationException">The id is on chain with a different record hash.</exception>
    public async Task<string> LockAsync(AwardRecord record, DateTimeOffset refundAfter, CancellationToken cancellationToken)
    {
        if ((await GetAwardAsync(record.AwardId, cancellationToken)).Status == AwardStatus.None)
            await SendAsync(LockFn, [record.AwardId, record.Dso, record.Cpo, record.LockedUnits, refundAfter.ToUnixTimeSeconds(), record.Hash()],
                cancellationToken);
        var onChain = await GetAwardAsync(record.AwardId, cancellationToken);
        if (onChain.Status == AwardStatus.None || onChain.AwardHash != record.Hash())
            throw new InvalidOperationException($"award {record.AwardId} on chain does not match its record");
        return await FindTransactionAsync(AwardLocked, record.AwardId, cancellationToken);
    }

    /// <summary>Pays the CPO and refunds the DSO the rest, unless already done. Returns the settling transaction.</summary>
    /// <exception cref="InvalidOperationException">The award was refunded, or settled with a different record.</exception>
    public async Task<string> SettleAsync(SettlementRecord record, CancellationToken cancellationToken)
    {
        if ((await GetAwardAsync(record.AwardId, cancellationToken)).Status == AwardStatus.Locked)
            await SendAsync(SettleFn, [record.AwardId, record.PayoutUnits, record.Hash()], cancellationToken);
        var onChain = await GetAwardAsync(record.AwardId, cancellationToken);
        if (onChain.Status != AwardStatus.Settled || onChain.SettlementHash != record.Hash())
            throw new InvalidOperationException($"award {record.AwardId} is {onChain.Status} on chain, not settled with this record");
        return await FindTransactionAsync(AwardSettled, record.AwardId, cancellationToken);
    }

    public void Dispose()
    {
        _sender?.Dispose();
        _rpc.Dispose();
    }

    private EthContract Escrow => _escrow ?? throw new InvalidOperationException("The ledger is not initialised.");

    private async Task SendAsync(AbiFunction function, object?[] arguments, CancellationToken cancellationToken)
    {
        try
        {
            await Escrow.RequestAndWaitForReceiptAsync(function, arguments, Wei.Zero, cancellationToken);
        }
        catch (ContractRevertException e) when (IsAlreadyDone(e.Reason))
        {
            // Another instance (or an earlier attempt whose receipt was lost) got there first; the caller re-reads the award.
        }
    }

    private static readonly AbiError[] AlreadyDone = [AbiError.Parse("AwardExists(bytes32)"), AbiError.Parse("AwardNotLocked(bytes32,uint8)")];

    private static bool IsAlreadyDone(RevertReason reason) =>
        reason.Selector is { } selector && AlreadyDone.Any(e => e.Selector.AsSpan().SequenceEqual(selector));

    private async Task<string> FindTransactionAsync(AbiEvent evt, Hash32 awardId, CancellationToken cancellationToken)
    {
        var logs = await _rpc.GetLogsAsync(new LogFilter(Escrow.Address, [evt.Topic, awardId], _options.FromBlock, BlockParameter.Latest), cancellationToken);
        return logs.Count == 1 && logs[0].TransactionHash is { } tx
            ? tx.ToString()
            : throw new InvalidOperationException($"expected one {evt.Name} event for award {awardId}, found {logs.Count}");
    }

}
