using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using Azure;
using FlexChain.Functions.Storage;
using Azure.Data.Tables;
using FlexChain.Storage;

namespace FlexChain.EndToEnd.Tests;

/// <summary>
/// Thousands of generated malformed or hostile requests across the API (ids and keys with characters storage keys
/// refuse included): every one must be answered with a 4xx problem naming a field and a rule, never a 5xx or a 2xx,
/// and none may write anything.
/// </summary>
[Collection(MarketCollection.Name)]
public sealed partial class HostileInputTests(MarketFixture market)
{
    private const int Count = 10_000;

    /// <summary>
    /// Tables a hostile request could write (and the day's idempotency keys); the gate timer writes only requests and
    /// schedule, so those are not counted.
    /// </summary>
    private static readonly string[] Counted =
        ["participants", "transformers", "forecasts", "stations", "evs", "requirements", "qualifications", "requestindex", "offers", "meterdays"];

    private readonly MarketClient _api = new(market.Client);

    private sealed record Target(HttpMethod Method, string Path, Caller? Caller, JsonObject Template, HashSet<string> Optional, bool TopLevelOnly = false);

    [Fact]
    public async Task HostileRequests_AreAllProblems_AndWriteNothing()
    {
        var dso = await _api.RegisterAsync("Dso", "DSO", MarketFixture.RuleDsoKey);
        var cpo = await _api.RegisterAsync("Cpo", "CPO", MarketFixture.RuleCpoAKey);
        var transformer = await _api.TransformerAsync(dso);
        var station = await _api.StationAsync(cpo, transformer);
        var now = market.Clock.GetUtcNow();
        var request = await _api.RequestAsync(dso, transformer, now.AddHours(1), now.AddHours(2));
        string T(DateTimeOffset t) => t.ToString("yyyy-MM-ddTHH:mm:ssZ");
        JsonObject Station() => JsonNode.Parse(System.Text.Json.JsonSerializer.Serialize(MarketClient.Station(transformer), new System.Text.Json.JsonSerializerOptions(System.Text.Json.JsonSerializerDefaults.Web)))!.AsObject();

        var targets = new List<Target>
        {
            new(HttpMethod.Post, "/v1/participants", null, new JsonObject { ["role"] = "Cpo", ["legalName"] = "X", ["contact"] = "x@example.org", ["walletAddress"] = MarketFixture.CpoAWallet.ToString() }, []),
            new(HttpMethod.Post, "/v1/transformers", dso, new JsonObject { ["name"] = "T", ["ratedPowerKw"] = 630, ["location"] = new JsonObject { ["latitude"] = 42.5m, ["longitude"] = 12.6m } }, []),
            new(HttpMethod.Put, $"/v1/transformers/{transformer}/forecasts/2026-12-01", dso, new JsonObject
            {
                ["points"] = new JsonArray(new JsonObject { ["start"] = "2026-12-01T10:00:00Z", ["end"] = "2026-12-01T10:15:00Z", ["expectedLoadKw"] = 700, ["limitKw"] = 630 }),
            }, []),
            new(HttpMethod.Post, "/v1/stations", cpo, Station(), ["status", "maxDcKw", "recoveryMinutes"]),
            new(HttpMethod.Post, "/v1/stations/bulk", cpo, new JsonObject { ["stations"] = new JsonArray(Station()) }, [], TopLevelOnly: true),
            new(HttpMethod.Post, "/v1/evs", cpo, new JsonObject { ["model"] = "Fiat 500e", ["batteryKwh"] = 42, ["maxChargingKw"] = 11 }, []),
            new(HttpMethod.Put, "/v1/prequalification/requirements", dso, new JsonObject { ["minimumPowerKw"] = 3.7m, ["monitoringRequired"] = true, ["validityDays"] = 30 }, ["monitoringRequired", "validityDays"]),
            new(HttpMethod.Post, "/v1/requests", dso, new JsonObject
            {
                ["transformerId"] = transformer, ["deliveryStart"] = T(now.AddHours(3)), ["deliveryEnd"] = T(now.AddHours(4)), ["energyKwh"] = 10,
                ["direction"] = "ReduceConsumption", ["maxPriceEurPerKwh"] = 0.5m, ["gateClosure"] = T(now.AddHours(2)), ["pricing"] = "PayAsBid",
            }, ["direction", "pricing"]),
            new(HttpMethod.Post, $"/v1/requests/{request}/offers", cpo, new JsonObject
            {
                ["stationIds"] = new JsonArray(station), ["energyKwh"] = 5, ["priceEurPerKwh"] = 0.2m, ["divisible"] = true,
            }, ["divisible"]),
            new(HttpMethod.Put, $"/v1/requests/{request}/offers/off_{new string('0', 32)}", cpo, new JsonObject
            {
                ["stationIds"] = new JsonArray(station), ["energyKwh"] = 5, ["priceEurPerKwh"] = 0.2m, ["divisible"] = true,
            }, ["divisible"]),
            new(HttpMethod.Post, $"/v1/stations/{station}/readings", cpo, new JsonObject
            {
                ["readings"] = new JsonArray(new JsonObject { ["start"] = T(now.AddMinutes(-30)), ["end"] = T(now.AddMinutes(-15)), ["energyKwh"] = 1.5m }),
            }, []),
            new(HttpMethod.Post, "/v1/participants/me/wallet-proof", cpo, new JsonObject { ["signature"] = "0x" + new string('1', 130) }, []),
            new(HttpMethod.Put, $"/v1/requests/{request}/decision", dso, new JsonObject
            {
                ["picks"] = new JsonArray(new JsonObject { ["offerId"] = "off_" + new string('0', 32), ["energyKwh"] = 1.5m }),
            }, []),
        };

        var before = await CountAsync();
        var random = new Random(20261122);
        var cases = Enumerable.Range(0, Count).Select(i => Generate(targets[i % targets.Count], random, i)).ToList();
        var failures = new System.Collections.Concurrent.ConcurrentBag<string>();
        await Parallel.ForEachAsync(cases, new ParallelOptions { MaxDegreeOfParallelism = 8 }, async (c, ct) =>
        {
            using var message = new HttpRequestMessage(c.Method, c.Path) { Content = c.Content };
            if (c.ApiKey is not null) message.Headers.Add("X-Api-Key", c.ApiKey);
            using var response = await market.Client.SendAsync(message, ct);
            var text = await response.Content.ReadAsStringAsync(ct);
            var status = (int)response.StatusCode;
            string? problem = null;
            if (status is < 400 or >= 500) problem = $"status {status}";
            else if (response.Content.Headers.ContentType?.MediaType != "application/problem+json") problem = "not a problem body";
            else if (JsonNode.Parse(text) is not JsonObject body || body["field"] is null || body["rule"] is null) problem = "problem without field/rule";
            if (problem is not null) failures.Add($"{c.What} {c.Method} {c.Path}: {problem}: {text[..Math.Min(300, text.Length)]}");
        });
        Assert.True(failures.IsEmpty, $"{failures.Count} bad answers, e.g.\n{string.Join("\n", failures.GroupBy(f => f.Split(' ')[1]).Select(g => g.First()))}");
        Assert.Equal(before, await CountAsync());
    }

