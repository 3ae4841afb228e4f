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
    public static Task<MarketStore> NewStoreAsync(AzuriteFixture azurite) => NewStoreAsync(azurite.ConnectionString);

    /// <summary>A store on the storage account of <paramref name="connectionString"/> with every table and container created.</summary>
    public static async Task<MarketStore> NewStoreAsync(string connectionString)
    {
        var store = new MarketStore(new TableServiceClient(connectionString), new Azure.Storage.Blobs.BlobServiceClient(connectionString),
            new MemoryCache(new MemoryCacheOptions()), Options.Create(new StoreOptions()));
        await store.InitializeAsync(CancellationToken.None);
        await store.InitializeNotificationsAsync(CancellationToken.None);
        return store;
    }
}
