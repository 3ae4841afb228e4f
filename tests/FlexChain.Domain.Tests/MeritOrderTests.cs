using FlexChain.Domain;
using FsCheck;
using FsCheck.Fluent;
using static FlexChain.Domain.Tests.Build;

namespace FlexChain.Domain.Tests;

public class MeritOrderTests
{
    private static ClearingResult Clear(decimal need, IEnumerable<Offer> offers, PricingRule pricing = PricingRule.PayAsBid, decimal cap = 1m) =>
        Cycle.ClearAlone(Cycle.Request("req1", kwh: need, cap: cap, pricing: pricing), offers);

    [Fact]
    public void Clear_CheapestFirst_AcceptsUntilCovered()
    {
        var r = Clear(10, [Offer("a", 6, 0.30m), Offer("b", 6, 0.20m), Offer("c", 6, 0.25m)]);
        Assert.Equal(["b", "c"], r.Awards.Select(a => a.OfferId));
        Assert.Equal(KilowattHours.From(6), r.Awards[0].Energy);
        Assert.Equal(KilowattHours.From(4), r.Awards[1].Energy);
        Assert.Equal(OfferOutcomeKind.PartlyAccepted, r.Outcomes.Single(o => o.OfferId == "c").Kind);
        Assert.Equal(OfferOutcomeKind.RejectedNotNeeded, r.Outcomes.Single(o => o.OfferId == "a").Kind);
    }

    [Fact]
    public void Clear_EqualPrices_EarlierSubmissionWins()
    {
        // Slovenian common merit order list: price first, then time.
        var r = Clear(5, [Offer("late", 5, 0.2m, submittedMinute: 10), Offer("early", 5, 0.2m, submittedMinute: 3)]);
        Assert.Equal("early", Assert.Single(r.Awards).OfferId);
    }

    [Fact]
    public void Clear_SlovenianHandWorked_PriceFirstThenTimeThenId()
    {
        // Need 15 kWh. B is cheapest; C and A tie on price, and C was submitted first; D ties with C on price and
        // time and loses on id. B 5 + C 10 covers the need, so A and D are not needed.
        var r = Clear(15,
        [
            Offer("A", 10, 0.20m, submittedMinute: 5), Offer("B", 5, 0.15m, submittedMinute: 20),
            Offer("D", 10, 0.20m, submittedMinute: 1), Offer("C", 10, 0.20m, submittedMinute: 1),
        ]);
        Assert.Equal(["B", "C"], r.Awards.Select(a => a.OfferId));
        Assert.Equal(["B", "C", "D", "A"], r.Outcomes.Select(o => o.OfferId));
        Assert.Equal(OfferOutcomeKind.RejectedNotNeeded, r.Outcomes.Single(o => o.OfferId == "A").Kind);
        Assert.Equal(OfferOutcomeKind.RejectedNotNeeded, r.Outcomes.Single(o => o.OfferId == "D").Kind);
    }

    [Fact]
    public void Clear_ResultCarriesRequestAndClearingPrice()
    {
        var r = Clear(10, [Offer("a", 4, 0.10m), Offer("b", 8, 0.20m)], PricingRule.PayAsClear);
        Assert.Equal(("req1", KilowattHours.From(10), PricingRule.PayAsClear, SelectionMode.Automatic), (r.RequestId, r.Requested, r.Pricing, r.Selection));
        Assert.Equal(EurosPerKilowattHour.From(0.20m), r.ClearingPrice);
    }

    [Fact]
    public void Clear_RequestEnergyFinerThanWattHour_Throws()
    {
        var e = Assert.Throws<DomainException>(() =>
            Cycle.ClearAlone(Cycle.Request("req1") with { Energy = new KilowattHours(1.0001m) }, []));
        Assert.Equal("precision", e.Rule);
    }

