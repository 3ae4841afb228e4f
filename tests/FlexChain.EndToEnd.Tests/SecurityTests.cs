using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Azure.Data.Tables;
using FlexChain.Ethereum;
using FlexChain.Testing;
using static FlexChain.EndToEnd.Tests.ApiResponses;

namespace FlexChain.EndToEnd.Tests;

/// <summary>Issue 21, finding by finding, over HTTP against the running app.</summary>
[Collection(MarketCollection.Name)]
public sealed class SecurityTests(MarketFixture market)
{
    private readonly MarketClient _api = new(market.Client);

    private static async Task<JsonNode> ProblemAsync(HttpResponseMessage response, HttpStatusCode status, string? rule = null)
    {
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var problem = await JsonAsync(response, status);
        if (rule is not null) Assert.Equal(rule, problem["rule"]!.GetValue<string>());
        return problem;
    }

    private async Task<(SmallMarket Market, string Request)> OpenRequestAsync(string name)
    {
        var m = await _api.SmallMarketAsync(name, MarketFixture.RuleDsoKey, MarketFixture.RuleCpoAKey, MarketFixture.RuleCpoBKey);
        var now = market.Clock.GetUtcNow();
        return (m, await _api.RequestAsync(m.Dso, m.Transformer, now.AddHours(1), now.AddHours(2)));
    }

    // 1. Sealed means sealed.
    [Fact]
    public async Task Offer_BeforeGateClosure_ChangesNothingTheDsoCanRead()
    {
        var (m, request) = await OpenRequestAsync("Sealed");
        var requirements = new { minimumPowerKw = 3.7m, monitoringRequired = true, validityDays = 30 };
        var published = await _api.SendOkAsync(HttpMethod.Put, "/v1/prequalification/requirements", m.Dso, requirements);
        // Saving unchanged requirements is not a new version.
        var again = await _api.SendOkAsync(HttpMethod.Put, "/v1/prequalification/requirements", m.Dso, requirements);
        Assert.Equal(published["version"]!.GetValue<int>(), again["version"]!.GetValue<int>());
        // A real change is, and leaves the stations' qualifications checked against the older version.
        var changed = await _api.SendOkAsync(HttpMethod.Put, "/v1/prequalification/requirements", m.Dso, requirements with { validityDays = 31 });
        Assert.Equal(published["version"]!.GetValue<int>() + 1, changed["version"]!.GetValue<int>());

        var dsoView = (await _api.GetAsync("/v1/prequalifications?limit=100", m.Dso)).ToJsonString();
        market.Clock.Advance(TimeSpan.FromSeconds(7));   // the offer's time differs from every time stored so far
        var offer = await _api.PostAsync($"/v1/requests/{request}/offers", m.CpoA, new { stationIds = new[] { m.StationA }, energyKwh = 5m, priceEurPerKwh = 0.2m, divisible = true });
        Assert.NotNull(offer["id"]);

        Assert.Equal(dsoView, (await _api.GetAsync("/v1/prequalifications?limit=100", m.Dso)).ToJsonString());
        var otherCpo = await _api.GetAsync($"/v1/stations/{m.StationB}/prequalification", m.CpoB);
        Assert.NotEqual(market.Clock.GetUtcNow(), otherCpo["checkedAt"]!.GetValue<DateTimeOffset>());
    }

