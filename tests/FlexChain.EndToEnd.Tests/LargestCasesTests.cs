using System.Text.Json;
using Azure.Data.Tables;
using Azure.Storage.Blobs;
using FlexChain.Domain;
using FlexChain.Functions.Storage;
using FlexChain.Messaging;
using FlexChain.Testing;
using Microsoft.Extensions.Caching.Memory;
using Microsoft.Extensions.Options;

namespace FlexChain.EndToEnd.Tests;

/// <summary>
/// The largest cases FlexChain supports, stored through the real store on Azurite: a request cleared with 10,000 offers,
/// a gate cycle of 1,000 requests, escrow batches of 200 awards. Azurite would store entities and transactions that Azure
/// refuses; every write here passes <c>TableLimits</c>, which refuses what Azure would, so these cases fit the real service.
/// </summary>
public sealed class LargestCasesTests(AzuriteFixture azurite) : IClassFixture<AzuriteFixture>
{
    private static readonly DateTimeOffset Now = new(2099, 6, 1, 8, 0, 0, TimeSpan.Zero);

    [Fact]
    public async Task Request_ClearedWithTenThousandOffers_IsStoredWithItsAnnouncementAndReadBackWhole()
    {
        var store = await StoreAsync();
        var request = Request("req_big", "dso_big", kwh: 10_000);
        await store.AddRequestAsync(request, default);
        var offers = Enumerable.Range(0, 10_000).Select(i => Offer(request, i, kwh: 1.5m)).ToList();
        request.Close(ClearingEngine.Clear([request.ToClearingRequest()], offers).For(request.Id), Now.AddHours(1));
        Assert.Equal(10_000, request.Outcomes.Count);
        Assert.True(JsonSerializer.Serialize(request, StoreJson.Options).Length > 10 * MarketStore.InlineDocumentChars);   // far over one property

        var etag = (await store.GetRequestAsync(request.Id, default))!.Value.ETag;
        var saved = await store.TryReplaceRequestAsync(request, etag, default, ("request-events", new OutgoingMessage("req_big:Cleared", "{}")));

        Assert.NotNull(saved);
        var read = (await store.GetRequestAsync(request.Id, default))!.Value;
        Assert.Equal(saved, read.ETag);
        Assert.Equal(JsonSerializer.Serialize(request, StoreJson.Options), JsonSerializer.Serialize(read.Value, StoreJson.Options));
        Assert.Null(await store.TryReplaceRequestAsync(request, etag, default));   // still guarded by the entity's ETag
    }

    [Fact]
    public async Task GateCycle_ThousandRequestsInBatchesOfTwoHundredAwards_IsStoredAndReadBackWhole()
    {
        var store = await StoreAsync();
        var requests = Enumerable.Range(0, 1_000).Select(i =>
        {
            var r = Request($"req_{i:D4}", $"dso_{i % 10}", kwh: 10);
            var offers = Enumerable.Range(0, 10).Select(k => Offer(r, k, kwh: 1)).ToList();
            r.Close(ClearingEngine.Clear([r.ToClearingRequest()], offers).For(r.Id), Now.AddHours(1));
            return r;
        }).ToList();
        var closesAt = Now.AddHours(1).AddMinutes(Random.Shared.Next(1, 500_000));   // a cycle of this test's own
        var cycle = await store.GetOrOpenGateCycleAsync(closesAt, Now, default);
        foreach (var r in requests) Assert.True(await store.TryJoinGateCycleAsync(cycle, r.Id, default));
        cycle = (await store.GetGateCycleAsync(cycle.Value.Id, default))!.Value;
        cycle.Value.Close(closesAt);
        var closed = await store.TryReplaceGateCycleAsync(cycle.Value, cycle.ETag, [], default);

        cycle.Value.Clear(cycle.Value.PlanBatches(requests, maxAwardsPerBatch: 200), requests.Count, closesAt);
        Assert.NotNull(await store.TryReplaceGateCycleAsync(cycle.Value, closed!.Value, Enumerable.Range(0, cycle.Value.Batches.Count), default));

        var read = (await store.GetGateCycleAsync(cycle.Value.Id, default))!.Value.Value;
        Assert.Equal(50, read.Batches.Count);   // 10 DSOs x 1,000 awards each, 200 per batch
        Assert.All(read.Batches, b => Assert.Equal(200, b.Awards.Count));
        Assert.Equal(JsonSerializer.Serialize(cycle.Value.Batches, StoreJson.Options), JsonSerializer.Serialize(read.Batches, StoreJson.Options));
        Assert.Equal(1_000, (await store.GetGateCycleMembersAsync(cycle.Value.Id, default)).Count);
    }

    private Task<MarketStore> StoreAsync() => StoreCollection.NewStoreAsync(azurite);

    internal static FlexRequest Request(string id, string dso, decimal kwh) => FlexRequest.Post(
        id + "_" + Guid.NewGuid().ToString("N")[..8], dso, new GridNode("tr_" + dso, dso, "T", Kilowatts.From(1000)),
        new TimeWindow(Now.AddHours(2), Now.AddHours(3)), KilowattHours.From(kwh), Direction.ReduceConsumption,
        EurosPerKilowattHour.From(0.5m), Now.AddHours(1), PricingRule.PayAsBid, Now);

    internal static Offer Offer(FlexRequest r, int i, decimal kwh) => new(
        $"off_{r.Id}_{i:D5}", r.Id, $"cpo_{i:D5}", [$"st_{r.Id}_{i:D5}"], KilowattHours.From(kwh), EurosPerKilowattHour.From(0.1m + i % 40 / 100m), true,
        Now.AddMinutes(i % 50));
}
