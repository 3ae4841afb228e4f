using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Xml;
using System.Xml.Linq;
using Azure;
using Azure.Core;
using FlexChain.Messaging.Http;

namespace FlexChain.Messaging.StorageQueues;

/// <summary>
/// One Azure Storage queue behind the <see cref="IMessageQueue"/> port. Obtain it from
/// <see cref="StorageQueueServiceClient.GetQueue"/>; thread-safe.
/// </summary>
/// <remarks>
/// <para>Wire format: the message text is the base64 of a small UTF-8 JSON envelope <c>{"id":…,"body":…}</c>, because a
/// storage message has no properties of its own to carry the message id. A message that is not such an envelope (put
/// there by another tool) is received with the service's message id and its decoded text as body.</para>
/// <para>Locking is the visibility timeout: a received message is invisible for
/// <see cref="StorageQueueClientOptions.LockDuration"/>; its pop receipt is the lock token. The delivery count is the
/// service's dequeue count.</para>
/// <para>Dead-lettering follows the Functions host: a message abandoned on its last allowed delivery, or received with
/// a dequeue count above <see cref="StorageQueueClientOptions.MaxDeliveryCount"/> (its lock expired every time), is
/// copied to <c>{name}-poison</c> and deleted here. A crash between the two leaves a copy in both; the id is the same.</para>
/// </remarks>
public sealed class StorageQueue : IMessageQueue
{
    /// <summary>The suffix of the poison (dead-letter) queue's name, as the Azure Functions host uses it.</summary>
    public const string PoisonSuffix = "-poison";

    /// <summary>The largest message text the service accepts, in bytes (64 KiB, after base64 encoding).</summary>
    public const int MaxEncodedMessageBytes = 64 * 1024;

    private const int MaxReceiveAttempts = 32;
    private readonly StorageQueueServiceClient _service;
    private readonly bool _isPoisonQueue;
    private StorageQueue? _poison;

    internal StorageQueue(StorageQueueServiceClient service, string name, bool isPoisonQueue)
    {
        _service = service;
        Name = name;
        _isPoisonQueue = isPoisonQueue;
    }

    /// <inheritdoc />
    public string Name { get; }

    /// <summary>The poison queue <c>{name}-poison</c>; a poison queue is its own (it never dead-letters).</summary>
    public StorageQueue DeadLetterQueue => _isPoisonQueue ? this : _poison ??= new StorageQueue(_service, Name + PoisonSuffix, isPoisonQueue: true);

    IMessageQueue IMessageQueue.DeadLetterQueue => DeadLetterQueue;

    /// <summary>Creates the queue; returns <see langword="false"/> when it already existed.</summary>
    /// <exception cref="RequestFailedException">The service refused the request (for example 403 for a wrong key).</exception>
    public async Task<bool> CreateIfNotExistsAsync(CancellationToken cancellationToken = default)
    {
        using var message = _service.CreateMessage(RequestMethod.Put, Name);
        var response = await _service.SendAsync(message, cancellationToken).ConfigureAwait(false);
        return response.Status switch
        {
            201 => true,
            204 or 409 => false,
            _ => throw XmlErrorParser.Failure(response),
        };
    }

