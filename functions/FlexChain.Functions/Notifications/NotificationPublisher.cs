using System.Text.Json;
using FlexChain.Domain;
using FlexChain.Functions.Storage;

namespace FlexChain.Functions.Notifications;

/// <summary>
/// Turns requests into events for their participants and fans each event out to the recipient's webhook subscriptions.
/// Event ids are <c>{requestId}:{type}:{recipient}</c> (with <c>:{occurrence}</c> for an event that can happen again), and the event row is written after its deliveries: a retried
/// transition (or one resumed after a crash) finds the row and creates nothing, and a fan-out cut short is redone.
/// </summary>
public sealed class NotificationPublisher(MarketStore store, TimeProvider clock, Microsoft.Extensions.Options.IOptions<Auth.MarketOptions> market)
{
    /// <summary>The recipient of events every CPO receives (a request is published to the whole market).</summary>
    public const string CpoAudience = "role:Cpo";

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    /// <summary><c>request.published</c> to every CPO.</summary>
    public async Task RequestPublishedAsync(FlexRequest r, CancellationToken cancellationToken)
    {
        var data = new
        {
            dsoId = r.DsoId, transformerId = r.TransformerId, deliveryStart = r.Delivery.Start, deliveryEnd = r.Delivery.End,
            energyKwh = Api.Wire.Kwh(r.Energy.Value), direction = r.Direction.ToString(), maxPriceEurPerKwh = Api.Wire.EurPerKwh(r.MaxPrice.Value), gateClosure = r.GateClosure,
            pricing = r.Pricing.ToString(), selection = r.Selection.ToString(),
        };
        await EmitAsync(CpoAudience, EventTypes.RequestPublished, r.Id, data, await store.ListSubscriptionsOfRoleAsync(Role.Cpo, cancellationToken), cancellationToken);
    }

    /// <summary>
    /// <c>offer.forwarded</c> to the CPO whose unbought offer went on to a TSO's request: which offer, where it is now, and
    /// until when it may change price and volume or withdraw it (the TSO's gate closure).
    /// </summary>
    public Task OfferForwardedAsync(Offer forwarded, FlexRequest tsoRequest, CancellationToken cancellationToken) =>
        EmitAsync(forwarded.CpoId, EventTypes.OfferForwarded, tsoRequest.Id, new
        {
            offerId = forwarded.Id, forwardedFrom = forwarded.ForwardedFrom, tsoId = tsoRequest.DsoId, nodeId = tsoRequest.TransformerId,
            deliveryStart = tsoRequest.Delivery.Start, deliveryEnd = tsoRequest.Delivery.End, energyKwh = Api.Wire.Kwh(forwarded.Energy.Value),
            priceEurPerKwh = Api.Wire.EurPerKwh(forwarded.Price.Value), gateClosure = tsoRequest.GateClosure,
        }, null, cancellationToken);

    /// <summary>
    /// Every event the request's state implies so far (gate closed; funding failed, or award and activation; verification
    /// result; settlement or unpaid), each once per recipient. Called by the gate cycle whenever it reads a request it advances, so an
    /// event whose transition was saved just before a crash is still sent on the next tick.
    /// </summary>
    public async Task RequestChangedAsync(FlexRequest r, CancellationToken cancellationToken)
    {
        if (r.State is RequestState.Open or RequestState.Cancelled) return;
        var winners = r.Awards.Select(a => a.CpoId).Distinct().ToList();
        foreach (var recipient in winners.Prepend(r.DsoId))
            await EmitAsync(recipient, EventTypes.GateClosed, r.Id,
                new { state = r.State == RequestState.Unfilled ? "Unfilled" : "Cleared", gateClosure = r.GateClosure, fill = Fill(r, recipient), awards = Awards(r, recipient) },
                null, cancellationToken);
        if (r.State is RequestState.Unfilled or RequestState.Cleared) return;
        if (r.State == RequestState.FundingFailed)
        {
            // Terminal: nothing was locked, so the winners are told not to deliver.
            foreach (var recipient in winners.Prepend(r.DsoId))
                await EmitAsync(recipient, EventTypes.FundingFailed, r.Id, new { state = r.State.ToString(), reason = r.StateReason, awards = Awards(r, recipient) }, null, cancellationToken);
            return;
        }

        foreach (var recipient in winners.Prepend(r.DsoId))
            await EmitAsync(recipient, EventTypes.Award, r.Id, new { awards = Awards(r, recipient) }, null, cancellationToken);
        // There is no separate activation step: the awarded CPOs are told to deliver as soon as the funds are locked.
        foreach (var recipient in winners)
            await EmitAsync(recipient, EventTypes.Activation, r.Id,
                new { deliveryStart = r.Delivery.Start, deliveryEnd = r.Delivery.End, direction = r.Direction.ToString(), awards = Awards(r, recipient) }, null, cancellationToken);
        if (r.State == RequestState.Awarded) return;

        if (r.Verifications.Count > 0) // an award refunded before its verification has none
            foreach (var recipient in winners.Prepend(r.DsoId))
                await EmitAsync(recipient, EventTypes.VerificationResult, r.Id, new { verifications = Verifications(r, recipient) }, null, cancellationToken);
        if (r.State == RequestState.Unpaid)
        {
            foreach (var recipient in winners.Prepend(r.DsoId))
                await EmitAsync(recipient, EventTypes.Unpaid, r.Id, new { state = r.State.ToString(), reason = r.StateReason, awards = Awards(r, recipient) }, null, cancellationToken);
            return;
        }
        if (r.State != RequestState.Settled) return;

        foreach (var recipient in winners.Prepend(r.DsoId))
            await EmitAsync(recipient, EventTypes.Settlement, r.Id, new { payments = Verifications(r, recipient) }, null, cancellationToken);
    }

