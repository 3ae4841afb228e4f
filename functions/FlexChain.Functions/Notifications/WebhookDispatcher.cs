using System.Net.Http.Headers;
using System.Text;
using FlexChain.Functions.Storage;
using Microsoft.Extensions.Options;

namespace FlexChain.Functions.Notifications;

/// <summary>
/// Delivers due webhook deliveries. A delivery is claimed with If-Match (its next attempt moved to the end of a lease),
/// so of several instances one sends it; then the body is POSTed with its signature and the attempt is recorded: 2xx
/// ends it, anything else is retried with exponential backoff until <see cref="NotificationOptions.MaxAttempts"/>.
/// Delivery is at least once (a crash after the POST repeats it when the lease ends): receivers de-duplicate by the
/// event id or <c>X-FlexChain-Delivery</c>.
/// </summary>
public sealed partial class WebhookDispatcher(
    MarketStore store, TimeProvider clock, IOptions<NotificationOptions> options, ILogger<WebhookDispatcher> log) : BackgroundService, IDisposable
{
    private readonly NotificationOptions _options = options.Value;

    // Redirects are not followed: a subscriber's URL is the only place the market posts to.
    private readonly HttpClient _http = new(new SocketsHttpHandler { AllowAutoRedirect = false, PooledConnectionLifetime = TimeSpan.FromMinutes(5) })
    {
        Timeout = options.Value.RequestTimeout,
    };

    public override async Task StartAsync(CancellationToken cancellationToken)
    {
        await store.InitializeNotificationsAsync(cancellationToken);
        await base.StartAsync(cancellationToken);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await RunOnceAsync(stoppingToken);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                LogPollFailed(e.GetType().Name, e.Message);
            }
            // Wall-clock polling, like the local trigger driver; due times follow the market's clock.
            try { await Task.Delay(_options.PollInterval, stoppingToken); }
            catch (OperationCanceledException) { return; }
        }
    }

    /// <summary>Attempts every delivery due now; returns how many were attempted.</summary>
    public async Task<int> RunOnceAsync(CancellationToken cancellationToken)
    {
        var attempted = 0;
        foreach (var row in await store.GetDueDeliveriesAsync(clock.GetUtcNow(), cancellationToken))
        {
            try
            {
                if (await AttemptAsync(row, cancellationToken)) attempted++;
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                LogAttemptFailed(row.DeliveryId, e.GetType().Name, e.Message);
            }
        }
        return attempted;
    }

    /// <summary>
    /// Attempts the delivery of a due index row. The row may be stale (left by a crash between writing a moved row and
    /// clearing the old one, or by a redelivery), so the delivery itself decides: it is re-read, and attempted only if
    /// still pending and due by its own <see cref="WebhookDelivery.NextAttemptAt"/>, once claimed under the ETag it was
    /// read with.
    /// </summary>
    private async Task<bool> AttemptAsync(DueDelivery row, CancellationToken cancellationToken)
    {
        var now = clock.GetUtcNow();
        if (await store.GetDeliveryAsync(row.ParticipantId, row.DeliveryId, cancellationToken) is not { } stored || stored.Value.State != DeliveryState.Pending)
        {
            await store.ClearDueAsync(row, cancellationToken);
            return false;
        }
        var delivery = stored.Value;
        if (delivery.NextAttemptAt > now)
        {
            await store.MoveDueAsync(row, delivery.NextAttemptAt.Value, cancellationToken);
            return false;
        }
        var leaseEnd = now + _options.AttemptLease;
        if (await store.TryReplaceDeliveryAsync(delivery with { NextAttemptAt = leaseEnd }, stored.ETag, cancellationToken) is not { } claimed) return false;
        var lease = await store.MoveDueAsync(row, leaseEnd, cancellationToken);

        var subscription = await store.GetSubscriptionAsync(row.ParticipantId, delivery.SubscriptionId, cancellationToken);
        var (status, error) = subscription is null ? (null, "the subscription was deleted") : await PostAsync(subscription, delivery, cancellationToken);
        var at = clock.GetUtcNow();
        var round = delivery.RoundAttempts + 1;
        var succeeded = status is >= 200 and < 300;
        var final = succeeded || subscription is null || round >= _options.MaxAttempts;
        var next = delivery with
        {
            Attempts = [.. delivery.Attempts, new DeliveryAttempt(delivery.Attempts.Count + 1, at, status, error, delivery.Redelivering)],
            RoundAttempts = round,
            Redelivering = false,
            State = succeeded ? DeliveryState.Delivered : final ? DeliveryState.Failed : DeliveryState.Pending,
            NextAttemptAt = final ? null : at + Backoff(round),
        };
        if (await store.TryReplaceDeliveryAsync(next, claimed, cancellationToken) is null) return true; // redelivered meanwhile: that round goes on
        if (next.NextAttemptAt is { } due) await store.MoveDueAsync(lease, due, cancellationToken);
        else await store.ClearDueAsync(lease, cancellationToken);
        if (succeeded) LogDelivered(delivery.Id, delivery.EventType, round);
        else LogNotDelivered(delivery.Id, delivery.EventType, round, status, final);
        return true;
    }

    /// <summary>The wait after the <paramref name="attempt"/>-th failed attempt: 1, 2, 4 ... times the initial backoff, capped.</summary>
    public TimeSpan Backoff(int attempt) =>
        TimeSpan.FromTicks(Math.Min(_options.MaxBackoff.Ticks, _options.InitialBackoff.Ticks * (1L << Math.Min(attempt - 1, 30))));

    private async Task<(int? Status, string? Error)> PostAsync(WebhookSubscription subscription, WebhookDelivery delivery, CancellationToken cancellationToken)
    {
        var body = Encoding.UTF8.GetBytes(delivery.Body);
        using var request = new HttpRequestMessage(HttpMethod.Post, subscription.Url) { Content = new ByteArrayContent(body) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json") { CharSet = "utf-8" };
        request.Headers.Add("X-FlexChain-Event", delivery.EventType);
        request.Headers.Add("X-FlexChain-Delivery", delivery.Id);
        request.Headers.Add(WebhookSignature.Header, WebhookSignature.Sign(subscription.Secret, body));
        request.Headers.UserAgent.Add(new ProductInfoHeaderValue("FlexChain-Webhooks", "1"));
        try
        {
            using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
            var status = (int)response.StatusCode;
            return (status, status is >= 200 and < 300 ? null : $"HTTP {status} {response.ReasonPhrase}");
        }
        catch (Exception e) when (e is HttpRequestException || e is TaskCanceledException && !cancellationToken.IsCancellationRequested)
        {
            return (null, e is TaskCanceledException ? "timed out" : $"{e.GetType().Name}: {e.Message}");
        }
    }

    public override void Dispose()
    {
        _http.Dispose();
        base.Dispose();
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Webhook delivery {DeliveryId} ({EventType}) delivered on attempt {Attempt}")]
    private partial void LogDelivered(string deliveryId, string eventType, int attempt);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Webhook delivery {DeliveryId} ({EventType}) attempt {Attempt} failed with status {Status}; final: {Final}")]
    private partial void LogNotDelivered(string deliveryId, string eventType, int attempt, int? status, bool final);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Webhook delivery {DeliveryId}: attempt not recorded ({Error}: {Detail}); it will be retried")]
    private partial void LogAttemptFailed(string deliveryId, string error, string detail);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Polling due webhook deliveries failed ({Error}: {Detail})")]
    private partial void LogPollFailed(string error, string detail);
}
