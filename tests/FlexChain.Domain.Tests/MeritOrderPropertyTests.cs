using FlexChain.Domain;
using FsCheck;
using FsCheck.Fluent;
using static FlexChain.Domain.Tests.Build;

namespace FlexChain.Domain.Tests;

/// <summary>
/// Merit-order optimality over random gate cycles (FsCheck; a failure prints the seed to replay it): no cheaper
/// eligible offer is left out while a dearer one wins, except for a station-capacity conflict or an indivisible
/// overshoot. The cycles include qualified-station sets, manual decisions (in and outside the decision period),
/// a second clearing run, and duplicate offer ids, which the engine refuses.
/// </summary>
public class MeritOrderPropertyTests
{
    private static readonly Config Many = Config.QuickThrowOnFailure.WithMaxTest(400);

    public sealed record Cycle(ClearingRequest[] Requests, Offer[] Offers)
    {
        public override string ToString() =>
            string.Join("\n", Requests.Select(r => $"{r.Id} {r.Delivery} need {r.Energy} +{r.OverfillAllowance} cap {r.PriceCap} gate {r.GateClosure:HH:mm}"
                    + $" qualified [{(r.QualifiedStationIds is { } q ? string.Join(",", q.Order()) : "any")}]"
                    + (r.Decision is { } d ? $" decided {d.DecidedAt:HH:mm} by {r.DecisionDeadline:HH:mm}: {string.Join(",", d.Picks.Select(p => p.OfferId + (p.Energy is { } e ? "=" + e : "")))}" : ""))
                .Concat(Offers.Select(o => $"  {o.Id}->{o.RequestId} {o.Energy} @{o.Price} t{o.SubmittedAt:HH:mm} div={o.Divisible} [{string.Join(",", o.StationIds)}]")));
    }

    private static readonly string[] Stations = Enumerable.Range(0, 8).Select(i => "st" + i).ToArray();

    private static readonly Gen<ClearingRequest> RequestGen =
        from startQuarter in Gen.Choose(8, 20)
        from quarters in Gen.Choose(1, 8)
        from needWh in Gen.Choose(1, 30_000)
        from capCents in Gen.Choose(5, 60)
        from allowanceWh in Gen.Elements(0, 0, 0, 2_000)
        from payAsClear in Gen.Elements(false, true)
        from gateQuarter in Gen.Choose(2, 6)
        from qualified in Gen.Elements(Stations).ArrayOf().Select(xs => xs.ToHashSet())
        from allQualified in Gen.Elements(true, false)
        select new ClearingRequest("", new TimeWindow(T0.AddMinutes(15 * startQuarter), T0.AddMinutes(15 * (startQuarter + quarters))),
            KilowattHours.From(needWh / 1000m), EurosPerKilowattHour.From(capCents / 100m), T0.AddMinutes(15 * gateQuarter),
            payAsClear ? PricingRule.PayAsClear : PricingRule.PayAsBid)
        {
            OverfillAllowance = KilowattHours.From(allowanceWh / 1000m),
            QualifiedStationIds = allQualified ? null : qualified,
        };

    private static Gen<Offer> OfferGen(int requests) =>
        from request in Gen.Choose(0, requests - 1)
        from wh in Gen.Choose(1, 15_000)
        from cents in Gen.Choose(1, 60)
        from minute in Gen.Choose(0, 100)
        from divisible in Gen.Elements(true, false)
        from stations in Gen.Elements(Stations).ArrayOf().Select(xs => xs.Take(2).Distinct().ToArray())
        select new Offer("", "r" + request, "cpo", stations.Length == 0 ? ["st0"] : stations, KilowattHours.From(wh / 1000m),
            EurosPerKilowattHour.From(cents / 100m), divisible, T0.AddMinutes(minute));

