using System.Diagnostics;
using System.Globalization;
using System.IO.Compression;
using Azure.Data.Tables;
using FlexChain.Storage;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Numerics;
using FlexChain.Ethereum;
using FlexChain.Verification;
using Nethereum.Signer;

/// <summary>Meter data ingestion load: many stations' quarter-hour readings in multi-station bulk calls (see Program.cs).</summary>
internal static class ReadingsLoad
{
    private const string AzuriteKey = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

    public static async Task<int> RunAsync(string[] args)
    {
        var api = args.ElementAtOrDefault(0) ?? "http://127.0.0.1:7071";
        var clients = int.Parse(args.ElementAtOrDefault(1) ?? "4");
        var stationCount = int.Parse(args.ElementAtOrDefault(2) ?? "10000");
        var intervals = int.Parse(args.ElementAtOrDefault(3) ?? "100");
        var perCall = int.Parse(args.ElementAtOrDefault(4) ?? "10000");
        var format = args.ElementAtOrDefault(5) ?? "csv";
        var tables = args.ElementAtOrDefault(6) ?? "http://127.0.0.1:10002/devstoreaccount1";
        if (format is not ("csv" or "csv.gz" or "json" or "json.gz")) throw new ArgumentException("format is csv, csv.gz, json or json.gz");
        using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = clients * 2 }) { BaseAddress = new Uri(api), Timeout = TimeSpan.FromMinutes(30) };

        var load = new LoadClient(http);
        Func<HttpMethod, string, string?, object?, Task<JsonNode>> Send = load.SendAsync;
        Func<string, string, Task<(string Id, string Key)>> Participant = (role, name) => load.ParticipantAsync(role, name);

        Console.WriteLine($"setup: {stationCount} stations ({(stationCount + 999) / 1000} CPOs), {intervals} quarter-hours each -> {stationCount * intervals} readings, {perCall} per call as {format}, {clients} clients");
        var setup = Stopwatch.StartNew();
        var dso = await Participant("Dso", "Load DSO");
        var transformer = (await Send(HttpMethod.Post, "/transformers", dso.Key, new { name = "Load T", ratedPowerKw = 100000, location = new { latitude = 45m, longitude = 9m } }))["id"]!.GetValue<string>();
        var stations = new List<(string Key, string Station)>();
        for (var c = 0; c * 1000 < stationCount; c++)
        {
            var cpo = await Participant("Cpo", $"Load CPO {c}");
            var count = Math.Min(1000, stationCount - c * 1000);
            var bulk = await Send(HttpMethod.Post, "/stations/bulk", cpo.Key, new
            {
                stations = Enumerable.Range(0, count).Select(i => new
                {
                    transformerId = transformer, model = "M", country = "IT", city = "C", address = "A", maxAcKw = 22m, maxDcKw = 0m,
                    connectorTypes = new[] { "Type2" }, meteringPointId = $"LOAD{c}-{i}", realTimeMonitoring = true, status = "Operational",
                }),
            });
            stations.AddRange(bulk["items"]!.AsArray().Select(i => (cpo.Key, i!["station"]!["id"]!.GetValue<string>())));
        }
        Console.WriteLine($"setup done in {setup.Elapsed.TotalSeconds:F0} s");

        // Readings end at least an hour ago (readings may not end in the future); calls hold whole stations of one CPO.
        var now = DateTimeOffset.UtcNow;
        var first = new DateTimeOffset(now.Year, now.Month, now.Day, now.Hour, 0, 0, TimeSpan.Zero).AddMinutes(-15 * intervals - 60);
        decimal Kwh(int k) => 1m + (k % 7) * 0.125m;

        // The baseline: the same number of readings' worth of entities written straight to Azurite, one entity per
        // reading, as the per-reading design stored them (partition station~day, row r{start ticks}), first one insert
        // per request, then 100 per transaction (the per-reading design's batches), with the same number of clients.
        var baselineReadings = Math.Min(20_000, stationCount * intervals);
        var storage = new TableServiceClient($"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={AzuriteKey};TableEndpoint={tables};");
        var rawSingle = await RawInsertAsync(storage, "single", baselineReadings, intervals, first, clients * 8, 1, Kwh);
        var rawBatched = await RawInsertAsync(storage, "batch", baselineReadings, intervals, first, clients * 8, 100, Kwh);

        var stationsPerCall = Math.Max(1, perCall / intervals);
        var calls = stations.GroupBy(s => s.Key).SelectMany(g => g.Chunk(stationsPerCall).Select(chunk => (Key: g.Key, Stations: chunk.Select(s => s.Station).ToArray()))).ToList();
        // Warm-up, not counted: a few calls of two days earlier (other entities than the measured ones) let the app's JIT
        // reach its optimised code first, as BenchmarkDotNet's warm-up does, so the first measured 100,000 are not its compile time.
        var warmup = calls.Take(clients * 10).Select(c => (c.Key, Stations: c.Stations, First: first.AddDays(-2))).ToList();
        var warming = Stopwatch.StartNew();
        // One upload of [count] quarter-hours from [from] for each of the call's stations; the response's text.
        async Task<string> UploadAsync((string Key, string[] Stations) call, int count, DateTimeOffset from)
        {
            using var message = new HttpRequestMessage(HttpMethod.Post, "/v1/readings");
            message.Headers.Add("X-Api-Key", call.Key);
            message.Content = Body(format, call.Stations, count, from, Kwh);
            using var response = await http.SendAsync(message);
            var text = await response.Content.ReadAsStringAsync();
            if (!response.IsSuccessStatusCode) throw new InvalidOperationException($"POST /v1/readings: {(int)response.StatusCode} {text[..Math.Min(400, text.Length)]}");
            return text;
        }
        var warmed = await Concurrent.RunAsync("warm-up", warmup, clients, call => UploadAsync((call.Key, call.Stations), Math.Min(intervals, 24), call.First));
        if (warmed.Errors > 0) return 1;
        Console.WriteLine($"warm-up: {warmup.Count} calls of {stationsPerCall * Math.Min(intervals, 24)} readings two days earlier in {warming.Elapsed.TotalSeconds:F1} s (not counted)");

        var acknowledged = new System.Collections.Concurrent.ConcurrentDictionary<string, int>();
        long stored = 0, rejected = 0, done = 0;
        // Progress every 100,000 readings (or every tenth of the run), to show whether the rate holds as the tables grow.
        var every = Math.Max(1, Math.Min(calls.Count / 10, 100_000 / (stationsPerCall * intervals)));
        var progress = Stopwatch.StartNew();
        var lastReport = (Calls: 0L, Seconds: 0d);
        var rates = new List<double>();
        var watched = Watched();
        var cpuBefore = watched.Select(w => CpuSeconds(w.Pid)).ToList();
        var timed = new System.Collections.Concurrent.ConcurrentBag<(long Start, double Ms)>();
        var run = await Concurrent.RunAsync("readings", calls, clients, async call =>
        {
            var started = Stopwatch.GetTimestamp();
            var r = JsonNode.Parse(await UploadAsync(call, intervals, first))!;
            foreach (var item in r["items"]!.AsArray())
                if (item!["status"]!.GetValue<int>() is 200 or 201) acknowledged.AddOrUpdate(item["stationId"]!.GetValue<string>(), 1, (_, n) => n + 1);
            Interlocked.Add(ref stored, r["stored"]!.GetValue<int>() + r["unchanged"]!.GetValue<int>());
            Interlocked.Add(ref rejected, r["rejected"]!.GetValue<int>());
            timed.Add((started, Stopwatch.GetElapsedTime(started).TotalMilliseconds));
            if (Interlocked.Increment(ref done) % every == 0)
                lock (progress)
                {
                    var (n, t) = (Interlocked.Read(ref done), progress.Elapsed.TotalSeconds);
                    var perCallReadings = (double)stationsPerCall * intervals;
                    var rate = (n - lastReport.Calls) * perCallReadings / (t - lastReport.Seconds);
                    rates.Add(rate);
                    Console.WriteLine($"  {n * perCallReadings:F0} readings in {t:F1} s: {n * perCallReadings / t:F0}/s overall, {rate:F0}/s since the last line");
                    lastReport = (n, t);
                }
        });
        var (seconds, errors) = (run.Seconds, run.Errors);
        var total = (long)stationCount * intervals;
        var cpu = watched.Select((w, i) => (w.Name, Seconds: CpuSeconds(w.Pid) - cpuBefore[i])).ToList();

        // Read-back: every acknowledged reading of 100 sampled stations, value by value, through the time-series view.
        var exact = 0;
        var sample = stations.Where((_, i) => i % Math.Max(1, stations.Count / 100) == 0).Take(100).ToList();
        foreach (var (key, id) in sample)
        {
            var from = Uri.EscapeDataString(first.ToString("yyyy-MM-ddTHH:mm:ssZ"));
            var to = Uri.EscapeDataString(first.AddMinutes(15 * intervals).ToString("yyyy-MM-ddTHH:mm:ssZ"));
            var items = (await Send(HttpMethod.Get, $"/stations/{id}/readings?from={from}&to={to}", key, null))["items"]!.AsArray();
            var expected = Enumerable.Range(0, acknowledged.GetValueOrDefault(id)).Select(k => (first.AddMinutes(15 * k), first.AddMinutes(15 * (k + 1)), Kwh(k)));
            var got = items.Select(i => (i!["start"]!.GetValue<DateTimeOffset>(), i["end"]!.GetValue<DateTimeOffset>(), i["energyKwh"]!.GetValue<decimal>()));
            if (acknowledged.GetValueOrDefault(id) == intervals && got.SequenceEqual(expected)) exact++;
        }

        Console.WriteLine();
        Console.WriteLine($"| measure ({clients} clients) | readings | seconds | readings/s | p50 ms/call | p99 ms/call | errors |");
        Console.WriteLine("|---|---:|---:|---:|---:|---:|---:|");
        Console.WriteLine($"| raw Azurite insert, one entity per reading, one per request ({clients * 8} clients) | {rawSingle.Count} | {rawSingle.Seconds:F1} | {rawSingle.Count / rawSingle.Seconds:F0} | | | 0 |");
        Console.WriteLine($"| raw Azurite insert, one entity per reading, 100 per transaction ({clients * 8} clients) | {rawBatched.Count} | {rawBatched.Seconds:F1} | {rawBatched.Count / rawBatched.Seconds:F0} | | | 0 |");
        Console.WriteLine($"| app meter data ingestion, {calls.Count} calls of {stationsPerCall * intervals} readings as {format} | {total} | {seconds:F1} | {total / seconds:F0} | {run.P50:F0} | {run.P99:F0} | {errors} |");
        Console.WriteLine();
        Console.WriteLine($"app / raw single = {total / seconds / (rawSingle.Count / rawSingle.Seconds):F1} x, app / raw batched = {total / seconds / (rawBatched.Count / rawBatched.Seconds):F1} x");
        foreach (var (name, cpuSeconds) in cpu)
            Console.WriteLine($"CPU during ingestion, {name}: {cpuSeconds:F1} s, {cpuSeconds * 100_000 / total:F2} s per 100,000 readings");
        if (rates.Count >= 2) Console.WriteLine($"first 100,000: {rates[0]:F0}/s, last 100,000: {rates[^1]:F0}/s ({(rates[^1] / rates[0] - 1) * 100:+0;-0} %), by completions");
        // The same from the calls' own latencies (the calls that started first and last, with [clients] always in flight):
        // free of the ramp-up at the start and of how completions happen to fall on either side of a progress line.
        var byStart = timed.OrderBy(t => t.Start).ToList();
        var tenth = Math.Max(1, Math.Min(byStart.Count / 10, 100_000 / (stationsPerCall * intervals)));
        double Rate(IEnumerable<(long Start, double Ms)> part) => clients * (double)stationsPerCall * intervals / (part.Average(t => t.Ms) / 1000);
        if (byStart.Count >= 2 * tenth)
            Console.WriteLine($"first {tenth} calls: {Rate(byStart.Take(tenth)):F0}/s, last {tenth} calls: {Rate(byStart.TakeLast(tenth)):F0}/s ({(Rate(byStart.TakeLast(tenth)) / Rate(byStart.Take(tenth)) - 1) * 100:+0;-0} %), by latency x {clients} in flight");
        Console.WriteLine($"acknowledged {stored} of {total}, rejected {rejected}; every acknowledged reading read back exactly for {exact} of {sample.Count} sampled stations");
        return errors == 0 && stored == total && exact == sample.Count ? 0 : 1;
    }

    /// <summary>
    /// The processes whose CPU time the run reports: this one, and those named in <c>FLEXCHAIN_LOAD_PIDS</c>
    /// (<c>app=123,azurite=456</c>: the app and Azurite that <c>scripts/run</c> started).
    /// </summary>
    private static List<(string Name, int Pid)> Watched() =>
        [("load generator", Environment.ProcessId), .. (Environment.GetEnvironmentVariable("FLEXCHAIN_LOAD_PIDS") ?? "")
            .Split(',', StringSplitOptions.RemoveEmptyEntries).Select(p => p.Split('=')).Select(p => (p[0], int.Parse(p[1], CultureInfo.InvariantCulture)))];

    /// <summary>User and system CPU seconds of a process so far (<c>/proc/{pid}/stat</c> fields 14 and 15, in clock ticks of 1/100 s).</summary>
    private static double CpuSeconds(int pid)
    {
        var stat = File.ReadAllText($"/proc/{pid}/stat");
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        return (long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture)) / 100.0;
    }

    /// <summary>One call's readings: CSV (<c>stationId,start,end,energyKwh</c>) or the JSON bulk shape, gzip-compressed when asked.</summary>
    private static HttpContent Body(string format, string[] stations, int intervals, DateTimeOffset first, Func<int, decimal> kwh)
    {
        byte[] bytes;
        string type;
        if (format.StartsWith("csv", StringComparison.Ordinal))
        {
            var csv = new StringBuilder("stationId,start,end,energyKwh\n");
            foreach (var id in stations)
                for (var k = 0; k < intervals; k++)
                    csv.Append(id).Append(',').Append(first.AddMinutes(15 * k).ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture)).Append(',')
                        .Append(first.AddMinutes(15 * (k + 1)).ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture)).Append(',')
                        .Append(kwh(k).ToString(CultureInfo.InvariantCulture)).Append('\n');
            (bytes, type) = (Encoding.UTF8.GetBytes(csv.ToString()), "text/csv");
        }
        else
        {
            var body = new
            {
                readings = stations.SelectMany(id => Enumerable.Range(0, intervals).Select(k => new
                {
                    stationId = id, start = first.AddMinutes(15 * k), end = first.AddMinutes(15 * (k + 1)), energyKwh = kwh(k),
                })),
            };
            (bytes, type) = (JsonSerializer.SerializeToUtf8Bytes(body, new JsonSerializerOptions(JsonSerializerDefaults.Web)), "application/json");
        }
        HttpContent content;
        if (format.EndsWith(".gz", StringComparison.Ordinal))
        {
            using var packed = new MemoryStream();
            using (var gzip = new GZipStream(packed, CompressionLevel.Fastest)) gzip.Write(bytes);
            content = new ByteArrayContent(packed.ToArray());
            content.Headers.ContentEncoding.Add("gzip");
        }
        else content = new ByteArrayContent(bytes);
        content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue(type);
        return content;
    }

    /// <summary>
    /// Inserts <paramref name="count"/> reading entities straight into a fresh table (one per reading, partition
    /// {station}~{day}, row r{start ticks}), <paramref name="perTransaction"/> per request, from <paramref name="clients"/> clients.
    /// </summary>
    private static async Task<(int Count, double Seconds)> RawInsertAsync(
        TableServiceClient storage, string name, int count, int intervals, DateTimeOffset first, int clients, int perTransaction, Func<int, decimal> kwh)
    {
        var table = storage.GetTableClient("loadreadings" + name + Guid.NewGuid().ToString("N")[..8]);
        await table.CreateIfNotExistsAsync();
        var entities = Enumerable.Range(0, count).Select(i =>
        {
            var (station, k) = (i / intervals, i % intervals);
            var start = first.AddMinutes(15 * k);
            return new TableEntity($"st_{station:D32}~{start:yyyyMMdd}", "r" + start.UtcTicks.ToString("D19", CultureInfo.InvariantCulture))
            {
                ["End"] = start.AddMinutes(15), ["Wh"] = (long)(kwh(k) * 1000m), ["Revision"] = 1, ["ReceivedAt"] = DateTimeOffset.UtcNow,
            };
        }).ToList();
        var batches = entities.GroupBy(e => e.PartitionKey).SelectMany(g => g.Chunk(perTransaction)).ToList();
        var clock = Stopwatch.StartNew();
        var result = await Concurrent.RunAsync("raw " + name, batches, clients, async batch =>
        {
            if (batch.Length == 1) await table.AddEntityAsync(batch[0]);
            else await table.SubmitCheckedTransactionAsync(batch.Select(e => new TableTransactionAction(TableTransactionActionType.Add, e)).ToList(), default);
        });
        if (result.Errors > 0) throw new InvalidOperationException($"raw insert {name}: {result.Errors} errors");
        // Azurite saves its whole table store to disk every 5 s while anything changes (the gate-cycle worker's leases
        // always do), so the baseline's entities, left in place, would tax the app's measurement that follows.
        await table.DeleteAsync();
        Console.WriteLine($"raw Azurite insert ({name}, {perTransaction} per request): {count} entities in {result.Seconds:F1} s, {count / result.Seconds:F0}/s");
        return (count, result.Seconds);
    }
}

