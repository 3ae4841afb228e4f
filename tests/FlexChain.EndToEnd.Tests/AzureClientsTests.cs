using System.Collections.Concurrent;
using System.Net;
using Azure.Core;
using Azure.Core.Pipeline;
using Azure.Data.Tables;
using FlexChain.Functions.Hosting;
using Microsoft.Extensions.Configuration;

namespace FlexChain.EndToEnd.Tests;

/// <summary>
/// How the app builds its Azure clients in Azure, where only endpoints are configured: every storage request carries a
/// bearer token for Azure Storage from the one configured credential, never a shared key. No network: a credential
/// double hands out the token and a recording transport answers in place of the service.
/// </summary>
public sealed class AzureClientsTests
{
    [Fact]
    public async Task Clients_AccountNameOnly_EveryStorageServiceUsesBearerTokenForStorageScope()
    {
        var credential = new RecordingCredential();
        var transport = new RecordingTransport();
        var clients = new AzureClients(Config(("Storage:AccountName", "flexprod")), credential, transport.Transport);

        await clients.Tables.GetTableClient("requests").GetEntityIfExistsAsync<TableEntity>("p", "r");
        // The recording transport answers 404 without the services' error codes; only the requests matter here.
        await Assert.ThrowsAnyAsync<Azure.RequestFailedException>(() => clients.Queues.GetQueueClient("request-events").GetPropertiesAsync());
        await Assert.ThrowsAnyAsync<Azure.RequestFailedException>(() => clients.Blobs.GetBlobContainerClient("leases").GetPropertiesAsync());

        Assert.Equal(["flexprod.table.core.windows.net", "flexprod.queue.core.windows.net", "flexprod.blob.core.windows.net"],
            transport.Requests.Select(r => r.Host));
        Assert.All(transport.Requests, r => Assert.Equal("Bearer token-1", r.Authorization));
        Assert.All(credential.Scopes, s => Assert.Equal("https://storage.azure.com/.default", s));
        Assert.Null(clients.ServiceBus);
    }

    [Fact]
    public async Task Clients_ServiceUriOverridesAccountEndpoint()
    {
        var transport = new RecordingTransport();
        var clients = new AzureClients(Config(("Storage:AccountName", "flexprod"), ("Storage:TableServiceUri", "https://tables.example.net")),
            new RecordingCredential(), transport.Transport);

        await clients.Tables.GetTableClient("requests").GetEntityIfExistsAsync<TableEntity>("p", "r");

        Assert.Equal("tables.example.net", Assert.Single(transport.Requests).Host);
    }

    [Fact]
    public async Task Clients_ConnectionString_UsesSharedKeyAndNoCredential()
    {
        var credential = new RecordingCredential();
        var transport = new RecordingTransport();
        var clients = new AzureClients(Config(("Storage:ConnectionString", "UseDevelopmentStorage=true")), credential, transport.Transport);

        await clients.Tables.GetTableClient("requests").GetEntityIfExistsAsync<TableEntity>("p", "r");

        Assert.StartsWith("SharedKey", Assert.Single(transport.Requests).Authorization);
        Assert.Empty(credential.Scopes);
    }

    [Fact]
    public void Clients_ConnectionStringAndEndpoints_RefusedAsAmbiguous() =>
        Assert.Throws<InvalidOperationException>(() => new AzureClients(
            Config(("Storage:ConnectionString", "UseDevelopmentStorage=true"), ("Storage:AccountName", "flexprod")), new RecordingCredential()));

    [Fact]
    public void Clients_ServiceBusNamespace_BuildsClientForThatNamespaceWithoutConnectionString()
    {
        var clients = new AzureClients(Config(("Storage:AccountName", "flexprod"),
            ("ServiceBusConnection:fullyQualifiedNamespace", "flexprod.servicebus.windows.net")), new RecordingCredential());

        Assert.Equal("flexprod.servicebus.windows.net", clients.ServiceBus!.FullyQualifiedNamespace);
    }

    private static IConfiguration Config(params (string Key, string Value)[] settings) =>
        new ConfigurationBuilder().AddInMemoryCollection(settings.Select(s => KeyValuePair.Create(s.Key, (string?)s.Value))).Build();

    private sealed class RecordingCredential : TokenCredential
    {
        public ConcurrentQueue<string> Scopes { get; } = new();

        public override AccessToken GetToken(TokenRequestContext requestContext, CancellationToken cancellationToken)
        {
            foreach (var scope in requestContext.Scopes) Scopes.Enqueue(scope);
            return new AccessToken("token-1", DateTimeOffset.UtcNow.AddHours(1));
        }

        public override ValueTask<AccessToken> GetTokenAsync(TokenRequestContext requestContext, CancellationToken cancellationToken) =>
            new(GetToken(requestContext, cancellationToken));
    }

    /// <summary>Answers every request with 404 (nothing there), recording where it went and how it was authorised.</summary>
    private sealed class RecordingTransport : HttpMessageHandler
    {
        public List<(string Host, string? Authorization)> Requests { get; } = [];

        public HttpPipelineTransport Transport => new HttpClientTransport(new HttpClient(this));

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            lock (Requests) Requests.Add((request.RequestUri!.Host, request.Headers.Authorization?.ToString()));
            return Task.FromResult(new HttpResponseMessage(HttpStatusCode.NotFound) { Content = new StringContent("") });
        }
    }
}
