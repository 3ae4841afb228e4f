using System.Globalization;
using System.Numerics;
using FlexChain.Ethereum;
using FlexChain.Verification;
using FlexChain.Testing;

namespace FlexChain.EndToEnd.Tests;

/// <summary>
/// The app as a real process on the real clock, killed with SIGKILL at each step of a gate cycle and restarted on the
/// same storage and chain: every cycle still finishes, every award is locked and paid exactly once, no offer is lost.
/// </summary>
public sealed class CrashRecoveryTests : IAsyncLifetime
{

    private readonly AzuriteFixture _azurite = new();
    private readonly HardhatNodeFixture _chain = new();
    private readonly int _port = ServerProcess.FreePort();
    private Dictionary<string, string> _environment = [];
    private ServerProcess? _app;
    private readonly List<string> _crashes = [];
    private EthAddress _token;
    private HttpClient? _http;

    public async Task InitializeAsync()
    {
        await Task.WhenAll(_azurite.InitializeAsync(), _chain.InitializeAsync());
        var deployment = await MarketFixture.DeployAsync(_chain.RpcUri);
        _token = EthAddress.Parse(deployment.GetProperty("token").GetString()!);
        _environment = new()
        {
            ["Storage__ConnectionString"] = _azurite.ConnectionString,
            ["Chain__RpcUrl"] = _chain.RpcUri.ToString(),
            ["Chain__ChainId"] = HardhatNodeFixture.ChainId.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Chain__SettlementContract"] = deployment.GetProperty("settlement").GetString()!,
            ["Chain__OperatorKey"] = MarketFixture.OperatorKey,
            ["Chain__RegistrarKey"] = MarketFixture.RegistrarKey,
            // A killed instance's lease on the operator key expires soon (the shortest blob lease), so the restarted one can take over.
            ["Chain__SignerLease"] = "00:00:15",
            ["GateCycle__MeterDataGrace"] = "00:00:10",
            ["GateCycle__Cadence"] = "00:00:10",
            // The request below closes its gate 20 s before delivery (real time); the 5-minute default would refuse it.
            ["GateCycle__ActivationLeadTime"] = "00:00:10",
            ["LocalTriggers__Schedules__GateTick"] = "* * * * * *",
            // The restarted process is the same worker: it takes the cycles' orchestrations back at once.
            ["DurableTask__WorkerId"] = "crash-test",
            ["GateCycle__StepRetryMax"] = "00:00:02",
            ["Market__ReadCacheDuration"] = "00:00:00",
            ["ASPNETCORE_ENVIRONMENT"] = "Production",
        };
        await StartAppAsync();
    }

    public async Task DisposeAsync()
    {
        _http?.Dispose();
        if (_app is not null) await _app.DisposeAsync();
        await _chain.DisposeAsync();
        await _azurite.DisposeAsync();
    }

    private async Task StartAppAsync() =>
        _app = await ServerProcess.StartAsync("dotnet",
            [RepoPaths.AppDll, "--urls", $"http://127.0.0.1:{_port.ToString(CultureInfo.InvariantCulture)}"],
            Path.GetDirectoryName(RepoPaths.AppDll)!, [_port], _environment, TimeSpan.FromSeconds(90));

