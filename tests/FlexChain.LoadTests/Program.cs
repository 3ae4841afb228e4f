// Offer-intake load benchmark (issue 3): not a test and not run in CI. Against the app started by scripts/run, it
// measures the raw Azurite insert rate (offer-sized entities, the app's partition scheme) and the app's offer intake
// (POST /v1/requests/{id}/offers), both with the same number of concurrent clients, in alternating rounds, and checks
// that every acknowledged offer is readable afterwards.
//
//   dotnet run -c Release --project tests/FlexChain.LoadTests -- [api-url] [table-endpoint] [clients] [cpos] [requests] [rounds]
//
// Meter data ingestion (issues 6 and 17): registers [stations] stations (bulk, 1,000 per CPO) and uploads [intervals]
// back-to-back quarter-hour readings per station through POST /v1/readings, [perCall] readings per call (100 stations
// x 100 intervals by default) as [format] (csv, csv.gz, json or json.gz; csv by default), from [clients] concurrent
// clients. Before that it measures the raw Azurite insert rate of one entity per reading on [table-endpoint] (one per
// request and 100 per transaction). Reports readings/s, the rate of the first and last 100,000, and reads back every
// acknowledged reading of 100 sampled stations, and the CPU seconds during ingestion of the load generator and of the
// processes named in FLEXCHAIN_LOAD_PIDS (app=PID,azurite=PID).
//
//   dotnet run -c Release --project tests/FlexChain.LoadTests -- readings [api-url] [clients] [stations] [intervals] [perCall] [format] [table-endpoint]
//
// Gate cycle (issue 5): see GateLoad.cs.
//
// These runs register hundreds of participants from one address: start the app with raised limits (docs/SECURITY.md),
// e.g. Limits__RegistrationsPerAddressPerHour=100000 Limits__StationsPerCall=1000 Limits__RequestsPerAddressPerMinute=1000000
// Limits__RequestsPerParticipantPerMinute=1000000 scripts/run
//
//   dotnet run -c Release --project tests/FlexChain.LoadTests -- gate [api-url] [rpc-url] [requests] [cpos] [cadence-seconds]
using System.Diagnostics;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using FlexChain.Ethereum;
using Azure.Data.Tables;
using FlexChain.Storage;

if (args is ["readings", ..]) return await ReadingsLoad.RunAsync(args[1..]);
if (args is ["gate", ..]) return await GateLoad.RunAsync(args[1..]);

var api = args.ElementAtOrDefault(0) ?? "http://127.0.0.1:7071";
var tables = args.ElementAtOrDefault(1) ?? "http://127.0.0.1:10002/devstoreaccount1";
var clients = int.Parse(args.ElementAtOrDefault(2) ?? "32");
var cpoCount = int.Parse(args.ElementAtOrDefault(3) ?? "128");
var requestCount = int.Parse(args.ElementAtOrDefault(4) ?? "100");
var rounds = int.Parse(args.ElementAtOrDefault(5) ?? "3");
var storage = new TableServiceClient(
    $"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;TableEndpoint={tables};");
using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = clients * 2 }) { BaseAddress = new Uri(api), Timeout = TimeSpan.FromMinutes(2) };
var web = new JsonSerializerOptions(JsonSerializerDefaults.Web);

var load = new LoadClient(http);
Task<JsonNode> Send(HttpMethod method, string path, string? key, object? body) => load.SendAsync(method, path, key, body);
Task<(string Id, string Key)> Participant(string role, string name) => load.ParticipantAsync(role, name);

