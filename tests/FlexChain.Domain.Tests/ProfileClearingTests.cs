using FlexChain.Domain;
using static FlexChain.Domain.Tests.Build;
using static FlexChain.Domain.Tests.Cycle;

namespace FlexChain.Domain.Tests;

/// <summary>Power profiles (issue 16): merit order per market interval, indivisible offers across intervals, station capacity per interval.</summary>
public class ProfileClearingTests
{
    private static IReadOnlyList<Kilowatts> Kw(params decimal[] kw) => kw.Select(k => Kilowatts.From(k)).ToList();

    /// <summary>A request over [T0 + 4 h, T0 + 5 h) wanting <paramref name="kw"/> per quarter hour.</summary>
    private static ClearingRequest Profiled(string id, params decimal[] kw) =>
        Request(id, kwh: kw.Sum() / 4) with { Profile = Kw(kw) };

    private static Offer Profiled(Offer o, params decimal[] kw) => o with { Profile = Kw(kw), Energy = KilowattHours.From(kw.Sum() / 4) };

    private static Dictionary<string, StationCapacity> Power(decimal kw, params string[] stations) =>
        stations.ToDictionary(s => s, _ => new StationCapacity(Kilowatts.From(kw), TimeSpan.Zero));

    [Fact]
    public void Clear_Profile_EachIntervalFilledByTheCheapestOffersCoveringIt()
    {
        // Need 4 kW in every quarter. The cheapest covers the last two quarters only; the next fills the first two and is
        // cut there (its last two quarters are covered already); the dearest is not needed.
        var result = ClearAlone(Profiled("r1", 4, 4, 4, 4),
        [
            Profiled(Offer("late", "r1", 1, 0.10m), 0, 0, 4, 4),
            Profiled(Offer("full", "r1", 1, 0.20m), 4, 4, 4, 4),
            Profiled(Offer("dear", "r1", 1, 0.30m), 4, 4, 4, 4),
        ]);

        Assert.Equal(OfferOutcomeKind.Accepted, result.Outcome("late").Kind);
        Assert.Equal(OfferOutcomeKind.PartlyAccepted, result.Outcome("full").Kind);
        Assert.Equal(OfferOutcomeKind.RejectedNotNeeded, result.Outcome("dear").Kind);
        Assert.Equal(Kw(0, 0, 4, 4), result.Awards[0].Profile);
        Assert.Equal(Kw(4, 4, 0, 0), result.Awards[1].Profile);
        Assert.Equal(KilowattHours.From(2), result.Awards[1].Energy);
        Assert.Equal(KilowattHours.From(4), result.AcceptedEnergy);
    }

    [Fact]
    public void Clear_ManyRequestsWithManyIntervals_EachAwardKeepsItsOwnFiguresWhicheverRequestIsReadFirst()
    {
        // The engine keeps what the awards took (Wh per interval, watts per station and interval) in chunks shared by the
        // cycle's requests, and every request's rows in one array. Three requests of 720 one-minute intervals with 40
        // awards each keep 3 x 40 x 720 x 2 figures, well past one chunk: offer j of request r is 0.06 x (r + j + 1) kW
        // flat, so a figure read from another award, interval or request shows.
        var interval = MarketInterval.From(1);
        var requests = new List<ClearingRequest>();
        var offers = new List<Offer>();
        var capacity = new Dictionary<string, StationCapacity>();
        for (var r = 0; r < 3; r++)
        {
            var kw = 0m;
            for (var j = 0; j < 40; j++)
            {
                var station = $"st-{r}-{j}";
                capacity[station] = new StationCapacity(Kilowatts.From(50), TimeSpan.Zero);
                offers.Add(Offer($"o-{r}-{j:D2}", $"r{r}", 0.72m * (r + j + 1), 0.10m + j / 1000m, stations: station));
                kw += 0.06m * (r + j + 1);
            }
            requests.Add(Request($"r{r}", kwh: kw * 12, hours: 12) with { Interval = interval, Profile = Enumerable.Repeat(Kilowatts.From(kw), 720).ToList() });
        }
        requests = [.. requests.Select(q => q with { Stations = capacity })];

        var results = ClearingEngine.Clear(requests, offers).Results;

        foreach (var result in results.Reverse())
        {
            var r = int.Parse(result.RequestId[1..], System.Globalization.CultureInfo.InvariantCulture);
            Assert.Equal(Enumerable.Range(0, 40).Select(j => $"o-{r}-{j:D2}"), result.Outcomes.Select(o => o.OfferId));
            Assert.All(result.Outcomes, o => Assert.Equal(OfferOutcomeKind.Accepted, o.Kind));
            for (var j = 0; j < 40; j++)
            {
                var kw = Kilowatts.From(0.06m * (r + j + 1));
                Assert.Equal(Enumerable.Repeat(kw, 720), result.Awards[j].Profile!);
                var booking = Assert.Single(result.Bookings!, b => b.StationId == $"st-{r}-{j}");
                Assert.Equal(Enumerable.Repeat(kw, 720), booking.Power!);
            }
        }
    }

