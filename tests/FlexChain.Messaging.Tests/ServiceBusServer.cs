using System.Collections.Concurrent;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Web;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace FlexChain.Messaging.Tests;

/// <summary>
/// An in-process Service Bus that follows the documented REST runtime contract, on a real loopback Kestrel port:
/// Send (<c>POST {queue}/messages</c>: 201), Peek-Lock (<c>POST {queue}/messages/head?timeout=</c>: 201 with
/// BrokerProperties and Location, 204 when nothing arrives in time), Unlock (<c>PUT {queue}/messages/{id}/{lock}</c>: 200)
/// and Delete (<c>DELETE …</c>: 200), 404 for an unknown lock or queue, 401 for a missing, expired or wrongly signed
/// SAS token, 413 for a message over 256 KiB. Each queue has its own lock duration and max delivery count; a message
/// delivered that many times is moved to <c>{queue}/$deadletterqueue</c> when abandoned or when its lock expires.
/// </summary>
public sealed class ServiceBusServer : IAsyncLifetime
{
    public const string KeyName = "RootManageSharedAccessKey";
    public const string Key = "dGVzdC1vbmx5LWtleS1ub3QtYS1zZWNyZXQ=";
    private const int MaxMessageBytes = 256 * 1024;

    private readonly ConcurrentDictionary<string, FakeQueue> _queues = new(StringComparer.OrdinalIgnoreCase);
    private WebApplication? _app;
    private long _sequence;

    /// <summary>The namespace endpoint, <c>http://127.0.0.1:{port}</c>.</summary>
    public Uri Endpoint { get; private set; } = null!;

    /// <summary>A connection string for the namespace.</summary>
    public string ConnectionString => $"Endpoint={Endpoint};SharedAccessKeyName={KeyName};SharedAccessKey={Key}";

    /// <summary>How many requests were refused with 401.</summary>
    public int Unauthorized => _unauthorized;

    private int _unauthorized;

