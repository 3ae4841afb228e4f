using FlexChain.Domain;

namespace FlexChain.Domain.Tests;

internal static class Build
{
    public static readonly DateTimeOffset T0 = new(2026, 6, 1, 8, 0, 0, TimeSpan.Zero);

    public static Offer Offer(string id, decimal kwh, decimal price, int submittedMinute = 0, bool divisible = true, string? cpo = null) =>
        new(id, "req1", cpo ?? "cpo-" + id, ["st-" + id], KilowattHours.From(kwh), EurosPerKilowattHour.From(price), divisible,
            T0.AddMinutes(submittedMinute));

    public static GridNode Grid => new("tr1", "dso1", "Terni Nord 3", Kilowatts.From(630));

    public static FlexRequest Request(decimal kwh = 10, decimal cap = 0.5m, PricingRule pricing = PricingRule.PayAsBid, VerificationRules? verification = null,
        Direction direction = Direction.ReduceConsumption) =>
        FlexRequest.Post("req1", "dso1", Grid, new TimeWindow(T0.AddHours(4), T0.AddHours(5)), KilowattHours.From(kwh),
            direction, EurosPerKilowattHour.From(cap), T0.AddHours(1), pricing, T0, verification: verification);
}