    [Fact]
    public void Clear_Profile_IntervalsNeedDifferentAmounts()
    {
        // 2 kW, then 6 kW, then nothing, then 3 kW: a flat divisible offer of 8 kW (2 kWh per quarter) gives each quarter what it needs.
        var result = ClearAlone(Profiled("r1", 2, 6, 0, 3), [Offer("flat", "r1", 8, 0.1m)]);

        var award = Assert.Single(result.Awards);
        Assert.Equal(Kw(2, 6, 0, 3), award.Profile);
        Assert.Equal(KilowattHours.From(2.75m), award.Energy);
        Assert.Equal(OfferOutcomeKind.PartlyAccepted, result.Outcome("flat").Kind);
    }

    [Fact]
    public void Clear_IndivisibleOffer_AcceptedOnlyWhenEveryIntervalItCoversCanTakeIt()
    {
        // The cheapest fills the last two quarters; the next (indivisible) also covers the third, which has no room left:
        // it is skipped whole, and the third (indivisible, the first two quarters only) fits.
        var result = ClearAlone(Profiled("r1", 4, 4, 4, 4),
        [
            Profiled(Offer("a", "r1", 1, 0.10m, divisible: false), 0, 0, 4, 4),
            Profiled(Offer("b", "r1", 1, 0.20m, divisible: false), 4, 4, 4, 0),
            Profiled(Offer("c", "r1", 1, 0.30m, divisible: false), 4, 4, 0, 0),
        ]);

        Assert.Equal(OfferOutcomeKind.RejectedIndivisibleOvershoot, result.Outcome("b").Kind);
        Assert.Equal(["a", "c"], result.Awards.Select(a => a.OfferId));
        Assert.Equal(KilowattHours.From(4), result.AcceptedEnergy);
    }

    [Fact]
    public void Clear_IndivisibleOffer_OneWattHourTooMuchInOneIntervalIsTooMuch()
    {
        var result = ClearAlone(Profiled("r1", 4, 4, 4, 4), [Profiled(Offer("a", "r1", 1, 0.1m, divisible: false), 4, 4, 4.004m, 4)]);

        Assert.Equal(OfferOutcomeKind.RejectedIndivisibleOvershoot, result.Outcome("a").Kind);
        Assert.Empty(result.Awards);
    }

    [Fact]
    public void Clear_OfferOnlyWhereTheNeedIsCovered_NotNeeded()
    {
        var result = ClearAlone(Profiled("r1", 4, 0, 0, 0), [Profiled(Offer("a", "r1", 1, 0.1m, divisible: false), 0, 4, 4, 0)]);

        Assert.Equal(OfferOutcomeKind.RejectedNotNeeded, result.Outcome("a").Kind);
    }

    [Fact]
    public void Clear_ProfiledOfferOnFlatRequest_FlatNeedSpreadOverTheIntervals()
    {
        // A flat 4 kWh request needs 1 kWh (4 kW) per quarter; an offer of 8 kW in the first quarter only gives 4 kW there.
        var result = ClearAlone(Request("r1", kwh: 4), [Profiled(Offer("a", "r1", 1, 0.1m), 8, 0, 0, 0)]);

        Assert.Equal(Kw(4, 0, 0, 0), Assert.Single(result.Awards).Profile);
    }

