using System.ComponentModel.DataAnnotations;
using System.Numerics;
using Azure.Storage.Blobs;
using FlexChain.Ethereum;
using FlexChain.Functions.Api;
using FlexChain.Functions.Hosting;
using FlexChain.Verification;
using Microsoft.Extensions.Options;
using Nethereum.ABI.FunctionEncoding.Attributes;
using Nethereum.Contracts;
using Nethereum.Hex.HexConvertors.Extensions;
using Nethereum.RPC.Eth.DTOs;
using Nethereum.Util;
using Nethereum.Web3;
using Nethereum.Web3.Accounts;

namespace FlexChain.Functions.Settlement;

/// <summary>Chain settings (section <c>Chain</c>). The operator key comes from the environment or Key Vault, never from files in the repository.</summary>
public sealed class SettlementOptions : IValidatableObject
{
    [Required] public string RpcUrl { get; set; } = "";

    /// <summary>
    /// The chain node a wallet holder's browser is offered (<c>GET /v1/health</c>, <c>chain.publicRpcUrl</c>; the wallet
    /// page pre-fills it): an absolute http(s) URL anyone may see, so never <see cref="RpcUrl"/> when that carries a
    /// provider key. Unset: the page offers none and the holder names one.
    /// </summary>
    [Url] public string? PublicRpcUrl { get; set; }

    /// <summary>The chain id the node must report (31337 for Hardhat): on a node on another chain no chain step runs (health says why).</summary>
    [Range(1, long.MaxValue, ErrorMessage = "Chain:ChainId must be set to the chain id of the settlement chain (for example 31337 for Hardhat).")]
    public long ChainId { get; set; }

    /// <summary>Address of the deployed FlexSettlement escrow.</summary>
    [Required] public string SettlementContract { get; set; } = "";

    /// <summary>The market operator's signing key (hex). Holds the escrow's settler role (locks and settles).</summary>
    [Required] public string OperatorKey { get; set; } = "";

    /// <summary>
    /// The registrar's signing key (hex), a different key from <see cref="OperatorKey"/>: it holds the escrow's registrar
    /// role, with which the app lists a CPO's proven wallet as a payee (the escrow pays no unlisted address).
    /// </summary>
    [Required] public string RegistrarKey { get; set; } = "";

    /// <summary>The escrow refuses one account holding two roles, so the two keys must differ (checked at start-up).</summary>
    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        static string Normal(string key) => key.Trim().ToLowerInvariant().Replace("0x", "", StringComparison.Ordinal);
        if (RegistrarKey.Length > 0 && Normal(RegistrarKey) == Normal(OperatorKey))
            yield return new ValidationResult("Chain:RegistrarKey must be another key than Chain:OperatorKey (the escrow refuses one account holding both roles).",
                [nameof(RegistrarKey)]);
    }

    /// <summary>
    /// Confirmations before a chain step (payee listing, lock, settlement) counts as done: its block and the blocks after
    /// it (head - block + 1 >= Confirmations), that block still being the chain's at its height. 1 (mined) suits a local
    /// Hardhat node, which never reorganises; on a public chain use enough to make a reorg past them unlikely (3 dev, 12 prod).
    /// </summary>
    [Range(1, 64)] public int Confirmations { get; set; } = 1;

    /// <summary>
    /// How a chain step becomes final: <see cref="ChainFinality.Confirmations"/> (the default) counts
    /// <see cref="Confirmations"/>; <see cref="ChainFinality.Finalized"/> waits until the node's <c>finalized</c> block
    /// (Ethereum's finality, as mainnet and L2 providers report it) has reached the block the step was read at, and
    /// <see cref="Confirmations"/> is not used.
    /// </summary>
    public ChainFinality Finality { get; set; } = ChainFinality.Confirmations;

    /// <summary>First block to scan for the escrow's events (its deployment block).</summary>
    public ulong FromBlock { get; set; }

    /// <summary>Most blocks asked for in one eth_getLogs (providers cap the range; default 2,000).</summary>
    [Range(typeof(ulong), "1", "1000000")] public ulong MaxLogBlockSpan { get; set; } = JsonRpcEscrowChain.DefaultMaxLogBlockSpan;

    /// <summary>
    /// Duration of the operator key's signer lease, 15 s to 60 s (the storage service's range): how long after a holder
    /// dies or hangs another instance may take over. A live holder renews it every third of this.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:15", "00:01:00")] public TimeSpan SignerLease { get; set; } = TimeSpan.FromSeconds(30);
}

