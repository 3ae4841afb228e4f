using System.Text;
using Azure;
using FlexChain.Testing;

namespace FlexChain.Storage.Tests;

[Collection(AzuriteCollection.Name)]
public sealed class TableClientTests(AzuriteFixture azurite) : IAsyncLifetime
{
    private readonly TableServiceClient _service = new(azurite.ConnectionString);
    private TableClient _table = null!;

    public async Task InitializeAsync()
    {
        _table = _service.GetTableClient("t" + Guid.NewGuid().ToString("N")[..20]);
        await _table.CreateIfNotExistsAsync();
    }

    public async Task DisposeAsync() => await _table.DeleteAsync();

    [Fact]
    public async Task CreateIfNotExists_TableExists_ReturnsFalseWithoutError()
    {
        Assert.False(await _table.CreateIfNotExistsAsync());
        Assert.False(await _service.CreateTableIfNotExistsAsync(_table.Name));
    }

    [Fact]
    public async Task AddEntity_ThenGet_RoundTripsEveryEdmType()
    {
        var when = new DateTimeOffset(2025, 3, 30, 1, 59, 59, TimeSpan.FromHours(2)).AddTicks(1234567);
        var guid = Guid.NewGuid();
        var entity = new TableEntity("p'1 é", "r/?".Replace("/", "-").Replace("?", "!"))
        {
            ["Text"] = "Grüße, 世界 🚀 'quoted'",
            ["Empty"] = "",
            ["Big"] = (1L << 53) + 1,
            ["Negative"] = long.MinValue,
            ["Small"] = 42,
            ["Flag"] = true,
            ["Ratio"] = 2.0,
            ["Pi"] = Math.PI,
            ["When"] = when,
            ["Id"] = guid,
            ["Bytes"] = new byte[] { 0, 1, 2, 254, 255 },
            ["EmptyBytes"] = Array.Empty<byte>(),
        };

        var etag = await _table.AddEntityAsync(entity);
        var read = await _table.GetEntityAsync(entity.PartitionKey, entity.RowKey);

        Assert.NotNull(read);
        Assert.NotEqual(default, etag);
        Assert.Equal(etag, read.ETag);
        Assert.NotNull(read.Timestamp);
        Assert.Equal("Grüße, 世界 🚀 'quoted'", read.GetString("Text"));
        Assert.Equal("", read.GetString("Empty"));
        Assert.Equal((1L << 53) + 1, read.GetInt64("Big"));
        Assert.Equal(long.MinValue, read.GetInt64("Negative"));
        Assert.Equal(42, read.GetInt32("Small"));
        Assert.True(read.GetBoolean("Flag"));
        Assert.Equal(2.0, read.GetDouble("Ratio"));
        Assert.IsType<double>(read["Ratio"]);
        Assert.Equal(Math.PI, read.GetDouble("Pi"));
        Assert.Equal(when, read.GetDateTimeOffset("When"));
        Assert.Equal(when.UtcTicks, read.GetDateTimeOffset("When")!.Value.UtcTicks);
        Assert.Equal(TimeSpan.Zero, read.GetDateTimeOffset("When")!.Value.Offset);
        Assert.Equal(guid, read.GetGuid("Id"));
        Assert.Equal(new byte[] { 0, 1, 2, 254, 255 }, read.GetBinary("Bytes"));
        Assert.Equal(entity.PartitionKey, read.PartitionKey);
        Assert.Equal(entity.RowKey, read.RowKey);
    }

    [Fact]
    public async Task AddEntity_KeyExists_Throws409EntityAlreadyExists()
    {
        await _table.AddEntityAsync(new TableEntity("p", "dup") { ["V"] = 1 });

        var e = await Assert.ThrowsAsync<RequestFailedException>(() => _table.AddEntityAsync(new TableEntity("p", "dup") { ["V"] = 2 }));

        Assert.Equal(409, e.Status);
        Assert.Equal("EntityAlreadyExists", e.ErrorCode);
        Assert.True(e.IsEntityAlreadyExists());
        Assert.True(e.IsConflict());
    }

