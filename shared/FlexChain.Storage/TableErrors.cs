using System.Text.Json;
using System.Text.RegularExpressions;
using Azure;
using Azure.Core;

namespace FlexChain.Storage;

/// <summary>Reads the Table service's error body (<c>{"odata.error":{"code":…,"message":{"value":…}}}</c>, or XML).</summary>
internal sealed partial class TableErrorParser : RequestFailedDetailsParser
{
    internal static readonly TableErrorParser Instance = new();

    public override bool TryParse(Response response, out ResponseError? error, out IDictionary<string, string>? data)
    {
        data = null;
        var (code, message) = Parse(response.Content?.ToString());
        if (code is null && response.Headers.TryGetValue("x-ms-error-code", out var header))
            code = header;
        error = code is null && message is null ? null : new ResponseError(code, message ?? "");
        return error is not null;
    }

    internal static (string? Code, string? Message) Parse(string? body)
    {
        if (string.IsNullOrWhiteSpace(body)) return (null, null);
        var trimmed = body.TrimStart();
        if (trimmed.StartsWith('{'))
        {
            try
            {
                using var doc = JsonDocument.Parse(trimmed);
                if (doc.RootElement.TryGetProperty("odata.error", out var e) || doc.RootElement.TryGetProperty("error", out e))
                {
                    var code = e.TryGetProperty("code", out var c) ? c.GetString() : null;
                    string? message = null;
                    if (e.TryGetProperty("message", out var m))
                        message = m.ValueKind == JsonValueKind.Object && m.TryGetProperty("value", out var v) ? v.GetString() : m.ValueKind == JsonValueKind.String ? m.GetString() : null;
                    return (code, message);
                }
            }
            catch (JsonException)
            {
            }
            return (null, null);
        }
        var xmlCode = XmlCode().Match(trimmed);
        var xmlMessage = XmlMessage().Match(trimmed);
        return (xmlCode.Success ? xmlCode.Groups[1].Value : null, xmlMessage.Success ? xmlMessage.Groups[1].Value : null);
    }

    [GeneratedRegex("<(?:[a-z]+:)?[Cc]ode>([^<]*)<", RegexOptions.CultureInvariant)]
    private static partial Regex XmlCode();

    [GeneratedRegex("<(?:[a-z]+:)?[Mm]essage[^>]*>([^<]*)<", RegexOptions.CultureInvariant)]
    private static partial Regex XmlMessage();
}

/// <summary>Questions callers ask of a failed table request.</summary>
public static class TableRequestFailedExceptionExtensions
{
    /// <summary>
    /// Whether another writer got there first: 412 (the entity changed since its ETag was read, or was deleted) or
    /// 409 (an entity or table with that key already exists). Re-read and decide again; do not blindly retry.
    /// </summary>
    public static bool IsConflict(this RequestFailedException exception) =>
        exception.Status is 409 or 412;

    /// <summary>Whether this is 412: the ETag given with <c>If-Match</c> is no longer current.</summary>
    public static bool IsPreconditionFailed(this RequestFailedException exception) => exception.Status == 412;

    /// <summary>Whether this is 409 EntityAlreadyExists: an insert found the key taken.</summary>
    public static bool IsEntityAlreadyExists(this RequestFailedException exception) =>
        exception.Status == 409 && exception.ErrorCode is null or "EntityAlreadyExists";

    /// <summary>Whether this is 404: the table or entity does not exist.</summary>
    public static bool IsNotFound(this RequestFailedException exception) => exception.Status == 404;
}

/// <summary>
/// An entity group transaction failed as a whole; nothing in it was applied. <see cref="FailedActionIndex"/> names
/// the action (0-based, in the order given) that the service rejected, when it said so.
/// </summary>
public sealed class TableTransactionFailedException : RequestFailedException
{
    /// <summary>Creates the exception.</summary>
    public TableTransactionFailedException(int status, string message, string? errorCode, int? failedActionIndex, Exception? innerException = null)
        : base(status, message, errorCode, innerException)
    {
        FailedActionIndex = failedActionIndex;
    }

    /// <summary>The 0-based index of the rejected action, or <see langword="null"/> when the service did not name one.</summary>
    public int? FailedActionIndex { get; }
}
