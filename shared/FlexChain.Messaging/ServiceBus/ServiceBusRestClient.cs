using Azure;
using Azure.Core;
using Azure.Core.Pipeline;
using FlexChain.Messaging.Http;

namespace FlexChain.Messaging.ServiceBus;

/// <summary>
/// The entry point to one Service Bus namespace through its REST runtime API (Azure.Messaging.ServiceBus is not in our
/// mirror): hands out <see cref="ServiceBusQueue"/>s that share one Azure.Core <see cref="HttpPipeline"/>. Thread-safe;
/// create one per namespace and keep it.
/// </summary>
public sealed class ServiceBusRestClient : IMessageBroker
{
    /// <summary>The Entra ID scope for Service Bus data-plane tokens.</summary>
    public const string ServiceBusScope = "https://servicebus.azure.net/.default";

    private readonly HttpPipeline _pipeline;

    /// <summary>
    /// A client from a namespace connection string
    /// (<c>Endpoint=sb://{ns}.servicebus.windows.net/;SharedAccessKeyName=…;SharedAccessKey=…</c>); <c>sb://</c> means
    /// https, an <c>http://</c> or <c>https://</c> endpoint is used as given. Requests carry SAS tokens.
    /// </summary>
    /// <exception cref="ArgumentException">The connection string is null or empty, or an option is out of range.</exception>
    /// <exception cref="FormatException">The connection string lacks the endpoint, the key name or the key.</exception>
    public ServiceBusRestClient(string connectionString, ServiceBusRestClientOptions? options = null)
        : this(ParseConnectionString(connectionString), options)
    {
    }

    /// <summary>A client for the namespace <paramref name="endpoint"/> signing SAS tokens with a shared access key (name and key).</summary>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    /// <exception cref="ArgumentException">An option is out of range.</exception>
    public ServiceBusRestClient(Uri endpoint, AzureNamedKeyCredential credential, ServiceBusRestClientOptions? options = null)
        : this(endpoint, options, o => new ServiceBusSasPolicy(credential ?? throw new ArgumentNullException(nameof(credential)), o.SasTokenLifetime, o.TimeProvider))
    {
    }

    /// <summary>
    /// A client for the namespace <paramref name="endpoint"/> authorized with Entra ID bearer tokens for
    /// <see cref="ServiceBusScope"/> (for example a managed identity with the Azure Service Bus Data Sender/Receiver roles).
    /// </summary>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    /// <exception cref="ArgumentException">An option is out of range.</exception>
    public ServiceBusRestClient(Uri endpoint, TokenCredential credential, ServiceBusRestClientOptions? options = null)
        : this(endpoint, options, _ => new BearerTokenAuthenticationPolicy(credential ?? throw new ArgumentNullException(nameof(credential)), ServiceBusScope))
    {
    }

    private ServiceBusRestClient((Uri Endpoint, AzureNamedKeyCredential Credential) parsed, ServiceBusRestClientOptions? options)
        : this(parsed.Endpoint, parsed.Credential, options)
    {
    }

    private ServiceBusRestClient(Uri endpoint, ServiceBusRestClientOptions? options, Func<ServiceBusRestClientOptions, HttpPipelinePolicy> auth)
    {
        ArgumentNullException.ThrowIfNull(endpoint);
        if (!endpoint.IsAbsoluteUri)
            throw new ArgumentException("The endpoint must be an absolute URI.", nameof(endpoint));
        Options = options ?? new ServiceBusRestClientOptions();
        Options.Validate();
        Endpoint = new Uri(endpoint.GetLeftPart(UriPartial.Path).TrimEnd('/'));
        _pipeline = HttpPipelineBuilder.Build(
            new HttpPipelineOptions(Options)
            {
                PerRetryPolicies = { auth(Options) },
                RequestFailedDetailsParser = XmlErrorParser.Instance,
            });
    }

    /// <summary>The namespace endpoint, for example <c>https://contoso.servicebus.windows.net</c>.</summary>
    public Uri Endpoint { get; }

    internal ServiceBusRestClientOptions Options { get; }

    /// <summary>A client for one queue (no request is made).</summary>
    /// <exception cref="ArgumentException">The name is not a valid queue path (1–260 letters, digits, '.', '-', '_', '/').</exception>
    public ServiceBusQueue GetQueue(string name)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        if (name.Length > 260 || name.StartsWith('/') || name.EndsWith('/') ||
            !name.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '-' or '_' or '/'))
            throw new ArgumentException("Queue paths have 1–260 letters, digits, '.', '-', '_' and inner '/'.", nameof(name));
        return new ServiceBusQueue(this, name, isDeadLetterQueue: false);
    }

    IMessageQueue IMessageBroker.GetQueue(string name) => GetQueue(name);

    internal HttpMessage CreateMessage(RequestMethod method, string encodedPath)
    {
        var message = _pipeline.CreateMessage();
        message.Request.Method = method;
        message.Request.Uri.Reset(Endpoint);
        message.Request.Uri.AppendPath(encodedPath, escape: false);
        return message;
    }

    internal async Task<Response> SendAsync(HttpMessage message, CancellationToken cancellationToken)
    {
        await _pipeline.SendAsync(message, cancellationToken).ConfigureAwait(false);
        return message.Response;
    }

    /// <exception cref="FormatException">A required part is missing or malformed.</exception>
    internal static (Uri Endpoint, AzureNamedKeyCredential Credential) ParseConnectionString(string connectionString)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(connectionString);
        var parts = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var segment in connectionString.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var eq = segment.IndexOf('=', StringComparison.Ordinal);
            if (eq <= 0) throw new FormatException("Connection string segments must look like Name=Value.");
            parts[segment[..eq]] = segment[(eq + 1)..]; // keys end in '=' padding: split at the first '=' only
        }
        if (!parts.TryGetValue("Endpoint", out var endpointText) || !Uri.TryCreate(endpointText, UriKind.Absolute, out var endpoint))
            throw new FormatException("The connection string has no absolute Endpoint.");
        if (endpoint.Scheme == "sb")
            endpoint = new UriBuilder(endpoint) { Scheme = Uri.UriSchemeHttps, Port = -1 }.Uri;
        if (!parts.TryGetValue("SharedAccessKeyName", out var keyName) || keyName.Length == 0)
            throw new FormatException("The connection string has no SharedAccessKeyName.");
        if (!parts.TryGetValue("SharedAccessKey", out var key) || key.Length == 0)
            throw new FormatException("The connection string has no SharedAccessKey.");
        return (endpoint, new AzureNamedKeyCredential(keyName, key));
    }
}
