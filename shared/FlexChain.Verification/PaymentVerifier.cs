using System.Globalization;
using System.Numerics;
using System.Text;
using System.Text.Json;
using FlexChain.Ethereum;
using Nethereum.Contracts;
using Nethereum.RPC.Eth.DTOs;

namespace FlexChain.Verification;

/// <summary>Which check of a payment failed. Serialized by name.</summary>
public enum VerificationCheck
{
    /// <summary>An <c>AwardSettled</c> event of the escrow exists for the payment (and was not removed by a reorganisation).</summary>
    Event = 1,
    /// <summary>FlexChain publishes well-formed records for the award.</summary>
    Record = 2,
    /// <summary>The records are for this award id, the award id belongs to the published request's cycle, and the list has the cycle's ids in order.</summary>
    AwardId = 3,
    /// <summary>The settlement record, hashed locally, equals the event's <c>settlementHash</c>.</summary>
    SettlementHash = 4,
    /// <summary>The event's <c>paid</c> equals the record's <c>payoutUnits</c>.</summary>
    Paid = 5,
    /// <summary>The published award list, rebuilt and hashed locally, equals the cycle's committed <c>awardsHash</c> (getCycle and CycleLocked).</summary>
    CycleCommitment = 6,
    /// <summary>The published award record is the one at the award's position of the committed list.</summary>
    AwardInCycle = 7,
    /// <summary><c>paid + refunded</c> equals the award's <c>lockedUnits</c>, as does the settlement record's.</summary>
    Amounts = 8,
    /// <summary>The event's CPO is the award record's CPO.</summary>
    Cpo = 9,
    /// <summary>The event's DSO is the award record's DSO.</summary>
    Dso = 10,
    /// <summary>The settling transaction moved the paid amount: a token <c>Transfer</c> from the escrow to the CPO (or the escrow's <c>PaymentCredited</c> to it, when the token refused).</summary>
    Transfer = 11,
    /// <summary>The node is on the chain, and the escrow is the one, the published records name.</summary>
    ChainId = 12,
    /// <summary>The payment's block is final: at or before the node's <c>finalized</c> block.</summary>
    Finality = 13,
    /// <summary>The award locked exactly its energy x price: energyWh x priceMicroEurPerKwh x 10^decimals / 10^9 token units, truncated (an availability record: reservedW x availabilityPriceMicroEurPerKw likewise).</summary>
    LockedAmount = 14,
    /// <summary>The published profile (<c>awardProfile</c>) hashes to the award record's <c>profileHash</c>, covers its window in whole intervals and sums to its <c>energyWh</c>.</summary>
    Profile = 15,
    /// <summary>An availability settlement pays the holder's whole locked availability payment when none of its calls failed, nothing when one did (README, the availability payment rule).</summary>
    AvailabilityPayout = 16,
}

/// <summary>What became of an award on chain. Serialized by name.</summary>
public enum PaymentStatus
{
    /// <summary>Settled, and its CPO was paid (part or all of the locked amount).</summary>
    Paid = 1,
    /// <summary>Settled with nothing paid: the whole locked amount went back to the DSO (delivery not verified).</summary>
    Refunded = 2,
    /// <summary>Locked in escrow, not settled yet.</summary>
    Pending = 3,
    /// <summary>Never settled: the cycle was refunded to its DSO after its refund time.</summary>
    Unpaid = 4,
}

/// <summary>One failed check and why, in words a wallet holder can act on.</summary>
public sealed record VerificationFailure(VerificationCheck Check, string Reason)
{
    public override string ToString() => $"{JsonNamingPolicy.KebabCaseLower.ConvertName(Check.ToString())}: {Reason}";
}

