using System.Globalization;
using System.Numerics;
using FlexChain.Domain;
using FlexChain.Ethereum;
using FlexChain.Functions.Gates;
using FlexChain.Functions.Storage;
using FlexChain.Verification;
using Microsoft.Extensions.Options;

namespace FlexChain.Functions.Settlement;

/// <summary>
/// The availability payments through the escrow, the holders in merit order cut into escrow batches of at most
/// <see cref="GateCycleOptions.MaxAwardsPerBatch"/> (<see cref="AvailabilityContract.EscrowBatches"/>), each batch one escrow
/// cycle (id <see cref="EscrowIds.Cycle"/> of <c>availability:{id}/{batch}</c>) with its holders as entries: locked from the
/// DSO under its availability consent once the contract is reserved (each batch draws its own total under that consent),
/// and settled once the period has ended and every call is over, each holder paid its availability payment unless it
/// failed a call (<see cref="AvailabilityContract.AvailabilityPayout"/>), the rest refunded. Each step stores its records
/// before the transactions that commit to them (a record's award id names its batch's cycle, so the batches are read
/// back from the records), and the ledger skips a batch the chain has done already, so a retried step never pays twice.
/// </summary>
public sealed class AvailabilityPayments(MarketStore store, SettlementLedger ledger, FaultInjection faults, IOptions<GateCycleOptions> gateOptions)
{
    /// <summary>The escrow cycle of batch <paramref name="batch"/> of an availability contract.</summary>
    public static Hash32 CycleOf(string availabilityId, int batch) => EscrowIds.Cycle($"availability:{availabilityId}/{batch}");

    /// <summary>The terms its DSO's consent binds.</summary>
    public static AvailabilityTermsRecord Terms(AvailabilityDocument d) => new(
        d.TransformerId, d.Period.Start.ToUnixTimeSeconds(), d.Period.End.ToUnixTimeSeconds(), checked((long)(d.Capacity.Value * 1000m)),
        d.Direction.ToString(), checked((long)(d.MaxPrice.Value * 1_000_000m)), d.GateClosure.ToUnixTimeSeconds(), d.Arming);

    /// <summary>The DSO's consent as the escrow checks it.</summary>
    public static DsoConsent ConsentOf(AvailabilityDocument d)
    {
        var c = d.Consent ?? throw new InvalidOperationException($"availability request {d.Id} has no DSO consent");
        return new(Terms(d).Hash(), BigInteger.Parse(c.MaxAmount, NumberStyles.None, CultureInfo.InvariantCulture), c.Deadline.ToUnixTimeSeconds(),
            BigInteger.Parse(c.Nonce, NumberStyles.None, CultureInfo.InvariantCulture), c.Signature);
    }

    /// <summary>Checks a new availability request's consent (422 on field <c>consent</c>, the rules of <see cref="RequestConsents"/>).</summary>
    public Task VerifyConsentAsync(AvailabilityDocument d, Participant dso, CancellationToken cancellationToken) =>
        RequestConsents.VerifyAsync(ConsentOf(d), d.Consent!.Deadline, d.Period.Start, "periodStart", "capacityKw x maxAvailabilityPriceEurPerKw",
            (d.Capacity * d.MaxPrice).ToTokenUnits(ledger.Info.TokenDecimals), dso, ledger, cancellationToken);

    /// <summary>
    /// Locks the holders' availability payments of a reserved contract: the records are built once and stored, then every
    /// batch is locked. Returns the document after the step (locked, or FundingFailed with the reason when any batch could
    /// not be funded: a batch locked before it is refunded to the DSO after its refund time, as a request's), or null when
    /// another writer changed it first.
    /// </summary>
    public async Task<AvailabilityDocument?> LockAsync(Stored<AvailabilityDocument> stored, CancellationToken cancellationToken)
    {
        var (doc, etag) = (stored.Value, stored.ETag);
        if (doc.Records is null)
        {
            var decimals = ledger.Info.TokenDecimals;
            var dso = await store.GetWalletAsync(doc.DsoId, cancellationToken);
            var batches = doc.Contract().EscrowBatches(gateOptions.Value.MaxAwardsPerBatch);
            var records = new List<StoredAvailabilityRecord>();
            for (var b = 0; b < batches.Count; b++)
                for (var i = 0; i < batches[b].Count; i++)
                {
                    var h = batches[b][i];
                    records.Add(new(h.OfferId, EscrowIds.Award(CycleOf(doc.Id, b), i).ToString(), dso.Value, (await store.GetWalletAsync(h.CpoId, cancellationToken)).Value,
                        checked((long)(h.Reserved.Value * 1000m)), checked((long)(h.AvailabilityPrice.Value * 1_000_000m)), checked((long)(h.ActivationPrice.Value * 1_000_000m)),
                        h.AvailabilityPayment.ToTokenUnits(decimals).ToString(CultureInfo.InvariantCulture), doc.Period.Start.ToUnixTimeSeconds(), doc.Period.End.ToUnixTimeSeconds()));
                }
            doc = doc with { Records = records };
            if (!await store.TryReplaceAvailabilityAsync(doc, etag, cancellationToken)) return null;
            etag = (await store.GetAvailabilityAsync(doc.Id, cancellationToken))!.Value.ETag;
        }
        var consent = ConsentOf(doc);
        var locks = Batches(doc.Records!).Select(b =>
        {
            var entries = b.Positions.Select(i => doc.Records![i].ToRecord()).ToList();
            return new SettlementLedger.CycleLock(b.Cycle, entries, doc.Period.End + gateOptions.Value.RefundAfter,
                [consent.Draw(entries.Aggregate(BigInteger.Zero, (sum, r) => sum + r.LockedUnits))]);
        }).ToList();
        var outcomes = await ledger.LockCyclesAsync(locks, cancellationToken);
        faults.Reached(FaultInjection.AvailabilityLockMined);
        doc = doc with { LockTransactions = [.. outcomes.Select(o => o.Transaction).OfType<string>()] };
        if (outcomes.FirstOrDefault(o => o.FundingFailure is not null) is { } failed)
            doc = doc with { State = AvailabilityState.FundingFailed, StateReason = failed.FundingFailure };
        return await store.TryReplaceAvailabilityAsync(doc, etag, cancellationToken) ? doc : null;
    }

