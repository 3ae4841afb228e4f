using System.Buffers;
using System.Globalization;
using System.Text.Json;
using Azure;

namespace FlexChain.Storage;

/// <summary>Entity JSON with OData type annotations (JSON format, minimal metadata).</summary>
internal static class TableEntityJson
{
    internal const string DateTimeFormat = "yyyy-MM-dd'T'HH:mm:ss.fffffff'Z'";

    internal static byte[] Serialize(TableEntity entity)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            writer.WriteString(TableEntity.PartitionKeyName, entity.PartitionKey);
            writer.WriteString(TableEntity.RowKeyName, entity.RowKey);
            foreach (var (name, value) in entity)
            {
                switch (value)
                {
                    case null:
                        break;
                    case string s:
                        writer.WriteString(name, s);
                        break;
                    case bool b:
                        writer.WriteBoolean(name, b);
                        break;
                    case int i:
                        writer.WriteNumber(name, i);
                        break;
                    case long l:
                        // JSON numbers lose precision above 2^53 in many readers; the service wants Int64 as a string.
                        writer.WriteString(name, l.ToString(CultureInfo.InvariantCulture));
                        writer.WriteString(name + "@odata.type", "Edm.Int64");
                        break;
                    case double d:
                        if (double.IsFinite(d)) writer.WriteNumber(name, d);
                        else writer.WriteString(name, double.IsNaN(d) ? "NaN" : d > 0 ? "Infinity" : "-Infinity");
                        // Without the annotation 1.0 would come back as Edm.Int32.
                        writer.WriteString(name + "@odata.type", "Edm.Double");
                        break;
                    case DateTimeOffset dto:
                        writer.WriteString(name, FormatDateTime(dto));
                        writer.WriteString(name + "@odata.type", "Edm.DateTime");
                        break;
                    case Guid g:
                        writer.WriteString(name, g.ToString("D"));
                        writer.WriteString(name + "@odata.type", "Edm.Guid");
                        break;
                    case byte[] bytes:
                        writer.WriteBase64String(name, bytes);
                        writer.WriteString(name + "@odata.type", "Edm.Binary");
                        break;
                    default:
                        throw new InvalidOperationException($"Property '{name}': {value.GetType().Name} has no EDM type.");
                }
            }
            writer.WriteEndObject();
        }
        return buffer.WrittenSpan.ToArray();
    }

    internal static string FormatDateTime(DateTimeOffset value) =>
        value.UtcDateTime.ToString(DateTimeFormat, CultureInfo.InvariantCulture);

    internal static TableEntity Deserialize(JsonElement json, ETag headerETag = default)
    {
        var entity = new TableEntity { ETag = headerETag };
        foreach (var property in json.EnumerateObject())
        {
            var name = property.Name;
            var value = property.Value;
            switch (name)
            {
                case "odata.etag":
                    entity.ETag = new ETag(value.GetString()!);
                    continue;
                case TableEntity.PartitionKeyName:
                    entity.PartitionKey = value.GetString() ?? "";
                    continue;
                case TableEntity.RowKeyName:
                    entity.RowKey = value.GetString() ?? "";
                    continue;
                case TableEntity.TimestampName:
                    entity.Timestamp = ParseDateTime(value.GetString()!);
                    continue;
            }
            if (name.StartsWith("odata.", StringComparison.Ordinal) || name.Contains('@') || value.ValueKind == JsonValueKind.Null)
                continue;

            var type = json.TryGetProperty(name + "@odata.type", out var annotation) ? annotation.GetString() : null;
            entity[name] = ReadValue(name, value, type);
        }
        return entity;
    }

    private static object? ReadValue(string name, JsonElement value, string? edmType)
    {
        switch (edmType)
        {
            case "Edm.Int64":
                return value.ValueKind == JsonValueKind.Number ? value.GetInt64() : long.Parse(value.GetString()!, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture);
            case "Edm.Int32":
                return value.ValueKind == JsonValueKind.Number ? value.GetInt32() : int.Parse(value.GetString()!, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture);
            case "Edm.Double":
                return value.ValueKind == JsonValueKind.Number ? value.GetDouble() : value.GetString() switch
                {
                    "NaN" => double.NaN,
                    "Infinity" => double.PositiveInfinity,
                    "-Infinity" => double.NegativeInfinity,
                    var s => double.Parse(s!, NumberStyles.Float, CultureInfo.InvariantCulture),
                };
            case "Edm.DateTime":
                return ParseDateTime(value.GetString()!);
            case "Edm.Guid":
                return Guid.Parse(value.GetString()!);
            case "Edm.Binary":
                return value.GetBytesFromBase64();
            case "Edm.Boolean":
                return value.ValueKind == JsonValueKind.String ? bool.Parse(value.GetString()!) : value.GetBoolean();
            case "Edm.String":
                return value.GetString();
            case null:
                return value.ValueKind switch
                {
                    JsonValueKind.String => value.GetString(),
                    JsonValueKind.True => true,
                    JsonValueKind.False => false,
                    // Whole numbers without a type annotation are Edm.Int32; Azurite omits Edm.Double on 2.0, so keep the raw text's decimal point.
                    JsonValueKind.Number => value.TryGetInt32(out var i) && !value.GetRawText().Contains('.') ? (object)i : value.GetDouble(),
                    _ => throw new FormatException($"Property '{name}' has an unexpected JSON {value.ValueKind}."),
                };
            default:
                throw new FormatException($"Property '{name}' has the unknown type {edmType}.");
        }
    }

    private static DateTimeOffset ParseDateTime(string value) =>
        DateTimeOffset.Parse(value, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal);
}