/// <summary>An <c>AwardSettled</c> event as the chain holds it. Amounts in the token's smallest units.</summary>
public sealed record PaymentEvent(
    Hash32 AwardId, EthAddress Cpo, EthAddress Dso, BigInteger Paid, BigInteger Refunded, Hash32 SettlementHash,
    Hash32? TransactionHash, ulong? BlockNumber, ulong? LogIndex)
{
    /// <summary>Decodes an escrow log.</summary>
    /// <exception cref="FormatException">The log is not an <c>AwardSettled</c> event.</exception>
    public static PaymentEvent From(FilterLog log)
    {
        ArgumentNullException.ThrowIfNull(log);
        try
        {
            var e = log.DecodeEvent<AwardSettledEvent>()?.Event ?? throw new FormatException("the log is not an AwardSettled event");
            return new(new Hash32(e.AwardId), EthAddress.Parse(e.Cpo), EthAddress.Parse(e.Dso), e.Paid, e.Refunded, new Hash32(e.SettlementHash),
                log.TransactionHash is { } tx ? Hash32.Parse(tx) : null, log.BlockNumber.ToUInt64(), log.LogIndex.ToUInt64());
        }
        catch (Exception x) when (x is not FormatException and not OperationCanceledException)
        {
            // Nethereum reports malformed event data with assorted exception types; to a verifier it is all one thing.
            throw new FormatException(x.Message, x);
        }
    }
}

/// <summary>The verdict on one payment: verified when no check failed.</summary>
/// <param name="AwardId">The award (settlement) id; null when a transaction held no payment to name.</param>
/// <param name="RequestId">The FlexChain request the published records name, when found.</param>
/// <param name="Payment">The event on chain, when found.</param>
/// <param name="Status">What became of the award, when the chain says (paid or refunded by its <c>AwardSettled</c>, pending or unpaid by its cycle).</param>
/// <param name="Profile">The profile bought, as published with the award (checked against its record's <c>profileHash</c>: see <see cref="VerificationCheck.Profile"/>).</param>
public sealed record PaymentVerdict(Hash32? AwardId, string? RequestId, PaymentEvent? Payment, IReadOnlyList<VerificationFailure> Failures,
    PaymentStatus? Status = null, ProfileRecord? Profile = null)
{
    public bool Verified => Failures.Count == 0;

    /// <summary>One line: <c>VERIFIED</c> or <c>NOT VERIFIED</c>, the award, parties, amounts (in token units) and profile bought, then the reasons.</summary>
    public string Describe(int tokenDecimals)
    {
        var line = new StringBuilder(Verified ? "VERIFIED" : "NOT VERIFIED");
        if (AwardId is { } id) line.Append(" award ").Append(id);
        if (Status is { } status) line.Append(" (").Append(status.ToString().ToLowerInvariant()).Append(')');
        if (RequestId is not null) line.Append(" request ").Append(RequestId);
        if (Payment is { } p)
            line.Append(" cpo ").Append(p.Cpo).Append(" dso ").Append(p.Dso)
                .Append(" paid ").Append(TokenAmount.Format(p.Paid, tokenDecimals))
                .Append(" refunded ").Append(TokenAmount.Format(p.Refunded, tokenDecimals))
                .Append(" tx ").Append(p.TransactionHash?.ToString() ?? "?").Append(" block ").Append(p.BlockNumber?.ToString(CultureInfo.InvariantCulture) ?? "?");
        if (Profile is { } profile)
            line.Append(" profile ").Append(profile.EnergyWh.Count).Append(" x ").Append(profile.IntervalSeconds).Append(" s: ")
                .AppendJoin(", ", profile.EnergyWh).Append(" Wh");
        foreach (var f in Failures) line.Append(Environment.NewLine).Append("  - ").Append(f);
        return line.ToString();
    }
}

/// <summary>Token amounts for people.</summary>
public static class TokenAmount
{
    /// <summary><paramref name="units"/> smallest units as a decimal number of tokens, exact, without trailing zeros (2250000 at 6 decimals is "2.25").</summary>
    public static string Format(BigInteger units, int decimals)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(decimals);
        var sign = units.Sign < 0 ? "-" : "";
        var digits = BigInteger.Abs(units).ToString(CultureInfo.InvariantCulture).PadLeft(decimals + 1, '0');
        var whole = digits[..^decimals];
        var fraction = decimals == 0 ? "" : digits[^decimals..].TrimEnd('0');
        return sign + (fraction.Length == 0 ? whole : whole + "." + fraction);
    }
}