    /// <summary>
    /// Settles a locked contract once its period has ended and every call is over (settled, unpaid, unfunded, unfilled or
    /// cancelled): each holder's settlement record (calls that awarded it energy, how many failed, its payout) is built
    /// once and stored, then every batch is settled. Returns the settled document, or null when not due yet or changed meanwhile.
    /// </summary>
    public async Task<AvailabilityDocument?> SettleIfDueAsync(Stored<AvailabilityDocument> stored, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var (doc, etag) = (stored.Value, stored.ETag);
        if (doc.LockTransactions is null || now < doc.Period.End) return null;
        if (doc.Settlements is null)
        {
            var calls = (await store.GetRequestsAsync(doc.CallIds ?? [], cancellationToken)).Values.Select(s => s.Value).ToList();
            if (calls.Any(c => c.State is not (RequestState.Settled or RequestState.Unpaid or RequestState.FundingFailed or RequestState.Unfilled or RequestState.Cancelled)))
                return null;
            var decimals = ledger.Info.TokenDecimals;
            var holders = doc.Holders ?? [];
            doc = doc with
            {
                Settlements = doc.Records!.Select((r, i) =>
                {
                    var verified = calls.SelectMany(c => c.Awards.Select((a, j) => (a, j)).Where(x => x.a.OfferId == holders[i].OfferId && x.j < c.Verifications.Count)
                        .Select(x => c.Verifications[x.j])).ToList();
                    var payout = AvailabilityContract.AvailabilityPayout(holders[i], verified).ToTokenUnits(decimals);
                    return new StoredAvailabilitySettlement(r.AwardId, verified.Count, verified.Count(v => !v.Succeeded), payout.ToString(CultureInfo.InvariantCulture), r.LockedUnits);
                }).ToList(),
            };
            if (!await store.TryReplaceAvailabilityAsync(doc, etag, cancellationToken)) return null;
            etag = (await store.GetAvailabilityAsync(doc.Id, cancellationToken))!.Value.ETag;
        }
        // Indexed so each payment leads back to its records (GET /v1/settlements/{awardId}, read once the contract is Settled).
        var batches = Batches(doc.Records!);
        for (var b = 0; b < batches.Count; b++)
            await store.IndexSettlementAsync(batches[b].Cycle, AvailabilityGate.CycleIdOf(doc.Id), b, cancellationToken);
        var outcomes = await ledger.SettleCyclesAsync(batches.Select(b => new SettlementLedger.CycleSettlement(b.Cycle,
            b.Positions.Select(i => doc.Records![i].ToRecord()).ToList(), b.Positions.Select(i => doc.Settlements[i].ToRecord()).ToList())).ToList(), cancellationToken);
        faults.Reached(FaultInjection.AvailabilitySettlementMined);
        var unpaid = outcomes.Select(o => o.Unpaid).OfType<string>().ToList();
        doc = doc with
        {
            State = AvailabilityState.Settled, SettleTransactions = [.. outcomes.Select(o => o.Transaction).OfType<string>()],
            StateReason = unpaid.Count == 0 ? null : string.Join("; ", unpaid),
        };
        return await store.TryReplaceAvailabilityAsync(doc, etag, cancellationToken) ? doc : null;
    }

    /// <summary>The escrow batches of stored records, in order: each batch's cycle (from its records' award ids) and their positions.</summary>
    private static List<(Hash32 Cycle, List<int> Positions)> Batches(IReadOnlyList<StoredAvailabilityRecord> records) =>
        records.Select((r, i) => (Cycle: EscrowIds.CycleOf(Hash32.Parse(r.AwardId)), Position: i))
            .GroupBy(x => x.Cycle)
            .Select(g => (Cycle: g.Key, Positions: g.Select(x => x.Position).ToList()))
            .ToList();
}
