using System.Collections.Concurrent;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using FlexChain.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;

namespace FlexChain.EndToEnd.Tests;

/// <summary>Webhooks (signed, retried, logged, redeliverable) and server-sent events, received by a real HTTP server on loopback.</summary>
[Collection(MarketCollection.Name)]
public sealed class NotificationTests(MarketFixture market)
{
    [Fact]
    public async Task GateCycle_CpoAndDsoSubscribed_EveryEventOncePerRecipientWithValidSignature()
    {
        var api = new MarketClient(market.Client);
        var t0 = market.Clock.GetUtcNow();
        var (dso, cpoA, _, transformer, station, _) =
            await api.SmallMarketAsync("Notify", MarketFixture.DsoKey, MarketFixture.CpoAKey, MarketFixture.CpoBKey, "IT001E00000061", "IT001E00000062");
        await using var receiver = await Receiver.StartAsync();
        var cpoHook = await SubscribeAsync(api, cpoA, receiver.Url("cpo"));
        var dsoHook = await SubscribeAsync(api, dso, receiver.Url("dso"));
        try
        {
            var start = t0.AddHours(2);
            var request = await api.RequestAsync(dso, transformer, t0.AddHours(1), start, kwh: 5m);
            await api.PostAsync($"/v1/requests/{request}/offers", cpoA, new { stationIds = new[] { station }, energyKwh = 5m, priceEurPerKwh = 0.10m, divisible = false });
            market.Clock.SetTo(t0.AddHours(1));
            await api.WaitForStateAsync(request, dso, "Awarded");
            market.Clock.SetTo(start.AddMinutes(30));
            await api.PostQuarterReadingsAsync(cpoA, station, start.AddHours(-1), 5m);
            market.Clock.SetTo(start.AddMinutes(90));
            await api.PostQuarterReadingsAsync(cpoA, station, start, 3.75m);
            market.Clock.SetTo(start.AddMinutes(100));
            await api.WaitForStateAsync(request, dso, "Settled");

            string[] cpoExpected = ["request.published", "gate.closed", "award", "activation", "verification.result", "settlement"];
            string[] dsoExpected = ["gate.closed", "award", "verification.result", "settlement"];
            await Poll.UntilAsync(() => Task.FromResult(receiver.For(request)),
                hits => cpoExpected.All(t => hits.Any(h => h.Path == "/cpo" && h.Event == t)) && dsoExpected.All(t => hits.Any(h => h.Path == "/dso" && h.Event == t)),
                TimeSpan.FromSeconds(30), "every event delivered");
            // A few more gate ticks and dispatcher polls: nothing may arrive twice.
            await Task.Delay(TimeSpan.FromSeconds(3));
            var hits = receiver.For(request);

            Assert.Equal(cpoExpected.Order(), hits.Where(h => h.Path == "/cpo").Select(h => h.Event).Order());
            Assert.Equal(dsoExpected.Order(), hits.Where(h => h.Path == "/dso").Select(h => h.Event).Order());
            foreach (var hit in hits)
            {
                var secret = hit.Path == "/cpo" ? cpoHook.Secret : dsoHook.Secret;
                Assert.Equal(Sign(secret, hit.Timestamp, hit.Body), hit.Signature);
                var json = JsonNode.Parse(hit.Body)!;
                var recipient = hit.Path == "/cpo" && hit.Event != "request.published" ? cpoA.Id : hit.Path == "/dso" ? dso.Id : "role:Cpo";
                Assert.Equal($"{request}:{hit.Event}:{recipient}", json["id"]!.GetValue<string>());
                Assert.Equal(hit.Event, json["type"]!.GetValue<string>());
                Assert.NotNull(json["occurredAt"]);
                Assert.NotNull(json["data"]);
                Assert.StartsWith("dlv_", hit.Delivery);
            }
            var settlement = JsonNode.Parse(hits.Single(h => h.Path == "/cpo" && h.Event == "settlement").Body)!;
            Assert.Equal(cpoA.Id, Assert.Single(settlement["data"]!["payments"]!.AsArray())!["cpoId"]!.GetValue<string>());
        }
        finally
        {
            await UnsubscribeAsync(api, cpoA, cpoHook.Id);
            await UnsubscribeAsync(api, dso, dsoHook.Id);
        }
    }