/// <summary>
/// Checks payments of the FlexChain escrow against FlexChain's published records, trusting only the chain: every hash
/// is recomputed here from the records' fields (the hashes a publisher states are never used). For each
/// <c>AwardSettled</c> event found it checks that the published settlement record hashes to the event's
/// <c>settlementHash</c> and pays the event's <c>paid</c>; that the award id, the cycle id of the published request
/// and the records agree; that the published award list of the cycle hashes to the commitment the escrow stores
/// (<c>getCycle</c>) and announced (<c>CycleLocked</c>); that the award record is the list's entry at the award's
/// position; that the published profile is the one the award record's <c>profileHash</c> binds (an availability payment:
/// that its settlement follows the availability payment rule); that <c>paid + refunded</c>
/// is what was locked; and that the CPO and DSO are the records'.
/// </summary>
/// <remarks>Chain failures (node unreachable, RPC errors) propagate: they say nothing about the payment.</remarks>
public sealed class PaymentVerifier(IEscrowChain chain, IPublishedRecords records)
{
    private static readonly Hash32 AwardSettledTopic = EscrowTopics.Of<AwardSettledEvent>();
    private static readonly Hash32 CycleLockedTopic = EscrowTopics.Of<CycleLockedEvent>();
    private static readonly Hash32 AwardRefundedTopic = EscrowTopics.Of<AwardRefundedEvent>();
    private static readonly Hash32 PaymentCreditedTopic = EscrowTopics.Of<PaymentCreditedEvent>();
    private static readonly Hash32 TransferTopic = EscrowTopics.Of<TokenTransferEvent>();

    /// <summary>First block searched when looking up an award's events (the escrow's deployment block; 0 searches everything).</summary>
    public ulong SearchFromBlock { get; init; }

    /// <summary>Verifies the payment of one award (settlement) id.</summary>
    public async Task<IReadOnlyList<PaymentVerdict>> VerifyAwardAsync(Hash32 awardId, CancellationToken cancellationToken)
    {
        var logs = await chain.GetLogsAsync([AwardSettledTopic, awardId], SearchFromBlock, cancellationToken).ConfigureAwait(false);
        if (logs.Count > 0) return await VerifyLogsAsync(logs, cancellationToken).ConfigureAwait(false);
        var cycle = await chain.GetCycleAsync(EscrowIds.CycleOf(awardId), cancellationToken).ConfigureAwait(false);
        if (cycle.Status == CycleStatus.Locked && EscrowIds.IndexOf(awardId) >= 0)
            return [new PaymentVerdict(awardId, null, null, [], PaymentStatus.Pending)];
        var refunded = await chain.GetLogsAsync([AwardRefundedTopic, awardId], SearchFromBlock, cancellationToken).ConfigureAwait(false);
        if (refunded.Count > 0) return Unpaid(refunded);
        return [new PaymentVerdict(awardId, null, null, [new(VerificationCheck.Event,
            $"no AwardSettled event for award {awardId} on escrow {chain.Escrow} since block {SearchFromBlock}: the award is unknown to this escrow or not settled yet")])];
    }

