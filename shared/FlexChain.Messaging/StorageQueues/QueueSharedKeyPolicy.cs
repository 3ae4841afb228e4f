using System.Globalization;
using System.Text;
using Azure;
using Azure.Core;
using Azure.Core.Pipeline;
using FlexChain.Storage;

namespace FlexChain.Messaging.StorageQueues;

/// <summary>
/// Signs each attempt with the full SharedKey scheme of the Blob, Queue and File services (version 2009-09-19 and
/// later): <c>Authorization: SharedKey {account}:{base64(HMAC-SHA256(key, StringToSign))}</c>.
/// </summary>
/// <remarks>
/// <code>
/// StringToSign = VERB \n Content-Encoding \n Content-Language \n Content-Length (empty when 0) \n Content-MD5 \n
///                Content-Type \n Date \n If-Modified-Since \n If-Match \n If-None-Match \n If-Unmodified-Since \n
///                Range \n CanonicalizedHeaders CanonicalizedResource
/// </code>
/// <para>The date travels in <c>x-ms-date</c>, so the Date line is empty. CanonicalizedHeaders are the <c>x-ms-*</c>
/// headers, names lower-cased, sorted, each <c>name:value\n</c>. CanonicalizedResource is <c>/{account}{encoded path}</c>
/// followed by every query parameter as <c>\n{lower-cased name}:{decoded values, sorted, comma-separated}</c>, names
/// sorted. With path-style URLs (Azurite) the path itself starts with the account, which then appears twice.</para>
/// <para>Runs per retry, so each attempt carries a fresh date. The key and the signature never leave this class.</para>
/// </remarks>
internal sealed class QueueSharedKeyPolicy(AzureNamedKeyCredential credential, TimeProvider? clock = null) : HttpPipelineSynchronousPolicy
{
    private static readonly string[] StandardHeaders =
    [
        "Content-Encoding", "Content-Language", "Content-Length", "Content-MD5", "Content-Type", "Date",
        "If-Modified-Since", "If-Match", "If-None-Match", "If-Unmodified-Since", "Range",
    ];

    private readonly TimeProvider _clock = clock ?? TimeProvider.System;

    public override void OnSendingRequest(HttpMessage message)
    {
        var request = message.Request;
        request.Headers.SetValue("x-ms-date", _clock.GetUtcNow().ToString("R", CultureInfo.InvariantCulture));
        var (account, key) = credential;

        var standard = new List<string>(StandardHeaders.Length);
        foreach (var name in StandardHeaders)
        {
            if (name == "Content-Length")
            {
                long length = 0;
                var hasLength = request.Content?.TryComputeLength(out length) ?? false;
                standard.Add(hasLength && length > 0 ? length.ToString(CultureInfo.InvariantCulture) : "");
            }
            else
            {
                standard.Add(request.Headers.TryGetValue(name, out var value) ? value : "");
            }
        }
        var msHeaders = request.Headers
            .Where(h => h.Name.StartsWith("x-ms-", StringComparison.OrdinalIgnoreCase))
            .Select(h => new KeyValuePair<string, string>(h.Name, h.Value));

        var toSign = StringToSign(request.Method.Method, standard, msHeaders, CanonicalizedResource(account, request.Uri.Path, request.Uri.Query));
        var signature = ComputeSignature(key, toSign);
        request.Headers.SetValue(HttpHeader.Names.Authorization, $"SharedKey {account}:{signature}");
    }

    /// <summary>base64(HMAC-SHA256(base64-decoded account key, UTF-8 string to sign)), the same MAC as SharedKeyLite's.</summary>
    /// <exception cref="FormatException">The account key is not base64.</exception>
    internal static string ComputeSignature(string base64AccountKey, string stringToSign) =>
        TableSharedKeyLitePolicy.ComputeSignature(base64AccountKey, stringToSign);

    /// <summary>The string to sign from the verb, the eleven standard header values in order, the headers and the resource.</summary>
    internal static string StringToSign(string verb, IReadOnlyList<string> standardHeaderValues, IEnumerable<KeyValuePair<string, string>> headers, string canonicalizedResource)
    {
        if (standardHeaderValues.Count != StandardHeaders.Length)
            throw new ArgumentException($"Expected {StandardHeaders.Length} standard header values.", nameof(standardHeaderValues));
        var sb = new StringBuilder(verb.ToUpperInvariant()).Append('\n');
        foreach (var value in standardHeaderValues) sb.Append(value).Append('\n');
        sb.Append(CanonicalizedHeaders(headers));
        sb.Append(canonicalizedResource);
        return sb.ToString();
    }

    /// <summary>The <c>x-ms-*</c> headers as <c>name:value\n</c> lines, names lower-cased and sorted (ordinal).</summary>
    internal static string CanonicalizedHeaders(IEnumerable<KeyValuePair<string, string>> headers)
    {
        var sb = new StringBuilder();
        foreach (var (name, value) in headers
                     .Where(h => h.Key.StartsWith("x-ms-", StringComparison.OrdinalIgnoreCase))
                     .Select(h => (Name: h.Key.ToLowerInvariant(), Value: h.Value.Trim()))
                     .OrderBy(h => h.Name, StringComparer.Ordinal))
        {
            sb.Append(name).Append(':').Append(value).Append('\n');
        }
        return sb.ToString();
    }

    /// <summary><c>/{account}{encoded path}</c> plus <c>\nname:value</c> per query parameter (names lower-cased and sorted, values decoded).</summary>
    internal static string CanonicalizedResource(string accountName, string encodedPath, string? query)
    {
        var sb = new StringBuilder("/").Append(accountName).Append(string.IsNullOrEmpty(encodedPath) ? "/" : encodedPath);
        if (string.IsNullOrEmpty(query)) return sb.ToString();
        var parameters = new SortedDictionary<string, List<string>>(StringComparer.Ordinal);
        foreach (var pair in query.TrimStart('?').Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            var eq = pair.IndexOf('=', StringComparison.Ordinal);
            var name = Uri.UnescapeDataString(eq < 0 ? pair : pair[..eq]).ToLowerInvariant();
            var value = eq < 0 ? "" : Uri.UnescapeDataString(pair[(eq + 1)..]);
            if (!parameters.TryGetValue(name, out var values)) parameters[name] = values = [];
            values.Add(value);
        }
        foreach (var (name, values) in parameters)
        {
            values.Sort(StringComparer.Ordinal);
            sb.Append('\n').Append(name).Append(':').Append(string.Join(',', values));
        }
        return sb.ToString();
    }
}