    // 2. Webhooks never reach internal addresses.
    [Fact]
    public async Task Webhook_HostNameResolvingToLoopback_RefusedAtConnect_WithThePrivateTargetsSettingOff()
    {
        // A name, not an address literal: registration accepts it; the address it resolves to is refused when connecting.
        const string host = "localhost";
        await using var receiver = await NotificationTests.Receiver.StartAsync();
        var (app, storage) = await market.IsolatedInstanceAsync(("Notifications:AllowPrivateTargets", "false"));
        try
        {
            var api = new MarketClient(app.CreateClient());
            var dso = await api.RegisterAsync("Dso", "SSRF DSO", MarketFixture.RuleDsoKey);
            var cpo = await api.RegisterAsync("Cpo", "SSRF CPO", MarketFixture.RuleCpoAKey);
            var hook = await api.PostAsync("/v1/webhooks", cpo, new { url = $"http://{host}:{receiver.Port}/hook", events = new[] { "request.published" } });
            var now = market.Clock.GetUtcNow();
            await api.RequestAsync(dso, await api.TransformerAsync(dso), now.AddHours(1), now.AddHours(2));

            var delivery = await Poll.UntilAsync(async () => (await api.GetAsync($"/v1/webhooks/{hook["id"]}/deliveries", cpo))["items"]!.AsArray().FirstOrDefault(),
                d => d?["attempts"]!.AsArray().Count >= 1, TimeSpan.FromSeconds(30), "a delivery attempt");
            Assert.Equal("refused-address", delivery!["attempts"]![0]!["error"]!.GetValue<string>());
            Assert.Null(delivery["attempts"]![0]!["status"]);
            Assert.Empty(receiver.All);

            // An address literal is refused at registration already, in every refused range.
            foreach (var literal in new[] { "127.0.0.1", "10.1.2.3", "100.64.0.1", "198.18.0.1", "224.0.0.1", "0.0.0.0", "[::1]", "[fd00::1]", "[64:ff9b::a00:1]", "[::ffff:192.168.1.1]" })
            {
                using var refused = await api.SendAsync(HttpMethod.Post, "/v1/webhooks", cpo, new { url = $"http://{literal}:{receiver.Port}/hook", events = new[] { "award" } });
                await ProblemAsync(refused, HttpStatusCode.BadRequest, "public-url");
            }
        }
        finally
        {
            await app.DisposeAsync();
            await storage.DisposeAsync();
        }
    }

    [Theory]
    [InlineData("127.0.0.1", false)]
    [InlineData("10.0.0.1", false)]
    [InlineData("172.31.255.255", false)]
    [InlineData("172.32.0.1", true)]
    [InlineData("192.168.0.1", false)]
    [InlineData("169.254.169.254", false)]
    [InlineData("100.64.0.1", false)]
    [InlineData("100.128.0.1", true)]
    [InlineData("198.18.0.1", false)]
    [InlineData("198.19.255.255", false)]
    [InlineData("198.20.0.1", true)]
    [InlineData("224.0.0.251", false)]
    [InlineData("0.0.0.0", false)]
    [InlineData("8.8.8.8", true)]
    [InlineData("192.0.2.2", false)]
    [InlineData("::", false)]
    [InlineData("::1", false)]
    [InlineData("fc00::1", false)]
    [InlineData("fdff::1", false)]
    [InlineData("fe80::1", false)]
    [InlineData("ff02::1", false)]
    [InlineData("64:ff9b::808:808", false)]
    [InlineData("::ffff:127.0.0.1", false)]
    [InlineData("::ffff:10.0.0.1", false)]
    [InlineData("::ffff:8.8.8.8", true)]
    [InlineData("2001:4860:4860::8888", true)]
    public void WebhookTargets_IsPublic_RefusesEveryInternalRange(string address, bool expected) =>
        Assert.Equal(expected, FlexChain.Functions.Notifications.WebhookTargets.IsPublic(IPAddress.Parse(address)));

    [Fact]
    public async Task Webhook_OutsideDevelopment_RequiresHttps()
    {
        await using var production = market.NewInstance(("environment", "Production"));
        var api = new MarketClient(production.CreateClient());
        var cpo = await _api.RegisterAsync("Cpo", "Https CPO", MarketFixture.RuleCpoAKey, proveWallet: false);
        using (var plain = await api.SendAsync(HttpMethod.Post, "/v1/webhooks", cpo, new { url = "http://example.org/hook", events = new[] { "award" } }))
            await ProblemAsync(plain, HttpStatusCode.BadRequest, "https");
        var created = await api.PostAsync("/v1/webhooks", cpo, new { url = "https://example.org/hook", events = new[] { "award" } });
        using var deleted = await api.SendAsync(HttpMethod.Delete, $"/v1/webhooks/{created["id"]}", cpo, null);
        Assert.Equal(HttpStatusCode.NoContent, deleted.StatusCode);
    }