    /// <summary>Verifies every payment the transaction made through the escrow (a cycle's settlement pays all its awards at once).</summary>
    public async Task<IReadOnlyList<PaymentVerdict>> VerifyTransactionAsync(Hash32 transactionHash, CancellationToken cancellationToken)
    {
        var receipt = await chain.GetReceiptAsync(transactionHash, cancellationToken).ConfigureAwait(false);
        if (receipt is null)
            return [new PaymentVerdict(null, null, null, [new(VerificationCheck.Event, $"the chain has no mined transaction {transactionHash}")])];
        var logs = receipt.Logs.Where(IsAwardSettled).ToList();
        if (logs.Count == 0)
            return [new PaymentVerdict(null, null, null, [new(VerificationCheck.Event,
                $"transaction {transactionHash} {(receipt.Status?.Value == 1 ? "emitted" : "reverted and emitted")} no AwardSettled event of escrow {chain.Escrow}")])];
        return await VerifyLogsAsync(logs, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Verifies every payment where <paramref name="wallet"/> is the CPO (paid) or the DSO (refunded), from <paramref name="fromBlock"/> on, in chain order.</summary>
    public async Task<IReadOnlyList<PaymentVerdict>> VerifyWalletAsync(EthAddress wallet, ulong fromBlock, CancellationToken cancellationToken)
    {
        var topic = EscrowTopics.Of(wallet);
        var asCpo = await chain.GetLogsAsync([AwardSettledTopic, null, topic], fromBlock, cancellationToken).ConfigureAwait(false);
        var asDso = await chain.GetLogsAsync([AwardSettledTopic, null, null, topic], fromBlock, cancellationToken).ConfigureAwait(false);
        var logs = asCpo.Concat(asDso)
            .DistinctBy(l => (l.TransactionHash, l.LogIndex?.Value))
            .OrderBy(l => l.BlockNumber?.Value).ThenBy(l => l.LogIndex?.Value)
            .ToList();
        var refundedAsCpo = await chain.GetLogsAsync([AwardRefundedTopic, null, topic], fromBlock, cancellationToken).ConfigureAwait(false);
        var refundedAsDso = await chain.GetLogsAsync([AwardRefundedTopic, null, null, topic], fromBlock, cancellationToken).ConfigureAwait(false);
        var refunded = refundedAsCpo.Concat(refundedAsDso).DistinctBy(l => (l.TransactionHash, l.LogIndex?.Value))
            .OrderBy(l => l.BlockNumber?.Value).ThenBy(l => l.LogIndex?.Value).ToList();
        return [.. await VerifyLogsAsync(logs, cancellationToken).ConfigureAwait(false), .. Unpaid(refunded)];
    }

    /// <summary>Awards refunded to their DSO unsettled (<c>AwardRefunded</c>): nothing was paid, and there is no settlement record to check.</summary>
    private static List<PaymentVerdict> Unpaid(IEnumerable<FilterLog> refunded) =>
        refunded.Where(l => !l.Removed).Select(l => new PaymentVerdict(new Hash32(l.DecodeEvent<AwardRefundedEvent>().Event.AwardId), null, null, [], PaymentStatus.Unpaid)).ToList();

    private bool IsAwardSettled(FilterLog l) => l.IsFrom(chain.Escrow) && l.Topic(0) == AwardSettledTopic;

    private async Task<IReadOnlyList<PaymentVerdict>> VerifyLogsAsync(IReadOnlyList<FilterLog> logs, CancellationToken cancellationToken)
    {
        var cycles = new Dictionary<Hash32, (EscrowCycle Cycle, IReadOnlyList<Hash32> Announced)>();
        var verdicts = new List<PaymentVerdict>(logs.Count);
        if (logs.Count == 0) return verdicts;
        var node = new NodeFacts(await chain.GetTokenAsync(cancellationToken).ConfigureAwait(false), await chain.GetChainIdAsync(cancellationToken).ConfigureAwait(false),
            await chain.GetFinalizedBlockAsync(cancellationToken).ConfigureAwait(false), []);
        foreach (var log in logs)
        {
            PaymentEvent payment;
            try
            {
                payment = PaymentEvent.From(log);
            }
            catch (FormatException e)
            {
                verdicts.Add(new PaymentVerdict(null, null, null, [new(VerificationCheck.Event, $"a log of the escrow is not a valid AwardSettled event: {e.Message}")]));
                continue;
            }
            var cycleId = EscrowIds.CycleOf(payment.AwardId);
            if (!cycles.TryGetValue(cycleId, out var cycle))
                cycles[cycleId] = cycle = (await chain.GetCycleAsync(cycleId, cancellationToken).ConfigureAwait(false),
                    await AnnouncedCommitmentsAsync(cycleId, cancellationToken).ConfigureAwait(false));
            var (published, recordFailure) = await FetchAsync(payment.AwardId, cancellationToken).ConfigureAwait(false);
            var failures = new List<VerificationFailure>();
            if (log.Removed) failures.Add(new(VerificationCheck.Event, "the event was removed by a chain reorganisation"));
            if (recordFailure is not null) failures.Add(recordFailure);
            if (published is not null) failures.AddRange(Check(payment, published, cycle.Cycle, cycle.Announced));
            if (published is not null) failures.AddRange(await NodeChecksAsync(payment, published, node, cancellationToken).ConfigureAwait(false));
            verdicts.Add(new PaymentVerdict(payment.AwardId, published?.RequestId, payment, failures,
                payment.Paid > 0 ? PaymentStatus.Paid : PaymentStatus.Refunded, published?.AwardProfile));
        }
        return verdicts;
    }

    /// <summary>What the node says once per verification: the token, the chain id, the finalized block, and the receipts read so far.</summary>
    private sealed record NodeFacts(TokenInfo Token, long ChainId, ulong? Finalized, Dictionary<Hash32, TransactionReceipt?> Receipts);

    /// <summary>
    /// The checks of a payment against the node beyond the escrow's own events: the chain and escrow the records name,
    /// finality, the token transfer the payment made, and that the award locked exactly its energy x price.
    /// </summary>
    private async Task<IReadOnlyList<VerificationFailure>> NodeChecksAsync(PaymentEvent payment, PublishedSettlement published, NodeFacts node, CancellationToken cancellationToken)
    {
        var failures = new List<VerificationFailure>();
        void Fail(VerificationCheck check, string reason) => failures.Add(new(check, reason));
        if (published.ChainId is not { } chainId) Fail(VerificationCheck.ChainId, "the published records name no chain");
        else if (chainId != node.ChainId) Fail(VerificationCheck.ChainId, $"the records were settled on chain {chainId}, the node is on chain {node.ChainId}");
        if (published.Escrow is { } escrow && escrow != chain.Escrow)
            Fail(VerificationCheck.ChainId, $"the records name escrow {escrow}, not {chain.Escrow}");

        if (node.Finalized is not { } finalized) Fail(VerificationCheck.Finality, "the node reports no finalized block");
        else if (payment.BlockNumber is not { } block || block > finalized)
            Fail(VerificationCheck.Finality, $"the payment's block {payment.BlockNumber?.ToString(CultureInfo.InvariantCulture) ?? "(pending)"} is not final yet: the node's finalized block is {finalized}");

        // Both records price in micro-euros per thousand of their quantity (Wh of a kWh price, W of a kW price).
        var (quantity, price, terms) = published.Award switch
        {
            AwardRecord a => (a.EnergyWh, a.PriceMicroEurPerKwh, $"{a.EnergyWh} Wh x {a.PriceMicroEurPerKwh} micro-euros per kWh"),
            AvailabilityRecord v => (v.ReservedW, v.AvailabilityPriceMicroEurPerKw, $"{v.ReservedW} W x {v.AvailabilityPriceMicroEurPerKw} micro-euros per kW"),
            var other => throw new ArgumentException($"unknown record kind {other.GetType().Name}", nameof(published)),
        };
        var locked = new BigInteger(quantity) * price * BigInteger.Pow(10, node.Token.Decimals) / BigInteger.Pow(10, 9);
        if (published.Award.LockedUnits != locked)
            Fail(VerificationCheck.LockedAmount, $"the award locked {published.Award.LockedUnits} units; {terms} is {locked}");

        if (payment.Paid > 0 && payment.TransactionHash is { } tx)
        {
            if (!node.Receipts.TryGetValue(tx, out var receipt))
                node.Receipts[tx] = receipt = await chain.GetReceiptAsync(tx, cancellationToken).ConfigureAwait(false);
            var cpo = EscrowTopics.Of(payment.Cpo);
            var moved = receipt?.Logs?.Any(l =>
                (l.IsFrom(node.Token.Address) && l.Topic(0) == TransferTopic && l.Topic(1) == EscrowTopics.Of(chain.Escrow) && l.Topic(2) == cpo
                 && l.DecodeEvent<TokenTransferEvent>().Event.Value == payment.Paid)
                || (l.IsFrom(chain.Escrow) && l.Topic(0) == PaymentCreditedTopic && l.Topic(1) == cpo && l.DecodeEvent<PaymentCreditedEvent>().Event.Amount == payment.Paid)) ?? false;
            if (!moved)
                Fail(VerificationCheck.Transfer, $"transaction {tx} has no Transfer of {payment.Paid} units of token {node.Token.Address} from the escrow to {payment.Cpo} (nor a PaymentCredited to it)");
        }
        return failures;
    }

    private async Task<IReadOnlyList<Hash32>> AnnouncedCommitmentsAsync(Hash32 cycleId, CancellationToken cancellationToken) =>
        (await chain.GetLogsAsync([CycleLockedTopic, cycleId], SearchFromBlock, cancellationToken).ConfigureAwait(false))
            .Where(l => !l.Removed)
            .Select(l => new Hash32(l.DecodeEvent<CycleLockedEvent>().Event.AwardsHash))
            .ToList();

    private async Task<(PublishedSettlement?, VerificationFailure?)> FetchAsync(Hash32 awardId, CancellationToken cancellationToken)
    {
        try
        {
            return await records.GetAsync(awardId, cancellationToken).ConfigureAwait(false) is { } published
                ? (published, null)
                : (null, new(VerificationCheck.Record, $"no published record for award {awardId}: the payment cannot be matched to a FlexChain settlement"));
        }
        catch (Exception e) when (e is FormatException or HttpRequestException or JsonException
                                  || (e is TaskCanceledException && !cancellationToken.IsCancellationRequested))
        {
            return (null, new(VerificationCheck.Record, $"the published record of award {awardId} could not be read: {e.Message}"));
        }
    }

    /// <summary>The checks of one payment against its published records and the cycle's on-chain commitment.</summary>
    /// <param name="announced">The <c>awardsHash</c> of every <c>CycleLocked</c> event of the cycle.</param>
    public static IReadOnlyList<VerificationFailure> Check(PaymentEvent payment, PublishedSettlement published, EscrowCycle cycle, IReadOnlyList<Hash32> announced)
    {
        ArgumentNullException.ThrowIfNull(payment);
        ArgumentNullException.ThrowIfNull(published);
        ArgumentNullException.ThrowIfNull(cycle);
        ArgumentNullException.ThrowIfNull(announced);
        var failures = new List<VerificationFailure>();
        void Fail(VerificationCheck check, string reason) => failures.Add(new(check, reason));
        var (awardId, list) = (payment.AwardId, published.CycleAwards);
        var cycleId = EscrowIds.CycleOf(awardId);
        var index = EscrowIds.IndexOf(awardId);

        if (EscrowIds.Cycle(published.EscrowKey) != cycleId)
            Fail(VerificationCheck.AwardId, $"award {awardId} is not in the escrow cycle of batch {published.EscrowKey} ({EscrowIds.Cycle(published.EscrowKey)})");
        if (published.Settlement.AwardId != awardId)
            Fail(VerificationCheck.AwardId, $"the settlement record is for award {published.Settlement.AwardId}, the event for {awardId}");
        if (published.Award.AwardId != awardId)
            Fail(VerificationCheck.AwardId, $"the award record is for award {published.Award.AwardId}, the event for {awardId}");
        if (list.Select((a, i) => (a, i)).FirstOrDefault(x => x.a.AwardId != EscrowIds.Award(cycleId, x.i)) is ({ } misplaced, var at))
            Fail(VerificationCheck.AwardId, $"the cycle's award list has award {misplaced.AwardId} at position {at}, where the cycle's id is {EscrowIds.Award(cycleId, at)}");

        var settlementHash = published.Settlement.Hash();
        if (settlementHash != payment.SettlementHash)
            Fail(VerificationCheck.SettlementHash, $"the published settlement record hashes to {settlementHash}, the event's settlementHash is {payment.SettlementHash}");
        if (payment.Paid != published.Settlement.PayoutUnits)
            Fail(VerificationCheck.Paid, $"the event paid {payment.Paid} units, the settlement record's payoutUnits is {published.Settlement.PayoutUnits}");

        var commitment = CycleCommitment.Hash(list);
        if (cycle.Status == CycleStatus.None)
            Fail(VerificationCheck.CycleCommitment, $"getCycle({cycleId}) is empty: the escrow holds no cycle for this award");
        else if (cycle.AwardsHash != commitment)
            Fail(VerificationCheck.CycleCommitment, $"the published award list ({list.Count} awards) hashes to {commitment}, getCycle's awardsHash is {cycle.AwardsHash}");
        if (announced.Count != 1)
            Fail(VerificationCheck.CycleCommitment, $"expected one CycleLocked event for cycle {cycleId}, found {announced.Count}");
        else if (announced[0] != commitment)
            Fail(VerificationCheck.CycleCommitment, $"the published award list ({list.Count} awards) hashes to {commitment}, CycleLocked announced {announced[0]}");

        var award = published.Award;
        if (index < 0 || index >= list.Count)
            Fail(VerificationCheck.AwardInCycle, $"award {awardId} is at position {index}, outside the published award list of {list.Count} awards");
        else if (list[(int)index].Hash() is var listed && listed != award.Hash())
            Fail(VerificationCheck.AwardInCycle, $"the published award record hashes to {award.Hash()}, the cycle list's entry at position {index} to {listed}");
        else
            award = list[(int)index];

        if (payment.Paid + payment.Refunded != award.LockedUnits)
            Fail(VerificationCheck.Amounts, $"paid {payment.Paid} + refunded {payment.Refunded} = {payment.Paid + payment.Refunded} units, the award locked {award.LockedUnits}");
        if (published.Settlement.LockedUnits != award.LockedUnits)
            Fail(VerificationCheck.Amounts, $"the settlement record's lockedUnits is {published.Settlement.LockedUnits}, the award's {award.LockedUnits}");
        if (award is AwardRecord activation)
        {
            if (published.AwardProfile is not { } profile)
                Fail(VerificationCheck.Profile, "no profile is published with the award (awardProfile): which profile was bought cannot be checked");
            else if (profile.Hash() != activation.ProfileHash)
                Fail(VerificationCheck.Profile, $"the published profile hashes to {profile.Hash()}, the award record's profileHash is {activation.ProfileHash}");
            else if (profile.IntervalSeconds <= 0 || profile.IntervalSeconds * profile.EnergyWh.Count != activation.DeliveryEnd - activation.DeliveryStart)
                Fail(VerificationCheck.Profile, $"the published profile's {profile.EnergyWh.Count} interval(s) of {profile.IntervalSeconds} s do not cover the award's window of {activation.DeliveryEnd - activation.DeliveryStart} s");
            else if (profile.EnergyWh.Sum() != activation.EnergyWh)
                Fail(VerificationCheck.Profile, $"the published profile sums to {profile.EnergyWh.Sum()} Wh, the award record's energyWh is {activation.EnergyWh}");
        }
        else if (published.Settlement is AvailabilitySettlementRecord availability
                 && availability.PayoutUnits != (availability.CallsFailed == 0 ? award.LockedUnits : BigInteger.Zero))
            Fail(VerificationCheck.AvailabilityPayout, $"the availability settlement pays {availability.PayoutUnits} units with {availability.CallsFailed} failed call(s); "
                + $"the rule pays the whole {award.LockedUnits} locked when no call failed, nothing otherwise");
        if (payment.Cpo != award.Cpo)
            Fail(VerificationCheck.Cpo, $"the event paid CPO {payment.Cpo}, the award record's CPO is {award.Cpo}");
        if (payment.Dso != award.Dso)
            Fail(VerificationCheck.Dso, $"the event refunded DSO {payment.Dso}, the award record's DSO is {award.Dso}");
        return failures;
    }
}
