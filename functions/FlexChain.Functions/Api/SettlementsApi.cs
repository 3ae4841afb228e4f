using FlexChain.Ethereum;
using FlexChain.Functions.Gates;
using FlexChain.Functions.Hosting;
using FlexChain.Functions.Settlement;
using FlexChain.Functions.Storage;
using FlexChain.Verification;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;

namespace FlexChain.Functions.Api;

/// <summary>
/// Published settlements, readable by anyone (they are the market's results, and their hashes are on chain anyway):
/// the records of a settled award with its whole cycle, which is what a wallet holder needs to check a payment, and a
/// convenience verifier that runs FlexChain.Verification here. The trustless path is the <c>flexchain-verify</c>
/// command line, which reads these records but checks them against a node of the holder's choosing.
/// </summary>
public static class SettlementsApi
{
    // One connection pool for the verifier's node calls, for the life of the app (a client per call would exhaust sockets).

    public static RouteGroupBuilder MapSettlementsApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/v1").WithTags("Settlements").AllowAnonymous();
        group.MapGet("/settlements/{awardId}", GetSettlement);
        group.MapGet("/verify", Verify);
        return group;
    }

    /// <summary>The published records of a settled award (settlement id): request, award, settlement, the cycle's award list and the transactions.</summary>
    public static async Task<Results<Ok<PublishedSettlementResponse>, NotFound>> GetSettlement(
        string awardId, MarketStore store, RecordSnapshots snapshots, SettlementLedger ledger, CancellationToken cancellationToken) =>
        await LoadAsync(ParseHash(awardId, "awardId"), store, snapshots, ledger, cancellationToken) is { } published
            ? TypedResults.Ok(published.Response)
            : TypedResults.NotFound();

    /// <summary>
    /// Verifies payments against this app's chain and its own published records: exactly one of <c>awardId</c>,
    /// <c>tx</c> (a transaction hash) or <c>wallet</c> (every payment to or from it since <c>fromBlock</c>, default the
    /// escrow's deployment block, at most <see cref="LimitOptions.VerifyMaxBlockRange"/> blocks back). The chain is read
    /// in ranges of at most <see cref="SettlementOptions.MaxLogBlockSpan"/> blocks.
    /// </summary>
    public static async Task<Ok<VerifyResponse>> Verify(
        string? awardId, string? tx, string? wallet, ulong? fromBlock, MarketStore store, RecordSnapshots snapshots, SettlementLedger ledger, IOptions<SettlementOptions> options,
        IOptions<LimitOptions> limits, CancellationToken cancellationToken)
    {
        var given = new[] { ("awardId", awardId), ("tx", tx), ("wallet", wallet) }.Where(q => q.Item2 is not null).ToList();
        if (given.Count != 1)
            throw new ApiProblemException(400, given.Count == 0 ? "awardId" : given[1].Item1, "one-of", "Give exactly one of awardId, tx or wallet.");
        var verifier = new PaymentVerifier(ledger.Chain, new StoreRecords(store, snapshots, ledger)) { SearchFromBlock = options.Value.FromBlock };
        var verdicts = given[0] switch
        {
            ("awardId", var id) => await verifier.VerifyAwardAsync(ParseHash(id!, "awardId"), cancellationToken),
            ("tx", var hash) => await verifier.VerifyTransactionAsync(ParseHash(hash!, "tx"), cancellationToken),
            (_, var address) => await verifier.VerifyWalletAsync(EthAddress.TryParse(address, out var a) ? a
                : throw new ApiProblemException(400, "wallet", "address", "wallet must be a 0x-prefixed 20-byte hex address."),
                await WalletScanStartAsync(fromBlock ?? options.Value.FromBlock, ledger, limits.Value.VerifyMaxBlockRange, cancellationToken), cancellationToken),
        };
        // Nothing checked is not verified: an unknown wallet has no payment to vouch for.
        return TypedResults.Ok(new VerifyResponse(verdicts.Count > 0 && verdicts.All(v => v.Verified), verdicts.Select(PaymentVerdictResponse.From).ToList(), ledger.Info));
    }

    /// <summary><paramref name="fromBlock"/> when a wallet scan from there to the latest block stays within <paramref name="maxRange"/> blocks.</summary>
    private static async Task<ulong> WalletScanStartAsync(ulong fromBlock, SettlementLedger ledger, ulong maxRange, CancellationToken cancellationToken)
    {
        var latest = await ledger.LatestBlockAsync(cancellationToken);
        if (latest >= fromBlock && latest - fromBlock >= maxRange)
            throw new ApiProblemException(400, "fromBlock", "block-range",
                $"A wallet scan covers at most {maxRange} blocks: give fromBlock {latest - maxRange + 1} or later (the latest block is {latest}).");
        return fromBlock;
    }

    public static AwardRecordResponse ToResponse(AwardRecord record) =>
        new(record.AwardId.ToString(), record.Dso.ToString(), record.Cpo.ToString(), record.EnergyWh, record.PriceMicroEurPerKwh,
            record.LockedUnits.ToString(), record.DeliveryStart, record.DeliveryEnd, record.ProfileHash.ToString(), record.Hash().ToString());

    public static SettlementResponse ToResponse(SettlementRecord s, FlexChain.Domain.Verification verification, string? transactionHash) =>
        new(s.AwardId.ToString(), s.AwardedWh, s.BaselineWh, s.MeasuredWh, s.DeliveredWh, s.Succeeded, verification.Outcome.ToString(),
            verification.Outcome == FlexChain.Domain.DeliveryOutcome.NotDelivered ? verification.FailureReason : null, s.PayoutUnits.ToString(),
            s.LockedUnits.ToString(), s.Hash().ToString(), transactionHash);

    private static Hash32 ParseHash(string value, string field)
    {
        try
        {
            return value.Length == 66 ? Hash32.Parse(value) : throw new FormatException();
        }
        catch (FormatException)
        {
            throw new ApiProblemException(400, field, "hash32", $"{field} must be 0x followed by 64 hex digits.");
        }
    }

    private sealed record Published(PublishedSettlement Records, PublishedSettlementResponse Response);

    /// <summary>
    /// The records of a settled award as they were locked and settled (the stored snapshots, never rebuilt), or null when
    /// no settled FlexChain escrow batch holds it.
    /// </summary>
    private static async Task<Published?> LoadAsync(Hash32 awardId, MarketStore store, RecordSnapshots snapshots, SettlementLedger ledger, CancellationToken cancellationToken)
    {
        if (await store.FindSettledAvailabilityAsync(awardId, cancellationToken) is var (contract, number)) return LoadAvailability(awardId, contract, number, ledger);
        if (await store.FindSettledBatchAsync(awardId, cancellationToken) is not { } batch) return null;
        var position = EscrowIds.IndexOf(awardId);
        if (position < 0 || position >= batch.Awards.Count) return null;
        var escrow = EscrowIds.Cycle(batch.Key);
        if (await snapshots.GetAwardsAsync(escrow, cancellationToken) is not { } awards
            || await snapshots.GetSettlementsAsync(escrow, cancellationToken) is not { } settlements) return null;
        var (i, at) = ((int)position, batch.Awards[(int)position]);
        var r = (await store.GetRequestAsync(at.RequestId, cancellationToken))!.Value.Value;
        var settlement = settlements[i];
        var cycleId = batch.Key[..batch.Key.LastIndexOf('/')];
        var profile = RequestRecords.ProfileOf(r, r.Awards[at.AwardIndex]);
        return new Published(
            new PublishedSettlement(r.Id, batch.Key, awards[i], settlement, awards, Hash32.Parse(batch.SettleTransaction!),
                ledger.Info.ChainId, EthAddress.Parse(ledger.Info.SettlementContract), profile),
            new PublishedSettlementResponse(PublishedSettlementJson.ActivationKind, r.Id, cycleId, batch.Key, EscrowIds.Cycle(batch.Key).ToString(), i, ToResponse(awards[i]),
                ProfileRecordResponse.From(profile), ToResponse(settlement, r.Verifications[at.AwardIndex], batch.SettleTransaction),
                awards.Select(ToResponse).ToList(), batch.LockTransaction, batch.SettleTransaction, ledger.Info));
    }

    /// <summary>
    /// The records of a holder's availability payment in batch <paramref name="number"/> of a settled availability contract, as
    /// stored before the lock and the settlement, or null when the batch does not hold <paramref name="awardId"/>.
    /// </summary>
    private static Published? LoadAvailability(Hash32 awardId, AvailabilityDocument contract, int number, SettlementLedger ledger)
    {
        var cycle = AvailabilityPayments.CycleOf(contract.Id, number);
        if (EscrowIds.CycleOf(awardId) != cycle || contract.Records is not { } stored || contract.Settlements is not { } settlements) return null;
        var positions = stored.Select((r, i) => (r, i)).Where(x => EscrowIds.CycleOf(Hash32.Parse(x.r.AwardId)) == cycle).Select(x => x.i).ToList();
        var index = EscrowIds.IndexOf(awardId);
        if (index < 0 || index >= positions.Count) return null;
        var at = positions[(int)index];
        var (gateCycleId, key) = (AvailabilityGate.CycleIdOf(contract.Id), $"{AvailabilityGate.CycleIdOf(contract.Id)}/{number}");
        // One transaction per batch, in batch order, unless a retried step found a batch done already (then the hashes are not matched to batches).
        var batches = stored.Select(r => EscrowIds.CycleOf(Hash32.Parse(r.AwardId))).Distinct().Count();
        string? TransactionOf(IReadOnlyList<string>? transactions) => transactions?.Count == batches ? transactions[number] : null;
        var settleTransaction = TransactionOf(contract.SettleTransactions);
        return new Published(
            new PublishedSettlement(contract.Id, key, stored[at].ToRecord(), settlements[at].ToRecord(), positions.Select(i => (IEscrowEntry)stored[i].ToRecord()).ToList(),
                settleTransaction is null ? null : Hash32.Parse(settleTransaction), ledger.Info.ChainId, EthAddress.Parse(ledger.Info.SettlementContract)),
            new PublishedSettlementResponse(PublishedSettlementJson.AvailabilityKind, contract.Id, gateCycleId, key, cycle.ToString(), (int)index, null, null, null, null,
                TransactionOf(contract.LockTransactions), settleTransaction, ledger.Info, AvailabilityRecordResponse.From(stored[at]),
                AvailabilitySettlementResponse.From(settlements[at]), positions.Select(i => AvailabilityRecordResponse.From(stored[i])).ToList()));
    }

    /// <summary>The app's own published records, read from storage (what <c>GET /v1/settlements/{awardId}</c> returns).</summary>
    private sealed class StoreRecords(MarketStore store, RecordSnapshots snapshots, SettlementLedger ledger) : IPublishedRecords
    {
        public async Task<PublishedSettlement?> GetAsync(Hash32 awardId, CancellationToken cancellationToken) =>
            (await LoadAsync(awardId, store, snapshots, ledger, cancellationToken))?.Records;
    }
}

