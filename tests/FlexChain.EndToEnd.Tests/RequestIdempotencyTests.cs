using System.Net;
using System.Text.Json.Nodes;
using Azure.Data.Tables;
using FlexChain.Testing;

namespace FlexChain.EndToEnd.Tests;

/// <summary>A request or an offer is created once: retries with one Idempotency-Key find what an earlier attempt stored.</summary>
[Collection(MarketCollection.Name)]
public sealed class RequestIdempotencyTests(MarketFixture market)
{
    [Fact]
    public async Task PostRequest_FirstAttemptFailsAfterStoring_RetryReturnsTheSameRequestAndItIsPublishedOnce()
    {
        var api = new MarketClient(market.Client);
        var dso = await api.RegisterAsync("Dso", "Idempotent DSO", MarketFixture.DsoKey);
        var transformer = await api.TransformerAsync(dso);
        var t0 = market.Clock.GetUtcNow();
        var body = new JsonObject
        {
            ["transformerId"] = transformer, ["deliveryStart"] = t0.AddHours(2).ToString("O"), ["deliveryEnd"] = t0.AddHours(3).ToString("O"),
            ["energyKwh"] = 3m, ["direction"] = "ReduceConsumption", ["maxPriceEurPerKwh"] = 0.5m, ["gateClosure"] = t0.AddHours(1).ToString("O"),
            ["pricing"] = "PayAsBid",
        };
        // A retry sends the same body, the DSO's signed consent included.
        body["consent"] = await api.ConsentAsync(MarketFixture.DsoKey, body);
        var key = Guid.NewGuid().ToString();

        // The request and its request.published row are stored together, then sending the announcement fails: no 2xx.
        market.MessageSendsRefused = true;
        try
        {
            using var failed = await api.SendAsync(HttpMethod.Post, "/v1/requests", dso, body, key);
            Assert.False(failed.IsSuccessStatusCode, await failed.Content.ReadAsStringAsync());
        }
        finally
        {
            market.MessageSendsRefused = false;
        }
        var stored = await ListAsync(api, dso, transformer, t0);
        var id = Assert.Single(stored);

        using var retried = await api.SendAsync(HttpMethod.Post, "/v1/requests", dso, body, key);
        Assert.Equal(HttpStatusCode.Created, retried.StatusCode);
        Assert.Equal(id, JsonNode.Parse(await retried.Content.ReadAsStringAsync())!["id"]!.GetValue<string>());
        using var replayed = await api.SendAsync(HttpMethod.Post, "/v1/requests", dso, body, key);
        Assert.Equal("true", replayed.Headers.GetValues("Idempotent-Replayed").Single());
        Assert.Equal([id], await ListAsync(api, dso, transformer, t0));

        // The announcement left the outbox (sent by the retry) and was published to the CPOs once.
        var requests = new TableServiceClient(market.StorageConnectionString).GetTableClient("requests");
        var row = await requests.GetEntityIfExistsAsync<TableEntity>(id, FlexChain.Messaging.Outbox.OutboxBatch.RowKeyFor($"{id}:Open"));
        Assert.True(row.HasValue && row.Value!.GetBoolean("Dispatched") == true);
        var store = await StoreCollection.NewStoreAsync(market.StorageConnectionString);
        await Poll.UntilAsync(() => store.EventExistsAsync("role:Cpo", $"{id}:request.published:role:Cpo", default), found => found,
            TimeSpan.FromSeconds(30), $"request.published for {id}");

        // Cancel it, so the gate cycles that follow have nothing to do with it.
        await api.PostAsync($"/v1/requests/{id}/cancel", dso, new { });
    }

    /// <summary>
    /// An offer whose first attempt was stored but never answered (its instance died before the key's answer was kept,
    /// and the retry took the key over): the retry gets that offer, not a refusal, so a CPO never reads "not taken" for
    /// an offer that is in the clearing. The key's record is removed here to stand for the answer that was never kept.
    /// </summary>
    [Fact]
    public async Task PostOffer_RetryAfterAnAttemptStoredItUnanswered_ReturnsThatOffer()
    {
        var api = new MarketClient(market.Client);
        var m = await api.SmallMarketAsync("Idempotent offer", MarketFixture.DsoKey, MarketFixture.CpoAKey, MarketFixture.CpoBKey, "IT001E00000981", "IT001E00000982");
        var t0 = market.Clock.GetUtcNow();
        var request = await api.RequestAsync(m.Dso, m.Transformer, t0.AddHours(1), t0.AddHours(2), 1m);
        var body = new { stationIds = new[] { m.StationA }, energyKwh = 0.5m, priceEurPerKwh = 0.2m, divisible = true };
        var key = Guid.NewGuid().ToString();
        using var first = await api.SendAsync(HttpMethod.Post, $"/v1/requests/{request}/offers", m.CpoA, body, key);
        Assert.Equal(HttpStatusCode.Created, first.StatusCode);
        var id = JsonNode.Parse(await first.Content.ReadAsStringAsync())!["id"]!.GetValue<string>();
        var keys = new TableServiceClient(market.StorageConnectionString).GetTableClient(FlexChain.Functions.Storage.MarketStore.IdempotencyTable(t0));
        var keyHash = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(key)));
        await keys.DeleteEntityAsync(m.CpoA.Id, keyHash);

        using var retried = await api.SendAsync(HttpMethod.Post, $"/v1/requests/{request}/offers", m.CpoA, body, key);

        Assert.Equal(HttpStatusCode.Created, retried.StatusCode);
        Assert.Equal(id, JsonNode.Parse(await retried.Content.ReadAsStringAsync())!["id"]!.GetValue<string>());
        var offers = (await api.GetAsync($"/v1/requests/{request}/offers", m.CpoA))["items"]!.AsArray();
        Assert.Equal(id, Assert.Single(offers)!["id"]!.GetValue<string>());
        // Another key is another offer: refused, one per CPO and request.
        using var other = await api.SendAsync(HttpMethod.Post, $"/v1/requests/{request}/offers", m.CpoA, body, Guid.NewGuid().ToString());
        Assert.Equal(HttpStatusCode.Conflict, other.StatusCode);
        await api.PostAsync($"/v1/requests/{request}/cancel", m.Dso, new { });
    }

    private static async Task<List<string>> ListAsync(MarketClient api, Caller dso, string transformer, DateTimeOffset t0) =>
        (await api.GetAsync($"/v1/requests?transformerId={transformer}&from={Uri.EscapeDataString(t0.ToString("O"))}&to={Uri.EscapeDataString(t0.AddDays(1).ToString("O"))}", dso))["items"]!
            .AsArray().Select(r => r!["id"]!.GetValue<string>()).ToList();
}
