using FlexChain.Functions.Storage;
using FlexChain.Testing;

namespace FlexChain.EndToEnd.Tests;

/// <summary>
/// The offer fence: the clearing closes it before reading the offers, and an offer write (add, modify, withdraw) that
/// comes after is refused and leaves nothing behind, whatever the writing instance's clock said.
/// </summary>
public sealed class OfferFenceTests(AzuriteFixture azurite) : IClassFixture<AzuriteFixture>
{
    [Fact]
    public async Task OfferWrites_AfterTheFenceCloses_AreRefusedAndLeaveTheClearingInputUnchanged()
    {
        var store = await StoreCollection.NewStoreAsync(azurite);
        var request = LargestCasesTests.Request("req_fence", "dso_fence", kwh: 10);
        await store.AddRequestAsync(request, default);
        // Offers in many shards of the request, so that every shard's fence is exercised.
        var before = Enumerable.Range(0, 40).Select(i => LargestCasesTests.Offer(request, i, kwh: 1)).ToList();
        foreach (var o in before) Assert.Equal(OfferWrite.Done, await store.TryAddOfferAsync(o, default));
        var withdrawn = (await store.GetOfferForUpdateAsync(request.Id, before[0].CpoId, default))!.Value;
        Assert.Equal(OfferWrite.Done, await store.TryDeleteOfferAsync(withdrawn.Value, withdrawn.ETag, default));

        await store.CloseOfferFenceAsync(request.Id, default);
        await store.CloseOfferFenceAsync(request.Id, default);   // a retried clearing closes it again

        var late = Enumerable.Range(40, 40).Select(i => LargestCasesTests.Offer(request, i, kwh: 1)).ToList();
        foreach (var o in late) Assert.Equal(OfferWrite.GateClosed, await store.TryAddOfferAsync(o, default));
        var kept = (await store.GetOfferForUpdateAsync(request.Id, before[1].CpoId, default))!.Value;
        Assert.Equal(OfferWrite.GateClosed, await store.TryReplaceOfferAsync(kept.Value with { Energy = FlexChain.Domain.KilowattHours.From(9) }, kept.ETag, default));
        Assert.Equal(OfferWrite.GateClosed, await store.TryDeleteOfferAsync(kept.Value, kept.ETag, default));

        var read = await store.GetOffersAsync(request.Id, default);
        Assert.Equal(before.Skip(1).Select(o => o.Id).Order(), read.Select(o => o.Id).Order());
        Assert.Equal(1m, read.Single(o => o.Id == before[1].Id).Energy.Value);
    }

    [Fact]
    public async Task OfferWrites_WhileTheFenceIsOpen_KeepTheirConflictRules()
    {
        var store = await StoreCollection.NewStoreAsync(azurite);
        var request = LargestCasesTests.Request("req_fence_open", "dso_fence", kwh: 10);
        await store.AddRequestAsync(request, default);
        var offer = LargestCasesTests.Offer(request, 0, kwh: 1);

        Assert.Equal(OfferWrite.Done, await store.TryAddOfferAsync(offer, default));
        Assert.Equal(OfferWrite.Conflict, await store.TryAddOfferAsync(offer with { Id = "off_second" }, default));   // one per CPO
        var stored = (await store.GetOfferForUpdateAsync(request.Id, offer.CpoId, default))!.Value;
        Assert.Equal(OfferWrite.Done, await store.TryReplaceOfferAsync(offer with { Revision = 2 }, stored.ETag, default));
        Assert.Equal(OfferWrite.Conflict, await store.TryReplaceOfferAsync(offer with { Revision = 3 }, stored.ETag, default));   // stale ETag
        Assert.Equal(OfferWrite.Conflict, await store.TryDeleteOfferAsync(offer, stored.ETag, default));
        Assert.Equal(2, Assert.Single(await store.GetOffersAsync(request.Id, default)).Revision);
    }
}
