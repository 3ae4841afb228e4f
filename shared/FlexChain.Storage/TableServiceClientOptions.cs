using Azure.Core;

namespace FlexChain.Storage;

/// <summary>
/// Options for <see cref="TableServiceClient"/>: the Azure.Core pipeline settings (retry, transport, diagnostics)
/// plus the Table service version.
/// </summary>
/// <remarks>
/// Retries use Azure.Core's defaults (<see cref="ClientOptions.Retry"/>): 408, 429, 500, 502, 503, 504 and transport
/// failures are retried with exponential back-off. Every attempt is signed again, so a retry never reuses a stale date.
/// </remarks>
public sealed class TableServiceClientOptions : ClientOptions
{
    /// <summary>The oldest service version this client speaks; it needs JSON payloads and <c>Prefer: return-no-content</c>.</summary>
    public const string DefaultServiceVersion = "2019-02-02";

    /// <summary>The <c>x-ms-version</c> sent with every request (default <see cref="DefaultServiceVersion"/>).</summary>
    public string ServiceVersion { get; set; } = DefaultServiceVersion;

    /// <summary>
    /// When an insert was retried (its first attempt's response was lost) and the retry gets 409 EntityAlreadyExists,
    /// read the stored entity and treat the insert as successful when every property equals what was sent.
    /// Default <see langword="true"/>. See <see cref="TableClient.AddEntityAsync"/>.
    /// </summary>
    public bool ResolveRetriedInsertConflicts { get; set; } = true;
}