/// <summary>How a chain step becomes final (<see cref="SettlementOptions.Finality"/>).</summary>
public enum ChainFinality
{
    /// <summary>At <see cref="SettlementOptions.Confirmations"/> confirmations.</summary>
    Confirmations = 1,

    /// <summary>When the node's <c>finalized</c> block reaches it.</summary>
    Finalized = 2,
}

/// <summary>
/// The FlexSettlement escrow, seen from the market operator: each escrow batch of a gate cycle is locked and settled
/// as one escrow cycle (one transaction each, however many awards; a gate cycle's transactions go out back to back). Both steps are idempotent: each first asks the contract for the
/// cycle's status and only sends a transaction when it is still needed; a lost race with another instance ends in the
/// contract's own refusal, after which the cycle is read back and compared with the records. Every call returns the
/// hash of the transaction that did the work, found from the contract's events. The escrow pays only listed payees:
/// the registrar key lists a CPO's wallet after its wallet proof, and again before a lock for any payee not yet
/// listed (so a crash between the proof and its registration loses nothing). Each key's transactions are sent under
/// its own signer lease (<see cref="ExclusiveLease"/>), so several app instances never interleave a key's nonces.
/// </summary>
public sealed class SettlementLedger(IOptions<SettlementOptions> options, BlobServiceClient blobs, ILogger<ExclusiveLease> leaseLog) : IDisposable
{
    private readonly SettlementOptions _options = options.Value;
    private readonly Web3 _web3 = new(options.Value.RpcUrl);
    private Signer? _settler;
    private Signer? _registrar;
    private JsonRpcEscrowChain? _chain;
    private volatile ChainStatus _status = ChainStatus.NotYetConnected;

    /// <summary>Whether the chain can be used now, and why not (set by <see cref="InitializeAsync"/>, which <see cref="ChainConnector"/> retries).</summary>
    public ChainStatus Status => _status;

    /// <summary>Chain id, escrow and token, read from the chain when it connected.</summary>
    /// <exception cref="ChainUnavailableException">The chain is not connected (unreachable so far, or on another chain id).</exception>
    public ChainInfo Info => _status.Info ?? throw new ChainUnavailableException(_status);

    /// <summary>The escrow's reads (logs in bounded block ranges, receipts, cycles), as the verifier uses them.</summary>
    /// <exception cref="ChainUnavailableException">The chain is not connected.</exception>
    public JsonRpcEscrowChain Chain => _status.Info is not null ? _chain! : throw new ChainUnavailableException(_status);

    /// <summary>The chain's latest block number.</summary>
    public async Task<ulong> LatestBlockAsync(CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return (ulong)(await _web3.Eth.Blocks.GetBlockNumber.SendRequestAsync()).Value;
    }

    /// <summary>What the escrow holds for a cycle.</summary>
    public sealed record CycleState(CycleStatus Status, EthAddress Dso, BigInteger Total, BigInteger Paid, Hash32 AwardsHash);

    /// <summary>
    /// Checks that the node is on the configured chain, then reads the escrow's token and its decimals; only then is the
    /// chain used (<see cref="Status"/> says why not yet). Called until it succeeds (<see cref="ChainConnector"/>).
    /// </summary>
    /// <exception cref="ChainMismatchException">The node reports another chain id than <see cref="SettlementOptions.ChainId"/>: every chain step stays refused.</exception>
    public async Task InitializeAsync(CancellationToken cancellationToken)
    {
        try
        {
            await ConnectAsync(cancellationToken);
        }
        catch (ChainMismatchException e)
        {
            _status = new ChainStatus(ChainState.Refused, e.Message, null);
            throw;
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // The type only: an RPC error's text may carry the node's URL, which can hold a provider's API key.
            _status = new ChainStatus(ChainState.Connecting, $"the chain node did not answer ({e.GetType().Name}); retrying", null);
            throw;
        }
    }

    private async Task ConnectAsync(CancellationToken cancellationToken)
    {
        await _web3.RequireChainIdAsync(_options.ChainId, cancellationToken);
        var escrow = EthAddress.Parse(_options.SettlementContract);
        var chain = new JsonRpcEscrowChain(_web3, escrow, _options.MaxLogBlockSpan);
        var token = await chain.GetTokenAsync(cancellationToken);
        // Built once, after the last read that can fail: a failed attempt leaves nothing behind.
        _chain = chain;
        _settler ??= NewSigner(_options.OperatorKey);
        _registrar ??= NewSigner(_options.RegistrarKey);
        _status = new ChainStatus(ChainState.Connected, null, new ChainInfo(_options.ChainId, escrow.ToString(), token.Address.ToString(), token.Decimals));
    }

