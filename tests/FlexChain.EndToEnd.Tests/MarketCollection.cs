namespace FlexChain.EndToEnd.Tests;

/// <summary>All classes in this collection share one local stack (Azurite, Hardhat node, app) and run one after another.</summary>
[CollectionDefinition(Name)]
public sealed class MarketCollection : ICollectionFixture<MarketFixture>
{
    public const string Name = "market";
}
