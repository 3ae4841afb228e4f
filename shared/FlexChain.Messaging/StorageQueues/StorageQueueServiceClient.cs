using Azure;
using Azure.Core;
using Azure.Core.Pipeline;
using FlexChain.Messaging.Http;
using FlexChain.Storage;

namespace FlexChain.Messaging.StorageQueues;

/// <summary>
/// The entry point to one storage account's Queue service (REST on Azure.Core, since Azure.Storage.Queues is not in our
/// mirror): hands out <see cref="StorageQueue"/>s that share one <see cref="HttpPipeline"/>. Thread-safe; create one
/// per account and keep it.
/// </summary>
public sealed class StorageQueueServiceClient : IMessageBroker
{
    internal const string StorageScope = "https://storage.azure.com/.default";
    private const int MaxQueueNameLength = 63;

    private readonly HttpPipeline _pipeline;

    /// <summary>
    /// A client from a storage connection string (<c>UseDevelopmentStorage=true</c>, or one with <c>AccountName</c>,
    /// <c>AccountKey</c> and <c>QueueEndpoint</c> or <c>DefaultEndpointsProtocol</c>/<c>EndpointSuffix</c>), signing
    /// with SharedKey.
    /// </summary>
    /// <exception cref="ArgumentException">The connection string is null or empty, or an option is out of range.</exception>
    /// <exception cref="FormatException">The connection string is malformed, has no key, or is a SAS.</exception>
    public StorageQueueServiceClient(string connectionString, StorageQueueClientOptions? options = null)
        : this(TableConnectionString.Parse(connectionString), options)
    {
    }

    /// <summary>A client for the Queue service <paramref name="endpoint"/> signing with the account's shared key.</summary>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    /// <exception cref="ArgumentException">An option is out of range.</exception>
    public StorageQueueServiceClient(Uri endpoint, AzureNamedKeyCredential credential, StorageQueueClientOptions? options = null)
        : this(endpoint, credential?.Name ?? throw new ArgumentNullException(nameof(credential)), new QueueSharedKeyPolicy(credential), options)
    {
    }

    /// <summary>
    /// A client for the Queue service <paramref name="endpoint"/> (https) authorized with Entra ID bearer tokens for
    /// <c>https://storage.azure.com/.default</c> (for example a managed identity).
    /// </summary>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    /// <exception cref="ArgumentException">An option is out of range.</exception>
    public StorageQueueServiceClient(Uri endpoint, TokenCredential credential, StorageQueueClientOptions? options = null)
        : this(endpoint, (endpoint ?? throw new ArgumentNullException(nameof(endpoint))).Host.Split('.')[0], new BearerTokenAuthenticationPolicy(credential ?? throw new ArgumentNullException(nameof(credential)), StorageScope), options)
    {
    }

    private StorageQueueServiceClient(TableConnectionString parsed, StorageQueueClientOptions? options)
        : this(parsed.QueueEndpoint, new AzureNamedKeyCredential(parsed.AccountName, parsed.AccountKey), options)
    {
    }

    private StorageQueueServiceClient(Uri endpoint, string accountName, HttpPipelinePolicy auth, StorageQueueClientOptions? options)
    {
        ArgumentNullException.ThrowIfNull(endpoint);
        if (!endpoint.IsAbsoluteUri)
            throw new ArgumentException("The endpoint must be an absolute URI.", nameof(endpoint));
        Options = options ?? new StorageQueueClientOptions();
        Options.Validate();
        Endpoint = new Uri(endpoint.GetLeftPart(UriPartial.Path).TrimEnd('/'));
        AccountName = accountName;
        _pipeline = HttpPipelineBuilder.Build(
            new HttpPipelineOptions(Options)
            {
                PerRetryPolicies = { auth },
                RequestFailedDetailsParser = XmlErrorParser.Instance,
            });
    }

    /// <summary>The Queue service endpoint, for example <c>http://127.0.0.1:10001/devstoreaccount1</c>.</summary>
    public Uri Endpoint { get; }

    /// <summary>The storage account name.</summary>
    public string AccountName { get; }

    internal StorageQueueClientOptions Options { get; }

    /// <summary>A client for one queue (no request is made; the queue need not exist yet).</summary>
    /// <exception cref="ArgumentException">
    /// The name is not a valid queue name (3–63 lower-case letters, digits and single hyphens, starting and ending with a
    /// letter or digit) or leaves no room for the <c>-poison</c> suffix.
    /// </exception>
    public StorageQueue GetQueue(string name)
    {
        ValidateQueueName(name, MaxQueueNameLength - StorageQueue.PoisonSuffix.Length);
        return new StorageQueue(this, name, isPoisonQueue: false);
    }

    IMessageQueue IMessageBroker.GetQueue(string name) => GetQueue(name);

    internal HttpMessage CreateMessage(RequestMethod method, string queueName, string? subPath = null)
    {
        var message = _pipeline.CreateMessage();
        message.Request.Method = method;
        message.Request.Uri.Reset(Endpoint);
        message.Request.Uri.AppendPath("/" + queueName, escape: false);
        if (subPath is not null) message.Request.Uri.AppendPath(subPath, escape: false);
        message.Request.Headers.SetValue("x-ms-version", Options.ServiceVersion);
        return message;
    }

    internal async Task<Response> SendAsync(HttpMessage message, CancellationToken cancellationToken)
    {
        await _pipeline.SendAsync(message, cancellationToken).ConfigureAwait(false);
        return message.Response;
    }

    internal static void ValidateQueueName(string name, int maxLength)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        var valid = name.Length >= 3 && name.Length <= maxLength
            && char.IsAsciiLetterOrDigit(name[0]) && char.IsAsciiLetterOrDigit(name[^1])
            && name.All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c == '-')
            && !name.Contains("--", StringComparison.Ordinal);
        if (!valid)
            throw new ArgumentException(
                $"Queue names have 3–{maxLength} lower-case letters, digits and single hyphens, and start and end with a letter or digit.", nameof(name));
    }
}
