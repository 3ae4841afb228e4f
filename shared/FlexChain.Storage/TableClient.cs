using System.Text;
using System.Text.Json;
using Azure;
using Azure.Core;

namespace FlexChain.Storage;

/// <summary>How a write combines with an existing entity.</summary>
public enum TableUpdateMode
{
    /// <summary>The stored entity becomes exactly the sent one (properties not sent are removed).</summary>
    Replace = 0,

    /// <summary>Sent properties overwrite; properties not sent are kept.</summary>
    Merge = 1,
}

/// <summary>
/// Entity operations on one table. Obtain it from <see cref="TableServiceClient.GetTableClient"/>; thread-safe.
/// </summary>
/// <remarks>
/// <para>Every method throws <see cref="RequestFailedException"/> (status and service error code) when the service
/// refuses a request, <see cref="ArgumentException"/> for invalid keys or arguments before anything is sent, and
/// <see cref="OperationCanceledException"/> when cancelled.</para>
/// <para>Retries: Azure.Core retries 408/429/5xx and transport failures for every operation. Updates and deletes
/// guarded by an ETag and upserts are idempotent. An insert is not: if its first response is lost and the retry
/// finds the entity, the service answers 409. When <see cref="TableServiceClientOptions.ResolveRetriedInsertConflicts"/>
/// is on (the default), <see cref="AddEntityAsync"/> then reads the entity and succeeds if it equals what was sent;
/// otherwise the 409 surfaces. Callers that insert with deterministic keys (outbox ids, idempotency keys) should treat
/// a surfacing 409 as "someone already wrote this key": re-read and compare, never insert under a new key.</para>
/// </remarks>
public sealed class TableClient
{
    private const int MaxTransactionActions = 100;
    private readonly TableServiceClient _service;

    internal TableClient(TableServiceClient service, string name)
    {
        _service = service;
        Name = name;
    }

    /// <summary>The table name.</summary>
    public string Name { get; }

    /// <summary>Creates this table; returns <see langword="false"/> when it already existed.</summary>
    /// <exception cref="RequestFailedException">The service refused the request.</exception>
    public async Task<bool> CreateIfNotExistsAsync(CancellationToken cancellationToken = default)
    {
        using var message = _service.CreateMessage(RequestMethod.Post, "/Tables", TableServiceClient.NoMetadata);
        message.Request.Headers.SetValue("Prefer", "return-no-content");
        message.Request.Headers.SetValue(HttpHeader.Names.ContentType, "application/json");
        message.Request.Content = RequestContent.Create(JsonSerializer.SerializeToUtf8Bytes(new Dictionary<string, string> { ["TableName"] = Name }));
        var response = await _service.SendAsync(message, cancellationToken).ConfigureAwait(false);
        return response.Status switch
        {
            201 or 204 => true,
            409 => false,
            _ => throw TableServiceClient.Failure(response),
        };
    }

    /// <summary>Deletes this table and all its entities; returns <see langword="false"/> when it did not exist.</summary>
    /// <exception cref="RequestFailedException">The service refused the request.</exception>
    public async Task<bool> DeleteAsync(CancellationToken cancellationToken = default)
    {
        using var message = _service.CreateMessage(RequestMethod.Delete, $"/Tables('{Name}')", TableServiceClient.NoMetadata);
        var response = await _service.SendAsync(message, cancellationToken).ConfigureAwait(false);
        return response.Status switch
        {
            204 => true,
            404 => false,
            _ => throw TableServiceClient.Failure(response),
        };
    }

    /// <summary>Inserts a new entity and returns its ETag.</summary>
    /// <exception cref="RequestFailedException">409 EntityAlreadyExists when the key is taken (see the type's remarks on retries); other refusals.</exception>
    /// <exception cref="ArgumentException">A key holds a forbidden character.</exception>
    public async Task<ETag> AddEntityAsync(TableEntity entity, CancellationToken cancellationToken = default)
    {
        ValidateEntity(entity);
        using var message = _service.CreateMessage(RequestMethod.Post, "/" + Name, TableServiceClient.NoMetadata);
        message.Request.Headers.SetValue("Prefer", "return-no-content");
        SetJsonContent(message.Request, entity);
        var response = await _service.SendAsync(message, cancellationToken).ConfigureAwait(false);
        if (response.Status is 201 or 204)
            return ReadETag(response);

        var failure = TableServiceClient.Failure(response);
        if (response.Status == 409 && _service.Options.ResolveRetriedInsertConflicts && AttemptCountingPolicy.Attempts(message) > 1)
        {
            // The first attempt may have succeeded with its response lost: if what is stored is what we sent, it is ours.
            var stored = await GetEntityAsync(entity.PartitionKey, entity.RowKey, cancellationToken: cancellationToken).ConfigureAwait(false);
            if (stored is not null && SameProperties(entity, stored))
                return stored.ETag;
        }
        throw failure;
    }

