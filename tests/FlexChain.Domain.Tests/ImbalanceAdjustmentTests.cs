using FlexChain.Domain;

namespace FlexChain.Domain.Tests;

public sealed class ImbalanceAdjustmentTests
{
    private static readonly ChargingStation StationA =
        new("st-a", "cpo-a", "tr1", Kilowatts.From(22), "IT001E00000001", true) { BalanceResponsibleParty = "10X1001A1001A094" };

    // Build.Request: 10 kWh, delivery T0+4h..T0+5h; the offer names station st-a of cpo-a.
    private static FlexRequest Verified(params decimal[] windowQuarters)
    {
        var r = Build.Request();
        r.Close(Cycle.ClearAlone(r.ToClearingRequest(), [Build.Offer("a", 10, 0.1m)]), r.GateClosure);
        r.MarkAwarded();
        var before = Enumerable.Range(0, 4).Select(q => Quarter(r.Delivery.Start.AddHours(-1), q, 5m));
        var inside = windowQuarters.Select((kwh, q) => Quarter(r.Delivery.Start, q, kwh));
        r.Verify(new DeliveryEvidence(before.Concat(inside).ToList()), r.Delivery.End);
        return r;
    }

    private static MeterReading Quarter(DateTimeOffset from, int q, decimal kwh) =>
        new("st-a", new TimeWindow(from.AddMinutes(15 * q), from.AddMinutes(15 * (q + 1))), KilowattHours.From(kwh));

    private static readonly Dictionary<string, (ChargingStation, string)> Stations = new() { ["st-a"] = (StationA, "dso1") };

    [Fact]
    public void For_EachStation_RecordsItsDeliveryPerMarketInterval_ForItsBalanceResponsibleParty()
    {
        var request = Verified(2m, 2m, 2m, 6m);   // a baseline of 5 kWh a quarter: 3, 3, 3 and a rebound of 1
        var record = Assert.Single(ImbalanceAdjustment.For(request, Stations, Build.T0));
        Assert.Equal(("10X1001A1001A094", "IT001E00000001", "cpo-a", "dso1", "dso1"),
            (record.BalanceResponsibleParty, record.MeteringPointId, record.CpoId, record.BuyerId, record.ConnectingOperatorId));
        Assert.Equal((request.Id, request.Awards[0].Id, Direction.ReduceConsumption), (record.RequestId, record.AwardId, record.Direction));
        Assert.Equal([3m, 3m, 3m, -1m], record.Intervals.Select(i => i.Energy.Value));
        Assert.Equal(request.Interval.Cut(request.Delivery), record.Intervals.Select(i => i.Interval));
        Assert.Equal(8m, record.Total.Value);
    }

    [Fact]
    public void For_NotVerified_OrAStationMissing_Throws()
    {
        var awarded = Build.Request();
        awarded.Close(Cycle.ClearAlone(awarded.ToClearingRequest(), [Build.Offer("a", 10, 0.1m)]), awarded.GateClosure);
        Assert.Throws<ArgumentException>(() => ImbalanceAdjustment.For(awarded, Stations, Build.T0));
        Assert.Throws<ArgumentException>(() => ImbalanceAdjustment.For(Verified(2m, 2m, 2m, 2m), new Dictionary<string, (ChargingStation, string)>(), Build.T0));
    }

    [Fact]
    public void For_NoAwards_RecordsNothing()
    {
        var unfilled = Build.Request();
        unfilled.Close(Cycle.ClearAlone(unfilled.ToClearingRequest(), []), unfilled.GateClosure);
        Assert.Empty(ImbalanceAdjustment.For(unfilled, Stations, Build.T0));
    }
}
