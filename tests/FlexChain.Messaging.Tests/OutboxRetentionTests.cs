using Azure;
using Azure.Data.Tables;
using Azure.Storage.Queues;
using FlexChain.Messaging.Outbox;
using FlexChain.Messaging.StorageQueues;
using FlexChain.Testing;

namespace FlexChain.Messaging.Tests;

/// <summary>Retention of dispatched outbox rows and processed-message ids, on real Azurite with a manual clock.</summary>
[Collection(AzuriteCollection.Name)]
public sealed class OutboxRetentionTests(AzuriteFixture azurite)
{
    private static readonly DateTimeOffset T0 = new(2030, 1, 1, 10, 0, 0, TimeSpan.Zero);
    private readonly TableServiceClient _tables = new(azurite.ConnectionString);
    private readonly StorageQueueBroker _queues = new(new QueueServiceClient(azurite.ConnectionString));

    private Task<TableClient> NewTableAsync(string prefix) => AzuriteCollection.NewTableAsync(_tables, prefix);

    private static string NewQueueName() => AzuriteCollection.NewQueueName();

    private static async Task CommitAsync(TableClient table, string partition, string queue, params string[] messageIds)
    {
        var batch = new OutboxBatch(partition).Add(new TableTransactionAction(TableTransactionActionType.Add, new TableEntity(partition, "state")));
        foreach (var id in messageIds) batch.AddMessage(queue, new OutgoingMessage(id, "{}"));
        await new OutboxWriter(table).CommitAsync(batch);
    }

    private static async Task<List<string>> RowKeysAsync(TableClient table, string partition) =>
        (await table.QueryAsync<TableEntity>(TableClient.CreateQueryFilter($"PartitionKey eq {partition}")).ToListAsync()).Select(e => e.RowKey).ToList();

    [Fact]
    public async Task PurgeDispatchedAsync_RowsDispatchedBeforeCutoff_DeletedWhileRecentAndPendingRowsStay()
    {
        var table = await NewTableAsync("outbox");
        var queue = NewQueueName();
        var clock = new ManualClock(T0);
        var dispatcher = new OutboxDispatcher(table, _queues, clock);
        await CommitAsync(table, "req-1", queue, "req-1:a", "req-1:b", "req-1:c");
        await CommitAsync(table, "req-2", queue, "req-2:a");
        await dispatcher.DispatchMessageAsync("req-1", "req-1:a");
        await dispatcher.DispatchMessageAsync("req-2", "req-2:a");
        clock.Advance(TimeSpan.FromDays(3));
        await dispatcher.DispatchMessageAsync("req-1", "req-1:b");   // req-1:c stays pending
        clock.Advance(TimeSpan.FromDays(6));

        var purged = await new OutboxRetention(table).PurgeDispatchedAsync(clock.GetUtcNow() - TimeSpan.FromDays(7));
        var again = await new OutboxRetention(table).PurgeDispatchedAsync(clock.GetUtcNow() - TimeSpan.FromDays(7));

        Assert.Equal((2, 0), (purged, again));
        Assert.Equal(["state", OutboxBatch.RowKeyFor("req-1:b"), OutboxBatch.RowKeyFor("req-1:c")], await RowKeysAsync(table, "req-1"));
        Assert.Equal(["state"], await RowKeysAsync(table, "req-2"));
        var index = await table.QueryAsync<TableEntity>(TableClient.CreateQueryFilter($"PartitionKey ge {OutboxBatch.RowKeyPrefix} and PartitionKey lt {OutboxBatch.RowKeyPrefix + "~"}")).ToListAsync();
        Assert.Equal(OutboxBatch.RowKeyFor("req-1:b"), Assert.Single(index).GetString("OutboxRow"));
    }

