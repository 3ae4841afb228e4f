using System.Text;
using System.Text.Json;
using Azure;
using Azure.Storage.Queues;
using Azure.Storage.Queues.Models;
using Microsoft.Extensions.Logging;

namespace FlexChain.Messaging.StorageQueues;

/// <summary>
/// One Azure Storage queue behind the <see cref="IMessageQueue"/> port, on Azure.Storage.Queues' <see cref="QueueClient"/>.
/// Obtain it from <see cref="StorageQueueBroker.GetQueue"/>; thread-safe.
/// </summary>
/// <remarks>
/// <para>Wire format: the message text is the base64 of a small UTF-8 JSON envelope <c>{"id":…,"body":…}</c>, because a
/// storage message has no properties of its own to carry the message id. A message that is not such an envelope (put
/// there by another tool) is received with the service's message id and its decoded text as body.</para>
/// <para>Locking is the visibility timeout: a received message is invisible for
/// <see cref="StorageQueueOptions.LockDuration"/>; its pop receipt is the lock token. The delivery count is the
/// service's dequeue count.</para>
/// <para>Dead-lettering follows the Functions host: a message abandoned on its last allowed delivery, or received with
/// a dequeue count above <see cref="StorageQueueOptions.MaxDeliveryCount"/> (its lock expired every time), is
/// copied to <c>{name}-poison</c> and deleted here. A crash between the two leaves a copy in both; the id is the same.</para>
/// </remarks>
public sealed partial class StorageQueue : IMessageQueue
{
    /// <summary>The suffix of the poison (dead-letter) queue's name, as the Azure Functions host uses it.</summary>
    public const string PoisonSuffix = "-poison";

    private const int MaxReceiveAttempts = 32;

    // messagettl=-1: the message never expires (without it the service drops it after 7 days).
    private static readonly TimeSpan NeverExpires = TimeSpan.FromSeconds(-1);

    private readonly QueueClient _queue;
    private readonly StorageQueueOptions _options;
    private readonly ILogger _logger;
    private readonly StorageQueue? _poison;

    internal StorageQueue(QueueServiceClient service, string name, StorageQueueOptions options, ILogger logger, bool isPoisonQueue = false)
    {
        _queue = service.GetQueueClient(name);
        _options = options;
        _logger = logger;
        _poison = isPoisonQueue ? null : new StorageQueue(service, name + PoisonSuffix, options, logger, isPoisonQueue: true);
    }

    /// <inheritdoc />
    public string Name => _queue.Name;

    /// <summary>The poison queue <c>{name}-poison</c>; a poison queue is its own (it never dead-letters).</summary>
    public StorageQueue DeadLetterQueue => _poison ?? this;

    IMessageQueue IMessageQueue.DeadLetterQueue => DeadLetterQueue;

