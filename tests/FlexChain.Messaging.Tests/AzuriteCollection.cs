using FlexChain.Testing;

namespace FlexChain.Messaging.Tests;

/// <summary>One Azurite for every messaging test class that needs storage.</summary>
[CollectionDefinition(Name)]
public sealed class AzuriteCollection : ICollectionFixture<AzuriteFixture>
{
    public const string Name = "Azurite";
}

/// <summary>One in-process Service Bus for every Service Bus test class.</summary>
[CollectionDefinition(Name)]
public sealed class ServiceBusCollection : ICollectionFixture<ServiceBusServer>
{
    public const string Name = "ServiceBus";
}
