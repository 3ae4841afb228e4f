using FlexChain.Functions.Notifications;
using FlexChain.Functions.Storage;
using FlexChain.Testing;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace FlexChain.EndToEnd.Tests;

/// <summary>The due-delivery index, sharded by due minute, and the dispatcher's handling of stale index rows.</summary>
[Collection(StoreCollection.Name)]
public sealed class DueDeliveryIndexTests(AzuriteFixture azurite)
{
    // The earliest years of this collection: no other class's pending delivery is due by this clock.
    private static readonly DateTimeOffset T = new(2029, 3, 4, 10, 0, 30, TimeSpan.Zero);

    private static string NewParticipant() => "cpo_due_" + Guid.NewGuid().ToString("N")[..12];

    private static async Task<List<DueDelivery>> DueOfAsync(MarketStore store, string participantId, DateTimeOffset now) =>
        (await store.GetDueDeliveriesAsync(now, CancellationToken.None)).Where(d => d.ParticipantId == participantId).ToList();

    [Fact]
    public async Task GetDueDeliveriesAsync_DueInDifferentMinutes_AllFoundInDueOrderAndNoneEarly()
    {
        var store = await StoreCollection.NewStoreAsync(azurite);
        var participant = NewParticipant();
        // 40 deliveries 7 s apart: five minutes, and their ids spread over the shards of each minute.
        var due = Enumerable.Range(0, 40).Select(i => (Id: $"dlv_{i:D2}_{Guid.NewGuid():N}", Due: T.AddSeconds(7 * i))).ToList();
        foreach (var (id, at) in due) await store.SetDueAsync(participant, id, at, CancellationToken.None);

        foreach (var now in new[] { T.AddTicks(-1), T, T.AddSeconds(29), T.AddMinutes(1), T.AddSeconds(150), T.AddSeconds(7 * 39), T.AddHours(1) })
        {
            var found = await DueOfAsync(store, participant, now);

            Assert.Equal(due.Where(d => d.Due <= now).Select(d => d.Id), found.Select(f => f.DeliveryId));
            Assert.All(found, f => Assert.Equal(due.Single(d => d.Id == f.DeliveryId).Due, f.Due));
        }
    }

    [Fact]
    public async Task MoveDueAsync_ToALaterMinute_FoundOnlyAtItsNewTime()
    {
        var store = await StoreCollection.NewStoreAsync(azurite);
        var participant = NewParticipant();
        var row = await store.SetDueAsync(participant, "dlv_move", T, CancellationToken.None);

        var moved = await store.MoveDueAsync(row, T.AddMinutes(3), CancellationToken.None);

        Assert.Empty(await DueOfAsync(store, participant, T.AddMinutes(2)));
        Assert.Equal(moved.Due, Assert.Single(await DueOfAsync(store, participant, T.AddMinutes(3))).Due);
    }

    [Fact]
    public async Task ClearDueAsync_RowWrittenAgainSinceItWasRead_KeepsIt()
    {
        var store = await StoreCollection.NewStoreAsync(azurite);
        var participant = NewParticipant();
        var read = await store.SetDueAsync(participant, "dlv_again", T, CancellationToken.None);
        await store.SetDueAsync(participant, "dlv_again", T, CancellationToken.None);   // a redelivery due at the same tick

        await store.ClearDueAsync(read, CancellationToken.None);

        Assert.Single(await DueOfAsync(store, participant, T));
    }

    [Fact]
    public async Task RunOnceAsync_StaleRowBeforeTheDeliverysNextAttempt_MovesItThereWithoutAttempting()
    {
        var store = await StoreCollection.NewStoreAsync(azurite);
        var participant = NewParticipant();
        var delivery = NewDelivery(participant) with { NextAttemptAt = T.AddMinutes(10) };
        await store.AddDeliveryAsync(delivery, T.AddMinutes(10), CancellationToken.None);
        await store.SetDueAsync(participant, delivery.Id, T, CancellationToken.None);   // left behind by a crash mid-move
        var clock = new ManualClock(T.AddMinutes(1));

        using var dispatcher = Dispatcher(store, clock);
        await dispatcher.RunOnceAsync(CancellationToken.None);

        var stored = (await store.GetDeliveryAsync(participant, delivery.Id, CancellationToken.None))!.Value.Value;
        Assert.Equal((DeliveryState.Pending, 0, T.AddMinutes(10)), (stored.State, stored.Attempts.Count, stored.NextAttemptAt));
        Assert.Empty(await DueOfAsync(store, participant, T.AddMinutes(10).AddTicks(-1)));
        Assert.Single(await DueOfAsync(store, participant, T.AddMinutes(10)));
    }

    [Fact]
    public async Task RunOnceAsync_DueDeliveryOfADeletedSubscription_AttemptedOnceEndedAndUnindexed()
    {
        var store = await StoreCollection.NewStoreAsync(azurite);
        var participant = NewParticipant();
        var delivery = NewDelivery(participant) with { NextAttemptAt = T };
        await store.AddDeliveryAsync(delivery, T, CancellationToken.None);
        var clock = new ManualClock(T.AddSeconds(1));
        using var dispatcher = Dispatcher(store, clock);

        await dispatcher.RunOnceAsync(CancellationToken.None);
        await dispatcher.RunOnceAsync(CancellationToken.None);

        var stored = (await store.GetDeliveryAsync(participant, delivery.Id, CancellationToken.None))!.Value.Value;
        Assert.Equal(DeliveryState.DeadLettered, stored.State);
        Assert.Equal("subscription-deleted", Assert.Single(stored.Attempts).Error);
        Assert.Empty(await DueOfAsync(store, participant, T.AddYears(1)));
    }

    private static WebhookDelivery NewDelivery(string participant) =>
        new("dlv_" + Guid.NewGuid().ToString("N"), "wh_gone", participant, "req_1:award:" + participant, EventTypes.Award, "{}", T);

    private static WebhookDispatcher Dispatcher(MarketStore store, TimeProvider clock)
    {
        var options = Options.Create(new NotificationOptions { SecretKey = Convert.ToBase64String(new byte[32]) });
        return new(store, new WebhookSecrets(options, new Microsoft.Extensions.Configuration.ConfigurationBuilder().Build()), clock, options, NullLogger<WebhookDispatcher>.Instance);
    }
}
