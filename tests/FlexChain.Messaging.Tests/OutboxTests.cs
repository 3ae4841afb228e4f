using Azure;
using Azure.Storage.Queues;
using FlexChain.Messaging.Outbox;
using FlexChain.Messaging.StorageQueues;
using Azure.Data.Tables;
using FlexChain.Storage;
using FlexChain.Testing;

namespace FlexChain.Messaging.Tests;

/// <summary>The outbox and the idempotent consumer on real Azurite (tables and queues).</summary>
[Collection(AzuriteCollection.Name)]
public sealed class OutboxTests(AzuriteFixture azurite)
{
    private readonly TableServiceClient _tables = new(azurite.ConnectionString);
    private readonly StorageQueueBroker _queues = new(new QueueServiceClient(azurite.ConnectionString));

    private Task<TableClient> NewTableAsync(string prefix) => AzuriteCollection.NewTableAsync(_tables, prefix);

    private static string NewQueueName() => AzuriteCollection.NewQueueName();

    private static OutboxBatch AwardBatch(string cycle, string queue, ETag stateETag = default)
    {
        var state = new TableEntity(cycle, "state") { ["Status"] = "Awarded" };
        var action = stateETag == default
            ? new TableTransactionAction(TableTransactionActionType.Add, state)
            : new TableTransactionAction(TableTransactionActionType.UpdateReplace, state, stateETag);
        return new OutboxBatch(cycle)
            .Add(action)
            .AddMessage(queue, new OutgoingMessage($"{cycle}:award:1", """{"award":1}"""))
            .AddMessage(queue, new OutgoingMessage($"{cycle}:award:2", """{"award":2}"""));
    }

    [Fact]
    public async Task CommitAsync_StateAndMessages_StoresThemTogetherInThePartition()
    {
        var table = await NewTableAsync("cycles");

        var results = await new OutboxWriter(table).CommitAsync(AwardBatch("cycle-1", "awards"));

        var rows = await table.QueryAsync<TableEntity>(TableClient.CreateQueryFilter($"PartitionKey eq {"cycle-1"}")).ToListAsync();
        Assert.Single(results);
        Assert.NotNull(results[0].Headers.ETag);
        Assert.Equal(["state", OutboxBatch.RowKeyFor("cycle-1:award:1"), OutboxBatch.RowKeyFor("cycle-1:award:2")], rows.Select(r => r.RowKey));
        Assert.All(rows.Skip(1), r => Assert.False(r.GetBoolean("Dispatched")));
    }

    [Fact]
    public async Task CommitAsync_StaleStateETag_StoresNeitherStateNorMessages()
    {
        var table = await NewTableAsync("cycles");
        var stale = (await table.AddEntityAsync(new TableEntity("cycle-2", "state") { ["Status"] = "Closed" })).Headers.ETag!.Value;
        await table.UpdateEntityAsync(new TableEntity("cycle-2", "state") { ["Status"] = "Cleared" }, stale); // another instance moved on

        var error = await Assert.ThrowsAsync<TableTransactionFailedException>(() => new OutboxWriter(table).CommitAsync(AwardBatch("cycle-2", "awards", stale)));

        Assert.Equal(412, error.Status);
        var rows = await table.QueryAsync<TableEntity>(TableClient.CreateQueryFilter($"PartitionKey eq {"cycle-2"}")).ToListAsync();
        Assert.Equal("Cleared", Assert.Single(rows).GetString("Status"));
    }

