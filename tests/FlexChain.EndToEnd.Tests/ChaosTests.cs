using System.Globalization;
using System.Net;
using System.Numerics;
using System.Text.Json.Nodes;
using FlexChain.Ethereum;
using FlexChain.Testing;
using FlexChain.Verification;
using Xunit.Abstractions;

namespace FlexChain.EndToEnd.Tests;

/// <summary>
/// Chaos: two app processes on one Azurite and one Hardhat node, real time, a load generator posting requests, offers
/// (some modified or withdrawn) and meter readings through either instance, and a killer that SIGKILLs a random instance
/// every so often and starts it again. Afterwards every acknowledged offer is in its request's clearing input, every
/// request finished, every award was locked once and paid at most once, and the CPOs' balances grew by exactly what was paid.
/// </summary>
/// <remarks>
/// In CI a short smoke runs (1 minute of load, 10-second gates, kills every 15 to 30 s). The full run (docs/BENCHMARKS.md):
/// <c>FLEXCHAIN_CHAOS_MINUTES=30 FLEXCHAIN_CHAOS_CADENCE=30 FLEXCHAIN_CHAOS_KILLS=20-90 dotnet test tests/FlexChain.EndToEnd.Tests
/// -c Release --filter FullyQualifiedName~ChaosTests --logger "console;verbosity=detailed"</c>.
/// </remarks>
public sealed class ChaosTests(ITestOutputHelper output) : IAsyncLifetime
{
    private static readonly TimeSpan Load = TimeSpan.FromMinutes(Setting("FLEXCHAIN_CHAOS_MINUTES", 1));
    private static readonly TimeSpan Cadence = TimeSpan.FromSeconds(Setting("FLEXCHAIN_CHAOS_CADENCE", 10));
    private static readonly (int Min, int Max) KillEvery = Environment.GetEnvironmentVariable("FLEXCHAIN_CHAOS_KILLS") is { } k
        ? (int.Parse(k.Split('-')[0], CultureInfo.InvariantCulture), int.Parse(k.Split('-')[1], CultureInfo.InvariantCulture)) : (15, 30);
    private static readonly TimeSpan Grace = TimeSpan.FromSeconds(10);
    private const int StationsPerCpo = 16;

    private readonly AzuriteFixture _azurite = new();
    private readonly HardhatNodeFixture _chain = new();
    private readonly int[] _ports = [ServerProcess.FreePort(), ServerProcess.FreePort()];
    private readonly ServerProcess?[] _apps = new ServerProcess?[2];
    private readonly Dictionary<string, string> _environment = [];
    private readonly List<DateTimeOffset> _kills = [];
    private EthAddress _token, _escrow;

    private static int Setting(string name, int fallback) =>
        Environment.GetEnvironmentVariable(name) is { Length: > 0 } v ? int.Parse(v, CultureInfo.InvariantCulture) : fallback;

    public async Task InitializeAsync()
    {
        await Task.WhenAll(_azurite.InitializeAsync(), _chain.InitializeAsync());
        var deployment = await MarketFixture.DeployAsync(_chain.RpcUri);
        (_token, _escrow) = (EthAddress.Parse(deployment.GetProperty("token").GetString()!), EthAddress.Parse(deployment.GetProperty("settlement").GetString()!));
        foreach (var (key, value) in new Dictionary<string, string>
        {
            ["Storage__ConnectionString"] = _azurite.ConnectionString,
            ["Chain__RpcUrl"] = _chain.RpcUri.ToString(),
            ["Chain__ChainId"] = HardhatNodeFixture.ChainId.ToString(CultureInfo.InvariantCulture),
            ["Chain__SettlementContract"] = _escrow.ToString(),
            ["Chain__OperatorKey"] = MarketFixture.OperatorKey,
            ["Chain__RegistrarKey"] = MarketFixture.RegistrarKey,
            ["Chain__SignerLease"] = "00:00:15",
            ["GateCycle__MeterDataGrace"] = "00:00:10",
            ["GateCycle__Cadence"] = Cadence.ToString(),
            ["GateCycle__ActivationLeadTime"] = "00:00:10",
            ["GateCycle__StepRetryMax"] = "00:00:02",
            ["LocalTriggers__Schedules__GateTick"] = "* * * * * *",
            ["Market__ReadCacheDuration"] = "00:00:00",
            ["ASPNETCORE_ENVIRONMENT"] = "Production",
        }) _environment[key] = value;
        await Task.WhenAll(StartAsync(0), StartAsync(1));
    }

