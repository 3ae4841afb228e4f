using FlexChain.Domain;
using FlexChain.Functions.Storage;
using FlexChain.Testing;

namespace FlexChain.EndToEnd.Tests;

/// <summary>
/// The offer fence of a gate cycle: the clearing closes it before reading the offers, and an offer write (add, modify,
/// withdraw) on any request of the cycle that comes after is refused and leaves nothing behind, whatever the writing
/// instance's clock said. Requests of other cycles keep theirs open.
/// </summary>
public sealed class OfferFenceTests(AzuriteFixture azurite) : IClassFixture<AzuriteFixture>
{
    [Fact]
    public async Task OfferWrites_AfterTheCyclesFenceCloses_AreRefusedOnEveryRequestAndLeaveTheClearingInputUnchanged()
    {
        var store = await StoreCollection.NewStoreAsync(azurite);
        var cycleId = await NewCycleAsync(store);
        var request = await StoredAsync(store, LargestCasesTests.Request("req_fence", "dso_fence", kwh: 10), cycleId);
        var sibling = await StoredAsync(store, LargestCasesTests.Request("req_fence_b", "dso_fence_b", kwh: 10), cycleId);
        var elsewhere = await StoredAsync(store, LargestCasesTests.Request("req_fence_c", "dso_fence", kwh: 10), await NewCycleAsync(store));
        // Offers from many CPOs, so that every shard's fence is exercised.
        var before = Enumerable.Range(0, 40).Select(i => LargestCasesTests.Offer(request, i, kwh: 1)).ToList();
        foreach (var o in before) Assert.Equal(OfferWrite.Done, await store.TryAddOfferAsync(request, o, default));
        var siblingOffer = LargestCasesTests.Offer(sibling, 0, kwh: 2);
        Assert.Equal(OfferWrite.Done, await store.TryAddOfferAsync(sibling, siblingOffer, default));
        var withdrawn = (await store.GetOfferForUpdateAsync(request, before[0].CpoId, default))!.Value;
        Assert.Equal(OfferWrite.Done, await store.TryDeleteOfferAsync(request, withdrawn.Value, withdrawn.ETag, default));

        await store.CloseOfferFenceAsync(cycleId, default);
        await store.CloseOfferFenceAsync(cycleId, default);   // a retried clearing closes it again

        var late = Enumerable.Range(40, 40).Select(i => LargestCasesTests.Offer(request, i, kwh: 1)).ToList();
        foreach (var o in late) Assert.Equal(OfferWrite.GateClosed, await store.TryAddOfferAsync(request, o, default));
        Assert.Equal(OfferWrite.GateClosed, await store.TryAddOfferAsync(sibling, LargestCasesTests.Offer(sibling, 1, kwh: 1), default));
        var kept = (await store.GetOfferForUpdateAsync(request, before[1].CpoId, default))!.Value;
        Assert.Equal(OfferWrite.GateClosed, await store.TryReplaceOfferAsync(request, kept.Value with { Energy = KilowattHours.From(9) }, kept.ETag, default));
        Assert.Equal(OfferWrite.GateClosed, await store.TryDeleteOfferAsync(request, kept.Value, kept.ETag, default));
        Assert.Equal(OfferWrite.Done, await store.TryAddOfferAsync(elsewhere, LargestCasesTests.Offer(elsewhere, 0, kwh: 1), default));

        var read = await store.GetOffersAsync(request, default);
        Assert.Equal(before.Skip(1).Select(o => o.Id).Order(), read.Select(o => o.Id).Order());
        Assert.Equal(1m, read.Single(o => o.Id == before[1].Id).Energy.Value);
        Assert.Equal([siblingOffer.Id], (await store.GetOffersAsync(sibling, default)).Select(o => o.Id));
        var cycle = await store.GetCycleOffersAsync(cycleId, default);
        Assert.Equal(before.Skip(1).Append(siblingOffer).Select(o => o.Id).Order(), cycle.Select(o => o.Id).Order());
    }

    [Fact]
    public async Task OfferWrites_WhileTheFenceIsOpen_KeepTheirConflictRules()
    {
        var store = await StoreCollection.NewStoreAsync(azurite);
        var request = await StoredAsync(store, LargestCasesTests.Request("req_fence_open", "dso_fence", kwh: 10), await NewCycleAsync(store));
        var offer = LargestCasesTests.Offer(request, 0, kwh: 1);

        Assert.Equal(OfferWrite.Done, await store.TryAddOfferAsync(request, offer, default));
        Assert.Equal(OfferWrite.Conflict, await store.TryAddOfferAsync(request, offer with { Id = "off_second" }, default));   // one per CPO
        var stored = (await store.GetOfferForUpdateAsync(request, offer.CpoId, default))!.Value;
        Assert.Equal(OfferWrite.Done, await store.TryReplaceOfferAsync(request, offer with { Revision = 2 }, stored.ETag, default));
        Assert.Equal(OfferWrite.Conflict, await store.TryReplaceOfferAsync(request, offer with { Revision = 3 }, stored.ETag, default));   // stale ETag
        Assert.Equal(OfferWrite.Conflict, await store.TryDeleteOfferAsync(request, offer, stored.ETag, default));
        Assert.Equal(2, Assert.Single(await store.GetOffersAsync(request, default)).Revision);
    }

    /// <summary>Opens a gate cycle of this test's own (which opens its fence).</summary>
    private static async Task<string> NewCycleAsync(MarketStore store)
    {
        var closesAt = new DateTimeOffset(2099, 6, 1, 9, 0, 0, TimeSpan.Zero).AddMinutes(15 * Random.Shared.Next(1, 500_000));
        return (await store.GetOrOpenGateCycleAsync(closesAt, closesAt.AddHours(-1), default)).Value.Id;
    }

    private static async Task<FlexRequest> StoredAsync(MarketStore store, FlexRequest request, string cycleId)
    {
        request.JoinGateCycle(cycleId);
        await store.AddRequestAsync(request, default);
        return request;
    }
}
