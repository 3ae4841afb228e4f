using System.Net;
using System.Text.Json.Nodes;
using Azure;
using FlexChain.Ethereum;
using FlexChain.Functions.Storage;
using Azure.Data.Tables;
using FlexChain.Storage;
using Microsoft.Extensions.Caching.Memory;
using Microsoft.Extensions.Options;

namespace FlexChain.EndToEnd.Tests;

/// <summary>The market model over HTTP: conventions, participants and wallets, grid, registry, prequalification, requests and offers.</summary>
[Collection(MarketCollection.Name)]
public sealed class MarketModelTests(MarketFixture market)
{
    private readonly MarketClient _api = new(market.Client);
    private static readonly Caller Operator = new("operator_00000000000000000000000000000001", MarketFixture.OperatorApiKey);

    private static async Task<JsonNode> ProblemAsync(HttpResponseMessage response, HttpStatusCode status, string? rule = null)
    {
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(status == response.StatusCode, $"expected {(int)status}, got {(int)response.StatusCode}: {text}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var problem = JsonNode.Parse(text)!;
        Assert.NotNull(problem["field"]);
        if (rule is not null) Assert.Equal(rule, problem["rule"]!.GetValue<string>());
        return problem;
    }

    private async Task<(Caller Dso, Caller Cpo, string Transformer, string Station, string Request)> MarketAsync()
    {
        var dso = await _api.RegisterAsync("Dso", "DSO", MarketFixture.RuleDsoKey);
        var cpo = await _api.RegisterAsync("Cpo", "CPO", MarketFixture.RuleCpoAKey);
        var transformer = await _api.TransformerAsync(dso);
        var station = await _api.StationAsync(cpo, transformer);
        var now = market.Clock.GetUtcNow();
        return (dso, cpo, transformer, station, await _api.RequestAsync(dso, transformer, now.AddHours(1), now.AddHours(2)));
    }

    private static object Offer(string station, decimal kwh = 5m, decimal price = 0.2m) =>
        new { stationIds = new[] { station }, energyKwh = kwh, priceEurPerKwh = price, divisible = true };

    // ---- conventions ----

    [Fact]
    public async Task Post_SameIdempotencyKeySameBody_ReplaysTheFirstAnswer()
    {
        var dso = await _api.RegisterAsync("Dso", "DSO", MarketFixture.RuleDsoKey);
        var key = Guid.NewGuid().ToString();
        var body = new { name = "T1", ratedPowerKw = 400, location = new { latitude = 45.1m, longitude = 9.2m } };
        using var first = await _api.SendAsync(HttpMethod.Post, "/v1/transformers", dso, body, key);
        using var second = await _api.SendAsync(HttpMethod.Post, "/v1/transformers", dso, body, key);
        Assert.Equal(HttpStatusCode.Created, first.StatusCode);
        Assert.Equal(HttpStatusCode.Created, second.StatusCode);
        Assert.Equal("true", second.Headers.GetValues("Idempotent-Replayed").Single());
        Assert.Equal(first.Headers.Location, second.Headers.Location);
        Assert.Equal(JsonNode.Parse(await first.Content.ReadAsStringAsync())!["id"]!.GetValue<string>(),
            JsonNode.Parse(await second.Content.ReadAsStringAsync())!["id"]!.GetValue<string>());
        var list = await _api.GetAsync("/v1/transformers", dso);
        Assert.Single(list["items"]!.AsArray());
    }

    [Fact]
    public async Task Post_SameIdempotencyKeyOtherBody_Is422()
    {
        var dso = await _api.RegisterAsync("Dso", "DSO", MarketFixture.RuleDsoKey);
        var key = Guid.NewGuid().ToString();
        using var first = await _api.SendAsync(HttpMethod.Post, "/v1/transformers", dso, new { name = "A", ratedPowerKw = 400, location = new { latitude = 1m, longitude = 1m } }, key);
        Assert.Equal(HttpStatusCode.Created, first.StatusCode);
        using var second = await _api.SendAsync(HttpMethod.Post, "/v1/transformers", dso, new { name = "B", ratedPowerKw = 400, location = new { latitude = 1m, longitude = 1m } }, key);
        var problem = await ProblemAsync(second, HttpStatusCode.UnprocessableEntity, "idempotency-key-reused");
        Assert.Equal("Idempotency-Key", problem["field"]!.GetValue<string>());
    }

    [Fact]
    public async Task IdempotencyKeys_AreRememberedUntilTheEndOfTheNextUtcDay_ThenForgotten()
    {
        // Days far from the app's clock, so that this test's day tables are its own.
        var store = await StoreCollection.NewStoreAsync(market.StorageConnectionString);
        var day = new DateTimeOffset(2099, 3, 1, 10, 0, 0, TimeSpan.Zero);
        var (scope, key) = ("cpo_retention", Guid.NewGuid().ToString("N"));

        var first = await store.ClaimIdempotencyKeyAsync(scope, key, "hash-a", day, default);
        Assert.Null(first.Earlier);
        Assert.Equal("idempotency20990301", first.Table);
        await store.CompleteIdempotencyKeyAsync(first, scope, key, new MarketStore.IdempotentResponse("hash-a", 201, "{}", "/v1/x", day), default);

        var nextDay = await store.ClaimIdempotencyKeyAsync(scope, key, "hash-a", day.AddDays(1).AddHours(13), default);   // 23:00 the next day
        Assert.Equal(201, nextDay.Earlier?.Status);
        Assert.Equal(first.Table, nextDay.Table);

        var later = await store.ClaimIdempotencyKeyAsync(scope, key, "hash-b", day.AddDays(2).AddHours(-10), default);   // 00:00 two days on
        Assert.Null(later.Earlier);
        Assert.Equal("idempotency20990303", later.Table);
        // The day table itself is dropped by the retention sweep (RetentionTests).

        // Of concurrent first uses of one key, exactly one claims it.
        var fresh = Guid.NewGuid().ToString("N");
        var claims = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => store.ClaimIdempotencyKeyAsync(scope, fresh, "hash-c", day.AddDays(2), default)));
        Assert.Single(claims, c => c.Earlier is null);
    }

    [Fact]
    public async Task Register_ReplayedWithIdempotencyKey_NeverShowsTheApiKeyAgain()
    {
        var key = Guid.NewGuid().ToString();
        var body = new { role = "Cpo", legalName = "Replay", contact = "x@example.org", walletAddress = MarketFixture.CpoAWallet.ToString() };
        using var first = await _api.SendAsync(HttpMethod.Post, "/v1/participants", null, body, key);
        using var second = await _api.SendAsync(HttpMethod.Post, "/v1/participants", null, body, key);
        var a = JsonNode.Parse(await first.Content.ReadAsStringAsync())!;
        var b = JsonNode.Parse(await second.Content.ReadAsStringAsync())!;
        Assert.StartsWith("fck_", a["apiKey"]!.GetValue<string>());
        Assert.Null(b["apiKey"]);
        Assert.Equal(a["participant"]!["id"]!.GetValue<string>(), b["participant"]!["id"]!.GetValue<string>());
    }

    [Fact]
    public async Task List_FollowsCursorsToTheEnd_AndRefusesForeignCursors()
    {
        var dso = await _api.RegisterAsync("Dso", "DSO", MarketFixture.RuleDsoKey);
        for (var i = 0; i < 5; i++) await _api.TransformerAsync(dso);
        var seen = new List<string>();
        string? cursor = null;
        do
        {
            var page = await _api.GetAsync("/v1/transformers?limit=2" + (cursor is null ? "" : "&cursor=" + Uri.EscapeDataString(cursor)), dso);
            seen.AddRange(page["items"]!.AsArray().Select(t => t!["id"]!.GetValue<string>()));
            cursor = page["nextCursor"]?.GetValue<string>();
        } while (cursor is not null);
        Assert.Equal(5, seen.Distinct().Count());

        var first = await _api.GetAsync("/v1/transformers?limit=2", dso);
        var other = await _api.RegisterAsync("Dso", "Other", MarketFixture.RuleDsoKey);
        using var foreign = await _api.SendAsync(HttpMethod.Get, "/v1/transformers?limit=2&cursor=" + Uri.EscapeDataString(first["nextCursor"]!.GetValue<string>()), other, null);
        await ProblemAsync(foreign, HttpStatusCode.UnprocessableEntity, "cursor");
        using var badLimit = await _api.SendAsync(HttpMethod.Get, "/v1/transformers?limit=0", dso, null);
        await ProblemAsync(badLimit, HttpStatusCode.BadRequest, "range");
    }

    [Fact]
    public async Task Post_OversizedBody_Is413Problem()
    {
        var dso = await _api.RegisterAsync("Dso", "DSO", MarketFixture.RuleDsoKey);
        using var response = await _api.SendRawAsync(HttpMethod.Post, "/v1/transformers", dso, "{\"name\":\"" + new string('x', 1_100_000) + "\"}");
        await ProblemAsync(response, (HttpStatusCode)413, "body-size");
    }

    [Fact]
    public async Task OpenApi_DescribesSecurityAndProblems()
    {
        var doc = JsonNode.Parse(await market.Client.GetStringAsync("/v1/openapi.json"))!;
        Assert.Equal("X-Api-Key", doc["components"]!["securitySchemes"]!["ApiKey"]!["name"]!.GetValue<string>());
        var post = doc["paths"]!["/v1/requests/{id}/offers"]!["post"]!;
        Assert.NotNull(post["responses"]!["422"]!["content"]!["application/problem+json"]);
        Assert.Contains(post["parameters"]!.AsArray(), p => p!["name"]!.GetValue<string>() == "Idempotency-Key");
        Assert.NotNull(post["security"]);
        foreach (var (path, method) in new[] { ("/v1/stations/{id}", "put"), ("/v1/evs/{id}", "delete"), ("/v1/requests/{id}/offers/{offerId}", "put") })
        {
            var versioned = doc["paths"]![path]![method]!;
            Assert.Contains(versioned["parameters"]!.AsArray(), p => p!["name"]!.GetValue<string>() == "If-Match");
            Assert.NotNull(versioned["responses"]!["412"]!["content"]!["application/problem+json"]);
        }
        Assert.Null(post["responses"]!["412"]);
        var get = doc["paths"]!["/v1/stations/{id}"]!["get"]!;
        Assert.NotNull(get["responses"]!["200"]!["headers"]!["ETag"]);
        Assert.Null(get["responses"]!["412"]);
        Assert.DoesNotContain(get["parameters"]!.AsArray(), p => p!["name"]!.GetValue<string>() == "If-Match");
    }

    // ---- participants and wallets ----

    [Fact]
    public async Task WalletProof_SignedByAnotherKey_IsRejected_AndOffersNeedAProvenWallet()
    {
        var m = await MarketAsync();
        var unproven = await _api.RegisterAsync("Cpo", "Unproven", MarketFixture.RuleCpoBKey, proveWallet: false);
        var station = await _api.StationAsync(unproven, m.Transformer, "IT001E00000077");
        using var offer = await _api.SendAsync(HttpMethod.Post, $"/v1/requests/{m.Request}/offers", unproven, Offer(station));
        var problem = await ProblemAsync(offer, HttpStatusCode.UnprocessableEntity, "wallet-unverified");
        Assert.Equal("walletAddress", problem["field"]!.GetValue<string>());

        var message = (await _api.PostAsync("/v1/participants/me/wallet-challenge", unproven, new { }))["message"]!.GetValue<string>();
        var forged = MarketFixture.RuleCpoAKey.Sign(message);
        using var wrong = await _api.SendAsync(HttpMethod.Post, "/v1/participants/me/wallet-proof", unproven, new { signature = forged });
        await ProblemAsync(wrong, HttpStatusCode.UnprocessableEntity, "wallet-mismatch");
        Assert.False((await _api.GetAsync("/v1/participants/me", unproven))["walletVerified"]!.GetValue<bool>());

        var proven = await _api.ProveWalletAsync(unproven, MarketFixture.RuleCpoBKey);
        Assert.True(proven["walletVerified"]!.GetValue<bool>());
        await _api.PostAsync($"/v1/requests/{m.Request}/offers", unproven, Offer(station));
    }

    private async Task<HttpStatusCode> MeAsync(Caller caller)
    {
        using var response = await _api.SendAsync(HttpMethod.Get, "/v1/participants/me", caller, null);
        return response.StatusCode;
    }

    [Fact]
    public async Task ApiKeyRotation_NewKeyWorks_OldKeyOnlyForItsGracePeriod()
    {
        var cpo = await _api.RegisterAsync("Cpo", "Rotating CPO", MarketFixture.RuleCpoAKey);
        using (var rotation = await _api.SendAsync(HttpMethod.Post, "/v1/participants/me/api-key", cpo, new { previousKeyValidMinutes = 30 }))
        {
            Assert.Equal(HttpStatusCode.OK, rotation.StatusCode);
            Assert.Equal("no-store", rotation.Headers.CacheControl?.ToString());
            var body = JsonNode.Parse(await rotation.Content.ReadAsStringAsync())!;
            var rotated = cpo with { ApiKey = body["apiKey"]!.GetValue<string>() };
            Assert.NotEqual(cpo.ApiKey, rotated.ApiKey);
            Assert.StartsWith($"fck_{cpo.Id}_", rotated.ApiKey, StringComparison.Ordinal);
            Assert.Equal(market.Clock.GetUtcNow().AddMinutes(30), body["previousKeyExpiresAt"]!.GetValue<DateTimeOffset>());
            Assert.Equal((HttpStatusCode.OK, HttpStatusCode.OK), (await MeAsync(rotated), await MeAsync(cpo)));

            // Only the key used for a rotation survives it, and with 0 minutes not even that one.
            var again = cpo with { ApiKey = (await _api.PostAsync("/v1/participants/me/api-key", rotated, new { previousKeyValidMinutes = 0 }))["apiKey"]!.GetValue<string>() };
            Assert.Equal(HttpStatusCode.OK, await MeAsync(again));
            Assert.Equal((HttpStatusCode.Unauthorized, HttpStatusCode.Unauthorized), (await MeAsync(cpo), await MeAsync(rotated)));

            // A grace period ends with the clock.
            var next = again with { ApiKey = (await _api.PostAsync("/v1/participants/me/api-key", again, new { previousKeyValidMinutes = 1 }))["apiKey"]!.GetValue<string>() };
            Assert.Equal(HttpStatusCode.OK, await MeAsync(again));
            market.Clock.Advance(TimeSpan.FromMinutes(1));
            Assert.Equal((HttpStatusCode.Unauthorized, HttpStatusCode.OK), (await MeAsync(again), await MeAsync(next)));
        }
    }

    [Fact]
    public async Task Profile_CallerChangesNameAndContact_NotRoleOrWallet()
    {
        var cpo = await _api.RegisterAsync("Cpo", "Old Name", MarketFixture.RuleCpoAKey);
        var before = await _api.GetAsync("/v1/participants/me", cpo);
        var updated = await _api.SendOkAsync(HttpMethod.Put, "/v1/participants/me", cpo, new { legalName = "New Name S.p.A.", contact = "flex@new.example" });
        Assert.Equal(("New Name S.p.A.", "flex@new.example"), (updated["legalName"]!.GetValue<string>(), updated["contact"]!.GetValue<string>()));
        var after = await _api.GetAsync("/v1/participants/me", cpo);
        Assert.Equal("New Name S.p.A.", after["legalName"]!.GetValue<string>());
        foreach (var kept in new[] { "id", "role", "walletAddress", "walletVerified", "registeredAt" })
            Assert.Equal(before[kept]!.ToJsonString(), after[kept]!.ToJsonString());

        foreach (var bad in new object[] { new { legalName = "", contact = "x@example.org" }, new { legalName = "X", contact = new string('c', 201) },
                     new { legalName = "X" }, new { legalName = "X", contact = "x@example.org", walletAddress = MarketFixture.CpoBWallet.ToString() } })
        {
            using var refused = await _api.SendAsync(HttpMethod.Put, "/v1/participants/me", cpo, bad);
            await ProblemAsync(refused, HttpStatusCode.BadRequest);
        }
        Assert.Equal(after.ToJsonString(), (await _api.GetAsync("/v1/participants/me", cpo)).ToJsonString());
        using (var op = await _api.SendAsync(HttpMethod.Put, "/v1/participants/me", Operator, new { legalName = "X", contact = "x@example.org" }))
            await ProblemAsync(op, HttpStatusCode.Conflict, "operator-configured");
    }

    [Fact]
    public async Task ApiKeyRotation_Refusals()
    {
        var cpo = await _api.RegisterAsync("Cpo", "CPO", MarketFixture.RuleCpoAKey);
        foreach (var minutes in new object[] { -1, 24 * 60 + 1, "60", 1.5 })
        {
            using var bad = await _api.SendAsync(HttpMethod.Post, "/v1/participants/me/api-key", cpo, new { previousKeyValidMinutes = minutes });
            Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
            Assert.Equal("previousKeyValidMinutes", (await ProblemAsync(bad, HttpStatusCode.BadRequest))["field"]!.GetValue<string>());
        }
        Assert.Equal(HttpStatusCode.OK, await MeAsync(cpo));   // nothing was rotated
        using (var anonymous = await _api.SendAsync(HttpMethod.Post, "/v1/participants/me/api-key", null, new { }))
            Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
        using (var op = await _api.SendAsync(HttpMethod.Post, "/v1/participants/me/api-key", Operator, new { }))
            await ProblemAsync(op, HttpStatusCode.Conflict, "operator-key-configured");
        Assert.Equal(HttpStatusCode.OK, await MeAsync(Operator));
    }

    [Fact]
    public async Task WalletProof_ReplayedSignature_IsRejected()
    {
        var cpo = await _api.RegisterAsync("Cpo", "CPO", MarketFixture.RuleCpoAKey, proveWallet: false);
        var message = (await _api.PostAsync("/v1/participants/me/wallet-challenge", cpo, new { }))["message"]!.GetValue<string>();
        var signature = MarketFixture.RuleCpoAKey.Sign(message);
        await _api.PostAsync("/v1/participants/me/wallet-proof", cpo, new { signature });
        using var replay = await _api.SendAsync(HttpMethod.Post, "/v1/participants/me/wallet-proof", cpo, new { signature });
        await ProblemAsync(replay, HttpStatusCode.UnprocessableEntity, "challenge-missing");
    }

    [Fact]
    public async Task Participants_OperatorListsEveryone_OthersMayNot()
    {
        var cpo = await _api.RegisterAsync("Cpo", "CPO", MarketFixture.RuleCpoAKey);
        var page = await _api.GetAsync("/v1/participants?role=Cpo&limit=200", Operator);
        Assert.All(page["items"]!.AsArray(), p => Assert.Equal("Cpo", p!["role"]!.GetValue<string>()));
        Assert.Equal("Operator", (await _api.GetAsync("/v1/participants/me", Operator))["role"]!.GetValue<string>());
        using var forbidden = await _api.SendAsync(HttpMethod.Get, "/v1/participants", cpo, null);
        await ProblemAsync(forbidden, HttpStatusCode.Forbidden);
        using var operatorSelf = await _api.SendAsync(HttpMethod.Post, "/v1/participants", null,
            new { role = "Operator", legalName = "X", contact = "x@example.org", walletAddress = MarketFixture.CpoAWallet.ToString() });
        await ProblemAsync(operatorSelf, HttpStatusCode.BadRequest, "enum");
    }

    // ---- grid ----

    [Fact]
    public async Task Forecast_RoundTrips_AndOnlyItsDsoReadsIt()
    {
        var dso = await _api.RegisterAsync("Dso", "DSO", MarketFixture.RuleDsoKey);
        var transformer = await _api.TransformerAsync(dso);
        var day = new DateTimeOffset(2026, 12, 1, 0, 0, 0, TimeSpan.Zero);
        var points = Enumerable.Range(0, 96).Select(i => new { start = day.AddMinutes(15 * i), end = day.AddMinutes(15 * (i + 1)), expectedLoadKw = i is >= 68 and < 80 ? 700m : 400m, limitKw = 630m });
        await _api.SendOkAsync(HttpMethod.Put, $"/v1/transformers/{transformer}/forecasts/2026-12-01", dso, new { points });
        var back = await _api.GetAsync($"/v1/transformers/{transformer}/forecasts/2026-12-01", dso);
        Assert.Equal(96, back["points"]!.AsArray().Count);
        Assert.Equal(12, back["congestedIntervals"]!.GetValue<int>());
        // A day without a forecast is a normal state, not a 404 (which a browser logs as an error): no points, no publishedAt.
        var none = await _api.GetAsync($"/v1/transformers/{transformer}/forecasts/2026-12-02", dso);
        Assert.Equal(("2026-12-02", 0, 0), (none["day"]!.GetValue<string>(), none["points"]!.AsArray().Count, none["congestedIntervals"]!.GetValue<int>()));
        Assert.Null(none["publishedAt"]);
        var other = await _api.RegisterAsync("Dso", "Other", MarketFixture.RuleDsoKey);
        using var foreign = await _api.SendAsync(HttpMethod.Get, $"/v1/transformers/{transformer}/forecasts/2026-12-01", other, null);
        await ProblemAsync(foreign, HttpStatusCode.NotFound);
        using var coarse = await _api.SendAsync(HttpMethod.Put, $"/v1/transformers/{transformer}/forecasts/2026-12-01", dso,
            new { points = new[] { new { start = day, end = day.AddHours(1), expectedLoadKw = 1m, limitKw = 2m } } });
        await ProblemAsync(coarse, HttpStatusCode.BadRequest, "resolution");
    }

    // ---- registry ----

    [Fact]
    public async Task Station_UpdateAndDeactivate_KeepHistory()
    {
        var dso = await _api.RegisterAsync("Dso", "DSO", MarketFixture.RuleDsoKey);
        var cpo = await _api.RegisterAsync("Cpo", "CPO", MarketFixture.RuleCpoAKey);
        var transformer = await _api.TransformerAsync(dso);
        var station = await _api.StationAsync(cpo, transformer, prequalify: false);
        var updated = await _api.SendOkAsync(HttpMethod.Put, $"/v1/stations/{station}", cpo, MarketClient.Station(transformer, acKw: 11m));
        Assert.Equal(2, updated["version"]!.GetValue<int>());
        var gone = await _api.SendOkAsync(HttpMethod.Delete, $"/v1/stations/{station}", cpo, null);
        Assert.False(gone["active"]!.GetValue<bool>());
        var versions = (await _api.GetAsync($"/v1/stations/{station}/versions", cpo))["items"]!.AsArray();
        Assert.Equal([22m, 11m, 11m], versions.Select(v => v!["maxAcKw"]!.GetValue<decimal>()));
        using var again = await _api.SendAsync(HttpMethod.Put, $"/v1/stations/{station}", cpo, MarketClient.Station(transformer));
        await ProblemAsync(again, HttpStatusCode.UnprocessableEntity, "deactivated");
        var other = await _api.RegisterAsync("Cpo", "Other", MarketFixture.RuleCpoBKey);
        using var foreign = await _api.SendAsync(HttpMethod.Get, $"/v1/stations/{station}", other, null);
        await ProblemAsync(foreign, HttpStatusCode.NotFound);
    }

    /// <summary>
    /// Two systems of one CPO edit the same station, EV or offer: each GET, PUT and DELETE answers the version as ETag, and
    /// a change made with If-Match on a version that is no longer current is refused (412) and changes nothing.
    /// </summary>
    [Fact]
    public async Task IfMatch_StationEvAndOffer_ChangeOnlyTheVersionRead()
    {
        var m = await MarketAsync();
        async Task<(HttpStatusCode Status, string? ETag)> SendAsync(HttpMethod method, string path, object? body, string? ifMatch)
        {
            using var response = await _api.SendAsync(method, path, m.Cpo, body, ifMatch: ifMatch);
            if (response.StatusCode == HttpStatusCode.PreconditionFailed)
            {
                var problem = await ProblemAsync(response, HttpStatusCode.PreconditionFailed, "precondition-failed");
                Assert.Equal("If-Match", problem["field"]!.GetValue<string>());
            }
            return (response.StatusCode, response.Headers.ETag?.ToString());
        }

        var offer = $"/v1/requests/{m.Request}/offers/" + (await _api.PostAsync($"/v1/requests/{m.Request}/offers", m.Cpo, Offer(m.Station)))["id"]!.GetValue<string>();
        var r1 = await SendAsync(HttpMethod.Get, offer, null, null);
        Assert.Equal("\"1\"", r1.ETag);
        Assert.Equal((HttpStatusCode.OK, "\"2\""), await SendAsync(HttpMethod.Put, offer, Offer(m.Station, price: 0.15m), r1.ETag));
        Assert.Equal(HttpStatusCode.PreconditionFailed, (await SendAsync(HttpMethod.Put, offer, Offer(m.Station, price: 0.10m), r1.ETag)).Status);
        Assert.Equal(HttpStatusCode.PreconditionFailed, (await SendAsync(HttpMethod.Delete, offer, null, r1.ETag)).Status);
        Assert.Equal(0.15m, (await _api.GetAsync(offer, m.Cpo))["priceEurPerKwh"]!.GetValue<decimal>());
        Assert.Equal(HttpStatusCode.NoContent, (await SendAsync(HttpMethod.Delete, offer, null, "\"2\"")).Status);

        var station = $"/v1/stations/{m.Station}";
        var v1 = await SendAsync(HttpMethod.Get, station, null, null);
        Assert.Equal((HttpStatusCode.OK, "\"1\""), v1);
        Assert.Equal((HttpStatusCode.OK, "\"2\""), await SendAsync(HttpMethod.Put, station, MarketClient.Station(m.Transformer, acKw: 11m), v1.ETag));
        // The other system still holds version 1: its update and its deactivation are refused.
        Assert.Equal(HttpStatusCode.PreconditionFailed, (await SendAsync(HttpMethod.Put, station, MarketClient.Station(m.Transformer, acKw: 7m), v1.ETag)).Status);
        Assert.Equal(HttpStatusCode.PreconditionFailed, (await SendAsync(HttpMethod.Delete, station, null, "\"1\", W/\"2\"")).Status); // weak never matches
        using (var malformed = await _api.SendAsync(HttpMethod.Put, station, m.Cpo, MarketClient.Station(m.Transformer), ifMatch: "2"))
            Assert.Equal("If-Match", (await ProblemAsync(malformed, HttpStatusCode.BadRequest, "etag"))["field"]!.GetValue<string>());
        var versions = (await _api.GetAsync($"{station}/versions", m.Cpo))["items"]!.AsArray();
        Assert.Equal([22m, 11m], versions.Select(v => v!["maxAcKw"]!.GetValue<decimal>()));
        Assert.Equal((HttpStatusCode.OK, "\"3\""), await SendAsync(HttpMethod.Put, station, MarketClient.Station(m.Transformer, acKw: 7m), "\"1\", \"2\""));
        Assert.Equal((HttpStatusCode.OK, "\"4\""), await SendAsync(HttpMethod.Delete, station, null, "*"));

        var ev = (await _api.PostAsync("/v1/evs", m.Cpo, new { model = "Fiat 500e", batteryKwh = 42m, maxChargingKw = 11m }))["id"]!.GetValue<string>();
        var evV1 = await SendAsync(HttpMethod.Get, $"/v1/evs/{ev}", null, null);
        Assert.Equal("\"1\"", evV1.ETag);
        Assert.Equal((HttpStatusCode.OK, "\"2\""), await SendAsync(HttpMethod.Put, $"/v1/evs/{ev}", new { model = "Fiat 500e", batteryKwh = 42m, maxChargingKw = 85m }, evV1.ETag));
        Assert.Equal(HttpStatusCode.PreconditionFailed, (await SendAsync(HttpMethod.Put, $"/v1/evs/{ev}", new { model = "Fiat 500e", batteryKwh = 42m, maxChargingKw = 22m }, evV1.ETag)).Status);
        Assert.Equal(HttpStatusCode.PreconditionFailed, (await SendAsync(HttpMethod.Delete, $"/v1/evs/{ev}", null, evV1.ETag)).Status);
        Assert.Equal(85m, (await _api.GetAsync($"/v1/evs/{ev}", m.Cpo))["maxChargingKw"]!.GetValue<decimal>());
    }

    [Fact]
    public async Task BulkStations_AnswersPerItem()
    {
        var dso = await _api.RegisterAsync("Dso", "DSO", MarketFixture.RuleDsoKey);
        var cpo = await _api.RegisterAsync("Cpo", "CPO", MarketFixture.RuleCpoAKey);
        var transformer = await _api.TransformerAsync(dso);
        var items = Enumerable.Range(0, 120).Select(i => i switch
        {
            7 => MarketClient.Station("tr_" + new string('0', 32), $"M{i}"),
            9 => (object)new { transformerId = transformer },
            _ => MarketClient.Station(transformer, $"M{i}"),
        }).ToList();
        using var response = await _api.SendAsync(HttpMethod.Post, "/v1/stations/bulk", cpo, new { stations = items });
        Assert.Equal((HttpStatusCode)207, response.StatusCode);
        var body = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
        Assert.Equal(118, body["succeeded"]!.GetValue<int>());
        Assert.Equal(422, body["items"]![7]!["status"]!.GetValue<int>());
        Assert.Equal("exists", body["items"]![7]!["problem"]!["rule"]!.GetValue<string>());
        Assert.Equal(400, body["items"]![9]!["status"]!.GetValue<int>());
        Assert.StartsWith("stations[9].", body["items"]![9]!["problem"]!["field"]!.GetValue<string>());
        var listed = 0;
        string? cursor = null;
        do
        {
            var page = await _api.GetAsync($"/v1/stations?transformerId={transformer}&limit=200" + (cursor is null ? "" : "&cursor=" + Uri.EscapeDataString(cursor)), cpo);
            listed += page["items"]!.AsArray().Count;
            cursor = page["nextCursor"]?.GetValue<string>();
        } while (cursor is not null);
        Assert.Equal(118, listed);
    }

    [Fact]
    public async Task Ev_RegisterUpdateList()
    {
        var cpo = await _api.RegisterAsync("Cpo", "CPO", MarketFixture.RuleCpoAKey);
        var ev = (await _api.PostAsync("/v1/evs", cpo, new { model = "Fiat 500e", batteryKwh = 42m, maxChargingKw = 11m }))["id"]!.GetValue<string>();
        await _api.SendOkAsync(HttpMethod.Put, $"/v1/evs/{ev}", cpo, new { model = "Fiat 500e", batteryKwh = 42m, maxChargingKw = 85m });
        Assert.Equal(2, (await _api.GetAsync($"/v1/evs/{ev}/versions", cpo))["items"]!.AsArray().Count);
        Assert.Single((await _api.GetAsync("/v1/evs", cpo))["items"]!.AsArray());
        using var negative = await _api.SendAsync(HttpMethod.Post, "/v1/evs", cpo, new { model = "X", batteryKwh = -1m, maxChargingKw = 11m });
        await ProblemAsync(negative, HttpStatusCode.BadRequest);
    }

    // ---- prequalification ----

    [Fact]
    public async Task Prequalification_PendingFailedQualified_AndTheDsoSeesItsArea()
    {
        var dso = await _api.RegisterAsync("Dso", "DSO", MarketFixture.RuleDsoKey);
        var cpo = await _api.RegisterAsync("Cpo", "CPO", MarketFixture.RuleCpoAKey);
        var transformer = await _api.TransformerAsync(dso);
        var weak = (await _api.PostAsync("/v1/stations", cpo, MarketClient.Station(transformer, "W1", acKw: 2m)))["id"]!.GetValue<string>();
        var failed = await _api.PostAsync($"/v1/stations/{weak}/prequalification", cpo, new { });
        Assert.Equal("Failed", failed["status"]!.GetValue<string>());
        Assert.Contains(failed["reasons"]!.AsArray(), r => r!["rule"]!.GetValue<string>() == "minimum-power");

        var good = (await _api.PostAsync("/v1/stations", cpo, MarketClient.Station(transformer, "W2")))["id"]!.GetValue<string>();
        var qualified = await _api.PostAsync($"/v1/stations/{good}/prequalification", cpo, new { });
        Assert.Equal("Qualified", qualified["status"]!.GetValue<string>());
        Assert.True(qualified["validUntil"]!.GetValue<DateTimeOffset>() > market.Clock.GetUtcNow().AddDays(29));

        var silentDso = await _api.RegisterAsync("Dso", "No rules yet", MarketFixture.RuleDsoKey, publishRequirements: false);
        var silentTransformer = await _api.TransformerAsync(silentDso);
        var waiting = await _api.StationAsync(cpo, silentTransformer, "W3", prequalify: false);
        var pending = await _api.PostAsync($"/v1/stations/{waiting}/prequalification", cpo, new { });
        Assert.Equal("Pending", pending["status"]!.GetValue<string>());
        Assert.Equal("requirements-missing", pending["reasons"]![0]!["rule"]!.GetValue<string>());
        await _api.SendOkAsync(HttpMethod.Put, "/v1/prequalification/requirements", silentDso, new { minimumPowerKw = 7m });
        Assert.Equal("Qualified", (await _api.PostAsync($"/v1/stations/{waiting}/prequalification", cpo, new { }))["status"]!.GetValue<string>());
        Assert.Single((await _api.GetAsync("/v1/prequalifications", silentDso))["items"]!.AsArray());
    }

    [Fact]
    public async Task Prequalification_RequirementsOnForeignTransformer_AreRefused()
    {
        var dso = await _api.RegisterAsync("Dso", "DSO", MarketFixture.RuleDsoKey);
        var other = await _api.RegisterAsync("Dso", "Other", MarketFixture.RuleDsoKey);
        var transformer = await _api.TransformerAsync(other);
        using var response = await _api.SendAsync(HttpMethod.Put, "/v1/prequalification/requirements", dso, new { transformerIds = new[] { transformer }, minimumPowerKw = 1m });
        await ProblemAsync(response, HttpStatusCode.Forbidden, "own-transformer");
    }

    [Fact]
    public async Task Prequalification_DsoListsItsArea_AndNewRequirementsAreRecheckedAtOffer_WithoutRecordingIt()
    {
        var m = await MarketAsync();
        var area = await _api.GetAsync("/v1/prequalifications?status=Qualified", m.Dso);
        Assert.Contains(area["items"]!.AsArray(), e => e!["station"]!["id"]!.GetValue<string>() == m.Station);

        // The DSO raises its minimum above the station's 22 kW: the next offer re-checks and fails with the reason.
        await _api.SendOkAsync(HttpMethod.Put, "/v1/prequalification/requirements", m.Dso, new { minimumPowerKw = 50m, monitoringRequired = true, validityDays = 30 });
        using var offer = await _api.SendAsync(HttpMethod.Post, $"/v1/requests/{m.Request}/offers", m.Cpo, Offer(m.Station));
        var problem = await ProblemAsync(offer, HttpStatusCode.UnprocessableEntity, "qualified");
        Assert.Contains("minimum", problem["detail"]!.GetValue<string>());
        // The offer wrote nothing (it is sealed); applying again records the result.
        Assert.Equal("Qualified", (await _api.GetAsync($"/v1/stations/{m.Station}/prequalification", m.Cpo))["status"]!.GetValue<string>());
        Assert.Equal("Failed", (await _api.PostAsync($"/v1/stations/{m.Station}/prequalification", m.Cpo, new { }))["status"]!.GetValue<string>());
    }

    [Fact]
    public async Task PostOffer_UnappliedStation_IsNotQualified()
    {
        var m = await MarketAsync();
        var fresh = await _api.StationAsync(m.Cpo, m.Transformer, "IT001E00000055", prequalify: false);
        using var response = await _api.SendAsync(HttpMethod.Post, $"/v1/requests/{m.Request}/offers", m.Cpo, Offer(fresh));
        await ProblemAsync(response, HttpStatusCode.UnprocessableEntity, "qualified");
    }

    // ---- requests ----

    [Fact]
    public async Task Requests_ListedByTransformerTimeAndStatus_AndCancelled()
    {
        var m = await MarketAsync();
        var now = market.Clock.GetUtcNow();
        var second = await _api.RequestAsync(m.Dso, m.Transformer, now.AddHours(3), now.AddHours(4));
        var open = await _api.GetAsync($"/v1/requests?transformerId={m.Transformer}&status=Open", m.Cpo);
        Assert.Equal([m.Request, second], open["items"]!.AsArray().Select(r => r!["id"]!.GetValue<string>()));
        var byTime = await _api.GetAsync($"/v1/requests?from={Uri.EscapeDataString(now.AddHours(3).ToString("O"))}&to={Uri.EscapeDataString(now.AddHours(5).ToString("O"))}", m.Cpo);
        Assert.Contains(byTime["items"]!.AsArray(), r => r!["id"]!.GetValue<string>() == second);
        Assert.DoesNotContain(byTime["items"]!.AsArray(), r => r!["id"]!.GetValue<string>() == m.Request);

        var other = await _api.RegisterAsync("Dso", "Other", MarketFixture.RuleDsoKey);
        using var foreign = await _api.SendAsync(HttpMethod.Post, $"/v1/requests/{second}/cancel", other, null);
        await ProblemAsync(foreign, HttpStatusCode.Forbidden, "own-request");
        var cancelled = await _api.PostAsync($"/v1/requests/{second}/cancel", m.Dso, new { });
        Assert.Equal("Cancelled", cancelled["state"]!.GetValue<string>());
        using var offer = await _api.SendAsync(HttpMethod.Post, $"/v1/requests/{second}/offers", m.Cpo, Offer(m.Station));
        await ProblemAsync(offer, HttpStatusCode.Conflict, "gate-closed");
        var stillOpen = await _api.GetAsync($"/v1/requests?transformerId={m.Transformer}&status=Open", m.Cpo);
        Assert.DoesNotContain(stillOpen["items"]!.AsArray(), r => r!["id"]!.GetValue<string>() == second);
    }

    [Fact]
    public async Task PostRequest_ManualSelectionAndMinimumOffer_AreStoredAndEnforced()
    {
        var dso = await _api.RegisterAsync("Dso", "DSO", MarketFixture.RuleDsoKey);
        var cpo = await _api.RegisterAsync("Cpo", "CPO", MarketFixture.RuleCpoAKey);
        var transformer = await _api.TransformerAsync(dso);
        var station = await _api.StationAsync(cpo, transformer);
        var now = market.Clock.GetUtcNow();
        var body = new
        {
            transformerId = transformer, deliveryStart = now.AddHours(3), deliveryEnd = now.AddHours(4), energyKwh = 20m, direction = "ReduceConsumption",
            maxPriceEurPerKwh = 0.5m, gateClosure = now.AddHours(1), pricing = "PayAsClear", minimumOfferKwh = 2m, selection = "Manual", decisionDeadline = now.AddHours(2),
        };
        var request = await _api.PostAsync("/v1/requests", dso, body);
        Assert.Equal("Manual", request["selection"]!.GetValue<string>());
        Assert.Equal(2m, request["minimumOfferKwh"]!.GetValue<decimal>());
        using var small = await _api.SendAsync(HttpMethod.Post, $"/v1/requests/{request["id"]}/offers", cpo, Offer(station, kwh: 1m));
        await ProblemAsync(small, HttpStatusCode.UnprocessableEntity, "minimum-offer-size");
        using var noDeadline = await _api.SendAsync(HttpMethod.Post, "/v1/requests", dso, body with { decisionDeadline = now.AddHours(0.5) });
        await ProblemAsync(noDeadline, HttpStatusCode.UnprocessableEntity, "decision-window");
    }

    // ---- offers ----

    [Fact]
    public async Task Offer_ModifyAndWithdrawUntilGateClosure_ThenConflict()
    {
        var m = await MarketAsync();
        var offer = await _api.PostAsync($"/v1/requests/{m.Request}/offers", m.Cpo, Offer(m.Station, price: 0.3m));
        var id = offer["id"]!.GetValue<string>();
        var modified = await _api.SendOkAsync(HttpMethod.Put, $"/v1/requests/{m.Request}/offers/{id}", m.Cpo, Offer(m.Station, price: 0.25m));
        Assert.Equal(2, modified["revision"]!.GetValue<int>());
        Assert.Equal(id, modified["id"]!.GetValue<string>());
        await _api.SendOkAsync(HttpMethod.Delete, $"/v1/requests/{m.Request}/offers/{id}", m.Cpo, null);
        Assert.Empty((await _api.GetAsync($"/v1/requests/{m.Request}/offers", m.Cpo))["items"]!.AsArray());
        var again = await _api.PostAsync($"/v1/requests/{m.Request}/offers", m.Cpo, Offer(m.Station));

        var gateClosure = (await _api.GetAsync($"/v1/requests/{m.Request}", m.Cpo))["gateClosure"]!.GetValue<DateTimeOffset>();
        market.Clock.Advance(TimeSpan.FromHours(1));
        var againId = again["id"]!.GetValue<string>();
        using var put = await _api.SendAsync(HttpMethod.Put, $"/v1/requests/{m.Request}/offers/{againId}", m.Cpo, Offer(m.Station, price: 0.1m));
        Assert.Contains($"closed at {gateClosure:O}", (await ProblemAsync(put, HttpStatusCode.Conflict, "gate-closed"))["detail"]!.GetValue<string>());
        using var delete = await _api.SendAsync(HttpMethod.Delete, $"/v1/requests/{m.Request}/offers/{againId}", m.Cpo, null);
        Assert.Contains($"closed at {gateClosure:O}", (await ProblemAsync(delete, HttpStatusCode.Conflict, "gate-closed"))["detail"]!.GetValue<string>());
    }

    [Fact]
    public async Task Offers_SealedFromOtherCposAndDsoUntilGateClosure()
    {
        var m = await MarketAsync();
        var offer = (await _api.PostAsync($"/v1/requests/{m.Request}/offers", m.Cpo, Offer(m.Station)))["id"]!.GetValue<string>();
        var rival = await _api.RegisterAsync("Cpo", "Rival", MarketFixture.RuleCpoBKey);
        Assert.Empty((await _api.GetAsync($"/v1/requests/{m.Request}/offers", rival))["items"]!.AsArray());
        using var rivalGet = await _api.SendAsync(HttpMethod.Get, $"/v1/requests/{m.Request}/offers/{offer}", rival, null);
        await ProblemAsync(rivalGet, HttpStatusCode.NotFound);
        using var early = await _api.SendAsync(HttpMethod.Get, $"/v1/requests/{m.Request}/offers", m.Dso, null);
        await ProblemAsync(early, HttpStatusCode.Forbidden, "sealed");
        using var operatorList = await _api.SendAsync(HttpMethod.Get, $"/v1/requests/{m.Request}/offers", Operator, null);
        await ProblemAsync(operatorList, HttpStatusCode.Forbidden, "sealed");
        var otherDso = await _api.RegisterAsync("Dso", "Other", MarketFixture.RuleDsoKey);

        market.Clock.Advance(TimeSpan.FromHours(1));
        Assert.Single((await _api.GetAsync($"/v1/requests/{m.Request}/offers", m.Dso))["items"]!.AsArray());
        Assert.Equal(offer, (await _api.GetAsync($"/v1/requests/{m.Request}/offers/{offer}", m.Dso))["id"]!.GetValue<string>());
        using var late = await _api.SendAsync(HttpMethod.Get, $"/v1/requests/{m.Request}/offers", otherDso, null);
        await ProblemAsync(late, HttpStatusCode.Forbidden, "sealed");
    }
}
