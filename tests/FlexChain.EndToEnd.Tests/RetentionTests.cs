using Azure.Data.Tables;
using Azure.Storage.Queues;
using FlexChain.Domain;
using FlexChain.Functions.Hosting;
using FlexChain.Functions.Notifications;
using FlexChain.Functions.Retention;
using FlexChain.Functions.Storage;
using FlexChain.Messaging;
using FlexChain.Messaging.Outbox;
using FlexChain.Messaging.StorageQueues;
using FlexChain.Testing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace FlexChain.EndToEnd.Tests;

/// <summary>The Retention timer's sweep with the default periods on a manual clock: old rows go; recent rows and what is still needed stay.</summary>
[Collection(StoreCollection.Name)]
public sealed class RetentionTests(AzuriteFixture azurite)
{
    // The latest years of this collection, so that what this sweep deletes of other classes is long done with.
    private readonly ManualClock _clock = new(new DateTimeOffset(2031, 5, 10, 12, 0, 0, TimeSpan.Zero));
    private readonly TableServiceClient _tables = new(azurite.ConnectionString);

    private async Task<RetentionResult> SweepAsync(MarketStore store) =>
        await new RetentionSweeper(store, _tables, _clock, Options.Create(new RetentionOptions()), NullLogger<RetentionSweeper>.Instance)
            .SweepAsync(CancellationToken.None);

    [Fact]
    public async Task SweepAsync_RequestOutbox_RowsDispatchedOverSevenDaysAgoGoWhileRecentAndPendingStay()
    {
        var store = await StoreCollection.NewStoreAsync(azurite);
        var requests = _tables.GetTableClient("requests");
        var request = "req_retention_" + Guid.NewGuid().ToString("N")[..12];
        var batch = new OutboxBatch(request).Add(new TableTransactionAction(TableTransactionActionType.Add, new TableEntity(request, "doc")));
        foreach (var state in new[] { "Cleared", "Awarded", "Settled" }) batch.AddMessage("retention-test", new OutgoingMessage($"{request}:{state}", "{}"));
        await new OutboxWriter(requests).CommitAsync(batch);
        var outbox = store.RequestOutbox(new StorageQueueBroker(new QueueServiceClient(azurite.ConnectionString)), _clock);
        await outbox.DispatchMessageAsync(request, $"{request}:Cleared");
        _clock.Advance(TimeSpan.FromDays(6));
        await outbox.DispatchMessageAsync(request, $"{request}:Awarded");   // Settled stays pending
        _clock.Advance(TimeSpan.FromDays(2));

        await SweepAsync(store);

        var rows = await requests.QueryAsync<TableEntity>(TableClient.CreateQueryFilter($"PartitionKey eq {request}")).ToListAsync();
        Assert.Equal(["doc", OutboxBatch.RowKeyFor($"{request}:Awarded"), OutboxBatch.RowKeyFor($"{request}:Settled")], rows.Select(r => r.RowKey));
        Assert.False(rows[2].GetBoolean("Dispatched"));
    }

    [Fact]
    public async Task SweepAsync_ProcessedMessageIds_ForgottenAfterSevenDays()
    {
        var store = await StoreCollection.NewStoreAsync(azurite);
        var queue = new StorageQueueBroker(new QueueServiceClient(azurite.ConnectionString)).GetQueue("retention-" + Guid.NewGuid().ToString("N")[..12]);
        var consumer = new IdempotentConsumer(_tables.GetTableClient(LocalTriggerDriver.ProcessedTable), "RequestEvents", _clock);
        var (old, recent) = ("old-" + Guid.NewGuid().ToString("N"), "recent-" + Guid.NewGuid().ToString("N"));
        async Task HandleAsync(string id)
        {
            await queue.SendAsync(new OutgoingMessage(id, "{}"));
            await consumer.HandleAsync(queue, (await queue.ReceiveAsync())!, (_, _) => Task.CompletedTask);
        }
        await HandleAsync(old);
        _clock.Advance(TimeSpan.FromDays(5));
        await HandleAsync(recent);
        _clock.Advance(TimeSpan.FromDays(3));

        await SweepAsync(store);

        Assert.False(await consumer.HasProcessedAsync(old));
        Assert.True(await consumer.HasProcessedAsync(recent));
    }

