using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using Azure;
using Azure.Core;

namespace FlexChain.Storage;

/// <summary>What one action of an entity group transaction does.</summary>
public enum TableTransactionActionType
{
    /// <summary>Insert; fails the transaction if the entity exists.</summary>
    Add = 0,

    /// <summary>Insert or replace, ignoring the ETag.</summary>
    UpsertReplace = 1,

    /// <summary>Insert or merge, ignoring the ETag.</summary>
    UpsertMerge = 2,

    /// <summary>Replace an existing entity if its ETag matches.</summary>
    UpdateReplace = 3,

    /// <summary>Merge into an existing entity if its ETag matches.</summary>
    UpdateMerge = 4,

    /// <summary>Delete an existing entity if its ETag matches (default ETag: unconditionally).</summary>
    Delete = 5,
}

/// <summary>One action of an entity group transaction.</summary>
/// <param name="ActionType">What the action does.</param>
/// <param name="Entity">The entity (for <see cref="TableTransactionActionType.Delete"/> only its keys matter).</param>
/// <param name="ETag">For updates and deletes: the ETag that must still be current (<see cref="ETag.All"/> for any).</param>
public sealed record TableTransactionAction(TableTransactionActionType ActionType, TableEntity Entity, ETag ETag = default);

/// <summary>The outcome of one applied transaction action.</summary>
/// <param name="Status">The HTTP status the service gave the action (201 or 204).</param>
/// <param name="ETag">The entity's new ETag (default for a delete).</param>
public readonly record struct TableTransactionResult(int Status, ETag ETag);

/// <summary>Writes the multipart/mixed body of an entity group transaction (one batch holding one change set).</summary>
internal sealed class TableTransactionWriter
{
    private const string Crlf = "\r\n";

    internal TableTransactionWriter(Uri endpoint, string table, IReadOnlyList<TableTransactionAction> actions)
    {
        var batch = "batch_" + Guid.NewGuid().ToString("N");
        var changeset = "changeset_" + Guid.NewGuid().ToString("N");
        ContentType = "multipart/mixed; boundary=" + batch;

        var sb = new StringBuilder();
        sb.Append("--").Append(batch).Append(Crlf);
        sb.Append("Content-Type: multipart/mixed; boundary=").Append(changeset).Append(Crlf).Append(Crlf);
        var tableUrl = endpoint.AbsoluteUri.TrimEnd('/') + "/" + table;
        for (var i = 0; i < actions.Count; i++)
        {
            var action = actions[i];
            var entity = action.Entity;
            var entityUrl = tableUrl + TableClient.KeyPredicate(entity.PartitionKey, entity.RowKey);
            var (method, url, ifMatch, body) = action.ActionType switch
            {
                TableTransactionActionType.Add => ("POST", tableUrl, null, true),
                TableTransactionActionType.UpsertReplace => ("PUT", entityUrl, null, true),
                TableTransactionActionType.UpsertMerge => ("MERGE", entityUrl, null, true),
                TableTransactionActionType.UpdateReplace => ("PUT", entityUrl, action.ETag.ToString("H"), true),
                TableTransactionActionType.UpdateMerge => ("MERGE", entityUrl, action.ETag.ToString("H"), true),
                TableTransactionActionType.Delete => ("DELETE", entityUrl, action.ETag == default ? "*" : action.ETag.ToString("H"), false),
                _ => throw new ArgumentOutOfRangeException(nameof(actions), action.ActionType, "Unknown action type."),
            };

            sb.Append("--").Append(changeset).Append(Crlf);
            sb.Append("Content-Type: application/http").Append(Crlf);
            sb.Append("Content-Transfer-Encoding: binary").Append(Crlf);
            sb.Append("Content-ID: ").Append(i.ToString(CultureInfo.InvariantCulture)).Append(Crlf).Append(Crlf);
            sb.Append(method).Append(' ').Append(url).Append(" HTTP/1.1").Append(Crlf);
            sb.Append("Accept: ").Append(TableServiceClient.NoMetadata).Append(Crlf);
            sb.Append("DataServiceVersion: 3.0").Append(Crlf);
            if (ifMatch is not null) sb.Append("If-Match: ").Append(ifMatch).Append(Crlf);
            if (body)
            {
                sb.Append("Content-Type: application/json").Append(Crlf);
                if (action.ActionType == TableTransactionActionType.Add) sb.Append("Prefer: return-no-content").Append(Crlf);
                sb.Append(Crlf);
                sb.Append(Encoding.UTF8.GetString(TableEntityJson.Serialize(entity))).Append(Crlf);
            }
            else
            {
                sb.Append(Crlf);
            }
        }
        sb.Append("--").Append(changeset).Append("--").Append(Crlf);
        sb.Append("--").Append(batch).Append("--").Append(Crlf);
        Body = Encoding.UTF8.GetBytes(sb.ToString());
    }

