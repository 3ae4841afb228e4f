using Azure;

namespace FlexChain.Messaging;

/// <summary>
/// The sending port: hands out senders for the named queues of one transport. The outbox dispatcher sends through it.
/// Implemented by <see cref="StorageQueues.StorageQueueBroker"/> (storage queues: the local transport) and
/// <see cref="ServiceBus.ServiceBusBroker"/> (Service Bus: the Azure transport); both mean the same thing by every member.
/// </summary>
public interface IMessageBroker
{
    /// <summary>A sender for the named queue; makes no request.</summary>
    /// <exception cref="ArgumentException">The name is not a valid queue name for the service.</exception>
    IMessageSender GetQueue(string name);
}

/// <summary>Sends messages to one queue.</summary>
public interface IMessageSender
{
    /// <summary>The queue name.</summary>
    string Name { get; }

    /// <summary>Sends a message; it is visible to receivers at once or from its <see cref="OutgoingMessage.ScheduledEnqueueTime"/>.</summary>
    /// <exception cref="MessageTooLargeException">The encoded message exceeds the service's size limit; nothing was sent.</exception>
    /// <exception cref="ArgumentException">The message is invalid (for example a scheduled time too far ahead).</exception>
    /// <exception cref="RequestFailedException">Storage queues: the service refused the message.</exception>
    /// <exception cref="Azure.Messaging.ServiceBus.ServiceBusException">Service Bus: the service refused the message.</exception>
    Task SendAsync(OutgoingMessage message, CancellationToken cancellationToken = default);
}

/// <summary>
/// The receiving side of one queue: at-least-once, peek-lock delivery. Only storage queues implement it
/// (<see cref="StorageQueues.StorageQueue"/>): in Azure the Functions host receives from Service Bus and calls the
/// handler itself; locally the app polls the storage queue of the same name.
/// </summary>
/// <remarks>
/// <para>Delivery is at least once: a message whose lock expires, or that is abandoned, is delivered again with a
/// higher <see cref="ReceivedMessage.DeliveryCount"/>. Consumers de-duplicate by <see cref="ReceivedMessage.MessageId"/>
/// (see <see cref="Outbox.IdempotentConsumer"/>).</para>
/// <para>A message delivered more than the adapter's maximum delivery count is dead-lettered: moved to
/// <see cref="DeadLetterQueue"/> instead of being delivered again.</para>
/// <para>Every method throws <see cref="RequestFailedException"/> (with status and error code) when the service refuses
/// a request, and <see cref="OperationCanceledException"/> when cancelled.</para>
/// </remarks>
public interface IMessageQueue : IMessageSender
{
    /// <summary>The queue that receives this queue's dead-lettered messages (<c>{name}-poison</c>, as the Functions host names it).</summary>
    IMessageQueue DeadLetterQueue { get; }

    /// <summary>
    /// Receives and locks the next visible message, or returns <see langword="null"/> when there is none. While the
    /// lock holds (the adapter's lock duration) no other receiver gets the message.
    /// </summary>
    /// <exception cref="RequestFailedException">The service refused the request.</exception>
    Task<ReceivedMessage?> ReceiveAsync(CancellationToken cancellationToken = default);

    /// <summary>Removes a received message for good: its processing succeeded.</summary>
    /// <exception cref="MessageLockLostException">The lock expired (and another receiver may hold the message now) or the message is gone.</exception>
    /// <exception cref="RequestFailedException">The service refused the request.</exception>
    Task CompleteAsync(ReceivedMessage message, CancellationToken cancellationToken = default);

    /// <summary>
    /// Gives a received message up so that it is visible again at once; a message that has reached the maximum delivery
    /// count is dead-lettered instead.
    /// </summary>
    /// <exception cref="MessageLockLostException">The lock expired or the message is gone.</exception>
    /// <exception cref="RequestFailedException">The service refused the request.</exception>
    Task AbandonAsync(ReceivedMessage message, CancellationToken cancellationToken = default);
}