    public async Task InitializeAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        _app = builder.Build();
        _app.Run(HandleAsync);
        await _app.StartAsync();
        Endpoint = new Uri(_app.Urls.Single());
    }

    public async Task DisposeAsync()
    {
        if (_app is not null) await _app.DisposeAsync();
    }

    /// <summary>Creates a queue (the runtime API cannot; infrastructure does).</summary>
    public void CreateQueue(string name, TimeSpan lockDuration, int maxDeliveryCount) =>
        _queues[name] = new FakeQueue(lockDuration, maxDeliveryCount);

    /// <summary>How many messages the queue (or its dead-letter sub-queue) holds, locked or not.</summary>
    public int Count(string name, bool deadLetter = false)
    {
        var queue = _queues[name];
        lock (queue) return (deadLetter ? queue.DeadLetters : queue.Messages).Count;
    }

    private async Task HandleAsync(HttpContext context)
    {
        var request = context.Request;
        if (!Authorized(request))
        {
            Interlocked.Increment(ref _unauthorized);
            await ErrorAsync(context, 401, "InvalidSignature: the token is missing, expired, or its signature does not match.");
            return;
        }

        var segments = request.Path.Value!.Trim('/').Split('/');
        // {queue}/messages, {queue}/messages/head or {queue}/messages/{id}/{lock}; a queue path may hold '/'.
        var messagesAt =
            segments.Length >= 2 && segments[^1] == "messages" ? segments.Length - 1 :
            segments.Length >= 3 && segments[^2] == "messages" && segments[^1] == "head" ? segments.Length - 2 :
            segments.Length >= 4 && segments[^3] == "messages" ? segments.Length - 3 : -1;
        if (messagesAt < 1) { await ErrorAsync(context, 400, "Not a runtime operation."); return; }
        var deadLetter = segments[messagesAt - 1] == "$deadletterqueue";
        var queueName = string.Join('/', segments[..(deadLetter ? messagesAt - 1 : messagesAt)]);
        if (!_queues.TryGetValue(queueName, out var queue)) { await ErrorAsync(context, 404, $"The messaging entity '{queueName}' could not be found."); return; }
        var rest = segments[(messagesAt + 1)..];

        switch (request.Method, rest.Length)
        {
            case ("POST", 0) when !deadLetter:
                await SendAsync(context, queue);
                break;
            case ("POST", 1) when rest[0] == "head":
                await PeekLockAsync(context, queue, deadLetter);
                break;
            case ("PUT" or "DELETE", 2):
                await SettleAsync(context, queue, deadLetter, Uri.UnescapeDataString(rest[0]), Uri.UnescapeDataString(rest[1]));
                break;
            default:
                await ErrorAsync(context, 400, "Unsupported operation.");
                break;
        }
    }

    private async Task SendAsync(HttpContext context, FakeQueue queue)
    {
        using var reader = new MemoryStream();
        await context.Request.Body.CopyToAsync(reader);
        var properties = context.Request.Headers["BrokerProperties"].ToString();
        if (reader.Length + Encoding.UTF8.GetByteCount(properties) > MaxMessageBytes)
        {
            await ErrorAsync(context, 413, "The message is larger than the allowed size.");
            return;
        }
        string? messageId = null;
        DateTimeOffset visibleFrom = DateTimeOffset.UtcNow;
        if (properties.Length > 0)
        {
            using var doc = JsonDocument.Parse(properties);
            if (doc.RootElement.TryGetProperty("MessageId", out var id)) messageId = id.GetString();
            if (doc.RootElement.TryGetProperty("ScheduledEnqueueTimeUtc", out var at))
                visibleFrom = DateTimeOffset.ParseExact(at.GetString()!, "R", CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal);
        }
        var message = new FakeMessage(
            messageId ?? Guid.NewGuid().ToString("N"), reader.ToArray(), context.Request.ContentType ?? "text/plain",
            Interlocked.Increment(ref _sequence), DateTimeOffset.UtcNow) { VisibleFrom = visibleFrom };
        lock (queue) queue.Messages.Add(message);
        context.Response.StatusCode = 201;
    }

    private async Task PeekLockAsync(HttpContext context, FakeQueue queue, bool deadLetter)
    {
        var timeout = int.TryParse(context.Request.Query["timeout"], NumberStyles.None, CultureInfo.InvariantCulture, out var t) ? t : 60;
        var deadline = DateTimeOffset.UtcNow.AddSeconds(timeout);
        while (true)
        {
            var locked = TryLock(queue, deadLetter);
            if (locked is not null)
            {
                var (message, lockToken, lockedUntil) = locked.Value;
                var response = context.Response;
                response.StatusCode = 201;
                response.ContentType = message.ContentType;
                response.Headers["BrokerProperties"] = JsonSerializer.Serialize(new Dictionary<string, object>
                {
                    ["DeliveryCount"] = message.DeliveryCount,
                    ["EnqueuedTimeUtc"] = message.EnqueuedTime.ToString("R", CultureInfo.InvariantCulture),
                    ["LockToken"] = lockToken,
                    ["LockedUntilUtc"] = lockedUntil.ToString("R", CultureInfo.InvariantCulture),
                    ["MessageId"] = message.MessageId,
                    ["SequenceNumber"] = message.SequenceNumber,
                    ["State"] = "Active",
                });
                response.Headers.Location = $"{Endpoint.ToString().TrimEnd('/')}{context.Request.Path.Value![..^"/head".Length]}/{message.SequenceNumber}/{lockToken}";
                await response.Body.WriteAsync(message.Body);
                return;
            }
            if (DateTimeOffset.UtcNow >= deadline || context.RequestAborted.IsCancellationRequested)
            {
                context.Response.StatusCode = 204;
                return;
            }
            // The broker's long poll: look again shortly (server side; tests never sleep).
            await Task.Delay(25, context.RequestAborted).ContinueWith(_ => { }, TaskScheduler.Default);
        }
    }

    private static (FakeMessage Message, string LockToken, DateTimeOffset LockedUntil)? TryLock(FakeQueue queue, bool deadLetter)
    {
        var now = DateTimeOffset.UtcNow;
        lock (queue)
        {
            // Expired locks: the delivery is over; a message delivered MaxDeliveryCount times goes to the dead-letter queue.
            foreach (var expired in queue.Messages.Where(m => m.LockToken is not null && m.LockedUntil <= now).ToList())
                ReleaseLocked(queue, expired, isDeadLetter: false);
            foreach (var expired in queue.DeadLetters.Where(m => m.LockToken is not null && m.LockedUntil <= now))
                expired.LockToken = null;

            var list = deadLetter ? queue.DeadLetters : queue.Messages;
            var next = list.Where(m => m.LockToken is null && m.VisibleFrom <= now).OrderBy(m => m.SequenceNumber).FirstOrDefault();
            if (next is null) return null;
            next.DeliveryCount++;
            next.LockToken = Guid.NewGuid().ToString();
            next.LockedUntil = now + queue.LockDuration;
            return (next, next.LockToken, next.LockedUntil);
        }
    }

    private static void ReleaseLocked(FakeQueue queue, FakeMessage message, bool isDeadLetter)
    {
        message.LockToken = null;
        if (isDeadLetter || message.DeliveryCount < queue.MaxDeliveryCount) return;
        queue.Messages.Remove(message);
        queue.DeadLetters.Add(message);
    }

    private static async Task SettleAsync(HttpContext context, FakeQueue queue, bool deadLetter, string messageId, string lockToken)
    {
        var now = DateTimeOffset.UtcNow;
        lock (queue)
        {
            var list = deadLetter ? queue.DeadLetters : queue.Messages;
            var message = list.FirstOrDefault(m =>
                m.LockToken == lockToken && m.LockedUntil > now &&
                (m.MessageId == messageId || m.SequenceNumber.ToString(CultureInfo.InvariantCulture) == messageId));
            if (message is not null)
            {
                if (context.Request.Method == "DELETE") list.Remove(message);
                else ReleaseLocked(queue, message, deadLetter);
                context.Response.StatusCode = 200;
                return;
            }
        }
        await ErrorAsync(context, 404, "The lock supplied is invalid: it expired, or the message was already removed.");
    }

    /// <summary>Checks <c>SharedAccessSignature sr=&amp;sig=&amp;se=&amp;skn=</c> as the service does.</summary>
    private bool Authorized(HttpRequest request)
    {
        var header = request.Headers.Authorization.ToString();
        const string scheme = "SharedAccessSignature ";
        if (!header.StartsWith(scheme, StringComparison.Ordinal)) return false;
        var fields = header[scheme.Length..].Split('&')
            .Select(p => p.Split('=', 2))
            .Where(p => p.Length == 2)
            .ToDictionary(p => p[0], p => p[1], StringComparer.Ordinal);
        if (!fields.TryGetValue("sr", out var sr) || !fields.TryGetValue("sig", out var sig) ||
            !fields.TryGetValue("se", out var se) || !fields.TryGetValue("skn", out var skn))
            return false;
        if (HttpUtility.UrlDecode(skn) != KeyName) return false;
        if (!long.TryParse(se, NumberStyles.None, CultureInfo.InvariantCulture, out var expiry) || expiry < DateTimeOffset.UtcNow.ToUnixTimeSeconds())
            return false;
        var expected = Convert.ToBase64String(HMACSHA256.HashData(Encoding.UTF8.GetBytes(Key), Encoding.UTF8.GetBytes(sr + "\n" + se)));
        if (!CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(expected), Encoding.UTF8.GetBytes(HttpUtility.UrlDecode(sig))))
            return false;
        // The token's resource must cover the requested one (prefix match, as for a namespace or entity token).
        var requested = $"{request.Scheme}://{request.Host}{request.Path}";
        return requested.StartsWith(HttpUtility.UrlDecode(sr).TrimEnd('/'), StringComparison.OrdinalIgnoreCase);
    }

    private static async Task ErrorAsync(HttpContext context, int status, string detail)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/xml; charset=utf-8";
        await context.Response.WriteAsync($"<Error><Code>{status}</Code><Detail>{System.Security.SecurityElement.Escape(detail)}</Detail></Error>");
    }

    private sealed class FakeQueue(TimeSpan lockDuration, int maxDeliveryCount)
    {
        public TimeSpan LockDuration { get; } = lockDuration;
        public int MaxDeliveryCount { get; } = maxDeliveryCount;
        public List<FakeMessage> Messages { get; } = [];
        public List<FakeMessage> DeadLetters { get; } = [];
    }

    private sealed class FakeMessage(string messageId, byte[] body, string contentType, long sequenceNumber, DateTimeOffset enqueuedTime)
    {
        public string MessageId { get; } = messageId;
        public byte[] Body { get; } = body;
        public string ContentType { get; } = contentType;
        public long SequenceNumber { get; } = sequenceNumber;
        public DateTimeOffset EnqueuedTime { get; } = enqueuedTime;
        public DateTimeOffset VisibleFrom { get; set; }
        public int DeliveryCount { get; set; }
        public string? LockToken { get; set; }
        public DateTimeOffset LockedUntil { get; set; }
    }
}