    internal string ContentType { get; }

    internal byte[] Body { get; }
}

/// <summary>Reads the multipart/mixed answer to an entity group transaction.</summary>
internal static partial class TableTransactionReader
{
    internal sealed record SubResponse(int Status, Dictionary<string, string> Headers, string Body);

    /// <exception cref="TableTransactionFailedException">A sub-response is an error.</exception>
    internal static IReadOnlyList<TableTransactionResult> Read(Response response, int actionCount)
    {
        var parts = Parse(response.Content.ToString());
        for (var i = 0; i < parts.Count; i++)
        {
            var part = parts[i];
            if (part.Status < 400) continue;
            var (code, message) = TableErrorParser.Parse(part.Body);
            var index = IndexFromMessage(message, actionCount);
            if (index is null && parts.Count == actionCount) index = i;
            // No fallback to the sub-response's Content-ID: Azurite numbers it itself (from 1), so it cannot be trusted as an index.
            throw new TableTransactionFailedException(
                part.Status,
                $"The transaction was rejected (nothing was applied): status {part.Status}, {code ?? "no error code"}, action {index?.ToString(CultureInfo.InvariantCulture) ?? "unknown"}: {message}",
                code, index);
        }
        if (parts.Count != actionCount)
            throw new RequestFailedException(response.Status, $"The transaction answer holds {parts.Count} responses for {actionCount} actions.", "UnexpectedBatchResponse", null);
        return parts.Select(p => new TableTransactionResult(p.Status, p.Headers.TryGetValue("ETag", out var e) ? new ETag(e) : default)).ToList();
    }

    /// <summary>The service prefixes a failed action's message with its index: <c>"3:The specified entity already exists."</c>.</summary>
    internal static int? IndexFromMessage(string? message, int actionCount)
    {
        if (message is null) return null;
        var match = IndexPrefix().Match(message);
        return match.Success && int.TryParse(match.Groups[1].Value, NumberStyles.None, CultureInfo.InvariantCulture, out var index) && index < actionCount
            ? index
            : null;
    }

    internal static List<SubResponse> Parse(string body)
    {
        var result = new List<SubResponse>();
        var lines = body.Replace("\r\n", "\n", StringComparison.Ordinal).Split('\n');
        for (var i = 0; i < lines.Length; i++)
        {
            var status = StatusLine().Match(lines[i]);
            if (!status.Success) continue;
            var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
            i++;
            for (; i < lines.Length && lines[i].Length > 0; i++)
            {
                var colon = lines[i].IndexOf(':', StringComparison.Ordinal);
                if (colon > 0) headers[lines[i][..colon].Trim()] = lines[i][(colon + 1)..].Trim();
            }
            var sb = new StringBuilder();
            for (i++; i < lines.Length && !lines[i].StartsWith("--", StringComparison.Ordinal); i++)
                sb.Append(lines[i]).Append('\n');
            i--;
            result.Add(new SubResponse(int.Parse(status.Groups[1].Value, CultureInfo.InvariantCulture), headers, sb.ToString().Trim()));
        }
        return result;
    }

    [GeneratedRegex(@"^HTTP/1\.[01] (\d{3})", RegexOptions.CultureInvariant)]
    private static partial Regex StatusLine();

    [GeneratedRegex(@"^\s*(\d+)\s*:", RegexOptions.CultureInvariant)]
    private static partial Regex IndexPrefix();
}
