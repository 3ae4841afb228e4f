using FlexChain.Domain;
using FsCheck;
using FsCheck.Fluent;
using static FlexChain.Domain.Tests.Build;

namespace FlexChain.Domain.Tests;

/// <summary>Market invariants of gate-cycle clearing over random cycles: several requests, shared stations, overlapping windows.</summary>
public class ClearingPropertyTests
{
    /// <summary>A random gate cycle and a seed to shuffle it with.</summary>
    public sealed record Scenario(ClearingRequest[] Requests, Offer[] Offers, int Seed)
    {
        public override string ToString() =>
            string.Join("\n", Requests.Select(r => $"{r.Id} {r.Delivery} need {r.Energy} +{r.OverfillAllowance} cap {r.PriceCap} {r.Pricing}")
                .Concat(Offers.Select(o => $"  {o.Id}->{o.RequestId} {o.Energy} @{o.Price} t{o.SubmittedAt:HH:mm} div={o.Divisible} [{string.Join(",", o.StationIds)}]")));
    }

    private static readonly Gen<ClearingRequest> RequestGen =
        from startQuarter in Gen.Choose(8, 24)
        from quarters in Gen.Choose(1, 12)
        from needWh in Gen.Choose(1, 40_000)
        from capCents in Gen.Choose(1, 60)
        from allowanceWh in Gen.Elements(0, 0, 500, 5_000)
        from clear in Gen.Elements(false, true)
        from gateQuarter in Gen.Choose(2, 6)
        select new ClearingRequest("", new TimeWindow(T0.AddMinutes(15 * startQuarter), T0.AddMinutes(15 * (startQuarter + quarters))),
            KilowattHours.From(needWh / 1000m), EurosPerKilowattHour.From(capCents / 100m), T0.AddMinutes(15 * gateQuarter),
            clear ? PricingRule.PayAsClear : PricingRule.PayAsBid) { OverfillAllowance = KilowattHours.From(allowanceWh / 1000m) };

    private static Gen<Offer> OfferGen(int requests) =>
        from request in Gen.Choose(0, requests) // == requests: an offer on a request outside the cycle
        from wh in Gen.Choose(1, 20_000)
        from cents in Gen.Choose(1, 60)
        from minute in Gen.Choose(0, 90)
        from divisible in Gen.Elements(true, false)
        from stations in Gen.Choose(0, 9).ArrayOf().Select(xs => xs.Take(2).Distinct().Select(x => "st" + x).ToArray())
        select new Offer("", "r" + request, "cpo", stations.Length == 0 ? ["st0"] : stations, KilowattHours.From(wh / 1000m),
            EurosPerKilowattHour.From(cents / 100m), divisible, T0.AddMinutes(minute));

    private static Arbitrary<Scenario> Scenarios() =>
        (from n in Gen.Choose(1, 5)
         from requests in RequestGen.ArrayOf(n)
         from m in Gen.Choose(0, 40)
         from offers in OfferGen(n).ArrayOf(m)
         from seed in Gen.Choose(0, int.MaxValue)
         select new Scenario(
             requests.Select((r, i) => r with { Id = "r" + i }).ToArray(),
             offers.Select((o, i) => o with { Id = "o" + i, CpoId = "cpo" + i }).ToArray(), seed))
        .ToArbitrary();

    private static void Check(Func<Scenario, GateCycleResult, bool> property) =>
        Prop.ForAll(Scenarios(), s => property(s, ClearingEngine.Clear(s.Requests, s.Offers))).QuickCheckThrowOnFailure();

    [Fact]
    public void Clear_AnyCycle_NeverExceedsRequestPlusAllowance()
    {
        Check((s, result) => result.Results.All(r =>
            r.AcceptedEnergy <= r.Requested + r.OverfillAllowance
            && (r.OverfillAllowance > KilowattHours.Zero || r.AcceptedEnergy <= r.Requested)));
    }

    [Fact]
    public void Clear_AnyCycle_NoOverfillAllowance_NeverExceedsRequest()
    {
        Prop.ForAll(Scenarios(), s =>
        {
            var requests = s.Requests.Select(r => r with { OverfillAllowance = KilowattHours.Zero }).ToArray();
            return ClearingEngine.Clear(requests, s.Offers).Results.All(r => r.AcceptedEnergy <= r.Requested);
        }).QuickCheckThrowOnFailure();
    }

    [Fact]
    public void Clear_AnyCycle_NeverAboveCapNorLate()
    {
        Check((s, result) => result.Results.All(r =>
        {
            var request = s.Requests.Single(q => q.Id == r.RequestId);
            var offers = s.Offers.ToDictionary(o => o.Id);
            return r.Awards.All(a => a.Price <= request.PriceCap && offers[a.OfferId].Price <= request.PriceCap
                && offers[a.OfferId].SubmittedAt < request.GateClosure);
        }));
    }

    [Fact]
    public void Clear_PayAsClear_EveryWinnerGetsLastAcceptedOffersPrice()
    {
        Check((s, result) => result.Results.Where(r => r.Pricing == PricingRule.PayAsClear && r.Awards.Count > 0).All(r =>
        {
            var offers = s.Offers.ToDictionary(o => o.Id);
            var last = offers[r.Awards[^1].OfferId].Price; // awards are in merit order
            return r.Awards.All(a => a.Price == last) && r.ClearingPrice == last
                && r.Awards.All(a => offers[a.OfferId].Price <= last);
        }));
    }

    [Fact]
    public void Clear_PayAsBid_EveryWinnerGetsOwnPrice()
    {
        Check((s, result) =>
        {
            var offers = s.Offers.ToDictionary(o => o.Id);
            return result.Results.Where(r => r.Pricing == PricingRule.PayAsBid)
                .All(r => r.Awards.All(a => a.Price == offers[a.OfferId].Price));
        });
    }

