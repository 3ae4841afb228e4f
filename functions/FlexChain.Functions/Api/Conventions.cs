using System.IO.Compression;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using FlexChain.Domain;
using FlexChain.Functions.Auth;
using FlexChain.Functions.Storage;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Http.Json;
using Microsoft.Extensions.Options;

namespace FlexChain.Functions.Api;

/// <summary>A rejected input outside the market rules (a bad query parameter, header or cursor): answered with a problem.</summary>
public sealed class ApiProblemException(int status, string field, string rule, string message) : Exception(message)
{
    public int Status { get; } = status;
    public string Field { get; } = field;
    public string Rule { get; } = rule;
}

/// <summary>A page of a list endpoint: <c>items</c> and an opaque <c>nextCursor</c> (null on the last page).</summary>
public sealed record ListResponse<T>(IReadOnlyList<T> Items, string? NextCursor);

/// <summary>API conventions shared by every endpoint group: paging, time filters, ids.</summary>
public static class ApiConventions
{
    public const int DefaultLimit = 50;
    public const int MaxLimit = 200;

    /// <summary>The page size: <paramref name="limit"/> within 1..200, default 50.</summary>
    /// <exception cref="ApiProblemException">Out of range (400, field <c>limit</c>).</exception>
    public static int Limit(int? limit) => limit switch
    {
        null => DefaultLimit,
        >= 1 and <= MaxLimit => limit.Value,
        _ => throw new ApiProblemException(400, "limit", "range", $"limit must be between 1 and {MaxLimit}."),
    };

    /// <summary>Parses an enum filter by name (never by number).</summary>
    public static TEnum? EnumFilter<TEnum>(string? value, string field) where TEnum : struct, Enum =>
        value is null ? null
        : Enum.TryParse<TEnum>(value, true, out var v) && Enum.IsDefined(v) && !value.Any(char.IsDigit) ? v
        : throw new ApiProblemException(400, field, "enum", $"{field} must be one of {string.Join(", ", Enum.GetNames<TEnum>())}.");

    /// <summary>A UTC time filter from the query string, or null.</summary>
    public static DateTimeOffset? TimeFilter(string? value, string field)
    {
        if (value is null) return null;
        if (DateTimeOffset.TryParse(value, System.Globalization.CultureInfo.InvariantCulture, System.Globalization.DateTimeStyles.None, out var t)
            && t.Offset == TimeSpan.Zero && UtcTimeConverter.IsWrittenWithOffset(value) && t.Year is >= 2000 and <= 2200)
            return t;
        throw new ApiProblemException(400, field, "utc-time", $"{field} must be a UTC time (ISO 8601 ending in Z) between the years 2000 and 2200.");
    }

    public static ListResponse<TOut> ToResponse<TIn, TOut>(this ListPage<TIn> page, Func<TIn, TOut> map) =>
        new(page.Items.Select(map).ToList(), page.NextCursor);
}

/// <summary>Marks an endpoint that accepts a gzip-compressed body (<c>Content-Encoding: gzip</c>); its body limit applies to the decompressed body.</summary>
public sealed record AcceptsGzip;

/// <summary>Marks an endpoint's largest accepted request body (bytes); without it the limit is <see cref="BodyLimit.Default"/>.</summary>
public sealed record BodyLimit(long Bytes)
{
    public const long Default = 1024 * 1024;
    public const long Bulk = 10 * 1024 * 1024;
}

/// <summary>
/// Enforces <see cref="BodyLimit"/> before a handler reads the body: a declared length over the limit is refused at
/// once with 413, and a body without a declared length (chunked) is cut off when it passes the limit. Kestrel's own
/// limit is set to the largest endpoint's, so this runs first everywhere, in process (tests) as behind Kestrel.
/// </summary>
public sealed class BodyLimitMiddleware(RequestDelegate next)
{
    public Task InvokeAsync(HttpContext context)
    {
        var limit = context.GetEndpoint()?.Metadata.GetMetadata<BodyLimit>()?.Bytes ?? BodyLimit.Default;
        if (context.Request.ContentLength > limit) throw TooLarge(limit);
        if (context.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } feature) feature.MaxRequestBodySize = limit;
        if (context.Request.ContentLength is null && context.Request.Body is { } body && context.Request.Method is not "GET" and not "HEAD")
            context.Request.Body = new LimitedStream(body, limit);
        // A gzip body is read decompressed, and the limit applies to what it unpacks to as well (no zip bombs).
        if (context.Request.Headers.ContentEncoding == "gzip" && context.GetEndpoint()?.Metadata.GetMetadata<AcceptsGzip>() is not null)
        {
            context.Request.Body = new LimitedStream(new GZipStream(context.Request.Body, CompressionMode.Decompress), limit);
            context.Request.Headers.ContentEncoding = default;
            context.Request.ContentLength = null;
        }
        return next(context);
    }

    internal static BadHttpRequestException TooLarge(long limit) =>
        new($"The request body is larger than this endpoint's limit of {limit} bytes.", StatusCodes.Status413PayloadTooLarge);

    private sealed class LimitedStream(Stream inner, long limit) : Stream
    {
        private long _read;
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => _read; set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) => Count(inner.Read(buffer, offset, count));
        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            try
            {
                return Count(await inner.ReadAsync(buffer, cancellationToken));
            }
            catch (InvalidDataException e)
            {
                throw new ApiProblemException(400, "Content-Encoding", "gzip", "The body is not valid gzip: " + e.Message);
            }
        }

        private int Count(int n)
        {
            _read += n;
            if (_read > limit) throw TooLarge(limit);
            return n;
        }
    }
}