    // 3. Keys that rotate.
    [Fact]
    public async Task ApiKeyRotation_OnlyTheCurrentKeyRotates_AndOtherKeysCanBeRevoked()
    {
        var k0 = await _api.RegisterAsync("Cpo", "Rotation CPO", MarketFixture.RuleCpoAKey, proveWallet: false);
        var first = await _api.PostAsync("/v1/participants/me/api-key", k0, new { });
        // The default grace period is 15 minutes.
        Assert.Equal(market.Clock.GetUtcNow().AddMinutes(15), first["previousKeyExpiresAt"]!.GetValue<DateTimeOffset>());
        var k1 = k0 with { ApiKey = first["apiKey"]!.GetValue<string>() };

        // The replaced key still reads, but can neither rotate again nor revoke: it could otherwise lock out the new key.
        Assert.Equal(HttpStatusCode.OK, (await _api.SendAsync(HttpMethod.Get, "/v1/participants/me", k0, null)).StatusCode);
        using (var stale = await _api.SendAsync(HttpMethod.Post, "/v1/participants/me/api-key", k0, new { }))
            await ProblemAsync(stale, HttpStatusCode.Forbidden, "current-key-required");
        using (var stale = await _api.SendAsync(HttpMethod.Post, "/v1/participants/me/api-key/revoke-others", k0, null))
            await ProblemAsync(stale, HttpStatusCode.Forbidden, "current-key-required");
        Assert.Equal(HttpStatusCode.OK, (await _api.SendAsync(HttpMethod.Get, "/v1/participants/me", k1, null)).StatusCode);

        using (var revoke = await _api.SendAsync(HttpMethod.Post, "/v1/participants/me/api-key/revoke-others", k1, null))
            Assert.Equal(HttpStatusCode.NoContent, revoke.StatusCode);
        Assert.Equal((HttpStatusCode.Unauthorized, HttpStatusCode.OK),
            ((await _api.SendAsync(HttpMethod.Get, "/v1/participants/me", k0, null)).StatusCode, (await _api.SendAsync(HttpMethod.Get, "/v1/participants/me", k1, null)).StatusCode));
        using (var tooLong = await _api.SendAsync(HttpMethod.Post, "/v1/participants/me/api-key", k1, new { previousKeyValidMinutes = 24 * 60 + 1 }))
            await ProblemAsync(tooLong, HttpStatusCode.BadRequest);
    }

    // 4. One subscriber cannot stall the others; budgets end in a visible dead letter.
    [Fact]
    public async Task Webhooks_FailingSubscriber_CircuitOpens_BudgetDeadLetters_AndOthersAreStillServed()
    {
        await using var failing = await NotificationTests.Receiver.StartAsync(failFirst: 1000);
        await using var healthy = await NotificationTests.Receiver.StartAsync();
        var (app, storage) = await market.IsolatedInstanceAsync(("Notifications:MaxAttempts", "1"), ("Notifications:MaxTotalAttempts", "2"),
            ("Notifications:BreakAfterFailures", "2"), ("Notifications:BreakDuration", "00:10:00"));
        try
        {
            var api = new MarketClient(app.CreateClient());
            var dso = await api.RegisterAsync("Dso", "Isolation DSO", MarketFixture.RuleDsoKey);
            var transformer = await api.TransformerAsync(dso);
            var (cpoA, cpoB) = (await api.RegisterAsync("Cpo", "Failing CPO", MarketFixture.RuleCpoAKey), await api.RegisterAsync("Cpo", "Healthy CPO", MarketFixture.RuleCpoBKey));
            var hookA = (await api.PostAsync("/v1/webhooks", cpoA, new { url = failing.Url("a"), events = new[] { "request.published" } }))["id"]!.GetValue<string>();
            await api.PostAsync("/v1/webhooks", cpoB, new { url = healthy.Url("b"), events = new[] { "request.published" } });
            async Task<JsonNode> DeliveryAsync(string request, Func<JsonNode, bool> done) =>
                (await Poll.UntilAsync(async () => (await api.GetAsync($"/v1/webhooks/{hookA}/deliveries", cpoA))["items"]!.AsArray()
                        .FirstOrDefault(d => d!["eventId"]!.GetValue<string>().StartsWith(request + ":", StringComparison.Ordinal)),
                    d => d is not null && done(d), TimeSpan.FromSeconds(30), $"the delivery of {request}"))!;
            var now = market.Clock.GetUtcNow();

            var first = await api.RequestAsync(dso, transformer, now.AddHours(1), now.AddHours(2));
            var failed = await DeliveryAsync(first, d => d["state"]!.GetValue<string>() == "Failed");
            Assert.Equal("http-500", failed["attempts"]![0]!["error"]!.GetValue<string>());
            var deliveryId = failed["id"]!.GetValue<string>();
            using (var again = await api.SendAsync(HttpMethod.Post, $"/v1/webhooks/deliveries/{deliveryId}/redeliver", cpoA, new { }))
                Assert.Equal(HttpStatusCode.Accepted, again.StatusCode);
            var dead = await DeliveryAsync(first, d => d["state"]!.GetValue<string>() == "DeadLettered");
            Assert.Equal(2, dead["attempts"]!.AsArray().Count);
            using (var refused = await api.SendAsync(HttpMethod.Post, $"/v1/webhooks/deliveries/{deliveryId}/redeliver", cpoA, new { }))
                await ProblemAsync(refused, HttpStatusCode.Conflict, "redelivery-budget");

            // Two failures in a row opened the circuit: the next event waits for it, unattempted, while the other subscriber gets it.
            var second = await api.RequestAsync(dso, transformer, now.AddHours(1), now.AddHours(2));
            await Poll.UntilAsync(() => Task.FromResult(healthy.For(second)), hits => hits.Count == 1, TimeSpan.FromSeconds(30), "the healthy subscriber served");
            var waiting = await DeliveryAsync(second, d => d["nextAttemptAt"]?.GetValue<DateTimeOffset>() > market.Clock.GetUtcNow().AddMinutes(5));
            Assert.Empty(waiting["attempts"]!.AsArray());
            Assert.Empty(failing.For(second));
        }
        finally
        {
            await app.DisposeAsync();
            await storage.DisposeAsync();
        }
    }

