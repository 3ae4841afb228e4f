using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json;
using Azure;
using Azure.Storage.Blobs;
using FlexChain.Domain;
using Azure.Data.Tables;
using FlexChain.Storage;
using Microsoft.Extensions.Caching.Memory;
using Microsoft.Extensions.Options;

namespace FlexChain.Functions.Storage;

/// <summary>A stored document with the ETag that guards its next update.</summary>
public readonly record struct Stored<T>(T Value, ETag ETag);

/// <summary>
/// A participant as stored: the profile, the hash of its API key and, after a rotation, the hash of the key it replaced
/// with the moment that key stops working.
/// </summary>
public readonly record struct ParticipantRecord(Participant Participant, string ApiKeyHash, string? PreviousApiKeyHash = null, DateTimeOffset? PreviousKeyExpiresAt = null)
{
    /// <summary>Whether <paramref name="secret"/> is the current key's, or the previous key's before it expires (constant time).</summary>
    public bool Accepts(string secret, DateTimeOffset now) =>
        Auth.ApiKeys.Matches(secret, ApiKeyHash)
        | (PreviousApiKeyHash is { } previous && now < PreviousKeyExpiresAt && Auth.ApiKeys.Matches(secret, previous));
}

/// <summary>An outstanding wallet challenge: the exact message to sign and when it stops being accepted.</summary>
public sealed record WalletChallenge(string Message, DateTimeOffset IssuedAt, DateTimeOffset ExpiresAt);

/// <summary>What a DSO sees of a station in its prequalification list: the station as checked and the result.</summary>
public sealed record QualificationEntry(ChargingStation Station, Qualification Qualification);

/// <summary>Settings of the store (section <c>Market</c>).</summary>
public sealed class StoreOptions
{
    /// <summary>
    /// How long read-mostly documents (API key hashes, requests on the offer path, prequalification requirements) may be
    /// served from memory. Writes through this instance invalidate at once; other instances see a change within this bound.
    /// </summary>
    public TimeSpan ReadCacheDuration { get; set; } = TimeSpan.FromSeconds(2);
}

/// <summary>
/// FlexChain's state in Azure Table storage. Each aggregate is one entity whose <c>Data</c> property holds its JSON; an
/// aggregate that outgrows a table property (a request cleared with thousands of offers, a gate cycle of a thousand
/// requests) keeps its JSON in an immutable blob named by its content hash, and its entity points to it (<c>DataBlob</c>),
/// so the entity stays the one ETag-guarded commit point whatever the size.
/// Partition keys spread load (a partition serves about 2,000 entities/s): documents read by id are partitioned by
/// id; groups that grow with the market (a CPO's stations, a request's offers, a DSO's prequalification list, the
/// gate schedule) are sharded over a fixed number of partitions by a stable hash and listed with one range scan;
/// entities written together (a station and its version row, a chunk of a bulk registration) share a partition
/// and go in one atomic transaction. See docs/SCALING.md.
/// </summary>
public sealed partial class MarketStore(TableServiceClient service, BlobServiceClient blobs, IMemoryCache cache, IOptions<StoreOptions> options)
{
    private const string Data = "Data";
    private const string DataBlob = "DataBlob";

    /// <summary>The blob container of documents too large for a table property.</summary>
    public const string DocumentsContainer = "documents";

    /// <summary>The longest JSON kept inline, in UTF-16 characters (a string property holds 64 KiB).</summary>
    public const int InlineDocumentChars = TableLimits.MaxPropertyBytes / 2;
    private const string Doc = "doc";
    private const string Kind = "Kind";
    public const int StationShards = 32;
    public const int OfferShards = 16;
    public const int QualificationShards = 16;

    private static readonly string[] Tables =
        ["participants", "transformers", "forecasts", "stations", "evs", "requirements", "qualifications", "meterclaims",
         "requests", "requestindex", "offers", "gatecycles", "bookings", "settlementindex", "meterdays", "meterpoints", "activations", "quality", "gridcases", "gridlimits", "coordination", "tradeanswers", "availability", "availabilitydue", "gridstates", "imbalance", "nodeload", Hosting.LocalTriggerDriver.ProcessedTable];

    private readonly TimeSpan _cacheFor = options.Value.ReadCacheDuration;
    private readonly System.Collections.Concurrent.ConcurrentDictionary<object, Task> _loading = new();

