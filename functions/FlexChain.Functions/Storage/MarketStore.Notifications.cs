using System.Globalization;
using Azure;
using FlexChain.Domain;
using FlexChain.Functions.Notifications;
using Azure.Data.Tables;
using FlexChain.Storage;

namespace FlexChain.Functions.Storage;

/// <summary>
/// A row of the due-delivery index: the delivery, when it is due, and the ETag the row was read or written with (so that
/// clearing it never removes a row someone wrote again since).
/// </summary>
public readonly record struct DueDelivery(string ParticipantId, string DeliveryId, DateTimeOffset Due, ETag ETag);

// ---- notifications: webhook subscriptions, events, deliveries and the due-delivery index ----
// webhooks       PK participant id, RK subscription id (Role and Events beside Data, for the fan-out to every CPO)
// notifications  PK recipient (participant id or role:Cpo), RK {recorded ticks}_{event id}: the recipient's stream, read by
//                key range; beside each, RK ~id~{event id} (Position: the stream row's key), inserted with it in one
//                transaction: its insert is the de-duplication and its point read finds an event by id
// deliveries     PK subscriber's participant id, RK delivery id (SubscriptionId beside Data): the delivery log; beside each
//                ended delivery, RK ~done~{end ticks}_{delivery id}, written with its final state, for retention
// deliverydue    PK {due minute yyyyMMddHHmm}~{00..0f} (16 shards by delivery id), RK {due ticks}_{participant}_{delivery id}:
//                a row per pending delivery at its next attempt, read by key range up to now. A row is moved by writing
//                the new one, then deleting the old: a stale row left by a crash is harmless, because the dispatcher
//                decides on the delivery itself (its state and NextAttemptAt, claimed under its ETag).
public sealed partial class MarketStore
{
    /// <summary>Shards of each minute of the due-delivery index (a fan-out to every CPO makes thousands due at once).</summary>
    public const int DueShards = 16;

    private const string EventIdPrefix = "~id~";
    private const string EndedPrefix = "~done~";
    private const string PositionProperty = "Position";
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

    /// <summary>Whether <paramref name="eventId"/> is recorded for <paramref name="recipient"/> (a point read of its id row).</summary>
    public async Task<bool> EventExistsAsync(string recipient, string eventId, CancellationToken cancellationToken) =>
        (await Notifications.GetEntityIfExistsAsync<TableEntity>(recipient, EventIdPrefix + eventId, ["PartitionKey"], cancellationToken)).HasValue;

    /// <summary>
    /// Records an event in its recipient's stream at <paramref name="recordedAt"/>; false when it was already recorded (a
    /// retried transition). The stream row and the id row are inserted in one transaction, so an event is recorded at most once.
    /// </summary>
    public async Task<bool> TryAddEventAsync(NotificationEvent e, DateTimeOffset recordedAt, CancellationToken cancellationToken)
    {
        var position = StreamPosition(recordedAt) + "_" + e.Id;
        try
        {
            await Notifications.SubmitCheckedTransactionAsync(
            [
                new TableTransactionAction(TableTransactionActionType.Add, ToEntity(e.Recipient, position, e)),
                new TableTransactionAction(TableTransactionActionType.Add, new TableEntity(e.Recipient, EventIdPrefix + e.Id) { [PositionProperty] = position }),
            ], cancellationToken);
            return true;
        }
        catch (TableTransactionFailedException x) when (x.Status == 409)
        {
            return false;
        }
    }

    /// <summary>The event <paramref name="eventId"/> of <paramref name="recipient"/> at its stream position; null when it is not (or no longer) recorded.</summary>
    public async Task<StreamedEvent?> GetEventAsync(string recipient, string eventId, CancellationToken cancellationToken)
    {
        var id = await Notifications.GetEntityIfExistsAsync<TableEntity>(recipient, EventIdPrefix + eventId, [PositionProperty], cancellationToken);
        if (!id.HasValue || id.Value!.GetString(PositionProperty) is not { } position) return null;
        return await GetAsync<NotificationEvent>(Notifications, recipient, position, cancellationToken) is { } e ? Streamed(position, e.Value) : null;
    }

    /// <summary>
    /// One page of <paramref name="recipient"/>'s events after the stream position <paramref name="after"/> (exclusive),
    /// in stream order: a key-range read of the recipient's partition. Follow <see cref="ListPage{T}.NextCursor"/> for more.
    /// </summary>
    /// <exception cref="DomainException">The cursor is not one this list returned for the same recipient and position.</exception>
    public Task<ListPage<StreamedEvent>> ListEventsAsync(string recipient, string after, int limit, string? cursor, CancellationToken cancellationToken) =>
        PageAsync(Notifications, TableClient.CreateQueryFilter($"PartitionKey eq {recipient} and RowKey gt {after} and RowKey lt {"~"}"), limit, cursor,
            e => Streamed(e.RowKey, Deserialize<NotificationEvent>(e)), cancellationToken);

    /// <summary>The stream position that every event recorded at or after <paramref name="t"/> lies after.</summary>
    public static string StreamPosition(DateTimeOffset t) => Ticks(t);

    private static StreamedEvent Streamed(string position, NotificationEvent e) =>
        new(position, new DateTimeOffset(long.Parse(position[..19], CultureInfo.InvariantCulture), TimeSpan.Zero), e);

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