    [Fact]
    public void Clear_AnyCycle_IndivisibleNeverSplitAndPartsOnlyFromDivisible()
    {
        Check((s, result) =>
        {
            var offers = s.Offers.ToDictionary(o => o.Id);
            return result.Results.SelectMany(r => r.Awards).All(a =>
                a.Energy > KilowattHours.Zero && a.Energy <= offers[a.OfferId].Energy
                && (offers[a.OfferId].Divisible || a.Energy == offers[a.OfferId].Energy));
        });
    }

    [Fact]
    public void Clear_AnyCycle_NoStationAwardedTwiceForOverlappingWindows()
    {
        Check((s, result) =>
        {
            var windows = s.Requests.ToDictionary(r => r.Id, r => r.Delivery);
            var bookings = result.Results
                .SelectMany(r => r.Awards.SelectMany(a => a.StationIds.Distinct().Select(st => (Station: st, Window: windows[r.RequestId]))))
                .ToList();
            for (var i = 0; i < bookings.Count; i++)
                for (var j = i + 1; j < bookings.Count; j++)
                    if (bookings[i].Station == bookings[j].Station && bookings[i].Window.Overlaps(bookings[j].Window))
                        return false;
            return true;
        });
    }

    [Fact]
    public void Clear_ShuffledRequestsAndOffers_SameResult()
    {
        Check((s, result) =>
        {
            var random = new Random(s.Seed);
            var requests = s.Requests.ToArray();
            var offers = s.Offers.ToArray();
            random.Shuffle(requests);
            random.Shuffle(offers);
            var shuffled = ClearingEngine.Clear(requests, offers);
            return result.Results.Select(r => (r.RequestId, r.Selection, r.ClearingPrice)).SequenceEqual(shuffled.Results.Select(r => (r.RequestId, r.Selection, r.ClearingPrice)))
                && result.Results.Zip(shuffled.Results).All(p =>
                    p.First.Awards.Select(a => (a.Id, a.Energy, a.Price)).SequenceEqual(p.Second.Awards.Select(a => (a.Id, a.Energy, a.Price)))
                    && p.First.Outcomes.SequenceEqual(p.Second.Outcomes))
                && result.Unmatched.SequenceEqual(shuffled.Unmatched);
        });
    }

    [Fact]
    public void Clear_AnyCycle_EveryOfferExplainedOnceAndAwardsMatchOutcomes()
    {
        Check((s, result) =>
        {
            var explained = result.Results.SelectMany(r => r.Outcomes).Concat(result.Unmatched).Select(o => o.OfferId).ToList();
            return explained.Count == s.Offers.Length && explained.Distinct().Count() == s.Offers.Length
                && result.Results.All(r =>
                    r.Awards.Select(a => (a.OfferId, a.Energy, a.Price))
                        .SequenceEqual(r.Outcomes.Where(o => o.IsAccepted).Select(o => (o.OfferId, o.AcceptedEnergy, o.Price)))
                    && r.Outcomes.Where(o => !o.IsAccepted).All(o => o.AcceptedEnergy == KilowattHours.Zero));
        });
    }

    [Fact]
    public void Clear_AutomaticSelection_RejectsNotNeededOnlyOnceCovered()
    {
        // "Not needed" and "indivisible overshoot" must be true statements: the need was covered, or the lump too big.
        Check((s, result) =>
        {
            var offers = s.Offers.ToDictionary(o => o.Id);
            return result.Results.All(r =>
            {
                var acceptedSoFar = KilowattHours.Zero;
                foreach (var o in r.Outcomes)
                {
                    if (o.Kind == OfferOutcomeKind.RejectedNotNeeded && acceptedSoFar < r.Requested) return false;
                    if (o.Kind == OfferOutcomeKind.RejectedIndivisibleOvershoot
                        && offers[o.OfferId].Energy <= r.Requested + r.OverfillAllowance - acceptedSoFar) return false;
                    acceptedSoFar += o.AcceptedEnergy;
                }
                return true;
            });
        });
    }

    [Fact]
    public void Clear_TwoClearingsInARow_NeverDoubleBookAStation()
    {
        // The second cycle's requests and offers are drawn like the first's (so they share stations and windows); it
        // takes the first's bookings as input, as the gate cycle runner does.
        Prop.ForAll(Scenarios(), Scenarios(), (first, second) =>
        {
            var firstResult = ClearingEngine.Clear(first.Requests, first.Offers);
            var taken = firstResult.Results
                .SelectMany(r => StationBooking.For(r, first.Requests.Single(q => q.Id == r.RequestId).Delivery)).ToList();
            var requests = second.Requests.Select(r => r with { Id = "2" + r.Id }).ToArray();
            var offers = second.Offers.Select(o => o with { Id = "2" + o.Id, RequestId = "2" + o.RequestId }).ToArray();
            var secondResult = ClearingEngine.Clear(requests, offers, taken);
            var delivery = requests.ToDictionary(r => r.Id, r => r.Delivery);
            var later = secondResult.Results.SelectMany(r => StationBooking.For(r, delivery[r.RequestId])).ToList();
            return later.All(b => !taken.Any(t => t.StationId == b.StationId && t.Window.Overlaps(b.Window)))
                && secondResult.Results.SelectMany(r => r.Outcomes).Where(o => o.Kind == OfferOutcomeKind.RejectedCapacityConflict)
                    .All(o => o.Detail is not null);
        }).QuickCheckThrowOnFailure();
    }
}
