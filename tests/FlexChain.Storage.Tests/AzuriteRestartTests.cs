using Azure;
using Azure.Data.Tables;
using FlexChain.Testing;

namespace FlexChain.Storage.Tests;

public sealed class AzuriteRestartTests(AzuriteFixture azurite) : IClassFixture<AzuriteFixture>
{
    [Fact]
    public async Task RestartAsync_AcknowledgedWrites_AreStillThereOnSamePorts()
    {
        var table = new TableServiceClient(azurite.ConnectionString).GetTableClient("restart");
        await table.CreateIfNotExistsAsync();
        var etag = (await table.AddEntityAsync(new TableEntity("p", "kept") { ["V"] = 7L })).Headers.ETag;
        var port = azurite.TablePort;

        await azurite.RestartAsync();

        Assert.Equal(port, azurite.TablePort);
        var read = (await table.GetEntityAsync<TableEntity>("p", "kept")).Value;
        Assert.Equal(7L, read.GetInt64("V"));
        Assert.Equal(etag, read.ETag);
    }

    [Fact]
    public async Task StopAsync_WhileStopped_RequestsFailWithStatusZeroThenStartAsyncRecovers()
    {
        var options = new TableClientOptions();
        options.Retry.MaxRetries = 0;
        var table = new TableServiceClient(azurite.ConnectionString, options).GetTableClient("stopped");
        await table.CreateIfNotExistsAsync();
        await table.UpsertEntityAsync(new TableEntity("p", "r"));

        await azurite.StopAsync();
        var e = await Assert.ThrowsAsync<RequestFailedException>(() => table.GetEntityAsync<TableEntity>("p", "r"));
        await azurite.StartAsync();

        Assert.Equal(0, e.Status);
        Assert.True((await table.GetEntityIfExistsAsync<TableEntity>("p", "r")).HasValue);
    }
}