    public async Task<CycleState> GetCycleAsync(Hash32 cycleId, CancellationToken cancellationToken) =>
        await GetCycleAsync(cycleId, BlockParameter.CreateLatest(), cancellationToken);

    /// <summary>How long a step waits for finality before it fails (and is retried): Ethereum finalizes in about 13 minutes.</summary>
    private TimeSpan FinalityTimeout => _options.Finality == ChainFinality.Finalized ? TimeSpan.FromMinutes(30) : TimeSpan.FromMinutes(5);

    private async Task<CycleState> GetCycleAsync(Hash32 cycleId, BlockParameter block, CancellationToken cancellationToken)
    {
        var c = await Chain.GetCycleAsync(cycleId, block, cancellationToken);
        return new CycleState(c.Status, c.Dso, c.Total, c.Paid, c.AwardsHash);
    }

    /// <summary>
    /// The cycles as of the latest block once that block is final (<see cref="IsFinalAsync"/>) and still the chain's
    /// block at its height (after a reorg they are read again at the new head). What a step records comes from here, so a
    /// lock or settlement counts only once final, whoever sent it.
    /// </summary>
    /// <exception cref="TimeoutException">The block did not become final within 5 minutes (30 with <see cref="ChainFinality.Finalized"/>; the step fails and is retried).</exception>
    private async Task<CycleState[]> GetFinalCyclesAsync(IEnumerable<Hash32> cycleIds, CancellationToken cancellationToken)
    {
        var deadline = DateTimeOffset.UtcNow + FinalityTimeout;
        while (true)
        {
            var head = await _web3.Eth.Blocks.GetBlockWithTransactionsHashesByNumber.SendRequestAsync(BlockParameter.CreateLatest());
            var at = new BlockParameter(head.Number);
            var states = await Task.WhenAll(cycleIds.Select(id => GetCycleAsync(id, at, cancellationToken)));
            while (!await IsFinalAsync(head.Number.Value))
            {
                if (DateTimeOffset.UtcNow >= deadline)
                    throw new TimeoutException(_options.Finality == ChainFinality.Finalized
                        ? $"block {head.Number.Value} was not finalized within {FinalityTimeout}"
                        : $"block {head.Number.Value} did not reach {_options.Confirmations} confirmations within {FinalityTimeout}");
                await Task.Delay(TimeSpan.FromSeconds(1), cancellationToken);
            }
            var still = await _web3.Eth.Blocks.GetBlockWithTransactionsHashesByNumber.SendRequestAsync(head.Number);
            if (string.Equals(still?.BlockHash, head.BlockHash, StringComparison.OrdinalIgnoreCase)) return states;
        }
    }

    /// <summary>
    /// Whether <paramref name="block"/> is final: the node's <c>finalized</c> block is at or past it, or (by default) it has
    /// <see cref="SettlementOptions.Confirmations"/> (head - block + 1 >= Confirmations).
    /// </summary>
    /// <exception cref="InvalidOperationException">The node knows no <c>finalized</c> block (it predates the merge's block tags).</exception>
    private async Task<bool> IsFinalAsync(System.Numerics.BigInteger block)
    {
        if (_options.Finality == ChainFinality.Finalized)
        {
            var finalized = await _web3.Client.SendRequestAsync<BlockWithTransactionHashes?>("eth_getBlockByNumber", null, "finalized", false)
                ?? throw new InvalidOperationException("the chain node reports no finalized block");
            return finalized.Number.Value >= block;
        }
        return (await _web3.Eth.Blocks.GetBlockNumber.SendRequestAsync()).Value - block + 1 >= _options.Confirmations;
    }

    /// <summary>The commitment the escrow stores for an award list: Keccak-256 of <c>abi.encode((address,uint256,bytes32)[])</c>.</summary>
    public static Hash32 AwardsHash(IReadOnlyList<IEscrowEntry> awards) => CycleCommitment.Hash(awards);