    [Fact]
    public async Task DispatchMessageAsync_SendsThatPendingRowOnce_AndMarksIt()
    {
        var table = await NewTableAsync("cycles");
        var queueName = NewQueueName();
        await new OutboxWriter(table).CommitAsync(AwardBatch("cycle-5", queueName));
        var dispatcher = new OutboxDispatcher(table, _queues);

        var first = await dispatcher.DispatchMessageAsync("cycle-5", "cycle-5:award:2");
        var again = await dispatcher.DispatchMessageAsync("cycle-5", "cycle-5:award:2");
        var unknown = await dispatcher.DispatchMessageAsync("cycle-5", "cycle-5:award:9");

        Assert.Equal((true, false, false), (first, again, unknown));
        var queue = _queues.GetQueue(queueName);
        Assert.Equal("cycle-5:award:2", (await queue.ReceiveAsync())?.MessageId);
        Assert.Null(await queue.ReceiveAsync());
        var rows = await table.QueryAsync<TableEntity>(TableClient.CreateQueryFilter($"PartitionKey eq {"cycle-5"} and RowKey ne {"state"}")).ToListAsync();
        Assert.Equal([false, true], rows.Select(r => r.GetBoolean("Dispatched") == true)); // award 1 is still pending
    }

    [Fact]
    public async Task DispatchMessageAsync_CrashBetweenSendAndMark_ResendsSameIdAndConsumerRunsHandlerOnce()
    {
        var table = await NewTableAsync("cycles");
        var processed = await NewTableAsync("processed");
        var queueName = NewQueueName();
        await new OutboxWriter(table).CommitAsync(AwardBatch("cycle-4", queueName));

        // The process "dies" right after the first message left, before the row was marked.
        var crashing = new CrashAfterSendBroker(_queues);
        await Assert.ThrowsAsync<SimulatedCrashException>(() => new OutboxDispatcher(table, crashing).DispatchMessageAsync("cycle-4", "cycle-4:award:1"));
        var afterRestart = new OutboxDispatcher(table, _queues);
        var sent = new[]
        {
            await afterRestart.DispatchMessageAsync("cycle-4", "cycle-4:award:1"),
            await afterRestart.DispatchMessageAsync("cycle-4", "cycle-4:award:2"),
        };

        var queue = _queues.GetQueue(queueName);
        var consumer = new IdempotentConsumer(processed, "payments");
        var effects = new List<string>();
        var outcomes = new List<ConsumeOutcome>();
        while (await queue.ReceiveAsync() is { } message)
            outcomes.Add(await consumer.HandleAsync(queue, message, (m, _) => { effects.Add(m.MessageId); return Task.CompletedTask; }));

        Assert.Equal([true, true], sent);
        Assert.Equal(3, outcomes.Count); // award 1 twice (same id), award 2 once
        Assert.Equal(1, outcomes.Count(o => o == ConsumeOutcome.Duplicate));
        Assert.Equal(["cycle-4:award:1", "cycle-4:award:2"], effects.Order());
        Assert.True(await consumer.HasProcessedAsync("cycle-4:award:1"));
        Assert.Null(await queue.ReceiveAsync());
    }

    [Fact]
    public async Task HandleAsync_RedeliveredAfterCompletionFailed_SkipsHandler()
    {
        var processed = await NewTableAsync("processed");
        var queue = _queues.GetQueue(NewQueueName());
        await queue.SendAsync(new OutgoingMessage("pay/42?", """{"pay":42}""")); // a key-unsafe id is encoded, not refused
        var consumer = new IdempotentConsumer(processed, "payments");
        var runs = 0;

        var first = await queue.ReceiveAsync();
        await consumer.HandleAsync(queue, first!, (_, _) => { runs++; return Task.CompletedTask; });
        await queue.SendAsync(new OutgoingMessage("pay/42?", """{"pay":42}""")); // the broker delivers it again
        var again = await consumer.HandleAsync(queue, (await queue.ReceiveAsync())!, (_, _) => { runs++; return Task.CompletedTask; });

        Assert.Equal(1, runs);
        Assert.Equal(ConsumeOutcome.Duplicate, again);
        Assert.Null(await queue.ReceiveAsync());
    }

