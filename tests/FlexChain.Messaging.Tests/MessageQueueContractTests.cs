using FlexChain.Testing;

namespace FlexChain.Messaging.Tests;

/// <summary>
/// What <see cref="IMessageQueue"/> means, run against every receiving adapter (today the storage queue, on real
/// Azurite). An adapter passes all of these or the port means two things.
/// </summary>
public abstract class MessageQueueContractTests
{
    /// <summary>The short lock used where a test waits for a lock to expire.</summary>
    protected static readonly TimeSpan ShortLock = TimeSpan.FromSeconds(2);

    /// <summary>The max delivery count of every queue a test creates.</summary>
    protected const int MaxDeliveries = 3;

    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(15);

    /// <summary>A new, empty queue with the given lock duration and <see cref="MaxDeliveries"/>.</summary>
    protected abstract Task<IMessageQueue> CreateQueueAsync(TimeSpan lockDuration);

    /// <summary>The adapter's message size limit in bytes (of what it checks).</summary>
    protected abstract int SizeLimitBytes { get; }

    protected static string NewId() => "msg-" + Guid.NewGuid().ToString("N");

    [Fact]
    public async Task ReceiveAsync_AfterSend_ReturnsSameIdAndBodyOnFirstDelivery()
    {
        var queue = await CreateQueueAsync(TimeSpan.FromSeconds(30));
        var id = NewId();
        const string body = """{"gate":"2026-01-01T10:00Z","kw":12.5,"text":"Grüße ✓"}""";

        await queue.SendAsync(new OutgoingMessage(id, body));
        var received = await ReceiveSoonAsync(queue);

        Assert.Equal(id, received.MessageId);
        Assert.Equal(body, received.Body);
        Assert.Equal(1, received.DeliveryCount);
        Assert.True(received.LockedUntil > DateTimeOffset.UtcNow.AddSeconds(10), $"locked until {received.LockedUntil:O}");
    }

    [Fact]
    public async Task ReceiveAsync_EmptyQueue_ReturnsNull()
    {
        var queue = await CreateQueueAsync(TimeSpan.FromSeconds(30));

        Assert.Null(await queue.ReceiveAsync());
    }

    [Fact]
    public async Task ReceiveAsync_WhileLocked_HidesMessageUntilLockExpires()
    {
        var queue = await CreateQueueAsync(ShortLock);
        var id = NewId();
        await queue.SendAsync(new OutgoingMessage(id, "{}"));
        var first = await ReceiveSoonAsync(queue);

        var whileLocked = await queue.ReceiveAsync();
        var again = await Poll.UntilAsync(() => queue.ReceiveAsync(), m => m is not null, Patience, "redelivery after the lock expired");

        Assert.Null(whileLocked);
        Assert.Equal(id, again!.MessageId);
        Assert.Equal(2, again.DeliveryCount);
        Assert.True(again.LockToken != first.LockToken);
    }

    [Fact]
    public async Task AbandonAsync_LockedMessage_MakesItVisibleAgainAtOnce()
    {
        var queue = await CreateQueueAsync(TimeSpan.FromSeconds(30));
        await queue.SendAsync(new OutgoingMessage(NewId(), "{}"));
        var first = await ReceiveSoonAsync(queue);

        await queue.AbandonAsync(first);
        var again = await queue.ReceiveAsync();

        Assert.NotNull(again);
        Assert.Equal(first.MessageId, again.MessageId);
        Assert.Equal(2, again.DeliveryCount);
    }

    [Fact]
    public async Task CompleteAsync_LockedMessage_RemovesItForGood()
    {
        var queue = await CreateQueueAsync(ShortLock);
        await queue.SendAsync(new OutgoingMessage(NewId(), "{}"));
        var received = await ReceiveSoonAsync(queue);

        await queue.CompleteAsync(received);

        // Past the lock duration it still does not come back.
        var deadline = DateTimeOffset.UtcNow + ShortLock + TimeSpan.FromSeconds(1);
        while (DateTimeOffset.UtcNow < deadline)
        {
            Assert.Null(await queue.ReceiveAsync());
            await Task.Delay(100);
        }
    }

    [Fact]
    public async Task CompleteAsync_LockExpiredAndRedelivered_ThrowsMessageLockLost()
    {
        var queue = await CreateQueueAsync(ShortLock);
        var id = NewId();
        await queue.SendAsync(new OutgoingMessage(id, "{}"));
        var stale = await ReceiveSoonAsync(queue);
        var current = await Poll.UntilAsync(() => queue.ReceiveAsync(), m => m is not null, Patience, "redelivery");

        var lost = await Assert.ThrowsAsync<MessageLockLostException>(() => queue.CompleteAsync(stale));
        await queue.CompleteAsync(current!);

        Assert.Equal(id, lost.MessageId);
        Assert.Null(await queue.ReceiveAsync());
    }

    [Fact]
    public async Task AbandonAsync_EachDelivery_IncrementsDeliveryCount()
    {
        var queue = await CreateQueueAsync(TimeSpan.FromSeconds(30));
        await queue.SendAsync(new OutgoingMessage(NewId(), "{}"));

        var counts = new List<int>();
        for (var i = 0; i < MaxDeliveries - 1; i++)
        {
            var m = await ReceiveSoonAsync(queue);
            counts.Add(m.DeliveryCount);
            await queue.AbandonAsync(m);
        }

        Assert.Equal(Enumerable.Range(1, MaxDeliveries - 1), counts);
    }

