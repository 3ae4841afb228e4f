using System.Text.Json;
using System.Text.Json.Serialization;
using FlexChain.Domain;

namespace FlexChain.Functions.Storage;

/// <summary>JSON for domain documents in Table storage: quantities as plain decimals, enums as names, UTC instants.</summary>
public static class StoreJson
{
    public static readonly JsonSerializerOptions Options = Create();

    private static JsonSerializerOptions Create()
    {
        var o = new JsonSerializerOptions(JsonSerializerDefaults.Web);
        o.Converters.Add(new JsonStringEnumConverter());
        o.Converters.Add(new DecimalValue<KilowattHours>(v => new(v), q => q.Value));
        o.Converters.Add(new DecimalValue<Kilowatts>(v => new(v), q => q.Value));
        o.Converters.Add(new DecimalValue<EurosPerKilowattHour>(v => new(v), q => q.Value));
        o.Converters.Add(new DecimalValue<Euros>(v => new(v), q => q.Value));
        o.Converters.Add(new DecimalValue<EurosPerKilowatt>(v => new(v), q => q.Value));
        o.Converters.Add(new MarketIntervalConverter());
        o.Converters.Add(new WalletConverter());
        o.Converters.Add(new WindowConverter());
        o.MakeReadOnly(populateMissingResolver: true);
        return o;
    }

    private sealed class DecimalValue<T>(Func<decimal, T> create, Func<T, decimal> value) : JsonConverter<T>
    {
        public override T Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) => create(reader.GetDecimal());
        public override void Write(Utf8JsonWriter writer, T v, JsonSerializerOptions options) => writer.WriteNumberValue(value(v));
    }

    private sealed class MarketIntervalConverter : JsonConverter<MarketInterval>
    {
        public override MarketInterval Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) => MarketInterval.From(reader.GetInt32());
        public override void Write(Utf8JsonWriter writer, MarketInterval value, JsonSerializerOptions options) => writer.WriteNumberValue(value.Minutes);
    }

    private sealed class WalletConverter : JsonConverter<WalletAddress>
    {
        public override WalletAddress Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) => WalletAddress.Parse(reader.GetString());
        public override void Write(Utf8JsonWriter writer, WalletAddress value, JsonSerializerOptions options) => writer.WriteStringValue(value.Value);
    }

    private sealed class WindowConverter : JsonConverter<TimeWindow>
    {
        public override TimeWindow Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
        {
            var parts = JsonSerializer.Deserialize<DateTimeOffset[]>(ref reader, options) ?? throw new JsonException("window");
            return new TimeWindow(parts[0], parts[1]);
        }

        public override void Write(Utf8JsonWriter writer, TimeWindow value, JsonSerializerOptions options) =>
            JsonSerializer.Serialize(writer, new[] { value.Start, value.End }, options);
    }
}
