using System.Net;
using System.Net.ServerSentEvents;
using System.Runtime.CompilerServices;
using FlexChain.Domain;
using FlexChain.Functions.Auth;
using FlexChain.Functions.Hosting;
using FlexChain.Functions.Notifications;
using FlexChain.Functions.Storage;
using FluentValidation;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;

namespace FlexChain.Functions.Api;

/// <summary>
/// Notifications for every participant: webhook subscriptions (signed deliveries with retries, a delivery log,
/// redelivery on demand) and a server-sent event stream of the caller's events for dashboards.
/// </summary>
public static class NotificationsApi
{
    /// <summary>Subscriptions one participant may hold.</summary>
    public const int MaxSubscriptions = 10;

    public static RouteGroupBuilder MapNotificationsApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/v1").WithTags("Notifications").RequireAuthorization();
        group.MapPost("/webhooks", CreateWebhook).Validate<CreateWebhookRequest>().Idempotent<CreateWebhookRequest>().CarriesSecret();
        group.MapGet("/webhooks", ListWebhooks);
        group.MapDelete("/webhooks/{id}", DeleteWebhook);
        group.MapGet("/webhooks/{id}/deliveries", ListDeliveries);
        group.MapPost("/webhooks/deliveries/{deliveryId}/redeliver", Redeliver);
        group.MapGet("/events", StreamEvents).RequireRateLimiting(RateLimits.EventStream);
        return group;
    }

    /// <summary>Subscribes the caller's URL to event types; the answer carries the signing secret, shown this once.</summary>
    public static async Task<Created<WebhookResponse>> CreateWebhook(
        CreateWebhookRequest body, HttpContext http, MarketStore store, WebhookSecrets secrets, TimeProvider clock, CancellationToken cancellationToken)
    {
        var me = http.User.ParticipantId();
        if ((await store.ListSubscriptionsAsync(me, cancellationToken)).Count >= MaxSubscriptions)
            throw new ApiProblemException(409, "url", "subscription-limit", $"A participant may hold at most {MaxSubscriptions} webhook subscriptions; delete one first.");
        var (id, secret) = (Ids.New("wh", clock), WebhookSignature.NewSecret());
        var subscription = new WebhookSubscription(id, me, http.User.Role(), new Uri(body.Url!), body.Events!.Distinct().ToList(), secrets.Protect(id, secret), clock.GetUtcNow());
        await store.AddSubscriptionAsync(subscription, cancellationToken);
        return TypedResults.Created($"/v1/webhooks/{id}", WebhookResponse.From(subscription, secret));
    }

    public static async Task<Ok<ListResponse<WebhookResponse>>> ListWebhooks(HttpContext http, MarketStore store, CancellationToken cancellationToken) =>
        TypedResults.Ok(new ListResponse<WebhookResponse>(
            (await store.ListSubscriptionsAsync(http.User.ParticipantId(), cancellationToken)).Select(s => WebhookResponse.From(s)).ToList(), null));

    /// <summary>Ends a subscription; its pending deliveries end with it (dead-lettered, "subscription-deleted").</summary>
    public static async Task<Results<NoContent, NotFound>> DeleteWebhook(string id, HttpContext http, MarketStore store, CancellationToken cancellationToken) =>
        await store.DeleteSubscriptionAsync(http.User.ParticipantId(), id, cancellationToken) ? TypedResults.NoContent() : TypedResults.NotFound();

    /// <summary>The delivery log of one of the caller's subscriptions: every delivery with each attempt's time, status and error.</summary>
    public static async Task<Results<Ok<ListResponse<DeliveryResponse>>, NotFound>> ListDeliveries(
        string id, int? limit, string? cursor, HttpContext http, MarketStore store, CancellationToken cancellationToken)
    {
        var me = http.User.ParticipantId();
        if (await store.GetSubscriptionAsync(me, id, cancellationToken) is null) return TypedResults.NotFound();
        var page = await store.ListDeliveriesAsync(me, id, ApiConventions.Limit(limit), cursor, cancellationToken);
        return TypedResults.Ok(page.ToResponse(DeliveryResponse.From));
    }

    /// <summary>
    /// Sends a delivery again now, whatever its state, with a fresh round of attempts, while its budget lasts (attempts
    /// in all and age, <see cref="NotificationOptions"/>); a dead-lettered delivery is never sent again.
    /// </summary>
    public static async Task<Results<Accepted<DeliveryResponse>, NotFound>> Redeliver(
        string deliveryId, HttpContext http, MarketStore store, TimeProvider clock, IOptions<NotificationOptions> options, CancellationToken cancellationToken)
    {
        var me = http.User.ParticipantId();
        if (await store.GetDeliveryAsync(me, deliveryId, cancellationToken) is not { } stored) return TypedResults.NotFound();
        var now = clock.GetUtcNow();
        if (stored.Value.State == DeliveryState.DeadLettered || WebhookDispatcher.BudgetSpent(stored.Value, now, options.Value))
            throw new ApiProblemException(409, "deliveryId", "redelivery-budget",
                $"The delivery's budget is spent ({options.Value.MaxTotalAttempts} attempts in all, or {options.Value.MaxDeliveryAge.TotalDays:0.#} days old): it is dead-lettered.");
        var again = stored.Value with { State = DeliveryState.Pending, RoundAttempts = 0, Redelivering = true, NextAttemptAt = now };
        if (await store.TryReplaceDeliveryAsync(again, stored.ETag, cancellationToken) is null)
            throw new ApiProblemException(409, "deliveryId", "concurrent-update", "The delivery is being attempted right now; retry shortly.");
        await store.SetDueAsync(me, deliveryId, now, cancellationToken);
        return TypedResults.Accepted($"/v1/webhooks/{again.SubscriptionId}/deliveries", DeliveryResponse.From(again));
    }

    /// <summary>
    /// The caller's events as server-sent events (<c>id</c>: the event id, <c>event</c>: its type, <c>data</c>: the same
    /// JSON a webhook receives), from now on, or after the event named by <c>Last-Event-ID</c> when reconnecting. Events
    /// come in the order they were stored (one that lands a moment late comes when it is found, never twice).
    /// </summary>
    public static async Task StreamEvents(
        HttpContext http, MarketStore store, TimeProvider clock, IOptions<NotificationOptions> options, CancellationToken cancellationToken)
    {
        var me = http.User.ParticipantId();
        string[] recipients = http.User.Role() == Role.Cpo ? [me, NotificationPublisher.CpoAudience] : [me];
        var lastEventId = http.Request.Headers["Last-Event-ID"].ToString();
        if (!RouteValueGuardMiddleware.IsSafeKey(lastEventId))
            throw new ApiProblemException(400, "Last-Event-ID", "format", "Last-Event-ID must be the id of an event this stream sent.");
        http.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpResponseBodyFeature>()?.DisableBuffering();
        http.Response.ContentType = "text/event-stream";
        http.Response.Headers.CacheControl = "no-cache";
        await http.Response.WriteAsync(": stream open\n\n", cancellationToken);
        await http.Response.Body.FlushAsync(cancellationToken);
        try
        {
            await foreach (var item in EventsAsync(store, clock, recipients, lastEventId, options.Value.PollInterval, cancellationToken))
            {
                // The body is one line of JSON, so one data field carries it.
                await http.Response.WriteAsync($"id: {item.EventId}\nevent: {item.EventType}\ndata: {item.Data}\n\n", cancellationToken);
                await http.Response.Body.FlushAsync(cancellationToken);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // The client went away.
        }
    }

    /// <summary>
    /// How far before the newest event sent each poll reads again: an event stored by one instance can land a moment
    /// after one stamped later by another (write latency, clock skew between instances). Events already sent are skipped.
    /// </summary>
    private static readonly TimeSpan LateArrivals = TimeSpan.FromSeconds(5);

    /// <summary>Events read per page of a recipient's stream.</summary>
    private const int StreamPage = 100;

    private static async IAsyncEnumerable<SseItem<string>> EventsAsync(
        MarketStore store, TimeProvider clock, string[] recipients, string lastEventId, TimeSpan poll, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        // Stream positions order the events of every recipient alike; nothing at or before the floor is sent.
        var floor = MarketStore.StreamPosition(clock.GetUtcNow());
        if (lastEventId.Length > 0)
            foreach (var r in recipients)
                if (await store.GetEventAsync(r, lastEventId, cancellationToken) is { } last)
                    floor = last.Position;
        var sent = new HashSet<string>(StringComparer.Ordinal);   // positions after `from` already sent
        DateTimeOffset? newest = null;
        // Polls the table rather than listening in memory, so a stream sees events from every instance of the app.
        while (!cancellationToken.IsCancellationRequested)
        {
            var from = newest is { } n && string.CompareOrdinal(MarketStore.StreamPosition(n - LateArrivals), floor) > 0
                ? MarketStore.StreamPosition(n - LateArrivals)
                : floor;
            var fresh = new List<StreamedEvent>();
            foreach (var r in recipients)
                for (string? cursor = null; ;)
                {
                    var page = await store.ListEventsAsync(r, from, StreamPage, cursor, cancellationToken);
                    fresh.AddRange(page.Items);
                    if ((cursor = page.NextCursor) is null) break;
                }
            sent.RemoveWhere(p => string.CompareOrdinal(p, from) <= 0);
            foreach (var e in fresh.OrderBy(e => e.Position, StringComparer.Ordinal))
            {
                if (!sent.Add(e.Position)) continue;
                if (newest is null || e.RecordedAt > newest) newest = e.RecordedAt;
                yield return new SseItem<string>(e.Event.Body, e.Event.Type) { EventId = e.Event.Id };
            }
            try { await Task.Delay(poll, cancellationToken); }
            catch (OperationCanceledException) { yield break; }
        }
    }

    public sealed class CreateWebhookValidator : AbstractValidator<CreateWebhookRequest>
    {
        public CreateWebhookValidator(IOptions<NotificationOptions> options, IHostEnvironment environment)
        {
            var allowPrivate = options.Value.AllowPrivateTargets;
            var httpsOnly = !environment.IsDevelopment();
            RuleFor(x => x.Url).NotEmpty().MaximumLength(2000)
                .Must(u => Uri.TryCreate(u, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https" && uri.UserInfo.Length == 0 && uri.Fragment.Length == 0)
                .WithMessage("'Url' must be an absolute http or https URL without credentials or fragment.").WithErrorCode("url")
                .Must(u => !httpsOnly || new Uri(u!).Scheme == "https").WithMessage("'Url' must be an https URL.").WithErrorCode("https")
                // Names are checked where it matters, on every delivery (WebhookTargets); address literals fail early.
                .Must(u => allowPrivate || !IsPrivate(new Uri(u!)))
                .WithMessage("'Url' must not point at a loopback, private or otherwise non-public address.").WithErrorCode("public-url");
            RuleFor(x => x.Events).NotEmpty().Must(e => e is null || e.Count <= EventTypes.All.Count * 2)
                .WithMessage("Too many event types.").WithErrorCode("count");
            RuleForEach(x => x.Events).NotEmpty().Must(e => EventTypes.All.Contains(e))
                .WithMessage($"Each event type must be one of {string.Join(", ", EventTypes.All)}.").WithErrorCode("event-type");
        }

        private static bool IsPrivate(Uri uri) => IPAddress.TryParse(uri.IdnHost.Trim('[', ']'), out var ip) && !WebhookTargets.IsPublic(ip);
    }
}

/// <summary><c>url</c>: where to POST (absolute http or https); <c>events</c>: the event types to receive.</summary>
public sealed record CreateWebhookRequest(string? Url, IReadOnlyList<string>? Events);

/// <summary>A subscription; <c>secret</c> only in the answer that created it.</summary>
public sealed record WebhookResponse(string Id, string Url, IReadOnlyList<string> Events, DateTimeOffset CreatedAt, string? Secret)
{
    /// <param name="secret">The plain secret, given only when answering the creation.</param>
    public static WebhookResponse From(WebhookSubscription s, string? secret = null) => new(s.Id, s.Url.ToString(), s.EventTypes, s.CreatedAt, secret);
}

public sealed record DeliveryAttemptResponse(int Number, DateTimeOffset At, int? Status, string? Error, bool Redelivery);

public sealed record DeliveryResponse(
    string Id, string SubscriptionId, string EventId, string EventType, string State, DateTimeOffset CreatedAt, DateTimeOffset? NextAttemptAt,
    IReadOnlyList<DeliveryAttemptResponse> Attempts)
{
    public static DeliveryResponse From(WebhookDelivery d) =>
        new(d.Id, d.SubscriptionId, d.EventId, d.EventType, d.State.ToString(), d.CreatedAt, d.State == DeliveryState.Pending ? d.NextAttemptAt : null,
            d.Attempts.Select(a => new DeliveryAttemptResponse(a.Number, a.At, a.Status, a.Error, a.Redelivery)).ToList());
}
