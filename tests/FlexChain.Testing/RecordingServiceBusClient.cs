using System.Collections.Concurrent;
using Azure.Messaging.ServiceBus;

namespace FlexChain.Testing;

/// <summary>
/// A <see cref="ServiceBusClient"/> that never connects: its senders record each message instead of sending it (through
/// the SDK's mocking constructors). There is no Service Bus emulator here, so tests check what would go on the wire.
/// </summary>
public sealed class RecordingServiceBusClient : ServiceBusClient
{
    /// <summary>Every message sent, with its queue, in order.</summary>
    public ConcurrentQueue<(string Queue, ServiceBusMessage Message)> Sent { get; } = new();

    /// <summary>The queue of every sender made, in order.</summary>
    public ConcurrentQueue<string> SendersCreated { get; } = new();

    /// <inheritdoc />
    public override ServiceBusSender CreateSender(string queueOrTopicName)
    {
        SendersCreated.Enqueue(queueOrTopicName);
        return new RecordingSender(this, queueOrTopicName);
    }

    private sealed class RecordingSender(RecordingServiceBusClient client, string queue) : ServiceBusSender
    {
        public override string EntityPath => queue;

        public override Task SendMessageAsync(ServiceBusMessage message, CancellationToken cancellationToken = default)
        {
            cancellationToken.ThrowIfCancellationRequested();
            client.Sent.Enqueue((queue, message));
            return Task.CompletedTask;
        }
    }
}
