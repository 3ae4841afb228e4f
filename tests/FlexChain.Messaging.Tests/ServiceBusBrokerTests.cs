using System.Text;
using FlexChain.Messaging.ServiceBus;
using FlexChain.Testing;

namespace FlexChain.Messaging.Tests;

/// <summary>
/// The Service Bus sender's mapping of <see cref="OutgoingMessage"/> onto <c>ServiceBusMessage</c>, without a network
/// (no Service Bus emulator runs here): what <see cref="RecordingServiceBusClient"/>'s senders were given.
/// </summary>
public sealed class ServiceBusBrokerTests
{
    private readonly RecordingServiceBusClient _client = new();

    [Fact]
    public async Task SendAsync_ScheduledMessageWithTimeToLive_SendsIdUtf8JsonBodyScheduleAndTimeToLive()
    {
        const string body = """{"requestId":"r-1","state":"Awarded","text":"Grüße ✓"}""";
        var due = new DateTimeOffset(2026, 11, 21, 10, 0, 0, TimeSpan.FromHours(1));

        await new ServiceBusBroker(_client).GetQueue("request-events").SendAsync(
            new OutgoingMessage("r-1:Awarded", body) { ScheduledEnqueueTime = due, TimeToLive = TimeSpan.FromMinutes(90) });

        var (queue, sent) = Assert.Single(_client.Sent);
        Assert.Equal("request-events", queue);
        Assert.Equal("r-1:Awarded", sent.MessageId);
        Assert.Equal(Encoding.UTF8.GetBytes(body), sent.Body.ToArray());
        Assert.Equal("application/json", sent.ContentType);
        Assert.Equal(due, sent.ScheduledEnqueueTime);
        Assert.Equal(TimeSpan.FromMinutes(90), sent.TimeToLive);
    }

    [Fact]
    public async Task SendAsync_NoScheduleOrTimeToLive_LeavesTheBrokersDefaults()
    {
        await new ServiceBusBroker(_client).GetQueue("request-events").SendAsync(new OutgoingMessage("m1", "{}"));

        var sent = Assert.Single(_client.Sent).Message;
        Assert.Equal(default, sent.ScheduledEnqueueTime);
        Assert.Equal(TimeSpan.MaxValue, sent.TimeToLive); // the SDK's "unset": the queue's default time to live applies
    }

    [Fact]
    public async Task SendAsync_BodyOverLimit_ThrowsMessageTooLargeAndSendsNothing()
    {
        var queue = new ServiceBusBroker(_client).GetQueue("request-events");
        // 'ü' is two bytes in UTF-8: the limit counts bytes, not characters.
        var atLimit = new string('ü', ServiceBusBroker.MaxBodyBytes / 2);

        await queue.SendAsync(new OutgoingMessage("fits", atLimit));
        var error = await Assert.ThrowsAsync<MessageTooLargeException>(() => queue.SendAsync(new OutgoingMessage("too-large", atLimit + "x")));

        Assert.Equal("fits", Assert.Single(_client.Sent).Message.MessageId);
        Assert.Equal("too-large", error.MessageId);
        Assert.Equal(256 * 1024 + 1, error.Size);
        Assert.Equal(256 * 1024, error.Limit);
    }

    [Fact]
    public async Task SendAsync_InvalidMessageId_ThrowsArgumentExceptionAndSendsNothing()
    {
        var queue = new ServiceBusBroker(_client).GetQueue("request-events");

        await Assert.ThrowsAsync<ArgumentException>(() => queue.SendAsync(new OutgoingMessage("", "{}")));
        await Assert.ThrowsAsync<ArgumentException>(() => queue.SendAsync(new OutgoingMessage(new string('a', 129), "{}")));
        await Assert.ThrowsAsync<ArgumentException>(() => queue.SendAsync(new OutgoingMessage("m1", "{}") { TimeToLive = TimeSpan.Zero }));

        Assert.Empty(_client.Sent);
    }

    [Fact]
    public async Task SendAsync_Cancelled_PassesTheTokenOnAndSendsNothing()
    {
        using var cancelled = new CancellationTokenSource();
        await cancelled.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() =>
            new ServiceBusBroker(_client).GetQueue("request-events").SendAsync(new OutgoingMessage("m1", "{}"), cancelled.Token));

        Assert.Empty(_client.Sent);
    }

    [Fact]
    public async Task GetQueue_SameQueueTwice_SendsThroughOneSender()
    {
        var broker = new ServiceBusBroker(_client);

        await broker.GetQueue("request-events").SendAsync(new OutgoingMessage("m1", "{}"));
        await broker.GetQueue("request-events").SendAsync(new OutgoingMessage("m2", "{}"));
        await broker.GetQueue("awards").SendAsync(new OutgoingMessage("m3", "{}"));

        Assert.Equal(["request-events", "awards"], _client.SendersCreated);
        Assert.Equal(["m1", "m2", "m3"], _client.Sent.Select(s => s.Message.MessageId));
        Assert.Equal("awards", broker.GetQueue("awards").Name);
    }
}
