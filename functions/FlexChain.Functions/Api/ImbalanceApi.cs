using FlexChain.Domain;
using FlexChain.Functions.Auth;
using FlexChain.Functions.Storage;
using Microsoft.AspNetCore.Http.HttpResults;

namespace FlexChain.Functions.Api;

/// <summary>
/// Imbalance-adjustment records (trade position consistency, DOMAIN.md section 7): one per verified award and station, for
/// the balance responsible party of the station's metering point. The TSO (and the market operator) reads every record;
/// a DSO those of stations connected to its grid; a CPO those of its own stations.
/// </summary>
public static class ImbalanceApi
{
    public static RouteGroupBuilder MapImbalanceApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/v1/imbalance-adjustments").WithTags("Grid").RequireAuthorization();
        group.MapGet("/", ListAdjustments);
        return group;
    }

    /// <summary>
    /// The records of deliveries starting in [from, to) (at most 31 days apart; default: the last 7 days), in time order,
    /// optionally of one balance responsible party (<c>brp</c>).
    /// </summary>
    public static async Task<Ok<ListResponse<ImbalanceAdjustmentResponse>>> ListAdjustments(
        string? from, string? to, string? brp, int? limit, string? cursor, HttpContext http, MarketStore store, TimeProvider clock, CancellationToken cancellationToken)
    {
        var period = VisibilityApi.Period(from, to, clock.GetUtcNow(), pastByDefault: true);
        var me = http.User.ParticipantId();
        var (cpo, connecting) = http.User.Role() switch
        {
            Role.Tso or Role.Operator => ((string?)null, (string?)null),
            Role.Dso => (null, me),
            _ => (me, null),
        };
        var page = await store.ListImbalanceAsync(period.Start, period.End, brp, cpo, connecting, ApiConventions.Limit(limit), cursor, cancellationToken);
        return TypedResults.Ok(page.ToResponse(ImbalanceAdjustmentResponse.From));
    }
}

/// <summary>One market interval of an imbalance-adjustment record.</summary>
public sealed record ImbalanceIntervalResponse(DateTimeOffset Start, DateTimeOffset End, decimal EnergyKwh);

/// <summary>One station's part of a verified activation, for the balance responsible party of its metering point.</summary>
public sealed record ImbalanceAdjustmentResponse(
    string RequestId, string AwardId, string StationId, string MeteringPointId, string? BalanceResponsiblePartyId, string CpoId, string BuyerId,
    string ConnectingOperatorId, string Direction, DateTimeOffset DeliveryStart, DateTimeOffset DeliveryEnd, decimal TotalKwh,
    IReadOnlyList<ImbalanceIntervalResponse> Intervals, DateTimeOffset RecordedAt)
{
    public static ImbalanceAdjustmentResponse From(ImbalanceAdjustment a) =>
        new(a.RequestId, a.AwardId, a.StationId, a.MeteringPointId, a.BalanceResponsibleParty, a.CpoId, a.BuyerId, a.ConnectingOperatorId,
            a.Direction.ToString(), a.Delivery.Start, a.Delivery.End, Wire.Kwh(a.Total.Value),
            a.Intervals.Select(i => new ImbalanceIntervalResponse(i.Interval.Start, i.Interval.End, Wire.Kwh(i.Energy.Value))).ToList(), a.RecordedAt);
}