    /// <summary>
    /// Waits until the app logs <paramref name="line"/>, then SIGKILLs it and starts it again. If the request is already
    /// past that step (the step finished before we looked), there is nothing to interrupt and the app is left running.
    /// </summary>
    private async Task KillAtAsync(string line, Func<Task<bool>> alreadyPast)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(150);
        // The log is watched every 20 ms; the API is asked at most twice a second (a client within the rate limits).
        var askAt = DateTime.UtcNow;
        while (!_app!.Output.Contains(line, StringComparison.Ordinal))
        {
            if (DateTime.UtcNow >= askAt)
            {
                if (await alreadyPast()) return;
                askAt = DateTime.UtcNow + TimeSpan.FromMilliseconds(500);
            }
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"the app never logged '{line}': {_app.Output}");
            await Task.Delay(20);
        }
        await _app.DisposeAsync(); // Process.Kill: SIGKILL, no shutdown code runs
        _crashes.Add(line);
        await StartAppAsync();
    }

    [Fact]
    public async Task GateCycle_KilledAtEveryStep_FinishesWithEveryPaymentExactlyOnce()
    {
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{_port}"), Timeout = TimeSpan.FromSeconds(30) };
        var api = new MarketClient(http);
        var (dso, cpoA, cpoB, transformer, stationA, stationB) =
            await api.SmallMarketAsync("Crash", MarketFixture.DsoKey, MarketFixture.CpoAKey, MarketFixture.CpoBKey);

        var (request, start) = await RequestWithTwoOffersAsync(api, dso, cpoA, cpoB, transformer, stationA, stationB);
        var rpc = new Nethereum.Web3.Web3(_chain.RpcUri.AbsoluteUri);
        var token = _token;
        var before = await BalancesAsync(rpc, token);

        async Task<string> State() => (await api.GetAsync($"/v1/requests/{request}", dso))["state"]!.GetValue<string>();
        async Task<bool> Past(params string[] states) { var state = await State(); return states.Contains(state); }

        await KillAtAsync($"Request {request}: Open -> Cleared", () => Past("Awarded", "Settling", "Settled"));
        await KillAtAsync(": escrow lock of 1 batch(es)", () => Past("Awarded", "Settling", "Settled"));
        await api.WaitForStateAsync(request, dso, "Awarded");

        await DeliverAsync(api, cpoA, stationA, start);

        await KillAtAsync($"Request {request}: Awarded -> Settling", () => Past("Settled"));
        await KillAtAsync(": escrow settle of 1 batch(es)", () => Past("Settled"));
        var settled = await api.WaitForStateAsync(request, dso, "Settled");

        // No offer lost: both were cleared (A won, B not needed).
        Assert.Equal(2, settled["outcomes"]!.AsArray().Count);
        // Exactly once on chain, however often the app died.
        await AssertPaidOnceAsync(rpc, before);
        Assert.True(_crashes.Count >= 2, $"the app was killed only at: {string.Join(", ", _crashes)}");

        // No message lost: the announcement of every state the request went through after clearing left the outbox
        // (or was superseded by a later one), and the last one was consumed by RequestEvents.
        var tables = new Azure.Data.Tables.TableServiceClient(_azurite.ConnectionString);
        var settledId = $"{request}:Settled";
        // The request shows Settled as soon as it is saved; its announcement leaves the outbox just after (before the cycle's checkpoint).
        await Poll.UntilAsync(() => tables.GetTableClient("requests").GetEntityIfExistsAsync<Azure.Data.Tables.TableEntity>(request, FlexChain.Messaging.Outbox.OutboxBatch.RowKeyFor(settledId)),
            outbox => outbox.HasValue && outbox.Value!.GetBoolean("Dispatched") == true, TimeSpan.FromSeconds(30), $"the announcement {settledId} leaving the outbox");
        var consumer = new FlexChain.Messaging.Outbox.IdempotentConsumer(
            tables.GetTableClient(FlexChain.Functions.Hosting.LocalTriggerDriver.ProcessedTable), "RequestEvents");
        await Poll.UntilAsync(() => consumer.HasProcessedAsync(settledId), done => done, TimeSpan.FromSeconds(30), $"RequestEvents consuming {settledId}");
    }

    /// <summary>Stops the app and starts it again, set to exit by itself right after <paramref name="point"/> (null: never).</summary>
    private async Task RestartExitingAfterAsync(string? point)
    {
        await _app!.DisposeAsync();
        if (point is null) _environment.Remove("FaultInjection__ExitAfter");
        else _environment["FaultInjection__ExitAfter"] = point;
        await StartAppAsync();
    }

    /// <summary>Waits until the app exits at its crash point (asserting that it did, there), then starts it set for <paramref name="next"/>.</summary>
    private async Task CrashedAtAsync(string point, string? next)
    {
        var app = _app!;
        await Poll.UntilAsync(() => Task.FromResult(app.HasExited), exited => exited, TimeSpan.FromSeconds(150), $"the app exiting after {point}");
        // The exit can be seen before the last of its output has been read from the pipe: wait for it.
        var output = await Poll.UntilAsync(() => Task.FromResult(app.Output), o => o.Contains("FaultInjection: exit after", StringComparison.Ordinal),
            TimeSpan.FromSeconds(10), $"the exit message after {point}");
        Assert.Contains($"FaultInjection: exit after {point}", output, StringComparison.Ordinal);
        _crashes.Add(point);
        await RestartExitingAfterAsync(next);
    }

    /// <summary>
    /// The process exits at once right after each named durable side effect of a gate cycle (FaultInjection:ExitAfter),
    /// one after the other, and is started again each time: one lock, one settlement and one payment per award.
    /// </summary>
    [Fact]
    public async Task GateCycle_ExitsAtEveryNamedCrashPoint_OneLockSettlementAndPaymentPerAward()
    {
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{_port}"), Timeout = TimeSpan.FromSeconds(30) };
        var api = new MarketClient(http);
        var (dso, cpoA, cpoB, transformer, stationA, stationB) =
            await api.SmallMarketAsync("Crash points", MarketFixture.DsoKey, MarketFixture.CpoAKey, MarketFixture.CpoBKey);
        await RestartExitingAfterAsync(Functions.Gates.FaultInjection.ClearingResultStored);

        var (request, start) = await RequestWithTwoOffersAsync(api, dso, cpoA, cpoB, transformer, stationA, stationB);
        var rpc = new Nethereum.Web3.Web3(_chain.RpcUri.AbsoluteUri);
        var before = await BalancesAsync(rpc, _token);

        await CrashedAtAsync(Functions.Gates.FaultInjection.ClearingResultStored, Functions.Gates.FaultInjection.LockMined);
        await CrashedAtAsync(Functions.Gates.FaultInjection.LockMined, Functions.Gates.FaultInjection.VerificationStored);
        await api.WaitForStateAsync(request, dso, "Awarded");

        await DeliverAsync(api, cpoA, stationA, start);

        await CrashedAtAsync(Functions.Gates.FaultInjection.VerificationStored, Functions.Gates.FaultInjection.SettlementMined);
        await CrashedAtAsync(Functions.Gates.FaultInjection.SettlementMined, Functions.Gates.FaultInjection.AnnouncementSent);
        // Settled is announced after the restart: the process exits with the announcement in the queue and its outbox row
        // still pending; the next start sends it again (same message id) and the consumer handles it once.
        await CrashedAtAsync(Functions.Gates.FaultInjection.AnnouncementSent, null);
        var settled = await api.WaitForStateAsync(request, dso, "Settled");

        Assert.Equal(2, settled["outcomes"]!.AsArray().Count);
        await AssertPaidOnceAsync(rpc, before);
        Assert.Equal(5, _crashes.Count);
    }

    /// <summary>
    /// The process exits right after an availability contract's escrow locks are mined, before it records them: started
    /// again, it records them without locking twice, and after the period (the clock moved past it) settles once. Two
    /// holders in escrow batches of one (<c>GateCycle:MaxAwardsPerBatch</c> 1): two escrow cycles.
    /// </summary>
    [Fact]
    public async Task Availability_ExitsAfterTheLockIsMined_OneLockSettlementAndPaymentPerHolder()
    {
        var (api, dso, id, periodEnd, before) = await ReservedAvailabilityAsync(Functions.Gates.FaultInjection.AvailabilityLockMined);

        _environment["FaultInjection__ClockOffset"] = ClockOffsetPast(periodEnd);
        await CrashedAtAsync(Functions.Gates.FaultInjection.AvailabilityLockMined, null);

        await AssertAvailabilityPaidOnceAsync(api, dso, id, before);
    }

    /// <summary>
    /// The process exits right after an availability contract's escrow settlements are mined, before it records them:
    /// started again, it records them without settling twice.
    /// </summary>
    [Fact]
    public async Task Availability_ExitsAfterTheSettlementIsMined_OneLockSettlementAndPaymentPerHolder()
    {
        var (api, dso, id, periodEnd, before) = await ReservedAvailabilityAsync(null);
        await Poll.UntilAsync(() => api.GetAsync($"/v1/availability/{id}", dso), r => r["lockTransactionHashes"] is not null,
            TimeSpan.FromSeconds(120), $"availability {id} locked");

        _environment["FaultInjection__ClockOffset"] = ClockOffsetPast(periodEnd);
        await RestartExitingAfterAsync(Functions.Gates.FaultInjection.AvailabilitySettlementMined);
        await CrashedAtAsync(Functions.Gates.FaultInjection.AvailabilitySettlementMined, null);

        await AssertAvailabilityPaidOnceAsync(api, dso, id, before);
    }

    /// <summary>How far the app's clock must run ahead for <paramref name="periodEnd"/> to have passed (a minute to spare).</summary>
    private static string ClockOffsetPast(DateTimeOffset periodEnd) =>
        (periodEnd - DateTimeOffset.UtcNow + TimeSpan.FromMinutes(1)).ToString("c", CultureInfo.InvariantCulture);

    /// <summary>
    /// The app restarted in escrow batches of one holder, set to exit after <paramref name="point"/>; an availability
    /// request for 10 kW over the first whole hour at least three minutes away, its gate a minute away, with A offering 6 kW at
    /// 2 EUR/kW and B 6 kW at 3 EUR/kW: A holds 6 kW (12 EUR), B 4 kW (12 EUR).
    /// </summary>
    private async Task<(MarketClient Api, Caller Dso, string Id, DateTimeOffset PeriodEnd, (BigInteger Dso, BigInteger A, BigInteger B) Before)>
        ReservedAvailabilityAsync(string? point)
    {
        _http ??= new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{_port}"), Timeout = TimeSpan.FromSeconds(30) };
        var api = new MarketClient(_http);
        var (dso, cpoA, cpoB, transformer, stationA, stationB) =
            await api.SmallMarketAsync("Availability crash", MarketFixture.DsoKey, MarketFixture.CpoAKey, MarketFixture.CpoBKey);
        _environment["GateCycle__MaxAwardsPerBatch"] = "1";
        await RestartExitingAfterAsync(point);
        var before = await BalancesAsync(new Nethereum.Web3.Web3(_chain.RpcUri.AbsoluteUri), _token);

        var now = DateTimeOffset.UtcNow;
        var soon = now.AddMinutes(3);
        var periodStart = new DateTimeOffset(soon.Year, soon.Month, soon.Day, soon.Hour, 0, 0, TimeSpan.Zero).AddHours(1);
        var id = (await api.PostAsync("/v1/availability", dso, new
        {
            transformerId = transformer, periodStart, periodEnd = periodStart.AddHours(1), capacityKw = 10m, maxAvailabilityPriceEurPerKw = 5m,
            gateClosure = now.AddSeconds(60), // the offers are in by then, even on a loaded machine
        }))["id"]!.GetValue<string>();
        await api.SendOkAsync(HttpMethod.Put, $"/v1/availability/{id}/offer", cpoA,
            new { stationIds = new[] { stationA }, capacityKw = 6m, availabilityPriceEurPerKw = 2m, activationPriceEurPerKwh = 0.3m });
        await api.SendOkAsync(HttpMethod.Put, $"/v1/availability/{id}/offer", cpoB,
            new { stationIds = new[] { stationB }, capacityKw = 6m, availabilityPriceEurPerKw = 3m, activationPriceEurPerKwh = 0.2m });
        return (api, dso, id, periodStart.AddHours(1), before);
    }

    /// <summary>
    /// Settled: one lock and one settlement per escrow batch (two), one payment per holder, each its availability payment
    /// (not called), and the DSO paid exactly the 24 EUR.
    /// </summary>
    private async Task AssertAvailabilityPaidOnceAsync(MarketClient api, Caller dso, string id, (BigInteger Dso, BigInteger A, BigInteger B) before)
    {
        var settled = await Poll.UntilAsync(() => api.GetAsync($"/v1/availability/{id}", dso), r => r["state"]!.GetValue<string>() == "Settled",
            TimeSpan.FromSeconds(150), $"availability {id} settled");
        Assert.Equal(2, settled["lockTransactionHashes"]!.AsArray().Count);
        Assert.Equal(2, settled["settleTransactionHashes"]!.AsArray().Count);
        var holders = settled["holders"]!.AsArray();
        var cycles = holders.Select(h => EscrowIds.CycleOf(Hash32.Parse(h!["record"]!["awardId"]!.GetValue<string>()))).ToList();
        Assert.Equal(2, cycles.Distinct().Count()); // each holder in its own escrow batch

        var rpc = new Nethereum.Web3.Web3(_chain.RpcUri.AbsoluteUri);
        var escrow = EthAddress.Parse(_environment["Chain__SettlementContract"]);
        Assert.Equal(2, (await MarketFixture.LogsAsync<CycleLockedEvent>(rpc, escrow, 0)).Count);
        Assert.Equal(2, (await MarketFixture.LogsAsync<CycleSettledEvent>(rpc, escrow, 0)).Count);
        var payments = await MarketFixture.LogsAsync<AwardSettledEvent>(rpc, escrow, 0);
        Assert.Equal(2, payments.Count);
        foreach (var holder in holders)
            Assert.Single(await MarketFixture.LogsAsync<AwardSettledEvent>(rpc, escrow, 0, Hash32.Parse(holder!["record"]!["awardId"]!.GetValue<string>())));
        var after = await BalancesAsync(rpc, _token);
        Assert.Equal((before.Dso - 24_000_000, before.A + 12_000_000, before.B + 12_000_000), after);
        Assert.True(_crashes.Count >= 1, "the app never exited at its crash point");
    }

    /// <summary>
    /// Real time: a request for 0.1 kWh in a one-minute window starting on a whole minute at least 45 s away (its gate
    /// closes 20 s before it), verified against the four minutes before it; A offers at 0.30, B at 0.40 EUR/kWh.
    /// </summary>
    private static async Task<(string Request, DateTimeOffset Start)> RequestWithTwoOffersAsync(
        MarketClient api, Caller dso, Caller cpoA, Caller cpoB, string transformer, string stationA, string stationB)
    {
        var now = DateTimeOffset.UtcNow;
        var start = new DateTimeOffset(now.Year, now.Month, now.Day, now.Hour, now.Minute, 0, TimeSpan.Zero).AddMinutes(now.Second < 15 ? 1 : 2);
        var request = (await api.PostAsync("/v1/requests", dso, new
        {
            transformerId = transformer, deliveryStart = start, deliveryEnd = start.AddMinutes(1), energyKwh = 0.1m,
            direction = "ReduceConsumption", maxPriceEurPerKwh = 0.5m, gateClosure = start.AddSeconds(-20), pricing = "PayAsBid",
            verification = new { mbmaMinutes = 4 },   // the four minutes of baseline readings DeliverAsync posts
        }))["id"]!.GetValue<string>();
        await api.PostAsync($"/v1/requests/{request}/offers", cpoA, new { stationIds = new[] { stationA }, energyKwh = 0.1m, priceEurPerKwh = 0.30m, divisible = false });
        await api.PostAsync($"/v1/requests/{request}/offers", cpoB, new { stationIds = new[] { stationB }, energyKwh = 0.1m, priceEurPerKwh = 0.40m, divisible = false });
        return (request, start);
    }

    /// <summary>Baseline 0.2 kWh a minute for the four minutes before the window, then 0.09 kWh in it: 0.11 kWh delivered (posted as real time passes).</summary>
    private static async Task DeliverAsync(MarketClient api, Caller cpo, string station, DateTimeOffset start)
    {
        await WaitUntilAsync(start);
        for (var m = 4; m >= 1; m--)
            await api.PostAsync($"/v1/stations/{station}/readings", cpo, new { readings = new[] { new { start = start.AddMinutes(-m), end = start.AddMinutes(-m + 1), energyKwh = 0.2m } } });
        await WaitUntilAsync(start.AddMinutes(1));
        await api.PostAsync($"/v1/stations/{station}/readings", cpo, new { readings = new[] { new { start, end = start.AddMinutes(1), energyKwh = 0.09m } } });
    }

    /// <summary>One lock, one settlement and one payment on chain; A was paid 0.1 kWh x 0.30 EUR/kWh (6-decimal token) by the DSO, B nothing.</summary>
    private async Task AssertPaidOnceAsync(Nethereum.Web3.IWeb3 rpc, (BigInteger Dso, BigInteger A, BigInteger B) before)
    {
        var escrow = EthAddress.Parse(_environment["Chain__SettlementContract"]);
        Assert.Single(await MarketFixture.LogsAsync<CycleLockedEvent>(rpc, escrow, 0));
        Assert.Single(await MarketFixture.LogsAsync<CycleSettledEvent>(rpc, escrow, 0));
        Assert.Single(await MarketFixture.LogsAsync<AwardSettledEvent>(rpc, escrow, 0));
        var after = await BalancesAsync(rpc, _token);
        Assert.Equal(before.Dso - 30_000, after.Dso);
        Assert.Equal(before.A + 30_000, after.A);
        Assert.Equal(before.B, after.B);
    }

    /// <summary>Waits until real time passes <paramref name="t"/> (readings cannot come from the future).</summary>
    internal static async Task WaitUntilAsync(DateTimeOffset t)
    {
        var wait = t - DateTimeOffset.UtcNow + TimeSpan.FromMilliseconds(200);
        if (wait > TimeSpan.Zero) await Task.Delay(wait); // real time must pass: readings cannot come from the future
    }

    private static async Task<(BigInteger Dso, BigInteger A, BigInteger B)> BalancesAsync(Nethereum.Web3.IWeb3 rpc, EthAddress token) =>
        (await MarketFixture.TokenBalanceAsync(rpc, token, MarketFixture.DsoKey.Address),
         await MarketFixture.TokenBalanceAsync(rpc, token, MarketFixture.CpoAKey.Address),
         await MarketFixture.TokenBalanceAsync(rpc, token, MarketFixture.CpoBKey.Address));
}
