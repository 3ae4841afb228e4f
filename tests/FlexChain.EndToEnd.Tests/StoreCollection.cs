using Azure.Data.Tables;
using FlexChain.Functions.Storage;
using FlexChain.Testing;
using Microsoft.Extensions.Caching.Memory;
using Microsoft.Extensions.Options;

namespace FlexChain.EndToEnd.Tests;

/// <summary>
/// Store-level tests on an Azurite of their own: the market fixture's app polls the due-delivery index and sweeps on its
/// timers, which would race tests that read those tables whole. Each class keeps to its own years of the clock.
/// </summary>
[CollectionDefinition(Name)]
public sealed class StoreCollection : ICollectionFixture<AzuriteFixture>
{
    public const string Name = "store";

    /// <summary>A store on <paramref name="azurite"/> with every table created.</summary>
    public static async Task<MarketStore> NewStoreAsync(AzuriteFixture azurite)
    {
        var store = new MarketStore(new TableServiceClient(azurite.ConnectionString), new MemoryCache(new MemoryCacheOptions()), Options.Create(new StoreOptions()));
        await store.InitializeAsync(CancellationToken.None);
        await store.InitializeNotificationsAsync(CancellationToken.None);
        return store;
    }
}
