// Gate-cycle benchmark (issue 5): not a test and not run in CI. Against the app started by scripts/run, one DSO posts
// [requests] requests that all close in the same gate cycle, and [cpos] CPOs each offer a different station on every
// request ([requests] x [cpos] offers, every one needed, so every offer becomes an award). It then waits for the gate
// and reports, from the cycle's own history, the time from gate closure to the gate cleared and to every award locked
// in escrow on chain (the client's own observation by polling every 100 ms is printed next to it), and the number of chain transactions the operator sent for it (its nonce before and after).
//
//   dotnet run -c Release --project tests/FlexChain.LoadTests -- gate [api-url] [rpc-url] [requests] [cpos] [cadence-seconds]
using System.Diagnostics;
using System.Text.Json.Nodes;
using FlexChain.Ethereum;
using Nethereum.RPC.Eth.DTOs;
using Nethereum.Signer;
using Nethereum.Web3;

internal static class GateLoad
{
    // Hardhat's well-known development accounts (public keys of a local test chain): #0 is the market operator,
    // #1 is funded with tEUR by contracts-sol/scripts/deploy.js and has approved the escrow: the DSO.
    private static readonly EthAddress Operator = EthAddress.Parse("0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266");
    private static readonly EthECKey DsoWallet = new("0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d");