    /// <summary>Inserts the entity or, if it exists, replaces or merges it regardless of its ETag; returns the new ETag.</summary>
    /// <exception cref="RequestFailedException">The service refused the request.</exception>
    /// <exception cref="ArgumentException">A key holds a forbidden character.</exception>
    public async Task<ETag> UpsertEntityAsync(TableEntity entity, TableUpdateMode mode = TableUpdateMode.Replace, CancellationToken cancellationToken = default)
    {
        ValidateEntity(entity);
        using var message = _service.CreateMessage(MethodFor(mode), EntityPath(entity.PartitionKey, entity.RowKey), TableServiceClient.NoMetadata);
        SetJsonContent(message.Request, entity);
        var response = await _service.SendAsync(message, cancellationToken).ConfigureAwait(false);
        return response.Status == 204 ? ReadETag(response) : throw TableServiceClient.Failure(response);
    }

    /// <summary>
    /// Replaces or merges an existing entity only if its ETag still equals <paramref name="ifMatch"/>
    /// (<see cref="ETag.All"/> for unconditional); returns the new ETag.
    /// </summary>
    /// <exception cref="RequestFailedException">412 UpdateConditionNotSatisfied when the entity changed since it was read
    /// (<see cref="TableRequestFailedExceptionExtensions.IsConflict"/>); 404 when it does not exist; other refusals.</exception>
    /// <exception cref="ArgumentException"><paramref name="ifMatch"/> is default, or a key holds a forbidden character.</exception>
    public async Task<ETag> UpdateEntityAsync(TableEntity entity, ETag ifMatch, TableUpdateMode mode = TableUpdateMode.Replace, CancellationToken cancellationToken = default)
    {
        ValidateEntity(entity);
        if (ifMatch == default)
            throw new ArgumentException("An update needs the ETag read with the entity, or ETag.All to overwrite unconditionally.", nameof(ifMatch));
        using var message = _service.CreateMessage(MethodFor(mode), EntityPath(entity.PartitionKey, entity.RowKey), TableServiceClient.NoMetadata);
        message.Request.Headers.SetValue(HttpHeader.Names.IfMatch, ifMatch.ToString("H"));
        SetJsonContent(message.Request, entity);
        var response = await _service.SendAsync(message, cancellationToken).ConfigureAwait(false);
        return response.Status == 204 ? ReadETag(response) : throw TableServiceClient.Failure(response);
    }

    /// <summary>
    /// Deletes an entity if its ETag equals <paramref name="ifMatch"/> (default: unconditionally, <c>*</c>);
    /// returns <see langword="false"/> when it did not exist.
    /// </summary>
    /// <exception cref="RequestFailedException">412 when the entity changed since <paramref name="ifMatch"/> was read; other refusals.</exception>
    /// <exception cref="ArgumentException">A key holds a forbidden character.</exception>
    public async Task<bool> DeleteEntityAsync(string partitionKey, string rowKey, ETag ifMatch = default, CancellationToken cancellationToken = default)
    {
        using var message = _service.CreateMessage(RequestMethod.Delete, EntityPath(partitionKey, rowKey), TableServiceClient.NoMetadata);
        message.Request.Headers.SetValue(HttpHeader.Names.IfMatch, ifMatch == default ? "*" : ifMatch.ToString("H"));
        var response = await _service.SendAsync(message, cancellationToken).ConfigureAwait(false);
        return response.Status switch
        {
            204 => true,
            404 => false,
            _ => throw TableServiceClient.Failure(response),
        };
    }

