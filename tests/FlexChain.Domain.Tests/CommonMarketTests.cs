using FlexChain.Domain;
using FsCheck;
using FsCheck.Fluent;
using static FlexChain.Domain.Tests.Build;
using static FlexChain.Domain.Tests.Cycle;

namespace FlexChain.Domain.Tests;

/// <summary>
/// The common market (<see cref="CoordinationModel.Common"/>): a DSO request and a TSO request of one gate cycle cleared
/// together, each station to the buyer that values it most, within needs, volumes, grid limits and bookings.
/// </summary>
public sealed class CommonMarketTests
{
    /// <summary>Requests whose id starts with "tso" are the TSO's; the others the DSO's.</summary>
    private static GateCycleResult Clear(IEnumerable<ClearingRequest> requests, IReadOnlyList<Offer> offers,
        CoordinationModel model = CoordinationModel.Common, params StationBooking[] taken) =>
        CoordinatedClearing.Clear(requests.Select(r => new CoordinatedRequest(r, r.Id.StartsWith("tso", StringComparison.Ordinal) ? Role.Tso : Role.Dso, model)).ToList(),
            offers, taken);

    private static IEnumerable<string> Won(GateCycleResult result, string request) => result.For(request).Awards.Select(a => a.OfferId);

    private static KilowattHours Kwh(decimal kwh) => KilowattHours.From(kwh);

    private static IReadOnlyList<Kilowatts> Kw(params decimal[] kw) => kw.Select(k => Kilowatts.From(k)).ToList();

    [Theory]
    [InlineData(0.5, 0.8, "tso-req")]
    [InlineData(0.8, 0.5, "dso-req")]
    public void Clear_AStationOfferedToBoth_GoesToTheBuyerThatValuesItMore(double dsoCap, double tsoCap, string winner)
    {
        // The DSO's gate closes first, so the engine's usual order would hand it the station whatever the values.
        var dso = Request("dso-req", kwh: 5, cap: (decimal)dsoCap, gateHour: 1);
        var tso = Request("tso-req", kwh: 5, cap: (decimal)tsoCap, start: 4.5, gateHour: 1.5);
        Offer[] offers = [Offer("to-dso", "dso-req", 5, 0.3m, divisible: false, stations: "st-shared"), Offer("to-tso", "tso-req", 5, 0.3m, divisible: false, stations: "st-shared")];

        var result = Clear([dso, tso], offers);

        var (won, lost) = winner == "tso-req" ? ("to-tso", "to-dso") : ("to-dso", "to-tso");
        var loser = winner == "tso-req" ? "dso-req" : "tso-req";
        Assert.Equal([won], Won(result, winner));
        Assert.Empty(Won(result, loser));
        var outcome = result.For(loser).Outcome(lost);
        Assert.Equal(OfferOutcomeKind.RejectedCapacityConflict, outcome.Kind);
        Assert.Contains(Award.IdFor(winner, won), outcome.Detail);
        Assert.Equal(Kwh(5), result.For(loser).Requested);
    }

    [Fact]
    public void Clear_TheCpoAsksLessOfOneBuyer_TheStationGoesWhereTheSurplusIsLarger()
    {
        // Equal caps; the CPO asks 0.40 of the DSO and 0.10 of the TSO, so the TSO gains more from the station.
        var dso = Request("dso-req", kwh: 5, cap: 0.5m);
        var tso = Request("tso-req", kwh: 5, cap: 0.5m, start: 4.5);
        var result = Clear([dso, tso], [Offer("to-dso", "dso-req", 5, 0.4m, stations: "st-shared"), Offer("to-tso", "tso-req", 5, 0.1m, stations: "st-shared")]);
        Assert.Equal(["to-tso"], Won(result, "tso-req"));
        Assert.Empty(Won(result, "dso-req"));
    }

    [Fact]
    public void Clear_DivisibleOffers_CutToTheNeed_NeverMoreThanOffered()
    {
        var result = Clear([Request("dso-req", kwh: 10)], [Offer("a", "dso-req", 6, 0.1m), Offer("b", "dso-req", 6, 0.2m), Offer("c", "dso-req", 6, 0.3m)]).For("dso-req");

        Assert.Equal((OfferOutcomeKind.Accepted, Kwh(6)), (result.Outcome("a").Kind, result.Outcome("a").AcceptedEnergy));
        Assert.Equal((OfferOutcomeKind.PartlyAccepted, Kwh(4)), (result.Outcome("b").Kind, result.Outcome("b").AcceptedEnergy));
        Assert.Equal(OfferOutcomeKind.RejectedNotNeeded, result.Outcome("c").Kind);
        Assert.Equal([Kwh(6), Kwh(4)], result.Awards.Select(a => a.Energy));
        Assert.Equal([0.1m, 0.2m], result.Awards.Select(a => a.Price.Value)); // pay-as-bid
        Assert.Equal(Kwh(10), result.AcceptedEnergy);
        Assert.Equal(2, result.Bookings!.Count);
    }