    [Fact]
    public void Clear_FlatRequestAndFlatOffers_AwardHasNoProfile()
    {
        var result = ClearAlone(Request("r1", kwh: 4), [Offer("a", "r1", 4, 0.1m)]);

        Assert.Null(Assert.Single(result.Awards).Profile);
    }

    [Theory]
    [InlineData(3)]          // one value too few for four quarters
    [InlineData(5)]          // one too many
    public void Clear_OfferProfileNotMatchingTheIntervals_NotEligible(int values)
    {
        var offer = Offer("a", "r1", 1, 0.1m) with { Profile = Enumerable.Repeat(Kilowatts.From(1), values).ToList(), Energy = KilowattHours.From(values / 4m) };

        var result = ClearAlone(Profiled("r1", 4, 4, 4, 4), [offer]);

        Assert.Equal(OfferOutcomeKind.RejectedNotEligible, result.Outcome("a").Kind);
        Assert.Contains("profile", result.Outcome("a").Detail);
    }

    [Fact]
    public void Clear_RequestProfileNotSummingToItsEnergy_Refused()
    {
        var request = Profiled("r1", 4, 4, 4, 4) with { Energy = KilowattHours.From(5) };

        var e = Assert.Throws<DomainException>(() => ClearAlone(request, []));
        Assert.Equal("profile-energy", e.Rule);
    }

    [Fact]
    public void Clear_ManualPickOfAProfiledOffer_TakesItWhole()
    {
        var request = Profiled("r1", 4, 4, 4, 4) with
        {
            DecisionDeadline = T0.AddHours(2), Decision = Picks("r1", 1.5, Pick("a"), Pick("b", 0.5m)),
        };

        var result = ClearAlone(request, [Profiled(Offer("a", "r1", 1, 0.2m), 0, 0, 4, 4), Profiled(Offer("b", "r1", 1, 0.1m), 4, 4, 0, 0)]);

        Assert.Equal(SelectionMode.Manual, result.Selection);
        Assert.Equal(Kw(0, 0, 4, 4), Assert.Single(result.Awards).Profile);
        Assert.Equal(OfferOutcomeKind.RejectedInvalidPick, result.Outcome("b").Kind);
    }

    [Fact]
    public void Clear_StationOf11Kw_TwoRequestsOf5KwInOneIntervalWinAThirdDoesNot()
    {
        var stations = Power(11, "st-x");
        var requests = new[] { "r1", "r2", "r3" }.Select((id, i) => Profiled(id, 5, 0, 0, 0) with { Stations = stations, GateClosure = T0.AddHours(1 + i * 0.1) }).ToList();
        var offers = requests.Select(r => Profiled(Offer("o-" + r.Id, r.Id, 1, 0.1m, 0, true, "st-x"), 5, 0, 0, 0)).ToList();

        var cycle = ClearingEngine.Clear(requests, offers);

        Assert.Single(cycle.For("r1").Awards);
        Assert.Single(cycle.For("r2").Awards);
        Assert.Equal(OfferOutcomeKind.RejectedCapacityConflict, cycle.For("r3").Outcome("o-r3").Kind);
        Assert.Contains("already awarded to request r", cycle.For("r3").Outcome("o-r3").Detail);
        Assert.Equal([Kw(5, 0, 0, 0), Kw(5, 0, 0, 0)], cycle.Results.SelectMany(r => r.Bookings!).Select(b => b.Power!));
    }

    [Fact]
    public void Clear_StationCapacityPerInterval_AcrossGateCycles()
    {
        // Each cycle clears alone and hands its bookings to the next, as storage does.
        var stations = Power(11, "st-x");
        var taken = new List<StationBooking>();
        ClearingResult ClearCycle(string id, params decimal[] kw)
        {
            var result = ClearingEngine.Clear([Profiled(id, kw) with { Stations = stations }], [Profiled(Offer("o-" + id, id, 1, 0.1m, 0, false, "st-x"), kw)], taken).Results[0];
            taken.AddRange(StationBooking.For(result, new TimeWindow(T0.AddHours(4), T0.AddHours(5))));
            return result;
        }

        Assert.Single(ClearCycle("r1", 5, 0, 6, 0).Awards);
        Assert.Single(ClearCycle("r2", 5, 11, 5, 0).Awards);       // 10 kW in the first quarter, 11 in the third
        Assert.Single(ClearCycle("r3", 1, 0, 0, 0).Awards);       // 11 kW in the first quarter: full
        var third = ClearCycle("r5", 0.004m, 0, 0, 0);
        Assert.Equal(OfferOutcomeKind.RejectedCapacityConflict, third.Outcome("o-r5").Kind);
        Assert.Contains("already booked by award r", third.Outcome("o-r5").Detail);
        Assert.Single(ClearCycle("r4", 0, 0, 0, 11).Awards);       // the last quarter is still free
    }

