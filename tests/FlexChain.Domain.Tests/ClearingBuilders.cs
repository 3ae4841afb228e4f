using FlexChain.Domain;
using static FlexChain.Domain.Tests.Build;

namespace FlexChain.Domain.Tests;

/// <summary>Test data for gate-cycle clearing: requests with windows, offers naming their stations.</summary>
internal static class Cycle
{
    /// <summary>A request whose window is [T0 + start h, T0 + start h + hours h) and whose gate closes at T0 + 1 h (or <paramref name="gateHour"/>).</summary>
    public static ClearingRequest Request(
        string id, decimal kwh = 10, decimal cap = 0.5m, double start = 4, double hours = 1, double gateHour = 1,
        PricingRule pricing = PricingRule.PayAsBid) =>
        new(id, new TimeWindow(T0.AddHours(start), T0.AddHours(start + hours)), KilowattHours.From(kwh),
            EurosPerKilowattHour.From(cap), T0.AddHours(gateHour), pricing);

    /// <summary>An offer on <paramref name="request"/>; its only station is "st-" + id unless <paramref name="stations"/> are given.</summary>
    public static Offer Offer(
        string id, string request, decimal kwh, decimal price, int minute = 0, bool divisible = true, params string[] stations) =>
        new(id, request, "cpo-" + id, stations.Length == 0 ? ["st-" + id] : stations, KilowattHours.From(kwh),
            EurosPerKilowattHour.From(price), divisible, T0.AddMinutes(minute));

    /// <summary>Clears <paramref name="request"/> alone, taking every offer given as an offer on it.</summary>
    public static ClearingResult ClearAlone(ClearingRequest request, IEnumerable<Offer> offers) =>
        ClearingEngine.Clear([request], offers.Select(o => o with { RequestId = request.Id }).ToList()).Results[0];

    public static OfferOutcome Outcome(this ClearingResult r, string offerId) => r.Outcomes.Single(o => o.OfferId == offerId);

    public static OfferPick Pick(string offerId, decimal? kwh = null) =>
        new(offerId, kwh is { } k ? KilowattHours.From(k) : null);

    public static ManualDecision Picks(string request, double decidedAtHour, params OfferPick[] picks) =>
        new(request, picks, T0.AddHours(decidedAtHour));
}
