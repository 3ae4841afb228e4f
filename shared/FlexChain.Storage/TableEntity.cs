using System.Collections;
using System.Diagnostics.CodeAnalysis;
using Azure;

namespace FlexChain.Storage;

/// <summary>
/// A table entity: <see cref="PartitionKey"/>, <see cref="RowKey"/>, the service-maintained <see cref="ETag"/> and
/// <see cref="Timestamp"/>, and a dictionary of typed properties.
/// </summary>
/// <remarks>
/// <para>Property values may be <see cref="string"/> (Edm.String), <see cref="bool"/> (Edm.Boolean), <see cref="int"/>
/// (Edm.Int32), <see cref="long"/> (Edm.Int64, sent as a string so values above 2^53 survive), <see cref="double"/>
/// (Edm.Double), <see cref="DateTimeOffset"/> (Edm.DateTime, stored in UTC with 100 ns precision; a
/// <see cref="DateTime"/> is accepted when its kind is Utc or Local), <see cref="Guid"/> (Edm.Guid), <c>byte[]</c> or
/// <see cref="BinaryData"/> (Edm.Binary), or <see langword="null"/> (not written).</para>
/// <para>Azure Tables has no decimal type: store decimals as invariant-culture strings. Setting any other type
/// throws <see cref="ArgumentException"/>, so an unsupported value never reaches the wire.</para>
/// <para>Keys may not contain '/', '\', '#', '?' or control characters (the service forbids them); this is checked
/// when the entity is sent.</para>
/// </remarks>
public sealed class TableEntity : IDictionary<string, object?>
{
    internal const string PartitionKeyName = "PartitionKey";
    internal const string RowKeyName = "RowKey";
    internal const string TimestampName = "Timestamp";

    private readonly Dictionary<string, object?> _properties = new(StringComparer.Ordinal);

    /// <summary>An entity with empty keys, for filling in later.</summary>
    public TableEntity() : this("", "") { }

    /// <summary>An entity with the given keys.</summary>
    /// <exception cref="ArgumentNullException">A key is null.</exception>
    public TableEntity(string partitionKey, string rowKey)
    {
        PartitionKey = partitionKey ?? throw new ArgumentNullException(nameof(partitionKey));
        RowKey = rowKey ?? throw new ArgumentNullException(nameof(rowKey));
    }

    /// <summary>The partition key (all entities of a transaction share it).</summary>
    public string PartitionKey { get; set; }

    /// <summary>The row key, unique within the partition.</summary>
    public string RowKey { get; set; }

    /// <summary>The version seen when the entity was read or written; <c>default</c> for a new entity.</summary>
    public ETag ETag { get; set; }

    /// <summary>When the service last modified the entity (UTC); <see langword="null"/> for a new entity.</summary>
    public DateTimeOffset? Timestamp { get; set; }

    /// <summary>Gets or sets a property; getting a missing one returns <see langword="null"/>.</summary>
    /// <exception cref="ArgumentException">The value's type has no EDM mapping, the name is reserved, or a DateTime has an unspecified kind.</exception>
    public object? this[string key]
    {
        get => _properties.TryGetValue(key, out var v) ? v : null;
        set => _properties[CheckName(key)] = Normalize(key, value);
    }

    /// <summary>The property names (without PartitionKey, RowKey and Timestamp).</summary>
    public ICollection<string> Keys => _properties.Keys;

    /// <summary>The property values.</summary>
    public ICollection<object?> Values => _properties.Values;

    /// <summary>The number of properties (without PartitionKey, RowKey and Timestamp).</summary>
    public int Count => _properties.Count;

    bool ICollection<KeyValuePair<string, object?>>.IsReadOnly => false;

    /// <summary>Adds a property.</summary>
    /// <exception cref="ArgumentException">The name exists already or is reserved, or the value's type has no EDM mapping.</exception>
    public void Add(string key, object? value) => _properties.Add(CheckName(key), Normalize(key, value));

    /// <summary>Whether the property exists.</summary>
    public bool ContainsKey(string key) => _properties.ContainsKey(key);

    /// <summary>Removes a property.</summary>
    public bool Remove(string key) => _properties.Remove(key);

    /// <summary>Gets a property value.</summary>
    public bool TryGetValue(string key, [MaybeNullWhen(false)] out object? value) => _properties.TryGetValue(key, out value);

    /// <summary>Removes every property (keys, ETag and Timestamp stay).</summary>
    public void Clear() => _properties.Clear();

    void ICollection<KeyValuePair<string, object?>>.Add(KeyValuePair<string, object?> item) => Add(item.Key, item.Value);
    bool ICollection<KeyValuePair<string, object?>>.Contains(KeyValuePair<string, object?> item) =>
        ((ICollection<KeyValuePair<string, object?>>)_properties).Contains(item);
    void ICollection<KeyValuePair<string, object?>>.CopyTo(KeyValuePair<string, object?>[] array, int arrayIndex) =>
        ((ICollection<KeyValuePair<string, object?>>)_properties).CopyTo(array, arrayIndex);
    bool ICollection<KeyValuePair<string, object?>>.Remove(KeyValuePair<string, object?> item) =>
        ((ICollection<KeyValuePair<string, object?>>)_properties).Remove(item);

