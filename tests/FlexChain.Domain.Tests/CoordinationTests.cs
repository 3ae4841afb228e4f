using FlexChain.Domain;
using static FlexChain.Domain.Tests.Build;
using static FlexChain.Domain.Tests.Cycle;

namespace FlexChain.Domain.Tests;

/// <summary>
/// Coordination models in one gate cycle: a DSO request and a TSO request on overlapping windows, offered one shared
/// station (once to each, one offer per request), plus a station offered only to the TSO.
/// </summary>
public sealed class CoordinationTests
{
    // The TSO's request sorts before the DSO's in the engine's usual order (earlier gate closure), so Separate gives it the shared station.
    private static readonly ClearingRequest Dso = Request("dso-req", kwh: 5, gateHour: 1.5);
    private static readonly ClearingRequest Tso = Request("tso-req", kwh: 10, start: 4.5, gateHour: 1);

    private static readonly Offer[] Offers =
    [
        Offer("local", "dso-req", 5, 0.2m, stations: "st-shared"),
        Offer("forwarded", "tso-req", 5, 0.1m, stations: "st-shared"),
        Offer("tso-only", "tso-req", 5, 0.3m),
    ];

    private static GateCycleResult Clear(CoordinationModel model, params StationBooking[] taken) =>
        CoordinatedClearing.Clear([new(Dso, Role.Dso, model), new(Tso, Role.Tso, model)], Offers, taken);

    private static IEnumerable<string> Won(GateCycleResult result, string request) => result.For(request).Awards.Select(a => a.OfferId);

    [Fact]
    public void DsoFirst_TheDsoBuysTheSharedStation_TheTsoGetsOnlyWhatWasNotBoughtLocally()
    {
        var result = Clear(CoordinationModel.DsoFirst);
        Assert.Equal(["local"], Won(result, "dso-req"));
        Assert.Equal(["tso-only"], Won(result, "tso-req"));
        var lost = result.For("tso-req").Outcome("forwarded");
        Assert.Equal(OfferOutcomeKind.RejectedCapacityConflict, lost.Kind);
        Assert.Contains(result.For("dso-req").Awards[0].Id, lost.Detail);
    }

    [Fact]
    public void TsoFirst_TheTsoBuysTheSharedStation_TheDsoRequestLosesIt()
    {
        var result = Clear(CoordinationModel.TsoFirst);
        Assert.Equal(["forwarded", "tso-only"], Won(result, "tso-req").Order());
        Assert.Empty(Won(result, "dso-req"));
        Assert.Equal(OfferOutcomeKind.RejectedCapacityConflict, result.For("dso-req").Outcome("local").Kind);
    }

    [Fact]
    public void Separate_ClearsInTheEnginesUsualOrder()
    {
        var result = Clear(CoordinationModel.Separate);
        var plain = ClearingEngine.Clear([Dso, Tso], Offers);
        foreach (var id in new[] { "dso-req", "tso-req" })
        {
            Assert.Equal(plain.For(id).Awards.Select(a => (a.Id, a.Energy, a.Price)), result.For(id).Awards.Select(a => (a.Id, a.Energy, a.Price)));
            Assert.Equal(plain.For(id).Outcomes, result.For(id).Outcomes);
        }
        Assert.Contains("forwarded", Won(result, "tso-req"));
    }

    [Fact]
    public void DsoFirst_AStationNotBoughtLocally_GoesToTheTso()
    {
        // The DSO's request is already covered by a cheaper offer, so the shared station is left for the TSO.
        var offers = Offers.Append(Offer("cheaper", "dso-req", 5, 0.05m)).ToList();
        var result = CoordinatedClearing.Clear([new(Dso, Role.Dso, CoordinationModel.DsoFirst), new(Tso, Role.Tso, CoordinationModel.DsoFirst)], offers);
        Assert.Equal(["cheaper"], Won(result, "dso-req"));
        Assert.Equal(["forwarded", "tso-only"], Won(result, "tso-req").Order());
    }

    [Fact]
    public void DsoFirst_EarlierBookingsStillHoldInBothRounds()
    {
        var booked = new StationBooking("st-tso-only", new TimeWindow(T0.AddHours(4), T0.AddHours(6)), "req0/off0");
        var result = Clear(CoordinationModel.DsoFirst, booked);
        Assert.Equal(["local"], Won(result, "dso-req"));
        Assert.Empty(Won(result, "tso-req"));
        Assert.Equal(OfferOutcomeKind.RejectedCapacityConflict, result.For("tso-req").Outcome("tso-only").Kind);
    }

    [Fact]
    public void EveryModel_NeverAwardsTheSharedStationTwice()
    {
        foreach (var model in Enum.GetValues<CoordinationModel>())
        {
            var awards = Clear(model).Results.SelectMany(r => r.Awards).SelectMany(a => a.StationIds).ToList();
            Assert.Equal(awards.Count, awards.Distinct().Count());
        }
    }
}
