using Azure.Storage.Queues;
using FlexChain.Messaging.StorageQueues;
using FlexChain.Testing;

namespace FlexChain.Messaging.Tests;

/// <summary>The port's contract on real Azurite.</summary>
[Collection(AzuriteCollection.Name)]
public sealed class StorageQueueContractTests(AzuriteFixture azurite) : MessageQueueContractTests
{
    private readonly QueueServiceClient _service = new(azurite.ConnectionString);

    protected override int SizeLimitBytes => _service.GetQueueClient("any").MessageMaxBytes;

    protected override async Task<IMessageQueue> CreateQueueAsync(TimeSpan lockDuration)
    {
        var name = "q" + Guid.NewGuid().ToString("N")[..20];
        await _service.GetQueueClient(name).CreateAsync();
        return new StorageQueueBroker(_service, new StorageQueueOptions { LockDuration = lockDuration, MaxDeliveryCount = MaxDeliveries }).GetQueue(name);
    }
}