    /// <summary>
    /// <c>gate-cycle.needs-attention</c> for each request of the stopped cycle, to its DSO and to the market operator:
    /// once per stop (a cycle stopped again after a resume is announced again).
    /// </summary>
    public async Task GateCycleNeedsAttentionAsync(GateCycle cycle, IEnumerable<FlexRequest> requests, CancellationToken cancellationToken)
    {
        var attention = cycle.Attention ?? throw new ArgumentException($"gate cycle {cycle.Id} does not need attention", nameof(cycle));
        var data = new { gateCycleId = cycle.Id, state = cycle.State.ToString(), step = attention.Step, reason = attention.Reason, since = attention.Since };
        // The stop's place in the cycle's history tells one stop from the next (a fixed clock gives them the same time).
        var occurrence = cycle.History.Count.ToString(System.Globalization.CultureInfo.InvariantCulture);
        foreach (var r in requests)
            foreach (var recipient in new[] { r.DsoId, market.Value.OperatorId })
                await EmitAsync(recipient, EventTypes.GateCycleNeedsAttention, r.Id, data, null, cancellationToken, occurrence);
    }

    /// <summary>
    /// <c>grid-state</c>: the node's state for a day changed (its day and version), once per version and recipient (a retried refresh sends what a crash
    /// held back, and nothing twice). Its subject is <c>nodeId</c> instead of <c>requestId</c>.
    /// </summary>
    public async Task GridStateChangedAsync(GridStateDay state, IEnumerable<string> recipients, CancellationToken cancellationToken)
    {
        var day = state.Day.ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture);
        // The day and version only: a day of one-minute intervals would not fit an event; GET .../state?day= has them.
        var data = new { day, version = state.Version };
        foreach (var recipient in recipients.Distinct(StringComparer.Ordinal))
            await EmitAsync(recipient, EventTypes.GridState, state.NodeId, data,
                recipient == CpoAudience ? await store.ListSubscriptionsOfRoleAsync(Role.Cpo, cancellationToken) : null,
                cancellationToken, $"{day}:v{state.Version}", subject: "nodeId");
    }

    private static List<object> Awards(FlexRequest r, string recipient) =>
        r.Awards.Select((a, i) => (a, i)).Where(x => recipient == r.DsoId || x.a.CpoId == recipient)
            .Select(x => (object)new { index = x.i, awardId = x.a.Id, offerId = x.a.OfferId, cpoId = x.a.CpoId, stationIds = x.a.StationIds, energyKwh = Api.Wire.Kwh(x.a.Energy.Value), priceEurPerKwh = Api.Wire.EurPerKwh(x.a.Price.Value) })
            .ToList();

    /// <summary>The request's fill; the rejection counts go to its DSO only (CPOs never learn about other offers).</summary>
    private static object Fill(FlexRequest r, string recipient) => Api.FillResponse.From(r.Fill()!, recipient == r.DsoId);

    private static List<object> Verifications(FlexRequest r, string recipient) =>
        r.Awards.Zip(r.Verifications).Where(x => recipient == r.DsoId || x.First.CpoId == recipient)
            .Select(x => (object)new
            {
                awardId = x.First.Id, cpoId = x.First.CpoId, awardedKwh = Api.Wire.Kwh(x.First.Energy.Value), deliveredKwh = Api.Wire.Kwh(x.Second.Delivered.Value),
                succeeded = x.Second.Succeeded, outcome = x.Second.Outcome.ToString(), payoutEur = Api.Wire.Eur(x.Second.Payout.Value),
                failureReason = x.Second.Outcome == DeliveryOutcome.NotDelivered ? x.Second.FailureReason : null,
            })
            .ToList();

    private async Task EmitAsync(
        string recipient, string type, string requestId, object data, IReadOnlyList<WebhookSubscription>? subscriptions, CancellationToken cancellationToken,
        string? occurrence = null, string subject = "requestId")
    {
        var id = occurrence is null ? $"{requestId}:{type}:{recipient}" : $"{requestId}:{type}:{recipient}:{occurrence}";
        if (await store.EventExistsAsync(recipient, id, cancellationToken)) return;
        subscriptions ??= await store.ListSubscriptionsAsync(recipient, cancellationToken);
        var now = clock.GetUtcNow();
        var body = JsonSerializer.Serialize(new Dictionary<string, object?> { ["id"] = id, ["type"] = type, ["occurredAt"] = now, [subject] = requestId, ["data"] = data }, Json);
        foreach (var s in subscriptions.Where(s => s.Wants(type)))
            await store.AddDeliveryAsync(new WebhookDelivery(WebhookDelivery.IdFor(s.Id, id), s.Id, s.ParticipantId, id, type, body, now) { NextAttemptAt = now },
                now, cancellationToken);
        // Stamped in the stream when stored, not when it occurred: a big fan-out takes a while, and a stream that has read
        // past a time must not then receive an event stamped before it.
        await store.TryAddEventAsync(new NotificationEvent(id, type, now, requestId, recipient, body), clock.GetUtcNow(), cancellationToken);
    }
}