    /// <inheritdoc />
    /// <remarks>
    /// A scheduled message is put with a visibility timeout (whole seconds, rounded up, at most 7 days ahead). Without a
    /// <see cref="OutgoingMessage.TimeToLive"/> the message never expires (<c>messagettl=-1</c>). The queue is created on
    /// first use when <see cref="StorageQueueClientOptions.CreateQueueIfMissing"/> is on.
    /// </remarks>
    public async Task SendAsync(OutgoingMessage message, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(message);
        message.Validate();
        var text = EncodeEnvelope(message.MessageId, message.Body);
        if (text.Length > MaxEncodedMessageBytes)
            throw new MessageTooLargeException(message.MessageId, text.Length, MaxEncodedMessageBytes);
        var delay = DelaySeconds(message.ScheduledEnqueueTime);
        var ttl = message.TimeToLive is { } t ? (long)Math.Ceiling(t.TotalSeconds) : -1;
        if (ttl != -1 && ttl <= delay)
            throw new ArgumentException("The time to live must end after the scheduled enqueue time.", nameof(message));

        await PutAsync(text, delay, ttl, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async Task<ReceivedMessage?> ReceiveAsync(CancellationToken cancellationToken = default)
    {
        var options = _service.Options;
        for (var attempt = 0; attempt < MaxReceiveAttempts; attempt++)
        {
            using var request = _service.CreateMessage(RequestMethod.Get, Name, "/messages");
            request.Request.Uri.AppendQuery("numofmessages", "1");
            request.Request.Uri.AppendQuery("visibilitytimeout", Seconds(options.LockDuration));
            var response = await _service.SendAsync(request, cancellationToken).ConfigureAwait(false);
            if (response.Status == 404 && ErrorCode(response) == "QueueNotFound") return null;
            if (response.Status != 200) throw XmlErrorParser.Failure(response);

            var received = ParseMessages(response.Content.ToString()).FirstOrDefault();
            if (received is null) return null;
            if (_isPoisonQueue || received.DeliveryCount <= options.MaxDeliveryCount) return received;

            // Its lock expired on every allowed delivery: dead-letter it, as the Functions host does, and look again.
            try
            {
                await MoveToPoisonAsync(received, cancellationToken).ConfigureAwait(false);
            }
            catch (MessageLockLostException)
            {
                // Another receiver moved or completed it meanwhile; a copy in the poison queue at worst.
            }
        }
        return null;
    }

    /// <inheritdoc />
    public async Task CompleteAsync(ReceivedMessage message, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(message);
        using var request = MessageRequest(RequestMethod.Delete, message);
        var response = await _service.SendAsync(request, cancellationToken).ConfigureAwait(false);
        if (response.Status != 204) throw LockFailure(message, response);
    }

    /// <inheritdoc />
    public async Task AbandonAsync(ReceivedMessage message, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(message);
        if (!_isPoisonQueue && message.DeliveryCount >= _service.Options.MaxDeliveryCount)
        {
            await MoveToPoisonAsync(message, cancellationToken).ConfigureAwait(false);
            return;
        }
        using var request = MessageRequest(RequestMethod.Put, message);
        request.Request.Uri.AppendQuery("visibilitytimeout", "0");
        var response = await _service.SendAsync(request, cancellationToken).ConfigureAwait(false);
        if (response.Status != 204) throw LockFailure(message, response);
    }

    private async Task MoveToPoisonAsync(ReceivedMessage message, CancellationToken cancellationToken)
    {
        // Copy first, then delete: a crash in between leaves a duplicate (same id), never a loss.
        await DeadLetterQueue.PutAsync(EncodeEnvelope(message.MessageId, message.Body), 0, -1, cancellationToken).ConfigureAwait(false);
        await CompleteAsync(message, cancellationToken).ConfigureAwait(false);
    }

    private async Task PutAsync(string text, long delaySeconds, long ttlSeconds, CancellationToken cancellationToken)
    {
        for (var attempt = 0; ; attempt++)
        {
            using var request = _service.CreateMessage(RequestMethod.Post, Name, "/messages");
            if (delaySeconds > 0) request.Request.Uri.AppendQuery("visibilitytimeout", delaySeconds.ToString(CultureInfo.InvariantCulture));
            request.Request.Uri.AppendQuery("messagettl", ttlSeconds.ToString(CultureInfo.InvariantCulture));
            request.Request.Headers.SetValue(HttpHeader.Names.ContentType, "application/xml");
            request.Request.Content = RequestContent.Create(Encoding.UTF8.GetBytes(
                new XElement("QueueMessage", new XElement("MessageText", text)).ToString(SaveOptions.DisableFormatting)));
            var response = await _service.SendAsync(request, cancellationToken).ConfigureAwait(false);
            if (response.Status == 201) return;
            if (attempt == 0 && response.Status == 404 && _service.Options.CreateQueueIfMissing && ErrorCode(response) == "QueueNotFound")
            {
                await CreateIfNotExistsAsync(cancellationToken).ConfigureAwait(false);
                continue;
            }
            throw XmlErrorParser.Failure(response);
        }
    }

    private HttpMessage MessageRequest(RequestMethod method, ReceivedMessage message)
    {
        var request = _service.CreateMessage(method, Name, "/messages/" + Uri.EscapeDataString(message.ServiceMessageId));
        request.Request.Uri.AppendQuery("popreceipt", message.LockToken, escapeValue: true);
        return request;
    }

    private RequestFailedException LockFailure(ReceivedMessage message, Response response)
    {
        var failure = XmlErrorParser.Failure(response);
        // 404 MessageNotFound: completed already or expired; 400 PopReceiptMismatch: someone else received it since.
        return response.Status is 404 or 400 && ErrorCode(response) is "MessageNotFound" or "PopReceiptMismatch"
            ? new MessageLockLostException(Name, message.MessageId, failure)
            : failure;
    }

    private long DelaySeconds(DateTimeOffset? scheduled)
    {
        if (scheduled is not { } at) return 0;
        var delay = at - _service.Options.TimeProvider.GetUtcNow();
        if (delay <= TimeSpan.Zero) return 0;
        if (delay > TimeSpan.FromDays(7))
            throw new ArgumentException("A storage queue can delay a message by at most 7 days.", "message");
        return (long)Math.Ceiling(delay.TotalSeconds);
    }

    private static string Seconds(TimeSpan span) => ((long)Math.Ceiling(span.TotalSeconds)).ToString(CultureInfo.InvariantCulture);

    private static string? ErrorCode(Response response) =>
        response.Headers.TryGetValue("x-ms-error-code", out var code) ? code : XmlErrorParser.Parse(response.Content?.ToString()).Code;

    /// <summary>base64(UTF-8(<c>{"id":…,"body":…}</c>)): the message text as the service stores it.</summary>
    internal static string EncodeEnvelope(string messageId, string body)
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            writer.WriteString("id", messageId);
            writer.WriteString("body", body);
            writer.WriteEndObject();
        }
        return Convert.ToBase64String(buffer.GetBuffer(), 0, checked((int)buffer.Length));
    }