    [Fact]
    public void Clear_AnOfferAtThePriceCap_AddsNoSurplus_YetFillsTheNeed()
    {
        var result = Clear([Request("dso-req", kwh: 10, cap: 0.5m)], [Offer("a", "dso-req", 6, 0.3m), Offer("at-cap", "dso-req", 6, 0.5m), Offer("whole", "dso-req", 1, 0.5m, divisible: false)]).For("dso-req");

        Assert.Equal(Kwh(10), result.AcceptedEnergy);
        Assert.Equal((OfferOutcomeKind.Accepted, Kwh(6)), (result.Outcome("a").Kind, result.Outcome("a").AcceptedEnergy));
        // At the cap, in merit order (price, time, id): "at-cap" fills the 4 kWh left, and the indivisible 1 kWh no longer fits.
        Assert.Equal((OfferOutcomeKind.PartlyAccepted, Kwh(4)), (result.Outcome("at-cap").Kind, result.Outcome("at-cap").AcceptedEnergy));
        Assert.Equal(OfferOutcomeKind.RejectedIndivisibleOvershoot, result.Outcome("whole").Kind);
    }

    [Fact]
    public void Clear_IndivisibleOffers_WholeOrNothing_TheBestCombinationRatherThanTheGreedyOne()
    {
        // Merit order takes the 7 kWh offer and then cannot fit a 5 (surplus 0.4 x 7 = 2.8); the two 5s fill the need (0.3 x 10 = 3.0).
        var request = Request("dso-req", kwh: 10);
        Offer[] offers = [Offer("seven", "dso-req", 7, 0.1m, divisible: false), Offer("five-a", "dso-req", 5, 0.2m, divisible: false), Offer("five-b", "dso-req", 5, 0.2m, minute: 1, divisible: false)];

        var result = Clear([request], offers).For("dso-req");

        Assert.Equal(["five-a", "five-b"], result.Awards.Select(a => a.OfferId));
        Assert.All(result.Awards, a => Assert.Equal(Kwh(5), a.Energy));
        Assert.Equal(OfferOutcomeKind.RejectedIndivisibleOvershoot, result.Outcome("seven").Kind);
        Assert.Equal(["seven"], ClearingEngine.Clear([request], offers).For("dso-req").Awards.Select(a => a.OfferId));
    }

    [Fact]
    public void Clear_MinimumAccepted_NoDivisiblePartBelowIt()
    {
        // Need 10, minimum part 5: 8 + 2 would break the minimum, so the allocation takes 5 + 5 (0.4 x 5 + 0.3 x 5 = 3.5 > 0.4 x 8 = 3.2).
        var tso = Request("tso-req", kwh: 10) with { MinimumAccepted = Kwh(5) };
        var result = Clear([tso], [Offer("a", "tso-req", 8, 0.1m), Offer("b", "tso-req", 8, 0.2m)]).For("tso-req");

        Assert.Equal([Kwh(5), Kwh(5)], result.Awards.Select(a => a.Energy));
        Assert.All(result.Outcomes, o => Assert.Equal(OfferOutcomeKind.PartlyAccepted, o.Kind));
    }

    [Fact]
    public void Clear_GridLimits_AStationNotEligibleOrWithoutThePower_IsNotAllocated()
    {
        // The cheapest offer's station is kept out by a grid condition (not among the eligible stations); the next one asks
        // 5 kW of a 2 kW station. Both would win on price alone.
        var dso = Request("dso-req", kwh: 5) with
        {
            QualifiedStationIds = new HashSet<string> { "st-small", "st-ok" },
            Stations = new Dictionary<string, StationCapacity> { ["st-small"] = new(Kilowatts.From(2), TimeSpan.Zero), ["st-ok"] = new(Kilowatts.From(22), TimeSpan.Zero) },
        };
        Offer[] offers = [Offer("capped", "dso-req", 5, 0.1m, stations: "st-capped"), Offer("small", "dso-req", 5, 0.2m, stations: "st-small"), Offer("ok", "dso-req", 5, 0.3m, stations: "st-ok")];

        var result = Clear([dso], offers).For("dso-req");

        Assert.Equal(["ok"], result.Awards.Select(a => a.OfferId));
        Assert.Equal(OfferOutcomeKind.RejectedNotEligible, result.Outcome("capped").Kind);
        Assert.Equal(OfferOutcomeKind.RejectedCapacityConflict, result.Outcome("small").Kind);
    }

    [Fact]
    public void Clear_AStationBookedEarlier_IsNotSoldToEitherBuyer()
    {
        var booked = new StationBooking("st-shared", new TimeWindow(T0.AddHours(4), T0.AddHours(6)), "req0/off0");
        var result = Clear([Request("dso-req", kwh: 5), Request("tso-req", kwh: 5, start: 4.5)],
            [Offer("to-dso", "dso-req", 5, 0.1m, stations: "st-shared"), Offer("to-tso", "tso-req", 5, 0.1m, stations: "st-shared"), Offer("other", "tso-req", 5, 0.4m)],
            CoordinationModel.Common, booked);

        Assert.Empty(Won(result, "dso-req"));
        Assert.Equal(["other"], Won(result, "tso-req"));
        foreach (var (request, offer) in new[] { ("dso-req", "to-dso"), ("tso-req", "to-tso") })
        {
            var outcome = result.For(request).Outcome(offer);
            Assert.Equal(OfferOutcomeKind.RejectedCapacityConflict, outcome.Kind);
            Assert.Contains("req0/off0", outcome.Detail);
        }
    }

