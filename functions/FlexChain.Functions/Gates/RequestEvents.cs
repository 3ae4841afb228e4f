using System.Text.Json;
using Azure;
using FlexChain.Domain;
using FlexChain.Functions.Notifications;
using FlexChain.Functions.Storage;
using FlexChain.Messaging;

namespace FlexChain.Functions.Gates;

/// <summary>
/// The queue-driven step after a request is posted (<c>request.published</c>) and after every request transition of a
/// gate cycle: the request or its transition is saved together with an outbox message (<c>{requestId}:{state}</c>) for the <see cref="Queue"/> queue, the gate cycle sends it (alongside its
/// next chain step, and always before its next checkpoint), and the <c>RequestEvents</c> function (a Service Bus trigger in Azure; locally the same handler polled from a storage
/// queue on Azurite) tells the participants through <see cref="NotificationPublisher"/>. The gate cycle never waits for
/// the notifications, and a crash between saving and sending leaves the outbox row pending, which the step's retry sends.
/// </summary>
public sealed class RequestEvents(MarketStore store, IMessageBroker broker, NotificationPublisher notifications, TimeProvider clock, FaultInjection faults)
{
    private readonly IMessageBroker _announcements = faults.AfterSend(broker);

    /// <summary>The queue (Service Bus queue in Azure, storage queue locally) of request transitions.</summary>
    public const string Queue = "request-events";

    private sealed record Body(string RequestId, RequestState State);

    /// <summary>Stores a new request together with its announcement <c>{requestId}:Open</c> (request.published, not yet sent).</summary>
    public Task AddAsync(FlexRequest request, CancellationToken cancellationToken) =>
        store.AddRequestAsync(request, cancellationToken, (Queue, Message(request)));

    /// <summary>Sends the request's <c>{requestId}:Open</c> announcement if still pending (already sent is a no-op).</summary>
    public async Task PublishAsync(string requestId, CancellationToken cancellationToken) =>
        await store.RequestOutbox(_announcements, clock).DispatchMessageAsync(requestId, $"{requestId}:{RequestState.Open}", cancellationToken);

    /// <summary>Saves the request's transition together with its announcement (not yet sent); false when another instance changed the request first.</summary>
    public async Task<bool> TrySaveAsync(FlexRequest request, ETag etag, CancellationToken cancellationToken) =>
        await store.TryReplaceRequestAsync(request, etag, cancellationToken, (Queue, Message(request))) is not null;

    /// <summary>
    /// Sends each request's announcement of its current state if still pending (a point read each; already sent is a
    /// no-op). Announcements of earlier states that were never sent need not be: the consumer announces everything the
    /// current state implies.
    /// </summary>
    public async Task AnnounceAsync(IEnumerable<FlexRequest> requests, CancellationToken cancellationToken)
    {
        var outbox = store.RequestOutbox(_announcements, clock);
        await Parallel.ForEachAsync(requests.Where(r => r.State is not (RequestState.Open or RequestState.Cancelled)),
            MarketStore.InParallel(cancellationToken),
            async (r, ct) => await outbox.DispatchMessageAsync(r.Id, Message(r).MessageId, ct));
    }

    private static OutgoingMessage Message(FlexRequest request) =>
        new($"{request.Id}:{request.State}", JsonSerializer.Serialize(new Body(request.Id, request.State), StoreJson.Options));

    /// <summary>The consumer: announces every event the request's current state implies (each once per recipient, by event id).</summary>
    /// <exception cref="FormatException">The message is not a request event.</exception>
    public async Task<string> HandleAsync(string body, CancellationToken cancellationToken)
    {
        Body? e;
        try
        {
            e = JsonSerializer.Deserialize<Body>(body, StoreJson.Options);
        }
        catch (JsonException x)
        {
            throw new FormatException("not a request event: " + x.Message, x);
        }
        if (e?.RequestId is null) throw new FormatException("not a request event: requestId is missing");
        if (await store.GetRequestAsync(e.RequestId, cancellationToken) is not { } stored) return $"request {e.RequestId} not found";
        if (e.State == RequestState.Open) await notifications.RequestPublishedAsync(stored.Value, cancellationToken);
        await notifications.RequestChangedAsync(stored.Value, cancellationToken);
        return $"request {e.RequestId} ({e.State}): participants notified up to {stored.Value.State}";
    }
}
