using FlexChain.Domain;

namespace FlexChain.Domain.Tests;

public class StationPowerTests
{
    private static readonly DateTimeOffset T = new(2026, 6, 10, 0, 0, 0, TimeSpan.Zero);

    private static readonly ChargingStation Station22Kw = new("st1", "cpo_1", "tr_1", Kilowatts.From(22m), "IT001E0001", true);

    private static MeterReading R(int minutes, decimal kwh) => new("st1", new TimeWindow(T, T.AddMinutes(minutes)), KilowattHours.From(kwh));

    [Theory]
    [InlineData(15, 6.05)]   // 22 kW x 0.25 h = 5.5 kWh, +10 %
    [InlineData(60, 24.2)]
    [InlineData(1, 0.404)]   // 0.4033... rounded up to the watt-hour
    [InlineData(15, 0)]
    public void Problem_AtOrBelowRatedPowerPlusMargin_IsNone(int minutes, decimal kwh) =>
        Assert.Null(StationPower.Problem(Station22Kw, R(minutes, kwh)));

    [Theory]
    [InlineData(15, 6.051)]
    [InlineData(60, 24.201)]
    [InlineData(1, 0.405)]
    [InlineData(1, 100_000)]
    public void Problem_AboveRatedPowerPlusMargin_NamesTheLimit(int minutes, decimal kwh)
    {
        var problem = StationPower.Problem(Station22Kw, R(minutes, kwh));
        Assert.NotNull(problem);
        Assert.Contains(StationPower.MaxEnergy(Station22Kw, new TimeWindow(T, T.AddMinutes(minutes))).ToString(), problem);
    }
}
