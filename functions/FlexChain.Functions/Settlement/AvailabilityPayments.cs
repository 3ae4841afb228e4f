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
/// The availability payments through the escrow, one escrow cycle per contract (id <see cref="EscrowIds.Cycle"/> of
/// <c>availability:{id}</c>, the holders in order as its entries): locked from the DSO under its availability consent once
/// the contract is reserved, and settled once the period has ended and every call is over, each holder paid its
/// availability payment unless it failed a call (<see cref="AvailabilityContract.AvailabilityPayout"/>), the rest refunded.
/// Each step stores its records before the transaction that commits to them, and the ledger skips a step the chain has
/// done already, so a retried step never pays twice.
/// </summary>
public sealed class AvailabilityPayments(MarketStore store, SettlementLedger ledger, IOptions<GateCycleOptions> gateOptions)
{
    /// <summary>The escrow cycle of an availability contract.</summary>
    public static Hash32 CycleOf(string availabilityId) => EscrowIds.Cycle("availability:" + availabilityId);

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
    /// Locks the holders' availability payments of a reserved contract: the records are built once and stored, then the
    /// cycle is locked. Returns the document after the step (locked, or FundingFailed with the reason), or null when another
    /// writer changed it first.
    /// </summary>
    public async Task<AvailabilityDocument?> LockAsync(Stored<AvailabilityDocument> stored, CancellationToken cancellationToken)
    {
        var (doc, etag) = (stored.Value, stored.ETag);
        if (doc.Records is null)
        {
            var decimals = ledger.Info.TokenDecimals;
            var dso = await store.GetWalletAsync(doc.DsoId, cancellationToken);
            var holders = doc.Holders ?? [];
            var records = new List<StoredAvailabilityRecord>();
            for (var i = 0; i < holders.Count; i++)
            {
                var h = holders[i];
                records.Add(new(h.OfferId, EscrowIds.Award(CycleOf(doc.Id), i).ToString(), dso.Value, (await store.GetWalletAsync(h.CpoId, cancellationToken)).Value,
                    checked((long)(h.Reserved.Value * 1000m)), checked((long)(h.AvailabilityPrice.Value * 1_000_000m)), checked((long)(h.ActivationPrice.Value * 1_000_000m)),
                    h.AvailabilityPayment.ToTokenUnits(decimals).ToString(CultureInfo.InvariantCulture), doc.Period.Start.ToUnixTimeSeconds(), doc.Period.End.ToUnixTimeSeconds()));
            }
            doc = doc with { Records = records };
            if (!await store.TryReplaceAvailabilityAsync(doc, etag, cancellationToken)) return null;
            etag = (await store.GetAvailabilityAsync(doc.Id, cancellationToken))!.Value.ETag;
        }
        var entries = doc.Records!.Select(r => r.ToRecord()).ToList();
        var total = entries.Aggregate(BigInteger.Zero, (sum, r) => sum + r.LockedUnits);
        var outcome = (await ledger.LockCyclesAsync(
            [new SettlementLedger.CycleLock(CycleOf(doc.Id), entries, doc.Period.End + gateOptions.Value.RefundAfter, [ConsentOf(doc).Draw(total)])],
            cancellationToken))[0];
        doc = outcome.FundingFailure is { } failure
            ? doc with { State = AvailabilityState.FundingFailed, StateReason = failure }
            : doc with { LockTransaction = outcome.Transaction };
        return await store.TryReplaceAvailabilityAsync(doc, etag, cancellationToken) ? doc : null;
    }

    /// <summary>
    /// Settles a locked contract once its period has ended and every call is over (settled, unpaid, unfunded, unfilled or
    /// cancelled): each holder's settlement record (calls that awarded it energy, how many failed, its payout) is built
    /// once and stored, then the cycle is settled. Returns the settled document, or null when not due yet or changed meanwhile.
    /// </summary>
    public async Task<AvailabilityDocument?> SettleIfDueAsync(Stored<AvailabilityDocument> stored, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var (doc, etag) = (stored.Value, stored.ETag);
        if (doc.LockTransaction is null || now < doc.Period.End) return null;
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
        var outcome = (await ledger.SettleCyclesAsync(
            [new SettlementLedger.CycleSettlement(CycleOf(doc.Id), doc.Records!.Select(r => r.ToRecord()).ToList(), doc.Settlements.Select(s => s.ToRecord()).ToList())],
            cancellationToken))[0];
        doc = doc with { State = AvailabilityState.Settled, SettleTransaction = outcome.Transaction, StateReason = outcome.Unpaid };
        return await store.TryReplaceAvailabilityAsync(doc, etag, cancellationToken) ? doc : null;
    }
}