    /// <inheritdoc />
    public IEnumerator<KeyValuePair<string, object?>> GetEnumerator() => _properties.GetEnumerator();
    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    /// <summary>The string property, or <see langword="null"/> when absent.</summary>
    /// <exception cref="InvalidOperationException">The property has another type.</exception>
    public string? GetString(string key) => Get<string>(key);

    /// <summary>The Edm.Int64 property (an Edm.Int32 widens), or <see langword="null"/> when absent.</summary>
    /// <exception cref="InvalidOperationException">The property has another type.</exception>
    public long? GetInt64(string key) => this[key] switch
    {
        null => null,
        long l => l,
        int i => i,
        var other => throw WrongType(key, other, typeof(long)),
    };

    /// <summary>The Edm.Int32 property (an Edm.Int64 within range narrows), or <see langword="null"/> when absent.</summary>
    /// <exception cref="InvalidOperationException">The property has another type.</exception>
    /// <exception cref="OverflowException">The stored Int64 does not fit in an Int32.</exception>
    public int? GetInt32(string key) => this[key] switch
    {
        null => null,
        int i => i,
        long l => checked((int)l),
        var other => throw WrongType(key, other, typeof(int)),
    };

    /// <summary>The Edm.Boolean property, or <see langword="null"/> when absent.</summary>
    /// <exception cref="InvalidOperationException">The property has another type.</exception>
    public bool? GetBoolean(string key) => GetValue<bool>(key);

    /// <summary>The Edm.Double property (integers widen), or <see langword="null"/> when absent.</summary>
    /// <exception cref="InvalidOperationException">The property has another type.</exception>
    public double? GetDouble(string key) => this[key] switch
    {
        null => null,
        double d => d,
        int i => i,
        long l => l,
        var other => throw WrongType(key, other, typeof(double)),
    };

    /// <summary>The Edm.DateTime property in UTC (offset zero), or <see langword="null"/> when absent.</summary>
    /// <exception cref="InvalidOperationException">The property has another type.</exception>
    public DateTimeOffset? GetDateTimeOffset(string key) => GetValue<DateTimeOffset>(key);

    /// <summary>The Edm.Guid property, or <see langword="null"/> when absent.</summary>
    /// <exception cref="InvalidOperationException">The property has another type.</exception>
    public Guid? GetGuid(string key) => GetValue<Guid>(key);

    /// <summary>The Edm.Binary property, or <see langword="null"/> when absent.</summary>
    /// <exception cref="InvalidOperationException">The property has another type.</exception>
    public byte[]? GetBinary(string key) => Get<byte[]>(key);

    private T? Get<T>(string key) where T : class => this[key] switch
    {
        null => null,
        T t => t,
        var other => throw WrongType(key, other, typeof(T)),
    };

    private T? GetValue<T>(string key) where T : struct => this[key] switch
    {
        null => null,
        T t => t,
        var other => throw WrongType(key, other, typeof(T)),
    };

    private static InvalidOperationException WrongType(string key, object value, Type wanted) =>
        new($"Property '{key}' holds {value.GetType().Name}, not {wanted.Name}.");

    private static string CheckName(string key)
    {
        ArgumentException.ThrowIfNullOrEmpty(key);
        if (key is PartitionKeyName or RowKeyName or TimestampName || key.StartsWith("odata.", StringComparison.Ordinal) || key.Contains('@'))
            throw new ArgumentException($"'{key}' is reserved; use the entity's own members for keys and timestamps.", nameof(key));
        return key;
    }

    private static object? Normalize(string key, object? value) => value switch
    {
        null or string or bool or int or long or double or Guid or byte[] => value,
        DateTimeOffset dto => dto.ToUniversalTime(),
        DateTime { Kind: DateTimeKind.Unspecified } =>
            throw new ArgumentException($"Property '{key}': a DateTime of unspecified kind is ambiguous; use DateTimeOffset or a UTC DateTime.", nameof(value)),
        DateTime dt => new DateTimeOffset(dt.ToUniversalTime(), TimeSpan.Zero),
        BinaryData data => data.ToArray(),
        decimal => throw new ArgumentException(
            $"Property '{key}': Azure Tables has no decimal type; store an invariant-culture string.", nameof(value)),
        _ => throw new ArgumentException($"Property '{key}': {value.GetType().Name} has no EDM type.", nameof(value)),
    };

    /// <summary>Throws when a key holds a character the Table service forbids.</summary>
    internal static void ValidateKey(string value, string name)
    {
        ArgumentNullException.ThrowIfNull(value, name);
        foreach (var c in value)
        {
            if (c is '/' or '\\' or '#' or '?' || char.IsControl(c))
                throw new ArgumentException($"{name} may not contain '/', '\\', '#', '?' or control characters.", name);
        }
    }
}
