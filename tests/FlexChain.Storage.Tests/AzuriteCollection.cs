using FlexChain.Testing;

namespace FlexChain.Storage.Tests;

/// <summary>One Azurite for every storage test class.</summary>
[CollectionDefinition(Name)]
public sealed class AzuriteCollection : ICollectionFixture<AzuriteFixture>
{
    public const string Name = "Azurite";
}
