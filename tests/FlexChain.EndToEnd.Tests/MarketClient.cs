using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Numerics;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;
using FlexChain.Ethereum;
using FlexChain.Verification;

namespace FlexChain.EndToEnd.Tests;

/// <summary>A participant as the tests act: its id and API key.</summary>
public sealed record Caller(string Id, string ApiKey);

/// <summary>A DSO with one transformer and two CPOs with one prequalified station each behind it.</summary>
public sealed record SmallMarket(Caller Dso, Caller CpoA, Caller CpoB, string Transformer, string StationA, string StationB);

/// <summary>
/// HTTP helpers that act as DSOs and CPOs would, failing with the response body when a call fails. A DSO registered
/// here signs each request it posts without a <c>consent</c> as its wallet app would (EIP-712, for the request's
/// most costly outcome), so tests that are not about consent post requests as before.
/// </summary>
public sealed class MarketClient(HttpClient http)
{
    /// <summary>The wallet of each participant registered through <see cref="RegisterAsync"/>, by participant id.</summary>
    private static readonly ConcurrentDictionary<string, Wallet> Wallets = new();

    private JsonNode? _chain;

    /// <summary>
    /// Registers a participant whose wallet is <paramref name="wallet"/>'s address and, unless told otherwise, proves the
    /// wallet with an EIP-191 signature of the server's challenge; a DSO also publishes prequalification requirements
    /// (3.7 kW minimum, real-time monitoring).
    /// </summary>
    public async Task<Caller> RegisterAsync(string role, string name, Wallet wallet, bool proveWallet = true, bool publishRequirements = true)
    {
        var body = await PostAsync("/v1/participants", null, new { role, legalName = name, contact = "ops@example.org", walletAddress = wallet.Address.ToString() });
        var caller = new Caller(body["participant"]!["id"]!.GetValue<string>(), body["apiKey"]!.GetValue<string>());
        Wallets[caller.Id] = wallet;
        if (proveWallet) await ProveWalletAsync(caller, wallet);
        if (role == "Dso" && publishRequirements)
            await SendOkAsync(HttpMethod.Put, "/v1/prequalification/requirements", caller, new { minimumPowerKw = 3.7m, monitoringRequired = true, validityDays = 30 });
        return caller;
    }

    /// <summary>Registers a DSO and two CPOs (wallets proven), a transformer, and one station per CPO with meter ids <paramref name="meterA"/>, <paramref name="meterB"/>.</summary>
    public async Task<SmallMarket> SmallMarketAsync(string name, Wallet dsoKey, Wallet cpoAKey, Wallet cpoBKey,
        string meterA = "IT001E00000001", string meterB = "IT001E00000002")
    {
        var dso = await RegisterAsync("Dso", name + " DSO", dsoKey);
        var cpoA = await RegisterAsync("Cpo", name + " CPO A", cpoAKey);
        var cpoB = await RegisterAsync("Cpo", name + " CPO B", cpoBKey);
        var transformer = await TransformerAsync(dso);
        return new SmallMarket(dso, cpoA, cpoB, transformer, await StationAsync(cpoA, transformer, meterA), await StationAsync(cpoB, transformer, meterB));
    }

    public async Task<JsonNode> ProveWalletAsync(Caller caller, Wallet wallet)
    {
        var message = (await PostAsync("/v1/participants/me/wallet-challenge", caller, new { }))["message"]!.GetValue<string>();
        var signature = wallet.Sign(message);
        return await PostAsync("/v1/participants/me/wallet-proof", caller, new { signature });
    }

    public async Task<string> TransformerAsync(Caller dso) =>
        (await PostAsync("/v1/transformers", dso, new { name = "Terni Nord MV/LV 3", ratedPowerKw = 630, location = new { latitude = 42.5636m, longitude = 12.6427m } }))["id"]!.GetValue<string>();