    [Fact]
    public async Task UpdateEntity_StaleETag_Throws412AndFreshETagSucceeds()
    {
        var entity = new TableEntity("p", "u") { ["State"] = "Open" };
        var first = await _table.AddEntityAsync(entity);
        var second = await _table.UpdateEntityAsync(new TableEntity("p", "u") { ["State"] = "Closed" }, first);

        var e = await Assert.ThrowsAsync<RequestFailedException>(
            () => _table.UpdateEntityAsync(new TableEntity("p", "u") { ["State"] = "Cleared" }, first));
        var third = await _table.UpdateEntityAsync(new TableEntity("p", "u") { ["State"] = "Cleared" }, second, TableUpdateMode.Merge);

        Assert.Equal(412, e.Status);
        Assert.Equal("UpdateConditionNotSatisfied", e.ErrorCode);
        Assert.True(e.IsConflict());
        Assert.True(e.IsPreconditionFailed());
        Assert.NotEqual(second, third);
        var read = await _table.GetEntityAsync("p", "u");
        Assert.Equal("Cleared", read!.GetString("State"));
        Assert.Equal(third, read.ETag);
    }

    [Fact]
    public async Task UpdateEntity_Missing_Throws404()
    {
        var e = await Assert.ThrowsAsync<RequestFailedException>(() => _table.UpdateEntityAsync(new TableEntity("p", "none"), ETag.All));
        Assert.Equal(404, e.Status);
        Assert.True(e.IsNotFound());
    }

    [Fact]
    public async Task UpsertEntity_MergeKeepsOtherPropertiesAndReplaceDropsThem()
    {
        await _table.UpsertEntityAsync(new TableEntity("p", "m") { ["A"] = 1, ["B"] = "b" });

        await _table.UpsertEntityAsync(new TableEntity("p", "m") { ["A"] = 2 }, TableUpdateMode.Merge);
        var merged = await _table.GetEntityAsync("p", "m");
        await _table.UpsertEntityAsync(new TableEntity("p", "m") { ["C"] = true }, TableUpdateMode.Replace);
        var replaced = await _table.GetEntityAsync("p", "m");

        Assert.Equal(2, merged!.GetInt32("A"));
        Assert.Equal("b", merged.GetString("B"));
        Assert.Null(replaced!.GetInt32("A"));
        Assert.Null(replaced.GetString("B"));
        Assert.True(replaced.GetBoolean("C"));
    }

    [Fact]
    public async Task UpsertEntity_Missing_Inserts()
    {
        var etag = await _table.UpsertEntityAsync(new TableEntity("p", "new") { ["A"] = 1 }, TableUpdateMode.Merge);
        Assert.Equal(etag, (await _table.GetEntityAsync("p", "new"))!.ETag);
    }

    [Fact]
    public async Task DeleteEntity_StaleETagThenCurrent_Throws412ThenDeletes()
    {
        var first = await _table.AddEntityAsync(new TableEntity("p", "d") { ["A"] = 1 });
        var second = await _table.UpsertEntityAsync(new TableEntity("p", "d") { ["A"] = 2 });

        var e = await Assert.ThrowsAsync<RequestFailedException>(() => _table.DeleteEntityAsync("p", "d", first));
        Assert.Equal(412, e.Status);
        Assert.True(await _table.DeleteEntityAsync("p", "d", second));
        Assert.Null(await _table.GetEntityAsync("p", "d"));
        Assert.False(await _table.DeleteEntityAsync("p", "d"));
    }

    [Fact]
    public async Task GetEntity_Missing_ReturnsNull() => Assert.Null(await _table.GetEntityAsync("nope", "nope"));

    [Fact]
    public async Task GetEntity_MissingTable_Throws404TableNotFound()
    {
        var e = await Assert.ThrowsAsync<RequestFailedException>(
            () => _service.GetTableClient("missing" + Guid.NewGuid().ToString("N")[..10]).GetEntityAsync("p", "r"));
        Assert.Equal(404, e.Status);
    }

    [Fact]
    public async Task GetEntity_Select_ReturnsOnlySelectedProperties()
    {
        await _table.AddEntityAsync(new TableEntity("p", "s") { ["A"] = 1, ["B"] = 2 });
        var read = await _table.GetEntityAsync("p", "s", ["A"]);
        Assert.Equal(1, read!.GetInt32("A"));
        Assert.False(read.ContainsKey("B"));
    }