    /// <summary>
    /// An escrow cycle to lock: its award list (all of one DSO), when anyone may refund it, and the DSO's consents it draws
    /// on (per request, the amount of its awards in the list; the amounts add up to the list's total).
    /// </summary>
    public sealed record CycleLock(Hash32 CycleId, IReadOnlyList<IEscrowEntry> Awards, DateTimeOffset RefundAfter, IReadOnlyList<CycleConsent> Consents);

    /// <summary>An escrow cycle to settle: its award list and a settlement record per award, in list order.</summary>
    public sealed record CycleSettlement(Hash32 CycleId, IReadOnlyList<IEscrowEntry> Awards, IReadOnlyList<ISettlementEntry> Settlements);

    /// <summary>What the escrow can draw from <paramref name="dso"/>: its token allowance to the escrow and its token balance.</summary>
    public async Task<(BigInteger Allowance, BigInteger Balance)> FundingOfAsync(EthAddress dso, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var token = _web3.Eth.ERC20.GetContractService(Info.Token);
        var allowance = token.AllowanceQueryAsync(dso.ToString(), Chain.Escrow.ToString());
        var balance = token.BalanceOfQueryAsync(dso.ToString());
        return (await allowance, await balance);
    }

    /// <summary>What the locks drew so far from <paramref name="dso"/> under its consent nonce <paramref name="nonce"/>, in token units.</summary>
    public async Task<BigInteger> ConsentDrawnAsync(EthAddress dso, BigInteger nonce, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return await _web3.Eth.GetContractQueryHandler<ConsentDrawnFunction>()
            .QueryAsync<BigInteger>(Chain.Escrow.ToString(), new ConsentDrawnFunction { Dso = dso.ToString(), ConsentNonce = nonce });
    }

    /// <summary>Whether the escrow lists <paramref name="wallet"/> as a payee.</summary>
    public async Task<bool> IsPayeeAsync(EthAddress wallet, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return await _web3.Eth.GetContractQueryHandler<IsPayeeFunction>()
            .QueryAsync<bool>(Chain.Escrow.ToString(), new IsPayeeFunction { Wallet = wallet.ToString() });
    }

    /// <summary>
    /// Lists the wallets the escrow does not list yet as payees, in one transaction of the registrar key; does nothing
    /// when all are listed. The caller passes only proven CPO wallets.
    /// </summary>
    /// <exception cref="InvalidOperationException">A wallet is still unlisted after the transaction.</exception>
    /// <exception cref="TimeoutException">Another instance held the registrar's lease throughout the wait for it.</exception>
    public async Task RegisterPayeesAsync(IEnumerable<EthAddress> wallets, CancellationToken cancellationToken)
    {
        var distinct = wallets.Distinct().ToList();
        var listed = await Task.WhenAll(distinct.Select(w => IsPayeeAsync(w, cancellationToken)));
        var missing = distinct.Where((_, i) => !listed[i]).ToList();
        if (missing.Count == 0) return;
        await SendAllAsync(Registrar, [new(new RegisterPayeesFunction { Wallets = missing.Select(w => w.ToString()).ToList() }.GetCallData().ToHex(prefix: true))],
            cancellationToken);
        foreach (var wallet in missing)
            if (!await IsPayeeAsync(wallet, cancellationToken))
                throw new InvalidOperationException($"wallet {wallet} is still not a payee of the escrow after its registration");
    }

    /// <summary>What became of a cycle's lock: its locking transaction, or why the escrow would not fund it (<see cref="FundingRefusals"/>).</summary>
    public sealed record LockOutcome(string? Transaction, string? FundingFailure);