    [Fact]
    public void Clear_RecoveryTime_KeepsTheStationFromTheOtherBuyersNextWindow()
    {
        // Back-to-back windows, but the station rests an hour after each: only one buyer may have it.
        var rest = new Dictionary<string, StationCapacity> { ["st-shared"] = new(Kilowatts.From(22), TimeSpan.FromHours(1)) };
        var result = Clear([Request("dso-req", kwh: 5) with { Stations = rest }, Request("tso-req", kwh: 5, cap: 0.6m, start: 5) with { Stations = rest }],
            [Offer("to-dso", "dso-req", 5, 0.1m, stations: "st-shared"), Offer("to-tso", "tso-req", 5, 0.1m, stations: "st-shared")]);

        Assert.Equal(["to-tso"], Won(result, "tso-req"));
        Assert.Empty(Won(result, "dso-req"));
    }

    [Fact]
    public void Clear_EachRequestIsPaidByItsOwnPricingRule()
    {
        var dso = Request("dso-req", kwh: 10, pricing: PricingRule.PayAsClear);
        var tso = Request("tso-req", kwh: 10, start: 4.5);
        var result = Clear([dso, tso],
            [Offer("d1", "dso-req", 5, 0.1m), Offer("d2", "dso-req", 5, 0.2m), Offer("t1", "tso-req", 5, 0.1m), Offer("t2", "tso-req", 5, 0.2m)]);

        Assert.Equal([0.2m, 0.2m], result.For("dso-req").Awards.Select(a => a.Price.Value));
        Assert.Equal(0.2m, result.For("dso-req").ClearingPrice.Value);
        Assert.Equal([0.1m, 0.2m], result.For("tso-req").Awards.Select(a => a.Price.Value));
    }

    [Fact]
    public void Clear_AProfiledRequest_FillsEachIntervalUpToItsNeed()
    {
        // 8 then 4 kW over two quarter hours (3 kWh); a flat 4 kWh offer brings 2 kWh a quarter and is cut to 2 + 1.
        var tso = Request("tso-req", kwh: 3, hours: 0.5) with { Profile = Kw(8, 4) };
        var result = Clear([tso], [Offer("flat", "tso-req", 4, 0.1m)]).For("tso-req");

        var award = Assert.Single(result.Awards);
        Assert.Equal(Kwh(3), award.Energy);
        Assert.Equal(Kw(8, 4), award.Profile);
        Assert.Equal(OfferOutcomeKind.PartlyAccepted, result.Outcome("flat").Kind);
    }

    [Fact]
    public void Clear_TheSameInputInAnyOrder_GivesTheSameResult_TiesIncluded()
    {
        var requests = new[] { Request("dso-req", kwh: 5), Request("tso-req", kwh: 5, start: 4.5), Request("dso-other", kwh: 8, start: 5) };
        var offers = new[]
        {
            Offer("early", "dso-req", 5, 0.2m, minute: 1, divisible: false), Offer("late", "dso-req", 5, 0.2m, minute: 5, divisible: false),
            Offer("t-early", "tso-req", 5, 0.2m, minute: 1, divisible: false), Offer("t-late", "tso-req", 5, 0.2m, minute: 5, divisible: false),
            Offer("o1", "dso-other", 4, 0.3m, stations: "st-t-late"), Offer("o2", "dso-other", 6, 0.25m),
        };
        var first = Clear(requests, offers);
        Assert.Single(Won(first, "dso-req")); // early and late tie: one of them, always the same
        Assert.Single(Won(first, "tso-req"));
        Assert.Equal([Kwh(6), Kwh(2)], first.For("dso-other").Awards.Select(a => a.Energy));

        var random = new Random(7);
        for (var i = 0; i < 10; i++)
        {
            var again = Clear(requests.OrderBy(_ => random.Next()), offers.OrderBy(_ => random.Next()).ToList());
            foreach (var id in requests.Select(r => r.Id))
            {
                Assert.Equal(first.For(id).Awards.Select(a => (a.Id, a.Energy, a.Price)), again.For(id).Awards.Select(a => (a.Id, a.Energy, a.Price)));
                Assert.Equal(first.For(id).Outcomes, again.For(id).Outcomes);
            }
        }
    }

    [Fact]
    public void Clear_AManualDecision_KeepsItsPicks_AndItsStationsAreBookedBeforeTheCommonMarket()
    {
        // The TSO values the shared station more, but the DSO picked it by hand in its decision period.
        var dso = Request("dso-req", kwh: 5, cap: 0.3m) with { DecisionDeadline = T0.AddHours(2), Decision = Picks("dso-req", 1.5, Pick("to-dso")) };
        var tso = Request("tso-req", kwh: 5, cap: 0.9m, start: 4.5);
        var result = Clear([dso, tso], [Offer("to-dso", "dso-req", 5, 0.2m, stations: "st-shared"), Offer("to-tso", "tso-req", 5, 0.1m, stations: "st-shared")]);

        Assert.Equal(SelectionMode.Manual, result.For("dso-req").Selection);
        Assert.Equal(["to-dso"], Won(result, "dso-req"));
        Assert.Equal(OfferOutcomeKind.RejectedCapacityConflict, result.For("tso-req").Outcome("to-tso").Kind);
        Assert.Throws<ArgumentException>(() => CommonMarketClearing.Clear([dso], []));
    }

