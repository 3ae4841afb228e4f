using System.Text;
using Azure;
using FlexChain.Messaging.StorageQueues;
using FlexChain.Testing;

namespace FlexChain.Messaging.Tests;

/// <summary>What only the storage-queue adapter does, on real Azurite.</summary>
[Collection(AzuriteCollection.Name)]
public sealed class StorageQueueTests(AzuriteFixture azurite)
{
    private StorageQueueServiceClient Client(int maxDeliveries = 5) =>
        new(azurite.ConnectionString, new StorageQueueClientOptions { MaxDeliveryCount = maxDeliveries, Retry = { MaxRetries = 0 } });

    private static string NewName() => "s" + Guid.NewGuid().ToString("N")[..20];

    [Fact]
    public async Task SendAsync_QueueMissing_CreatesQueueAndDelivers()
    {
        var queue = Client().GetQueue(NewName());

        await queue.SendAsync(new OutgoingMessage("m1", "{}"));

        Assert.False(await queue.CreateIfNotExistsAsync());
        Assert.Equal("m1", (await queue.ReceiveAsync())?.MessageId);
    }

    [Fact]
    public async Task SendAsync_EncodedTextExactlyAtLimit_IsAcceptedByAzurite()
    {
        var queue = Client().GetQueue(NewName());
        // {"id":"m1","body":"…"} is 21 bytes plus the body; 49,152 bytes encode to exactly 65,536 base64 characters.
        var body = new string('a', 49_152 - 21);
        Assert.Equal(StorageQueue.MaxEncodedMessageBytes, StorageQueue.EncodeEnvelope("m1", body).Length);

        await queue.SendAsync(new OutgoingMessage("m1", body));
        var tooLarge = await Assert.ThrowsAsync<MessageTooLargeException>(() => queue.SendAsync(new OutgoingMessage("m2", body + "abc")));

        Assert.Equal(body, (await queue.ReceiveAsync())?.Body);
        Assert.Equal(StorageQueue.MaxEncodedMessageBytes, tooLarge.Limit);
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
    public async Task ReceiveAsync_WrongAccountKey_ThrowsRequestFailedWith403()
    {
        var wrongKey = Convert.ToBase64String(new byte[64]);
        var client = new StorageQueueServiceClient(azurite.QueueEndpoint, new AzureNamedKeyCredential(AzuriteFixture.AccountName, wrongKey),
            new StorageQueueClientOptions { Retry = { MaxRetries = 0 } });

        var error = await Assert.ThrowsAsync<RequestFailedException>(() => client.GetQueue(NewName()).ReceiveAsync());

        Assert.Equal(403, error.Status);
        Assert.Equal("AuthenticationFailed", error.ErrorCode);
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

    [Fact]
    public void Constructor_DevelopmentStorage_UsesAzuritesQueuePort()
    {
        var client = new StorageQueueServiceClient("UseDevelopmentStorage=true");

        Assert.Equal(new Uri("http://127.0.0.1:10001/devstoreaccount1"), client.Endpoint);
        Assert.Equal("devstoreaccount1", client.AccountName);
    }

    [Fact]
    public void Constructor_AccountConnectionStringWithoutQueueEndpoint_DerivesItFromProtocolAndSuffix()
    {
        var client = new StorageQueueServiceClient(
            $"DefaultEndpointsProtocol=https;AccountName=flexchain;AccountKey={AzuriteFixture.AccountKey};EndpointSuffix=core.windows.net");

        Assert.Equal(new Uri("https://flexchain.queue.core.windows.net"), client.Endpoint);
    }

    [Fact]
    public void Constructor_FixtureConnectionString_UsesItsQueueEndpoint() =>
        Assert.Equal(azurite.QueueEndpoint.ToString().TrimEnd('/'), Client().Endpoint.ToString().TrimEnd('/'));
}