    [Fact]
    public async Task Dispatcher_ReceiverFailsTwice_DeliveredOnThirdAttemptLoggedAndRedeliverable()
    {
        var api = new MarketClient(market.Client);
        var (dso, cpoA, _, transformer, _, _) =
            await api.SmallMarketAsync("Retry", MarketFixture.DsoKey, MarketFixture.CpoAKey, MarketFixture.CpoBKey, "IT001E00000063", "IT001E00000064");
        await using var receiver = await Receiver.StartAsync(failFirst: 2);
        var hook = await SubscribeAsync(api, cpoA, receiver.Url("flaky"), "request.published");
        try
        {
            var t0 = market.Clock.GetUtcNow();
            var request = await api.RequestAsync(dso, transformer, t0.AddHours(1), t0.AddHours(2), kwh: 5m);

            // Backoff follows the market clock: 1 s after the first failure, 2 s after the second.
            await WaitForAttemptsAsync(api, cpoA, hook.Id, 1);
            market.Clock.Advance(TimeSpan.FromSeconds(1));
            await WaitForAttemptsAsync(api, cpoA, hook.Id, 2);
            market.Clock.Advance(TimeSpan.FromSeconds(2));
            var delivery = await WaitForAttemptsAsync(api, cpoA, hook.Id, 3);

            Assert.Equal("Delivered", delivery["state"]!.GetValue<string>());
            var attempts = delivery["attempts"]!.AsArray();
            Assert.Equal([500, 500, 200], attempts.Select(a => a!["status"]!.GetValue<int>()));
            Assert.NotNull(attempts[0]!["error"]);
            Assert.True(attempts[1]!["at"]!.GetValue<DateTimeOffset>() - attempts[0]!["at"]!.GetValue<DateTimeOffset>() >= TimeSpan.FromSeconds(1));
            var accepted = receiver.For(request).Where(h => h.Status == 200).ToList();
            Assert.Equal(Sign(hook.Secret, Assert.Single(accepted).Timestamp, accepted[0].Body), accepted[0].Signature);

            var deliveryId = delivery["id"]!.GetValue<string>();
            using (var redeliver = await api.SendAsync(HttpMethod.Post, $"/v1/webhooks/deliveries/{deliveryId}/redeliver", cpoA, new { }))
                Assert.Equal(HttpStatusCode.Accepted, redeliver.StatusCode);
            var again = await WaitForAttemptsAsync(api, cpoA, hook.Id, 4);
            Assert.True(again["attempts"]![3]!["redelivery"]!.GetValue<bool>());
            Assert.Equal(2, receiver.For(request).Count(h => h.Status == 200 && h.Delivery == deliveryId));
            using (var other = await api.SendAsync(HttpMethod.Post, $"/v1/webhooks/deliveries/{deliveryId}/redeliver", dso, new { }))
                Assert.Equal(HttpStatusCode.NotFound, other.StatusCode);
        }
        finally
        {
            await UnsubscribeAsync(api, cpoA, hook.Id);
        }
    }

    [Fact]
    public async Task Events_OpenStream_ReceivesRequestPublished()
    {
        var api = new MarketClient(market.Client);
        var (dso, cpoA, _, transformer, _, _) =
            await api.SmallMarketAsync("Stream", MarketFixture.DsoKey, MarketFixture.CpoAKey, MarketFixture.CpoBKey, "IT001E00000065", "IT001E00000066");
        using var message = new HttpRequestMessage(HttpMethod.Get, "/v1/events");
        message.Headers.Add("X-Api-Key", cpoA.ApiKey);
        using var response = await market.Client.SendAsync(message, HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType!.MediaType);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());