    /// <summary>
    /// Replaces a delivery with If-Match; its new ETag, or null when it changed meanwhile. An ended delivery (delivered or
    /// failed) is indexed by its end time in the same transaction, for retention.
    /// </summary>
    public async Task<ETag?> TryReplaceDeliveryAsync(WebhookDelivery d, ETag etag, CancellationToken cancellationToken)
    {
        try
        {
            if (d.State == DeliveryState.Pending)
                return (await Deliveries.UpdateEntityAsync(DeliveryEntity(d), etag, TableUpdateMode.Replace, cancellationToken)).Headers.ETag;
            return (await Deliveries.SubmitCheckedTransactionAsync(
            [
                new TableTransactionAction(TableTransactionActionType.UpdateReplace, DeliveryEntity(d), etag),
                new TableTransactionAction(TableTransactionActionType.UpsertReplace, new TableEntity(d.ParticipantId, EndedKey(d))),
            ], cancellationToken))[0].Headers.ETag;
        }
        catch (RequestFailedException x) when (x.Status is 412 or 404)
        {
            return null;
        }
    }

    public Task<ListPage<WebhookDelivery>> ListDeliveriesAsync(string participantId, string subscriptionId, int limit, string? cursor, CancellationToken cancellationToken) =>
        PageAsync(Deliveries, TableClient.CreateQueryFilter($"PartitionKey eq {participantId} and SubscriptionId eq {subscriptionId}"), limit, cursor,
            Deserialize<WebhookDelivery>, cancellationToken);

    // ---- the due-delivery index: by due minute and a shard of the delivery id, like the gate schedule ----

    /// <summary>
    /// Index rows due at or before <paramref name="now"/>, oldest first: one range read over the partitions up to now's
    /// minute. A row may be stale (see the key notes above): decide on the delivery itself.
    /// </summary>
    public async Task<IReadOnlyList<DueDelivery>> GetDueDeliveriesAsync(DateTimeOffset now, CancellationToken cancellationToken)
    {
        var due = new List<DueDelivery>();
        var filter = TableClient.CreateQueryFilter($"PartitionKey lt {MinuteKey(now) + "~~"} and RowKey lt {Ticks(now) + "~"}");
        await foreach (var e in DeliveryDue.QueryAsync<TableEntity>(filter, cancellationToken: cancellationToken))
            due.Add(new DueDelivery(e.GetString("ParticipantId")!, e.GetString("DeliveryId")!,
                new DateTimeOffset(long.Parse(e.RowKey[..19], CultureInfo.InvariantCulture), TimeSpan.Zero), e.ETag));
        return due.OrderBy(d => d.Due).ThenBy(d => d.DeliveryId, StringComparer.Ordinal).ToList();
    }

    /// <summary>Marks the delivery due at <paramref name="due"/>; returns the index row, to move or clear later.</summary>
    public async Task<DueDelivery> SetDueAsync(string participantId, string deliveryId, DateTimeOffset due, CancellationToken cancellationToken)
    {
        var row = new DueDelivery(participantId, deliveryId, due, default);
        var entity = TableLimits.Check(new TableEntity(DuePartition(row), DueRowKey(row)) { ["ParticipantId"] = participantId, ["DeliveryId"] = deliveryId });
        return row with { ETag = (await DeliveryDue.UpsertEntityAsync(entity, TableUpdateMode.Replace, cancellationToken)).Headers.ETag ?? default };
    }

    /// <summary>
    /// Moves an index row to <paramref name="due"/> (another partition as a rule): the new row is written first and the
    /// old one cleared after, so a crash between the two leaves a stale row, never none.
    /// </summary>
    public async Task<DueDelivery> MoveDueAsync(DueDelivery row, DateTimeOffset due, CancellationToken cancellationToken)
    {
        var moved = await SetDueAsync(row.ParticipantId, row.DeliveryId, due, cancellationToken);
        if (moved.Due != row.Due) await ClearDueAsync(row, cancellationToken);
        return moved;
    }

    /// <summary>Deletes an index row unless it was written again since <paramref name="row"/> was read or written (then it is someone else's).</summary>
    public async Task ClearDueAsync(DueDelivery row, CancellationToken cancellationToken)
    {
        try
        {
            await DeliveryDue.DeleteEntityAsync(DuePartition(row), DueRowKey(row), row.ETag == default ? ETag.All : row.ETag, cancellationToken);
        }
        catch (RequestFailedException e) when (e.Status == 412)
        {
        }
    }

    private static string DuePartition(DueDelivery row) => $"{MinuteKey(row.Due)}~{Shards.Of(row.DeliveryId, DueShards)}";

    private static string DueRowKey(DueDelivery row) => $"{Ticks(row.Due)}_{row.ParticipantId}_{row.DeliveryId}";

    /// <summary>The key of an ended delivery's retention index row: when it ended (its last attempt) and its id.</summary>
    private static string EndedKey(WebhookDelivery d) => $"{EndedPrefix}{Ticks(d.Attempts.Count > 0 ? d.Attempts[^1].At : d.CreatedAt)}_{d.Id}";

    private static TableEntity DeliveryEntity(WebhookDelivery d)
    {
        var e = ToEntity(d.ParticipantId, d.Id, d);
        e["SubscriptionId"] = d.SubscriptionId;
        return e;
    }
}