    [Fact]
    public void Clear_OffersOfNoRequestOfTheCycle_AreUnmatched_AndRequestsAreCheckedAsTheEngineChecksThem()
    {
        var result = Clear([Request("dso-req", kwh: 5)], [Offer("stray", "gone", 5, 0.1m)]);
        Assert.Equal(OfferOutcomeKind.RejectedNotEligible, Assert.Single(result.Unmatched).Kind);
        Assert.Equal("unique-id", Assert.Throws<DomainException>(() => Clear([Request("dso-req"), Request("dso-req")], [])).Rule);
        Assert.Equal("positive", Assert.Throws<DomainException>(() => Clear([Request("dso-req", kwh: 0)], [])).Rule);
    }

    /// <summary>A random cycle of one DSO and one TSO request, overlapping or back to back, whose offers share stations across the two.</summary>
    public sealed record Scenario(ClearingRequest[] Requests, Offer[] Offers)
    {
        public override string ToString() =>
            string.Join("\n", Requests.Select(r => $"{r.Id} {r.Delivery} need {r.Energy} min {r.MinimumAccepted} cap {r.PriceCap}")
                .Concat(Offers.Select(o => $"  {o.Id}->{o.RequestId} {o.Energy} @{o.Price} div={o.Divisible} [{string.Join(",", o.StationIds)}]")));
    }

    private static readonly Gen<ClearingRequest> RequestGen =
        from startQuarter in Gen.Choose(16, 20)
        from needWh in Gen.Choose(1, 20_000)
        from capCents in Gen.Choose(10, 60)
        from minimumWh in Gen.Elements(0, 0, 3_000)
        select new ClearingRequest("", new TimeWindow(T0.AddMinutes(15 * startQuarter), T0.AddMinutes(15 * (startQuarter + 4))),
            KilowattHours.From(needWh / 1000m), EurosPerKilowattHour.From(capCents / 100m), T0.AddHours(1), PricingRule.PayAsBid)
        { MinimumAccepted = minimumWh == 0 ? null : KilowattHours.From(minimumWh / 1000m) };

    /// <summary>Offers on one request; a station appears in at most one of them (one CPO, one offer per request).</summary>
    private static Gen<Offer[]> OffersGen(string request) =>
        from count in Gen.Choose(0, 6)
        from shift in Gen.Choose(0, 5)
        from offers in (from wh in Gen.Choose(1, 10_000)
                        from cents in Gen.Choose(1, 60)
                        from minute in Gen.Choose(0, 30)
                        from divisible in Gen.Elements(true, false)
                        select (wh, cents, minute, divisible)).ArrayOf(count)
        select offers.Select((o, i) => new Offer($"{request}-o{i}", request, "cpo", [$"st{(i + shift) % 6}"], KilowattHours.From(o.wh / 1000m),
            EurosPerKilowattHour.From(o.cents / 100m), o.divisible, T0.AddMinutes(o.minute))).ToArray();

    private static Arbitrary<Scenario> Scenarios() =>
        (from dso in RequestGen
         from tso in RequestGen
         from dsoOffers in OffersGen("dso-req")
         from tsoOffers in OffersGen("tso-req")
         select new Scenario([dso with { Id = "dso-req" }, tso with { Id = "tso-req" }], [.. dsoOffers, .. tsoOffers]))
        .ToArbitrary();

    /// <summary>The sum over awards of (the request's cap - the offer's price) x energy (EUR).</summary>
    private static decimal Surplus(Scenario s, GateCycleResult result)
    {
        var offers = s.Offers.ToDictionary(o => o.Id);
        return result.Results.Sum(r => r.Awards.Sum(a => (s.Requests.Single(q => q.Id == r.RequestId).PriceCap.Value - offers[a.OfferId].Price.Value) * a.Energy.Value));
    }

    [Fact]
    public void Clear_AnyCycle_TheCommonMarketsSurplusIsAtLeastEachSequentialModels()
    {
        // Station powers are unknown here, so every model books a station whole for its window (one award per station).
        Prop.ForAll(Scenarios(), s =>
        {
            var common = Surplus(s, Clear(s.Requests, s.Offers));
            return common >= Surplus(s, Clear(s.Requests, s.Offers, CoordinationModel.DsoFirst))
                && common >= Surplus(s, Clear(s.Requests, s.Offers, CoordinationModel.TsoFirst));
        }).QuickCheckThrowOnFailure();
    }

