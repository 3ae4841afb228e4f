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
}
