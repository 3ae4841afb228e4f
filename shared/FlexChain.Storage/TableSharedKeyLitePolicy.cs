using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Azure;
using Azure.Core;
using Azure.Core.Pipeline;

namespace FlexChain.Storage;

/// <summary>
/// Signs each attempt with the Table service's SharedKeyLite scheme: <c>x-ms-date</c> plus
/// <c>Authorization: SharedKeyLite {account}:{base64(HMAC-SHA256(key, Date + "\n" + CanonicalizedResource))}</c>.
/// </summary>
/// <remarks>
/// The canonicalized resource is <c>/{account}{encoded URI path}</c>, plus <c>?comp={value}</c> when the URI has a
/// <c>comp</c> parameter. With path-style URLs (Azurite) the path itself starts with the account, so the account
/// appears twice: <c>/devstoreaccount1/devstoreaccount1/Tables</c>. Runs per retry so each attempt has a fresh date.
/// </remarks>
internal sealed class TableSharedKeyLitePolicy(AzureNamedKeyCredential credential, TimeProvider? clock = null) : HttpPipelineSynchronousPolicy
{
    private readonly TimeProvider _clock = clock ?? TimeProvider.System;

    public override void OnSendingRequest(HttpMessage message)
    {
        var date = _clock.GetUtcNow().ToString("R", CultureInfo.InvariantCulture);
        var (account, key) = credential;
        var resource = CanonicalizedResource(account, message.Request.Uri.Path, message.Request.Uri.Query);
        var signature = ComputeSignature(key, StringToSign(date, resource));
        message.Request.Headers.SetValue("x-ms-date", date);
        message.Request.Headers.SetValue(HttpHeader.Names.Authorization, $"SharedKeyLite {account}:{signature}");
    }

    /// <summary><c>Date + "\n" + CanonicalizedResource</c>.</summary>
    internal static string StringToSign(string date, string canonicalizedResource) => date + "\n" + canonicalizedResource;

    /// <summary>The canonicalized resource from the URI path as sent (percent-encoded) and its query (with or without '?').</summary>
    internal static string CanonicalizedResource(string accountName, string encodedPath, string? query)
    {
        var path = string.IsNullOrEmpty(encodedPath) ? "/" : encodedPath;
        var resource = "/" + accountName + path;
        if (!string.IsNullOrEmpty(query))
        {
            foreach (var pair in query.TrimStart('?').Split('&'))
            {
                if (pair.StartsWith("comp=", StringComparison.OrdinalIgnoreCase))
                    return resource + "?comp=" + Uri.UnescapeDataString(pair[5..]);
            }
        }
        return resource;
    }

    /// <summary>Base64 of HMAC-SHA256 over the UTF-8 string to sign, keyed with the base64-decoded account key.</summary>
    /// <exception cref="FormatException">The account key is not base64.</exception>
    internal static string ComputeSignature(string base64AccountKey, string stringToSign) =>
        Convert.ToBase64String(HMACSHA256.HashData(Convert.FromBase64String(base64AccountKey), Encoding.UTF8.GetBytes(stringToSign)));
}

/// <summary>Counts the attempts of a message so the client can tell a retried insert from a first one.</summary>
internal sealed class AttemptCountingPolicy : HttpPipelineSynchronousPolicy
{
    private const string PropertyName = "FlexChain.Storage.Attempts";

    public override void OnSendingRequest(HttpMessage message) =>
        message.SetProperty(PropertyName, Attempts(message) + 1);

    internal static int Attempts(HttpMessage message) =>
        message.TryGetProperty(PropertyName, out var value) && value is int n ? n : 0;
}