    private sealed record Case(string What, HttpMethod Method, string Path, string? ApiKey, HttpContent? Content);

    private static Case Generate(Target t, Random random, int i)
    {
        var body = (JsonObject)t.Template.DeepClone();
        var key = t.Caller?.ApiKey;
        var path = t.Path;
        string? raw = null;
        var contentType = "application/json";
        var kind = i < 24 ? "oversize" : (random.Next(15)) switch
        {
            0 => "remove", 1 => "extra", 2 or 3 => "type", 4 or 5 => "number", 6 => "time", 7 => "nan", 8 => "truncate",
            9 => "garbage", 10 => "content-type", 11 => "duplicate", 12 => "text", 13 => "reserved", _ => "auth",
        };
        var leaves = Leaves(body, "", t.TopLevelOnly).Where(l => !t.Optional.Contains(l.Path)).ToList();
        var leaf = leaves[random.Next(leaves.Count)];
        switch (kind)
        {
            case "oversize":
                raw = "{\"name\":\"" + new string('x', 10 * 1024 * 1024 + 16) + "\"}";
                break;
            case "remove":
                leaf.Parent.Remove(leaf.Name);
                break;
            case "extra":
                leaf.Parent["unexpected" + random.Next(100)] = random.Next(2) == 0 ? "x" : 1;
                break;
            case "type":
                leaf.Parent[leaf.Name] = leaf.Node?.GetValueKind() switch
                {
                    System.Text.Json.JsonValueKind.String => random.Next(3) switch { 0 => 42, 1 => true, _ => new JsonArray(1, 2) },
                    System.Text.Json.JsonValueKind.Number => random.Next(3) switch { 0 => "12", 1 => true, _ => new JsonObject { ["v"] = 1 } },
                    System.Text.Json.JsonValueKind.True or System.Text.Json.JsonValueKind.False => random.Next(2) == 0 ? "yes" : 1,
                    _ => 42,
                };
                break;
            case "number" when leaf.Node?.GetValueKind() == System.Text.Json.JsonValueKind.Number:
                raw = body.ToJsonString().Replace("\"__N__\"", "");
                leaf.Parent[leaf.Name] = "__N__";
                var huge = random.Next(5) switch { 0 => "1e30", 1 => "-1e30", 2 => "123456789012345678901234567890123", 3 => "1e400", _ => leaf.Name is "latitude" or "longitude" ? "1e6" : "-5" };
                raw = body.ToJsonString().Replace("\"__N__\"", huge);
                break;
            case "time" when leaf.Node?.GetValueKind() == System.Text.Json.JsonValueKind.String && leaf.Node.GetValue<string>().EndsWith('Z') && leaf.Node.GetValue<string>().Length == 20:
                leaf.Parent[leaf.Name] = random.Next(4) switch { 0 => "0001-01-01T00:00:00Z", 1 => "9999-12-31T23:59:59Z", 2 => "2026-13-45T99:99:99Z", _ => "2026-11-22T10:00:00+02:00" };
                break;
            case "nan":
                leaf.Parent[leaf.Name] = "__N__";
                raw = body.ToJsonString().Replace("\"__N__\"", random.Next(3) switch { 0 => "NaN", 1 => "Infinity", _ => "-Infinity" });
                break;
            case "truncate":
                var full = body.ToJsonString();
                raw = full[..random.Next(0, full.Length - 1)];
                break;
            case "garbage":
                raw = random.Next(5) switch { 0 => "null", 1 => "[]", 2 => "\"text\"", 3 => "12", _ => Convert.ToBase64String(RandomBytes(random, 64)) };
                break;
            case "content-type":
                contentType = random.Next(3) switch { 0 => "text/plain", 1 => "application/xml", _ => "application/x-www-form-urlencoded" };
                break;
            case "duplicate":
                var json = body.ToJsonString();
                raw = "{\"" + leaves[0].Path.Split('.')[0] + "\":1," + json[1..];
                break;
            case "text" when leaf.Node?.GetValueKind() == System.Text.Json.JsonValueKind.String:
                leaf.Parent[leaf.Name] = random.Next(2) == 0 ? new string('a', 5000) : "bad\u0000\u0007value";
                break;
            case "auth" when t.Caller is not null:
                key = random.Next(3) switch
                {
                    0 => "fck_cpo_" + new string('0', 32) + "_" + new string('f', 64),
                    1 => "not-a-key",
                    // Characters storage keys refuse, where the key's participant id goes.
                    _ => "fck_cpo_" + new string('0', 28) + Reserved[random.Next(4)] + "000_" + new string('f', 64),
                };
                break;
            // An id in the path with a character no id has (percent-encoded: / \ # ? SOH DEL, a bidi override).
            case "reserved" when IdInPath().IsMatch(t.Path):
                path = IdInPath().Replace(t.Path, m => m.Value[..^4] + new[] { "%2F", "%5C", "%23", "%3F", "%01", "%7F", "%E2%80%AE" }[random.Next(7)] + m.Value[^3..], 1);
                break;
            default:
                leaf.Parent.Remove(leaf.Name);
                kind += "/remove";
                break;
        }
        var content = new StringContent(raw ?? body.ToJsonString(), Encoding.UTF8);
        content.Headers.ContentType = new MediaTypeHeaderValue(contentType);
        return new Case($"#{i} {kind} {leaf.Path}", t.Method, path, key, content);
    }

