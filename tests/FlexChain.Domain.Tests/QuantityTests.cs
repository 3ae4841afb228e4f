using System.Numerics;
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
        Assert.Equal(new BigInteger(1_234_567), new Euros(1.2345678m).ToTokenUnits(6));
        Assert.Equal(new BigInteger(2_500_000), new Euros(2.5m).ToTokenUnits(6));
        Assert.Equal(new BigInteger(-1_234_567), new Euros(-1.2345678m).ToTokenUnits(6));
        Assert.Equal(new BigInteger(1), new Euros(1.9m).ToTokenUnits(0));
        Assert.Equal(BigInteger.Zero, Euros.Zero.ToTokenUnits(18));
    }

    [Theory]
    // EURe has 18 decimals: 64 bits end at about 9.22 EUR, a gate cycle's amounts go far beyond.
    [InlineData("9.223372036854775808", "9223372036854775808")]
    [InlineData("1000000", "1000000000000000000000000")]
    [InlineData("1.2345678", "1234567800000000000")]
    [InlineData("79228162514264337593543950335", "79228162514264337593543950335000000000000000000")] // decimal.MaxValue
    public void ToTokenUnits_EighteenDecimals_IsExactBeyond64Bits(string eur, string units) =>
        Assert.Equal(BigInteger.Parse(units, System.Globalization.CultureInfo.InvariantCulture),
            new Euros(decimal.Parse(eur, System.Globalization.CultureInfo.InvariantCulture)).ToTokenUnits(18));

    [Fact]
    public void ToTokenUnits_MoreDecimalsThanTheAmount_TruncatesOnlyWhatIsBelowOneUnit()
    {
        // 0.0000001 EUR (the smallest award value, 7 decimals) is below one unit of a 6-decimal token, one hundred billion of an 18-decimal one.
        Assert.Equal(BigInteger.Zero, new Euros(0.0000001m).ToTokenUnits(6));
        Assert.Equal(new BigInteger(100_000_000_000), new Euros(0.0000001m).ToTokenUnits(18));
        Assert.Equal(BigInteger.Pow(10, 77), new Euros(1m).ToTokenUnits(77));
        Assert.Throws<ArgumentOutOfRangeException>(() => new Euros(1m).ToTokenUnits(78));
        Assert.Throws<ArgumentOutOfRangeException>(() => new Euros(1m).ToTokenUnits(-1));
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
