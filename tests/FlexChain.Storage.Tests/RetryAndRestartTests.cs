using Azure;
using Azure.Core;
using Azure.Core.Pipeline;
using FlexChain.Testing;

namespace FlexChain.Storage.Tests;

[Collection(AzuriteCollection.Name)]
public sealed class RetriedInsertTests(AzuriteFixture azurite) : IAsyncLifetime
{
    private readonly string _tableName = "r" + Guid.NewGuid().ToString("N")[..20];

    public Task InitializeAsync() => new TableServiceClient(azurite.ConnectionString).CreateTableIfNotExistsAsync(_tableName);

    public Task DisposeAsync() => new TableServiceClient(azurite.ConnectionString).DeleteTableAsync(_tableName);

    [Fact]
    public async Task AddEntity_FirstResponseLost_RetrySucceedsWithoutDuplicateOrError()
    {
        var handler = new LoseFirstInsertResponse();
        var table = Client(handler, resolve: true);

        var etag = await table.AddEntityAsync(new TableEntity("p", "once") { ["V"] = 1L });

        Assert.Equal(2, handler.Inserts);
        Assert.Equal(etag, (await table.GetEntityAsync("p", "once"))!.ETag);
    }

    [Fact]
    public async Task AddEntity_FirstResponseLostAndResolutionOff_Surfaces409()
    {
        var table = Client(new LoseFirstInsertResponse(), resolve: false);

        var e = await Assert.ThrowsAsync<RequestFailedException>(() => table.AddEntityAsync(new TableEntity("p", "off") { ["V"] = 1 }));

        Assert.True(e.IsEntityAlreadyExists());
    }

    [Fact]
    public void SameProperties_DifferentValue_IsFalse()
    {
        Assert.True(TableClient.SameProperties(new TableEntity("p", "r") { ["B"] = new byte[] { 1 }, ["N"] = null }, new TableEntity("p", "r") { ["B"] = new byte[] { 1 } }));
        Assert.False(TableClient.SameProperties(new TableEntity("p", "r") { ["V"] = 1 }, new TableEntity("p", "r") { ["V"] = 2 }));
        Assert.False(TableClient.SameProperties(new TableEntity("p", "r") { ["V"] = 1 }, new TableEntity("p", "r") { ["V"] = 1, ["W"] = 2 }));
    }

    private TableClient Client(HttpMessageHandler handler, bool resolve)
    {
        var options = new TableServiceClientOptions
        {
            Transport = new HttpClientTransport(new HttpClient(handler)),
            ResolveRetriedInsertConflicts = resolve,
        };
        options.Retry.Delay = TimeSpan.FromMilliseconds(10);
        options.Retry.Mode = RetryMode.Fixed;
        return new TableServiceClient(azurite.ConnectionString, options).GetTableClient(_tableName);
    }

    /// <summary>Delivers the first insert to Azurite, then pretends the connection dropped before the answer came.</summary>
    private sealed class LoseFirstInsertResponse() : DelegatingHandler(new HttpClientHandler())
    {
        public int Inserts;

        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var response = await base.SendAsync(request, cancellationToken);
            if (request.Method == HttpMethod.Post && Interlocked.Increment(ref Inserts) == 1)
            {
                response.Dispose();
                throw new HttpRequestException("connection reset (simulated after the server applied the insert)");
            }
            return response;
        }
    }
}

/// <summary>Its own Azurite, because these tests stop and start it.</summary>
public sealed class AzuriteRestartTests(AzuriteFixture azurite) : IClassFixture<AzuriteFixture>
{
    [Fact]
    public async Task RestartAsync_AcknowledgedWrites_AreStillThereOnSamePorts()
    {
        var table = new TableServiceClient(azurite.ConnectionString).GetTableClient("restart");
        await table.CreateIfNotExistsAsync();
        var etag = await table.AddEntityAsync(new TableEntity("p", "kept") { ["V"] = 7L });
        var port = azurite.TablePort;

        await azurite.RestartAsync();

        Assert.Equal(port, azurite.TablePort);
        var read = await table.GetEntityAsync("p", "kept");
        Assert.Equal(7L, read!.GetInt64("V"));
        Assert.Equal(etag, read.ETag);
    }

    [Fact]
    public async Task StopAsync_WhileStopped_RequestsFailWithStatusZeroThenStartAsyncRecovers()
    {
        var options = new TableServiceClientOptions();
        options.Retry.MaxRetries = 0;
        var table = new TableServiceClient(azurite.ConnectionString, options).GetTableClient("stopped");
        await table.CreateIfNotExistsAsync();
        await table.UpsertEntityAsync(new TableEntity("p", "r"));

        await azurite.StopAsync();
        var e = await Assert.ThrowsAsync<RequestFailedException>(() => table.GetEntityAsync("p", "r"));
        await azurite.StartAsync();

        Assert.Equal(0, e.Status);
        Assert.NotNull(await table.GetEntityAsync("p", "r"));
    }
}