    // 5. Limits.
    [Fact]
    public async Task Limits_LoweredByConfiguration_Answer429ProblemsWithRetryAfter()
    {
        // Participants are registered through the shared instance; the limited one counts only its own calls.
        var cpo = await _api.RegisterAsync("Cpo", "Limited CPO", MarketFixture.RuleCpoAKey, proveWallet: false);
        var streamer = await _api.RegisterAsync("Cpo", "Streaming CPO", MarketFixture.RuleCpoBKey, proveWallet: false);
        var bulk = await _api.RegisterAsync("Cpo", "Bulk CPO", MarketFixture.RuleCpoBKey, proveWallet: false);
        var dso = await _api.RegisterAsync("Dso", "Limited DSO", MarketFixture.RuleDsoKey, publishRequirements: false);
        var transformer = await _api.TransformerAsync(dso);
        await using var limited = market.NewInstance(("Limits:RequestsPerParticipantPerMinute", "3"), ("Limits:FailedKeysPerAddressPerMinute", "2"),
            ("Limits:RegistrationsPerAddressPerHour", "2"), ("Limits:EventStreamsPerParticipant", "1"), ("Limits:StationsPerCall", "2"),
            ("Limits:VerifyMaxBlockRange", "1"));
        using var client = limited.CreateClient();
        var api = new MarketClient(client);

        async Task Refused(Func<Task<HttpResponseMessage>> call, string field)
        {
            using var response = await call();
            var problem = await ProblemAsync(response, HttpStatusCode.TooManyRequests, "rate-limit");
            Assert.Equal(field, problem["field"]!.GetValue<string>());
            Assert.True(int.Parse(response.Headers.GetValues("Retry-After").Single()) >= 1);
        }

        // Per participant (its key).
        for (var i = 0; i < 3; i++) Assert.Equal(HttpStatusCode.OK, (await api.SendAsync(HttpMethod.Get, "/v1/participants/me", cpo, null)).StatusCode);
        await Refused(() => api.SendAsync(HttpMethod.Get, "/v1/participants/me", cpo, null), "X-Api-Key");
        // Wrong keys per client address.
        var guess = new Caller(cpo.Id, $"fck_{cpo.Id}_{new string('a', 64)}");
        for (var i = 0; i < 2; i++) Assert.Equal(HttpStatusCode.Unauthorized, (await api.SendAsync(HttpMethod.Get, "/v1/participants/me", guess, null)).StatusCode);
        await Refused(() => api.SendAsync(HttpMethod.Get, "/v1/participants/me", guess, null), "client");
        // Anonymous registrations per client address.
        object Registration() => new { role = "Cpo", legalName = "Spam", contact = "x@example.org", walletAddress = MarketFixture.CpoAWallet.ToString() };
        for (var i = 0; i < 2; i++) Assert.Equal(HttpStatusCode.Created, (await api.SendAsync(HttpMethod.Post, "/v1/participants", null, Registration())).StatusCode);
        await Refused(() => api.SendAsync(HttpMethod.Post, "/v1/participants", null, Registration()), "client");
        // Event streams per participant.
        using (var open = new HttpRequestMessage(HttpMethod.Get, "/v1/events") { Headers = { { "X-Api-Key", streamer.ApiKey } } })
        using (var first = await client.SendAsync(open, HttpCompletionOption.ResponseHeadersRead))
        {
            Assert.Equal(HttpStatusCode.OK, first.StatusCode);
            await Refused(() => client.SendAsync(new HttpRequestMessage(HttpMethod.Get, "/v1/events") { Headers = { { "X-Api-Key", streamer.ApiKey } } }, HttpCompletionOption.ResponseHeadersRead), "X-Api-Key");
        }
        // Stations per call.
        using (var tooMany = await api.SendAsync(HttpMethod.Post, "/v1/stations/bulk", bulk, new { stations = Enumerable.Range(0, 3).Select(i => MarketClient.Station(transformer, $"IT001E0000090{i}")) }))
            Assert.Equal("count", (await ProblemAsync(tooMany, HttpStatusCode.BadRequest))["rule"]!.GetValue<string>());
        // Chain scans per verify call.
        using (var scan = await api.SendAsync(HttpMethod.Get, $"/v1/verify?wallet={MarketFixture.CpoAWallet}&fromBlock=0", null, null))
            Assert.Equal("fromBlock", (await ProblemAsync(scan, HttpStatusCode.BadRequest, "block-range"))["field"]!.GetValue<string>());
    }

