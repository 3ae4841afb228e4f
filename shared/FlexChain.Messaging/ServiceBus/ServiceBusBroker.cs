using System.Collections.Concurrent;
using System.Text;
using Azure.Messaging.ServiceBus;

namespace FlexChain.Messaging.ServiceBus;

/// <summary>
/// The Service Bus transport, for sending: each queue's messages go through one <see cref="ServiceBusSender"/> of the
/// given <see cref="ServiceBusClient"/>. Receiving is the Functions host's (a <c>serviceBusTrigger</c> that calls our
/// handler, and dead-letters after the queue's <c>MaxDeliveryCount</c>), so this transport has no receiving side.
/// Thread-safe; create one per client and keep it.
/// </summary>
/// <param name="client">
/// The client, built once (from a connection string or with a <c>TokenCredential</c>) and disposed by its owner; disposing
/// it closes the senders made here.
/// </param>
public sealed class ServiceBusBroker(ServiceBusClient client) : IMessageBroker
{
    /// <summary>
    /// The largest UTF-8 body sent, in bytes: the Standard tier's 256 KiB message limit. Headers count towards the limit
    /// too; the broker refuses a message they push over it.
    /// </summary>
    public const int MaxBodyBytes = 256 * 1024;

    private readonly ServiceBusClient _client = client ?? throw new ArgumentNullException(nameof(client));

    // A sender holds an AMQP link: one per queue for the client's lifetime, not one per message.
    private readonly ConcurrentDictionary<string, Sender> _senders = new(StringComparer.Ordinal);

    /// <summary>The sender for the queue <paramref name="name"/> (made on first use; it connects on its first send).</summary>
    /// <exception cref="ArgumentException">The name is null or empty.</exception>
    public IMessageSender GetQueue(string name)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        return _senders.GetOrAdd(name, n => new Sender(n, _client.CreateSender(n)));
    }

    /// <summary>The Service Bus message for <paramref name="message"/>: its id, its body as UTF-8 JSON, its schedule and time to live.</summary>
    /// <exception cref="ArgumentException">The message is invalid.</exception>
    /// <exception cref="MessageTooLargeException">The body exceeds <see cref="MaxBodyBytes"/>.</exception>
    internal static ServiceBusMessage ToServiceBusMessage(OutgoingMessage message)
    {
        ArgumentNullException.ThrowIfNull(message);
        message.Validate();
        var size = Encoding.UTF8.GetByteCount(message.Body);
        if (size > MaxBodyBytes)
            throw new MessageTooLargeException(message.MessageId, size, MaxBodyBytes);
        var result = new ServiceBusMessage(BinaryData.FromString(message.Body))
        {
            MessageId = message.MessageId,
            ContentType = "application/json",
        };
        // Unset, the broker's defaults apply: enqueue at once, live as long as the queue's default time to live.
        if (message.ScheduledEnqueueTime is { } at) result.ScheduledEnqueueTime = at;
        if (message.TimeToLive is { } ttl) result.TimeToLive = ttl;
        return result;
    }

    private sealed class Sender(string name, ServiceBusSender sender) : IMessageSender
    {
        public string Name => name;

        public async Task SendAsync(OutgoingMessage message, CancellationToken cancellationToken = default) =>
            await sender.SendMessageAsync(ToServiceBusMessage(message), cancellationToken).ConfigureAwait(false);
    }
}
