using Azure;
using Azure.Core;
using Azure.Core.Pipeline;

namespace FlexChain.Storage;

/// <summary>
/// The entry point to one storage account's Table service: creates and deletes tables and hands out
/// <see cref="TableClient"/>s, all sharing one Azure.Core <see cref="HttpPipeline"/> built at construction.
/// Thread-safe; create one per account and keep it.
/// </summary>
/// <remarks>
/// Failures surface as <see cref="RequestFailedException"/> with <see cref="RequestFailedException.Status"/> and the
/// service's <see cref="RequestFailedException.ErrorCode"/> (for example 403 AuthorizationFailure for a wrong key).
/// </remarks>
public sealed class TableServiceClient
{
    internal const string NoMetadata = "application/json;odata=nometadata";
    internal const string MinimalMetadata = "application/json;odata=minimalmetadata";
    internal const string StorageScope = "https://storage.azure.com/.default";

    private readonly HttpPipeline _pipeline;
    private readonly Uri _endpoint;

    /// <summary>
    /// A client from a connection string: <c>UseDevelopmentStorage=true</c>, or one with <c>AccountName</c>,
    /// <c>AccountKey</c> and either <c>TableEndpoint</c> or <c>DefaultEndpointsProtocol</c>/<c>EndpointSuffix</c>.
    /// Requests are signed with SharedKeyLite.
    /// </summary>
    /// <exception cref="ArgumentException">The connection string is null or empty.</exception>
    /// <exception cref="FormatException">The connection string is malformed, has no key, or is a SAS.</exception>
    public TableServiceClient(string connectionString, TableServiceClientOptions? options = null)
        : this(TableConnectionString.Parse(connectionString), options)
    {
    }

    /// <summary>A client for <paramref name="endpoint"/> signing with the account's shared key (SharedKeyLite).</summary>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    public TableServiceClient(Uri endpoint, AzureNamedKeyCredential credential, TableServiceClientOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(endpoint);
        ArgumentNullException.ThrowIfNull(credential);
        Options = options ?? new TableServiceClientOptions();
        _endpoint = Normalize(endpoint);
        AccountName = credential.Name;
        _pipeline = HttpPipelineBuilder.Build(
            new HttpPipelineOptions(Options)
            {
                PerRetryPolicies = { new AttemptCountingPolicy(), new TableSharedKeyLitePolicy(credential) },
                RequestFailedDetailsParser = TableErrorParser.Instance,
            });
    }

    /// <summary>
    /// A client for <paramref name="endpoint"/> (https) authorized with Entra ID bearer tokens for
    /// <c>https://storage.azure.com/.default</c> (for example a managed identity from Azure.Identity).
    /// </summary>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    public TableServiceClient(Uri endpoint, TokenCredential credential, TableServiceClientOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(endpoint);
        ArgumentNullException.ThrowIfNull(credential);
        Options = options ?? new TableServiceClientOptions();
        _endpoint = Normalize(endpoint);
        AccountName = AccountFromEndpoint(_endpoint);
        _pipeline = HttpPipelineBuilder.Build(
            new HttpPipelineOptions(Options)
            {
                PerRetryPolicies = { new AttemptCountingPolicy(), new BearerTokenAuthenticationPolicy(credential, StorageScope) },
                RequestFailedDetailsParser = TableErrorParser.Instance,
            });
    }

    private TableServiceClient(TableConnectionString parsed, TableServiceClientOptions? options)
        : this(parsed.TableEndpoint, new AzureNamedKeyCredential(parsed.AccountName, parsed.AccountKey), options)
    {
    }

    /// <summary>The Table service endpoint, for example <c>https://acct.table.core.windows.net</c> or <c>http://127.0.0.1:10002/devstoreaccount1</c>.</summary>
    public Uri Endpoint => _endpoint;

    /// <summary>The storage account name.</summary>
    public string AccountName { get; }

    internal TableServiceClientOptions Options { get; }

    internal HttpPipeline Pipeline => _pipeline;

    /// <summary>A client for one table (no request is made; the table need not exist yet).</summary>
    /// <exception cref="ArgumentException">The name is not a valid table name (3–63 letters and digits, starting with a letter).</exception>
    public TableClient GetTableClient(string tableName)
    {
        ValidateTableName(tableName);
        return new TableClient(this, tableName);
    }

    /// <summary>Creates the table; returns <see langword="false"/> when it already existed.</summary>
    /// <exception cref="ArgumentException">The name is not a valid table name.</exception>
    /// <exception cref="RequestFailedException">The service refused the request (for example 403 for a wrong key).</exception>
    public Task<bool> CreateTableIfNotExistsAsync(string tableName, CancellationToken cancellationToken = default) =>
        GetTableClient(tableName).CreateIfNotExistsAsync(cancellationToken);

    /// <summary>Deletes the table; returns <see langword="false"/> when it did not exist.</summary>
    /// <exception cref="ArgumentException">The name is not a valid table name.</exception>
    /// <exception cref="RequestFailedException">The service refused the request.</exception>
    public Task<bool> DeleteTableAsync(string tableName, CancellationToken cancellationToken = default) =>
        GetTableClient(tableName).DeleteAsync(cancellationToken);

    internal HttpMessage CreateMessage(RequestMethod method, string encodedPath, string accept)
    {
        var message = _pipeline.CreateMessage();
        var request = message.Request;
        request.Method = method;
        request.Uri.Reset(_endpoint);
        request.Uri.AppendPath(encodedPath, escape: false);
        request.Headers.SetValue("x-ms-version", Options.ServiceVersion);
        request.Headers.SetValue(HttpHeader.Names.Accept, accept);
        request.Headers.SetValue("DataServiceVersion", "3.0");
        request.Headers.SetValue("MaxDataServiceVersion", "3.0;NetFx");
        return message;
    }

    internal async Task<Response> SendAsync(HttpMessage message, CancellationToken cancellationToken)
    {
        await _pipeline.SendAsync(message, cancellationToken).ConfigureAwait(false);
        return message.Response;
    }

    internal static RequestFailedException Failure(Response response) =>
        new(response, null, TableErrorParser.Instance);

    private static Uri Normalize(Uri endpoint)
    {
        if (!endpoint.IsAbsoluteUri)
            throw new ArgumentException("The endpoint must be an absolute URI.", nameof(endpoint));
        var text = endpoint.GetLeftPart(UriPartial.Path).TrimEnd('/');
        return new Uri(text);
    }

    internal static string AccountFromEndpoint(Uri endpoint)
    {
        var segments = endpoint.AbsolutePath.Trim('/');
        if (segments.Length > 0) return segments.Split('/')[0]; // path-style (emulator)
        var host = endpoint.Host;
        var dot = host.IndexOf('.', StringComparison.Ordinal);
        return dot > 0 ? host[..dot] : host;
    }

    internal static void ValidateTableName(string tableName)
    {
        ArgumentException.ThrowIfNullOrEmpty(tableName);
        if (tableName.Length is < 3 or > 63 || !char.IsAsciiLetter(tableName[0]) || !tableName.All(char.IsAsciiLetterOrDigit))
            throw new ArgumentException("Table names have 3–63 ASCII letters and digits and start with a letter.", nameof(tableName));
    }
}
