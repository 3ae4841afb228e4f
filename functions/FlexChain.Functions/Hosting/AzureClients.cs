using Azure.Core;
using Azure.Core.Pipeline;
using Azure.Data.Tables;
using Azure.Identity;
using Azure.Messaging.ServiceBus;
using Azure.Storage.Blobs;
using Azure.Storage.Queues;

namespace FlexChain.Functions.Hosting;

/// <summary>
/// The Azure SDK clients of the app, each built once from configuration. Locally (and wherever a connection string is
/// configured) they use it; in Azure only endpoints are configured and every client authenticates with Entra ID through
/// one <see cref="TokenCredential"/>: the user-assigned managed identity named by <c>AzureClientId</c>, or
/// <see cref="DefaultAzureCredential"/> without it. The settings follow the Functions host's identity-based connections.
/// </summary>
/// <remarks>
/// Storage: <c>Storage:ConnectionString</c>; or <c>Storage:AccountName</c> (endpoints
/// <c>https://{name}.{table|queue|blob}.core.windows.net</c>), each overridable by <c>Storage:TableServiceUri</c>,
/// <c>Storage:QueueServiceUri</c>, <c>Storage:BlobServiceUri</c>; neither means Azurite
/// (<c>UseDevelopmentStorage=true</c>). Service Bus: <c>ServiceBusConnection</c> (a connection string) or
/// <c>ServiceBusConnection:fullyQualifiedNamespace</c> (<c>ServiceBusConnection__fullyQualifiedNamespace</c> in app
/// settings, the name its <c>serviceBusTrigger</c> binding reads too); neither means storage queues.
/// </remarks>
public sealed class AzureClients : IAsyncDisposable
{
    private readonly Lazy<TokenCredential> _credential;

    /// <summary>Builds the clients from <paramref name="configuration"/>; no request is sent until one is used.</summary>
    /// <param name="configuration">The app's configuration.</param>
    /// <param name="credential">The credential for endpoint-only settings; null for the managed identity or default chain.</param>
    /// <param name="transport">The HTTP transport of the storage clients; null for the default (tests pass one to see requests).</param>
    /// <exception cref="InvalidOperationException">The settings mix a connection string with endpoints, or name no usable endpoint.</exception>
    public AzureClients(IConfiguration configuration, TokenCredential? credential = null, HttpPipelineTransport? transport = null)
    {
        _credential = new(() => credential ?? (configuration["AzureClientId"] is { Length: > 0 } clientId
            ? new ManagedIdentityCredential(ManagedIdentityId.FromUserAssignedClientId(clientId))
            : new DefaultAzureCredential()));
        var storage = configuration.GetSection("Storage");
        var connection = storage["ConnectionString"];
        var account = storage["AccountName"];
        Uri Endpoint(string service) => storage[$"{service}ServiceUri"] is { Length: > 0 } uri ? new Uri(uri)
            : account is { Length: > 0 } ? new Uri($"https://{account}.{service.ToLowerInvariant()}.core.windows.net")
            : throw new InvalidOperationException($"Storage:{service}ServiceUri or Storage:AccountName is required without Storage:ConnectionString");
        var byIdentity = account is { Length: > 0 } || storage.GetChildren().Any(c => c.Key.EndsWith("ServiceUri", StringComparison.Ordinal));
        if (byIdentity && connection is { Length: > 0 })
            throw new InvalidOperationException("Configure either Storage:ConnectionString or Storage endpoints (AccountName, *ServiceUri), not both");
        connection ??= "UseDevelopmentStorage=true";

        var tableOptions = new TableClientOptions();
        var queueOptions = new QueueClientOptions();
        var blobOptions = new BlobClientOptions();
        if (transport is not null) tableOptions.Transport = queueOptions.Transport = blobOptions.Transport = transport;
        Tables = byIdentity ? new TableServiceClient(Endpoint("Table"), _credential.Value, tableOptions) : new TableServiceClient(connection, tableOptions);
        Queues = byIdentity ? new QueueServiceClient(Endpoint("Queue"), _credential.Value, queueOptions) : new QueueServiceClient(connection, queueOptions);
        Blobs = byIdentity ? new BlobServiceClient(Endpoint("Blob"), _credential.Value, blobOptions) : new BlobServiceClient(connection, blobOptions);
        DurableStorage = byIdentity
            ? new DurableTask.AzureStorage.StorageAccountClientProvider(Endpoint("Blob"), Endpoint("Queue"), Endpoint("Table"), _credential.Value)
            : new DurableTask.AzureStorage.StorageAccountClientProvider(connection);

        var serviceBus = configuration.GetSection("ServiceBusConnection");
        ServiceBus = serviceBus["fullyQualifiedNamespace"] is { Length: > 0 } ns ? new ServiceBusClient(ns, _credential.Value)
            : serviceBus.Value is { Length: > 0 } sb ? new ServiceBusClient(sb)
            : null;
    }

    /// <summary>Table storage: the market's state.</summary>
    public TableServiceClient Tables { get; }

    /// <summary>Storage queues: the local message transport (and the trigger driver's polling).</summary>
    public QueueServiceClient Queues { get; }

    /// <summary>Blob storage: the chain signer's lease.</summary>
    public BlobServiceClient Blobs { get; }

    /// <summary>The same storage account for the Durable Task Framework's task hub (its own clients, same settings).</summary>
    public DurableTask.AzureStorage.StorageAccountClientProvider DurableStorage { get; }

    /// <summary>Service Bus, the message transport in Azure; null when none is configured (storage queues carry the messages).</summary>
    public ServiceBusClient? ServiceBus { get; }

    /// <summary>Closes the Service Bus connection (the storage clients hold none).</summary>
    public async ValueTask DisposeAsync()
    {
        if (ServiceBus is not null) await ServiceBus.DisposeAsync();
    }
}
