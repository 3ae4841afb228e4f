using System.Security.Claims;
using FlexChain.Domain;
using FlexChain.Functions.Auth;
using FlexChain.Functions.Settlement;
using FlexChain.Functions.Storage;
using FlexChain.Verification;

namespace FlexChain.Functions.Api;

/// <summary>
/// Builds what a caller may see of a request. Offers are sealed: a CPO sees only its own offer; the request's DSO
/// sees every offer, and how each was cleared, only after gate closure; nobody else sees offers (nor the DSO's manual
/// decision, which names them). How the winners were chosen (manual or automatic selection) is published with the results. Awards and
/// settlements are published results, shown to every participant with the records whose hashes are on chain.
/// </summary>
public sealed class RequestViews(MarketStore store, SettlementLedger ledger, TimeProvider clock)
{
    public async Task<RequestResponse> BuildAsync(FlexRequest r, ClaimsPrincipal caller, CancellationToken cancellationToken)
    {
        var callerId = caller.ParticipantId();
        var gateClosed = r.OffersUnsealedAt(clock.GetUtcNow());
        IReadOnlyList<Offer>? offers = null;
        if (callerId == r.DsoId && gateClosed)
            offers = await store.GetOffersAsync(r, cancellationToken);
        else if (caller.Role() == Role.Cpo && await store.GetOfferAsync(r, callerId, cancellationToken) is { } own)
            offers = [own];
        var visibleIds = offers?.Select(o => o.Id).ToHashSet() ?? [];

        var membership = await store.GetMembershipAsync(r.Id, cancellationToken);
        var awards = new List<AwardResponse>();
        var settlements = new List<SettlementResponse>();
        if (r.Awards.Count > 0 && membership is not null && membership.Slots.Count == r.Awards.Count)
        {
            // Award records are in token units: only they need the chain (a 503 while it is not connected).
            var decimals = ledger.Info.TokenDecimals;
            var batches = new Dictionary<int, EscrowBatch?>();
            foreach (var n in membership.Slots.Select(s => s.Batch).Distinct())
                batches[n] = await store.GetEscrowBatchAsync(membership.CycleId, n, cancellationToken);
            var dso = await store.GetWalletAsync(r.DsoId, cancellationToken);
            for (var i = 0; i < r.Awards.Count; i++)
            {
                var a = r.Awards[i];
                var record = AwardRecord.For(r, i, membership.AwardId(i)!.Value, dso, await store.GetWalletAsync(a.CpoId, cancellationToken), decimals);
                awards.Add(new AwardResponse(a.Id, a.OfferId, a.CpoId, a.StationIds, Wire.Kwh(a.Energy.Value), Wire.EurPerKwh(a.Price.Value), Wire.Eur(a.Value.Value),
                    SettlementsApi.ToResponse(record), batches[membership.Slots[i].Batch]?.LockTransaction, Wire.Profile(a.Profile), a.PoolId));
            }
            for (var i = 0; i < r.Verifications.Count; i++)
            {
                var s = SettlementRecord.For(r, i, membership.AwardId(i)!.Value, decimals);
                settlements.Add(SettlementsApi.ToResponse(s, r.Verifications[i], batches[membership.Slots[i].Batch]?.SettleTransaction)
                    with { Verification = VerificationDetailResponse.From(r.Verifications[i]) });
            }
        }

        return new RequestResponse(r.Id, r.DsoId, r.TransformerId, r.Delivery.Start, r.Delivery.End, Wire.Kwh(r.Energy.Value), r.Direction.ToString(),
            Wire.EurPerKwh(r.MaxPrice.Value), r.GateClosure, r.Pricing.ToString(), r.Selection.ToString(), r.DecisionDeadline, Wire.Kwh(r.MinimumOfferEnergy?.Value),
            r.State.ToString(), r.Fill() is { } fill ? FillResponse.From(fill, callerId == r.DsoId) : null, r.CreatedAt, r.CancelledAt, r.GateCycleId ?? membership?.CycleId,
            callerId == r.DsoId && gateClosed ? offers?.Count : null,
            offers?.Select(OfferResponse.From).ToList(),
            r.Outcomes.Where(o => visibleIds.Contains(o.OfferId)).Select(OutcomeResponse.From).ToList(),
            awards, settlements, ledger.Status.Info, VerificationRulesResponse.From(r.Verification),
            callerId == r.DsoId && r.Decision is { } decision ? DecisionResponse.From(r, decision) : null,
            r.AppliedSelection?.ToString(), r.SelectionNote, r.StateReason, r.Interval.Minutes, r.Buyer.ToString(), r.ApprovalDeadline, r.AvailabilityId,
            Wire.Profile(r.Profile), GridNodeResponse.KwOrNull(r.MinBlock));
    }

}