    /// <summary>
    /// A station's body. Its metering point is <paramref name="meter"/> made unique (<see cref="UniqueMeter"/>): a metering
    /// point belongs to one active station, and the tests of a collection share one store.
    /// </summary>
    public static object Station(string transformer, string meter = "IT001E00000001", bool monitoring = true, decimal acKw = 22m, int recoveryMinutes = 0) => new
    {
        transformerId = transformer, model = "Alfen Eve Double Pro", country = "IT", city = "Terni", address = "Via Roma 1", maxAcKw = acKw, maxDcKw = 0m,
        connectorTypes = new[] { "Type2" }, meteringPointId = UniqueMeter(meter), realTimeMonitoring = monitoring, status = "Operational", recoveryMinutes,
    };

    /// <summary>A metering point id no other test uses: <paramref name="label"/> and a random suffix.</summary>
    public static string UniqueMeter(string label) => $"{label}-{Guid.NewGuid():N}";

    /// <summary>Registers a station and, unless told otherwise, applies for prequalification with its DSO.</summary>
    public async Task<string> StationAsync(Caller cpo, string transformer, string meter = "IT001E00000001", bool monitoring = true, bool prequalify = true, int recoveryMinutes = 0,
        decimal acKw = 22m)
    {
        var id = (await PostAsync("/v1/stations", cpo, Station(transformer, meter, monitoring, acKw, recoveryMinutes)))["id"]!.GetValue<string>();
        if (prequalify) await PostAsync($"/v1/stations/{id}/prequalification", cpo, new { });
        return id;
    }

    /// <summary>Asserts that <paramref name="response"/> is an RFC 7807 problem with <paramref name="status"/> naming <paramref name="field"/> and <paramref name="rule"/>.</summary>
    public static async Task<JsonNode> ProblemAsync(HttpResponseMessage response, HttpStatusCode status, string field, string rule)
    {
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(status == response.StatusCode, $"expected {(int)status}, got {(int)response.StatusCode}: {text}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var problem = JsonNode.Parse(text)!;
        Assert.Equal((field, rule), (problem["field"]?.GetValue<string>(), problem["rule"]?.GetValue<string>()));
        return problem;
    }

    public async Task<JsonNode> SendOkAsync(HttpMethod method, string path, Caller? caller, object? body)
    {
        using var response = await SendAsync(method, path, caller, body);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, $"{method} {path}: {(int)response.StatusCode} {text}");
        return text.Length == 0 ? new JsonObject() : JsonNode.Parse(text)!;
    }

    public async Task<string> RequestAsync(Caller dso, string transformer, DateTimeOffset gateClosure, DateTimeOffset windowStart, decimal kwh = 10m) =>
        (await PostAsync("/v1/requests", dso, new
        {
            transformerId = transformer, deliveryStart = windowStart, deliveryEnd = windowStart.AddHours(1), energyKwh = kwh,
            direction = "ReduceConsumption", maxPriceEurPerKwh = 0.5m, gateClosure, pricing = "PayAsBid",
        }))["id"]!.GetValue<string>();

    /// <summary>Uploads <paramref name="count"/> back-to-back quarter-hour readings of <paramref name="kwhPerQuarter"/> from <paramref name="from"/>.</summary>
    public Task PostQuarterReadingsAsync(Caller cpo, string station, DateTimeOffset from, decimal kwhPerQuarter, int count = 4) =>
        PostAsync($"/v1/stations/{station}/readings", cpo, new
        {
            readings = Enumerable.Range(0, count).Select(i => new { start = from.AddMinutes(15 * i), end = from.AddMinutes(15 * (i + 1)), energyKwh = kwhPerQuarter }),
        });

    /// <summary>Polls the request until it reaches <paramref name="state"/>; fails at once if it ends unfilled instead.</summary>
    public async Task<JsonNode> WaitForStateAsync(string requestId, Caller caller, string state)
    {
        var r = await WaitForRequestAsync(requestId, caller, s => s == state || s == "Unfilled", $"reaching {state}");
        Assert.True(r["state"]!.GetValue<string>() == state, $"request did not reach {state}: {r}");
        return r;
    }