    /// <summary>
    /// Locks each cycle's total from its DSO in escrow, unless already done: payees not listed yet are listed first; the
    /// locks then go out back to back under one signer lease, each its own transaction with a gas limit from its size
    /// (<see cref="LockGasLimit"/>), and are awaited together. Each is first run as a call (no transaction), which checks
    /// again, just before locking, what its DSO gave: the consents (signature, deadline, what is left of each) and the allowance and balance. A cycle
    /// the escrow would refuse is not sent; it, and a lock that passed the call but reverted on chain (its DSO's
    /// funds moved in between), is run as a call again and comes back refused with the reason, so one DSO's refused
    /// batch never fails another's.
    /// </summary>
    /// <remarks>
    /// Separate transactions rather than one contract entry that skips an unfundable batch: the contract stays as it is
    /// (lock gas per award unchanged), a skipping entry would still revert as a whole on anything else, and the chain's
    /// own answer to the exact call decides, so the check cannot disagree with the contract.
    /// </remarks>
    /// <returns>The outcome of each cycle, in order.</returns>
    /// <exception cref="InvalidOperationException">A cycle is on chain with a different award list, or its lock failed for another reason than funding.</exception>
    /// <exception cref="TimeoutException">Another instance held the signer lease throughout the wait for it.</exception>
    /// <exception cref="LeaseLostException">The signer lease was lost part-way: the rest was not sent.</exception>
    public async Task<IReadOnlyList<LockOutcome>> LockCyclesAsync(IReadOnlyList<CycleLock> cycles, CancellationToken cancellationToken)
    {
        var before = await Task.WhenAll(cycles.Select(c => GetCycleAsync(c.CycleId, cancellationToken)));
        var needed = cycles.Where((_, i) => before[i].Status == CycleStatus.None).ToList();
        await RegisterPayeesAsync(needed.SelectMany(c => c.Awards.Select(a => a.Cpo)), cancellationToken);
        // Each lock runs as a call first, so a batch its DSO can no longer fund is refused there and never sent; only then
        // is the call run again to name the reason (below).
        var reverts = await SendAllAsync(Settler, needed.Select(c => new EscrowCall(LockCall(c), LockGasLimit(c.Awards.Count, c.Consents.Count))).ToList(), cancellationToken);
        var final = await GetFinalCyclesAsync(cycles.Select(c => c.CycleId), cancellationToken);
        return await Task.WhenAll(cycles.Select(async (c, i) =>
        {
            var onChain = final[i];
            if (onChain.Status == CycleStatus.None && await FundingRefusalAsync(c, cancellationToken) is { } late) return new LockOutcome(null, late);
            if (onChain.Status == CycleStatus.None || onChain.AwardsHash != AwardsHash(c.Awards))
                throw new InvalidOperationException($"cycle {c.CycleId} on chain does not match its award records{Describe(reverts)}");
            return new LockOutcome(await FindTransactionAsync<CycleLockedEvent>(c.CycleId, cancellationToken), null);
        }));
    }

    /// <summary>
    /// The gas limit a lock of <paramref name="awards"/> awards under <paramref name="consents"/> consents is sent with:
    /// above what it can use (docs/BENCHMARKS.md, escrow gas: about 156,000 for one award and one consent, at most 5,300
    /// per further award with a new CPO, about 34,000 per further consent), so the lock needs no gas estimate, which on
    /// a node runs the call several times. Only the gas used is paid. <c>LedgerGasTests</c> checks the bound on the node.
    /// </summary>
    public static BigInteger LockGasLimit(int awards, int consents) => 200_000 + 8_000 * (BigInteger)awards + 50_000 * (BigInteger)consents;

    private static string LockCall(CycleLock c) => new LockCycleFunction
    {
        CycleId = c.CycleId.ToArray(), Dso = c.Awards[0].Dso.ToString(), RefundAfter = checked((ulong)c.RefundAfter.ToUnixTimeSeconds()),
        Awards = CycleCommitment.Entries(c.Awards), Consents = c.Consents.ToList(),
    }.GetCallData().ToHex(prefix: true);

    /// <summary>
    /// Runs the cycle's lock as the settler would send it, without a transaction: null when it would lock, else why its DSO's
    /// funding does not suffice (<see cref="FundingRefusals"/>).
    /// </summary>
    /// <exception cref="ContractRevertException">The lock would revert for another reason than its funding (the step fails and is retried).</exception>
    private async Task<string?> FundingRefusalAsync(CycleLock c, CancellationToken cancellationToken)
    {
        try
        {
            await Settler.Sender.CallAsync(Chain.Escrow, LockCall(c), cancellationToken);
            return null;
        }
        catch (ContractRevertException e)
        {
            var dso = c.Awards[0].Dso;
            var total = c.Awards.Aggregate(BigInteger.Zero, (sum, a) => sum + a.LockedUnits);
            var (allowance, balance) = await FundingOfAsync(dso, cancellationToken);
            if (FundingRefusals.Describe(e, dso, total, allowance, balance) is { } reason) return reason;
            throw;
        }
    }

    /// <summary>What became of a cycle's settlement: its settling transaction, or why it was never paid (refunded to its DSO).</summary>
    public sealed record SettleOutcome(string? Transaction, string? Unpaid);