/// <summary>
/// A settled escrow entry as published, of one kind: an <c>Activation</c> (an award of a request) or an <c>Availability</c>
/// payment (a holder of an availability contract). Both: the request (the availability request) and its gate cycle
/// (<c>availability:{id}</c>), the escrow batch (its key, from which the escrow cycle id derives), the entry's position in
/// the escrow cycle and the lock and settle transactions. An activation: its award record and the profile its
/// <c>profileHash</c> binds (<c>awardProfile</c>), its settlement record and every award record of the cycle in index
/// order (the list the cycle's <c>awardsHash</c> commits to). An availability payment, in their place: its availability
/// record, its availability settlement record and every availability record of the cycle in index order. Record hashes
/// are included for convenience; verifiers recompute them.
/// </summary>
public sealed record PublishedSettlementResponse(
    string Kind, string RequestId, string GateCycleId, string EscrowKey, string EscrowCycleId, int Index, AwardRecordResponse? Award, ProfileRecordResponse? AwardProfile,
    SettlementResponse? Settlement, IReadOnlyList<AwardRecordResponse>? CycleAwards,
    string? LockTransactionHash, string? SettleTransactionHash, ChainInfo Chain, AvailabilityRecordResponse? AvailabilityRecord = null,
    AvailabilitySettlementResponse? AvailabilitySettlement = null, IReadOnlyList<AvailabilityRecordResponse>? CycleAvailabilityRecords = null);

