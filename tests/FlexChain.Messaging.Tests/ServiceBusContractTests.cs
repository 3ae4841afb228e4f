using FlexChain.Messaging.ServiceBus;

namespace FlexChain.Messaging.Tests;

/// <summary>The port's contract against the in-process server that follows the Service Bus REST contract.</summary>
[Collection(ServiceBusCollection.Name)]
public sealed class ServiceBusContractTests(ServiceBusServer server) : MessageQueueContractTests
{
    protected override int SizeLimitBytes => 256 * 1024;

    protected override Task<IMessageQueue> CreateQueueAsync(TimeSpan lockDuration)
    {
        var name = "q" + Guid.NewGuid().ToString("N")[..20];
        server.CreateQueue(name, lockDuration, MaxDeliveries);
        return Task.FromResult<IMessageQueue>(new ServiceBusRestClient(server.ConnectionString).GetQueue(name));
    }
}
