using FlexChain.Testing;

namespace FlexChain.Messaging.Tests;

/// <summary>One Azurite for every messaging test class that needs storage.</summary>
[CollectionDefinition(Name)]
public sealed class AzuriteCollection : ICollectionFixture<AzuriteFixture>
{
    public const string Name = "Azurite";
}
