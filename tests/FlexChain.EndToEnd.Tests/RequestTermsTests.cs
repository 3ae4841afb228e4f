using FlexChain.Domain;
using FlexChain.Functions.Settlement;
using FlexChain.Verification;

namespace FlexChain.EndToEnd.Tests;

/// <summary>The terms a DSO's consent binds, as the app reads them from a stored request (<see cref="RequestConsents.Terms"/>).</summary>
public sealed class RequestTermsTests
{
    private static readonly DateTimeOffset T0 = new(2026, 12, 7, 8, 0, 0, TimeSpan.Zero);
    private static readonly GridNode Grid = new("tr1", "dso1", "Terni Nord 3", Kilowatts.From(630));
    private static readonly TimeWindow Window = new(T0.AddHours(4), T0.AddHours(5));

    [Fact]
    public void Terms_OfARequestLeavingEveryOptionalTermOut_AreTheRecordsDefaults()
    {
        var request = FlexRequest.Post("req1", "dso1", Grid, Window, KilowattHours.From(10m), Direction.ReduceConsumption,
            EurosPerKilowattHour.From(0.5m), T0.AddHours(1), PricingRule.PayAsBid, T0);

        Assert.Equal(new RequestTerms("tr1", Window.Start.ToUnixTimeSeconds(), Window.End.ToUnixTimeSeconds(), 10_000, 500_000, T0.AddHours(1).ToUnixTimeSeconds()),
            RequestConsents.Terms(request));
    }

    [Fact]
    public void Terms_OfARequestSettingEveryTerm_BindEachOne()
    {
        var request = FlexRequest.Post("req1", "dso1", Grid, Window, KilowattHours.From(10), Direction.IncreaseConsumption,
            EurosPerKilowattHour.From(0.5m), T0.AddHours(1), PricingRule.PayAsClear, T0, KilowattHours.From(2.5m), SelectionMode.Manual, T0.AddHours(2),
            new VerificationRules(BaselineMethod.MidXOfY, PayoutRule.ProRataByScore, 0.75m, 0.05m, 30, 3, 7));

        Assert.Equal(new RequestTerms("tr1", Window.Start.ToUnixTimeSeconds(), Window.End.ToUnixTimeSeconds(), 10_000, 500_000, T0.AddHours(1).ToUnixTimeSeconds(),
            "IncreaseConsumption", "PayAsClear", 2_500, "Manual", T0.AddHours(2).ToUnixTimeSeconds(), "MidXOfY", "ProRataByScore", 750_000, 50_000, 30, 3, 7),
            RequestConsents.Terms(request));
    }

    [Fact]
    public void Terms_OfAProfileRequest_BindItsProfileInWattHoursPerQuarter()
    {
        var request = FlexRequest.Post("req1", "dso1", Grid, Window, KilowattHours.From(8m), Direction.ReduceConsumption,
            EurosPerKilowattHour.From(0.5m), T0.AddHours(1), PricingRule.PayAsBid, T0, profile: [Kilowatts.From(8), Kilowatts.From(4), Kilowatts.From(12), Kilowatts.From(8)]);

        Assert.Equal(new ProfileRecord(900, [2_000, 1_000, 3_000, 2_000]).Hash(), RequestConsents.Terms(request).ProfileHash);
    }

    [Fact]
    public void Terms_OfACall_NameItsAvailabilityContract_OfAnOrdinaryRequestNone()
    {
        FlexRequest Post(string? availabilityId) => FlexRequest.Post("req1", "dso1", Grid, Window, KilowattHours.From(10m), Direction.ReduceConsumption,
            EurosPerKilowattHour.From(0.5m), T0.AddHours(1), PricingRule.PayAsBid, T0, availabilityId: availabilityId);

        Assert.Equal("av_1", RequestConsents.Terms(Post("av_1")).AvailabilityId);
        Assert.Equal("", RequestConsents.Terms(Post(null)).AvailabilityId);
        Assert.NotEqual(RequestConsents.Terms(Post("av_1")).Hash(), RequestConsents.Terms(Post("av_2")).Hash());
    }

    [Fact]
    public void ProfileOf_AFlatAward_IsItsEnergyOverTheWholeWindow_AProfiledAwardItsQuarters()
    {
        var request = FlexRequest.Post("req1", "dso1", Grid, Window, KilowattHours.From(8m), Direction.ReduceConsumption,
            EurosPerKilowattHour.From(0.5m), T0.AddHours(1), PricingRule.PayAsBid, T0, interval: MarketInterval.From(5));
        var flat = new Award("a1", "o1", "cpo1", ["st1"], KilowattHours.From(2.5m), EurosPerKilowattHour.From(0.3m));
        var profiled = flat with { Profile = [.. Enumerable.Repeat(Kilowatts.From(0), 10), Kilowatts.From(18), Kilowatts.From(12)] };

        Assert.Equal(ProfileRecord.Flat(Window.Start.ToUnixTimeSeconds(), Window.End.ToUnixTimeSeconds(), 2_500).Hash(), RequestRecords.ProfileOf(request, flat).Hash());
        var record = RequestRecords.ProfileOf(request, profiled);
        Assert.Equal((300L, 1_500L, 1_000L), (record.IntervalSeconds, record.EnergyWh[10], record.EnergyWh[11]));
        Assert.Equal(12, record.EnergyWh.Count);
    }
}