    /// <summary>
    /// Pays each CPO of each cycle its payout and refunds the DSO the rest, unless already done (sent like
    /// <see cref="LockCyclesAsync"/>). A cycle refunded to its DSO (anyone may, after its refund time) comes back unpaid
    /// with the refund's transaction: it is over, not a failure to retry.
    /// </summary>
    /// <returns>The outcome of each cycle, in order.</returns>
    /// <exception cref="InvalidOperationException">A cycle was settled with other payouts, or its settlement failed.</exception>
    /// <exception cref="TimeoutException">Another instance held the signer lease throughout the wait for it.</exception>
    /// <exception cref="LeaseLostException">The signer lease was lost part-way: the rest was not sent.</exception>
    public async Task<IReadOnlyList<SettleOutcome>> SettleCyclesAsync(IReadOnlyList<CycleSettlement> cycles, CancellationToken cancellationToken)
    {
        var before = await Task.WhenAll(cycles.Select(c => GetCycleAsync(c.CycleId, cancellationToken)));
        var reverts = await SendAllAsync(Settler, cycles.Where((_, i) => before[i].Status == CycleStatus.Locked)
            .Select(c => new EscrowCall(new SettleCycleFunction
            {
                CycleId = c.CycleId.ToArray(), Awards = CycleCommitment.Entries(c.Awards),
                Payouts = c.Settlements.Select(s => s.PayoutUnits).ToList(),
                SettlementHashes = c.Settlements.Select(s => s.Hash().ToArray()).ToList(),
            }.GetCallData().ToHex(prefix: true))).ToList(), cancellationToken);
        var final = await GetFinalCyclesAsync(cycles.Select(c => c.CycleId), cancellationToken);
        return await Task.WhenAll(cycles.Select(async (c, i) =>
        {
            var onChain = final[i];
            if (onChain.Status == CycleStatus.Refunded)
                return new SettleOutcome(null, $"refunded: the escrow returned the locked {onChain.Total} token units to the DSO unsettled, after the refund time, in " +
                    await FindTransactionAsync<CycleRefundedEvent>(c.CycleId, cancellationToken));
            var paid = c.Settlements.Aggregate(BigInteger.Zero, (sum, s) => sum + s.PayoutUnits);
            if (onChain.Status != CycleStatus.Settled || onChain.Paid != paid)
                throw new InvalidOperationException($"cycle {c.CycleId} is {onChain.Status} on chain with {onChain.Paid} paid, not settled with these records{Describe(reverts)}");
            var tx = await FindTransactionAsync<CycleSettledEvent>(c.CycleId, cancellationToken);
            await RequirePaidAsRecordedAsync(c, Hash32.Parse(tx), cancellationToken);
            return new SettleOutcome(tx, null);
        }));
    }

    /// <summary>
    /// Compares each <c>AwardSettled</c> event of the settling transaction's receipt with the cycle's records: the award
    /// id, the CPO, the amount paid and refunded and the settlement record's hash. A cycle the chain paid otherwise than
    /// its records say (settled by another sender with other records) is never recorded as settled: the step fails,
    /// naming the differences, until the cycle needs the market operator's attention.
    /// </summary>
    /// <exception cref="SettlementMismatchException">An event differs from the records, or an award has no event.</exception>
    private async Task RequirePaidAsRecordedAsync(CycleSettlement c, Hash32 transaction, CancellationToken cancellationToken)
    {
        var receipt = await Chain.GetReceiptAsync(transaction, cancellationToken)
            ?? throw new InvalidOperationException($"the receipt of settlement {transaction} is gone");
        var events = receipt.DecodeAllEvents<AwardSettledEvent>()
            .Where(e => e.Log.IsFrom(Chain.Escrow) && EscrowIds.CycleOf(new Hash32(e.Event.AwardId)) == c.CycleId)
            .ToDictionary(e => new Hash32(e.Event.AwardId), e => e.Event);
        var differences = new List<string>();
        for (var i = 0; i < c.Awards.Count; i++)
        {
            var (award, record) = (c.Awards[i], c.Settlements[i]);
            if (!events.TryGetValue(award.AwardId, out var e))
            {
                differences.Add($"award {award.AwardId} has no AwardSettled event");
                continue;
            }
            var expected = (award.Cpo, record.PayoutUnits, award.LockedUnits - record.PayoutUnits, record.Hash());
            var actual = (EthAddress.Parse(e.Cpo), e.Paid, e.Refunded, new Hash32(e.SettlementHash));
            if (expected != actual)
                differences.Add($"award {award.AwardId} paid {actual.Item2} to {actual.Item1}, refunded {actual.Item3}, settlement hash {actual.Item4}; " +
                    $"its records say {expected.Item2} to {expected.Item1}, refunded {expected.Item3}, settlement hash {expected.Item4}");
        }
        if (events.Count != c.Awards.Count) differences.Add($"{events.Count} AwardSettled events for {c.Awards.Count} awards");
        if (differences.Count > 0)
            throw new SettlementMismatchException($"cycle {c.CycleId} was settled in {transaction} otherwise than its records: " +
                string.Join("; ", differences.Take(3)) + (differences.Count > 3 ? $"; and {differences.Count - 3} more" : ""));
    }