    // 6. Meter data and grid views cannot be poisoned.
    [Fact]
    public async Task Readings_AboveStationPowerTimesInterval_Refused_AndUnqualifiedStationsStayOutOfTheLoadView()
    {
        var m = await _api.SmallMarketAsync("Poison", MarketFixture.RuleDsoKey, MarketFixture.RuleCpoAKey, MarketFixture.RuleCpoBKey, "IT001E00000071", "IT001E00000072");
        var from = market.Clock.GetUtcNow().AddHours(-2);
        // 22 kW over 15 minutes is 5.5 kWh; with the 10 % margin at most 6.05 kWh.
        using (var upload = await _api.SendAsync(HttpMethod.Post, $"/v1/stations/{m.StationA}/readings", m.CpoA, new
        {
            readings = new object[]
            {
                new { start = from, end = from.AddMinutes(15), energyKwh = 6.05m },
                new { start = from.AddMinutes(15), end = from.AddMinutes(30), energyKwh = 6.051m },
                new { start = from.AddMinutes(30), end = from.AddMinutes(45), energyKwh = 100_000m },
            },
        }))
        {
            var body = await JsonAsync(upload, HttpStatusCode.MultiStatus);
            Assert.Equal(["Stored", "Rejected", "Rejected"], Outcomes(body));
            Assert.All(body["items"]!.AsArray().Skip(1), i => Assert.Equal("station-power", i!["problem"]!["rule"]!.GetValue<string>()));
        }
        Assert.Single((await _api.GetAsync($"/v1/stations/{m.StationA}/readings?from={Q(from)}&to={Q(from.AddHours(1))}", m.CpoA))["items"]!.AsArray());

        // A station registered behind the DSO's transformer but never qualified does not show in the DSO's views.
        var rogue = await _api.StationAsync(m.CpoB, m.Transformer, "IT001E00000073", prequalify: false);
        await _api.PostQuarterReadingsAsync(m.CpoB, rogue, from, 5m);
        await _api.PostQuarterReadingsAsync(m.CpoA, m.StationA, from.AddHours(1), 1m, count: 1);
        var latest = (await _api.GetAsync($"/v1/transformers/{m.Transformer}/readings/latest", m.Dso))["items"]!.AsArray();
        Assert.Equal([m.StationA], latest.Select(i => i!["stationId"]!.GetValue<string>()));
        var load = await _api.GetAsync($"/v1/transformers/{m.Transformer}/load?from={Q(from)}&to={Q(from.AddHours(1))}", m.Dso);
        Assert.All(load["items"]!.AsArray(), p => Assert.True(p!["energyKwh"]!.GetValue<decimal>() <= 6.05m, p.ToJsonString()));
    }

