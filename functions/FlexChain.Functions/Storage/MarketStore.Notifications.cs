using Azure;
using FlexChain.Domain;
using FlexChain.Functions.Notifications;
using Azure.Data.Tables;
using FlexChain.Storage;

namespace FlexChain.Functions.Storage;

// ---- notifications: webhook subscriptions, events, deliveries and the due-delivery index ----
// webhooks       PK participant id, RK subscription id (Role and Events beside Data, for the fan-out to every CPO)
// notifications  PK recipient (participant id or role:Cpo), RK event id: the insert is the de-duplication, At (ticks) orders the stream
// deliveries     PK subscriber's participant id, RK delivery id (SubscriptionId beside Data): the delivery log
// deliverydue    PK "due", RK "{participant}|{delivery id}", Due (ticks): one row per pending delivery, deleted when it ends
public sealed partial class MarketStore
{
    private const string DuePartition = "due";
    private static readonly string[] NotificationTables = ["webhooks", "notifications", "deliveries", "deliverydue"];

    private TableClient Webhooks => service.GetTableClient("webhooks");
    private TableClient Notifications => service.GetTableClient("notifications");
    private TableClient Deliveries => service.GetTableClient("deliveries");
    private TableClient DeliveryDue => service.GetTableClient("deliverydue");

    public async Task InitializeNotificationsAsync(CancellationToken cancellationToken)
    {
        foreach (var t in NotificationTables) await service.CreateTableIfNotExistsAsync(t, cancellationToken);
    }

    // ---- subscriptions ----

    public Task AddSubscriptionAsync(WebhookSubscription s, CancellationToken cancellationToken)
    {
        var e = ToEntity(s.ParticipantId, s.Id, s);
        e["Role"] = s.Role.ToString();
        e["Events"] = "," + string.Join(',', s.EventTypes) + ",";
        return Webhooks.AddEntityAsync(e, cancellationToken);
    }

    public async Task<WebhookSubscription?> GetSubscriptionAsync(string participantId, string id, CancellationToken cancellationToken) =>
        (await GetAsync<WebhookSubscription>(Webhooks, participantId, id, cancellationToken))?.Value;

    public Task<List<WebhookSubscription>> ListSubscriptionsAsync(string participantId, CancellationToken cancellationToken) =>
        QueryAsync<WebhookSubscription>(Webhooks, TableClient.CreateQueryFilter($"PartitionKey eq {participantId}"), cancellationToken);

    /// <summary>Every subscription of participants in <paramref name="role"/> (a scan of the subscriptions, filtered by the service).</summary>
    public Task<List<WebhookSubscription>> ListSubscriptionsOfRoleAsync(Role role, CancellationToken cancellationToken) =>
        QueryAsync<WebhookSubscription>(Webhooks, TableClient.CreateQueryFilter($"Role eq {role.ToString()}"), cancellationToken);

    public async Task<bool> DeleteSubscriptionAsync(string participantId, string id, CancellationToken cancellationToken) =>
        (await Webhooks.DeleteEntityAsync(participantId, id, ETag.All, cancellationToken)).Status != 404;

    // ---- events ----

    public async Task<bool> EventExistsAsync(string recipient, string eventId, CancellationToken cancellationToken) =>
        (await Notifications.GetEntityIfExistsAsync<TableEntity>(recipient, eventId, ["PartitionKey"], cancellationToken)).HasValue;

    /// <summary>Records an event; false when it was already recorded (a retried transition).</summary>
    public async Task<bool> TryAddEventAsync(NotificationEvent e, CancellationToken cancellationToken)
    {
        var entity = ToEntity(e.Recipient, e.Id, e);
        entity["At"] = e.OccurredAt.UtcTicks;
        try
        {
            await Notifications.AddEntityAsync(entity, cancellationToken);
            return true;
        }
        catch (RequestFailedException x) when (x.Status == 409)
        {
            return false;
        }
    }

    public async Task<NotificationEvent?> GetEventAsync(string recipient, string eventId, CancellationToken cancellationToken) =>
        (await GetAsync<NotificationEvent>(Notifications, recipient, eventId, cancellationToken))?.Value;