    /// <summary>Random cycles; about a third of the requests are manual, most of those with a decision (a few taken outside the period).</summary>
    private static Arbitrary<Cycle> Cycles() =>
        (from n in Gen.Choose(1, 4)
         from requests in RequestGen.ArrayOf(n)
         from m in Gen.Choose(0, 30)
         from offers in OfferGen(n).ArrayOf(m)
         from seed in Gen.Choose(0, int.MaxValue)
         select WithDecisions(
             requests.Select((r, i) => r with { Id = "r" + i }).ToArray(),
             offers.Select((o, i) => o with { Id = "o" + i, CpoId = "cpo" + i }).ToArray(), new Random(seed)))
        .ToArbitrary();

    private static Cycle WithDecisions(ClearingRequest[] requests, Offer[] offers, Random random)
    {
        for (var i = 0; i < requests.Length; i++)
        {
            if (random.Next(3) != 0) continue;
            var r = requests[i];
            var deadline = r.GateClosure.AddHours(1);
            var own = offers.Where(o => o.RequestId == r.Id).ToList();
            if (own.Count == 0 || random.Next(5) == 0)
            {
                requests[i] = r with { DecisionDeadline = deadline };
                continue;
            }
            var picks = own.Where(_ => random.Next(2) == 0).Select(o => new OfferPick(o.Id,
                o.Divisible && random.Next(3) == 0 ? KilowattHours.From((1 + random.Next((int)o.Energy.WattHours)) / 1000m) : null)).ToArray();
            var decidedAt = random.Next(6) == 0 ? r.GateClosure.AddMinutes(-1) : r.GateClosure.AddMinutes(random.Next(60));
            requests[i] = r with { DecisionDeadline = deadline, Decision = new ManualDecision(r.Id, picks, decidedAt) };
        }
        return new Cycle(requests, offers);
    }

    private static void Check(Func<Cycle, GateCycleResult, bool> property) =>
        Prop.ForAll(Cycles(), c => property(c, ClearingEngine.Clear(c.Requests, c.Offers))).Check(Many);

    /// <summary>The reasons an offer cannot win on its own, judged without the engine: late, over the cap, a station not qualified.</summary>
    private static HashSet<OfferOutcomeKind> OwnReasons(ClearingRequest r, Offer o)
    {
        var reasons = new HashSet<OfferOutcomeKind>();
        if (o.SubmittedAt >= r.GateClosure) reasons.Add(OfferOutcomeKind.RejectedLate);
        if (o.Price > r.PriceCap) reasons.Add(OfferOutcomeKind.RejectedOverPriceCap);
        if (r.QualifiedStationIds is { } q && o.StationIds.Any(s => !q.Contains(s))) reasons.Add(OfferOutcomeKind.RejectedNotEligible);
        return reasons;
    }

    /// <summary>Merit order: price, then submission time, then id (ordinal).</summary>
    private static int MeritCompare(Offer a, Offer b)
    {
        var c = a.Price.Value.CompareTo(b.Price.Value);
        if (c == 0) c = a.SubmittedAt.CompareTo(b.SubmittedAt);
        return c != 0 ? c : string.CompareOrdinal(a.Id, b.Id);
    }

    [Fact]
    public void Automatic_NoCheaperEligibleOfferLeftOutWhileADearerOneWins_ExceptConflictOrIndivisibleOvershoot()
    {
        Check((c, result) =>
        {
            var offers = c.Offers.ToDictionary(o => o.Id);
            return result.Results.Where(r => r.Selection == SelectionMode.Automatic).All(r =>
            {
                var request = c.Requests.Single(q => q.Id == r.RequestId);
                var winners = r.Outcomes.Where(o => o.IsAccepted).Select(o => offers[o.OfferId]).ToList();
                return r.Outcomes.Where(o => !o.IsAccepted && OwnReasons(request, offers[o.OfferId]).Count == 0).All(loser =>
                    winners.All(w => MeritCompare(offers[loser.OfferId], w) > 0)
                    || loser.Kind is OfferOutcomeKind.RejectedCapacityConflict or OfferOutcomeKind.RejectedIndivisibleOvershoot);
            });
        });
    }

