namespace FlexChain.Domain;

/// <summary>
/// Merit-order clearing of a single request (DOMAIN.md section 4); the same engine as <see cref="ClearingEngine"/>
/// with one request and automatic selection. Eligible offers are sorted by price, then submission time, then id,
/// and accepted until the requested energy is covered; a divisible offer may be accepted in part, to the watt-hour;
/// an indivisible offer that would overshoot the remaining need is rejected and the next offer is tried; the market
/// never buys more than requested.
/// </summary>
public static class MeritOrder
{
    /// <summary>
    /// Clears <paramref name="offers"/> (all taken as offers on <paramref name="requestId"/>) with no delivery
    /// window: two offers naming the same station still conflict, as any window overlaps itself.
    /// </summary>
    /// <param name="requested">Energy wanted (kWh, positive, whole watt-hours).</param>
    /// <param name="priceCap">Highest acceptable price (EUR/kWh, at most 4 decimals).</param>
    /// <param name="gateClosure">Offers submitted at or after it are late.</param>
    /// <param name="pricing">Pay-as-bid or pay-as-clear.</param>
    /// <param name="requestId">The request, used in award ids.</param>
    /// <param name="offers">The offers, in any order.</param>
    /// <exception cref="DomainException">The request's energy or cap is invalid, or an offer appears twice.</exception>
    public static ClearingResult Clear(
        KilowattHours requested, EurosPerKilowattHour priceCap, DateTimeOffset gateClosure, PricingRule pricing,
        string requestId, IEnumerable<Offer> offers)
    {
        var plan = RequestPlan.Build(requestId, requested, KilowattHours.Zero, priceCap, gateClosure, pricing,
            long.MinValue, long.MaxValue, SelectionMode.Automatic, AutomaticSelection.Instance, null, null);
        return ClearingEngine.ClearSingle(plan, offers as IReadOnlyList<Offer> ?? offers.ToList()).Results[0];
    }

    /// <summary>
    /// Clears one request with all its options (overfill, qualification, manual decision), taking every offer given as
    /// an offer on it; see <see cref="ClearingEngine.Clear"/> for the rules.
    /// </summary>
    /// <exception cref="DomainException">As for <see cref="ClearingEngine.Clear"/>.</exception>
    public static ClearingResult Clear(ClearingRequest request, IReadOnlyList<Offer> offers) =>
        ClearingEngine.ClearSingle(RequestPlan.For(request), offers).Results[0];
}