/// <summary>The load tests' HTTP client: API calls that fail loudly, and a participant registered with a proven wallet.</summary>
internal sealed class LoadClient(HttpClient http)
{
    private static readonly JsonSerializerOptions Web = new(JsonSerializerDefaults.Web);

    public async Task<JsonNode> SendAsync(HttpMethod method, string path, string? key, object? body)
    {
        using var message = new HttpRequestMessage(method, "/v1" + path);
        if (key is not null) message.Headers.Add("X-Api-Key", key);
        if (body is not null) message.Content = JsonContent.Create(body, options: Web);
        using var response = await http.SendAsync(message);
        var text = await response.Content.ReadAsStringAsync();
        if (!response.IsSuccessStatusCode) throw new InvalidOperationException($"{method} {path}: {(int)response.StatusCode} {text[..Math.Min(400, text.Length)]}");
        return JsonNode.Parse(text)!;
    }

    private JsonNode? _chain;

    /// <summary>
    /// Posts a request (reduce consumption, pay-as-bid) with the DSO's consent signed by <paramref name="dsoWallet"/>
    /// (EIP-712, for energy x price cap in token units, until a day after delivery starts), as a DSO's wallet app would.
    /// </summary>
    public async Task<JsonNode> PostRequestAsync(string key, EthECKey dsoWallet, string transformer, DateTimeOffset start, DateTimeOffset end,
        decimal energyKwh, decimal maxPrice, DateTimeOffset gateClosure)
    {
        _chain ??= (await SendAsync(HttpMethod.Get, "/health", null, null))["chain"]!;
        var decimals = _chain["tokenDecimals"]!.GetValue<int>();
        var requestHash = new RequestTerms(transformer, start.ToUnixTimeSeconds(), end.ToUnixTimeSeconds(), (long)(energyKwh * 1000m),
            (long)(maxPrice * 1_000_000m), gateClosure.ToUnixTimeSeconds()).Hash();
        var maxAmount = new BigInteger(decimal.Round(energyKwh * maxPrice * (decimal)Math.Pow(10, decimals), 0, MidpointRounding.ToZero));
        var deadline = start.AddDays(1);
        var consent = DsoConsent.Sign(dsoWallet, _chain["chainId"]!.GetValue<long>(), EthAddress.Parse(_chain["settlementContract"]!.GetValue<string>()),
            requestHash, maxAmount, deadline.ToUnixTimeSeconds(), new BigInteger(RandomNumberGenerator.GetBytes(16), isUnsigned: true));
        return await SendAsync(HttpMethod.Post, "/requests", key, new
        {
            transformerId = transformer, deliveryStart = start, deliveryEnd = end, energyKwh, direction = "ReduceConsumption",
            maxPriceEurPerKwh = maxPrice, gateClosure, pricing = "PayAsBid",
            consent = new { maxAmount = maxAmount.ToString(), deadline, nonce = consent.Nonce.ToString(), signature = consent.Signature },
        });
    }

    /// <summary>Registers a participant and proves its wallet (a fresh random one unless given).</summary>
    public async Task<(string Id, string Key)> ParticipantAsync(string role, string name, EthECKey? wallet = null)
    {
        wallet ??= EthECKey.GenerateKey();
        var r = await SendAsync(HttpMethod.Post, "/participants", null, new { role, legalName = name, contact = "load@example.org", walletAddress = wallet.GetPublicAddress() });
        var key = r["apiKey"]!.GetValue<string>();
        var message = (await SendAsync(HttpMethod.Post, "/participants/me/wallet-challenge", key, new { }))["message"]!.GetValue<string>();
        await SendAsync(HttpMethod.Post, "/participants/me/wallet-proof", key, new { signature = new EthereumMessageSigner().EncodeUTF8AndSign(message, wallet) });
        return (r["participant"]!["id"]!.GetValue<string>(), key);
    }
}