    [Fact]
    public void AnyCycle_AnOfferThatCannotWinOnItsOwn_IsRejectedForOneOfItsReasons_AndNoOtherOfferIs()
    {
        Check((c, result) =>
        {
            var offers = c.Offers.ToDictionary(o => o.Id);
            return result.Results.All(r =>
            {
                var request = c.Requests.Single(q => q.Id == r.RequestId);
                return r.Outcomes.All(o => OwnReasons(request, offers[o.OfferId]) is var reasons && reasons.Count > 0
                    ? reasons.Contains(o.Kind)
                    : o.Kind is not (OfferOutcomeKind.RejectedLate or OfferOutcomeKind.RejectedOverPriceCap or OfferOutcomeKind.RejectedNotEligible));
            });
        });
    }

    [Fact]
    public void AnyCycle_ACapacityConflictNamesAStationAwardedForAnOverlappingWindow()
    {
        Check((c, result) =>
        {
            var windows = c.Requests.ToDictionary(r => r.Id, r => r.Delivery);
            var offers = c.Offers.ToDictionary(o => o.Id);
            var booked = result.Results.SelectMany(r => r.Awards.SelectMany(a => a.StationIds.Select(s => (Station: s, Window: windows[r.RequestId])))).ToList();
            return result.Results.All(r => r.Outcomes.Where(o => o.Kind == OfferOutcomeKind.RejectedCapacityConflict).All(o =>
                offers[o.OfferId].StationIds.Any(s => booked.Any(b => b.Station == s && b.Window.Overlaps(windows[r.RequestId])))));
        });
    }

    [Fact]
    public void Manual_OnlyPickedOffersWin_AndAnEligibleOfferNotPickedIsRejectedNotPicked()
    {
        Check((c, result) => result.Results.Where(r => r.Selection == SelectionMode.Manual).All(r =>
        {
            var request = c.Requests.Single(q => q.Id == r.RequestId);
            var picked = request.Decision!.Picks.ToDictionary(p => p.OfferId, p => p.Energy);
            var offers = c.Offers.ToDictionary(o => o.Id);
            return r.Outcomes.All(o =>
                (!o.IsAccepted || picked.TryGetValue(o.OfferId, out var energy) && o.AcceptedEnergy == (energy ?? offers[o.OfferId].Energy))
                && (picked.ContainsKey(o.OfferId) || OwnReasons(request, offers[o.OfferId]).Count > 0 || o.Kind == OfferOutcomeKind.RejectedNotPicked));
        }));
    }

    [Fact]
    public void Manual_ADecisionOutsideItsPeriod_ClearsInMeritOrder()
    {
        Check((c, result) => result.Results.All(r =>
            c.Requests.Single(q => q.Id == r.RequestId) is var request
            && (request.Decision is not { } d || d.DecidedAt >= request.GateClosure && d.DecidedAt < request.DecisionDeadline!.Value
                ? true
                : r.Selection == SelectionMode.Automatic && r.SelectionNote is not null)));
    }

    [Fact]
    public void AnyCycle_ClearedAgain_SameResult()
    {
        Check((c, first) =>
        {
            var second = ClearingEngine.Clear(c.Requests, c.Offers);
            return first.Results.Zip(second.Results).All(p =>
                    p.First.RequestId == p.Second.RequestId && p.First.Selection == p.Second.Selection && p.First.ClearingPrice == p.Second.ClearingPrice
                    && p.First.Awards.SequenceEqual(p.Second.Awards) && p.First.Outcomes.SequenceEqual(p.Second.Outcomes))
                && first.Unmatched.SequenceEqual(second.Unmatched);
        });
    }

    [Fact]
    public void AnyCycle_AnOfferIdTwice_IsRefusedNamingIt()
    {
        Prop.ForAll(Cycles(), Gen.Choose(0, 1000).ToArbitrary(), (c, k) =>
        {
            if (c.Offers.Length == 0) return true;
            var copy = c.Offers[k % c.Offers.Length];
            var twice = c.Offers.Append(copy with { Price = EurosPerKilowattHour.From(copy.Price.Value / 2), CpoId = "other" }).ToArray();
            var e = Assert.Throws<ArgumentException>(() => ClearingEngine.Clear(c.Requests, twice));
            return e.Message.Contains($"Offer {copy.Id} appears twice", StringComparison.Ordinal);
        }).Check(Many);
    }
}