/// <summary>
/// Ids of created resources derived from the request's Idempotency-Key (with the caller and the body): a retry of a
/// request that stored its resource and then failed (so its key was released, or its claim abandoned) creates the same
/// id, finds the resource and creates no second one.
/// </summary>
public static class IdempotentIds
{
    internal const string Seed = "idempotency-seed";

    /// <summary><paramref name="prefix"/>_ and 32 hex digits for this request's Idempotency-Key, or null when it has none.</summary>
    public static string? For(HttpContext http, string prefix) =>
        http.Items.TryGetValue(Seed, out var seed) && seed is string s ? $"{prefix}_{s[..32]}" : null;
}

/// <summary>
/// Idempotency keys on POSTs that create something. The first request with a key claims it durably (an insert, so of
/// two concurrent requests exactly one runs); its 2xx answer is stored before it is sent, and a retry with the same
/// key and the same body (same method, path and JSON) gets that answer again with <c>Idempotent-Replayed: true</c>.
/// The same key with a different body is refused (422). A rejected or failed request releases its key. Keys are per
/// participant (anonymous registrations share one scope), so one participant's key never collides with another's.
/// A key is remembered until the end of the UTC day after its first use (one table per day, older days dropped whole).
/// </summary>
public sealed partial class IdempotencyFilter<T>(MarketStore store, TimeProvider clock, IOptions<JsonOptions> json, ILogger<IdempotencyFilter<T>> log) : IEndpointFilter
{
    public const string Header = "Idempotency-Key";

    /// <summary>A claim older than this whose request never finished (a crash) may be taken over by a retry.</summary>
    private static readonly TimeSpan Abandoned = TimeSpan.FromMinutes(1);

    public async ValueTask<object?> InvokeAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        var http = context.HttpContext;
        if (!http.Request.Headers.TryGetValue(Header, out var values)) return await next(context);
        var key = values.ToString();
        if (values.Count != 1 || key.Length is 0 or > 255 || key.Any(c => c is < '!' or > '~'))
            throw new ApiProblemException(400, Header, "format", "Idempotency-Key must be 1 to 255 visible ASCII characters (a UUID is a good choice).");

        var scope = http.User.Identity?.IsAuthenticated == true ? http.User.ParticipantId() : "anonymous";
        var keyHash = Sha256(key);
        var body = context.Arguments.OfType<T>().FirstOrDefault();
        var requestHash = Sha256(http.Request.Method + " " + http.Request.Path + "\n" + JsonSerializer.Serialize(body, json.Value.SerializerOptions));
        var now = clock.GetUtcNow();
        var cancellationToken = http.RequestAborted;

        var claim = await store.ClaimIdempotencyKeyAsync(scope, keyHash, requestHash, now, cancellationToken);
        if (claim.Earlier is { } earlier)
        {
            if (earlier.RequestHash != requestHash)
                throw new ApiProblemException(422, Header, "idempotency-key-reused",
                    "This Idempotency-Key was already used for a different request body; use a new key for a new request.");
            if (earlier.Status != 0) return new ReplayResult(earlier);
            if (now - earlier.CreatedAt < Abandoned)
                throw new ApiProblemException(409, Header, "idempotency-key-in-flight", "A request with this Idempotency-Key is still being processed; retry shortly.");
            LogTakeover();
        }