Console.WriteLine($"setup: 1 DSO, {cpoCount} CPOs with a prequalified station each, {requestCount} requests per round -> {cpoCount * requestCount} offers per round");
// Hardhat's account #1 (a public development key; the deploy script funds it and approves the escrow): requests need
// the DSO's consent, checked against its allowance and balance.
var dsoWallet = new Nethereum.Signer.EthECKey("0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d");
var dso = await load.ParticipantAsync("Dso", "Load DSO", dsoWallet);
var transformer = (await Send(HttpMethod.Post, "/transformers", dso.Key, new { name = "Load T", ratedPowerKw = 1000, location = new { latitude = 45m, longitude = 9m } }))["id"]!.GetValue<string>();
await Send(HttpMethod.Put, "/prequalification/requirements", dso.Key, new { minimumPowerKw = 3.7m, monitoringRequired = true, validityDays = 30 });
var cpos = await Task.WhenAll(Enumerable.Range(0, cpoCount).Select(async i =>
{
    await Task.Yield();
    var cpo = await Participant("Cpo", $"Load CPO {i}");
    var station = (await Send(HttpMethod.Post, "/stations", cpo.Key, new
    {
        transformerId = transformer, model = "M", country = "IT", city = "C", address = "A", maxAcKw = 22m, maxDcKw = 0m,
        connectorTypes = new[] { "Type2" }, meteringPointId = $"LOAD{i}", realTimeMonitoring = true, status = "Operational",
    }))["id"]!.GetValue<string>();
    await Send(HttpMethod.Post, $"/stations/{station}/prequalification", cpo.Key, new { });
    return (cpo.Id, cpo.Key, Station: station);
}));
var start = DateTimeOffset.UtcNow.AddHours(3);

// The raw baseline writes to a table of its own; if the app's offers table already holds rows from an earlier run,
// Azurite (whose inserts slow as a table grows) would favour the baseline, so say so.
await foreach (var _ in storage.GetTableClient("offers").QueryAsync<TableEntity>(maxPerPage: 1, select: ["PartitionKey"]))
{
    Console.WriteLine("warning: the offers table is not empty (an earlier run?); for a fair ratio, measure on a freshly started scripts/run");
    break;
}

// Rounds alternate raw and app (each on new requests, so both tables grow alike); the first round also warms up
// both paths (JIT, connections). The ratio reported is the median over the rounds.
var raw = storage.GetTableClient("loadraw" + Guid.NewGuid().ToString("N")[..8]);
await raw.CreateIfNotExistsAsync();
var results = new List<(Result Raw, Result App)>();
var acknowledged = new System.Collections.Concurrent.ConcurrentDictionary<string, string>();
var requests = new List<string>();
for (var round = 1; round <= rounds; round++)
{
    var roundRequests = new List<string>();
    for (var i = 0; i < requestCount; i++)
        roundRequests.Add((await load.PostRequestAsync(dso.Key, dsoWallet, transformer, Whole(start), Whole(start.AddHours(1)), 100m, 0.5m,
            Whole(start.AddHours(-1))))["id"]!.GetValue<string>());
    requests.AddRange(roundRequests);
    var work = roundRequests.SelectMany(r => cpos.Select(c => (Request: r, Cpo: c))).ToList();
    Console.WriteLine($"round {round} of {rounds}");

    // Raw Azurite: the same number of offer-sized inserts, same key scheme, same client count.
    var sample = JsonSerializer.Serialize(new
    {
        id = "off_" + Guid.NewGuid().ToString("N"), requestId = roundRequests[0], cpoId = cpos[0].Id, stationIds = new[] { cpos[0].Station },
        energy = 1.5m, price = 0.25m, divisible = true, submittedAt = DateTimeOffset.UtcNow, revision = 1,
    }, web);
    var rawResult = await Run("raw Azurite insert", work, async w =>
    {
        var pk = w.Request + "~" + (SHA256.HashData(Encoding.UTF8.GetBytes(w.Cpo.Id))[0] % 16).ToString("x2");
        await raw.AddEntityAsync(new TableEntity(pk, w.Cpo.Id) { ["Data"] = sample });
        return null;
    });
    var appResult = await Run("app offer intake", work, async w =>
    {
        var r = await Send(HttpMethod.Post, $"/requests/{w.Request}/offers", w.Cpo.Key,
            new { stationIds = new[] { w.Cpo.Station }, energyKwh = 1.5m, priceEurPerKwh = 0.25m, divisible = true });
        acknowledged[r["id"]!.GetValue<string>()] = w.Request;
        return null;
    });
    results.Add((rawResult, appResult));
}
await raw.DeleteAsync();