    // 7. Reserved characters in ids and keys are 4xx, never 500.
    [Theory]
    [InlineData("/v1/stations/st_a%2Fb")]
    [InlineData("/v1/stations/st_a%5Cb")]
    [InlineData("/v1/stations/st_a%23b")]
    [InlineData("/v1/stations/st_a%3Fb")]
    [InlineData("/v1/stations/st_a%09b")]
    [InlineData("/v1/stations/st_a%7Fb")]
    [InlineData("/v1/requests/req_a%5Cb")]
    [InlineData("/v1/requests/req_a%23b/offers")]
    [InlineData("/v1/participants/cpo_a%3Fb")]
    [InlineData("/v1/prequalification/requirements/dso_a%5Cb")]
    [InlineData("/v1/evs/ev_%01")]
    [InlineData("/v1/webhooks/wh_a%23b/deliveries")]
    public async Task ReservedCharactersInIds_AreNotFound(string path)
    {
        var cpo = await _api.RegisterAsync("Cpo", "Reserved CPO", MarketFixture.RuleCpoAKey, proveWallet: false);
        using var response = await _api.SendAsync(HttpMethod.Get, path, cpo, null);
        await ProblemAsync(response, HttpStatusCode.NotFound);
    }

    [Theory]
    [InlineData("fck_cpo_0000000000000000000000000000/000_ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff")]
    [InlineData("fck_cpo_000000000000000000000000000\\0000_ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff")]
    [InlineData("fck_cpo_0000000000000000000000000000#000_ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff")]
    [InlineData("fck_cpo_0000000000000000000000000000?000_ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff")]
    [InlineData("fck_c/o_00000000000000000000000000000000_ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff")]
    public async Task ReservedCharactersInApiKeys_AreUnauthorized(string key)
    {
        using var response = await _api.SendAsync(HttpMethod.Get, "/v1/participants/me", new Caller("x", key), null);
        await ProblemAsync(response, HttpStatusCode.Unauthorized);
    }

    [Fact]
    public async Task LastEventIdWithReservedCharacters_IsABadRequest()
    {
        var cpo = await _api.RegisterAsync("Cpo", "Stream CPO", MarketFixture.RuleCpoAKey, proveWallet: false);
        using var request = new HttpRequestMessage(HttpMethod.Get, "/v1/events") { Headers = { { "X-Api-Key", cpo.ApiKey }, { "Last-Event-ID", "a/b#c" } } };
        using var response = await market.Client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        await ProblemAsync(response, HttpStatusCode.BadRequest, "format");
    }

    // 8. One answer for "not yours" and "not found", whatever the offer path cached.
    [Fact]
    public async Task Offer_WithARivalsJustOfferedStation_AnswersAsForAnUnknownStation()
    {
        await using var cached = market.NewInstance(("Market:ReadCacheDuration", "00:05:00"));
        var api = new MarketClient(cached.CreateClient());
        var (m, request) = await OpenRequestAsync("Cache");
        await api.PostAsync($"/v1/requests/{request}/offers", m.CpoA, new { stationIds = new[] { m.StationA }, energyKwh = 5m, priceEurPerKwh = 0.2m, divisible = true });

        async Task<JsonNode> Attempt(string station)
        {
            using var response = await api.SendAsync(HttpMethod.Post, $"/v1/requests/{request}/offers", m.CpoB, new { stationIds = new[] { station }, energyKwh = 5m, priceEurPerKwh = 0.2m, divisible = true });
            Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
            return await ProblemAsync(response, HttpStatusCode.Forbidden, "own-station");
        }
        var unknown = "st_" + new string('0', 32);
        var rivals = await Attempt(m.StationA);
        var missing = await Attempt(unknown);
        Assert.Equal(missing["detail"]!.GetValue<string>().Replace(unknown, "ID"), rivals["detail"]!.GetValue<string>().Replace(m.StationA, "ID"));
    }

