using System.Text;
using Azure.Storage.Queues;
using FlexChain.Messaging.StorageQueues;
using FlexChain.Testing;

namespace FlexChain.Messaging.Tests;

/// <summary>What only the storage-queue adapter does, on real Azurite.</summary>
[Collection(AzuriteCollection.Name)]
public sealed class StorageQueueTests(AzuriteFixture azurite)
{
    private readonly QueueServiceClient _service = new(azurite.ConnectionString);

    private StorageQueueBroker Client(int maxDeliveries = 5) => new(_service, new StorageQueueOptions { MaxDeliveryCount = maxDeliveries });

    private static string NewName() => "s" + Guid.NewGuid().ToString("N")[..20];

    [Fact]
    public async Task SendAsync_QueueMissing_CreatesQueueAndDelivers()
    {
        var queue = Client().GetQueue(NewName());

        await queue.SendAsync(new OutgoingMessage("m1", "{}"));

        Assert.Equal("m1", (await queue.ReceiveAsync())?.MessageId);
    }

    [Fact]
    public async Task SendAsync_EncodedTextExactlyAtLimit_IsAcceptedByAzurite()
    {
        var queue = Client().GetQueue(NewName());
        var limit = _service.GetQueueClient(queue.Name).MessageMaxBytes;
        // {"id":"m1","body":"…"} is 21 bytes plus the body; 49,152 bytes encode to exactly 65,536 base64 characters.
        var body = new string('a', 49_152 - 21);
        Assert.Equal(64 * 1024, limit);
        Assert.Equal(limit, StorageQueue.EncodeEnvelope("m1", body).Length);

        await queue.SendAsync(new OutgoingMessage("m1", body));
        var tooLarge = await Assert.ThrowsAsync<MessageTooLargeException>(() => queue.SendAsync(new OutgoingMessage("m2", body + "abc")));

        Assert.Equal(body, (await queue.ReceiveAsync())?.Body);
        Assert.Equal(limit, tooLarge.Limit);
    }

    [Fact]
    public async Task SendAsync_TimeToLive_ExpiresThenOrNeverWithout()
    {
        var queue = Client().GetQueue(NewName());
        var sentAt = DateTimeOffset.UtcNow;

        await queue.SendAsync(new OutgoingMessage("short", "{}") { TimeToLive = TimeSpan.FromMinutes(2) });
        await queue.SendAsync(new OutgoingMessage("forever", "{}"));
        var peeked = (await _service.GetQueueClient(queue.Name).PeekMessagesAsync(maxMessages: 2)).Value;
        var expiries = peeked.ToDictionary(p => StorageQueue.DecodeEnvelope(p.Body.ToString()).Id!, p => p.ExpiresOn!.Value);

        // The service counts whole seconds from its own clock: allow a few seconds either way.
        Assert.InRange(expiries["short"], sentAt.AddMinutes(2).AddSeconds(-3), sentAt.AddMinutes(2).AddSeconds(5));
        Assert.True(expiries["forever"] > sentAt.AddYears(100), $"expires {expiries["forever"]:O}"); // the service default would be 7 days
    }

    [Fact]
    public async Task AbandonAsync_LastDelivery_MovesEnvelopeToPoisonQueueNamedLikeFunctionsHost()
    {
        var client = Client(maxDeliveries: 1);
        var name = NewName();
        var queue = client.GetQueue(name);
        await queue.SendAsync(new OutgoingMessage("award-7", """{"award":7}"""));

        await queue.AbandonAsync((await queue.ReceiveAsync())!);
        var poison = client.GetQueue(name + "-poison");
        var dead = await poison.ReceiveAsync();

        Assert.Equal(name + "-poison", queue.DeadLetterQueue.Name);
        Assert.Equal("award-7", dead?.MessageId);
        Assert.Equal("""{"award":7}""", dead?.Body);
        Assert.Null(await queue.ReceiveAsync());
    }

    [Fact]
    public void DecodeEnvelope_ForeignText_ReturnsNoIdAndDecodedOrRawText()
    {
        // What another tool (or the Functions host's output binding) would put: base64 of plain JSON, no envelope.
        var (id, plain) = StorageQueue.DecodeEnvelope(Convert.ToBase64String(Encoding.UTF8.GetBytes("""{"x":1}""")));
        var (_, raw) = StorageQueue.DecodeEnvelope("not base64 !");

        Assert.Null(id);
        Assert.Equal("""{"x":1}""", plain);
        Assert.Equal("not base64 !", raw);
    }

    [Fact]
    public async Task CompleteAsync_Twice_SecondThrowsMessageLockLostWithStatus()
    {
        var queue = Client().GetQueue(NewName());
        await queue.SendAsync(new OutgoingMessage("m1", "{}"));
        var received = (await queue.ReceiveAsync())!;
        await queue.CompleteAsync(received);

        var lost = await Assert.ThrowsAsync<MessageLockLostException>(() => queue.CompleteAsync(received));

        Assert.Equal(404, lost.Status);
        Assert.Equal("MessageNotFound", lost.ErrorCode);
    }

    [Theory]
    [InlineData("ab")]
    [InlineData("Upper")]
    [InlineData("-start")]
    [InlineData("double--hyphen")]
    [InlineData("this-name-is-far-too-long-to-leave-room-for-the-poison-suffix")]
    public void GetQueue_InvalidName_ThrowsArgumentException(string name) =>
        Assert.Throws<ArgumentException>(() => Client().GetQueue(name));
}