    private static string Describe(IReadOnlyList<ContractRevertException> reverts) =>
        reverts.Count == 0 ? "" : " (" + string.Join("; ", reverts.Select(r => r.Message)) + ")";

    public void Dispose()
    {
        _settler?.Sender.Dispose();
        _registrar?.Sender.Dispose();
    }

    /// <summary>One signing key: its sender and the journal of what it signed.</summary>
    private sealed record Signer(TransactionSender Sender, SignedTransactionJournal Journal)
    {
        public EthAddress Address => Sender.Address;
    }

    private Signer Settler => _status.Info is not null ? _settler! : throw new ChainUnavailableException(_status);

    private Signer Registrar => _status.Info is not null ? _registrar! : throw new ChainUnavailableException(_status);

    private Signer NewSigner(string key)
    {
        var account = new Account(key, _options.ChainId);
        var journal = new SignedTransactionJournal(blobs, EthAddress.Parse(account.Address));
        // Waiting for the finalized block is the ledger's (GetFinalCyclesAsync): the sender then only waits for mining, and a
        // reorg before finality fails the step, whose retry broadcasts the journaled transaction again.
        var confirmations = _options.Finality == ChainFinality.Finalized ? 1 : _options.Confirmations;
        return new(new TransactionSender(_web3, account, new TransactionSenderOptions { Confirmations = confirmations })
        {
            Signed = journal.RecordAsync,
        }, journal);
    }

    /// <summary>An escrow call (0x call data) and the gas limit to send it with: null to estimate it, which also runs it as a call first.</summary>
    private sealed record EscrowCall(string Data, BigInteger? Gas = null);

    /// <summary>
    /// Sends the escrow calls (0x call data) with <paramref name="signer"/>'s key back to back under its signer lease, each after proving the lease is still held, then waits for
    /// every receipt (the lease renewed meanwhile). A call the contract refuses (already done by another instance or an
    /// earlier attempt whose receipt was lost; or, for a lock, its DSO's funds moved since the check) does not stop the
    /// others: the caller reads the state back either way and decides, and gets the refusals to name the cause.
    /// </summary>
    /// <returns>The calls the contract refused, when sent or mined.</returns>
    private async Task<IReadOnlyList<ContractRevertException>> SendAllAsync(Signer signer, IReadOnlyList<EscrowCall> calls, CancellationToken cancellationToken)
    {
        var reverts = new List<ContractRevertException>();
        if (calls.Count == 0) return reverts;
        var sender = signer.Sender;
        // One instance at a time sends with a key; whoever sent last may have used nonces we have not seen.
        await using var lease = await ExclusiveLease.AcquireAsync(blobs, ExclusiveLease.SignerName(sender.Address.ToString()), null, _options.SignerLease,
            _options.SignerLease + TimeSpan.FromSeconds(30), leaseLog, cancellationToken);
        await RebroadcastUnminedAsync(signer, cancellationToken);
        await sender.ResyncNonceAsync(cancellationToken);
        var sent = new List<string>();
        foreach (var call in calls)
        {
            // An instance paused past its lease must not send with a nonce the instance that took over now owns.
            await lease.EnsureHeldAsync(cancellationToken);
            try
            {
                // With a given limit the call is run once first, as the estimate would: what the contract refuses is never sent.
                if (call.Gas is not null) await sender.CallAsync(Chain.Escrow, call.Data, cancellationToken);
                sent.Add(await sender.SendAsync(Chain.Escrow, call.Data, 0, call.Gas, cancellationToken));
            }
            catch (ContractRevertException e)
            {
                reverts.Add(e);
            }
        }
        foreach (var hash in sent)
        {
            try
            {
                await sender.WaitForReceiptAsync(hash, cancellationToken);
            }
            catch (ContractRevertException e)
            {
                reverts.Add(e); // mined but reverted: raced by another sender, or refused; the read-back decides
            }
        }
        return reverts;
    }

