using Azure.Data.Tables;
using FlexChain.Functions.Hosting;
using FlexChain.Functions.Notifications;
using FlexChain.Functions.Storage;
using FlexChain.Messaging.Outbox;
using Microsoft.Extensions.Options;

namespace FlexChain.Functions.Retention;

/// <summary>
/// How long FlexChain keeps what it no longer needs (section <c>Retention</c>). The hourly <c>Retention</c> timer deletes
/// what is older; what is still needed (a pending outbox row, a delivery still due) is never deleted, however old.
/// </summary>
public sealed class RetentionOptions
{
    /// <summary>How long a dispatched outbox row (table <c>requests</c>) is kept after its dispatch: at least 1 day, default 7 days.</summary>
    public TimeSpan Outbox { get; set; } = TimeSpan.FromDays(7);

    /// <summary>
    /// How long a processed-message id (table <c>processedmessages</c>) is remembered: at least 1 day, default 7 days.
    /// Keep it longer than any redelivery or duplicate send takes to arrive, or that message's handler runs again.
    /// </summary>
    public TimeSpan ProcessedMessages { get; set; } = TimeSpan.FromDays(7);

    /// <summary>How long an event (table <c>notifications</c>) stays in its recipient's stream, and its id in the de-duplication: at least 1 day, default 30 days.</summary>
    public TimeSpan Events { get; set; } = TimeSpan.FromDays(30);

    /// <summary>How long a delivered or failed webhook delivery (table <c>deliveries</c>) stays in the delivery log after its last attempt: at least 1 day, default 30 days.</summary>
    public TimeSpan Deliveries { get; set; } = TimeSpan.FromDays(30);

    /// <summary>
    /// How long a station booking (table <c>bookings</c>) is kept after its window ended: at least 1 day, default 8 days.
    /// A booking matters only to a clearing whose request's window overlaps it. A request's window starts after its gate
    /// cycle closes plus the activation lead time, so a cycle clearing on time never reaches back before its own closing;
    /// only a late one does (stopped for attention, then resumed), and cycles are kept going for
    /// <c>GateCycle:RefundAfter</c> (7 days) after closing. Keep this longer than that.
    /// </summary>
    public TimeSpan Bookings { get; set; } = TimeSpan.FromDays(8);

    /// <summary>
    /// How long a trade answer on a TSO's request (table <c>tradeanswers</c>) is kept after it was last written: at least 8
    /// days (a late gate cycle, kept going <c>GateCycle:RefundAfter</c> after closing, still fixes and reads them), default 90.
    /// </summary>
    public TimeSpan TradeAnswers { get; set; } = TimeSpan.FromDays(90);

    /// <summary>
    /// How long a node's grid state of a UTC day (table <c>gridstates</c>) is kept after the day ended: at least 8 days (a late
    /// gate cycle re-checks its windows' states), default 35 days.
    /// </summary>
    public TimeSpan GridStates { get; set; } = TimeSpan.FromDays(35);

    /// <summary>
    /// How long an imbalance-adjustment record (table <c>imbalance</c>) is kept after the UTC day its delivery started: at
    /// least 31 days (one listing's longest period), default 400 days (over a year, for the balance settlement's corrections).
    /// </summary>
    public TimeSpan Imbalance { get; set; } = TimeSpan.FromDays(400);

    /// <summary>
    /// UTC days an idempotency day table is kept, counting the day its keys were first used: at least 2, default 2 (the
    /// documented contract: a key is remembered until the end of the next UTC day).
    /// </summary>
    public int IdempotencyDays { get; set; } = 2;
}

/// <summary>What one retention sweep deleted.</summary>
/// <param name="OutboxRows">Dispatched outbox rows.</param>
/// <param name="ProcessedMessages">Processed-message ids forgotten.</param>
/// <param name="Events">Events, with their id rows.</param>
/// <param name="Deliveries">Ended webhook deliveries.</param>
/// <param name="IdempotencyTables">Idempotency day tables.</param>
/// <param name="Bookings">Station bookings whose window ended long enough ago.</param>
/// <param name="TradeAnswers">Trade answers (and answer fences) last written long enough ago.</param>
/// <param name="GridStates">Grid states of days that ended long enough ago.</param>
/// <param name="Imbalance">Imbalance-adjustment records of deliveries that started long enough ago.</param>
/// <param name="NodeLoads">Awards' net loads below grid nodes whose window ended as long ago as the bookings'.</param>
public sealed record RetentionResult(
    int OutboxRows, int ProcessedMessages, int Events, int Deliveries, int IdempotencyTables, int Bookings, int TradeAnswers = 0, int GridStates = 0, int Imbalance = 0,
    int NodeLoads = 0);