    private TableClient Participants => service.GetTableClient("participants");
    private TableClient Transformers => service.GetTableClient("transformers");
    private TableClient Forecasts => service.GetTableClient("forecasts");
    private TableClient Stations => service.GetTableClient("stations");
    private TableClient Evs => service.GetTableClient("evs");
    private TableClient Requirements => service.GetTableClient("requirements");
    private TableClient Qualifications => service.GetTableClient("qualifications");
    private TableClient Requests => service.GetTableClient("requests");
    private TableClient RequestIndex => service.GetTableClient("requestindex");
    private TableClient Offers => service.GetTableClient("offers");

    private BlobContainerClient Documents => blobs.GetBlobContainerClient(DocumentsContainer);

    public async Task InitializeAsync(CancellationToken cancellationToken)
    {
        foreach (var t in Tables) await service.CreateTableIfNotExistsAsync(t, cancellationToken);
        await Documents.CreateIfNotExistsAsync(cancellationToken: cancellationToken);
    }

    // ---- participants ----

    public Task AddParticipantAsync(Participant p, string apiKeyHash, CancellationToken cancellationToken) =>
        Participants.AddEntityAsync(ParticipantEntity(new(p, apiKeyHash)), cancellationToken);

    /// <summary>Creates or replaces the market operator seeded from configuration (it never registers itself).</summary>
    public async Task UpsertOperatorAsync(Participant p, string apiKeyHash, CancellationToken cancellationToken)
    {
        await Participants.UpsertEntityAsync(ParticipantEntity(new(p, apiKeyHash)), TableUpdateMode.Replace, cancellationToken);
        cache.Remove(("participant", p.Id));
    }

    /// <summary>The participant, served from memory for <see cref="StoreOptions.ReadCacheDuration"/> (every request authenticates with it).</summary>
    public async Task<ParticipantRecord?> GetParticipantAsync(string id, CancellationToken cancellationToken) =>
        await CachedAsync(("participant", id), _cacheFor, async () => (await GetAsync<ParticipantRecord>(Participants, id, Doc, cancellationToken))?.Value);

    /// <summary>The wallet that pays (DSO) or is paid (CPO); throws when the participant is missing.</summary>
    public async Task<WalletAddress> GetWalletAsync(string participantId, CancellationToken cancellationToken) =>
        (await GetParticipantAsync(participantId, cancellationToken))?.Participant.Wallet
        ?? throw new InvalidOperationException($"participant {participantId} is missing");

    /// <summary>The participant read from storage (not the cache) with the ETag that guards its next update.</summary>
    public Task<Stored<ParticipantRecord>?> GetParticipantForUpdateAsync(string id, CancellationToken cancellationToken) =>
        GetAsync<ParticipantRecord>(Participants, id, Doc, cancellationToken);

    /// <summary>Saves <paramref name="record"/> if nobody changed it since <paramref name="etag"/>; false when someone did.</summary>
    public async Task<bool> TryReplaceParticipantAsync(ParticipantRecord record, ETag etag, CancellationToken cancellationToken)
    {
        try
        {
            await Participants.UpdateEntityAsync(ParticipantEntity(record), etag, TableUpdateMode.Replace, cancellationToken);
            return true;
        }
        catch (RequestFailedException e) when (e.Status == 412)
        {
            return false;
        }
        finally
        {
            cache.Remove(("participant", record.Participant.Id));
        }
    }

    /// <summary>Participants (operator view), optionally of one role.</summary>
    public Task<ListPage<Participant>> ListParticipantsAsync(Role? role, int limit, string? cursor, CancellationToken cancellationToken)
    {
        var filter = role is { } r ? TableClient.CreateQueryFilter($"RowKey eq {Doc} and Role eq {r.ToString()}") : TableClient.CreateQueryFilter($"RowKey eq {Doc}");
        return PageAsync(Participants, filter, limit, cursor, e => Deserialize<ParticipantRecord>(e).Participant, cancellationToken);
    }

    /// <summary>Stores a fresh challenge for the participant, replacing any earlier one (only the latest can be answered).</summary>
    public Task PutWalletChallengeAsync(string participantId, WalletChallenge challenge, CancellationToken cancellationToken) =>
        Participants.UpsertEntityAsync(ToEntity(participantId, "challenge", challenge), TableUpdateMode.Replace, cancellationToken);