    /// <summary>
    /// Broadcasts again what an earlier holder of the lease (maybe this process before a restart) signed and the chain
    /// has not mined, and waits for it: new transactions then follow it with the next nonces, and the contract refuses
    /// any call it already did.
    /// </summary>
    private async Task RebroadcastUnminedAsync(Signer signer, CancellationToken cancellationToken)
    {
        var sender = signer.Sender;
        var mined = (await _web3.Eth.Transactions.GetTransactionCount.SendRequestAsync(sender.Address.ToString(), BlockParameter.CreateLatest())).Value;
        var resent = new List<string>();
        foreach (var raw in await signer.Journal.UnminedAsync(mined, cancellationToken))
            if (await sender.RebroadcastAsync(raw, cancellationToken))
                resent.Add(Sha3Keccack.Current.CalculateHash(raw.HexToByteArray()).ToHex(prefix: true));
        foreach (var hash in resent)
        {
            try
            {
                await sender.WaitForReceiptAsync(hash, cancellationToken);
            }
            catch (ContractRevertException)
            {
                // Mined but reverted: the read-back after sending decides.
            }
        }
    }

    private async Task<string> FindTransactionAsync<TEvent>(Hash32 cycleId, CancellationToken cancellationToken) where TEvent : IEventDTO
    {
        var logs = await Chain.GetLogsAsync([EscrowTopics.Of<TEvent>(), cycleId], _options.FromBlock, cancellationToken);
        return logs.Count == 1 && logs[0].TransactionHash is { } tx
            ? tx
            : throw new InvalidOperationException($"expected one {typeof(TEvent).Name} for cycle {cycleId}, found {logs.Count}");
    }
}

/// <summary>A cycle the chain settled otherwise than its stored records: it needs the market operator's attention, never silence.</summary>
public sealed class SettlementMismatchException(string message) : InvalidOperationException(message);

/// <summary>The escrow's <c>lockCycle</c>: takes the cycle's total from its DSO and commits to its award list.</summary>
[Function("lockCycle")]
public sealed class LockCycleFunction : FunctionMessage
{
    [Parameter("bytes32", "cycleId", 1)] public byte[] CycleId { get; set; } = [];
    [Parameter("address", "dso", 2)] public string Dso { get; set; } = "";
    [Parameter("uint64", "refundAfter", 3)] public ulong RefundAfter { get; set; }
    [Parameter("tuple[]", "awards", 4)] public List<CycleAward> Awards { get; set; } = [];
    [Parameter("tuple[]", "consents", 5)] public List<CycleConsent> Consents { get; set; } = [];
}

/// <summary>The escrow's <c>consentDrawn(address dso, uint256 nonce)</c>: what the locks drew so far under the DSO's consent nonce.</summary>
[Function("consentDrawn", "uint256")]
public sealed class ConsentDrawnFunction : FunctionMessage
{
    [Parameter("address", "dso", 1)] public string Dso { get; set; } = "";
    [Parameter("uint256", "nonce", 2)] public BigInteger ConsentNonce { get; set; }
}

/// <summary>The escrow's <c>settleCycle</c>: pays each award's payout to its CPO and refunds the rest to the DSO.</summary>
[Function("settleCycle")]
public sealed class SettleCycleFunction : FunctionMessage
{
    [Parameter("bytes32", "cycleId", 1)] public byte[] CycleId { get; set; } = [];
    [Parameter("tuple[]", "awards", 2)] public List<CycleAward> Awards { get; set; } = [];
    [Parameter("uint256[]", "payouts", 3)] public List<BigInteger> Payouts { get; set; } = [];
    [Parameter("bytes32[]", "settlementHashes", 4)] public List<byte[]> SettlementHashes { get; set; } = [];
}

/// <summary>The escrow's <c>registerPayees</c>: lists CPO wallets it may pay (wallets already listed are skipped).</summary>
[Function("registerPayees")]
public sealed class RegisterPayeesFunction : FunctionMessage
{
    [Parameter("address[]", "wallets", 1)] public List<string> Wallets { get; set; } = [];
}

/// <summary>The escrow's <c>isPayee(address)</c>.</summary>
[Function("isPayee", "bool")]
public sealed class IsPayeeFunction : FunctionMessage
{
    [Parameter("address", "wallet", 1)] public string Wallet { get; set; } = "";
}
