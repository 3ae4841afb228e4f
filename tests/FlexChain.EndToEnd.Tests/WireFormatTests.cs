using System.Text.Json;

namespace FlexChain.EndToEnd.Tests;

/// <summary>
/// One number format per quantity on the wire (kWh and kW with 3 decimals, EUR with 2, EUR/kWh with 4), in the
/// responses and in the OpenAPI document, which describes every field.
/// </summary>
[Collection(MarketCollection.Name)]
public sealed class WireFormatTests(MarketFixture market)
{
    private readonly MarketClient _api = new(market.Client);

    /// <summary>The decimals a number property carries, by its name's unit suffix; null for a number that is not a quantity.</summary>
    private static int? DecimalsOf(string property) =>
        property.EndsWith("MicroEurPerKwh", StringComparison.Ordinal) || property.EndsWith("MicroEurPerKw", StringComparison.Ordinal) ? null // an integer, as recorded on chain
        : property.EndsWith("EurPerKwh", StringComparison.Ordinal) || property.EndsWith("EurPerKw", StringComparison.Ordinal) ? 4
        : property.EndsWith("Kwh", StringComparison.Ordinal) || property.EndsWith("Kw", StringComparison.Ordinal) ? 3
        : property.EndsWith("Eur", StringComparison.Ordinal) ? 2
        : null;

    [Fact]
    public async Task OpenApi_EveryPropertyHasADescription_AndQuantitiesStateTheirFormat()
    {
        using var doc = JsonDocument.Parse(await market.Client.GetStringAsync("/v1/openapi.json"));
        var missing = new List<string>();
        var unformatted = new List<string>();
        foreach (var schema in doc.RootElement.GetProperty("components").GetProperty("schemas").EnumerateObject())
            Walk(schema.Name, schema.Value, missing, unformatted);
        Assert.True(missing.Count == 0, "properties without a description: " + string.Join(", ", missing));
        Assert.True(unformatted.Count == 0, "quantities whose description does not state the format: " + string.Join(", ", unformatted));

        // A schema's own description wins over the name's: an availability record's period is Unix seconds (not a
        // temporary limit's), its micro-euro price an integer.
        var record = doc.RootElement.GetProperty("components").GetProperty("schemas").GetProperty("AvailabilityRecordResponse").GetProperty("properties");
        string DescriptionOf(string property) => record.GetProperty(property).GetProperty("description").GetString()!;
        Assert.StartsWith("The period's start in Unix seconds", DescriptionOf("periodStart"), StringComparison.Ordinal);
        Assert.StartsWith("The period's end in Unix seconds", DescriptionOf("periodEnd"), StringComparison.Ordinal);
        Assert.DoesNotContain("decimals", DescriptionOf("availabilityPriceMicroEurPerKw"), StringComparison.Ordinal);
    }

    private static void Walk(string path, JsonElement schema, List<string> missing, List<string> unformatted)
    {
        if (schema.ValueKind != JsonValueKind.Object) return;
        if (schema.TryGetProperty("items", out var items)) Walk(path + "[]", items, missing, unformatted);
        if (!schema.TryGetProperty("properties", out var properties)) return;
        foreach (var p in properties.EnumerateObject())
        {
            var name = path + "." + p.Name;
            var description = p.Value.TryGetProperty("description", out var d) ? d.GetString() : null;
            if (string.IsNullOrWhiteSpace(description)) missing.Add(name + " " + p.Value.GetRawText());
            else if (DecimalsOf(p.Name) is { } decimals && !description.Contains($"{decimals} decimals", StringComparison.Ordinal)) unformatted.Add(name);
            Walk(name, p.Value, missing, unformatted);
        }
    }