    [Fact]
    public async Task AbandonAsync_LastAllowedDelivery_MovesMessageToDeadLetterQueue()
    {
        var queue = await CreateQueueAsync(TimeSpan.FromSeconds(30));
        var id = NewId();
        await queue.SendAsync(new OutgoingMessage(id, """{"n":1}"""));

        for (var i = 0; i < MaxDeliveries; i++)
            await queue.AbandonAsync(await ReceiveSoonAsync(queue));

        Assert.Null(await queue.ReceiveAsync());
        var dead = await ReceiveSoonAsync(queue.DeadLetterQueue);
        Assert.Equal(id, dead.MessageId);
        Assert.Equal("""{"n":1}""", dead.Body);
        await queue.DeadLetterQueue.CompleteAsync(dead);
        Assert.Null(await queue.DeadLetterQueue.ReceiveAsync());
    }

    [Fact]
    public async Task ReceiveAsync_LockExpiredOnEveryAllowedDelivery_DeadLettersMessage()
    {
        var queue = await CreateQueueAsync(ShortLock);
        var id = NewId();
        await queue.SendAsync(new OutgoingMessage(id, "{}"));

        var deliveries = 0;
        var deadline = DateTimeOffset.UtcNow + Patience;
        ReceivedMessage? dead = null;
        while (dead is null && DateTimeOffset.UtcNow < deadline)
        {
            // Never settle: every lock runs out.
            if (await queue.ReceiveAsync() is not null) deliveries++;
            dead = await queue.DeadLetterQueue.ReceiveAsync();
            if (dead is null) await Task.Delay(100);
        }

        Assert.NotNull(dead);
        Assert.Equal(id, dead.MessageId);
        Assert.Equal(MaxDeliveries, deliveries);
    }

    [Fact]
    public async Task SendAsync_ScheduledEnqueueTime_InvisibleUntilDue()
    {
        var queue = await CreateQueueAsync(TimeSpan.FromSeconds(30));
        var due = DateTimeOffset.UtcNow.AddSeconds(3);
        var id = NewId();

        await queue.SendAsync(new OutgoingMessage(id, "{}") { ScheduledEnqueueTime = due });
        var early = await queue.ReceiveAsync();
        var received = await Poll.UntilAsync(() => queue.ReceiveAsync(), m => m is not null, Patience, "the scheduled message");
        var at = DateTimeOffset.UtcNow;

        Assert.Null(early);
        Assert.Equal(id, received!.MessageId);
        // Service clocks count whole seconds: allow one second of rounding.
        Assert.True(at >= due.AddSeconds(-1), $"received at {at:O}, due {due:O}");
    }

    [Fact]
    public async Task SendAsync_BodyOverSizeLimit_ThrowsMessageTooLargeAndSendsNothing()
    {
        var queue = await CreateQueueAsync(TimeSpan.FromSeconds(30));
        var id = NewId();

        var error = await Assert.ThrowsAsync<MessageTooLargeException>(() => queue.SendAsync(new OutgoingMessage(id, new string('x', SizeLimitBytes))));

        Assert.Equal(id, error.MessageId);
        Assert.True(error.Size > error.Limit);
        Assert.Contains("at most", error.Message, StringComparison.Ordinal);
        Assert.Null(await queue.ReceiveAsync());
    }

    [Fact]
    public async Task ReceiveAsync_ConcurrentReceivers_NeverGetTheSameMessageWhileLocked()
    {
        var queue = await CreateQueueAsync(TimeSpan.FromSeconds(60));
        var ids = Enumerable.Range(0, 24).Select(_ => NewId()).ToList();
        await Task.WhenAll(ids.Select(id => queue.SendAsync(new OutgoingMessage(id, "{}"))));

        var receivers = Enumerable.Range(0, 6).Select(async _ =>
        {
            var mine = new List<string>();
            var deadline = DateTimeOffset.UtcNow + Patience;
            // Hold every lock (never settle) so any double delivery would show.
            while (DateTimeOffset.UtcNow < deadline)
            {
                var m = await queue.ReceiveAsync();
                if (m is null) break;
                mine.Add(m.MessageId);
            }
            return mine;
        });
        var all = (await Task.WhenAll(receivers)).SelectMany(x => x).ToList();

        Assert.Equal(all.Count, all.Distinct().Count());
        Assert.Equal(ids.Order(), all.Order());
    }

    [Fact]
    public async Task SendAsync_InvalidMessageId_ThrowsArgumentException()
    {
        var queue = await CreateQueueAsync(TimeSpan.FromSeconds(30));

        await Assert.ThrowsAsync<ArgumentException>(() => queue.SendAsync(new OutgoingMessage("", "{}")));
        await Assert.ThrowsAsync<ArgumentException>(() => queue.SendAsync(new OutgoingMessage(new string('a', 129), "{}")));
        await Assert.ThrowsAsync<ArgumentException>(() => queue.SendAsync(new OutgoingMessage("a\nb", "{}")));
    }

    protected static async Task<ReceivedMessage> ReceiveSoonAsync(IMessageQueue queue) =>
        (await Poll.UntilAsync(() => queue.ReceiveAsync(), m => m is not null, Patience, $"a message on {queue.Name}"))!;
}