    [Fact]
    public void Clear_PooledOffer_FillsItsStationsInOrderUpToWhatEachHasLeft()
    {
        var stations = Power(11, "st-a", "st-b");
        var first = Profiled("r1", 8, 0, 0, 0) with { Stations = stations };
        var second = Profiled("r2", 12, 0, 0, 0) with { Stations = stations, GateClosure = T0.AddHours(1.5) };

        var cycle = ClearingEngine.Clear([first, second],
            [Profiled(Offer("a", "r1", 1, 0.1m, 0, true, "st-a"), 8, 0, 0, 0), Profiled(Offer("b", "r2", 1, 0.1m, 0, true, "st-a", "st-b"), 12, 0, 0, 0)]);

        var pooled = cycle.For("r2").Bookings!;
        Assert.Equal(["st-a", "st-b"], pooled.Select(b => b.StationId));
        Assert.Equal([Kilowatts.From(3), Kilowatts.From(9)], pooled.Select(b => b.Power![0]));
    }

    [Fact]
    public void Clear_FlatOffersWithKnownPower_ShareAStationWhenItsPowerAllows()
    {
        // 1.25 kWh in a quarter hour is 5 kW: two fit on 11 kW, a third does not.
        var stations = Power(11, "st-x");
        var requests = Enumerable.Range(1, 3).Select(i => Request("r" + i, kwh: 1.25m, hours: 0.25, gateHour: 1 + i * 0.1) with { Stations = stations }).ToList();
        var offers = requests.Select(r => Offer("o-" + r.Id, r.Id, 1.25m, 0.1m, 0, true, "st-x")).ToList();

        var cycle = ClearingEngine.Clear(requests, offers);

        Assert.Equal([1, 1, 0], cycle.Results.Select(r => r.Awards.Count));
        Assert.Equal(Kilowatts.From(5), cycle.For("r1").Bookings![0].Power![0]);
    }

    [Fact]
    public void Clear_OfferAboveItsStationsPower_NoRoom()
    {
        var result = ClearAlone(Profiled("r1", 12, 0, 0, 0) with { Stations = Power(11, "st-a") }, [Profiled(Offer("a", "r1", 1, 0.1m), 12, 0, 0, 0)]);

        Assert.Equal(OfferOutcomeKind.RejectedCapacityConflict, result.Outcome("a").Kind);
        Assert.Contains("power", result.Outcome("a").Detail);
    }

    [Fact]
    public void Clear_StationPowerUnknown_TakenWholeAsBefore()
    {
        var requests = new[] { Profiled("r1", 1, 0, 0, 0), Profiled("r2", 1, 0, 0, 0) with { GateClosure = T0.AddHours(2) } };

        var cycle = ClearingEngine.Clear(requests, [Profiled(Offer("a", "r1", 1, 0.1m, 0, true, "st-x"), 1, 0, 0, 0), Profiled(Offer("b", "r2", 1, 0.1m, 0, true, "st-x"), 1, 0, 0, 0)]);

        Assert.Null(Assert.Single(cycle.For("r1").Bookings!).Power);
        Assert.Equal(OfferOutcomeKind.RejectedCapacityConflict, cycle.For("r2").Outcome("b").Kind);
    }