    [Fact]
    public async Task SweepAsync_EventsOfParticipantsAndEveryCpo_GoAfterThirtyDays()
    {
        var store = await StoreCollection.NewStoreAsync(azurite);
        var participant = await NewParticipantAsync(store);
        NotificationEvent Event(string recipient, string request) =>
            new($"{request}:{EventTypes.Award}:{recipient}", EventTypes.Award, _clock.GetUtcNow(), request, recipient, "{}");
        var request = "req_retention_" + Guid.NewGuid().ToString("N")[..12];
        var old = new[] { Event(participant, request + "a"), Event(NotificationPublisher.CpoAudience, request + "a") };
        foreach (var e in old) await store.TryAddEventAsync(e, _clock.GetUtcNow(), CancellationToken.None);
        _clock.Advance(TimeSpan.FromDays(20));
        var recent = new[] { Event(participant, request + "b"), Event(NotificationPublisher.CpoAudience, request + "b") };
        foreach (var e in recent) await store.TryAddEventAsync(e, _clock.GetUtcNow(), CancellationToken.None);
        _clock.Advance(TimeSpan.FromDays(11));

        await SweepAsync(store);

        foreach (var e in old)
        {
            Assert.False(await store.EventExistsAsync(e.Recipient, e.Id, CancellationToken.None));
            Assert.True(await store.TryAddEventAsync(e, _clock.GetUtcNow(), CancellationToken.None));   // forgotten whole, id row too
        }
        foreach (var e in recent) Assert.NotNull(await store.GetEventAsync(e.Recipient, e.Id, CancellationToken.None));
    }

    [Fact]
    public async Task SweepAsync_Deliveries_EndedOverThirtyDaysAgoGoWhilePendingRedeliveredAndRecentStay()
    {
        var store = await StoreCollection.NewStoreAsync(azurite);
        var participant = await NewParticipantAsync(store);
        var t0 = _clock.GetUtcNow();
        var delivered = await EndedAsync(store, participant, DeliveryState.Delivered, t0);
        var failed = await EndedAsync(store, participant, DeliveryState.Failed, t0);
        var redelivered = await EndedAsync(store, participant, DeliveryState.Delivered, t0);
        var stillDue = Delivery(participant, t0) with { NextAttemptAt = t0.AddDays(40) };   // never attempted: still due
        await store.AddDeliveryAsync(stillDue, t0.AddDays(40), CancellationToken.None);
        _clock.Advance(TimeSpan.FromDays(25));
        var recent = await EndedAsync(store, participant, DeliveryState.Delivered, _clock.GetUtcNow());
        var read = (await store.GetDeliveryAsync(participant, redelivered.Id, CancellationToken.None))!.Value;
        await store.TryReplaceDeliveryAsync(read.Value with { State = DeliveryState.Pending, RoundAttempts = 0, Redelivering = true, NextAttemptAt = _clock.GetUtcNow() },
            read.ETag, CancellationToken.None);
        _clock.Advance(TimeSpan.FromDays(6));

        await SweepAsync(store);

        var kept = (await store.ListDeliveriesAsync(participant, "wh_retention", 100, null, CancellationToken.None)).Items.Select(d => d.Id).Order().ToList();
        Assert.Equal(new[] { redelivered.Id, stillDue.Id, recent.Id }.Order(), kept);
        Assert.Null(await store.GetDeliveryAsync(participant, delivered.Id, CancellationToken.None));
        Assert.Null(await store.GetDeliveryAsync(participant, failed.Id, CancellationToken.None));
    }

    [Fact]
    public async Task SweepAsync_IdempotencyDayTables_KeptForTheirDayAndTheNextThenDropped()
    {
        var store = await StoreCollection.NewStoreAsync(azurite);
        var today = _clock.GetUtcNow();
        foreach (var days in new[] { 3, 2, 1, 0 })
            await store.ClaimIdempotencyKeyAsync("cpo_retention", Guid.NewGuid().ToString("N"), "hash", today.AddDays(-days), CancellationToken.None);

        await SweepAsync(store);

        var left = new List<string>();
        await foreach (var t in _tables.QueryAsync(TableClient.CreateQueryFilter($"TableName ge {"idempotency"} and TableName lt {"idempotencz"}"))) left.Add(t.Name);
        Assert.Equal([MarketStore.IdempotencyTable(today.AddDays(-1)), MarketStore.IdempotencyTable(today)], left);
    }

