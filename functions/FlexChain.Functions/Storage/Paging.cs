using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using FlexChain.Domain;

namespace FlexChain.Functions.Storage;

/// <summary>One page of a list: the items and an opaque cursor for the next page (null at the end).</summary>
/// <remarks>A page may hold fewer than the limit (even none) while <see cref="NextCursor"/> is not null: keep following it.</remarks>
public sealed record ListPage<T>(IReadOnlyList<T> Items, string? NextCursor);

/// <summary>
/// Opaque list cursors built on Table storage continuation tokens. A cursor is bound to the query it came from (a
/// hash of its filter), so it cannot be replayed against another query or tampered into one; it carries no data a
/// caller could not see anyway.
/// </summary>
public static class Cursor
{
    private sealed record Body(string Q, string C);

    public static string Encode(string query, string continuation) =>
        Convert.ToBase64String(JsonSerializer.SerializeToUtf8Bytes(new Body(QueryHash(query), continuation)))
            .TrimEnd('=').Replace('+', '-').Replace('/', '_');

    /// <summary>The continuation token inside <paramref name="cursor"/>; null for no cursor.</summary>
    /// <exception cref="DomainException">The cursor is malformed or belongs to another query (field <c>cursor</c>, rule <c>cursor</c>).</exception>
    public static string? Decode(string? cursor, string query)
    {
        if (string.IsNullOrEmpty(cursor)) return null;
        try
        {
            if (cursor.Length > 2048) throw new FormatException();
            var base64 = cursor.Replace('-', '+').Replace('_', '/');
            base64 += new string('=', (4 - base64.Length % 4) % 4);
            var body = JsonSerializer.Deserialize<Body>(Convert.FromBase64String(base64));
            if (body is null || body.Q != QueryHash(query) || string.IsNullOrEmpty(body.C)) throw new FormatException();
            return body.C;
        }
        catch (Exception e) when (e is FormatException or JsonException)
        {
            throw new DomainException("cursor", "cursor", "The cursor is not one this list returned for the same filters; start again without a cursor.");
        }
    }

    private static string QueryHash(string query) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(query)))[..16];
}

/// <summary>Spreads the entities of one logical group over a fixed number of partitions by a stable hash of an id.</summary>
public static class Shards
{
    /// <summary>Two hex digits (00-ff, used modulo <paramref name="count"/>) from SHA-256 of <paramref name="id"/>: stable across processes and versions.</summary>
    public static string Of(string id, int count)
    {
        Span<byte> hash = stackalloc byte[32];
        SHA256.HashData(Encoding.UTF8.GetBytes(id), hash);
        return (hash[0] % count).ToString("x2", System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>The partition key <c>{group}~{shard}</c> of <paramref name="id"/> within <paramref name="group"/>.</summary>
    public static string Key(string group, string id, int count) => $"{group}~{Of(id, count)}";

    /// <summary>The partition keys of every shard of <paramref name="group"/>.</summary>
    public static IEnumerable<string> All(string group, int count) =>
        Enumerable.Range(0, count).Select(i => $"{group}~{i.ToString("x2", System.Globalization.CultureInfo.InvariantCulture)}");

    /// <summary>A filter for every shard of <paramref name="group"/>: one range scan instead of one query per shard.</summary>
    public static string Range(string group) => Azure.Data.Tables.TableClient.CreateQueryFilter($"PartitionKey ge {group + "~"} and PartitionKey lt {group + "~~"}");
}

/// <summary>Joins OData filters.</summary>
public static class Filters
{
    /// <summary>The conditions joined with <c>and</c>, each in parentheses (each built with <c>TableClient.CreateQueryFilter</c>).</summary>
    public static string And(params IEnumerable<string> conditions) => string.Join(" and ", conditions.Select(c => $"({c})"));
}