/// <summary>A message to send.</summary>
/// <param name="MessageId">
/// The message's identity, 1–128 characters. Make it deterministic (derived from the state change it announces), so a
/// re-sent message carries the same id and consumers (and Service Bus duplicate detection) recognise it.
/// </param>
/// <param name="Body">The content, usually JSON (UTF-8 on the wire).</param>
public sealed record OutgoingMessage(string MessageId, string Body)
{
    /// <summary>The longest message id accepted (Service Bus's limit).</summary>
    public const int MaxMessageIdLength = 128;

    /// <summary>When the message becomes visible to receivers (UTC); <see langword="null"/> for at once.</summary>
    public DateTimeOffset? ScheduledEnqueueTime { get; init; }

    /// <summary>How long an undelivered message lives; <see langword="null"/> for the service default (storage queues: forever).</summary>
    public TimeSpan? TimeToLive { get; init; }

    /// <summary>Throws when the id or body is unusable.</summary>
    /// <exception cref="ArgumentException">The id is empty, too long or has control characters, or the body is null.</exception>
    internal void Validate()
    {
        ArgumentException.ThrowIfNullOrEmpty(MessageId, nameof(MessageId));
        ArgumentNullException.ThrowIfNull(Body, nameof(Body));
        if (MessageId.Length > MaxMessageIdLength || MessageId.Any(char.IsControl))
            throw new ArgumentException($"A message id has 1–{MaxMessageIdLength} characters and no control characters.", nameof(MessageId));
        if (TimeToLive is { } ttl && ttl <= TimeSpan.Zero)
            throw new ArgumentException("The time to live must be positive.", nameof(TimeToLive));
    }
}

/// <summary>A received, locked message. Pass it back to <see cref="IMessageQueue.CompleteAsync"/> or <see cref="IMessageQueue.AbandonAsync"/>.</summary>
/// <param name="MessageId">The id given when it was sent.</param>
/// <param name="Body">The content as sent.</param>
/// <param name="DeliveryCount">How many times it has been delivered, this delivery included (1 on the first).</param>
/// <param name="LockedUntil">When the lock expires (UTC, the service's clock); after that another receiver may get it.</param>
/// <param name="LockToken">The adapter's opaque handle on this delivery (a storage queue's pop receipt).</param>
public sealed record ReceivedMessage(string MessageId, string Body, int DeliveryCount, DateTimeOffset LockedUntil, string LockToken)
{
    /// <summary>The service's own id of the stored message (storage queues assign one, distinct from <see cref="MessageId"/>).</summary>
    internal string ServiceMessageId { get; init; } = MessageId;
}

/// <summary>
/// Completing or abandoning failed because the message's lock was lost: it expired (another receiver may have the message
/// now) or the message was already completed. The work done for it may be repeated by the next receiver.
/// </summary>
public sealed class MessageLockLostException : RequestFailedException
{
    /// <summary>Creates the exception from the service's refusal.</summary>
    public MessageLockLostException(string queue, string messageId, RequestFailedException inner)
        : base(inner?.Status ?? 0, $"The lock on message '{messageId}' in queue '{queue}' was lost (expired, or the message is gone).", inner?.ErrorCode, inner)
    {
        MessageId = messageId;
    }

    /// <summary>The id of the message whose lock was lost.</summary>
    public string MessageId { get; }
}

/// <summary>A message is larger than the service accepts; it was not sent.</summary>
public sealed class MessageTooLargeException : ArgumentException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="messageId">The message id.</param>
    /// <param name="size">The encoded size in bytes.</param>
    /// <param name="limit">The service's limit in bytes.</param>
    public MessageTooLargeException(string messageId, long size, long limit)
        : base($"Message '{messageId}' is {size} bytes once encoded; the queue accepts at most {limit} bytes. Store large content elsewhere (a blob or table) and send a reference.")
    {
        MessageId = messageId;
        Size = size;
        Limit = limit;
    }

    /// <summary>The message id.</summary>
    public string MessageId { get; }

    /// <summary>The encoded size in bytes.</summary>
    public long Size { get; }

    /// <summary>The limit in bytes.</summary>
    public long Limit { get; }
}