        object? result;
        try
        {
            http.Items[IdempotentIds.Seed] = Sha256(scope + "\n" + keyHash + "\n" + requestHash);
            result = await next(context);
        }
        catch
        {
            await store.ReleaseIdempotencyKeyAsync(claim, scope, keyHash, CancellationToken.None);
            throw;
        }
        if (result is IStatusCodeHttpResult { StatusCode: >= 200 and < 300 } ok)
        {
            var value = result is IValueHttpResult v ? v.Value : null;
            // The API key is shown once: a replayed registration returns the participant but never the key again.
            if (value is RegisteredParticipantResponse registered) value = registered with { ApiKey = null };
            var stored = new MarketStore.IdempotentResponse(requestHash, ok.StatusCode!.Value,
                value is null ? null : JsonSerializer.Serialize(value, value.GetType(), json.Value.SerializerOptions),
                result.GetType().GetProperty("Location")?.GetValue(result) as string, now);
            await store.CompleteIdempotencyKeyAsync(claim, scope, keyHash, stored, cancellationToken);
        }
        else await store.ReleaseIdempotencyKeyAsync(claim, scope, keyHash, CancellationToken.None);
        return result;
    }

    private static string Sha256(string s) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(s)));

    [LoggerMessage(Level = LogLevel.Warning, Message = "Taking over an idempotency key whose first request never finished")]
    private partial void LogTakeover();

    private sealed class ReplayResult(MarketStore.IdempotentResponse stored) : IResult
    {
        public async Task ExecuteAsync(HttpContext httpContext)
        {
            httpContext.Response.StatusCode = stored.Status;
            httpContext.Response.Headers["Idempotent-Replayed"] = "true";
            if (stored.Location is not null) httpContext.Response.Headers.Location = stored.Location;
            if (stored.Body is not null)
            {
                httpContext.Response.ContentType = "application/json; charset=utf-8";
                await httpContext.Response.WriteAsync(stored.Body, httpContext.RequestAborted);
            }
        }
    }
}

public static class ConventionExtensions
{
    /// <summary>Accepts an <c>Idempotency-Key</c> header for this creating POST (see <see cref="IdempotencyFilter{T}"/>).</summary>
    public static RouteHandlerBuilder Idempotent<T>(this RouteHandlerBuilder builder) =>
        builder.AddEndpointFilter<IdempotencyFilter<T>>().WithMetadata(new IdempotentMarker());

    public static RouteHandlerBuilder WithBodyLimit(this RouteHandlerBuilder builder, long bytes) => builder.WithMetadata(new BodyLimit(bytes));

    public static RouteHandlerBuilder AcceptsGzip(this RouteHandlerBuilder builder) => builder.WithMetadata(new AcceptsGzip());

    /// <summary>An endpoint of a versioned resource (see <see cref="VersionTags"/>): it answers <c>ETag</c>, and as a PUT or DELETE honours <c>If-Match</c>; the OpenAPI document says so.</summary>
    public static RouteHandlerBuilder Versioned(this RouteHandlerBuilder builder) => builder.WithMetadata(new VersionedMarker());
}

/// <summary>Endpoint metadata: a versioned resource's endpoint (<c>ETag</c>; <c>If-Match</c> on PUT and DELETE).</summary>
public sealed class VersionedMarker;

/// <summary>
/// Optimistic concurrency over HTTP for the versioned resources a participant edits (stations, EVs, offers): a response
/// carries the version as a strong entity tag (<c>ETag: "3"</c>), and a PUT or DELETE with <c>If-Match</c> applies only
/// to that version; otherwise 412 (field <c>If-Match</c>, rule <c>precondition-failed</c>) and nothing changes. Without
/// If-Match the change applies to the current version (the store's own ETag still guards the read-modify-write).
/// </summary>
public static class VersionTags
{
    /// <summary>Sets the response's <c>ETag</c> to <paramref name="version"/>.</summary>
    public static void Set(HttpContext http, int version) => http.Response.Headers.ETag = Tag(version).ToString();

    /// <summary>Passes when the request has no If-Match, or one that lists <c>*</c> or <paramref name="current"/>'s tag (strong comparison).</summary>
    /// <exception cref="ApiProblemException">400 (rule <c>etag</c>) for a malformed header; 412 (rule <c>precondition-failed</c>) for another version.</exception>
    public static void RequireMatch(HttpContext http, int current)
    {
        var header = http.Request.Headers.IfMatch;
        if (header.Count == 0) return;
        if (!Microsoft.Net.Http.Headers.EntityTagHeaderValue.TryParseStrictList(header, out var tags) || tags.Count == 0)
            throw new ApiProblemException(400, "If-Match", "etag", "If-Match must be * or a comma-separated list of entity tags in double quotes, such as \"3\" (the ETag of a GET).");
        var tag = Tag(current);
        if (tags.Any(t => t.Equals(Microsoft.Net.Http.Headers.EntityTagHeaderValue.Any) || t.Compare(tag, useStrongComparison: true))) return;
        throw new ApiProblemException(412, "If-Match", "precondition-failed",
            $"The resource is now at version {current} (ETag {tag}), not the one you read: read it again and reapply your change.");
    }

    private static Microsoft.Net.Http.Headers.EntityTagHeaderValue Tag(int version) =>
        new("\"" + version.ToString(System.Globalization.CultureInfo.InvariantCulture) + "\"");
}
