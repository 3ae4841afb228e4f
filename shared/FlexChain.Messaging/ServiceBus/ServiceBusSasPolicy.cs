using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Web;
using Azure;
using Azure.Core;
using Azure.Core.Pipeline;

namespace FlexChain.Messaging.ServiceBus;

/// <summary>
/// Authorizes each attempt with a Service Bus shared access signature for the request's resource:
/// <c>Authorization: SharedAccessSignature sr={url-encoded resource}&amp;sig={url-encoded signature}&amp;se={expiry}&amp;skn={key name}</c>,
/// where the signature is base64(HMAC-SHA256(UTF-8 key, url-encoded resource + "\n" + expiry)) and the expiry is in
/// seconds since 1970-01-01 UTC.
/// </summary>
/// <remarks>
/// The resource is the request URI without its query (a token for a URI covers every URI it prefixes); it is encoded
/// with <see cref="HttpUtility.UrlEncode(string)"/> as in Microsoft's documented sample, and the service checks the
/// signature over the <c>sr</c> value exactly as sent. The key and the signature are never logged.
/// </remarks>
internal sealed class ServiceBusSasPolicy(AzureNamedKeyCredential credential, TimeSpan lifetime, TimeProvider clock) : HttpPipelineSynchronousPolicy
{
    public override void OnSendingRequest(HttpMessage message)
    {
        var uri = message.Request.Uri.ToUri();
        var resource = uri.GetLeftPart(UriPartial.Path);
        var expiry = clock.GetUtcNow().Add(lifetime).ToUnixTimeSeconds();
        var (keyName, key) = credential;
        message.Request.Headers.SetValue(HttpHeader.Names.Authorization, CreateToken(resource, keyName, key, expiry));
    }

    /// <summary>The <c>SharedAccessSignature …</c> header value for <paramref name="resource"/> valid until <paramref name="expiryUnixSeconds"/>.</summary>
    internal static string CreateToken(string resource, string keyName, string key, long expiryUnixSeconds)
    {
        var encodedResource = HttpUtility.UrlEncode(resource);
        var expiry = expiryUnixSeconds.ToString(CultureInfo.InvariantCulture);
        var signature = Sign(key, StringToSign(encodedResource, expiry));
        return $"SharedAccessSignature sr={encodedResource}&sig={HttpUtility.UrlEncode(signature)}&se={expiry}&skn={HttpUtility.UrlEncode(keyName)}";
    }

    /// <summary><c>{url-encoded resource}\n{expiry}</c>.</summary>
    internal static string StringToSign(string encodedResource, string expiry) => encodedResource + "\n" + expiry;

    /// <summary>base64(HMAC-SHA256) over the UTF-8 string, keyed with the UTF-8 bytes of the key as given (not base64-decoded).</summary>
    internal static string Sign(string key, string stringToSign) =>
        Convert.ToBase64String(HMACSHA256.HashData(Encoding.UTF8.GetBytes(key), Encoding.UTF8.GetBytes(stringToSign)));
}