    [Fact]
    public void Clear_SeveralAwardsOfOneRequest_EachKeepsItsOwnProfileAndStationPower()
    {
        // The engine keeps the per-interval figures of all of a request's awards together: each award and booking must
        // read its own, whether its stations' power is known (st-a, st-b, st-c) or not (st-u: taken whole, no power).
        var stations = Power(11, "st-a", "st-b", "st-c");
        var request = Profiled("r1", 20, 8, 4, 4) with { Stations = stations };

        var result = ClearAlone(request,
        [
            Profiled(Offer("one", "r1", 1, 0.10m, 0, true, "st-a", "st-b"), 16, 0, 0, 0),
            Profiled(Offer("two", "r1", 1, 0.20m, 0, true, "st-u"), 4, 4, 0, 0),
            Profiled(Offer("three", "r1", 1, 0.30m, 0, true, "st-c"), 0, 4, 4, 4),
        ]);

        Assert.Equal(["one", "two", "three"], result.Awards.Select(a => a.OfferId));
        Assert.Equal([Kw(16, 0, 0, 0), Kw(4, 4, 0, 0), Kw(0, 4, 4, 4)], result.Awards.Select(a => a.Profile!));
        var bookings = result.Bookings!;
        Assert.Equal(["st-a", "st-b", "st-u", "st-c"], bookings.Select(b => b.StationId));
        Assert.Equal(Kw(11, 0, 0, 0), bookings[0].Power!);
        Assert.Equal(Kw(5, 0, 0, 0), bookings[1].Power!);
        Assert.Null(bookings[2].Power);
        Assert.Equal(Kw(0, 4, 4, 4), bookings[3].Power!);
        Assert.Equal(["r1/one", "r1/one", "r1/two", "r1/three"], bookings.Select(b => b.AwardId));
    }

    [Fact]
    public void Clear_FlatAwardsWithKnownAndUnknownPower_EachBookingReadsItsOwnWatts()
    {
        var request = Request("r1", kwh: 6) with { Stations = Power(11, "st-a", "st-b") };

        var result = ClearAlone(request,
        [
            Offer("a", "r1", 2, 0.10m, 0, true, "st-a"),
            Offer("u", "r1", 1, 0.15m, 0, true, "st-u"),
            Offer("b", "r1", 3, 0.20m, 0, true, "st-a", "st-b"),
        ]);

        Assert.Equal(3, result.Awards.Count);
        Assert.All(result.Awards, a => Assert.Null(a.Profile));
        var bookings = result.Bookings!;
        Assert.Equal(["st-a", "st-u", "st-a", "st-b"], bookings.Select(b => b.StationId));
        Assert.Equal(Kw(2, 2, 2, 2), bookings[0].Power!);                 // 2 kWh over the hour: 2 kW in each quarter
        Assert.Null(bookings[1].Power);
        Assert.Equal([Kw(3, 3, 3, 3), Kw(0, 0, 0, 0)], bookings.Skip(2).Select(b => b.Power!)); // st-a had 9 kW left
    }

    [Fact]
    public void Clear_StationIdsEqualInValueButNotTheSameString_AreOneStation()
    {
        // Ids read from storage are separate strings: a station must be recognised by its value, in offers, the
        // capacity map and earlier bookings alike.
        static string Id() => string.Concat("st-", new string('x', 1));
        var stations = new Dictionary<string, StationCapacity> { [Id()] = new(Kilowatts.From(11), TimeSpan.Zero) };
        var earlier = new StationBooking(Id(), new TimeWindow(T0.AddHours(4), T0.AddHours(5)), "old/award") { Power = Kw(6, 0, 0, 0) };
        var requests = new[] { "r1", "r2" }.Select((id, i) => Profiled(id, 5, 0, 0, 0) with { Stations = stations, GateClosure = T0.AddHours(1 + i * 0.1) }).ToList();
        var offers = requests.Select(r => Profiled(Offer("o-" + r.Id, r.Id, 1, 0.1m, 0, true, Id()), 5, 0, 0, 0)).ToList();

        var cycle = ClearingEngine.Clear(requests, offers, [earlier]);

        Assert.Single(cycle.For("r1").Awards);                           // 6 + 5 of 11 kW
        Assert.Equal(OfferOutcomeKind.RejectedCapacityConflict, cycle.For("r2").Outcome("o-r2").Kind);
    }
}

/// <summary>Verification of a profiled award: each interval against its own kW.</summary>
public class ProfileVerificationTests
{
    private static readonly DateTimeOffset W = new(2026, 6, 10, 12, 0, 0, TimeSpan.Zero);