        var t0 = market.Clock.GetUtcNow();
        var request = await api.RequestAsync(dso, transformer, t0.AddHours(1), t0.AddHours(2), kwh: 5m);

        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var fields = new Dictionary<string, string>();
        while (await reader.ReadLineAsync(timeout.Token) is { } line)
        {
            if (line.Length == 0)
            {
                if (fields.GetValueOrDefault("id") == $"{request}:request.published:role:Cpo") break;
                fields.Clear();
                continue;
            }
            if (line.IndexOf(':') is > 0 and var colon) fields[line[..colon]] = line[(colon + 1)..].TrimStart();
        }
        Assert.Equal("request.published", fields["event"]);
        Assert.Equal(request, JsonNode.Parse(fields["data"])!["requestId"]!.GetValue<string>());
    }

    [Fact]
    public async Task Events_ReconnectWithLastEventId_SendsTheLaterEventsInOrderAndNotThatOne()
    {
        var api = new MarketClient(market.Client);
        var (dso, cpoA, _, transformer, _, _) =
            await api.SmallMarketAsync("Resume", MarketFixture.DsoKey, MarketFixture.CpoAKey, MarketFixture.CpoBKey, "IT001E00000067", "IT001E00000068");
        var t0 = market.Clock.GetUtcNow();
        var requests = new List<string>();
        var store = await StoreCollection.NewStoreAsync(market.StorageConnectionString);
        for (var i = 0; i < 3; i++)
        {
            var request = await api.RequestAsync(dso, transformer, t0.AddHours(1), t0.AddHours(2), kwh: 5m);
            requests.Add(request);
            // Published through the outbox and the request-events queue: one after the other, so the stream has them in this order.
            await FlexChain.Testing.Poll.UntilAsync(() => store.EventExistsAsync("role:Cpo", $"{request}:request.published:role:Cpo", default),
                found => found, TimeSpan.FromSeconds(30), $"request.published for {request}");
            market.Clock.Advance(TimeSpan.FromSeconds(1));
        }
        using var message = new HttpRequestMessage(HttpMethod.Get, "/v1/events");
        message.Headers.Add("X-Api-Key", cpoA.ApiKey);
        message.Headers.Add("Last-Event-ID", $"{requests[0]}:request.published:role:Cpo");
        using var response = await market.Client.SendAsync(message, HttpCompletionOption.ResponseHeadersRead);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());

        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var mine = new List<string>();
        var id = "";
        while (await reader.ReadLineAsync(timeout.Token) is { } line)
        {
            if (line.StartsWith("id:", StringComparison.Ordinal)) id = line[3..].Trim();
            if (line.Length > 0 || requests.All(r => !id.StartsWith(r + ":", StringComparison.Ordinal))) continue;
            mine.Add(id);
            if (id.StartsWith(requests[2] + ":", StringComparison.Ordinal)) break;
        }
        Assert.Equal([$"{requests[1]}:request.published:role:Cpo", $"{requests[2]}:request.published:role:Cpo"], mine);
    }

    [Fact]
    public async Task CreateWebhook_BadInput_ProblemNamesTheField()
    {
        var api = new MarketClient(market.Client);
        var cpo = await api.RegisterAsync("Cpo", "Webhook rules CPO", MarketFixture.CpoAKey, proveWallet: false);
        foreach (var (url, events, field) in new (string?, string[]?, string)[]
        {
            ("not a url", ["award"], "url"), ("ftp://example.org/hook", ["award"], "url"), ("/relative", ["award"], "url"), (null, ["award"], "url"),
            ("https://example.org/hook", ["nonsense"], "events[0]"), ("https://example.org/hook", [], "events"),
        })
        {
            using var response = await api.SendAsync(HttpMethod.Post, "/v1/webhooks", cpo, new { url, events });
            var problem = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
            Assert.True(response.StatusCode == HttpStatusCode.BadRequest, $"{url}: {problem}");
            Assert.Equal(field, problem["field"]!.GetValue<string>());
            Assert.NotNull(problem["rule"]);
        }
        using var anonymous = await api.SendAsync(HttpMethod.Post, "/v1/webhooks", null, new { url = "https://example.org/hook", events = new[] { "award" } });
        Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);

        // A good subscription: the secret is shown once, never in the list.
        var created = await api.PostAsync("/v1/webhooks", cpo, new { url = "https://example.org/hook", events = new[] { "award", "settlement" } });
        Assert.StartsWith("whsec_", created["secret"]!.GetValue<string>());
        var listed = Assert.Single((await api.GetAsync("/v1/webhooks", cpo))["items"]!.AsArray())!;
        Assert.Null(listed["secret"]);
        await UnsubscribeAsync(api, cpo, created["id"]!.GetValue<string>());
        Assert.Empty((await api.GetAsync("/v1/webhooks", cpo))["items"]!.AsArray());
    }

    private sealed record Hook(string Id, string Secret);

    private static async Task<Hook> SubscribeAsync(MarketClient api, Caller caller, string url, params string[] events)
    {
        var body = await api.PostAsync("/v1/webhooks", caller, new
        {
            url, events = events.Length > 0 ? events : ["request.published", "gate.closed", "award", "activation", "verification.result", "settlement"],
        });
        return new Hook(body["id"]!.GetValue<string>(), body["secret"]!.GetValue<string>());
    }

    private static async Task UnsubscribeAsync(MarketClient api, Caller caller, string id)
    {
        using var response = await api.SendAsync(HttpMethod.Delete, $"/v1/webhooks/{id}", caller, null);
        Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);
    }

    private static async Task<JsonNode> WaitForAttemptsAsync(MarketClient api, Caller caller, string hookId, int attempts) =>
        await Poll.UntilAsync(async () => (await api.GetAsync($"/v1/webhooks/{hookId}/deliveries", caller))["items"]!.AsArray().SingleOrDefault()
                ?? new JsonObject { ["attempts"] = new JsonArray() },
            d => d["attempts"]!.AsArray().Count >= attempts, TimeSpan.FromSeconds(30), $"{attempts} attempt(s)");

    /// <summary>What a receiver checks: the HMAC-SHA256 of <c>{timestamp}.{body}</c> (and, in production, that the timestamp is recent).</summary>
    internal static string Sign(string secret, string timestamp, string body) =>
        "sha256=" + Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), Encoding.UTF8.GetBytes(timestamp + "." + body)));

    internal sealed record Hit(string Path, string Event, string Delivery, string Signature, string Timestamp, string Body, int Status);

    /// <summary>A real HTTP server on a free loopback port that records every POST; it can fail the first N.</summary>
    internal sealed class Receiver : IAsyncDisposable
    {
        private readonly WebApplication _app;
        private readonly ConcurrentQueue<Hit> _hits = new();
        private int _toFail;

        private Receiver(int failFirst)
        {
            _toFail = failFirst;
            var builder = WebApplication.CreateSlimBuilder();
            builder.WebHost.UseUrls("http://127.0.0.1:0");
            _app = builder.Build();
            _app.MapPost("/{name}", async (HttpContext http) =>
            {
                using var reader = new StreamReader(http.Request.Body, Encoding.UTF8);
                var body = await reader.ReadToEndAsync();
                var status = Interlocked.Decrement(ref _toFail) >= 0 ? 500 : 200;
                _hits.Enqueue(new Hit(http.Request.Path, http.Request.Headers["X-FlexChain-Event"].ToString(), http.Request.Headers["X-FlexChain-Delivery"].ToString(),
                    http.Request.Headers["X-FlexChain-Signature"].ToString(), http.Request.Headers["X-FlexChain-Timestamp"].ToString(), body, status));
                return Results.StatusCode(status);
            });
        }

        public static async Task<Receiver> StartAsync(int failFirst = 0)
        {
            var receiver = new Receiver(failFirst);
            await receiver._app.StartAsync();
            return receiver;
        }

        public string Url(string path) => _app.Urls.First().TrimEnd('/') + "/" + path;

        /// <summary>The port the receiver listens on (127.0.0.1).</summary>
        public int Port => new Uri(_app.Urls.First()).Port;

        public IReadOnlyList<Hit> All => [.. _hits];

        /// <summary>Hits whose event is about <paramref name="requestId"/>.</summary>
        public List<Hit> For(string requestId) =>
            _hits.Where(h => JsonNode.Parse(h.Body)?["requestId"]?.GetValue<string>() == requestId).ToList();

        public async ValueTask DisposeAsync()
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }
    }
}
