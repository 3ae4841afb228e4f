using Azure.Data.Tables;
using FlexChain.Testing;

namespace FlexChain.Storage.Tests;

/// <summary>Reads of many rows on real Azurite, in filters the real service accepts (Azurite accepts any number of comparisons).</summary>
[Collection(AzuriteCollection.Name)]
public sealed class TableReadsTests(AzuriteFixture azurite)
{
    private async Task<TableClient> TableWithRowsAsync()
    {
        var table = new TableServiceClient(azurite.ConnectionString).GetTableClient("reads" + Guid.NewGuid().ToString("N")[..8]);
        await table.CreateIfNotExistsAsync();
        foreach (var pk in new[] { "a", "b" })
            await table.SubmitCheckedTransactionAsync(Enumerable.Range(0, 50).Select(i =>
                new TableTransactionAction(TableTransactionActionType.Add, new TableEntity(pk, $"r{i:D2}") { ["N"] = i })), CancellationToken.None);
        return table;
    }

    [Fact]
    public async Task GetManyAsync_FortyKeysOfOnePartitionAndSomeMissing_ReturnsExactlyTheRowsThatExist()
    {
        var table = await TableWithRowsAsync();
        var keys = Enumerable.Range(0, 40).Select(i => ("a", $"r{i:D2}"))
            .Concat([("b", "r07"), ("b", "r49"), ("b", "nope"), ("c", "r01"), ("a", "r03")]);   // a repeat, a missing row, a missing partition

        var rows = await table.GetManyAsync(keys, 4, CancellationToken.None);

        Assert.Equal(Enumerable.Range(0, 40).Select(i => $"a/r{i:D2}").Concat(["b/r07", "b/r49"]).Order(),
            rows.Select(r => $"{r.PartitionKey}/{r.RowKey}").Order());
    }

    [Fact]
    public async Task QueryAnyAsync_RangesOfTwoComparisonsEach_SplitsIntoFiltersTheServiceAccepts()
    {
        var table = await TableWithRowsAsync();
        // Ten ranges of two rows each (r10-r11, r12-r13, ...): 21 comparisons in one filter, so at least two queries.
        var ranges = Enumerable.Range(5, 10).Select(i => ("b", TableClient.CreateQueryFilter($"RowKey ge {$"r{2 * i:D2}"} and RowKey le {$"r{2 * i + 1:D2}"}")));

        var rows = await table.QueryAnyAsync(ranges, 2, CancellationToken.None);

        Assert.Equal(Enumerable.Range(10, 20).Select(i => $"r{i:D2}"), rows.Select(r => r.RowKey).Order());
        Assert.All(rows, r => Assert.Equal("b", r.PartitionKey));
    }

    [Fact]
    public void CheckFilter_SixteenComparisons_IsRefusedAndFifteenAccepted()
    {
        var fifteen = TableClient.CreateQueryFilter($"PartitionKey eq {"p"}") + string.Concat(Enumerable.Range(0, 14).Select(i => $" or RowKey eq 'k{i}'"));

        Assert.Equal(15, TableLimits.Comparisons(TableLimits.CheckFilter(fifteen)));
        Assert.Throws<TableLimitException>(() => TableLimits.CheckFilter(fifteen + " or RowKey eq 'k14'"));
    }

    [Fact]
    public void Comparisons_OperatorsInsideQuotedValues_AreNotCounted()
    {
        Assert.Equal(2, TableLimits.Comparisons(TableClient.CreateQueryFilter($"PartitionKey eq {"a eq b"} and RowKey gt {"it's lt x"}")));
    }
}