    public static async Task<int> RunAsync(string[] args)
    {
        var api = args.ElementAtOrDefault(0) ?? "http://127.0.0.1:7071";
        var rpcUrl = args.ElementAtOrDefault(1) ?? "http://127.0.0.1:8545";
        var requestCount = int.Parse(args.ElementAtOrDefault(2) ?? "100");
        var cpoCount = int.Parse(args.ElementAtOrDefault(3) ?? "10");
        var cadence = TimeSpan.FromSeconds(int.Parse(args.ElementAtOrDefault(4) ?? "30"));
        using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 32 }) { BaseAddress = new Uri(api), Timeout = TimeSpan.FromMinutes(2) };
        var rpc = new Web3(rpcUrl);
        var load = new LoadClient(http);
        var parallel = new ParallelOptions { MaxDegreeOfParallelism = 16 };

        Console.WriteLine($"setup: 1 DSO, {cpoCount} CPOs with {requestCount} prequalified stations each, {requestCount} requests, {requestCount * cpoCount} offers");
        var dso = await load.ParticipantAsync("Dso", "Gate DSO", DsoWallet);
        var transformer = (await load.SendAsync(HttpMethod.Post, "/transformers", dso.Key, new { name = "Gate T", ratedPowerKw = 10000, location = new { latitude = 45m, longitude = 9m } }))["id"]!.GetValue<string>();
        await load.SendAsync(HttpMethod.Put, "/prequalification/requirements", dso.Key, new { minimumPowerKw = 3.7m, monitoringRequired = true, validityDays = 30 });
        var cpos = new (string Id, string Key, string[] Stations)[cpoCount];
        await Parallel.ForEachAsync(Enumerable.Range(0, cpoCount), parallel, async (c, _) =>
        {
            var cpo = await load.ParticipantAsync("Cpo", $"Gate CPO {c}");
            var stations = new List<string>();
            foreach (var chunk in Enumerable.Range(0, requestCount).Chunk(100))
            {
                var bulk = await load.SendAsync(HttpMethod.Post, "/stations/bulk", cpo.Key, new
                {
                    stations = chunk.Select(i => new
                    {
                        transformerId = transformer, model = "M", country = "IT", city = "C", address = "A", maxAcKw = 22m, maxDcKw = 0m,
                        connectorTypes = new[] { "Type2" }, meteringPointId = $"GATE{c:D3}{i:D5}", realTimeMonitoring = true, status = "Operational",
                    }),
                });
                stations.AddRange(bulk["items"]!.AsArray().Select(x => x!["station"]!["id"]!.GetValue<string>()));
            }
            cpos[c] = (cpo.Id, cpo.Key, stations.ToArray());
        });
        await Parallel.ForEachAsync(cpos.SelectMany(c => c.Stations.Select(s => (c.Key, Station: s))), parallel, async (x, _) =>
            await load.SendAsync(HttpMethod.Post, $"/stations/{x.Station}/prequalification", x.Key, new { }));

        // The gate: the first cadence boundary at least 60 s away (time to post requests and offers); delivery from the next whole minute after it.
        var now = DateTimeOffset.UtcNow.AddSeconds(60);
        var closure = DateTimeOffset.UnixEpoch.AddTicks(((now - DateTimeOffset.UnixEpoch).Ticks / cadence.Ticks + 1) * cadence.Ticks);
        var start = DateTimeOffset.UnixEpoch.AddMinutes(Math.Ceiling((closure - DateTimeOffset.UnixEpoch).TotalMinutes) + 1);
        var requests = new string[requestCount];
        await Parallel.ForEachAsync(Enumerable.Range(0, requestCount), parallel, async (i, _) =>
            requests[i] = (await load.PostRequestAsync(dso.Key, DsoWallet, transformer, start, start.AddMinutes(15), cpoCount, 0.5m, closure))["id"]!.GetValue<string>());
        await Parallel.ForEachAsync(Enumerable.Range(0, requestCount).SelectMany(i => Enumerable.Range(0, cpoCount).Select(c => (i, c))), parallel, async (x, _) =>
            await load.SendAsync(HttpMethod.Post, $"/requests/{requests[x.i]}/offers", cpos[x.c].Key,
                new { stationIds = new[] { cpos[x.c].Stations[x.i] }, energyKwh = 1m, priceEurPerKwh = 0.10m + 0.01m * x.c, divisible = false }));
        var cycleId = (await load.SendAsync(HttpMethod.Get, $"/requests/{requests[0]}", dso.Key, null))["gateCycleId"]!.GetValue<string>();
        var nonceBefore = (await rpc.Eth.Transactions.GetTransactionCount.SendRequestAsync(Operator.ToString(), BlockParameter.CreateLatest())).Value;
        Console.WriteLine($"posted; gate cycle {cycleId} closes at {closure:O}, {(closure - DateTimeOffset.UtcNow).TotalSeconds:F0} s from now");

        var wait = Stopwatch.StartNew();
        JsonNode cycle;
        while ((cycle = await load.SendAsync(HttpMethod.Get, $"/gate-cycles/{cycleId}", dso.Key, null))["state"]!.GetValue<string>() is "Open" or "Closed" or "Cleared")
        {
            if (wait.Elapsed > TimeSpan.FromMinutes(10)) throw new TimeoutException($"gate cycle {cycleId} still {cycle["state"]}");
            await Task.Delay(100);
        }
        var observed = DateTimeOffset.UtcNow;
        var nonceAfter = (await rpc.Eth.Transactions.GetTransactionCount.SendRequestAsync(Operator.ToString(), BlockParameter.CreateLatest())).Value;
        var history = cycle["history"]!.AsArray();
        DateTimeOffset At(string to) => history.First(e => e!["to"]!.GetValue<string>() == to && e["from"]!.GetValue<string>() != to)!["at"]!.GetValue<DateTimeOffset>();
        var (cleared, awarded) = (At("Cleared"), At("Awarded"));
        var lastLock = history.Where(e => e!["cause"]!.GetValue<string>().Contains(" locked in ", StringComparison.Ordinal)).Max(e => e!["at"]!.GetValue<DateTimeOffset>());
        var batches = cycle["escrowBatches"]!.AsArray();
        var awards = batches.Sum(b => b!["awardCount"]!.GetValue<int>());
        var transactions = (ulong)(nonceAfter - nonceBefore);

        Console.WriteLine("\nthe cycle's history (seconds after gate closure):");
        foreach (var e in history)
            Console.WriteLine($"  {(e!["at"]!.GetValue<DateTimeOffset>() - closure).TotalSeconds,7:F2}  {e["from"]} -> {e["to"]}: {e["cause"]}");
        Console.WriteLine();
        Console.WriteLine("| requests | offers | awards | escrow batches | chain transactions | closure -> cleared s | closure -> every award locked on chain s | closure -> cycle Awarded s | Awarded seen by polling s |");
        Console.WriteLine("|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        Console.WriteLine($"| {requestCount} | {requestCount * cpoCount} | {awards} | {batches.Count} | {transactions} | {(cleared - closure).TotalSeconds:F2} | {(lastLock - closure).TotalSeconds:F2} | {(awarded - closure).TotalSeconds:F2} | {(observed - closure).TotalSeconds:F2} |");
        Console.WriteLine($"\nawards per transaction: {(double)awards / transactions:F0} (one transaction per award would be {awards}: {awards / (double)transactions:F0}x more)");
        return awards == requestCount * cpoCount && transactions == (ulong)batches.Count ? 0 : 1;
    }
}