/// <summary>The verdicts on the payments asked about; <c>verified</c> is true only when at least one payment was found and every one verified.</summary>
public sealed record VerifyResponse(bool Verified, IReadOnlyList<PaymentVerdictResponse> Payments, ChainInfo Chain);

/// <summary>
/// One payment's verdict: what became of the award (<c>status</c>: Paid, Refunded, Pending or Unpaid, when the chain says), the
/// event as found on chain (amounts in token units) and every failed check with its reason.
/// </summary>
public sealed record PaymentVerdictResponse(
    string? AwardId, string? RequestId, bool Verified, string? Status, string? Cpo, string? Dso, string? PaidUnits, string? RefundedUnits, string? SettlementHash,
    string? TransactionHash, ulong? BlockNumber, IReadOnlyList<VerificationFailureResponse> Failures)
{
    public static PaymentVerdictResponse From(PaymentVerdict v) =>
        new(v.AwardId?.ToString(), v.RequestId, v.Verified, v.Status?.ToString(), v.Payment?.Cpo.ToString(), v.Payment?.Dso.ToString(), v.Payment?.Paid.ToString(),
            v.Payment?.Refunded.ToString(), v.Payment?.SettlementHash.ToString(), v.Payment?.TransactionHash?.ToString(), v.Payment?.BlockNumber,
            v.Failures.Select(f => new VerificationFailureResponse(f.Check, f.Reason)).ToList());
}

public sealed record VerificationFailureResponse(VerificationCheck Check, string Reason);
