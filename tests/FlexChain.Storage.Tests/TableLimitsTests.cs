using Azure.Data.Tables;
using FlexChain.Testing;

namespace FlexChain.Storage.Tests;

public sealed class TableLimitsTests
{
    [Fact]
    public void EntityBytes_EveryType_FollowsTheServiceEstimate()
    {
        var entity = new TableEntity("pk", "rk")
        {
            ["S"] = "abc", ["B"] = new byte[10], ["T"] = true, ["I"] = 1, ["L"] = 1L, ["D"] = 1.5,
            ["At"] = DateTimeOffset.UnixEpoch, ["G"] = Guid.Empty,
        };

        // 4 + keys (4 chars x 2) + per property 8 + name x 2 + value.
        var expected = 4 + 8 + (8 + 2 + 10) + (8 + 2 + 14) + (8 + 2 + 1) + (8 + 2 + 4) + (8 + 2 + 8) + (8 + 2 + 8) + (8 + 4 + 8) + (8 + 2 + 16);
        Assert.Equal(expected, TableLimits.EntityBytes(entity));
    }

    [Fact]
    public void Check_StringPropertyAtLimit_Passes() =>
        TableLimits.Check(new TableEntity("p", "r") { ["Data"] = new string('x', TableLimits.MaxPropertyBytes / 2) });

    [Fact]
    public void Check_StringPropertyOneCharOverLimit_NamesTheProperty()
    {
        var e = Assert.Throws<TableLimitException>(() =>
            TableLimits.Check(new TableEntity("p", "r") { ["Data"] = new string('x', TableLimits.MaxPropertyBytes / 2 + 1) }));

        Assert.Contains("Data", e.Message);
    }

    [Fact]
    public void Check_BinaryPropertyOverLimit_Throws() =>
        Assert.Throws<TableLimitException>(() => TableLimits.Check(new TableEntity("p", "r") { ["Bin"] = new byte[TableLimits.MaxPropertyBytes + 1] }));

    [Fact]
    public void Check_SixteenFullPropertiesOverOneMebibyte_Throws()
    {
        var entity = new TableEntity("p", "r");
        for (var i = 0; i < 16; i++) entity["P" + i] = new string('x', TableLimits.MaxPropertyBytes / 2);

        var e = Assert.Throws<TableLimitException>(() => TableLimits.Check(entity));

        Assert.Contains("1048576", e.Message);
    }

    [Fact]
    public void Check_KeyOverOneKibibyte_Throws() =>
        Assert.Throws<TableLimitException>(() => TableLimits.Check(new TableEntity(new string('k', TableLimits.MaxKeyLength + 1), "r")));

    [Fact]
    public void Check_TooManyProperties_Throws()
    {
        var entity = new TableEntity("p", "r");
        for (var i = 0; i <= TableLimits.MaxProperties; i++) entity["P" + i] = i;

        Assert.Throws<TableLimitException>(() => TableLimits.Check(entity));
    }

    [Fact]
    public void CheckTransaction_TwoPartitions_Throws()
    {
        var e = Assert.Throws<TableLimitException>(() => TableLimits.CheckTransaction(
            [Add(new TableEntity("a", "1")), Add(new TableEntity("b", "1"))]));

        Assert.Contains("one partition", e.Message);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(101)]
    public void CheckTransaction_OutsideOneToHundredActions_Throws(int count) =>
        Assert.Throws<TableLimitException>(() => TableLimits.CheckTransaction(
            Enumerable.Range(0, count).Select(i => Add(new TableEntity("p", i.ToString()))).ToList()));

    [Fact]
    public void CheckTransaction_HundredActions_Passes() =>
        TableLimits.CheckTransaction(Enumerable.Range(0, 100).Select(i => Add(new TableEntity("p", i.ToString()))).ToList());

    [Fact]
    public void CheckTransaction_OverFourMebibytes_Throws()
    {
        // 70 entities of 64 KiB each are within the per-entity limits but about 4.4 MiB in one request.
        var actions = Enumerable.Range(0, 70)
            .Select(i => Add(new TableEntity("p", i.ToString()) { ["Data"] = new string('x', TableLimits.MaxPropertyBytes / 2) })).ToList();

        var e = Assert.Throws<TableLimitException>(() => TableLimits.CheckTransaction(actions));

        Assert.Contains("4194304", e.Message);
    }

    [Fact]
    public void Repository_EveryTransaction_GoesThroughTheGuard()
    {
        // The guard only protects the writes that use it: a direct SDK transaction call anywhere else would let an
        // oversized or cross-partition batch reach Azure, which Azurite would have accepted in every test.
        var offenders = new[] { "functions", "shared", "tests" }
            .SelectMany(d => Directory.EnumerateFiles(Path.Combine(RepoPaths.Root, d), "*.cs", SearchOption.AllDirectories))
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}") && !f.EndsWith("TableLimits.cs") && !f.EndsWith(nameof(TableLimitsTests) + ".cs"))
            .Where(f => File.ReadAllText(f).Contains(".SubmitTransactionAsync(", StringComparison.Ordinal))
            .ToList();

        Assert.Empty(offenders);
    }

    private static TableTransactionAction Add(TableEntity e) => new(TableTransactionActionType.Add, e);
}

/// <summary>Azurite accepts what Azure refuses; the guard must refuse it before it is sent.</summary>
public sealed class TableLimitsOnAzuriteTests(AzuriteFixture azurite) : IClassFixture<AzuriteFixture>
{
    [Fact]
    public async Task SubmitCheckedTransaction_TwoPartitions_RefusedAndNothingWrittenWhereAzuriteWouldAccept()
    {
        var table = new TableServiceClient(azurite.ConnectionString).GetTableClient("limits" + Guid.NewGuid().ToString("N")[..8]);
        await table.CreateIfNotExistsAsync();
        TableTransactionAction[] actions = [new(TableTransactionActionType.Add, new TableEntity("a", "1")), new(TableTransactionActionType.Add, new TableEntity("b", "1"))];

        await Assert.ThrowsAsync<TableLimitException>(() => table.SubmitCheckedTransactionAsync(actions, CancellationToken.None));
        Assert.Empty(await table.QueryAsync<TableEntity>().ToListAsync());

        // The emulator itself takes the same transaction: only our guard stands between it and Azure's refusal.
        await table.SubmitTransactionAsync(actions);
        Assert.Equal(2, (await table.QueryAsync<TableEntity>().ToListAsync()).Count);
    }

    [Fact]
    public async Task SubmitCheckedTransaction_EntityOverOneMebibyte_RefusedWhereAzuriteWouldStoreIt()
    {
        var table = new TableServiceClient(azurite.ConnectionString).GetTableClient("limits" + Guid.NewGuid().ToString("N")[..8]);
        await table.CreateIfNotExistsAsync();
        var big = new TableEntity("p", "big");
        for (var i = 0; i < 17; i++) big["P" + i] = new string('x', TableLimits.MaxPropertyBytes / 2);   // each property within 64 KiB, 1.06 MiB in all

        await Assert.ThrowsAsync<TableLimitException>(() =>
            table.SubmitCheckedTransactionAsync([new TableTransactionAction(TableTransactionActionType.Add, big)], CancellationToken.None));
        Assert.Empty(await table.QueryAsync<TableEntity>().ToListAsync());

        await table.AddEntityAsync(big);
        Assert.Equal(TableLimits.MaxPropertyBytes / 2, (await table.GetEntityAsync<TableEntity>("p", "big")).Value.GetString("P16").Length);
    }
}