    [Fact]
    public async Task QueryAsync_FilterOver2500Entities_FollowsContinuationAndReturnsEachOnce()
    {
        const int count = 2500;
        for (var start = 0; start < count; start += 100)
        {
            await _table.SubmitTransactionAsync(Enumerable.Range(start, 100).Select(i =>
                new TableTransactionAction(TableTransactionActionType.Add,
                    new TableEntity("bulk", i.ToString("D5")) { ["N"] = i, ["Even"] = i % 2 == 0 })));
        }
        await _table.AddEntityAsync(new TableEntity("other", "00001") { ["N"] = 1, ["Even"] = false });

        var all = new List<TableEntity>();
        var pages = 0;
        await foreach (var page in _table.QueryAsync(TableFilter.Create($"PartitionKey eq {"bulk"}")).AsPages())
        {
            pages++;
            all.AddRange(page.Values);
        }
        var evens = new List<TableEntity>();
        await foreach (var entity in _table.QueryAsync(TableFilter.Create($"PartitionKey eq {"bulk"} and Even eq {true}"), maxPerPage: 300, select: ["N"]))
            evens.Add(entity);

        Assert.True(pages >= 3, $"expected the service to page 2,500 entities, got {pages} page(s)");
        Assert.Equal(Enumerable.Range(0, count), all.Select(e => e.GetInt32("N")!.Value).Order());
        Assert.Equal(count, all.Select(e => e.RowKey).Distinct().Count());
        Assert.Equal(Enumerable.Range(0, count).Where(i => i % 2 == 0), evens.Select(e => e.GetInt32("N")!.Value).Order());
    }

    [Fact]
    public async Task QueryPageAsync_TopAndContinuationToken_RoundTripsWithoutGapsOrDuplicates()
    {
        await _table.SubmitTransactionAsync(Enumerable.Range(0, 25).Select(i =>
            new TableTransactionAction(TableTransactionActionType.Add, new TableEntity("page", i.ToString("D3")) { ["N"] = i })));

        var seen = new List<string>();
        string? token = null;
        var pages = 0;
        do
        {
            var page = await _table.QueryPageAsync(TableFilter.Create($"PartitionKey eq {"page"}"), maxPerPage: 10, continuationToken: token);
            Assert.True(page.Values.Count <= 10);
            seen.AddRange(page.Values.Select(e => e.RowKey));
            token = page.ContinuationToken;
            pages++;
        }
        while (token is not null);

        Assert.Equal(3, pages);
        Assert.Equal(Enumerable.Range(0, 25).Select(i => i.ToString("D3")), seen);
    }

