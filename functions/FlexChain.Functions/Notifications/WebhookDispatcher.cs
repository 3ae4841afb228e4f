using System.Collections.Concurrent;
using System.Net.Http.Headers;
using System.Net.Sockets;
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
/// Subscribers are isolated from each other: each gets at most <see cref="NotificationOptions.ParallelismPerSubscriber"/>
/// deliveries in flight while others are served alongside, connects and requests time out quickly, a subscription that
/// keeps failing has its circuit opened (its deliveries wait, unattempted), and a delivery whose budget is spent is
/// dead-lettered. Connections go only to public addresses (<see cref="WebhookTargets"/>).
/// </summary>
public sealed partial class WebhookDispatcher(
    MarketStore store, WebhookSecrets secrets, TimeProvider clock, IOptions<NotificationOptions> options, ILogger<WebhookDispatcher> log) : BackgroundService, IDisposable
{
    private readonly NotificationOptions _options = options.Value;

    // Redirects are not followed: a subscriber's URL is the only place the market posts to.
    private readonly HttpClient _http = new(new SocketsHttpHandler
    {
        AllowAutoRedirect = false, PooledConnectionLifetime = TimeSpan.FromMinutes(5), ConnectTimeout = options.Value.ConnectTimeout,
        ConnectCallback = WebhookTargets.ConnectCallback(options.Value.AllowPrivateTargets),
    })
    {
        Timeout = options.Value.RequestTimeout,
    };

    /// <summary>Circuit state per subscription id (this instance's view: each instance protects its own capacity).</summary>
    private readonly ConcurrentDictionary<string, Circuit> _circuits = new(StringComparer.Ordinal);

    private sealed record Circuit(int Failures, DateTimeOffset? OpenUntil);

    /// <summary>Whether <paramref name="delivery"/> may never be attempted again: all its attempts or its age are spent.</summary>
    public static bool BudgetSpent(WebhookDelivery delivery, DateTimeOffset now, NotificationOptions options) =>
        delivery.Attempts.Count >= options.MaxTotalAttempts || now - delivery.CreatedAt >= options.MaxDeliveryAge;

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
        var due = await store.GetDueDeliveriesAsync(clock.GetUtcNow(), cancellationToken);
        await Parallel.ForEachAsync(due.GroupBy(r => r.ParticipantId), new ParallelOptions { MaxDegreeOfParallelism = _options.ParallelSubscribers, CancellationToken = cancellationToken },
            async (subscriber, ct) => await Parallel.ForEachAsync(subscriber, new ParallelOptions { MaxDegreeOfParallelism = _options.ParallelismPerSubscriber, CancellationToken = ct },
                async (row, ct2) =>
                {
                    try
                    {
                        if (await AttemptAsync(row, ct2)) Interlocked.Increment(ref attempted);
                    }
                    catch (Exception e) when (e is not OperationCanceledException)
                    {
                        LogAttemptFailed(row.DeliveryId, e.GetType().Name);
                    }
                }));
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
        if (BudgetSpent(delivery, now, _options))
        {
            if (await store.TryReplaceDeliveryAsync(delivery with { State = DeliveryState.DeadLettered, NextAttemptAt = null }, stored.ETag, cancellationToken) is not null)
                await store.ClearDueAsync(row, cancellationToken);
            return false;
        }
        // An open circuit: the delivery waits for it, unattempted (no attempt of its budget is spent).
        if (_circuits.TryGetValue(delivery.SubscriptionId, out var circuit) && circuit.OpenUntil > now)
        {
            if (await store.TryReplaceDeliveryAsync(delivery with { NextAttemptAt = circuit.OpenUntil }, stored.ETag, cancellationToken) is not null)
                await store.MoveDueAsync(row, circuit.OpenUntil.Value, cancellationToken);
            return false;
        }
        var leaseEnd = now + _options.AttemptLease;
        if (await store.TryReplaceDeliveryAsync(delivery with { NextAttemptAt = leaseEnd }, stored.ETag, cancellationToken) is not { } claimed) return false;
        var lease = await store.MoveDueAsync(row, leaseEnd, cancellationToken);

        var subscription = await store.GetSubscriptionAsync(row.ParticipantId, delivery.SubscriptionId, cancellationToken);
        var (status, error) = subscription is null ? (null, "subscription-deleted") : await PostAsync(subscription, delivery, cancellationToken);
        var at = clock.GetUtcNow();
        var round = delivery.RoundAttempts + 1;
        var succeeded = status is >= 200 and < 300;
        if (subscription is not null) Record(subscription.Id, succeeded, at);
        var attempted = delivery with { Attempts = [.. delivery.Attempts, new DeliveryAttempt(delivery.Attempts.Count + 1, at, status, error, delivery.Redelivering)] };
        var state = succeeded ? DeliveryState.Delivered
            : subscription is null || BudgetSpent(attempted, at, _options) ? DeliveryState.DeadLettered
            : round >= _options.MaxAttempts ? DeliveryState.Failed
            : DeliveryState.Pending;
        var next = attempted with
        {
            RoundAttempts = round,
            Redelivering = false,
            State = state,
            NextAttemptAt = state == DeliveryState.Pending ? at + Backoff(round) : null,
        };
        if (await store.TryReplaceDeliveryAsync(next, claimed, cancellationToken) is null) return true; // redelivered meanwhile: that round goes on
        if (next.NextAttemptAt is { } due) await store.MoveDueAsync(lease, due, cancellationToken);
        else await store.ClearDueAsync(lease, cancellationToken);
        if (succeeded) LogDelivered(delivery.Id, delivery.EventType, round);
        else LogNotDelivered(delivery.Id, delivery.EventType, round, error, state);
        return true;
    }

    /// <summary>Counts an attempt's outcome for the subscription's circuit: enough consecutive failures open it for a while.</summary>
    private void Record(string subscriptionId, bool succeeded, DateTimeOffset at)
    {
        Circuit After(Circuit c) => succeeded ? new Circuit(0, null)
            : new Circuit(c.Failures + 1, c.Failures + 1 >= _options.BreakAfterFailures ? at + _options.BreakDuration : null);
        _circuits.AddOrUpdate(subscriptionId, _ => After(new Circuit(0, null)), (_, c) => After(c));
    }

    /// <summary>The wait after the <paramref name="attempt"/>-th failed attempt: 1, 2, 4 ... times the initial backoff, capped.</summary>
    public TimeSpan Backoff(int attempt) =>
        TimeSpan.FromTicks(Math.Min(_options.MaxBackoff.Ticks, _options.InitialBackoff.Ticks * (1L << Math.Min(attempt - 1, 30))));

    /// <summary>POSTs the delivery; the error is a category (<see cref="Category"/>), never a socket message, which would map the subscriber's network.</summary>
    private async Task<(int? Status, string? Error)> PostAsync(WebhookSubscription subscription, WebhookDelivery delivery, CancellationToken cancellationToken)
    {
        var body = Encoding.UTF8.GetBytes(delivery.Body);
        var timestamp = clock.GetUtcNow().ToUnixTimeSeconds();
        using var request = new HttpRequestMessage(HttpMethod.Post, subscription.Url) { Content = new ByteArrayContent(body) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json") { CharSet = "utf-8" };
        request.Headers.Add("X-FlexChain-Event", delivery.EventType);
        request.Headers.Add("X-FlexChain-Delivery", delivery.Id);
        request.Headers.Add(WebhookSignature.TimestampHeader, timestamp.ToString(System.Globalization.CultureInfo.InvariantCulture));
        request.Headers.Add(WebhookSignature.Header, WebhookSignature.Sign(secrets.Unprotect(subscription.Id, subscription.Secret), timestamp, body));
        request.Headers.UserAgent.Add(new ProductInfoHeaderValue("FlexChain-Webhooks", "1"));
        try
        {
            using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
            var status = (int)response.StatusCode;
            return (status, status is >= 200 and < 300 ? null : $"http-{status}");
        }
        catch (Exception e) when (e is HttpRequestException || e is TaskCanceledException && !cancellationToken.IsCancellationRequested)
        {
            return (null, Category(e));
        }
    }

    /// <summary>
    /// Why an attempt failed, as one of <c>refused-address</c> (the name resolves only to non-public addresses),
    /// <c>dns</c>, <c>timeout</c>, <c>tls</c>, <c>connect</c> (refused or unreachable: open and closed ports look alike) or <c>transport</c>.
    /// </summary>
    public static string Category(Exception e)
    {
        for (var inner = e; inner is not null; inner = inner.InnerException)
            switch (inner)
            {
                case WebhookTargetRefusedException: return "refused-address";
                case SocketException { SocketErrorCode: SocketError.HostNotFound or SocketError.TryAgain or SocketError.NoData }: return "dns";
                case TimeoutException or TaskCanceledException: return "timeout";
                case System.Security.Authentication.AuthenticationException: return "tls";
            }
        return e is HttpRequestException { HttpRequestError: HttpRequestError.ConnectionError or HttpRequestError.NameResolutionError } ? "connect" : "transport";
    }

    public override void Dispose()
    {
        _http.Dispose();
        base.Dispose();
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Webhook delivery {DeliveryId} ({EventType}) delivered on attempt {Attempt}")]
    private partial void LogDelivered(string deliveryId, string eventType, int attempt);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Webhook delivery {DeliveryId} ({EventType}) attempt {Attempt} failed ({Category}); now {State}")]
    private partial void LogNotDelivered(string deliveryId, string eventType, int attempt, string? category, DeliveryState state);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Webhook delivery {DeliveryId}: attempt not recorded ({Error}); it will be retried")]
    private partial void LogAttemptFailed(string deliveryId, string error);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Polling due webhook deliveries failed ({Error}: {Detail})")]
    private partial void LogPollFailed(string error, string detail);
}
