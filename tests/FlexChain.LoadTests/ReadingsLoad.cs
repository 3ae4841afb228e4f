using System.Diagnostics;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Nethereum.Signer;

/// <summary>Meter data ingestion load: many stations' quarter-hour readings in multi-station bulk calls (see Program.cs).</summary>
internal static class ReadingsLoad
{
    public static async Task<int> RunAsync(string[] args)
    {
        var api = args.ElementAtOrDefault(0) ?? "http://127.0.0.1:7071";
        var clients = int.Parse(args.ElementAtOrDefault(1) ?? "8");
        var stationCount = int.Parse(args.ElementAtOrDefault(2) ?? "10000");
        var intervals = int.Parse(args.ElementAtOrDefault(3) ?? "100");
        var perCall = int.Parse(args.ElementAtOrDefault(4) ?? "10000");
        using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = clients * 2 }) { BaseAddress = new Uri(api), Timeout = TimeSpan.FromMinutes(30) };

        var load = new LoadClient(http);
        Func<HttpMethod, string, string?, object?, Task<JsonNode>> Send = load.SendAsync;
        Func<string, string, Task<(string Id, string Key)>> Participant = (role, name) => load.ParticipantAsync(role, name);

        Console.WriteLine($"setup: {stationCount} stations ({(stationCount + 999) / 1000} CPOs), {intervals} quarter-hours each -> {stationCount * intervals} readings, {perCall} per call, {clients} clients");
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
        var stationsPerCall = Math.Max(1, perCall / intervals);
        var calls = stations.GroupBy(s => s.Key).SelectMany(g => g.Chunk(stationsPerCall).Select(chunk => (Key: g.Key, Stations: chunk.Select(s => s.Station).ToArray()))).ToList();
        long stored = 0, rejected = 0, done = 0;
        // Progress every 100,000 readings (or every tenth of the run), to show whether the rate holds as the tables grow.
        var every = Math.Max(1, Math.Min(calls.Count / 10, 100_000 / (stationsPerCall * intervals)));
        var progress = Stopwatch.StartNew();
        var lastReport = (Calls: 0L, Seconds: 0d);
        var run = await Concurrent.RunAsync("readings", calls, clients, async call =>
        {
            var body = new
            {
                readings = call.Stations.SelectMany(id => Enumerable.Range(0, intervals).Select(k => new
                {
                    stationId = id, start = first.AddMinutes(15 * k), end = first.AddMinutes(15 * (k + 1)), energyKwh = 1m + (k % 7) * 0.125m,
                })),
            };
            var r = await Send(HttpMethod.Post, "/readings", call.Key, body);
            Interlocked.Add(ref stored, r["stored"]!.GetValue<int>() + r["unchanged"]!.GetValue<int>());
            Interlocked.Add(ref rejected, r["rejected"]!.GetValue<int>());
            if (Interlocked.Increment(ref done) % every == 0)
                lock (progress)
                {
                    var (n, t) = (Interlocked.Read(ref done), progress.Elapsed.TotalSeconds);
                    var perCallReadings = (double)stationsPerCall * intervals;
                    Console.WriteLine($"  {n * perCallReadings:F0} readings in {t:F0} s: {n * perCallReadings / t:F0}/s overall, {(n - lastReport.Calls) * perCallReadings / (t - lastReport.Seconds):F0}/s since the last line");
                    lastReport = (n, t);
                }
        });
        var (seconds, errors) = (run.Seconds, run.Errors);
        var total = (long)stationCount * intervals;

        // Spot check: a sample of stations read back in full through the time-series view.
        var checkedOk = 0;
        var sample = stations.Where((_, i) => i % Math.Max(1, stations.Count / 20) == 0).ToList();
        foreach (var (key, id) in sample)
        {
            var from = Uri.EscapeDataString(first.ToString("yyyy-MM-ddTHH:mm:ssZ"));
            var to = Uri.EscapeDataString(first.AddMinutes(15 * intervals).ToString("yyyy-MM-ddTHH:mm:ssZ"));
            var series = await Send(HttpMethod.Get, $"/stations/{id}/readings?from={from}&to={to}", key, null);
            if (series["items"]!.AsArray().Count == intervals) checkedOk++;
        }

        Console.WriteLine();
        Console.WriteLine($"| measure ({clients} clients, {calls.Count} calls of {stationsPerCall * intervals} readings) | readings | seconds | readings/s | p50 ms/call | p99 ms/call | errors |");
        Console.WriteLine("|---|---:|---:|---:|---:|---:|---:|");
        Console.WriteLine($"| app meter data ingestion | {total} | {seconds:F1} | {total / seconds:F0} | {run.P50:F0} | {run.P99:F0} | {errors} |");
        Console.WriteLine($"\nacknowledged {stored} of {total}, rejected {rejected}; read back complete for {checkedOk} of {sample.Count} sampled stations");
        return errors == 0 && stored == total && checkedOk == sample.Count ? 0 : 1;
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