    private static IEnumerable<MeterReading> Quarters(DateTimeOffset from, params decimal[] kwh) =>
        kwh.Select((k, i) => new MeterReading("st1", new TimeWindow(from.AddMinutes(15 * i), from.AddMinutes(15 * (i + 1))), KilowattHours.From(k)));

    [Fact]
    public void Verify_ProfiledAward_EachIntervalAgainstItsOwnPowerAndAReboundIsNotPaid()
    {
        // Award 8, 4, 0, 12 kW per quarter: 2, 1, 0, 3 kWh. Baseline 5 kWh per quarter (MBMA); measured 3, 4, 9, 6:
        // delivered 2, 1, -4 (a rebound in the quarter the award does not cover: not checked), -1 (a rebound: not met).
        var award = new Award("req1/o1", "o1", "cpo1", ["st1"], KilowattHours.From(6), EurosPerKilowattHour.From(0.5m))
        {
            Profile = new[] { 8m, 4m, 0m, 12m }.Select(k => Kilowatts.From(k)).ToList(),
        };
        var readings = Quarters(W.AddHours(-1), 5, 5, 5, 5).Concat(Quarters(W, 3, 4, 9, 6)).ToList();

        var v = DeliveryVerifier.Verify(award, new TimeWindow(W, W.AddHours(1)), Direction.ReduceConsumption, VerificationRules.Default,
            new DeliveryEvidence(readings, null, null), MarketInterval.Default);

        Assert.Equal([KilowattHours.From(2), KilowattHours.From(1), KilowattHours.From(3)], v.MarketIntervals!.Select(m => m.Scheduled));
        Assert.Equal([true, true, false], v.MarketIntervals!.Select(m => m.Met));
        Assert.False(v.Succeeded);
        Assert.Equal(new Euros(1.5m), v.Payout);   // (2 + 1) kWh x 0.5: the quarter with the rebound pays nothing
    }
}

/// <summary>A station's recovery time (issue 16): clearing keeps it booked after an awarded window; verification reports a rebound then.</summary>
public class RecoveryTests
{
    private static readonly Dictionary<string, StationCapacity> Resting = new() { ["st-x"] = new(Kilowatts.From(11), TimeSpan.FromMinutes(30)) };

    /// <summary>A request on [T0 + start h, + hours h) with a 1 kW offer on st-x, gates in <paramref name="gateHour"/> order.</summary>
    private static (ClearingRequest, Offer) OnStation(string id, double start, double hours, double gateHour) =>
        (Request(id, kwh: (decimal)hours, start: start, hours: hours, gateHour: gateHour) with { Stations = Resting },
         Offer("o-" + id, id, (decimal)hours, 0.1m, 0, true, "st-x"));

    [Theory]
    [InlineData(5.0, true)]     // starts when the first window ends: inside the 30-minute rest
    [InlineData(5.25, true)]    // still inside it
    [InlineData(5.5, false)]    // starts when the rest ends
    [InlineData(3.25, true)]    // ends at 4.25 h, inside the first window... and overlapping it
    [InlineData(3.0, true)]     // ends at 4 h: its own rest [4 h, 4.5 h) would overlap the first award
    [InlineData(2.5, false)]    // ends at 3.5 h: its rest ends when the first window starts
    public void Clear_StationRestsAfterAnAwardedWindow(double secondStart, bool conflict)
    {
        var (r1, o1) = OnStation("r1", 4, 1, 1);
        var (r2, o2) = OnStation("r2", secondStart, 1, 2);

        var cycle = ClearingEngine.Clear([r1, r2], [o1, o2]);

        Assert.Single(cycle.For("r1").Awards);
        Assert.Equal(conflict ? OfferOutcomeKind.RejectedCapacityConflict : OfferOutcomeKind.Accepted, cycle.For("r2").Outcome("o-r2").Kind);
    }