    [Fact]
    public async Task Responses_EveryQuantityHasItsDeclaredDecimals()
    {
        var t0 = market.Clock.GetUtcNow();
        // The rule tests' wallets (#4 to #6): the settlement tests check exactly what #1 to #3 are paid.
        var (dso, cpoA, cpoB, transformer, stationA, stationB) =
            await _api.SmallMarketAsync("Wire", MarketFixture.RuleDsoKey, MarketFixture.RuleCpoAKey, MarketFixture.RuleCpoBKey, "IT001E00000085", "IT001E00000086");
        var start = t0.AddHours(2);
        var request = await _api.RequestAsync(dso, transformer, t0.AddHours(1), start, kwh: 7.5m);
        // Whole and fractional figures alike: 5 kWh must read 5.000, 0.1 EUR/kWh 0.1000; B's offer is cut to 2.5 kWh.
        await _api.PostAsync($"/v1/requests/{request}/offers", cpoA, new { stationIds = new[] { stationA }, energyKwh = 5m, priceEurPerKwh = 0.1m, divisible = false });
        await _api.PostAsync($"/v1/requests/{request}/offers", cpoB, new { stationIds = new[] { stationB }, energyKwh = 4.25m, priceEurPerKwh = 0.1234m, divisible = true });
        market.Clock.SetTo(t0.AddHours(1));
        await _api.WaitForStateAsync(request, dso, "Awarded");
        // Delivered and settled, so the settlement figures are checked too and no funds stay locked for the tests that follow.
        market.Clock.SetTo(start.AddMinutes(30));
        await _api.PostQuarterReadingsAsync(cpoA, stationA, start.AddHours(-1), 5m);
        await _api.PostQuarterReadingsAsync(cpoB, stationB, start.AddHours(-1), 5m);
        market.Clock.SetTo(start.AddMinutes(90));
        await _api.PostQuarterReadingsAsync(cpoA, stationA, start, 3.75m);
        await _api.PostQuarterReadingsAsync(cpoB, stationB, start, 4.4m);
        market.Clock.SetTo(start.AddMinutes(100));
        await _api.WaitForStateAsync(request, dso, "Settled");

        var checkedNumbers = 0;
        var wrong = new List<string>();
        foreach (var (path, caller) in new[]
                 {
                     ($"/v1/requests/{request}", dso), ($"/v1/requests/{request}", cpoB), ($"/v1/requests/{request}/offers", dso),
                     ($"/v1/requests?transformerId={transformer}", dso), ($"/v1/stations/{stationA}", cpoA), ($"/v1/transformers/{transformer}", dso),
                     ($"/v1/stations/{stationB}/readings?from={Iso(start.AddHours(-1))}&to={Iso(start.AddHours(1))}", cpoB),
                     ($"/v1/stations/{stationB}/readings/latest", cpoB),
                     ($"/v1/transformers/{transformer}/load?from={Iso(start.AddHours(-1))}&to={Iso(start.AddHours(1))}&resolution=20", dso),
                     ($"/v1/transformers/{transformer}/readings/latest", dso),
                 })
        {
            using var response = await _api.SendAsync(HttpMethod.Get, path, caller, null);
            Assert.True(response.IsSuccessStatusCode, $"{path}: {(int)response.StatusCode}");
            using var doc = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
            Check(path, doc.RootElement, null, wrong, ref checkedNumbers);
        }
        Assert.True(wrong.Count == 0, "numbers without their declared decimals: " + string.Join(", ", wrong));
        Assert.True(checkedNumbers >= 60, $"only {checkedNumbers} quantities checked");
    }

    private static string Iso(DateTimeOffset t) => Uri.EscapeDataString(t.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", System.Globalization.CultureInfo.InvariantCulture));

    private static void Check(string path, JsonElement e, string? property, List<string> wrong, ref int count)
    {
        switch (e.ValueKind)
        {
            case JsonValueKind.Object:
                foreach (var p in e.EnumerateObject()) Check(path + "." + p.Name, p.Value, p.Name, wrong, ref count);
                break;
            case JsonValueKind.Array:
                foreach (var item in e.EnumerateArray()) Check(path + "[]", item, property, wrong, ref count);
                break;
            case JsonValueKind.Number when property is not null && DecimalsOf(property) is { } decimals:
                count++;
                var text = e.GetRawText();
                var dot = text.IndexOf('.');
                if (dot < 0 || text.Length - dot - 1 != decimals) wrong.Add($"{path}={text} (expected {decimals} decimals)");
                break;
        }
    }
}