    [Fact]
    public void Clear_AnyCycle_NeedsVolumesAndStationsHold()
    {
        Prop.ForAll(Scenarios(), s =>
        {
            var result = Clear(s.Requests, s.Offers);
            var offers = s.Offers.ToDictionary(o => o.Id);
            var awards = result.Results.SelectMany(r => r.Awards.Select(a => (Request: s.Requests.Single(q => q.Id == r.RequestId), Award: a))).ToList();
            return result.Results.All(r => r.AcceptedEnergy <= r.Requested)
                && awards.All(x => x.Award.Energy <= offers[x.Award.OfferId].Energy
                    && (offers[x.Award.OfferId].Divisible || x.Award.Energy == offers[x.Award.OfferId].Energy)
                    && (x.Award.Energy == offers[x.Award.OfferId].Energy || x.Request.MinimumAccepted is not { } min || x.Award.Energy >= min))
                && awards.All(x => !awards.Any(y => y.Request.Id != x.Request.Id && y.Request.Delivery.Overlaps(x.Request.Delivery)
                    && y.Award.StationIds.Intersect(x.Award.StationIds).Any()));
        }).QuickCheckThrowOnFailure();
    }

    // ---- grid limits: the awards' net added load below a node within its headroom to its operational limit ----

    private static GateCycleResult ClearWithin(IReadOnlyList<NodeHeadroom> nodes, IEnumerable<ClearingRequest> requests, IReadOnlyList<Offer> offers) =>
        CoordinatedClearing.Clear(requests.Select(r => new CoordinatedRequest(r, r.Id.StartsWith("tso", StringComparison.Ordinal) ? Role.Tso : Role.Dso, CoordinationModel.Common)).ToList(),
            offers, null, nodes);

    /// <summary>Node <paramref name="id"/> over <paramref name="stations"/>, with <paramref name="kw"/> of headroom per quarter hour from T0 + <paramref name="start"/> h.</summary>
    private static NodeHeadroom Node(string id, string[] stations, double start, params decimal[] kw) =>
        new(id, stations.ToHashSet(), kw.Select((k, i) => (new TimeWindow(T0.AddHours(start).AddMinutes(15 * i), T0.AddHours(start).AddMinutes(15 * (i + 1))), Kilowatts.From(k))).ToList());

    private static ClearingRequest Up(ClearingRequest r) => r with { Direction = Direction.IncreaseConsumption };

    private static Offer Up(Offer o) => o with { Direction = Direction.IncreaseConsumption };