    [Fact]
    public void Clear_IndivisibleOvershoot_SkipsToNextOffer()
    {
        var r = Clear(10, [Offer("big", 8, 0.1m, divisible: false), Offer("huge", 5, 0.15m, divisible: false), Offer("small", 2, 0.3m, divisible: false)]);
        Assert.Equal(["big", "small"], r.Awards.Select(a => a.OfferId));
        Assert.Equal(OfferOutcomeKind.RejectedIndivisibleOvershoot, r.Outcomes.Single(o => o.OfferId == "huge").Kind);
    }

    [Fact]
    public void Clear_OverCapOrLate_Rejected()
    {
        var r = Clear(10, [Offer("dear", 5, 0.9m), Offer("late", 5, 0.1m, submittedMinute: 60)], cap: 0.5m);
        Assert.Empty(r.Awards);
        Assert.Equal(OfferOutcomeKind.RejectedOverPriceCap, r.Outcomes.Single(o => o.OfferId == "dear").Kind);
        Assert.Equal(OfferOutcomeKind.RejectedLate, r.Outcomes.Single(o => o.OfferId == "late").Kind);
    }

    [Fact]
    public void Clear_PayAsClear_EveryWinnerGetsLastAcceptedPrice()
    {
        var r = Clear(10, [Offer("a", 4, 0.10m), Offer("b", 4, 0.20m), Offer("c", 4, 0.30m), Offer("d", 4, 0.40m)], PricingRule.PayAsClear);
        Assert.All(r.Awards, a => Assert.Equal(EurosPerKilowattHour.From(0.30m), a.Price));
        Assert.Equal(KilowattHours.From(10), r.AcceptedEnergy);
    }

    [Fact]
    public void Clear_PayAsBid_EachWinnerGetsOwnPrice()
    {
        var r = Clear(10, [Offer("a", 4, 0.10m), Offer("b", 8, 0.20m)]);
        Assert.Equal([0.10m, 0.20m], r.Awards.Select(a => a.Price.Value));
        Assert.Equal(new Euros(0.4m + 1.2m), r.Awards.Aggregate(Euros.Zero, (s, a) => s + a.Value));
    }

    [Fact]
    public void Clear_AwardIds_AreDeterministicPerRequestAndOffer()
    {
        var r = Clear(10, [Offer("a", 4, 0.10m)]);
        Assert.Equal("req1/a", r.Awards[0].Id);
    }

    private static Arbitrary<Offer[]> Offers() =>
        Gen.Choose(1, 40).SelectMany(n => Gen.ArrayOf(
            Gen.Choose(1, 20_000).SelectMany(wh => Gen.Choose(1, 60).SelectMany(p => Gen.Choose(0, 59).SelectMany(m => Gen.Elements(true, false)
                .Select(d => (wh, p, m, d))))), n))
        .Select(xs => xs.Select((x, i) => Offer("o" + i, x.wh / 1000m, x.p / 100m, x.m, x.d)).ToArray())
        .ToArbitrary();

    [Fact]
    public void Clear_AnyOffers_NeverExceedsRequestOrCapAndIsOrderIndependent()
    {
        Prop.ForAll(Offers(), Gen.Choose(1, 50_000).ToArbitrary(), (offers, needWh) =>
        {
            var need = needWh / 1000m;
            var r = Clear(need, offers, PricingRule.PayAsBid, cap: 0.4m);
            var shuffled = Clear(need, offers.Reverse().ToArray(), PricingRule.PayAsBid, cap: 0.4m);
            var byId = offers.ToDictionary(o => o.Id);
            return r.AcceptedEnergy.Value <= need
                && r.Awards.All(a => a.Price.Value <= 0.4m)
                && r.Awards.All(a => byId[a.OfferId].Divisible || a.Energy == byId[a.OfferId].Energy)
                && r.Awards.Select(a => (a.OfferId, a.Energy)).SequenceEqual(shuffled.Awards.Select(a => (a.OfferId, a.Energy)))
                && r.Outcomes.Count == offers.Length;
        }).QuickCheckThrowOnFailure();
    }
}
