using FlexChain.Messaging.StorageQueues;
using FlexChain.Testing;

namespace FlexChain.Messaging.Tests;

/// <summary>The port's contract on real Azurite.</summary>
[Collection(AzuriteCollection.Name)]
public sealed class StorageQueueContractTests(AzuriteFixture azurite) : MessageQueueContractTests
{
    protected override int SizeLimitBytes => StorageQueue.MaxEncodedMessageBytes;

    protected override async Task<IMessageQueue> CreateQueueAsync(TimeSpan lockDuration)
    {
        var client = new StorageQueueServiceClient(azurite.ConnectionString, new StorageQueueClientOptions { LockDuration = lockDuration, MaxDeliveryCount = MaxDeliveries });
        var queue = client.GetQueue("q" + Guid.NewGuid().ToString("N")[..20]);
        await queue.CreateIfNotExistsAsync();
        return queue;
    }
}
