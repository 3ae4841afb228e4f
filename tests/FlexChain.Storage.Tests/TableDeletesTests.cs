using Azure.Data.Tables;
using FlexChain.Testing;

namespace FlexChain.Storage.Tests;

/// <summary>Bulk deletes on real Azurite: transactions within the service's rules, and rows changed or gone meanwhile skipped.</summary>
[Collection(AzuriteCollection.Name)]
public sealed class TableDeletesTests(AzuriteFixture azurite)
{
    [Fact]
    public async Task DeleteEntitiesAsync_ManyRowsInTwoPartitions_DeletesAllInTransactionsOfOnePartition()
    {
        var table = new TableServiceClient(azurite.ConnectionString).GetTableClient("deletes" + Guid.NewGuid().ToString("N")[..8]);
        await table.CreateIfNotExistsAsync();
        var rows = Enumerable.Range(0, 150).Select(i => new TableEntity(i % 2 == 0 ? "a" : "b", i.ToString("D3"))).ToList();
        foreach (var partition in rows.GroupBy(r => r.PartitionKey))
            foreach (var chunk in partition.Chunk(100))
                await table.SubmitCheckedTransactionAsync(chunk.Select(r => new TableTransactionAction(TableTransactionActionType.Add, r)), CancellationToken.None);
        var read = await table.QueryAsync<TableEntity>().ToListAsync();

        var deleted = await table.DeleteEntitiesAsync(read, CancellationToken.None);

        Assert.Equal(150, deleted);
        Assert.Empty(await table.QueryAsync<TableEntity>().ToListAsync());
    }

    [Fact]
    public async Task DeleteEntitiesAsync_OneRowChangedAndOneGoneSinceRead_DeletesTheRestAndKeepsTheChangedOne()
    {
        var table = new TableServiceClient(azurite.ConnectionString).GetTableClient("deletes" + Guid.NewGuid().ToString("N")[..8]);
        await table.CreateIfNotExistsAsync();
        foreach (var key in new[] { "1", "2", "3", "4" }) await table.AddEntityAsync(new TableEntity("p", key) { ["V"] = 1 });
        var read = await table.QueryAsync<TableEntity>().ToListAsync();
        await table.UpdateEntityAsync(new TableEntity("p", "2") { ["V"] = 2 }, read[1].ETag);   // changed since it was read
        await table.DeleteEntityAsync("p", "3");                                                 // gone since it was read

        var deleted = await table.DeleteEntitiesAsync(read, CancellationToken.None);

        Assert.Equal(2, deleted);
        Assert.Equal(2, Assert.Single(await table.QueryAsync<TableEntity>().ToListAsync()).GetInt32("V"));
    }
}