    /// <summary>Starts instance <paramref name="i"/>; its worker id is stable across restarts, as an App Service instance's is.</summary>
    private async Task StartAsync(int i) =>
        _apps[i] = await ServerProcess.StartAsync("dotnet", [RepoPaths.AppDll, "--urls", $"http://127.0.0.1:{_ports[i].ToString(CultureInfo.InvariantCulture)}"],
            Path.GetDirectoryName(RepoPaths.AppDll)!, [_ports[i]], new Dictionary<string, string>(_environment) { ["DurableTask__WorkerId"] = $"chaos-{i}" },
            TimeSpan.FromSeconds(90));

    public async Task DisposeAsync()
    {
        foreach (var app in _apps) if (app is not null) await app.DisposeAsync();
        await _chain.DisposeAsync();
        await _azurite.DisposeAsync();
    }

    /// <summary>One request as the generator saw it: the offers it got acknowledged (id -> price), those it cannot be sure of, and its stations.</summary>
    private sealed record Posted(string Id, DateTimeOffset Start, Dictionary<string, decimal> Acknowledged, HashSet<string> Uncertain, List<(Caller Cpo, string Station)> Offered);

    [Fact]
    public async Task TwoInstancesKilledAtRandom_LoseNoAcknowledgedOfferAndPayEveryAwardAtMostOnce()
    {
        var clients = _ports.Select(p => new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{p}"), Timeout = TimeSpan.FromSeconds(20) }).ToArray();
        var apis = clients.Select(c => new MarketClient(c)).ToArray();
        var m = await apis[0].SmallMarketAsync("Chaos", MarketFixture.DsoKey, MarketFixture.CpoAKey, MarketFixture.CpoBKey);
        var stations = new Dictionary<Caller, List<string>> { [m.CpoA] = [m.StationA], [m.CpoB] = [m.StationB] };
        foreach (var (cpo, list) in stations)
            while (list.Count < StationsPerCpo) list.Add(await apis[0].StationAsync(cpo, m.Transformer, $"IT001E9{(cpo == m.CpoA ? 1 : 2)}{list.Count:D6}"));
        var health = await GetAsync(apis, "/v1/health", m.Dso);   // the DSO signs its consents for this chain, escrow and token
        apis[0].KnowChain((long)HardhatNodeFixture.ChainId, _escrow, health["chain"]!["tokenDecimals"]!.GetValue<int>());
        var rpc = new Nethereum.Web3.Web3(_chain.RpcUri.AbsoluteUri);
        var before = await BalancesAsync(rpc);
        var fromBlock = (ulong)(await rpc.Eth.Blocks.GetBlockNumber.SendRequestAsync()).Value;

        var posted = new List<Posted>();
        var stop = DateTimeOffset.UtcNow + Load;
        var killer = Task.Run(async () =>
        {
            var r = new Random(11);
            while (DateTimeOffset.UtcNow < stop)
            {
                await Task.Delay(TimeSpan.FromSeconds(r.Next(KillEvery.Min, KillEvery.Max + 1)));
                if (DateTimeOffset.UtcNow >= stop) break;
                var i = r.Next(2);
                await _apps[i]!.DisposeAsync();   // SIGKILL: no shutdown code runs
                lock (_kills) _kills.Add(DateTimeOffset.UtcNow);
                await StartAsync(i);
            }
        });

        // Every half gate a request on the next gate at least 20 s away (time for the offers), delivered in the first whole
        // minute after closure plus lead time, offered from two stations not used by the requests just before it (a
        // station's windows may still overlap when many requests share a minute: that is the capacity rule, not a loss).
        var traders = new List<Task>();
        for (var slot = 0; DateTimeOffset.UtcNow < stop; slot++)
        {
            var closure = Next(DateTimeOffset.UtcNow.AddSeconds(20), Cadence);
            var start = Next(closure.AddSeconds(10), TimeSpan.FromMinutes(1));
            var offered = new List<(Caller, string)> { (m.CpoA, stations[m.CpoA][slot % StationsPerCpo]), (m.CpoB, stations[m.CpoB][slot % StationsPerCpo]) };
            var seed = slot;
            traders.Add(Task.Run(async () =>
            {
                var r = new Random(seed);
                if (await PostRequestAsync(apis, r, m, closure, start) is not { } request) return;
                var p = new Posted(request, start, [], [], offered);
                lock (posted) posted.Add(p);
                foreach (var (cpo, station) in p.Offered) await OfferAsync(apis, r, p, cpo, station);
                await DeliverAsync(apis, p);
            }));
            await Task.Delay(Cadence / 2);
        }
        await killer;
        await Task.WhenAll(traders);

        // Every request finishes; its clearing input holds every acknowledged offer.
        var finished = new List<JsonNode>();
        foreach (var p in posted)
            finished.Add(await Poll.UntilAsync(() => GetAsync(apis, $"/v1/requests/{p.Id}", m.Dso), r => r["state"]!.GetValue<string>() is "Settled" or "Unfilled" or "Cancelled" or "FundingFailed" or "Unpaid",
                TimeSpan.FromMinutes(5), $"request {p.Id} finishing"));
        var lost = 0;
        var unexpected = 0;
        foreach (var (p, r) in posted.Zip(finished))
        {
            var input = r["offers"]!.AsArray().ToDictionary(o => o!["id"]!.GetValue<string>(), o => o!["priceEurPerKwh"]!.GetValue<decimal>());
            lost += p.Acknowledged.Count(a => !input.TryGetValue(a.Key, out var price) || price != a.Value);
            unexpected += input.Keys.Count(id => !p.Acknowledged.ContainsKey(id) && !p.Uncertain.Contains(id));
        }

        // On chain: one lock per escrow batch, at most one payment per award, and the CPOs got exactly what was paid.
        var cycles = new List<JsonNode>();
        foreach (var id in finished.Select(r => r["gateCycleId"]!.GetValue<string>()).Distinct())
            cycles.Add(await GetAsync(apis, $"/v1/gate-cycles/{id}", m.Dso));
        var batches = cycles.Sum(c => c["escrowBatches"]!.AsArray().Count);
        var locks = await MarketFixture.LogsAsync<CycleLockedEvent>(rpc, _escrow, fromBlock);
        var payments = (await MarketFixture.LogsAsync<AwardSettledEvent>(rpc, _escrow, fromBlock))
            .Select(l => Nethereum.Contracts.EventExtensions.DecodeEvent<AwardSettledEvent>(l).Event).ToList();
        var awards = finished.Sum(r => r["awards"]!.AsArray().Count);
        var settled = finished.Sum(r => r["settlements"]!.AsArray().Count);
        var doublePayments = payments.GroupBy(e => Convert.ToHexString(e.AwardId)).Sum(g => g.Count() - 1);
        var paid = payments.Aggregate(BigInteger.Zero, (sum, e) => sum + e.Paid);
        var after = await BalancesAsync(rpc);
        var received = after.A - before.A + (after.B - before.B);

        var (worst, quiet) = KillToMove(cycles);
        output.WriteLine($"| load | gates | kills | requests | cycles | acknowledged offers | awards | payments | offers lost | unexpected offers | double payments | longest kill -> cycle moving | longest step delay without a kill |");
        output.WriteLine($"|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        output.WriteLine($"| {Load.TotalMinutes:F0} min | {Cadence.TotalSeconds:F0} s | {_kills.Count} | {posted.Count} | {cycles.Count} | {posted.Sum(p => p.Acknowledged.Count)} | {awards} | {payments.Count} | {lost} | {unexpected} | {doublePayments} | {worst.TotalSeconds:F1} s | {quiet.TotalSeconds:F1} s |");

        Assert.True(_kills.Count > 0, "no instance was killed");
        Assert.All(finished, r => Assert.True(r["state"]!.GetValue<string>() is "Settled" or "Unfilled", $"{r["id"]} ended {r["state"]}: {r["stateReason"]}"));
        Assert.Equal(0, lost);
        Assert.Equal(0, unexpected);
        Assert.Equal(0, doublePayments);
        Assert.Equal(batches, locks.Count);
        Assert.Equal(settled, payments.Count);
        Assert.Equal(paid, received);
        Assert.True(awards > 0 && payments.Count > 0, $"{awards} awards, {payments.Count} payments: the market did not run");
    }

    /// <summary>The first multiple of <paramref name="step"/> (since the Unix epoch) at or after <paramref name="t"/>.</summary>
    private static DateTimeOffset Next(DateTimeOffset t, TimeSpan step) =>
        DateTimeOffset.UnixEpoch.AddTicks(((t - DateTimeOffset.UnixEpoch).Ticks + step.Ticks - 1) / step.Ticks * step.Ticks);

    /// <summary>
    /// From the cycles' histories: the longest time from a kill (or the step falling due, if later) to the step it held up
    /// (a step of a cycle that fell due within 10 s before a kill, or after it), and the longest step delay with no kill
    /// around it. A step falls due at the closing time (closing the gate), at the previous step (clearing, locks), or at a
    /// batch's delivery end plus the meter-data grace (settlement), never before the cycle's previous step.
    /// </summary>
    private (TimeSpan Worst, TimeSpan Quiet) KillToMove(List<JsonNode> cycles)
    {
        var worst = TimeSpan.Zero;
        var quiet = TimeSpan.Zero;
        var afterKills = new List<TimeSpan>();
        string? worstStep = null, quietStep = null;
        foreach (var c in cycles)
        {
            var ends = c["escrowBatches"]!.AsArray().Select(b => b!["deliveryEnd"]!.GetValue<DateTimeOffset>() + Grace).Order().ToList();
            var closes = c["closesAt"]!.GetValue<DateTimeOffset>();
            var previous = DateTimeOffset.MinValue;
            foreach (var e in c["history"]!.AsArray())
            {
                var at = e!["at"]!.GetValue<DateTimeOffset>();
                var settling = e["cause"]!.GetValue<string>().Contains("settled", StringComparison.OrdinalIgnoreCase) || e["to"]!.GetValue<string>() == "Settled";
                var scheduled = e["from"]!.GetValue<string>() == "Open" ? closes
                    : settling ? ends.LastOrDefault(d => d <= at, DateTimeOffset.MinValue) : DateTimeOffset.MinValue;
                var due = scheduled > previous ? scheduled : previous;
                previous = at;
                if (at < due || due == DateTimeOffset.MinValue) continue;   // not a step that waited for anything (e.g. the cycle's creation)
                var kill = _kills.Where(k => k >= due.AddSeconds(-10) && k <= at).DefaultIfEmpty(DateTimeOffset.MinValue).Max();
                var step = $"{c["id"]}: {e["from"]} -> {e["to"]} ({e["cause"]}) due {due:HH:mm:ss.f}, at {at:HH:mm:ss.f}";
                if (kill == DateTimeOffset.MinValue) { if (at - due > quiet) (quiet, quietStep) = (at - due, step); }
                else
                {
                    var delay = at - (kill > due ? kill : due);
                    afterKills.Add(delay);
                    if (delay > worst) (worst, worstStep) = (delay, $"{step}, kill at {kill:HH:mm:ss.f}");
                }
            }
        }
        output.WriteLine($"longest after a kill: {worstStep}");
        var sorted = afterKills.Order().ToList();
        output.WriteLine($"steps held up by a kill: {sorted.Count}, median {(sorted.Count == 0 ? 0 : sorted[sorted.Count / 2].TotalSeconds):F1} s, over 15 s: {sorted.Count(d => d > TimeSpan.FromSeconds(15))}");
        output.WriteLine($"longest without a kill: {quietStep}");
        return (worst, quiet);
    }

    /// <summary>Posts a request (0.1 kWh in a one-minute window, verified against the four minutes before it), retried with its Idempotency-Key until acknowledged.</summary>
    /// <returns>The request id, or null when it was refused.</returns>
    private static async Task<string?> PostRequestAsync(MarketClient[] apis, Random random, SmallMarket m, DateTimeOffset closure, DateTimeOffset start)
    {
        var key = Guid.NewGuid().ToString("N");
        var body = new
        {
            transformerId = m.Transformer, deliveryStart = start, deliveryEnd = start.AddMinutes(1), energyKwh = 0.1m, direction = "ReduceConsumption",
            maxPriceEurPerKwh = 0.5m, gateClosure = closure, pricing = "PayAsBid", verification = new { mbmaMinutes = 4 },
        };
        // Signed once: a retry repeats the same body (a new consent would be a different request to the idempotency check).
        var signed = System.Text.Json.JsonSerializer.SerializeToNode(body, new System.Text.Json.JsonSerializerOptions(System.Text.Json.JsonSerializerDefaults.Web))!.AsObject();
        signed["consent"] = await apis[0].ConsentAsync(MarketFixture.DsoKey, signed.DeepClone().AsObject());
        using var response = await RetriedAsync(apis, random, api => api.SendAsync(HttpMethod.Post, "/v1/requests", m.Dso, signed, idempotencyKey: key));
        var text = await response.Content.ReadAsStringAsync();
        // Refused only when a retry came too late for its gate (the first attempt's instance died holding the key).
        Assert.True(response.IsSuccessStatusCode || response.StatusCode == HttpStatusCode.UnprocessableEntity, text);
        return response.IsSuccessStatusCode ? JsonNode.Parse(text)!["id"]!.GetValue<string>() : null;
    }

    /// <summary>
    /// Offers 0.1 kWh from the station, then sometimes modifies the price and sometimes withdraws, recording what is known
    /// to be stored: an acknowledged write, or a refusal (the gate closed: nothing changed). A write whose answer was lost
    /// (the instance died) leaves the offer uncertain; a withdrawal answered 404 on a retry is known to be done.
    /// </summary>
    private static async Task OfferAsync(MarketClient[] apis, Random random, Posted p, Caller cpo, string station)
    {
        var path = $"/v1/requests/{p.Id}/offers";
        object Body(decimal price) => new { stationIds = new[] { station }, energyKwh = 0.1m, priceEurPerKwh = price, divisible = false };
        var price = 0.20m + random.Next(20) * 0.01m;
        var key = Guid.NewGuid().ToString("N");
        using var created = await RetriedAsync(apis, random, api => api.SendAsync(HttpMethod.Post, path, cpo, Body(price), idempotencyKey: key));
        if (created.StatusCode == HttpStatusCode.Conflict && JsonNode.Parse(await created.Content.ReadAsStringAsync())!["rule"]?.GetValue<string>() == "one-offer-per-cpo")
        {
            // An earlier attempt stored the offer, but its answer was lost with its instance: the offer is there, unacknowledged.
            foreach (var own in (await GetAsync(apis, $"/v1/requests/{p.Id}", cpo))["offers"]!.AsArray()) p.Uncertain.Add(own!["id"]!.GetValue<string>());
            return;
        }
        if (!created.IsSuccessStatusCode) return;   // the gate closed first: not acknowledged, nothing stored
        var id = JsonNode.Parse(await created.Content.ReadAsStringAsync())!["id"]!.GetValue<string>();
        p.Acknowledged[id] = price;
        if (random.Next(3) == 0)
        {
            using var modified = await RetriedAsync(apis, random, api => api.SendAsync(HttpMethod.Put, $"{path}/{id}", cpo, Body(price + 0.05m)));
            if (modified.IsSuccessStatusCode) p.Acknowledged[id] = price + 0.05m;
            else if (!await GateClosedAsync(modified)) Unsure(p, id);
        }
        if (random.Next(5) == 0 && p.Acknowledged.ContainsKey(id))
        {
            using var withdrawn = await RetriedAsync(apis, random, api => api.SendAsync(HttpMethod.Delete, $"{path}/{id}", cpo, null));
            if (withdrawn.StatusCode is HttpStatusCode.NoContent or HttpStatusCode.NotFound) p.Acknowledged.Remove(id);
            else if (!await GateClosedAsync(withdrawn)) Unsure(p, id);
        }

        static void Unsure(Posted p, string id)
        {
            p.Acknowledged.Remove(id);
            p.Uncertain.Add(id);
        }
    }

    private static async Task<bool> GateClosedAsync(HttpResponseMessage response) =>
        response.StatusCode == HttpStatusCode.Conflict && JsonNode.Parse(await response.Content.ReadAsStringAsync())!["rule"]?.GetValue<string>() == "gate-closed";

    /// <summary>Posts each offered station's readings: 0.2 kWh a minute for the four minutes before the window (once it starts), 0.09 in it (once it ends).</summary>
    private static async Task DeliverAsync(MarketClient[] apis, Posted p)
    {
        var random = new Random(p.Id.GetHashCode(StringComparison.Ordinal));
        await CrashRecoveryTests.WaitUntilAsync(p.Start);
        foreach (var (cpo, station) in p.Offered)
            await ReadingsAsync(apis, random, cpo, station, Enumerable.Range(1, 4).Select(k => (p.Start.AddMinutes(-k), 0.2m)));
        await CrashRecoveryTests.WaitUntilAsync(p.Start.AddMinutes(1));
        foreach (var (cpo, station) in p.Offered)
            await ReadingsAsync(apis, random, cpo, station, [(p.Start, 0.09m)]);
    }

    private static async Task ReadingsAsync(MarketClient[] apis, Random random, Caller cpo, string station, IEnumerable<(DateTimeOffset Start, decimal Kwh)> readings)
    {
        var body = new { readings = readings.Select(r => new { start = r.Start, end = r.Start.AddMinutes(1), energyKwh = r.Kwh }).ToArray() };
        using var response = await RetriedAsync(apis, random, api => api.SendAsync(HttpMethod.Post, $"/v1/stations/{station}/readings", cpo, body));
        Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync());
    }

    /// <summary>
    /// Sends through a random instance; when it does not answer (killed), answers 5xx, or says an earlier attempt with the
    /// same Idempotency-Key is still in flight (that attempt's instance died: the key is taken over after a minute), sends
    /// again through either after a short pause, for up to three minutes. Returns the first other answer.
    /// </summary>
    private static async Task<HttpResponseMessage> RetriedAsync(MarketClient[] apis, Random random, Func<MarketClient, Task<HttpResponseMessage>> send)
    {
        var until = DateTimeOffset.UtcNow.AddMinutes(3);
        while (true)
        {
            int i;
            lock (random) i = random.Next(apis.Length);
            try
            {
                var response = await send(apis[i]);
                if (DateTimeOffset.UtcNow > until || !await RetryableAsync(response)) return response;
                response.Dispose();
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException && DateTimeOffset.UtcNow < until)
            {
            }
            await Task.Delay(500);
        }

        static async Task<bool> RetryableAsync(HttpResponseMessage response) => (int)response.StatusCode >= 500
            || response.StatusCode == HttpStatusCode.Conflict && JsonNode.Parse(await response.Content.ReadAsStringAsync())!["rule"]?.GetValue<string>() == "idempotency-key-in-flight";
    }

    private static async Task<JsonNode> GetAsync(MarketClient[] apis, string path, Caller caller)
    {
        using var response = await RetriedAsync(apis, new Random(), api => api.SendAsync(HttpMethod.Get, path, caller, null));
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"GET {path}: {(int)response.StatusCode} {text}");
        return JsonNode.Parse(text)!;
    }

    private async Task<(BigInteger A, BigInteger B)> BalancesAsync(Nethereum.Web3.IWeb3 rpc) =>
        (await MarketFixture.TokenBalanceAsync(rpc, _token, MarketFixture.CpoAKey.Address), await MarketFixture.TokenBalanceAsync(rpc, _token, MarketFixture.CpoBKey.Address));
}