    /// <summary>The id and body from a message text; a foreign text yields (null, its decoded or raw text).</summary>
    internal static (string? Id, string Body) DecodeEnvelope(string text)
    {
        byte[] bytes;
        try
        {
            bytes = Convert.FromBase64String(text);
        }
        catch (FormatException)
        {
            return (null, text);
        }
        try
        {
            using var doc = JsonDocument.Parse(bytes);
            if (doc.RootElement.ValueKind == JsonValueKind.Object
                && doc.RootElement.TryGetProperty("id", out var id) && id.ValueKind == JsonValueKind.String
                && doc.RootElement.TryGetProperty("body", out var body) && body.ValueKind == JsonValueKind.String)
                return (id.GetString(), body.GetString()!);
        }
        catch (JsonException)
        {
        }
        return (null, Encoding.UTF8.GetString(bytes));
    }

    /// <summary>Reads a Get Messages answer (<c>QueueMessagesList</c>).</summary>
    internal static IReadOnlyList<ReceivedMessage> ParseMessages(string xml)
    {
        XDocument doc;
        try
        {
            doc = XDocument.Parse(xml);
        }
        catch (XmlException e)
        {
            throw new RequestFailedException(200, "The Queue service answered with malformed XML.", "UnexpectedResponse", e);
        }
        var result = new List<ReceivedMessage>();
        foreach (var element in doc.Root?.Elements("QueueMessage") ?? [])
        {
            string Field(string name) => element.Element(name)?.Value
                ?? throw new RequestFailedException(200, $"A queue message lacks {name}.", "UnexpectedResponse", null);
            var serviceId = Field("MessageId");
            var (id, body) = DecodeEnvelope(Field("MessageText"));
            result.Add(new ReceivedMessage(
                id ?? serviceId,
                body,
                int.Parse(Field("DequeueCount"), NumberStyles.None, CultureInfo.InvariantCulture),
                DateTimeOffset.Parse(Field("TimeNextVisible"), CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal),
                Field("PopReceipt"))
            {
                ServiceMessageId = serviceId,
            });
        }
        return result;
    }
}