    public async Task<Stored<WalletChallenge>?> GetWalletChallengeAsync(string participantId, CancellationToken cancellationToken) =>
        await GetAsync<WalletChallenge>(Participants, participantId, "challenge", cancellationToken);

    /// <summary>
    /// Records the proven wallet and consumes the challenge in one transaction (same partition), so a challenge is
    /// answered at most once. False when the challenge or the participant changed meanwhile.
    /// </summary>
    public async Task<bool> TryMarkWalletVerifiedAsync(ParticipantRecord verified, ETag participantETag, ETag challengeETag, CancellationToken cancellationToken)
    {
        try
        {
            await Participants.SubmitCheckedTransactionAsync(
            [
                new TableTransactionAction(TableTransactionActionType.UpdateReplace, ParticipantEntity(verified), participantETag),
                new TableTransactionAction(TableTransactionActionType.Delete, new TableEntity(verified.Participant.Id, "challenge"), challengeETag),
            ], cancellationToken);
            return true;
        }
        catch (TableTransactionFailedException e) when (e.Status is 404 or 412)
        {
            return false;
        }
        finally
        {
            cache.Remove(("participant", verified.Participant.Id));
        }
    }

    private static TableEntity ParticipantEntity(ParticipantRecord r)
    {
        var e = ToEntity(r.Participant.Id, Doc, r);
        e["Role"] = r.Participant.Role.ToString();
        return e;
    }

    // ---- idempotency ----

    /// <summary>A stored answer to an idempotent POST; <see cref="Status"/> is 0 while the first attempt is still running.</summary>
    public sealed record IdempotentResponse(string RequestHash, int Status, string? Body, string? Location, DateTimeOffset CreatedAt);

    /// <summary>Where a claimed key is kept (<see cref="Table"/>) and what an earlier request with it stored, if any.</summary>
    public sealed record IdempotencyClaim(string Table, IdempotentResponse? Earlier);

    /// <summary>
    /// The table of keys first used on <paramref name="day"/>'s UTC date. Keys live in one table per day and are
    /// remembered until the end of the UTC day after their first use (24 to 48 hours); older days are dropped whole by
    /// the retention sweep (<see cref="DropIdempotencyTablesAsync"/>).
    /// </summary>
    public static string IdempotencyTable(DateTimeOffset day) =>
        "idempotency" + day.UtcDateTime.ToString("yyyyMMdd", CultureInfo.InvariantCulture);

    /// <summary>
    /// Claims <paramref name="keyHash"/> for a new request, or returns what an earlier request with that key stored
    /// (today or yesterday, UTC). The claim is an insert, so of two concurrent requests with the same key exactly one runs.
    /// </summary>
    public async Task<IdempotencyClaim> ClaimIdempotencyKeyAsync(string scope, string keyHash, string requestHash, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var yesterday = service.GetTableClient(IdempotencyTable(now.AddDays(-1)));
        try
        {
            if (await GetAsync<IdempotentResponse>(yesterday, scope, keyHash, cancellationToken) is { } kept) return new(yesterday.Name, kept.Value);
        }
        catch (RequestFailedException e) when (e.Status == 404) { }   // no keys were used yesterday
        var today = service.GetTableClient(IdempotencyTable(now));
        var claim = ToEntity(scope, keyHash, new IdempotentResponse(requestHash, 0, null, null, now));
        try
        {
            try
            {
                await today.AddEntityAsync(claim, cancellationToken);
            }
            catch (RequestFailedException e) when (e.Status == 404)
            {
                await StartIdempotencyDayAsync(now, cancellationToken);
                await today.AddEntityAsync(claim, cancellationToken);
            }
            return new(today.Name, null);
        }
        catch (RequestFailedException e) when (e.Status == 409)
        {
            return new(today.Name, (await GetAsync<IdempotentResponse>(today, scope, keyHash, cancellationToken))?.Value
                ?? throw new InvalidOperationException("idempotency record vanished; retry"));
        }
    }

