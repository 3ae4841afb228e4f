using System.Text.Json;
using FlexChain.Messaging.Outbox;
using FlexChain.Messaging.StorageQueues;

namespace FlexChain.Functions.Hosting;

/// <summary>Settings of the local trigger driver (section <c>LocalTriggers</c>).</summary>
public sealed class LocalTriggerOptions
{
    /// <summary>Drive timers from the function.json files (on when not running under the Functions host).</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>Schedules that replace those in function.json, by function name (tests tick every second).</summary>
    public Dictionary<string, string> Schedules { get; set; } = [];

    /// <summary>How long a queue poller waits after finding its queue empty.</summary>
    public TimeSpan QueuePollInterval { get; set; } = TimeSpan.FromMilliseconds(250);
}

/// <summary>
/// Without the Functions host, the app drives its own triggers with the handlers the host would call at
/// <c>POST /{FunctionName}</c>: timers on the NCRONTAB schedules of their function.json, and queue triggers
/// (<c>serviceBusTrigger</c> or <c>queueTrigger</c>) by polling the storage queue of the same name on Azurite, each
/// message through an <see cref="IdempotentConsumer"/> (completed when handled, abandoned when the handler fails,
/// dead-lettered to <c>{queue}-poison</c> after too many deliveries, as the host does).
/// </summary>
public sealed partial class LocalTriggerDriver(
    IServiceScopeFactory scopes, Microsoft.Extensions.Options.IOptions<LocalTriggerOptions> options, ILogger<LocalTriggerDriver> log,
    StorageQueueBroker queues, Azure.Data.Tables.TableServiceClient tables, TimeProvider clock)
    : BackgroundService
{
    /// <summary>The table of message ids the local queue pollers have processed.</summary>
    public const string ProcessedTable = "processedmessages";

    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        Task.WhenAll(TimerTriggers().Select(t => RunAsync(t.Name, options.Value.Schedules.GetValueOrDefault(t.Name, t.Schedule), stoppingToken))
            .Concat(QueueTriggers().Select(q => PollAsync(q.Name, q.Queue, stoppingToken))));

    /// <summary>Timer triggers declared in the function.json files beside host.json (or under functions/ in the repository).</summary>
    public static IReadOnlyList<(string Name, string Schedule)> TimerTriggers() =>
        Bindings(b => b.GetProperty("type").GetString() == "timerTrigger" ? b.GetProperty("schedule").GetString() : null);

    /// <summary>Queue triggers (Service Bus or storage queue) declared in the function.json files, with their queue names.</summary>
    public static IReadOnlyList<(string Name, string Queue)> QueueTriggers() =>
        Bindings(b => b.GetProperty("type").GetString() is "serviceBusTrigger" or "queueTrigger" ? b.GetProperty("queueName").GetString() : null);

    private static List<(string Name, string Value)> Bindings(Func<JsonElement, string?> pick)
    {
        var result = new List<(string, string)>();
        foreach (var file in Directory.GetFiles(FindFunctionsRoot(), "function.json", SearchOption.AllDirectories))
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(file));
            foreach (var b in doc.RootElement.GetProperty("bindings").EnumerateArray())
                if (pick(b) is { } value) result.Add((Path.GetFileName(Path.GetDirectoryName(file)!), value));
        }
        return result;
    }

    private async Task PollAsync(string name, string queueName, CancellationToken stoppingToken)
    {
        var handler = TriggersApi.Handlers[name];
        var queue = queues.GetQueue(queueName);
        // The market's clock stamps the processed ids, as the retention sweep cuts them off by it.
        var consumer = new IdempotentConsumer(tables.GetTableClient(ProcessedTable), name, clock);
        LogPolling(name, queueName);
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                if (await queue.ReceiveAsync(stoppingToken) is not { } message)
                {
                    await Task.Delay(options.Value.QueuePollInterval, stoppingToken);
                    continue;
                }
                await using var scope = scopes.CreateAsyncScope();
                await consumer.HandleAsync(queue, message, async (m, ct) =>
                {
                    foreach (var line in await handler(scope.ServiceProvider, TriggersApi.ForMessage(m.Body), ct)) LogInvocation(name, line);
                }, stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                // The message (if any) was abandoned and comes back; a storage outage is ridden out the same way.
                LogFailed(name, e.GetType().Name, e.Message);
                try { await Task.Delay(options.Value.QueuePollInterval, stoppingToken); }
                catch (OperationCanceledException) { return; }
            }
        }
    }

    private static string FindFunctionsRoot()
    {
        foreach (var start in new[] { AppContext.BaseDirectory, Directory.GetCurrentDirectory() })
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
                if (File.Exists(Path.Combine(dir.FullName, "host.json")))
                    return Directory.Exists(Path.Combine(dir.FullName, "functions")) ? Path.Combine(dir.FullName, "functions") : dir.FullName;
        throw new InvalidOperationException("host.json not found: cannot read the function.json schedules.");
    }

    /// <summary>A six-field NCRONTAB schedule (<c>{second} {minute} {hour} {day} {month} {day-of-week}</c>, UTC), as the Functions host reads it.</summary>
    /// <exception cref="NCrontab.CrontabException">Not a six-field expression.</exception>
    public static NCrontab.CrontabSchedule ParseSchedule(string schedule) =>
        NCrontab.CrontabSchedule.Parse(schedule, new NCrontab.CrontabSchedule.ParseOptions { IncludingSeconds = true });

    private async Task RunAsync(string name, string schedule, CancellationToken stoppingToken)
    {
        var cron = ParseSchedule(schedule);
        var handler = TriggersApi.Handlers[name];
        LogScheduled(name, schedule);
        while (!stoppingToken.IsCancellationRequested)
        {
            // Wall-clock wait: the schedule is real time even when the market's clock is replaced in tests.
            // Timers may fire a little early: wait until the occurrence has really come, so a gate due at it is due in this tick.
            var next = new DateTimeOffset(cron.GetNextOccurrence(DateTime.UtcNow), TimeSpan.Zero);
            try
            {
                while (next - DateTimeOffset.UtcNow is var left && left >= TimeSpan.Zero)
                    await Task.Delay(left + TimeSpan.FromMilliseconds(1), stoppingToken);
            }
            catch (OperationCanceledException) { return; }
            try
            {
                await using var scope = scopes.CreateAsyncScope();
                foreach (var line in await handler(scope.ServiceProvider, new InvocationRequest(null, null), stoppingToken)) LogInvocation(name, line);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                LogFailed(name, e.GetType().Name, e.Message);
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Timer {Name} scheduled '{Schedule}'")]
    private partial void LogScheduled(string name, string schedule);

    [LoggerMessage(Level = LogLevel.Information, Message = "Queue trigger {Name} polling '{Queue}'")]
    private partial void LogPolling(string name, string queue);

    [LoggerMessage(Level = LogLevel.Debug, Message = "{Name}: {Line}")]
    private partial void LogInvocation(string name, string line);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Timer {Name} failed: {Error}: {Detail}")]
    private partial void LogFailed(string name, string error, string detail);
}