    /// <inheritdoc />
    /// <remarks>
    /// A scheduled message is sent with a visibility timeout (whole seconds, rounded up, at most 7 days ahead). Without a
    /// <see cref="OutgoingMessage.TimeToLive"/> the message never expires. The queue is created on first use.
    /// </remarks>
    public async Task SendAsync(OutgoingMessage message, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(message);
        message.Validate();
        var text = EncodeEnvelope(message.MessageId, message.Body);
        if (text.Length > _queue.MessageMaxBytes)
            throw new MessageTooLargeException(message.MessageId, text.Length, _queue.MessageMaxBytes);
        var delay = Delay(message.ScheduledEnqueueTime);
        var ttl = message.TimeToLive is { } t ? WholeSeconds(t) : NeverExpires;
        if (ttl != NeverExpires && ttl <= delay)
            throw new ArgumentException("The time to live must end after the scheduled enqueue time.", nameof(message));

        await PutAsync(text, delay, ttl, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async Task<ReceivedMessage?> ReceiveAsync(CancellationToken cancellationToken = default)
    {
        for (var attempt = 0; attempt < MaxReceiveAttempts; attempt++)
        {
            QueueMessage? message;
            try
            {
                message = (await _queue.ReceiveMessageAsync(WholeSeconds(_options.LockDuration), cancellationToken).ConfigureAwait(false)).Value;
            }
            catch (RequestFailedException e) when (e.ErrorCode == QueueErrorCode.QueueNotFound)
            {
                return null; // nothing was ever sent to it
            }
            if (message is null) return null;

            var (id, body) = DecodeEnvelope(message.Body.ToString());
            var received = new ReceivedMessage(
                id ?? message.MessageId,
                body,
                checked((int)message.DequeueCount),
                message.NextVisibleOn ?? _options.TimeProvider.GetUtcNow() + _options.LockDuration,
                message.PopReceipt)
            {
                ServiceMessageId = message.MessageId,
            };
            if (_poison is null || received.DeliveryCount <= _options.MaxDeliveryCount) return received;

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
        try
        {
            await _queue.DeleteMessageAsync(message.ServiceMessageId, message.LockToken, cancellationToken).ConfigureAwait(false);
        }
        catch (RequestFailedException e) when (IsLockLost(e))
        {
            throw new MessageLockLostException(Name, message.MessageId, e);
        }
    }

    /// <inheritdoc />
    public async Task AbandonAsync(ReceivedMessage message, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(message);
        if (_poison is not null && message.DeliveryCount >= _options.MaxDeliveryCount)
        {
            await MoveToPoisonAsync(message, cancellationToken).ConfigureAwait(false);
            return;
        }
        try
        {
            // No new text: only the visibility changes, so the message is visible again at once.
            await _queue.UpdateMessageAsync(message.ServiceMessageId, message.LockToken, (string?)null, TimeSpan.Zero, cancellationToken).ConfigureAwait(false);
        }
        catch (RequestFailedException e) when (IsLockLost(e))
        {
            throw new MessageLockLostException(Name, message.MessageId, e);
        }
    }

    private async Task MoveToPoisonAsync(ReceivedMessage message, CancellationToken cancellationToken)
    {
        // Copy first, then delete: a crash in between leaves a duplicate (same id), never a loss.
        var poison = DeadLetterQueue;
        await poison.PutAsync(EncodeEnvelope(message.MessageId, message.Body), TimeSpan.Zero, NeverExpires, cancellationToken).ConfigureAwait(false);
        await CompleteAsync(message, cancellationToken).ConfigureAwait(false);
        LogDeadLettered(_logger, message.MessageId, Name, poison.Name, message.DeliveryCount);
    }

    private async Task PutAsync(string text, TimeSpan delay, TimeSpan ttl, CancellationToken cancellationToken)
    {
        try
        {
            await _queue.SendMessageAsync(text, delay, ttl, cancellationToken).ConfigureAwait(false);
        }
        catch (RequestFailedException e) when (e.ErrorCode == QueueErrorCode.QueueNotFound)
        {
            // Queues are created on first use (as the Functions host's output bindings do), not provisioned per environment.
            await _queue.CreateIfNotExistsAsync(cancellationToken: cancellationToken).ConfigureAwait(false);
            await _queue.SendMessageAsync(text, delay, ttl, cancellationToken).ConfigureAwait(false);
        }
    }

    // 404 MessageNotFound: completed already or expired; 400 PopReceiptMismatch: received again by someone else since.
    private static bool IsLockLost(RequestFailedException e) =>
        e.Status is 404 or 400 && (e.ErrorCode == QueueErrorCode.MessageNotFound || e.ErrorCode == QueueErrorCode.PopReceiptMismatch);

    private TimeSpan Delay(DateTimeOffset? scheduled)
    {
        if (scheduled is not { } at) return TimeSpan.Zero;
        var delay = at - _options.TimeProvider.GetUtcNow();
        if (delay <= TimeSpan.Zero) return TimeSpan.Zero;
        if (delay > TimeSpan.FromDays(7))
            throw new ArgumentException("A storage queue can delay a message by at most 7 days.", "message");
        return WholeSeconds(delay);
    }

    // The service counts visibility and time to live in whole seconds; rounding up never makes a message due early.
    private static TimeSpan WholeSeconds(TimeSpan span) => TimeSpan.FromSeconds(Math.Ceiling(span.TotalSeconds));

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

    [LoggerMessage(EventId = 10, Level = LogLevel.Warning, Message = "Message {MessageId} from {Queue} moved to {PoisonQueue} after {DeliveryCount} deliveries")]
    private static partial void LogDeadLettered(ILogger logger, string messageId, string queue, string poisonQueue, int deliveryCount);
}