    [Fact]
    public void Clear_RestBlocksTheWholeWindow_WhicheverIntervalsAnOfferCovers()
    {
        // The rest after [4 h, 5 h) ends at 5.5 h; an offer on [5 h, 6 h) covering only its last two quarters still waits.
        var (r1, o1) = OnStation("r1", 4, 1, 1);
        var r2 = Request("r2", kwh: 2, start: 5, hours: 1, gateHour: 2) with { Stations = Resting, Profile = [Kilowatts.From(0), Kilowatts.From(0), Kilowatts.From(4), Kilowatts.From(4)] };
        var o2 = Offer("o-r2", "r2", 2, 0.1m, 0, true, "st-x") with { Profile = r2.Profile };

        var cycle = ClearingEngine.Clear([r1, r2], [o1, o2]);

        Assert.Equal(OfferOutcomeKind.RejectedCapacityConflict, cycle.For("r2").Outcome("o-r2").Kind);
        Assert.Contains("rests", cycle.For("r2").Outcome("o-r2").Detail);
    }

    [Fact]
    public void Clear_RecoveryOfAnEarlierCyclesBooking_BlocksTheStation()
    {
        var (r1, o1) = OnStation("r1", 4, 1, 1);
        var first = ClearingEngine.Clear([r1], [o1]).Results[0];
        var (r2, o2) = OnStation("r2", 5, 0.25, 2);

        var second = ClearingEngine.Clear([r2], [o2], StationBooking.For(first, r1.Delivery).ToList()).Results[0];

        Assert.Equal(OfferOutcomeKind.RejectedCapacityConflict, second.Outcome("o-r2").Kind);
        Assert.Contains("recovery", second.Outcome("o-r2").Detail);
    }

    private static readonly DateTimeOffset W = new(2026, 6, 10, 12, 0, 0, TimeSpan.Zero);

    private static IEnumerable<MeterReading> Quarters(DateTimeOffset from, params decimal[] kwh) =>
        kwh.Select((k, i) => new MeterReading("st1", new TimeWindow(from.AddMinutes(15 * i), from.AddMinutes(15 * (i + 1))), KilowattHours.From(k)));

    private static Verification Verify(IEnumerable<MeterReading> readings, int recoveryMinutes) =>
        DeliveryVerifier.Verify(new Award("req1/o1", "o1", "cpo1", ["st1"], KilowattHours.From(10), EurosPerKilowattHour.From(0.25m)),
            new TimeWindow(W, W.AddHours(1)), Direction.ReduceConsumption, VerificationRules.Default,
            new DeliveryEvidence(readings.ToList(), recovery: new Dictionary<string, TimeSpan> { ["st1"] = TimeSpan.FromMinutes(recoveryMinutes) }), MarketInterval.Default);

    [Fact]
    public void Verify_ReboundAfterTheWindow_ReportedNotPaidAgainst()
    {
        // Baseline 5 kWh per quarter, 2.5 in the window (10 kWh delivered, paid 2.5 EUR); then 6 and 7.5 kWh in the
        // 30-minute rest: a rebound of 1 + 2.5 = 3.5 kWh, reported; the 5 kWh quarter after the rest does not count.
        var v = Verify(Quarters(W.AddHours(-1), 5, 5, 5, 5).Concat(Quarters(W, 2.5m, 2.5m, 2.5m, 2.5m, 6, 7.5m, 9)), 30);

        Assert.Equal(new Rebound(new TimeWindow(W.AddHours(1), W.AddMinutes(90)), KilowattHours.From(3.5m), true), v.Rebound);
        Assert.Equal(new Euros(2.5m), v.Payout);
        Assert.True(v.Succeeded);
    }

    [Fact]
    public void Verify_RecoveryReadingsNotYetSent_ReboundIncomplete()
    {
        var v = Verify(Quarters(W.AddHours(-1), 5, 5, 5, 5).Concat(Quarters(W, 2.5m, 2.5m, 2.5m, 2.5m, 4)), 30);

        Assert.Equal((KilowattHours.Zero, false), (v.Rebound!.Energy, v.Rebound.Complete));
    }

    [Fact]
    public void Verify_NoRecoveryTime_NoReboundReported()
    {
        Assert.Null(Verify(Quarters(W.AddHours(-1), 5, 5, 5, 5).Concat(Quarters(W, 2.5m, 2.5m, 2.5m, 2.5m, 9)), 0).Rebound);
    }
}