    /// <summary>Reads one entity (optionally only the <paramref name="select"/>ed properties); <see langword="null"/> when absent.</summary>
    /// <exception cref="RequestFailedException">The service refused the request (404 for a missing table, for example).</exception>
    /// <exception cref="ArgumentException">A key holds a forbidden character.</exception>
    public async Task<TableEntity?> GetEntityAsync(string partitionKey, string rowKey, IEnumerable<string>? select = null, CancellationToken cancellationToken = default)
    {
        using var message = _service.CreateMessage(RequestMethod.Get, EntityPath(partitionKey, rowKey), TableServiceClient.MinimalMetadata);
        AppendSelect(message.Request, select);
        var response = await _service.SendAsync(message, cancellationToken).ConfigureAwait(false);
        if (response.Status == 404)
        {
            // A missing table is a deployment error, not an absent entity: surface it.
            var (code, _) = TableErrorParser.Parse(response.Content.ToString());
            if (code is "TableNotFound") throw TableServiceClient.Failure(response);
            return null;
        }
        if (response.Status != 200) throw TableServiceClient.Failure(response);
        using var doc = JsonDocument.Parse(response.Content.ToMemory());
        var headerETag = response.Headers.ETag ?? default;
        var entity = TableEntityJson.Deserialize(doc.RootElement, headerETag);
        if (headerETag != default) entity.ETag = headerETag;
        return entity;
    }

    /// <summary>
    /// All entities matching <paramref name="filter"/> (build it with <see cref="TableFilter"/>), fetched page by page
    /// following the service's continuation headers; each entity is returned exactly once.
    /// </summary>
    /// <param name="filter">An OData <c>$filter</c>, or <see langword="null"/> for the whole table.</param>
    /// <param name="maxPerPage">The <c>$top</c> per request (1–1000), or <see langword="null"/> for the service's 1000.</param>
    /// <param name="select">Property names to return, or <see langword="null"/> for all.</param>
    /// <param name="cancellationToken">Cancels the enumeration.</param>
    /// <remarks>Enumeration throws <see cref="RequestFailedException"/> when a page request fails.</remarks>
    public AsyncPageable<TableEntity> QueryAsync(string? filter = null, int? maxPerPage = null, IEnumerable<string>? select = null, CancellationToken cancellationToken = default)
    {
        var selected = select?.ToArray();
        return new QueryPageable(this, filter, maxPerPage, selected, cancellationToken);
    }

    /// <summary>
    /// One page of matching entities and an opaque continuation token for the next page (<see langword="null"/> at the
    /// end). A page can be empty while the token is not null: keep going until the token is null.
    /// </summary>
    /// <param name="filter">An OData <c>$filter</c>, or <see langword="null"/>.</param>
    /// <param name="maxPerPage">The <c>$top</c> (1–1000), or <see langword="null"/>.</param>
    /// <param name="select">Property names to return, or <see langword="null"/> for all.</param>
    /// <param name="continuationToken">A token from a previous page of the same query, or <see langword="null"/> to start.</param>
    /// <param name="cancellationToken">Cancels the request.</param>
    /// <exception cref="ArgumentException"><paramref name="continuationToken"/> is not one this client made, or <paramref name="maxPerPage"/> is out of range.</exception>
    /// <exception cref="RequestFailedException">The service refused the query (400 for a malformed filter).</exception>
    public async Task<Page<TableEntity>> QueryPageAsync(
        string? filter = null, int? maxPerPage = null, IEnumerable<string>? select = null, string? continuationToken = null,
        CancellationToken cancellationToken = default)
    {
        if (maxPerPage is < 1 or > 1000)
            throw new ArgumentOutOfRangeException(nameof(maxPerPage), maxPerPage, "The Table service returns 1 to 1000 entities per page.");
        var (nextPartitionKey, nextRowKey) = DecodeContinuation(continuationToken);

        using var message = _service.CreateMessage(RequestMethod.Get, "/" + Name + "()", TableServiceClient.MinimalMetadata);
        var uri = message.Request.Uri;
        if (!string.IsNullOrEmpty(filter)) uri.AppendQuery("$filter", filter, escapeValue: true);
        AppendSelect(message.Request, select);
        if (maxPerPage is { } top) uri.AppendQuery("$top", top.ToString(System.Globalization.CultureInfo.InvariantCulture), escapeValue: false);
        if (nextPartitionKey is not null) uri.AppendQuery("NextPartitionKey", nextPartitionKey, escapeValue: true);
        if (nextRowKey is not null) uri.AppendQuery("NextRowKey", nextRowKey, escapeValue: true);

        var response = await _service.SendAsync(message, cancellationToken).ConfigureAwait(false);
        if (response.Status != 200) throw TableServiceClient.Failure(response);

        var entities = new List<TableEntity>();
        using (var doc = JsonDocument.Parse(response.Content.ToMemory()))
        {
            if (doc.RootElement.TryGetProperty("value", out var values))
                foreach (var item in values.EnumerateArray())
                    entities.Add(TableEntityJson.Deserialize(item));
        }
        response.Headers.TryGetValue("x-ms-continuation-NextPartitionKey", out var npk);
        response.Headers.TryGetValue("x-ms-continuation-NextRowKey", out var nrk);
        return Page<TableEntity>.FromValues(entities, EncodeContinuation(npk, nrk), response);
    }