    /// <summary>Events for <paramref name="recipient"/> that occurred at or after <paramref name="since"/>, in time order.</summary>
    public async Task<List<NotificationEvent>> ListEventsSinceAsync(string recipient, DateTimeOffset since, CancellationToken cancellationToken) =>
        (await QueryAsync<NotificationEvent>(Notifications, TableClient.CreateQueryFilter($"PartitionKey eq {recipient} and At ge {since.UtcTicks}"), cancellationToken))
        .OrderBy(e => e.OccurredAt).ThenBy(e => e.Id, StringComparer.Ordinal).ToList();

    // ---- deliveries ----

    /// <summary>
    /// Creates a pending delivery due at <paramref name="due"/> unless it exists. The delivery is written before its due
    /// row; a fan-out retried after a crash between the two writes the due row of a delivery that was never attempted.
    /// </summary>
    public async Task AddDeliveryAsync(WebhookDelivery d, DateTimeOffset due, CancellationToken cancellationToken)
    {
        try
        {
            await Deliveries.AddEntityAsync(DeliveryEntity(d), cancellationToken);
        }
        catch (RequestFailedException x) when (x.Status == 409)
        {
            if ((await GetDeliveryAsync(d.ParticipantId, d.Id, cancellationToken))?.Value is not { State: DeliveryState.Pending, Attempts.Count: 0 }) return;
        }
        await SetDueAsync(d.ParticipantId, d.Id, due, cancellationToken);
    }

    public async Task<Stored<WebhookDelivery>?> GetDeliveryAsync(string participantId, string id, CancellationToken cancellationToken) =>
        await GetAsync<WebhookDelivery>(Deliveries, participantId, id, cancellationToken);

    /// <summary>Replaces a delivery with If-Match; its new ETag, or null when it changed meanwhile.</summary>
    public async Task<ETag?> TryReplaceDeliveryAsync(WebhookDelivery d, ETag etag, CancellationToken cancellationToken)
    {
        try
        {
            return (await Deliveries.UpdateEntityAsync(DeliveryEntity(d), etag, TableUpdateMode.Replace, cancellationToken)).Headers.ETag;
        }
        catch (RequestFailedException x) when (x.Status is 412 or 404)
        {
            return null;
        }
    }

    public Task<ListPage<WebhookDelivery>> ListDeliveriesAsync(string participantId, string subscriptionId, int limit, string? cursor, CancellationToken cancellationToken) =>
        PageAsync(Deliveries, TableClient.CreateQueryFilter($"PartitionKey eq {participantId} and SubscriptionId eq {subscriptionId}"), limit, cursor,
            Deserialize<WebhookDelivery>, cancellationToken);

    /// <summary>Deliveries due at or before <paramref name="now"/>, as (participant id, delivery id), oldest first.</summary>
    public async Task<IReadOnlyList<(string ParticipantId, string DeliveryId)>> GetDueDeliveriesAsync(DateTimeOffset now, CancellationToken cancellationToken)
    {
        var due = new List<(long, string, string)>();
        await foreach (var e in DeliveryDue.QueryAsync<TableEntity>(TableClient.CreateQueryFilter($"PartitionKey eq {DuePartition} and Due le {now.UtcTicks}"), cancellationToken: cancellationToken))
        {
            var bar = e.RowKey.IndexOf('|');
            due.Add((e.GetInt64("Due") ?? 0, e.RowKey[..bar], e.RowKey[(bar + 1)..]));
        }
        return due.OrderBy(d => d.Item1).Select(d => (d.Item2, d.Item3)).ToList();
    }

    public Task SetDueAsync(string participantId, string deliveryId, DateTimeOffset due, CancellationToken cancellationToken) =>
        DeliveryDue.UpsertEntityAsync(new TableEntity(DuePartition, participantId + "|" + deliveryId) { ["Due"] = due.UtcTicks }, TableUpdateMode.Replace, cancellationToken);

    public Task ClearDueAsync(string participantId, string deliveryId, CancellationToken cancellationToken) =>
        DeliveryDue.DeleteEntityAsync(DuePartition, participantId + "|" + deliveryId, ETag.All, cancellationToken);

    private static TableEntity DeliveryEntity(WebhookDelivery d)
    {
        var e = ToEntity(d.ParticipantId, d.Id, d);
        e["SubscriptionId"] = d.SubscriptionId;
        return e;
    }
}