    [Fact]
    public async Task SweepAsync_Bookings_GoEightDaysAfterTheirWindowEnded_LaterOnesStayAndStillConflict()
    {
        var store = await StoreCollection.NewStoreAsync(azurite);
        var now = _clock.GetUtcNow();
        var station = "st_retention_" + Guid.NewGuid().ToString("N")[..12];
        StationBooking Booking(string award, double endedDaysAgo) =>
            new(station, new TimeWindow(now.AddDays(-endedDaysAgo).AddHours(-1), now.AddDays(-endedDaysAgo)), award);
        StationBooking[] old = [Booking("req_a/off_a", 9), Booking("req_b/off_b", 8.01)];
        StationBooking[] kept = [Booking("req_c/off_c", 8), Booking("req_d/off_d", 7.99), Booking("req_e/off_e", -1)];
        await store.BookAsync("gc-retention-1", [.. old, .. kept], CancellationToken.None);

        var result = await SweepAsync(store);

        Assert.True(result.Bookings >= old.Length, $"{result.Bookings} bookings deleted");
        var left = await store.GetBookingsAsync([station], new TimeWindow(now.AddDays(-30), now.AddDays(30)), "gc-other", CancellationToken.None);
        Assert.Equal(kept.Select(b => b.AwardId), left.Select(b => b.AwardId).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task SweepAsync_NodeLoads_GoWithTheBookingsEightDaysAfterTheirWindowEnded_LaterOnesStay()
    {
        var store = await StoreCollection.NewStoreAsync(azurite);
        var now = _clock.GetUtcNow();
        var node = "tr_retention_" + Guid.NewGuid().ToString("N")[..12];
        NodeLoad Load(string award, double endedDaysAgo) =>
            new(node, award, new TimeWindow(now.AddDays(-endedDaysAgo).AddMinutes(-15), now.AddDays(-endedDaysAgo)), MarketInterval.Default, [new Kilowatts(5)]);
        NodeLoad[] old = [Load("req_a/off_a", 9), Load("req_b/off_b", 8.01)];
        NodeLoad[] kept = [Load("req_c/off_c", 8), Load("req_d/off_d", 7.99), Load("req_e/off_e", -1)];
        await store.AddNodeLoadsAsync("gc-retention-1", [.. old, .. kept], CancellationToken.None);

        var result = await SweepAsync(store);

        Assert.True(result.NodeLoads >= old.Length, $"{result.NodeLoads} node loads deleted");
        var left = await store.GetNodeLoadsAsync([node], new TimeWindow(now.AddDays(-30), now.AddDays(30)), "gc-other", CancellationToken.None);
        Assert.Equal(kept.Select(l => l.AwardId), left.Select(l => l.AwardId));
    }

    [Fact]
    public async Task SweepAsync_GridStates_GoThirtyFiveDaysAfterTheirDay_LaterDaysStay()
    {
        var store = await StoreCollection.NewStoreAsync(azurite);
        var node = "gn_retention_" + Guid.NewGuid().ToString("N")[..12];
        var today = DateOnly.FromDateTime(_clock.GetUtcNow().UtcDateTime);
        // A day is kept until 35 days after it ended: the day 36 days back ended 35 days and 12 hours ago, the one 35 days back only 34.5 days ago.
        foreach (var daysBack in new[] { 40, 36, 35, 1, 0 })
            Assert.True(await store.TryPutGridStateAsync(new GridStateDay(node, today.AddDays(-daysBack), [], 1, _clock.GetUtcNow()), null, CancellationToken.None));

        var result = await SweepAsync(store);

        Assert.True(result.GridStates >= 2, $"{result.GridStates} grid states deleted");
        foreach (var (daysBack, kept) in new[] { (40, false), (36, false), (35, true), (1, true), (0, true) })
            Assert.Equal(kept, await store.GetGridStateAsync(node, today.AddDays(-daysBack), CancellationToken.None) is not null);
    }

    [Fact]
    public async Task SweepAsync_ImbalanceRecords_GoFourHundredDaysAfterTheirDeliveryDay_LaterOnesStay()
    {
        var store = await StoreCollection.NewStoreAsync(azurite);
        var table = _tables.GetTableClient("imbalance");
        var now = _clock.GetUtcNow();
        var marker = Guid.NewGuid().ToString("N");
        string Day(int daysBack) => now.AddDays(-daysBack).ToString("yyyyMMdd", System.Globalization.CultureInfo.InvariantCulture);
        foreach (var daysBack in new[] { 402, 401, 400, 399, 0 })
            await table.AddEntityAsync(new TableEntity(Day(daysBack), marker) { ["DaysBack"] = daysBack });

        var result = await SweepAsync(store);

        Assert.True(result.Imbalance >= 2, $"{result.Imbalance} imbalance records deleted");
        var left = await table.QueryAsync<TableEntity>(TableClient.CreateQueryFilter($"RowKey eq {marker}")).Select(e => e.GetInt32("DaysBack")!.Value).ToListAsync();
        Assert.Equal([400, 399, 0], left.OrderDescending());
    }

    [Fact]
    public async Task SweepAsync_TradeAnswers_GoNinetyDaysAfterTheyWereLastWritten()
    {
        var store = await StoreCollection.NewStoreAsync(azurite);
        // Trade answers are judged by the table's own write time, so this sweep's clock starts at the real time of the writes.
        var clock = new ManualClock(DateTimeOffset.UtcNow);
        var request = "req_retention_" + Guid.NewGuid().ToString("N")[..12];
        Assert.True(await store.TryPutTradeAnswerAsync(new TradeAnswer(request, "off_a", "dso_a", TradeVerdict.Red, "Feeder full.", clock.GetUtcNow()), CancellationToken.None));
        await store.FixTradeAnswersAsync(request, clock.GetUtcNow(), CancellationToken.None);
        async Task<RetentionResult> SweepAtAsync(TimeSpan later)
        {
            clock.Advance(later);
            return await new RetentionSweeper(store, _tables, clock, Options.Create(new RetentionOptions()), NullLogger<RetentionSweeper>.Instance)
                .SweepAsync(CancellationToken.None);
        }

        await SweepAtAsync(TimeSpan.FromDays(89));
        Assert.Single(await store.GetTradeAnswersAsync(request, CancellationToken.None));

        var result = await SweepAtAsync(TimeSpan.FromDays(2));

        Assert.True(result.TradeAnswers >= 2, $"{result.TradeAnswers} trade answer rows deleted");   // the answer and its fence
        Assert.Empty(await store.GetTradeAnswersAsync(request, CancellationToken.None));
        Assert.Empty(await _tables.GetTableClient("tradeanswers").QueryAsync<TableEntity>(TableClient.CreateQueryFilter($"PartitionKey eq {request}")).ToListAsync());
    }

    [Theory]
    [InlineData("TradeAnswers", "7.23:00:00")]
    [InlineData("GridStates", "7.00:00:00")]
    [InlineData("Imbalance", "30.00:00:00")]
    public void Options_APeriodBelowItsMinimum_IsRefusedAtStart(string setting, string period) =>
        Assert.Throws<OptionsValidationException>(() => OptionsWith((setting, period)));

    [Fact]
    public void Options_TheDefaultsAndTheMinimums_AreAccepted()
    {
        var defaults = OptionsWith();
        Assert.Equal((90d, 35d, 400d), (defaults.TradeAnswers.TotalDays, defaults.GridStates.TotalDays, defaults.Imbalance.TotalDays));
        var least = OptionsWith(("TradeAnswers", "8.00:00:00"), ("GridStates", "8.00:00:00"), ("Imbalance", "31.00:00:00"));
        Assert.Equal((8d, 8d, 31d), (least.TradeAnswers.TotalDays, least.GridStates.TotalDays, least.Imbalance.TotalDays));
    }

    private static RetentionOptions OptionsWith(params (string Name, string Value)[] settings)
    {
        var configuration = new ConfigurationBuilder()
            .AddInMemoryCollection(settings.ToDictionary(s => "Retention:" + s.Name, s => (string?)s.Value)).Build();
        var services = new ServiceCollection()
            .AddSingleton<IConfiguration>(configuration).AddRetention();
        using var provider = services.BuildServiceProvider();
        return provider.GetRequiredService<IOptions<RetentionOptions>>().Value;
    }

    private async Task<string> NewParticipantAsync(MarketStore store)
    {
        var id = "cpo_retention_" + Guid.NewGuid().ToString("N")[..12];
        await store.AddParticipantAsync(new Participant(id, Role.Cpo, "Retention CPO", "ops@example.org",
            WalletAddress.Parse("0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC"), _clock.GetUtcNow()), "hash", CancellationToken.None);
        return id;
    }

    private static WebhookDelivery Delivery(string participant, DateTimeOffset at) =>
        new("dlv_" + Guid.NewGuid().ToString("N"), "wh_retention", participant, $"req_{Guid.NewGuid():N}:award:{participant}", EventTypes.Award, "{}", at);

    /// <summary>A delivery created and ended (its one attempt) at <paramref name="at"/>, as the dispatcher saves it.</summary>
    private static async Task<WebhookDelivery> EndedAsync(MarketStore store, string participant, DeliveryState state, DateTimeOffset at)
    {
        var pending = Delivery(participant, at) with { NextAttemptAt = at };
        await store.AddDeliveryAsync(pending, at, CancellationToken.None);
        var read = (await store.GetDeliveryAsync(participant, pending.Id, CancellationToken.None))!.Value;
        var ended = pending with { State = state, Attempts = [new DeliveryAttempt(1, at, state == DeliveryState.Delivered ? 200 : 500, null)], RoundAttempts = 1, NextAttemptAt = null };
        Assert.NotNull(await store.TryReplaceDeliveryAsync(ended, read.ETag, CancellationToken.None));
        return ended;
    }
}