    /// <summary>
    /// Runs up to 100 actions on entities of one partition as one atomic entity group transaction: all are applied
    /// or none. Returns one result per action, in order.
    /// </summary>
    /// <exception cref="ArgumentException">No actions, more than 100, more than one partition, a row key used twice, an
    /// update without an ETag, or a forbidden key character; checked before anything is sent.</exception>
    /// <exception cref="TableTransactionFailedException">The service rejected the transaction; nothing was applied;
    /// <see cref="TableTransactionFailedException.FailedActionIndex"/> names the action at fault.</exception>
    /// <exception cref="RequestFailedException">The batch request itself was refused (for example 403).</exception>
    public async Task<IReadOnlyList<TableTransactionResult>> SubmitTransactionAsync(
        IEnumerable<TableTransactionAction> actions, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(actions);
        var list = actions.ToList();
        ValidateTransaction(list);

        var batch = new TableTransactionWriter(_service.Endpoint, Name, list);
        using var message = _service.CreateMessage(RequestMethod.Post, "/$batch", TableServiceClient.NoMetadata);
        message.Request.Headers.SetValue(HttpHeader.Names.ContentType, batch.ContentType);
        message.Request.Content = RequestContent.Create(batch.Body);
        var response = await _service.SendAsync(message, cancellationToken).ConfigureAwait(false);
        if (response.Status != 202)
        {
            var plain = TableServiceClient.Failure(response);
            var (code, text) = TableErrorParser.Parse(response.Content.ToString());
            throw new TableTransactionFailedException(response.Status, plain.Message, code ?? plain.ErrorCode, TableTransactionReader.IndexFromMessage(text, list.Count), plain);
        }
        return TableTransactionReader.Read(response, list.Count);
    }