    /// <summary>
    /// Polls the request (90 s) until its state satisfies <paramref name="done"/>; a timeout names what its gate cycle and the
    /// cycle's orchestration were doing.
    /// </summary>
    public async Task<JsonNode> WaitForRequestAsync(string requestId, Caller caller, Func<string, bool> done, string what)
    {
        try
        {
            return await FlexChain.Testing.Poll.UntilAsync(() => GetAsync($"/v1/requests/{requestId}", caller),
                r => done(r["state"]!.GetValue<string>()), TimeSpan.FromSeconds(90), $"request {requestId} {what}");
        }
        catch (TimeoutException e)
        {
            var cycle = (await GetAsync($"/v1/requests/{requestId}", caller))["gateCycleId"]?.GetValue<string>();
            var seen = cycle is null ? "no gate cycle" : $"gate cycle {cycle}: {(await GetAsync($"/v1/gate-cycles/{cycle}", caller)).ToJsonString()}";
            throw new TimeoutException($"{seen}\n{e.Message}", e);
        }
    }

    public async Task<JsonNode> GetAsync(string path, Caller caller)
    {
        using var response = await SendAsync(HttpMethod.Get, path, caller, null);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, $"GET {path}: {(int)response.StatusCode} {text}");
        return JsonNode.Parse(text)!;
    }

    public async Task<JsonNode> PostAsync(string path, Caller? caller, object body)
    {
        using var response = await SendAsync(HttpMethod.Post, path, caller, body);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, $"POST {path}: {(int)response.StatusCode} {text}");
        return JsonNode.Parse(text)!;
    }

    /// <summary>
    /// A consent for the request <paramref name="body"/> signed by <paramref name="wallet"/>: for energyKwh (or its profile's
    /// sum) x maxPriceEurPerKwh in token units, until a day after delivery starts, under a random nonce; <paramref name="tamper"/>
    /// may change the signed values (the request hash, the amount posted and signed) and <paramref name="deadline"/> the
    /// deadline, for tests of refused consents.
    /// </summary>
    public async Task<JsonObject> ConsentAsync(Wallet wallet, JsonObject body, Func<(Hash32 RequestHash, BigInteger MaxAmount), (Hash32, BigInteger)>? tamper = null,
        DateTimeOffset? deadline = null)
    {
        _chain ??= (await GetAnonymousAsync("/v1/health"))["chain"]!;
        var (chainId, escrow, decimals) = (_chain["chainId"]!.GetValue<long>(), EthAddress.Parse(_chain["settlementContract"]!.GetValue<string>()), _chain["tokenDecimals"]!.GetValue<int>());
        decimal Number(string name) => body[name]!.GetValue<decimal>();
        var start = Time(body["deliveryStart"]);
        Hash32 requestHash;
        var termsWh = 0L;
        try
        {
            var terms = TermsOf(body);
            (requestHash, termsWh) = (terms.Hash(), terms.EnergyWh);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // Terms the ABI cannot encode (a negative number, which the API refuses before it checks the consent): any hash will do.
            requestHash = Hash32.Zero;
        }
        var energyKwh = body["energyKwh"] is null ? termsWh / 1000m : Number("energyKwh"); // a profile alone: its sum
        var maxAmount = new BigInteger(decimal.Round(energyKwh * Number("maxPriceEurPerKwh") * (decimal)Math.Pow(10, decimals), 0, MidpointRounding.ToZero));
        var (signedHash, signedAmount) = tamper?.Invoke((requestHash, maxAmount)) ?? (requestHash, maxAmount);
        var until = deadline ?? start.AddDays(1);
        var consent = DsoConsent.Sign(wallet.Key, chainId, escrow, signedHash, signedAmount, until.ToUnixTimeSeconds(),
            new BigInteger(RandomNumberGenerator.GetBytes(16), isUnsigned: true));
        return new JsonObject
        {
            ["maxAmount"] = signedAmount.ToString(CultureInfo.InvariantCulture), ["deadline"] = until.ToString("O", CultureInfo.InvariantCulture),
            ["nonce"] = consent.Nonce.ToString(CultureInfo.InvariantCulture), ["signature"] = consent.Signature,
        };
    }

    /// <summary>A consent for the availability request <paramref name="body"/>: for capacityKw x maxAvailabilityPriceEurPerKw, until a day after the period starts.</summary>
    public async Task<JsonObject> AvailabilityConsentAsync(Wallet wallet, JsonObject body)
    {
        _chain ??= (await GetAnonymousAsync("/v1/health"))["chain"]!;
        var (chainId, escrow, decimals) = (_chain["chainId"]!.GetValue<long>(), EthAddress.Parse(_chain["settlementContract"]!.GetValue<string>()), _chain["tokenDecimals"]!.GetValue<int>());
        decimal Number(string name) => body[name]!.GetValue<decimal>();
        var terms = new AvailabilityTermsRecord(body["transformerId"]!.GetValue<string>(), Time(body["periodStart"]).ToUnixTimeSeconds(),
            Time(body["periodEnd"]).ToUnixTimeSeconds(), (long)(Number("capacityKw") * 1000m), body["direction"]?.GetValue<string>() ?? "ReduceConsumption",
            (long)(Number("maxAvailabilityPriceEurPerKw") * 1_000_000m), Time(body["gateClosure"]).ToUnixTimeSeconds(), body["arming"]?.GetValue<bool>() ?? false);
        var maxAmount = new BigInteger(decimal.Round(Number("capacityKw") * Number("maxAvailabilityPriceEurPerKw") * (decimal)Math.Pow(10, decimals), 0, MidpointRounding.ToZero));
        var until = Time(body["periodStart"]).AddDays(1);
        var consent = DsoConsent.Sign(wallet.Key, chainId, escrow, terms.Hash(), maxAmount, until.ToUnixTimeSeconds(),
            new BigInteger(RandomNumberGenerator.GetBytes(16), isUnsigned: true));
        return new JsonObject
        {
            ["maxAmount"] = maxAmount.ToString(CultureInfo.InvariantCulture), ["deadline"] = until.ToString("O", CultureInfo.InvariantCulture),
            ["nonce"] = consent.Nonce.ToString(CultureInfo.InvariantCulture), ["signature"] = consent.Signature,
        };
    }

    /// <summary>
    /// The profile of a request body as the records hash it: with <c>profileKw</c> the window over its count and each kW x
    /// interval in Wh; a flat request one interval, its whole window, with its energy.
    /// </summary>
    public static ProfileRecord ProfileOf(JsonObject body)
    {
        var (start, end) = (Time(body["deliveryStart"]).ToUnixTimeSeconds(), Time(body["deliveryEnd"]).ToUnixTimeSeconds());
        if (body["profileKw"] is not JsonArray kw) return ProfileRecord.Flat(start, end, Scaled(body["energyKwh"], 1000m));
        var interval = (end - start) / kw.Count;
        return new(interval, kw.Select(k => (long)(k!.GetValue<decimal>() * interval / 3.6m)).ToList());
    }

    private static DateTimeOffset Time(JsonNode? n) => DateTimeOffset.Parse(n!.GetValue<string>(), CultureInfo.InvariantCulture);

    private static long Scaled(JsonNode? n, decimal by) => (long)(n!.GetValue<decimal>() * by);

    /// <summary>The terms a consent binds, read from a request body as the API reads it (a term left out takes its default).</summary>
    public static RequestTerms TermsOf(JsonObject body)
    {
        var d = new RequestTerms("", 0, 0, 0, 0, 0);
        var v = body["verification"] as JsonObject;
        string Text(JsonNode? n, string fallback) => n?.GetValue<string>() ?? fallback;
        var profile = ProfileOf(body);
        return new RequestTerms(body["transformerId"]!.GetValue<string>(), Time(body["deliveryStart"]).ToUnixTimeSeconds(), Time(body["deliveryEnd"]).ToUnixTimeSeconds(),
            body["energyKwh"] is null ? profile.EnergyWh.Sum() : Scaled(body["energyKwh"], 1000m), Scaled(body["maxPriceEurPerKwh"], 1_000_000m), Time(body["gateClosure"]).ToUnixTimeSeconds(),
            Text(body["direction"], d.Direction), Text(body["pricing"], d.Pricing), body["minimumOfferKwh"] is { } min ? Scaled(min, 1000m) : 0,
            Text(body["selection"], d.Selection), body["decisionDeadline"] is { } deadline ? Time(deadline).ToUnixTimeSeconds() : 0,
            Text(v?["baseline"], d.Baseline), Text(v?["payout"], d.Payout), v?["successThreshold"] is { } threshold ? Scaled(threshold, 1_000_000m) : d.SuccessThresholdPpm,
            v?["tolerance"] is { } tolerance ? Scaled(tolerance, 1_000_000m) : d.TolerancePpm, v?["mbmaMinutes"]?.GetValue<int>() ?? d.MbmaMinutes,
            v?["x"]?.GetValue<int>() ?? d.X, v?["y"]?.GetValue<int>() ?? d.Y, body["profileKw"] is null ? null : profile.Hash(),
            body["availabilityId"]?.GetValue<string>() ?? "");
    }

    private async Task<JsonNode> GetAnonymousAsync(string path)
    {
        using var response = await http.GetAsync(path);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, $"GET {path}: {(int)response.StatusCode} {text}");
        return JsonNode.Parse(text)!;
    }

    /// <summary>Signs consents for this chain and escrow without asking the app (whose health names them only once it has reached the chain).</summary>
    public void KnowChain(long chainId, EthAddress escrow, int tokenDecimals) =>
        _chain = new JsonObject { ["chainId"] = chainId, ["settlementContract"] = escrow.ToString(), ["tokenDecimals"] = tokenDecimals };

    public async Task<HttpResponseMessage> SendAsync(HttpMethod method, string path, Caller? caller, object? body, string? idempotencyKey = null, string? ifMatch = null)
    {
        if (method == HttpMethod.Post && path == "/v1/requests" && caller is not null && Wallets.TryGetValue(caller.Id, out var wallet)
            && JsonSerializer.SerializeToNode(body, Web) is JsonObject request && !request.ContainsKey("consent") && Signable(request))
        {
            request["consent"] = await ConsentAsync(wallet, request);
            body = request;
        }
        else if (method == HttpMethod.Post && path == "/v1/availability" && caller is not null && Wallets.TryGetValue(caller.Id, out var dsoWallet)
            && JsonSerializer.SerializeToNode(body, Web) is JsonObject availability && !availability.ContainsKey("consent"))
        {
            availability["consent"] = await AvailabilityConsentAsync(dsoWallet, availability);
            body = availability;
        }
        var message = new HttpRequestMessage(method, path);
        if (idempotencyKey is not null) message.Headers.Add("Idempotency-Key", idempotencyKey);
        if (ifMatch is not null) message.Headers.TryAddWithoutValidation("If-Match", ifMatch);
        if (caller is not null) message.Headers.Add("X-Api-Key", caller.ApiKey);
        if (body is not null) message.Content = JsonContent.Create(body, options: Web);
        return await http.SendAsync(message);
    }

    private static readonly JsonSerializerOptions Web = new(JsonSerializerDefaults.Web);

    /// <summary>Whether the request body has the terms a consent signs, well-formed (hostile-input tests send others as they are).</summary>
    private static bool Signable(JsonObject r) =>
        r["transformerId"] is JsonValue t && t.TryGetValue<string>(out _)
        && new[] { "deliveryStart", "deliveryEnd", "gateClosure" }.All(n => r[n] is JsonValue v && v.TryGetValue<string>(out var s) && DateTimeOffset.TryParse(s, CultureInfo.InvariantCulture, out _))
        && new[] { "energyKwh", "maxPriceEurPerKwh" }.All(n => r[n] is JsonValue v && v.TryGetValue<decimal>(out var d) && d is >= 0 and < 1_000_000_000m
            || n == "energyKwh" && r[n] is null && r["profileKw"] is JsonArray);

    public Task<HttpResponseMessage> SendRawAsync(HttpMethod method, string path, Caller? caller, string body, string contentType = "application/json")
    {
        var message = new HttpRequestMessage(method, path) { Content = new StringContent(body, System.Text.Encoding.UTF8, contentType) };
        if (caller is not null) message.Headers.Add("X-Api-Key", caller.ApiKey);
        return http.SendAsync(message);
    }
}