    [Fact]
    public async Task HandleAsync_HandlerThrows_AbandonsWithoutRecordingAndRethrows()
    {
        var processed = await NewTableAsync("processed");
        var queue = _queues.GetQueue(NewQueueName());
        await queue.SendAsync(new OutgoingMessage("m1", "{}"));
        var consumer = new IdempotentConsumer(processed, "payments");
        var first = (await queue.ReceiveAsync())!;

        await Assert.ThrowsAsync<InvalidOperationException>(() =>
            consumer.HandleAsync(queue, first, (_, _) => throw new InvalidOperationException("chain unreachable")));

        Assert.False(await consumer.HasProcessedAsync("m1"));
        var retry = await queue.ReceiveAsync();
        Assert.Equal(2, retry?.DeliveryCount);
        Assert.Equal(ConsumeOutcome.Processed, await consumer.HandleAsync(queue, retry!, (_, _) => Task.CompletedTask));
    }

    [Fact]
    public async Task DispatchMessageAsync_SendRefused_ThrowsAndLeavesRowPendingForTheRetry()
    {
        var table = await NewTableAsync("cycles");
        var queueName = NewQueueName();
        await new OutboxWriter(table).CommitAsync(AwardBatch("cycle-7", queueName));

        var refused = await Assert.ThrowsAsync<RequestFailedException>(() =>
            new OutboxDispatcher(table, new RefusingBroker()).DispatchMessageAsync("cycle-7", "cycle-7:award:1"));
        var pending = (await table.GetEntityIfExistsAsync<TableEntity>("cycle-7", OutboxBatch.RowKeyFor("cycle-7:award:1"))).Value;
        var retried = await new OutboxDispatcher(table, _queues).DispatchMessageAsync("cycle-7", "cycle-7:award:1");

        Assert.Equal(503, refused.Status);
        Assert.False(pending?.GetBoolean("Dispatched"));
        Assert.True(retried);
        Assert.Equal("cycle-7:award:1", (await _queues.GetQueue(queueName).ReceiveAsync())?.MessageId);
    }

    [Fact]
    public void Add_EntityOfAnotherPartitionOrReservedRowKey_ThrowsArgumentException()
    {
        var batch = new OutboxBatch("cycle-6");

        Assert.Throws<ArgumentException>(() => batch.Add(new TableTransactionAction(TableTransactionActionType.Add, new TableEntity("other", "state"))));
        Assert.Throws<ArgumentException>(() => batch.Add(new TableTransactionAction(TableTransactionActionType.Add, new TableEntity("cycle-6", "~outbox~x"))));
        Assert.Throws<MessageTooLargeException>(() => batch.AddMessage("q", new OutgoingMessage("m", new string('x', OutboxBatch.MaxBodyChars + 1))));
    }

    private sealed class SimulatedCrashException : Exception;

    /// <summary>Sends through the real broker, then throws: the process died between the send and the mark.</summary>
    private sealed class CrashAfterSendBroker(IMessageBroker inner) : IMessageBroker
    {
        public IMessageSender GetQueue(string name) => new Sender(inner.GetQueue(name));

        private sealed class Sender(IMessageSender inner) : IMessageSender
        {
            public string Name => inner.Name;

            public async Task SendAsync(OutgoingMessage message, CancellationToken cancellationToken = default)
            {
                await inner.SendAsync(message, cancellationToken);
                throw new SimulatedCrashException();
            }
        }
    }

    /// <summary>A broker whose every send is refused (an outage or a missing permission).</summary>
    private sealed class RefusingBroker : IMessageBroker
    {
        public IMessageSender GetQueue(string name) => new Sender(name);

        private sealed class Sender(string name) : IMessageSender
        {
            public string Name => name;
            public Task SendAsync(OutgoingMessage message, CancellationToken cancellationToken = default) =>
                throw new RequestFailedException(503, "ServerBusy", "ServerBusy", null);
        }
    }
}

internal static class AsyncPageableExtensions
{
    public static async Task<List<T>> ToListAsync<T>(this AsyncPageable<T> pageable) where T : notnull
    {
        var list = new List<T>();
        await foreach (var item in pageable) list.Add(item);
        return list;
    }
}
