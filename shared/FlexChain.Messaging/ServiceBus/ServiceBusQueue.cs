using System.Globalization;
using System.Text;
using System.Text.Json;
using Azure;
using Azure.Core;
using FlexChain.Messaging.Http;

namespace FlexChain.Messaging.ServiceBus;

/// <summary>
/// One Service Bus queue behind the <see cref="IMessageQueue"/> port, through the REST runtime API: Send Message
/// (<c>POST {queue}/messages</c>), Peek-Lock (<c>POST {queue}/messages/head?timeout=</c>), Unlock
/// (<c>PUT {queue}/messages/{id}/{lockToken}</c>) and Delete (<c>DELETE {queue}/messages/{id}/{lockToken}</c>).
/// Obtain it from <see cref="ServiceBusRestClient.GetQueue"/>; thread-safe.
/// </summary>
/// <remarks>
/// The message id, delivery count, lock token and schedule travel in the <c>BrokerProperties</c> header (JSON); the body
/// is the message content as UTF-8. The lock duration and maximum delivery count are the queue's: the broker
/// dead-letters a message to <c>{queue}/$deadletterqueue</c> once it has been delivered <c>MaxDeliveryCount</c> times.
/// </remarks>
public sealed class ServiceBusQueue : IMessageQueue
{
    /// <summary>The sub-queue that holds a queue's dead-lettered messages.</summary>
    public const string DeadLetterSubQueue = "$deadletterqueue";

    private readonly ServiceBusRestClient _client;
    private readonly bool _isDeadLetterQueue;
    private ServiceBusQueue? _deadLetter;

    internal ServiceBusQueue(ServiceBusRestClient client, string name, bool isDeadLetterQueue)
    {
        _client = client;
        Name = name;
        _isDeadLetterQueue = isDeadLetterQueue;
    }

    /// <inheritdoc />
    public string Name { get; }

    /// <summary>The dead-letter sub-queue <c>{name}/$deadletterqueue</c>; a dead-letter queue is its own.</summary>
    public ServiceBusQueue DeadLetterQueue =>
        _isDeadLetterQueue ? this : _deadLetter ??= new ServiceBusQueue(_client, Name + "/" + DeadLetterSubQueue, isDeadLetterQueue: true);

    IMessageQueue IMessageQueue.DeadLetterQueue => DeadLetterQueue;

    /// <inheritdoc />
    /// <remarks>Sends <c>MessageId</c>, <c>ScheduledEnqueueTimeUtc</c> and <c>TimeToLive</c> (seconds) as broker properties; expects 201.</remarks>
    public async Task SendAsync(OutgoingMessage message, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(message);
        message.Validate();
        if (_isDeadLetterQueue)
            throw new InvalidOperationException("A dead-letter queue cannot be sent to.");
        var body = Encoding.UTF8.GetBytes(message.Body);
        var properties = SendProperties(message);
        var size = (long)body.Length + Encoding.UTF8.GetByteCount(properties);
        if (size > _client.Options.MaxMessageSizeBytes)
            throw new MessageTooLargeException(message.MessageId, size, _client.Options.MaxMessageSizeBytes);

        using var request = _client.CreateMessage(RequestMethod.Post, QueuePath + "/messages");
        request.Request.Headers.SetValue("BrokerProperties", properties);
        request.Request.Headers.SetValue(HttpHeader.Names.ContentType, "application/json; charset=utf-8");
        request.Request.Content = RequestContent.Create(body);
        var response = await _client.SendAsync(request, cancellationToken).ConfigureAwait(false);
        if (response.Status != 201) throw XmlErrorParser.Failure(response);
    }

    /// <inheritdoc />
    /// <remarks>Waits up to <see cref="ServiceBusRestClientOptions.ReceiveWaitTime"/>; 201 is a locked message, 204 none.</remarks>
    public async Task<ReceivedMessage?> ReceiveAsync(CancellationToken cancellationToken = default)
    {
        using var request = _client.CreateMessage(RequestMethod.Post, QueuePath + "/messages/head");
        request.Request.Uri.AppendQuery("timeout", ((long)_client.Options.ReceiveWaitTime.TotalSeconds).ToString(CultureInfo.InvariantCulture));
        var response = await _client.SendAsync(request, cancellationToken).ConfigureAwait(false);
        if (response.Status == 204) return null;
        if (response.Status != 201) throw XmlErrorParser.Failure(response);
        if (!response.Headers.TryGetValue("BrokerProperties", out var header))
            throw new RequestFailedException(response.Status, "A locked message came without BrokerProperties.", "UnexpectedResponse", null);
        return ParseReceived(header, response.Content.ToString());
    }

    /// <inheritdoc />
    public Task CompleteAsync(ReceivedMessage message, CancellationToken cancellationToken = default) =>
        SettleAsync(RequestMethod.Delete, message, cancellationToken);

    /// <inheritdoc />
    /// <remarks>Unlocks the message; the broker dead-letters it when it has reached the queue's <c>MaxDeliveryCount</c>.</remarks>
    public Task AbandonAsync(ReceivedMessage message, CancellationToken cancellationToken = default) =>
        SettleAsync(RequestMethod.Put, message, cancellationToken);

    // Queue paths are validated to URL-safe characters (and '$' of the dead-letter sub-queue is a valid path character).
    private string QueuePath => "/" + Name;

    private async Task SettleAsync(RequestMethod method, ReceivedMessage message, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(message);
        using var request = _client.CreateMessage(
            method, $"{QueuePath}/messages/{Uri.EscapeDataString(message.ServiceMessageId)}/{Uri.EscapeDataString(message.LockToken)}");
        var response = await _client.SendAsync(request, cancellationToken).ConfigureAwait(false);
        if (response.Status == 200) return;
        var failure = XmlErrorParser.Failure(response);
        throw response.Status == 404 ? new MessageLockLostException(Name, message.MessageId, failure) : failure;
    }

    /// <summary>The BrokerProperties JSON of a message to send.</summary>
    internal static string SendProperties(OutgoingMessage message)
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            writer.WriteString("MessageId", message.MessageId);
            if (message.ScheduledEnqueueTime is { } at)
                writer.WriteString("ScheduledEnqueueTimeUtc", at.ToUniversalTime().ToString("R", CultureInfo.InvariantCulture));
            if (message.TimeToLive is { } ttl)
                writer.WriteNumber("TimeToLive", Math.Ceiling(ttl.TotalSeconds));
            writer.WriteEndObject();
        }
        return Encoding.UTF8.GetString(buffer.GetBuffer(), 0, checked((int)buffer.Length));
    }

    /// <summary>A received message from the BrokerProperties header and the body.</summary>
    /// <exception cref="RequestFailedException">The header lacks the message id, lock token, delivery count or lock expiry.</exception>
    internal static ReceivedMessage ParseReceived(string brokerProperties, string body)
    {
        try
        {
            using var doc = JsonDocument.Parse(brokerProperties);
            var root = doc.RootElement;
            var lockedUntil = DateTimeOffset.ParseExact(
                root.GetProperty("LockedUntilUtc").GetString()!, "R", CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal);
            return new ReceivedMessage(
                root.GetProperty("MessageId").GetString()!,
                body,
                root.GetProperty("DeliveryCount").GetInt32(),
                lockedUntil,
                root.GetProperty("LockToken").GetString()!);
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or FormatException or ArgumentNullException)
        {
            throw new RequestFailedException(201, "The BrokerProperties of a locked message are incomplete: " + e.Message, "UnexpectedResponse", e);
        }
    }
}