    [Fact]
    public async Task QueryAsync_ValueWithQuote_IsEscapedAndMatchesOnlyThatEntity()
    {
        await _table.AddEntityAsync(new TableEntity("q", "1") { ["Name"] = "O'Brien" });
        await _table.AddEntityAsync(new TableEntity("q", "2") { ["Name"] = "Other" });

        var found = new List<TableEntity>();
        await foreach (var e in _table.QueryAsync(TableFilter.Create($"Name eq {"O'Brien"}"))) found.Add(e);
        var injected = new List<TableEntity>();
        await foreach (var e in _table.QueryAsync(TableFilter.Create($"Name eq {"x' or Name ne 'x"}"))) injected.Add(e);

        Assert.Equal("1", Assert.Single(found).RowKey);
        Assert.Empty(injected);
    }

    [Fact]
    public async Task AddEntity_KeyWithQuoteAndUnicode_CanBeAddressed()
    {
        var entity = new TableEntity("it's ünïcode", "a'b c%d") { ["V"] = 1 };
        var etag = await _table.AddEntityAsync(entity);
        var read = await _table.GetEntityAsync(entity.PartitionKey, entity.RowKey);
        await _table.UpdateEntityAsync(new TableEntity(entity.PartitionKey, entity.RowKey) { ["V"] = 2 }, etag);

        Assert.Equal(etag, read!.ETag);
        Assert.True(await _table.DeleteEntityAsync(entity.PartitionKey, entity.RowKey));
    }

    [Fact]
    public async Task QueryPageAsync_MalformedFilter_Throws400()
    {
        var e = await Assert.ThrowsAsync<RequestFailedException>(() => _table.QueryPageAsync("Name eq eq"));
        Assert.Equal(400, e.Status);
    }

    [Fact]
    public async Task AnyRequest_WrongAccountKey_Throws403()
    {
        var wrongKey = Convert.ToBase64String(Encoding.UTF8.GetBytes("not the account key at all, really"));
        var client = new TableServiceClient(azurite.TableEndpoint, new AzureNamedKeyCredential(AzuriteFixture.AccountName, wrongKey));

        var e = await Assert.ThrowsAsync<RequestFailedException>(() => client.CreateTableIfNotExistsAsync("forbidden"));

        Assert.Equal(403, e.Status);
        Assert.NotNull(e.ErrorCode);
    }

    [Fact]
    public async Task SubmitTransaction_100Actions_AppliesAllAndReturnsETags()
    {
        var results = await _table.SubmitTransactionAsync(Enumerable.Range(0, 100).Select(i =>
            new TableTransactionAction(TableTransactionActionType.Add, new TableEntity("tx", i.ToString("D3")) { ["N"] = i })));

        Assert.Equal(100, results.Count);
        Assert.All(results, r => Assert.NotEqual(default, r.ETag));
        Assert.Equal(results[42].ETag, (await _table.GetEntityAsync("tx", "042"))!.ETag);
    }

    [Fact]
    public async Task SubmitTransaction_OneBadActionOf100_AppliesNothingAndNamesTheIndex()
    {
        await _table.AddEntityAsync(new TableEntity("atomic", "057") { ["N"] = -1 });

        var e = await Assert.ThrowsAsync<TableTransactionFailedException>(() => _table.SubmitTransactionAsync(Enumerable.Range(0, 100).Select(i =>
            new TableTransactionAction(TableTransactionActionType.Add, new TableEntity("atomic", i.ToString("D3")) { ["N"] = i }))));

        Assert.Equal(57, e.FailedActionIndex);
        Assert.Equal(409, e.Status);
        Assert.Equal("EntityAlreadyExists", e.ErrorCode);
        var left = new List<TableEntity>();
        await foreach (var x in _table.QueryAsync(TableFilter.Create($"PartitionKey eq {"atomic"}"))) left.Add(x);
        Assert.Equal("057", Assert.Single(left).RowKey);
    }

    [Fact]
    public async Task SubmitTransaction_MixedActions_AppliesEachKind()
    {
        var updated = await _table.AddEntityAsync(new TableEntity("mix", "update") { ["A"] = 1, ["B"] = 1 });
        var deleted = await _table.AddEntityAsync(new TableEntity("mix", "delete"));
        await _table.AddEntityAsync(new TableEntity("mix", "upsert") { ["A"] = 1, ["B"] = 1 });

        await _table.SubmitTransactionAsync(
        [
            new(TableTransactionActionType.Add, new TableEntity("mix", "add") { ["A"] = 1 }),
            new(TableTransactionActionType.UpdateMerge, new TableEntity("mix", "update") { ["A"] = 2 }, updated),
            new(TableTransactionActionType.UpsertReplace, new TableEntity("mix", "upsert") { ["A"] = 3 }),
            new(TableTransactionActionType.Delete, new TableEntity("mix", "delete"), deleted),
        ]);

        Assert.Equal(1, (await _table.GetEntityAsync("mix", "add"))!.GetInt32("A"));
        var u = await _table.GetEntityAsync("mix", "update");
        Assert.Equal((2, 1), (u!.GetInt32("A"), u.GetInt32("B")));
        Assert.Null((await _table.GetEntityAsync("mix", "upsert"))!.GetInt32("B"));
        Assert.Null(await _table.GetEntityAsync("mix", "delete"));
    }

    [Fact]
    public async Task SubmitTransaction_StaleETag_Fails412WithIndex()
    {
        var stale = await _table.AddEntityAsync(new TableEntity("etx", "a") { ["A"] = 1 });
        await _table.UpsertEntityAsync(new TableEntity("etx", "a") { ["A"] = 2 });

        var e = await Assert.ThrowsAsync<TableTransactionFailedException>(() => _table.SubmitTransactionAsync(
        [
            new(TableTransactionActionType.Add, new TableEntity("etx", "b")),
            new(TableTransactionActionType.UpdateReplace, new TableEntity("etx", "a") { ["A"] = 3 }, stale),
        ]));

        Assert.Equal(412, e.Status);
        Assert.Equal(1, e.FailedActionIndex);
        Assert.True(e.IsConflict());
        Assert.Null(await _table.GetEntityAsync("etx", "b"));
    }

    [Fact]
    public async Task SubmitTransaction_TwoPartitions_RejectedBeforeSending()
    {
        var handler = new RecordingHandler();
        var offline = new TableServiceClient(azurite.ConnectionString,
            new TableServiceClientOptions { Transport = new Azure.Core.Pipeline.HttpClientTransport(new HttpClient(handler)) }).GetTableClient("offline");

        var e = await Assert.ThrowsAsync<ArgumentException>(() => offline.SubmitTransactionAsync(
        [
            new(TableTransactionActionType.Add, new TableEntity("a", "1")),
            new(TableTransactionActionType.Add, new TableEntity("b", "1")),
        ]));

        Assert.Contains("one partition", e.Message);
        Assert.Empty(handler.Requests);
    }

    [Fact]
    public async Task SubmitTransaction_101Actions_RejectedBeforeSending() =>
        await Assert.ThrowsAsync<ArgumentException>(() => _table.SubmitTransactionAsync(Enumerable.Range(0, 101).Select(i =>
            new TableTransactionAction(TableTransactionActionType.Add, new TableEntity("x", i.ToString())))));
}