// Every acknowledged offer must be stored: read each request's offers back from the table (all shards).
var offers = storage.GetTableClient("offers");
var readable = 0;
foreach (var request in requests)
    await foreach (var e in offers.QueryAsync<TableEntity>(TableClient.CreateQueryFilter($"PartitionKey ge {request + "~"} and PartitionKey lt {request + "~~"}"), select: ["Data"]))
        if (JsonNode.Parse(e.GetString("Data")!)!["id"]!.GetValue<string>() is var id && acknowledged.ContainsKey(id)) readable++;

Console.WriteLine();
Console.WriteLine($"| round ({clients} clients, {cpoCount * requestCount} offers each) | raw Azurite ops/s | raw p50 ms | raw p99 ms | app ops/s | app p50 ms | app p99 ms | app / raw | errors |");
Console.WriteLine("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
for (var i = 0; i < results.Count; i++)
{
    var (r, a) = results[i];
    Console.WriteLine($"| {i + 1} | {r.Rate:F0} | {r.P50:F1} | {r.P99:F1} | {a.Rate:F0} | {a.P50:F1} | {a.P99:F1} | {a.Rate / r.Rate:P0} | {r.Errors + a.Errors} |");
}
var ratios = results.Select(x => x.App.Rate / x.Raw.Rate).Order().ToList();
Console.WriteLine($"\napp / raw, median of {rounds} rounds = {ratios[ratios.Count / 2]:P0}; acknowledged offers {acknowledged.Count}, readable afterwards {readable}");
return results.All(x => x.App.Errors == 0) && readable == acknowledged.Count ? 0 : 1;

async Task<Result> Run(string name, List<(string Request, (string Id, string Key, string Station) Cpo)> items, Func<(string Request, (string Id, string Key, string Station) Cpo), Task<object?>> op)
{
    var result = await Concurrent.RunAsync(name, items, clients, op);
    Console.WriteLine($"{name}: {items.Count} in {result.Seconds:F1} s = {result.Rate:F0}/s, p50 {result.P50:F1} ms, p99 {result.P99:F1} ms, {result.Errors} errors");
    return result;
}

static DateTimeOffset Whole(DateTimeOffset t) => new(t.Year, t.Month, t.Day, t.Hour, 0, 0, TimeSpan.Zero);

/// <summary>One measured run: operations per second and latency percentiles (ms).</summary>
internal sealed record Result(string Name, double Seconds, double Rate, double P50, double P99, int Errors);

/// <summary>Runs operations from a fixed number of concurrent clients, each taking the next item until none is left.</summary>
internal static class Concurrent
{
    public static async Task<Result> RunAsync<T>(string name, IReadOnlyList<T> items, int clients, Func<T, Task> op)
    {
        var latencies = new double[items.Count];
        var errors = 0;
        var next = -1;
        var clock = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, clients).Select(async _ =>
        {
            await Task.Yield();
            int i;
            while ((i = Interlocked.Increment(ref next)) < items.Count)
            {
                var t = Stopwatch.GetTimestamp();
                try { await op(items[i]); }
                catch (Exception e)
                {
                    if (Interlocked.Increment(ref errors) <= 3) Console.Error.WriteLine($"{name}: {e.Message}");
                }
                latencies[i] = Stopwatch.GetElapsedTime(t).TotalMilliseconds;
            }
        }));
        var seconds = clock.Elapsed.TotalSeconds;
        Array.Sort(latencies);
        return new Result(name, seconds, items.Count / seconds, latencies[latencies.Length / 2], latencies[(int)(latencies.Length * 0.99)], errors);
    }
}