    private static void ValidateTransaction(List<TableTransactionAction> list)
    {
        if (list.Count == 0)
            throw new ArgumentException("A transaction needs at least one action.", "actions");
        if (list.Count > MaxTransactionActions)
            throw new ArgumentException($"A transaction holds at most {MaxTransactionActions} actions; got {list.Count}.", "actions");
        var partition = list[0].Entity.PartitionKey;
        var rows = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < list.Count; i++)
        {
            var action = list[i];
            ValidateEntity(action.Entity);
            if (!string.Equals(action.Entity.PartitionKey, partition, StringComparison.Ordinal))
                throw new ArgumentException($"Action {i} is in partition '{action.Entity.PartitionKey}', not '{partition}': a transaction spans one partition.", "actions");
            if (!rows.Add(action.Entity.RowKey))
                throw new ArgumentException($"Action {i} touches row '{action.Entity.RowKey}' again: a transaction may touch each entity once.", "actions");
            if (action.ActionType is TableTransactionActionType.UpdateReplace or TableTransactionActionType.UpdateMerge && action.ETag == default)
                throw new ArgumentException($"Action {i} is an update without an ETag; use ETag.All to overwrite unconditionally.", "actions");
        }
    }

    /// <summary>The encoded <c>(PartitionKey='…',RowKey='…')</c> address of an entity: quotes doubled, then percent-encoded.</summary>
    internal static string KeyPredicate(string partitionKey, string rowKey)
    {
        TableEntity.ValidateKey(partitionKey, nameof(partitionKey));
        TableEntity.ValidateKey(rowKey, nameof(rowKey));
        return $"({nameof(TableEntity.PartitionKey)}='{EscapeKey(partitionKey)}',{nameof(TableEntity.RowKey)}='{EscapeKey(rowKey)}')";
    }

    private string EntityPath(string partitionKey, string rowKey) => "/" + Name + KeyPredicate(partitionKey, rowKey);

    private static string EscapeKey(string key) => Uri.EscapeDataString(key.Replace("'", "''", StringComparison.Ordinal));

    private static void ValidateEntity(TableEntity entity)
    {
        ArgumentNullException.ThrowIfNull(entity);
        TableEntity.ValidateKey(entity.PartitionKey, nameof(entity.PartitionKey));
        TableEntity.ValidateKey(entity.RowKey, nameof(entity.RowKey));
    }

    private static RequestMethod MethodFor(TableUpdateMode mode) =>
        mode == TableUpdateMode.Merge ? new RequestMethod("MERGE") : RequestMethod.Put;

    private static void SetJsonContent(Request request, TableEntity entity)
    {
        request.Headers.SetValue(HttpHeader.Names.ContentType, "application/json");
        request.Content = RequestContent.Create(TableEntityJson.Serialize(entity));
    }

    private static void AppendSelect(Request request, IEnumerable<string>? select)
    {
        if (select is null) return;
        var joined = string.Join(",", select);
        if (joined.Length > 0) request.Uri.AppendQuery("$select", joined, escapeValue: true);
    }

    private static ETag ReadETag(Response response) => response.Headers.ETag ?? default;

    internal static bool SameProperties(TableEntity sent, TableEntity stored)
    {
        var written = sent.Where(p => p.Value is not null).ToList();
        if (written.Count != stored.Count) return false;
        foreach (var (name, value) in written)
        {
            var other = stored[name];
            var same = (value, other) switch
            {
                (byte[] a, byte[] b) => a.AsSpan().SequenceEqual(b),
                (double a, int b) => a == b,
                (double a, double b) => a.Equals(b),
                _ => Equals(value, other),
            };
            if (!same) return false;
        }
        return true;
    }

    // The token is opaque to callers; inside it carries the service's NextPartitionKey/NextRowKey (ASCII header values).
    internal static string? EncodeContinuation(string? nextPartitionKey, string? nextRowKey)
    {
        if (string.IsNullOrEmpty(nextPartitionKey) && string.IsNullOrEmpty(nextRowKey)) return null;
        var raw = Encoding.UTF8.GetBytes((nextPartitionKey ?? "") + "\n" + (nextRowKey ?? ""));
        return Convert.ToBase64String(raw).TrimEnd('=').Replace('+', '-').Replace('/', '_');
    }

    internal static (string? NextPartitionKey, string? NextRowKey) DecodeContinuation(string? token)
    {
        if (string.IsNullOrEmpty(token)) return (null, null);
        try
        {
            var b64 = token.Replace('-', '+').Replace('_', '/');
            b64 = b64.PadRight(b64.Length + (4 - b64.Length % 4) % 4, '=');
            var text = Encoding.UTF8.GetString(Convert.FromBase64String(b64));
            var newline = text.IndexOf('\n', StringComparison.Ordinal);
            if (newline < 0) throw new FormatException();
            var pk = text[..newline];
            var rk = text[(newline + 1)..];
            return (pk.Length == 0 ? null : pk, rk.Length == 0 ? null : rk);
        }
        catch (FormatException e)
        {
            throw new ArgumentException("Not a continuation token from this client.", nameof(token), e);
        }
    }

    private sealed class QueryPageable(TableClient table, string? filter, int? maxPerPage, string[]? select, CancellationToken cancellationToken)
        : AsyncPageable<TableEntity>(cancellationToken)
    {
        public override async IAsyncEnumerable<Page<TableEntity>> AsPages(string? continuationToken = null, int? pageSizeHint = null)
        {
            var token = continuationToken;
            do
            {
                var page = await table.QueryPageAsync(filter, pageSizeHint ?? maxPerPage, select, token, CancellationToken).ConfigureAwait(false);
                yield return page;
                token = page.ContinuationToken;
            }
            while (token is not null);
        }
    }
}