/// <summary>The <c>Retention</c> timer function: one sweep of every kind, each cut off at the market clock's now minus its period.</summary>
public sealed partial class RetentionSweeper(
    MarketStore store, TableServiceClient tables, TimeProvider clock, IOptions<RetentionOptions> options, ILogger<RetentionSweeper> log)
{
    /// <summary>Sweeps once; a failure leaves the rest for the next run (every step can be repeated).</summary>
    /// <exception cref="Azure.RequestFailedException">Storage refused a read or write.</exception>
    public async Task<RetentionResult> SweepAsync(CancellationToken cancellationToken)
    {
        var o = options.Value;
        var now = clock.GetUtcNow();
        var outbox = await store.PurgeRequestOutboxAsync(now - o.Outbox, cancellationToken);

        var processed = 0;
        foreach (var (name, _) in LocalTriggerDriver.QueueTriggers())
            processed += await new IdempotentConsumer(tables.GetTableClient(LocalTriggerDriver.ProcessedTable), name, clock)
                .PurgeAsync(now - o.ProcessedMessages, cancellationToken);

        var (events, deliveries) = (0, 0);
        var recipients = (await store.ListParticipantIdsAsync(cancellationToken)).Append(NotificationPublisher.CpoAudience);
        // A few participants at a time: the delivery sweep reads its deliveries in parallel already.
        await Parallel.ForEachAsync(recipients, new ParallelOptions { MaxDegreeOfParallelism = 4, CancellationToken = cancellationToken }, async (id, ct) =>
        {
            Interlocked.Add(ref events, await store.PurgeEventsAsync(id, now - o.Events, ct));
            Interlocked.Add(ref deliveries, await store.PurgeDeliveriesAsync(id, now - o.Deliveries, ct));
        });

        var days = await store.DropIdempotencyTablesAsync(now, o.IdempotencyDays, cancellationToken);
        var bookings = await store.PurgeBookingsAsync(now - o.Bookings, cancellationToken);
        var nodeLoads = await store.PurgeNodeLoadsAsync(now - o.Bookings, cancellationToken);
        var answers = await store.PurgeTradeAnswersAsync(now - o.TradeAnswers, cancellationToken);
        var states = await store.PurgeGridStatesAsync(now - o.GridStates, cancellationToken);
        var imbalance = await store.PurgeImbalanceAsync(now - o.Imbalance, cancellationToken);
        var result = new RetentionResult(outbox, processed, events, deliveries, days, bookings, answers, states, imbalance, nodeLoads);
        LogSwept(result.OutboxRows, result.ProcessedMessages, result.Events, result.Deliveries, result.IdempotencyTables, result.Bookings,
            result.TradeAnswers, result.GridStates, result.Imbalance, result.NodeLoads);
        return result;
    }

    [LoggerMessage(Level = LogLevel.Information,
        Message = "Retention deleted {Outbox} outbox rows, {Processed} processed-message ids, {Events} events, {Deliveries} deliveries, {Tables} idempotency day tables, {Bookings} bookings, {TradeAnswers} trade answers, {GridStates} grid states, {Imbalance} imbalance records and {NodeLoads} node loads")]
    private partial void LogSwept(int outbox, int processed, int events, int deliveries, int tables, int bookings, int tradeAnswers, int gridStates, int imbalance, int nodeLoads);
}

/// <summary>Registration of the retention sweep.</summary>
public static class RetentionServices
{
    /// <summary>The options (section <c>Retention</c>, validated at start) and the sweeper.</summary>
    public static IServiceCollection AddRetention(this IServiceCollection services)
    {
        services.AddOptions<RetentionOptions>().BindConfiguration("Retention")
            .Validate(o => new[] { o.Outbox, o.ProcessedMessages, o.Events, o.Deliveries, o.Bookings }.All(p => p >= TimeSpan.FromDays(1)),
                "Retention periods (Outbox, ProcessedMessages, Events, Deliveries, Bookings) must be at least one day.")
            .Validate(o => o.TradeAnswers >= TimeSpan.FromDays(8) && o.GridStates >= TimeSpan.FromDays(8),
                "Retention:TradeAnswers and Retention:GridStates must be at least 8 days: a late gate cycle (up to GateCycle:RefundAfter, 7 days) still reads them.")
            .Validate(o => o.Imbalance >= TimeSpan.FromDays(31), "Retention:Imbalance must be at least 31 days, the longest period one listing covers.")
            .Validate(o => o.IdempotencyDays >= 2, "Retention:IdempotencyDays must be at least 2: keys are remembered until the end of the next UTC day.")
            .ValidateOnStart();
        services.AddSingleton<RetentionSweeper>();
        return services;
    }
}
