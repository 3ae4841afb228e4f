using FlexChain.Functions.Notifications;
using FlexChain.Functions.Storage;
using FlexChain.Testing;

namespace FlexChain.EndToEnd.Tests;

/// <summary>A recipient's event stream: stored in time order, read by key range and cursor, each event recorded at most once.</summary>
[Collection(StoreCollection.Name)]
public sealed class EventStreamTests(AzuriteFixture azurite)
{
    private static readonly DateTimeOffset T = new(2030, 6, 7, 8, 0, 0, TimeSpan.Zero);

    private static string NewRecipient() => "cpo_stream_" + Guid.NewGuid().ToString("N")[..12];

    private static NotificationEvent Event(string recipient, string request, DateTimeOffset at) =>
        new($"{request}:{EventTypes.Award}:{recipient}", EventTypes.Award, at, request, recipient, $$"""{"requestId":"{{request}}"}""");

    private static async Task<List<StreamedEvent>> ReadAllAsync(MarketStore store, string recipient, string after, int limit)
    {
        var all = new List<StreamedEvent>();
        string? cursor = null;
        do
        {
            var page = await store.ListEventsAsync(recipient, after, limit, cursor, CancellationToken.None);
            all.AddRange(page.Items);
            cursor = page.NextCursor;
        }
        while (cursor is not null);
        return all;
    }

    [Fact]
    public async Task ListEventsAsync_RecordedOutOfIdOrder_ReturnedInRecordedOrder()
    {
        var store = await StoreCollection.NewStoreAsync(azurite);
        var recipient = NewRecipient();
        foreach (var (request, seconds) in new[] { ("req_a", 3), ("req_c", 1), ("req_b", 2) })
            Assert.True(await store.TryAddEventAsync(Event(recipient, request, T), T.AddSeconds(seconds), CancellationToken.None));

        var events = await ReadAllAsync(store, recipient, MarketStore.StreamPosition(T), 100);

        Assert.Equal(["req_c", "req_b", "req_a"], events.Select(e => e.Event.RequestId));
        Assert.Equal([T.AddSeconds(1), T.AddSeconds(2), T.AddSeconds(3)], events.Select(e => e.RecordedAt));
        Assert.Empty(await ReadAllAsync(store, recipient, MarketStore.StreamPosition(T.AddSeconds(4)), 100));
    }

    [Fact]
    public async Task ListEventsAsync_SmallPages_CursorReadsEveryEventOnceInOrderAndResumesAfterAPosition()
    {
        var store = await StoreCollection.NewStoreAsync(azurite);
        var recipient = NewRecipient();
        var requests = Enumerable.Range(0, 25).Select(i => $"req_{i:D2}").ToList();
        foreach (var (request, i) in requests.Select((r, i) => (r, i)))
            await store.TryAddEventAsync(Event(recipient, request, T), T.AddMilliseconds(10 * i), CancellationToken.None);

        var paged = await ReadAllAsync(store, recipient, MarketStore.StreamPosition(T), 10);
        var resumed = await ReadAllAsync(store, recipient, paged[9].Position, 10);

        Assert.Equal(requests, paged.Select(e => e.Event.RequestId));
        Assert.Equal(requests.Skip(10), resumed.Select(e => e.Event.RequestId));
    }

    [Fact]
    public async Task TryAddEventAsync_SameEventRecordedTwice_StoredOnceAtTheFirstPosition()
    {
        var store = await StoreCollection.NewStoreAsync(azurite);
        var recipient = NewRecipient();
        var e = Event(recipient, "req_once", T);

        var first = await store.TryAddEventAsync(e, T, CancellationToken.None);
        var retried = await store.TryAddEventAsync(e, T.AddSeconds(5), CancellationToken.None);   // a retried transition, later

        Assert.Equal((true, false), (first, retried));
        Assert.True(await store.EventExistsAsync(recipient, e.Id, CancellationToken.None));
        var stored = await store.GetEventAsync(recipient, e.Id, CancellationToken.None);
        Assert.Equal(T, stored?.RecordedAt);
        Assert.Equal(e.Id, Assert.Single(await ReadAllAsync(store, recipient, MarketStore.StreamPosition(T), 100)).Event.Id);
        Assert.Null(await store.GetEventAsync(recipient, "req_unknown:award:" + recipient, CancellationToken.None));
    }
}