    // 9. Webhook secrets are protected at rest (signatures over timestamp and body: NotificationTests).
    [Fact]
    public async Task WebhookSecret_IsNotStoredInPlainText()
    {
        var cpo = await _api.RegisterAsync("Cpo", "Secret CPO", MarketFixture.RuleCpoAKey, proveWallet: false);
        using var created = await _api.SendAsync(HttpMethod.Post, "/v1/webhooks", cpo, new { url = "https://example.org/hook", events = new[] { "award" } });
        Assert.Equal("no-store", created.Headers.CacheControl?.ToString());
        var body = await JsonAsync(created, HttpStatusCode.Created);
        var (id, secret) = (body["id"]!.GetValue<string>(), body["secret"]!.GetValue<string>());
        try
        {
            var table = new TableServiceClient(market.StorageConnectionString).GetTableClient("webhooks");
            var stored = new List<string>();
            await foreach (var e in table.QueryAsync<TableEntity>()) stored.Add(string.Join("|", e.Select(p => p.Value)));
            Assert.Contains(stored, e => e.Contains(id, StringComparison.Ordinal));
            Assert.DoesNotContain(stored, e => e.Contains(secret[6..], StringComparison.Ordinal));
        }
        finally
        {
            using var deleted = await _api.SendAsync(HttpMethod.Delete, $"/v1/webhooks/{id}", cpo, null);
        }
    }

    // 10. Nothing checked is not verified.
    [Fact]
    public async Task Verify_UnknownWallet_IsNotVerified()
    {
        var wallet = new Wallet("0x" + new string('7', 64)).Address;
        var verdict = await JsonAsync(await market.Client.GetAsync($"/v1/verify?wallet={wallet}"), HttpStatusCode.OK);
        Assert.Empty(verdict["payments"]!.AsArray());
        Assert.False(verdict["verified"]!.GetValue<bool>());
    }

    // 11. Trigger routes exist only under the Functions host.
    [Theory]
    [InlineData("/GateTick")]
    [InlineData("/RequestEvents")]
    [InlineData("/Retention")]
    public async Task TriggerRoutes_WithoutTheFunctionsHost_AreNotFound(string path)
    {
        using var response = await market.Client.PostAsync(path, JsonContent.Create(new { Data = new { }, Metadata = new { } }));
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
    }

    // 12. Headers and names.
    [Fact]
    public async Task Responses_CarrySecurityHeaders_AndKeysAreNeverCached()
    {
        using (var health = await market.Client.GetAsync("/v1/health"))
        {
            Assert.Equal("nosniff", health.Headers.GetValues("X-Content-Type-Options").Single());
            Assert.Contains("default-src 'none'", health.Headers.GetValues("Content-Security-Policy").Single());
            Assert.False(health.Headers.Contains("Server"));
        }
        using (var missing = await market.Client.GetAsync("/v1/nothing-here"))
            Assert.Equal("nosniff", missing.Headers.GetValues("X-Content-Type-Options").Single());
        using var registered = await _api.SendAsync(HttpMethod.Post, "/v1/participants", null,
            new { role = "Cpo", legalName = "Headers CPO", contact = "x@example.org", walletAddress = MarketFixture.CpoAWallet.ToString() });
        Assert.Equal(HttpStatusCode.Created, registered.StatusCode);
        Assert.Equal("no-store", registered.Headers.CacheControl?.ToString());
    }

    [Theory]
    [InlineData("Acme\u202Egnp.exe")]
    [InlineData("Ac\u200Bme")]
    [InlineData("Acme\u2066x\u2069")]
    [InlineData("\uFEFFAcme")]
    [InlineData("Ac\u200Dme")]
    public async Task Names_WithBidiOverrideOrZeroWidthCharacters_AreRefused(string name)
    {
        using var response = await _api.SendAsync(HttpMethod.Post, "/v1/participants", null,
            new { role = "Cpo", legalName = name, contact = "x@example.org", walletAddress = MarketFixture.CpoAWallet.ToString() });
        Assert.Equal("legalName", (await ProblemAsync(response, HttpStatusCode.BadRequest, "text"))["field"]!.GetValue<string>());
    }
}
