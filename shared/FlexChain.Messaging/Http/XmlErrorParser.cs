using System.Xml;
using System.Xml.Linq;
using Azure;
using Azure.Core;

namespace FlexChain.Messaging.Http;

/// <summary>
/// Reads the XML error bodies of the Queue service (<c>&lt;Error&gt;&lt;Code&gt;QueueNotFound&lt;/Code&gt;&lt;Message&gt;…</c>,
/// plus the <c>x-ms-error-code</c> header) and of Service Bus (<c>&lt;Error&gt;&lt;Code&gt;401&lt;/Code&gt;&lt;Detail&gt;…</c>).
/// </summary>
internal sealed class XmlErrorParser : RequestFailedDetailsParser
{
    internal static readonly XmlErrorParser Instance = new();

    public override bool TryParse(Response response, out ResponseError? error, out IDictionary<string, string>? data)
    {
        data = null;
        var (code, message) = Parse(response.Content?.ToString());
        if (response.Headers.TryGetValue("x-ms-error-code", out var header) && !string.IsNullOrEmpty(header))
            code = header;
        error = code is null && message is null ? null : new ResponseError(code, message ?? "");
        return error is not null;
    }

    internal static (string? Code, string? Message) Parse(string? body)
    {
        if (string.IsNullOrWhiteSpace(body) || !body.TrimStart().StartsWith('<')) return (null, null);
        try
        {
            var root = XDocument.Parse(body).Root;
            if (root is null) return (null, null);
            string? Child(string name) => root.Elements().FirstOrDefault(e => e.Name.LocalName == name)?.Value;
            return (Child("Code"), Child("Message") ?? Child("Detail"));
        }
        catch (XmlException)
        {
            return (null, null);
        }
    }

    /// <summary>A <see cref="RequestFailedException"/> for a response the caller did not expect.</summary>
    internal static RequestFailedException Failure(Response response) => new(response, null, Instance);
}