    /// <summary>The day's first key: creates the day's table (the hourly retention sweep drops the days no longer remembered).</summary>
    private async Task StartIdempotencyDayAsync(DateTimeOffset now, CancellationToken cancellationToken) =>
        await service.CreateTableIfNotExistsAsync(IdempotencyTable(now), cancellationToken);

    public Task CompleteIdempotencyKeyAsync(IdempotencyClaim claim, string scope, string keyHash, IdempotentResponse response, CancellationToken cancellationToken) =>
        service.GetTableClient(claim.Table).UpsertEntityAsync(ToEntity(scope, keyHash, response), TableUpdateMode.Replace, cancellationToken);

    /// <summary>Frees a key whose request was rejected or failed, so that the client can correct it and retry with the same key.</summary>
    public Task ReleaseIdempotencyKeyAsync(IdempotencyClaim claim, string scope, string keyHash, CancellationToken cancellationToken) =>
        service.GetTableClient(claim.Table).DeleteEntityAsync(scope, keyHash, ETag.All, cancellationToken);

    // ---- shared helpers ----

    /// <summary>How many point reads or small writes one operation sends to storage at once (over many keys).</summary>
    public static ParallelOptions InParallel(CancellationToken cancellationToken) => new() { MaxDegreeOfParallelism = 16, CancellationToken = cancellationToken };

    /// <summary>
    /// <paramref name="load"/>'s value, served from memory for <paramref name="duration"/>. Concurrent misses of one key
    /// share a single load (at a gate's busiest moment dozens of offers on one request arrive together), so a key costs
    /// one storage read per expiry, not one per waiting caller.
    /// </summary>
    private async Task<T> CachedAsync<T>(object key, TimeSpan duration, Func<Task<T>> load)
    {
        if (cache.TryGetValue(key, out T? hit)) return hit!;
        var flight = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        if (_loading.GetOrAdd(key, flight.Task) is Task<T> other && other != flight.Task)
        {
            try { return await other; }
            catch (OperationCanceledException) { return await load(); }   // the caller that loaded gave up; this one has not
        }
        try
        {
            var value = await load();
            // Misses are not cached: a participant or document created a moment later must be found at once.
            if (value is not null && duration > TimeSpan.Zero) cache.Set(key, value, duration);
            flight.SetResult(value);
            return value;
        }
        catch (Exception e)
        {
            flight.SetException(e);
            _ = flight.Task.Exception;   // observed here; waiters (if any) get it too
            throw;
        }
        finally
        {
            _loading.TryRemove(new KeyValuePair<object, Task>(key, flight.Task));
        }
    }

    private static string Ticks(DateTimeOffset t) => t.UtcTicks.ToString("D19", CultureInfo.InvariantCulture);

    /// <summary>The entity that stores <paramref name="value"/> as JSON, checked against the service's size limits.</summary>
    /// <exception cref="TableLimitException">The document is too large for one entity; nothing is written.</exception>
    private static TableEntity ToEntity<T>(string pk, string rk, T value) =>
        TableLimits.Check(new TableEntity(pk, rk) { [Data] = JsonSerializer.Serialize(value, StoreJson.Options) });

    /// <summary>
    /// The entity that stores <paramref name="value"/>, for an aggregate that may outgrow a table property: inline when
    /// its JSON fits, otherwise in a blob named by the JSON's SHA-256 (written first; identical content is the same blob,
    /// so a retried write is harmless) with the entity pointing to it. Read it back with <see cref="GetAsync{T}"/>.
    /// </summary>
    private async Task<TableEntity> DocumentEntityAsync<T>(TableClient table, string pk, string rk, T value, CancellationToken cancellationToken)
    {
        var json = JsonSerializer.SerializeToUtf8Bytes(value, StoreJson.Options);
        // Serialized once: inline when it fits (UTF-8 bytes >= UTF-16 chars), otherwise the same bytes go to the blob.
        if (json.Length <= InlineDocumentChars) return TableLimits.Check(new TableEntity(pk, rk) { [Data] = System.Text.Encoding.UTF8.GetString(json) });
        var name = $"{table.Name}/{pk}/{Convert.ToHexStringLower(SHA256.HashData(json))}.json";
        try
        {
            await Documents.GetBlobClient(name).UploadAsync(new BinaryData(json), overwrite: false, cancellationToken);
        }
        catch (RequestFailedException e) when (e.Status == 409)
        {
            // The same content is stored already (its name is its hash).
        }
        return TableLimits.Check(new TableEntity(pk, rk) { [DataBlob] = name });
    }