    private static readonly string[] Reserved = ["/", "\\", "#", "?"];

    [System.Text.RegularExpressions.GeneratedRegex("(st|req|off|tr)_[0-9a-f]{32}")]
    private static partial System.Text.RegularExpressions.Regex IdInPath();

    private sealed record Leaf(JsonObject Parent, string Name, string Path, JsonNode? Node);

    private static IEnumerable<Leaf> Leaves(JsonObject o, string prefix, bool topLevelOnly)
    {
        foreach (var (name, node) in o.ToList())
        {
            var path = prefix + name;
            yield return new Leaf(o, name, path, node);
            if (topLevelOnly) continue;
            if (node is JsonObject child)
                foreach (var l in Leaves(child, path + ".", false)) yield return l;
            if (node is JsonArray { Count: > 0 } array && array[0] is JsonObject item)
                foreach (var l in Leaves(item, path + "[0].", false)) yield return l;
        }
    }

    private static byte[] RandomBytes(Random random, int n)
    {
        var b = new byte[n];
        random.NextBytes(b);
        return b;
    }

    private async Task<Dictionary<string, int>> CountAsync()
    {
        var service = new TableServiceClient(market.StorageConnectionString);
        var counts = new Dictionary<string, int>();
        foreach (var table in Counted.Append(MarketStore.IdempotencyTable(market.Clock.GetUtcNow())))
        {
            var n = 0;
            try
            {
                await foreach (var _ in service.GetTableClient(table).QueryAsync<TableEntity>(select: ["PartitionKey"])) n++;
            }
            catch (RequestFailedException e) when (e.Status == 404) { }   // no key used today yet
            counts[table] = n;
        }
        return counts;
    }
}