    [Fact]
    public async Task PurgeDispatchedAsync_RowSentButNeverMarked_StaysPendingUntilMarkedAndOld()
    {
        var table = await NewTableAsync("outbox");
        var queue = NewQueueName();
        var clock = new ManualClock(T0);
        await CommitAsync(table, "req-3", queue, "req-3:a");
        // Sent and indexed, then the process dies before the row is marked: the index entry points at a pending row.
        await Assert.ThrowsAsync<SimulatedCrashException>(() =>
            new OutboxDispatcher(new CrashBeforeMarkTable(azurite.ConnectionString, table.Name), _queues, clock).DispatchMessageAsync("req-3", "req-3:a"));
        clock.Advance(TimeSpan.FromDays(30));

        var whilePending = await new OutboxRetention(table).PurgeDispatchedAsync(clock.GetUtcNow() - TimeSpan.FromDays(7));
        var pending = (await table.GetEntityIfExistsAsync<TableEntity>("req-3", OutboxBatch.RowKeyFor("req-3:a"))).Value;
        Assert.Equal(0, whilePending);
        Assert.False(pending?.GetBoolean("Dispatched"));

        // The retry sends and marks it, indexing it again: it goes once it is old.
        Assert.True(await new OutboxDispatcher(table, _queues, clock).DispatchMessageAsync("req-3", "req-3:a"));
        var justMarked = await new OutboxRetention(table).PurgeDispatchedAsync(clock.GetUtcNow() - TimeSpan.FromDays(7));
        clock.Advance(TimeSpan.FromDays(8));
        var old = await new OutboxRetention(table).PurgeDispatchedAsync(clock.GetUtcNow() - TimeSpan.FromDays(7));
        Assert.Equal((0, 1), (justMarked, old));
        Assert.Equal(["state"], await RowKeysAsync(table, "req-3"));
    }

    [Fact]
    public void OutboxBatch_ReservedIndexPartition_ThrowsArgumentException()
    {
        Assert.Throws<ArgumentException>(() => new OutboxBatch(OutboxBatch.RowKeyPrefix + "2030010110~00"));
    }

    [Fact]
    public async Task PurgeAsync_IdsProcessedBeforeCutoff_ForgottenWhileRecentOnesAreRemembered()
    {
        var processed = await NewTableAsync("processed");
        var queue = _queues.GetQueue(NewQueueName());
        var clock = new ManualClock(T0);
        var consumer = new IdempotentConsumer(processed, "payments", clock);
        async Task HandleAsync(string id)
        {
            await queue.SendAsync(new OutgoingMessage(id, "{}"));
            await consumer.HandleAsync(queue, (await queue.ReceiveAsync())!, (_, _) => Task.CompletedTask);
        }
        await HandleAsync("old/1?");   // a key-unsafe id: its row key is encoded
        await HandleAsync("old-2");
        clock.Advance(TimeSpan.FromDays(10));
        await HandleAsync("new-1");

        var forgotten = await consumer.PurgeAsync(clock.GetUtcNow() - TimeSpan.FromDays(7));

        Assert.Equal(2, forgotten);
        Assert.False(await consumer.HasProcessedAsync("old/1?"));
        Assert.False(await consumer.HasProcessedAsync("old-2"));
        Assert.True(await consumer.HasProcessedAsync("new-1"));
        Assert.Equal(2, (await processed.QueryAsync<TableEntity>().ToListAsync()).Count);   // new-1 and its time row
    }

    [Fact]
    public async Task HandleAsync_IdRecordedByAnotherReceiverMeanwhile_CompletesAsProcessed()
    {
        var processed = await NewTableAsync("processed");
        var queue = _queues.GetQueue(NewQueueName());
        await queue.SendAsync(new OutgoingMessage("m1", "{}"));
        var consumer = new IdempotentConsumer(processed, "payments");

        // Another receiver, whose lock had expired this one's, records the id while this handler runs.
        var outcome = await consumer.HandleAsync(queue, (await queue.ReceiveAsync())!, (_, _) => processed.AddEntityAsync(new TableEntity("payments", "m1")));

        Assert.Equal(ConsumeOutcome.Processed, outcome);
        Assert.True(await consumer.HasProcessedAsync("m1"));
        Assert.Null(await queue.ReceiveAsync());
    }

    private sealed class SimulatedCrashException : Exception;

    /// <summary>The outbox table of a process that dies right before the dispatcher marks a row (every update throws).</summary>
    private sealed class CrashBeforeMarkTable(string connectionString, string name) : TableClient(connectionString, name)
    {
        public override Task<Response> UpdateEntityAsync<T>(T entity, ETag ifMatch, TableUpdateMode mode = TableUpdateMode.Merge, CancellationToken cancellationToken = default) =>
            throw new SimulatedCrashException();
    }
}
