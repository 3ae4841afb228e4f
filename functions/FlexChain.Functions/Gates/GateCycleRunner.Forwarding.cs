using FlexChain.Domain;
using FlexChain.Functions.Storage;

namespace FlexChain.Functions.Gates;

/// <summary>Bid forwarding after a DSO request clears, in market areas whose coordination model is DSO-first.</summary>
public sealed partial class GateCycleRunner
{
    /// <summary>How far before a DSO request's window a TSO request's window may start and still overlap it (the longest TSO window looked for).</summary>
    private static readonly TimeSpan ForwardLookBack = TimeSpan.FromDays(1);

    /// <summary>
    /// Forwards the offers each cleared DSO request of a DSO-first area did not buy at all, with their CPO's consent, to the
    /// first open TSO request of the area (by gate closure, then id) of the same direction whose window overlaps the DSO's,
    /// where the forwarded offer (<see cref="BidForwarding.Forward"/>: the power offered in each interval they share) passes the TSO request's checks (its stations, price cap, minimum block, physical and grid limits);
    /// the CPO is told (<c>offer.forwarded</c>). Idempotent: a forwarded offer has an id derived from the two and a CPO has one
    /// offer per request, so a retried step forwards nothing twice.
    /// </summary>
    private async Task ForwardUnboughtAsync(IEnumerable<FlexRequest> cleared, DateTimeOffset now, CancellationToken cancellationToken)
    {
        foreach (var request in cleared.Where(r => r.Buyer == Role.Dso && r.State is RequestState.Cleared or RequestState.Unfilled))
        {
            var node = await store.GetGridNodeAsync(request.TransformerId, cancellationToken);
            var area = node is null ? null : node.AncestorIds.LastOrDefault() ?? node.Id;
            if (area is null || (await store.GetCoordinationAsync(area, cancellationToken))?.Model != CoordinationModel.DsoFirst) continue;
            var unbought = (await store.GetOffersAsync(request, cancellationToken))
                .Where(o => o.ForwardToTso && request.Outcomes.Any(x => x.OfferId == o.Id && !x.IsAccepted)).ToList();
            if (unbought.Count == 0) continue;
            var targets = (await store.ListRequestsAsync(area, request.Delivery.Start - ForwardLookBack, request.Delivery.End,
                    r => r.Buyer == Role.Tso && r.IsOpenAt(now) && r.Direction == request.Direction && r.Delivery.Overlaps(request.Delivery), 1000, null, cancellationToken))
                .Items.OrderBy(r => r.GateClosure).ThenBy(r => r.Id, StringComparer.Ordinal).ToList();
            foreach (var offer in unbought)
                foreach (var target in targets)
                    if (await TryForwardAsync(offer, request.Outcomes.First(x => x.OfferId == offer.Id), request, target, now, cancellationToken)) break;
        }
    }

    private async Task<bool> TryForwardAsync(Offer offer, OfferOutcome outcome, FlexRequest from, FlexRequest target, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var stations = new List<ChargingStation>();
        foreach (var id in offer.StationIds)
            if (await store.GetStationAsync(offer.CpoId, id, cancellationToken) is { } s) stations.Add(s.Value);
        Offer forwarded;
        try
        {
            forwarded = BidForwarding.Forward(offer, outcome, from, target, ForwardedId(offer.Id, target.Id), now);
            var place = await store.GetRequestPlaceAsync(target, stations, cancellationToken);
            target.AcceptOffer(forwarded, stations, place.Node, place.Requirements, now,
                await store.GetGridRestrictionsAsync(stations, target.Delivery, now, cancellationToken), place.Sites);
        }
        catch (DomainException e)
        {
            LogNotForwarded(offer.Id, target.Id, e.Rule);
            return false;
        }
        if (await store.TryAddOfferAsync(target, forwarded, cancellationToken) != OfferWrite.Done
            && (await store.GetOfferAsync(target, offer.CpoId, cancellationToken))?.Id != forwarded.Id) return false;
        await notifications.OfferForwardedAsync(forwarded, target, cancellationToken);
        return true;
    }

    /// <summary>The forwarded offer's id: from the offer's and the TSO request's ids, the same in every attempt.</summary>
    private static string ForwardedId(string offerId, string requestId) =>
        "off_" + Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(offerId + ">" + requestId)).AsSpan(0, 16));

    [LoggerMessage(Level = LogLevel.Information, Message = "Offer {OfferId} not forwarded to request {RequestId}: rule {Rule}")]
    private partial void LogNotForwarded(string offerId, string requestId, string rule);
}