    [Fact]
    public void Clear_AnIncreaseBelowANodeWithLittleHeadroom_TakesTheCheapOffersOnlyUpToIt_AndDearerOnesElsewhere()
    {
        // 10 kW for an hour; the two cheap offers sit below t1, which has 4 kW of headroom all hour.
        var tso = Up(Request("tso-req", kwh: 10));
        Offer[] offers = [Up(Offer("cheap-a", "tso-req", 6, 0.1m)), Up(Offer("cheap-b", "tso-req", 6, 0.15m)), Up(Offer("dear", "tso-req", 10, 0.3m))];
        var t1 = Node("t1", ["st-cheap-a", "st-cheap-b"], 4, 4, 4, 4, 4);

        var result = ClearWithin([t1], [tso], offers).For("tso-req");

        Assert.Equal((OfferOutcomeKind.PartlyAccepted, Kwh(4)), (result.Outcome("cheap-a").Kind, result.Outcome("cheap-a").AcceptedEnergy));
        Assert.Equal((OfferOutcomeKind.PartlyAccepted, Kwh(6)), (result.Outcome("dear").Kind, result.Outcome("dear").AcceptedEnergy));
        Assert.StartsWith("Cut to the grid limit: grid node t1 has 4 kW of headroom", result.Outcome("cheap-a").Detail);
        Assert.DoesNotContain("grid", result.Outcome("dear").Detail ?? "");   // cut to the need, not by a node
        var kept = result.Outcome("cheap-b");
        Assert.Equal(OfferOutcomeKind.RejectedCapacityConflict, kept.Kind);
        Assert.Contains("Grid node t1 has 4 kW of headroom", kept.Detail);
        Assert.Equal(Kwh(10), result.AcceptedEnergy);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Clear_AnIncreaseBelowAnOverloadedNode_ClearsOnlyWhenAReductionBelowItOffsetsIt(bool reductionOffered)
    {
        // t1 is above its operational limit all hour (no headroom): the TSO's 5 kW increase on st-up may only clear against
        // the DSO's 5 kW reduction on st-cut, below the same node.
        var tso = Up(Request("tso-req", kwh: 5));
        var dso = Request("dso-req", kwh: 5);
        var offers = new List<Offer> { Up(Offer("up", "tso-req", 5, 0.1m, divisible: false)) };
        if (reductionOffered) offers.Add(Offer("cut", "dso-req", 5, 0.1m, divisible: false));
        var t1 = Node("t1", ["st-up", "st-cut"], 4, 0, 0, 0, 0);

        var result = ClearWithin([t1], [tso, dso], offers);

        if (reductionOffered)
        {
            Assert.Equal(["up"], Won(result, "tso-req"));
            Assert.Equal(["cut"], Won(result, "dso-req"));
        }
        else
        {
            Assert.Empty(Won(result, "tso-req"));
            Assert.Equal(OfferOutcomeKind.RejectedCapacityConflict, result.For("tso-req").Outcome("up").Kind);
            Assert.Contains("Grid node t1 has 0 kW of headroom", result.For("tso-req").Outcome("up").Detail);
        }
    }

    [Fact]
    public void Clear_AReductionOnStationsOutsideTheNodeToo_DoesNotOffsetAnIncreaseBelowIt()
    {
        // The reduction's power could all come from st-out, outside t1, so it relieves t1 of nothing.
        var result = ClearWithin([Node("t1", ["st-up", "st-in"], 4, 0, 0, 0, 0)],
            [Up(Request("tso-req", kwh: 5)), Request("dso-req", kwh: 5)],
            [Up(Offer("up", "tso-req", 5, 0.1m, divisible: false)), Offer("cut", "dso-req", 5, 0.1m, divisible: false, stations: ["st-in", "st-out"])]);

        Assert.Empty(Won(result, "tso-req"));
        Assert.Equal(["cut"], Won(result, "dso-req"));
    }

    [Fact]
    public void Clear_ANodeWithoutLimitsOrWithoutAForecastThere_ConstrainsNothing()
    {
        var tso = Up(Request("tso-req", kwh: 10));
        Offer[] offers = [Up(Offer("cheap", "tso-req", 10, 0.1m)), Up(Offer("dear", "tso-req", 10, 0.3m))];
        var unlimited = new GridNode("t1", "dso-1", "T1", Kilowatts.From(100));
        var state = new GridStateDay("t1", DateOnly.FromDateTime(T0.UtcDateTime),
            [new GridStateInterval(T0.AddHours(4), T0.AddHours(4.25), Kilowatts.From(150), null)], 1, T0);
        // A forecast only in the hour before the window: the node's headroom there is 0, none is known in the window.
        var elsewhere = Node("t2", ["st-cheap"], 3, 0, 0, 0, 0);

        Assert.Null(NodeHeadroom.Of(unlimited, [state], ["st-cheap"], []));
        var result = ClearWithin([elsewhere, new("t3", new HashSet<string> { "st-cheap" }, [])], [tso], offers).For("tso-req");
        Assert.Equal(["cheap"], result.Awards.Select(a => a.OfferId));
        Assert.Equal(Kwh(10), result.Awards[0].Energy);
    }

    [Fact]
    public void NodeHeadroom_IsTheOperationalLimitLessTheForecastLoad_NeverBelowZero()
    {
        var node = new GridNode("t1", "dso-1", "T1", Kilowatts.From(200)) { Limits = new GridLimits(Kilowatts.From(80), Kilowatts.From(100)) };
        var day = DateOnly.FromDateTime(T0.UtcDateTime);
        GridStateInterval At(double hour, decimal load) => new(T0.AddHours(hour), T0.AddHours(hour + 0.25), Kilowatts.From(load), null);
        GridStateDay[] states = [new("t1", day, [At(4, 90), At(4.25, 120)], 1, T0), new("t2", day, [At(4.5, 10)], 1, T0)];

        var headroom = NodeHeadroom.Of(node, states, ["st-a"], [])!;

        Assert.Equal([(new TimeWindow(T0.AddHours(4), T0.AddHours(4.25)), Kilowatts.From(10)), (new TimeWindow(T0.AddHours(4.25), T0.AddHours(4.5)), Kilowatts.From(0))], headroom.Intervals);
        Assert.Equal(["st-a"], headroom.StationIds);
    }

    // ---- earlier gate cycles' awards below a node: their net load comes off its headroom ----

    private static readonly GridNode Limited = new("t1", "dso-1", "T1", Kilowatts.From(200)) { Limits = new GridLimits(Kilowatts.From(80), Kilowatts.From(100)) };

    /// <summary>t1's forecast: <paramref name="loads"/> kW in the quarter hours from T0 + 4 h.</summary>
    private static GridStateDay[] Forecast(params decimal[] loads) =>
        [new("t1", DateOnly.FromDateTime(T0.UtcDateTime), loads.Select((kw, i) => new GridStateInterval(T0.AddHours(4).AddMinutes(15 * i), T0.AddHours(4).AddMinutes(15 * (i + 1)), Kilowatts.From(kw), null)).ToList(), 1, T0)];

    /// <summary>An earlier award's net load below <paramref name="node"/>: <paramref name="kw"/> per quarter hour from T0 + <paramref name="start"/> h.</summary>
    private static NodeLoad Load(string node, string award, double start, params decimal[] kw) =>
        new(node, award, new TimeWindow(T0.AddHours(start), T0.AddHours(start).AddMinutes(15 * kw.Length)), MarketInterval.Default, kw.Select(k => new Kilowatts(k)).ToList());

    private static TimeWindow Quarter(int i) => new(T0.AddHours(4).AddMinutes(15 * i), T0.AddHours(4).AddMinutes(15 * (i + 1)));

    [Fact]
    public void NodeHeadroom_EarlierIncreasesBelowTheNode_TakeTheirKwOffTheHeadroom_NeverBelowZero_IntervalsWithoutAwardsUnchanged()
    {
        // 20 kW of headroom in each of three quarter hours; 15 kW added over the first two, 10 kW more in the second only.
        Kilowatts[] expected = [Kilowatts.From(5), Kilowatts.From(0), Kilowatts.From(20)];

        var headroom = NodeHeadroom.Of(Limited, Forecast(80, 80, 80), ["st-a"],
            [Load("t1", "r1/o1", 4, 15, 15), Load("t1", "r2/o2", 4.25, 10), Load("t2", "r3/o3", 4, 50, 50, 50)])!;

        Assert.Equal([Quarter(0), Quarter(1), Quarter(2)], headroom.Intervals.Select(i => i.Interval));
        Assert.Equal(expected, headroom.Intervals.Select(i => i.Headroom));
    }

    [Fact]
    public void NodeHeadroom_AnEarlierReductionBelowTheNode_GivesHeadroomBack_AsWithinOneClearing()
    {
        // Quarter 0: 10 kW above the limit, a 15 kW reduction below it leaves 5 kW. Quarter 1: a 12 kW increase and a 4 kW
        // reduction leave 20 - 8. Quarter 2: 30 kW above the limit, a 15 kW reduction still leaves none.
        Kilowatts[] expected = [Kilowatts.From(5), Kilowatts.From(12), Kilowatts.From(0)];

        var headroom = NodeHeadroom.Of(Limited, Forecast(110, 80, 130), ["st-a"],
            [Load("t1", "r1/o1", 4, -15), Load("t1", "r2/o2", 4.25, 12), Load("t1", "r3/o3", 4.25, -4), Load("t1", "r4/o4", 4.5, -15)])!;

        Assert.Equal(expected, headroom.Intervals.Select(i => i.Headroom));
    }

    [Fact]
    public void NodeHeadroom_AnEarlierAwardOnFinerIntervals_CutsTheForecastsInterval_EachPieceItsOwnHeadroom()
    {
        // One forecast interval of an hour with 20 kW of headroom; an earlier award of 5-minute intervals over 4:05-4:15.
        var state = new GridStateDay("t1", DateOnly.FromDateTime(T0.UtcDateTime), [new GridStateInterval(T0.AddHours(4), T0.AddHours(5), Kilowatts.From(80), null)], 1, T0);
        var award = new NodeLoad("t1", "r1/o1", new TimeWindow(T0.AddHours(4).AddMinutes(5), T0.AddHours(4).AddMinutes(15)), MarketInterval.From(5), [new(6), new(25)]);

        var headroom = NodeHeadroom.Of(Limited, [state], ["st-a"], [award])!;

        Assert.Equal([
            (new TimeWindow(T0.AddHours(4), T0.AddHours(4).AddMinutes(5)), Kilowatts.From(20)),
            (new TimeWindow(T0.AddHours(4).AddMinutes(5), T0.AddHours(4).AddMinutes(10)), Kilowatts.From(14)),
            (new TimeWindow(T0.AddHours(4).AddMinutes(10), T0.AddHours(4).AddMinutes(15)), Kilowatts.From(0)),
            (new TimeWindow(T0.AddHours(4).AddMinutes(15), T0.AddHours(5)), Kilowatts.From(20))], headroom.Intervals);
    }

    [Fact]
    public void NodeLoad_Of_AnIncreaseCountsAtEveryNodeAnyStationIsBelow_AReductionOnlyWhereAllAre_Signed()
    {
        // st-a below t1, st-b below t2, both below the substation s.
        IReadOnlyList<string> Above(string station) => station == "st-a" ? ["t1", "s"] : station == "st-b" ? ["t2", "s"] : [];
        var award = new Award("r1/o1", "o1", "cpo-1", ["st-a", "st-b"], Kwh(3), EurosPerKilowattHour.From(0.1m)) { Profile = Kw(8, 4) };
        var window = new TimeWindow(T0.AddHours(4), T0.AddHours(4.5));

        var up = NodeLoad.Of(award, Direction.IncreaseConsumption, window, MarketInterval.Default, Above).ToList();
        var down = NodeLoad.Of(award, Direction.ReduceConsumption, window, MarketInterval.Default, Above).ToList();

        Assert.Equal(["s", "t1", "t2"], up.Select(l => l.NodeId));
        Assert.All(up, l => Assert.Equal(Kw(8, 4), l.Power));
        var relieved = Assert.Single(down);
        Assert.Equal(("s", "r1/o1", window), (relieved.NodeId, relieved.AwardId, relieved.Window));
        Assert.Equal([new Kilowatts(-8), new Kilowatts(-4)], relieved.Power);
        // A station whose nodes are unknown relieves nothing and adds only where the others are below.
        var partly = award with { StationIds = ["st-a", "st-gone"] };
        Assert.Empty(NodeLoad.Of(partly, Direction.ReduceConsumption, window, MarketInterval.Default, Above));
        Assert.Equal(["s", "t1"], NodeLoad.Of(partly, Direction.IncreaseConsumption, window, MarketInterval.Default, Above).Select(l => l.NodeId));
    }

    [Theory]
    [InlineData(Direction.IncreaseConsumption, 13.334)]
    [InlineData(Direction.ReduceConsumption, -13.333)]
    public void NodeLoad_Of_AFlatAward_IsSpreadEvenlyOverItsWindow_RoundedToTheWattTowardsMoreLoad(Direction direction, decimal kw)
    {
        // 10 kWh over 45 minutes: 13.3333... kW in each quarter hour.
        var award = new Award("r1/o1", "o1", "cpo-1", ["st-a"], Kwh(10), EurosPerKilowattHour.From(0.1m));

        var load = Assert.Single(NodeLoad.Of(award, direction, new TimeWindow(T0.AddHours(4), T0.AddHours(4.75)), MarketInterval.Default, _ => ["t1"]));

        Assert.Equal([new Kilowatts(kw), new Kilowatts(kw), new Kilowatts(kw)], load.Power);
    }

    [Fact]
    public void Clear_AnIncreaseBelowANodeAnEarlierCycleFilled_IsKeptOutNamingTheNode_TakesTheDearerOneElsewhere()
    {
        // t1 had 10 kW of headroom all hour; an earlier cycle's 10 kW increase below it took it all.
        var t1 = NodeHeadroom.Of(Limited, Forecast(90, 90, 90, 90), ["st-cheap"], [Load("t1", "r0/o0", 4, 10, 10, 10, 10)])!;
        Offer[] offers = [Up(Offer("cheap", "tso-req", 5, 0.1m, divisible: false)), Up(Offer("dear", "tso-req", 5, 0.3m, divisible: false))];

        var result = ClearWithin([t1], [Up(Request("tso-req", kwh: 5))], offers).For("tso-req");

        Assert.Equal(["dear"], result.Awards.Select(a => a.OfferId));
        Assert.Equal(OfferOutcomeKind.RejectedCapacityConflict, result.Outcome("cheap").Kind);
        Assert.StartsWith("Grid node t1 has 0 kW of headroom to its operational limit", result.Outcome("cheap").Detail);
        Assert.Contains("after earlier gate cycles' awards below it", result.Outcome("cheap").Detail);
    }

    [Fact]
    public void Clear_AProfiledIncrease_KeepsToEachIntervalsHeadroom()
    {
        // 8 kW in each of two quarter hours (4 kWh); the cheap flat offer sits below t1, with 8 kW of headroom in the first
        // quarter and 2 kW in the second: it brings 8 + 2 kW, the dear one the 6 kW left in the second.
        var tso = Up(Request("tso-req", kwh: 4, hours: 0.5) with { Profile = Kw(8, 8) });
        Offer[] offers = [Up(Offer("cheap", "tso-req", 4, 0.1m)), Up(Offer("dear", "tso-req", 4, 0.3m))];

        var result = ClearWithin([Node("t1", ["st-cheap"], 4, 8, 2)], [tso], offers).For("tso-req");

        Assert.Equal(Kw(8, 2), result.Awards.Single(a => a.OfferId == "cheap").Profile);
        Assert.Equal(Kw(0, 6), result.Awards.Single(a => a.OfferId == "dear").Profile);
        Assert.Equal(Kwh(4), result.AcceptedEnergy);
    }

    [Fact]
    public void Clear_TheMeritOrderFill_KeepsToTheHeadroom()
    {
        // An offer at the cap adds no surplus, so only the fill after the solve takes it: up to t1's 3 kW.
        var result = ClearWithin([Node("t1", ["st-at-cap"], 4, 3, 3, 3, 3)], [Up(Request("tso-req", kwh: 10, cap: 0.5m))], [Up(Offer("at-cap", "tso-req", 10, 0.5m))]).For("tso-req");

        Assert.Equal((OfferOutcomeKind.PartlyAccepted, Kwh(3)), (result.Outcome("at-cap").Kind, result.Outcome("at-cap").AcceptedEnergy));
    }

    [Fact]
    public void Clear_AnyCycle_TheNetLoadAddedBelowANodeStaysWithinItsHeadroom()
    {
        // The TSO's request increases, the DSO's reduces; node n is over st0-st2 with 0-10 kW of headroom per quarter hour.
        var cycles = from s in Scenarios().Generator
                     from watts in Gen.Choose(0, 10_000).ArrayOf(8)
                     select (Requests: s.Requests.Select(r => r.Id == "tso-req" ? Up(r) : r).ToArray(),
                         Offers: s.Offers.Select(o => o.RequestId == "tso-req" ? Up(o) : o).ToArray(),
                         Node: new NodeHeadroom("n", new HashSet<string> { "st0", "st1", "st2" },
                             watts.Select((w, i) => (new TimeWindow(T0.AddMinutes(15 * (16 + i)), T0.AddMinutes(15 * (17 + i))), Kilowatts.From(w / 1000m))).ToList()));
        Prop.ForAll(cycles.ToArbitrary(), c =>
        {
            var result = ClearWithin([c.Node], c.Requests, c.Offers);
            var awards = result.Results.SelectMany(r => r.Awards.Select(a => (Request: c.Requests.Single(q => q.Id == r.RequestId), Award: a))).ToList();
            // Every window is an hour and every award flat: its kW is its kWh, over its window.
            return c.Node.Intervals.All(i => awards.Where(x => x.Request.Delivery.Overlaps(i.Interval) && x.Award.StationIds.Any(c.Node.StationIds.Contains))
                .Sum(x => x.Request.Direction == Direction.IncreaseConsumption ? x.Award.Energy.Value : -x.Award.Energy.Value) <= i.Headroom.Value);
        }).QuickCheckThrowOnFailure();
    }
}