    private async Task<Stored<T>?> GetAsync<T>(TableClient table, string pk, string rk, CancellationToken cancellationToken)
    {
        var e = await table.GetEntityIfExistsAsync<TableEntity>(pk, rk, cancellationToken: cancellationToken);
        return e.HasValue ? await StoredAsync<T>(e.Value!, cancellationToken) : null;
    }

    /// <summary>The documents at <paramref name="keys"/> that exist, by key: one query per partition and per 14 keys (<see cref="TableReads.GetManyAsync"/>).</summary>
    private async Task<Dictionary<(string PartitionKey, string RowKey), Stored<T>>> GetManyAsync<T>(
        TableClient table, IEnumerable<(string PartitionKey, string RowKey)> keys, CancellationToken cancellationToken)
    {
        var rows = await table.GetManyAsync(keys, InParallel(cancellationToken).MaxDegreeOfParallelism, cancellationToken);
        var docs = await Task.WhenAll(rows.Select(e => StoredAsync<T>(e, cancellationToken)));
        return rows.Zip(docs).ToDictionary(x => (x.First.PartitionKey, x.First.RowKey), x => x.Second);
    }

    private async Task<Stored<T>> StoredAsync<T>(TableEntity e, CancellationToken cancellationToken)
    {
        if (e.GetString(DataBlob) is not { } name) return new Stored<T>(Deserialize<T>(e), e.ETag);
        var json = (await Documents.GetBlobClient(name).DownloadContentAsync(cancellationToken)).Value.Content.ToArray();
        if (!name.EndsWith(Convert.ToHexStringLower(SHA256.HashData(json)) + ".json", StringComparison.Ordinal))
            throw new InvalidDataException($"document blob {name} does not match its hash");
        return new Stored<T>(JsonSerializer.Deserialize<T>(json, StoreJson.Options) ?? throw new InvalidDataException($"empty document {name}"), e.ETag);
    }

    private static async Task<List<T>> QueryAsync<T>(TableClient table, string filter, CancellationToken cancellationToken)
    {
        var list = new List<T>();
        await foreach (var e in table.QueryAsync<TableEntity>(filter, cancellationToken: cancellationToken)) list.Add(Deserialize<T>(e));
        return list;
    }

    /// <summary>
    /// One page of <paramref name="filter"/>: up to <paramref name="limit"/> items, following empty service pages a few
    /// times so that callers rarely see an empty page with a cursor.
    /// </summary>
    private static async Task<ListPage<T>> PageAsync<T>(
        TableClient table, string filter, int limit, string? cursor, Func<TableEntity, T> map, CancellationToken cancellationToken)
    {
        var query = table.Name + "|" + filter;
        var continuation = Cursor.Decode(cursor, query);
        var items = new List<T>();
        for (var round = 0; round < 4 && items.Count < limit; round++)
        {
            Page<TableEntity>? page = null;
            try
            {
                var size = limit - items.Count;
                await foreach (var first in table.QueryAsync<TableEntity>(filter, size, cancellationToken: cancellationToken).AsPages(continuation, size))
                {
                    page = first;
                    break;
                }
            }
            catch (Exception e) when (e is ArgumentException or FormatException || e is RequestFailedException { Status: 400 } && continuation is not null)
            {
                throw new DomainException("cursor", "cursor", "The cursor is not one this list returned; start again without a cursor.");
            }
            if (page is null) break;
            items.AddRange(page.Values.Select(map));
            continuation = page.ContinuationToken;
            if (continuation is null) break;
        }
        return new ListPage<T>(items, continuation is null ? null : Cursor.Encode(query, continuation));
    }

    /// <summary>An inline document (queries list small documents only; one kept in a blob is read by <see cref="GetAsync{T}"/>).</summary>
    private static T Deserialize<T>(TableEntity e) =>
        JsonSerializer.Deserialize<T>(e.GetString(Data) ?? throw new InvalidDataException($"document {e.PartitionKey}/{e.RowKey} is not inline"), StoreJson.Options)
        ?? throw new InvalidDataException($"empty document {e.PartitionKey}/{e.RowKey}");
}
