using FlexChain.Domain;

namespace FlexChain.Domain.Tests;

public sealed class TemporaryLimitTests
{
    private static readonly DateTimeOffset T0 = Build.T0;

    // Build.Request: gate closure T0+1h, delivery T0+4h..T0+5h.
    private static TemporaryLimit Announce(DateTimeOffset now, TimeWindow period, params FlexRequest[] requests) =>
        TemporaryLimit.Announce("lim1", "dso1", "tr1", period, Kilowatts.From(0), "Feeder repair.", now, requests);

    private static readonly TimeWindow Delivery = new(T0.AddHours(4), T0.AddHours(5));

    [Fact]
    public void Announce_AnHourBeforeTheAffectedGate_IsAccepted()
    {
        var limit = Announce(T0, Delivery, Build.Request());
        Assert.Equal((T0, "tr1"), (limit.AnnouncedAt, limit.TargetId));
    }

    [Fact]
    public void Announce_LessThanAnHourBeforeTheAffectedGate_IsRefusedNamingTheRequest()
    {
        var e = Assert.Throws<DomainException>(() => Announce(T0.AddTicks(1), Delivery, Build.Request()));
        Assert.Equal(("periodStart", "announcement-lead"), (e.Field, e.Rule));
        Assert.Contains("req1", e.Message);
    }

    [Fact]
    public void Announce_Late_ButNoRequestOverlapsThePeriod_IsAccepted()
    {
        var after = new TimeWindow(Delivery.End, Delivery.End.AddHours(1));
        Announce(T0.AddMinutes(50), after, Build.Request());
    }

    [Fact]
    public void Announce_Late_ForACancelledRequest_IsAccepted()
    {
        var cancelled = Build.Request();
        cancelled.Cancel("dso1", T0);
        Announce(T0.AddMinutes(50), Delivery, cancelled);
    }

    [Fact]
    public void Announce_PeriodEnded_OrTooLong_IsRefused()
    {
        Assert.Equal("future", Assert.Throws<DomainException>(() => Announce(T0, new TimeWindow(T0.AddHours(-2), T0))).Rule);
        Assert.Equal("period-length", Assert.Throws<DomainException>(() => Announce(T0, new TimeWindow(T0, T0.AddDays(31).AddTicks(1)))).Rule);
        Announce(T0, new TimeWindow(T0, T0.AddDays(31)));
    }

    [Fact]
    public void RestrictionFor_CapsOnlyOverlappingDeliveries()
    {
        var limit = Announce(T0, Delivery);
        Assert.Equal(0m, limit.RestrictionFor(new TimeWindow(Delivery.End.AddMinutes(-15), Delivery.End.AddHours(1))).MaxPower!.Value.Value);
        Assert.Null(limit.RestrictionFor(new TimeWindow(Delivery.End, Delivery.End.AddHours(1))).MaxPower);
    }
}
