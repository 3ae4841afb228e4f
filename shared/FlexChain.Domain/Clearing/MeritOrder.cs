namespace FlexChain.Domain;

/// <summary>Why an offer was or was not accepted; the DSO's history view shows it.</summary>
public enum OfferOutcomeKind
{
    Accepted = 1,
    PartlyAccepted = 2,
    RejectedOverPriceCap = 3,
    RejectedNotNeeded = 4,
    RejectedIndivisibleOvershoot = 5,
    RejectedLate = 6,
}

/// <summary>One offer's clearing outcome.</summary>
public sealed record OfferOutcome(string OfferId, OfferOutcomeKind Kind, KilowattHours AcceptedEnergy);

/// <summary>The result of clearing one request: the awards and an explanation for every offer.</summary>
public sealed record ClearingResult(IReadOnlyList<Award> Awards, IReadOnlyList<OfferOutcome> Outcomes)
{
    public KilowattHours AcceptedEnergy => Awards.Aggregate(KilowattHours.Zero, (s, a) => s + a.Energy);
}

/// <summary>
/// Merit-order clearing (DOMAIN.md section 4): eligible offers sorted by price, then submission time, then id
/// (so the result does not depend on input order), accepted until the requested energy is covered.
/// A divisible offer may be accepted in part, to the watt-hour. An indivisible offer that would overshoot the
/// remaining need is skipped and the next offer is tried; the market never buys more than requested.
/// </summary>
public static class MeritOrder
{
    public static ClearingResult Clear(
        KilowattHours requested, EurosPerKilowattHour priceCap, DateTimeOffset gateClosure, PricingRule pricing,
        string requestId, IEnumerable<Offer> offers)
    {
        var outcomes = new List<OfferOutcome>();
        var eligible = new List<Offer>();
        foreach (var o in offers)
        {
            if (o.SubmittedAt >= gateClosure) outcomes.Add(new(o.Id, OfferOutcomeKind.RejectedLate, KilowattHours.Zero));
            else if (o.Price > priceCap) outcomes.Add(new(o.Id, OfferOutcomeKind.RejectedOverPriceCap, KilowattHours.Zero));
            else eligible.Add(o);
        }
        eligible.Sort(static (a, b) =>
        {
            var c = a.Price.CompareTo(b.Price);
            if (c == 0) c = a.SubmittedAt.CompareTo(b.SubmittedAt);
            return c != 0 ? c : string.CompareOrdinal(a.Id, b.Id);
        });

        var remaining = requested;
        var accepted = new List<(Offer Offer, KilowattHours Energy)>();
        foreach (var o in eligible)
        {
            if (remaining <= KilowattHours.Zero)
            {
                outcomes.Add(new(o.Id, OfferOutcomeKind.RejectedNotNeeded, KilowattHours.Zero));
                continue;
            }
            if (o.Energy <= remaining)
            {
                accepted.Add((o, o.Energy));
                outcomes.Add(new(o.Id, OfferOutcomeKind.Accepted, o.Energy));
                remaining -= o.Energy;
            }
            else if (o.Divisible)
            {
                accepted.Add((o, remaining));
                outcomes.Add(new(o.Id, OfferOutcomeKind.PartlyAccepted, remaining));
                remaining = KilowattHours.Zero;
            }
            else
            {
                outcomes.Add(new(o.Id, OfferOutcomeKind.RejectedIndivisibleOvershoot, KilowattHours.Zero));
            }
        }

        var clearingPrice = accepted.Count == 0 ? default : accepted.Max(a => a.Offer.Price);
        var awards = accepted
            .Select(a => new Award(
                Award.IdFor(requestId, a.Offer.Id), a.Offer.Id, a.Offer.CpoId, a.Offer.StationIds, a.Energy,
                pricing == PricingRule.PayAsClear ? clearingPrice : a.Offer.Price))
            .ToList();
        outcomes.Sort(static (a, b) => string.CompareOrdinal(a.OfferId, b.OfferId));
        return new ClearingResult(awards, outcomes);
    }
}
