using FlexChain.Domain;

namespace FlexChain.Domain.Tests;

public class QuantityTests
{
    [Fact]
    public void KilowattHours_MoreThanThreeDecimals_Throws() =>
        Assert.Equal("precision", Assert.Throws<DomainException>(() => KilowattHours.From(1.0001m)).Rule);

    [Fact]
    public void KilowattHours_TrailingZeros_Accepted() => Assert.Equal(1.5m, KilowattHours.From(1.50000m).Value);

    [Fact]
    public void Price_MoreThanFourDecimals_Throws() =>
        Assert.Throws<DomainException>(() => EurosPerKilowattHour.From(0.12345m));

    [Fact]
    public void Multiply_EnergyByPrice_GivesExactEuros() =>
        Assert.Equal(new Euros(1.2348765m), KilowattHours.From(9.999m) * EurosPerKilowattHour.From(0.1235m));

    [Fact]
    public void ToTokenUnits_RoundsTowardZero()
    {
        Assert.Equal(1_234_567L, new Euros(1.2345678m).ToTokenUnits(6));
        Assert.Equal(2_500_000L, new Euros(2.5m).ToTokenUnits(6));
    }

    [Fact]
    public void Kilowatts_TimesDuration_GivesEnergy() =>
        Assert.Equal(KilowattHours.From(5.5m), Kilowatts.From(22) * TimeSpan.FromMinutes(15));

    [Fact]
    public void TimeWindow_EndBeforeStart_Throws() =>
        Assert.Throws<DomainException>(() => new TimeWindow(Build.T0, Build.T0));

    [Fact]
    public void TimeWindow_NonUtc_Throws() =>
        Assert.Throws<DomainException>(() => new TimeWindow(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.FromHours(1)), Build.T0));

    [Fact]
    public void TimeWindow_HalfOpen_AdjacentWindowsDoNotOverlap()
    {
        var a = new TimeWindow(Build.T0, Build.T0.AddHours(1));
        var b = new TimeWindow(Build.T0.AddHours(1), Build.T0.AddHours(2));
        Assert.False(a.Overlaps(b));
        Assert.False(a.Contains(a.End));
        Assert.True(a.Contains(a.Start));
    }

    [Theory]
    [InlineData("0x123")]
    [InlineData("0x0000000000000000000000000000000000000000")]
    [InlineData("0xZZ9Fd6e51aad88F6F4ce6aB8827279cffFb92266")]
    [InlineData(null)]
    public void WalletAddress_Invalid_Throws(string? text) => Assert.Throws<DomainException>(() => WalletAddress.Parse(text));
}
