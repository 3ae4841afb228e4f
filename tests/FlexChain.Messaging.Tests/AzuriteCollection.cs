using Azure.Data.Tables;
using FlexChain.Testing;

namespace FlexChain.Messaging.Tests;

/// <summary>One Azurite for every messaging test class that needs storage.</summary>
[CollectionDefinition(Name)]
public sealed class AzuriteCollection : ICollectionFixture<AzuriteFixture>
{
    public const string Name = "Azurite";

    /// <summary>A new, empty table of the test's own, named <paramref name="prefix"/> and a random suffix.</summary>
    public static async Task<TableClient> NewTableAsync(TableServiceClient tables, string prefix)
    {
        var table = tables.GetTableClient(prefix + Guid.NewGuid().ToString("N")[..16]);
        await table.CreateIfNotExistsAsync();
        return table;
    }

    /// <summary>A queue name of the test's own.</summary>
    public static string NewQueueName() => "q" + Guid.NewGuid().ToString("N")[..20];
}
