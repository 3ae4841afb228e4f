using DurableTask.AzureStorage;
using DurableTask.Core;
using DurableTask.Core.Exceptions;
using FlexChain.Functions.Hosting;
using Microsoft.Extensions.Caching.Memory;
using Microsoft.Extensions.Options;

namespace FlexChain.Functions.Gates;

/// <summary>Settings of the Durable Task Framework task hub that runs the gate cycles (section <c>DurableTask</c>).</summary>
public sealed class DurableTaskOptions
{
    /// <summary>The task hub: its queues, tables and lease blobs in the storage account carry this name (one per environment).</summary>
    [System.ComponentModel.DataAnnotations.RegularExpression("^[A-Za-z][A-Za-z0-9]{2,44}$")]
    public string HubName { get; set; } = "flexchain";

    /// <summary>
    /// This process's worker id, unique among the app's instances and stable across its restarts (a restarted worker takes
    /// its partitions back at once; another one waits for their leases to expire). Default: the App Service instance id
    /// in Azure, otherwise the machine name with a random suffix (unique, but not stable).
    /// </summary>
    public string? WorkerId { get; set; }

    /// <summary>The task hub's partitions (control queues): at most this many instances run orchestrations at once.</summary>
    [System.ComponentModel.DataAnnotations.Range(1, 16)]
    public int PartitionCount { get; set; } = 4;

    /// <summary>The longest an idle worker waits between polls of its queues (the framework's 30 s default delays every step).</summary>
    [System.ComponentModel.DataAnnotations.Range(typeof(TimeSpan), "00:00:00.100", "00:00:30")]
    public TimeSpan MaxQueuePollingInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>How long a partition lease lasts: a killed worker's cycles move to another instance after at most this.</summary>
    [System.ComponentModel.DataAnnotations.Range(typeof(TimeSpan), "00:00:06", "00:01:00")]
    public TimeSpan LeaseInterval { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>
    /// How long a dequeued activity message stays hidden: a killed worker's half-done step is picked up again after
    /// this (the framework's 5-minute default strands a cycle that long), which is most of the time from a kill to the
    /// cycle moving again. A running step renews it every 5 s, so 10 s leaves one renewal of margin.
    /// </summary>
    [System.ComponentModel.DataAnnotations.Range(typeof(TimeSpan), "00:00:10", "00:05:00")]
    public TimeSpan MessageVisibilityTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// How long a dequeued orchestration (control queue) message stays hidden: a killed worker's timer or step result is
    /// seen again after this, so it bounds the time from a kill to the cycle moving when the kill lands while such a
    /// message is in flight (a 30-minute chaos run with 1 minute saw one cycle wait 60.2 s). The framework never renews
    /// these (its renewal method has no caller: Azure/durabletask issue 112), so a message that waits longer than this in a
    /// busy worker's buffer is dequeued a second time and the first copy's delete fails on its pop receipt: at 10 s the
    /// loaded end-to-end suite looped on such messages (dequeue counts over 20) and left cycles Pending for good.
    /// </summary>
    [System.ComponentModel.DataAnnotations.Range(typeof(TimeSpan), "00:00:30", "00:05:00")]
    public TimeSpan ControlMessageVisibilityTimeout { get; set; } = TimeSpan.FromSeconds(30);
}

/// <summary>
/// The task hub of the gate cycles (ARCHITECTURE.md section 4) on the app's storage account: its worker runs in every
/// instance of the app (started and stopped with it), and its client starts each cycle's orchestration.
/// </summary>
public sealed partial class GateCycleHub : IHostedService
{
    private static readonly OrchestrationStatus[] Running = [OrchestrationStatus.Pending, OrchestrationStatus.Running, OrchestrationStatus.ContinuedAsNew];
    private static readonly OrchestrationStatus[] Existing = [.. Running, OrchestrationStatus.Completed];

    private readonly TaskHubWorker _worker;
    private readonly TaskHubClient _client;
    private readonly AzureStorageOrchestrationService _service;
    private readonly GateCycleOptions _cycles;
    private readonly IMemoryCache _started;
    private readonly CancellationTokenSource _stopping = new();
    private readonly ILogger<GateCycleHub> _log;

    public GateCycleHub(AzureClients clients, IOptions<DurableTaskOptions> options, IOptions<GateCycleOptions> cycles, IMemoryCache cache,
        IServiceProvider services, ILoggerFactory loggers)
    {
        var o = options.Value;
        _cycles = cycles.Value;
        _started = cache;
        _log = loggers.CreateLogger<GateCycleHub>();
        _service = new AzureStorageOrchestrationService(new AzureStorageOrchestrationServiceSettings
        {
            StorageAccountClientProvider = clients.DurableStorage,
            TaskHubName = o.HubName,
            WorkerId = o.WorkerId is { Length: > 0 } id ? id
                : Environment.GetEnvironmentVariable("WEBSITE_INSTANCE_ID") is { Length: > 0 } instance ? instance
                : $"{Environment.MachineName}-{Guid.NewGuid():N}",
            PartitionCount = o.PartitionCount,
            MaxQueuePollingInterval = o.MaxQueuePollingInterval,
            LeaseInterval = o.LeaseInterval,
            LeaseRenewInterval = o.LeaseInterval / 3,
            LeaseAcquireInterval = o.LeaseInterval / 3,
            ControlQueueVisibilityTimeout = o.ControlMessageVisibilityTimeout,
            WorkItemQueueVisibilityTimeout = o.MessageVisibilityTimeout,
            ThrowExceptionOnInvalidDedupeStatus = true,
            LoggerFactory = loggers,
        });
        _worker = new TaskHubWorker(_service, loggers);
        _worker.AddTaskOrchestrations(typeof(GateCycleOrchestration));
        _worker.AddTaskActivities(new NameValueObjectCreator<TaskActivity>(AdvanceGateCycle.Name, "", new AdvanceGateCycle(services, _cycles, _stopping.Token)));
        _worker.AddTaskActivities(new NameValueObjectCreator<TaskActivity>(StopGateCycle.Name, "", new StopGateCycle(services, _stopping.Token)));
        _client = new TaskHubClient(_service, loggerFactory: loggers);
    }

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        await _service.CreateIfNotExistsAsync();
        await _worker.StartAsync();
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        await _stopping.CancelAsync();
        await _worker.StopAsync(isForced: true);
    }

    /// <summary>
    /// Starts the orchestration of <paramref name="cycleId"/> again after it finished (it stopped for the market operator,
    /// <see cref="GateCycleRunner.ResumeAsync"/>); a running one is left alone.
    /// </summary>
    public async Task RestartAsync(string cycleId, CancellationToken cancellationToken)
    {
        _started.Remove(Key(cycleId));
        try
        {
            await _client.CreateOrchestrationInstanceAsync(typeof(GateCycleOrchestration), cycleId,
                new GateCycleOrchestration.Input(cycleId, _cycles.StepAttempts, _cycles.StepRetryFirst, _cycles.StepRetryMax), Running);
            LogStarted(cycleId);
        }
        catch (OrchestrationAlreadyExistsException)
        {
            // Still running (it has not yet seen the flag it stopped for): it sees the cleared flag at its next step.
        }
    }

    /// <summary>
    /// Starts the orchestration of <paramref name="cycleId"/> unless it exists (running or finished); one that failed or
    /// was terminated is started again. Idempotent: every request that joins the cycle calls it, and so does the timer.
    /// </summary>
    public async Task EnsureStartedAsync(string cycleId, CancellationToken cancellationToken)
    {
        if (_started.TryGetValue(Key(cycleId), out _)) return;
        try
        {
            await _client.CreateOrchestrationInstanceAsync(typeof(GateCycleOrchestration), cycleId,
                new GateCycleOrchestration.Input(cycleId, _cycles.StepAttempts, _cycles.StepRetryFirst, _cycles.StepRetryMax), Existing);
            LogStarted(cycleId);
        }
        catch (OrchestrationAlreadyExistsException)
        {
            // Started before, by this instance or another.
        }
        _started.Set(Key(cycleId), true, TimeSpan.FromMinutes(10));
    }

    /// <summary>The orchestration's status, or null when it was never started.</summary>
    public Task<OrchestrationState?> GetStateAsync(string cycleId) => _client.GetOrchestrationStateAsync(cycleId)!;

    private static string Key(string cycleId) => "orchestration:" + cycleId;

    [LoggerMessage(Level = LogLevel.Information, Message = "Gate cycle {CycleId}: orchestration started")]
    private partial void LogStarted(string cycleId);
}

/// <summary>
/// One gate cycle, from its closing time to its last settlement: the <see cref="AdvanceGateCycle"/> activity moves the cycle
/// as far as it can go at the market's clock and says how long until it can go further; a durable timer waits that
/// long (a timer that fires early only costs one more look). A failing step is retried with backoff; after the
/// configured attempts the cycle stops, visibly and announced (<see cref="StopGateCycle"/>), until the market operator
/// resumes it; only if even that cannot be recorded does it wait the longest retry interval and start over.
/// The history is restarted (continue-as-new) every <see cref="StepsPerHistory"/> steps.
/// </summary>
public sealed class GateCycleOrchestration : TaskOrchestration<string, GateCycleOrchestration.Input>
{
    /// <summary>The cycle and its retry policy, fixed when the orchestration starts (so replays decide the same way).</summary>
    public sealed record Input(string CycleId, int Attempts, TimeSpan FirstRetry, TimeSpan MaxRetry);

    private const int StepsPerHistory = 50;

    public override async Task<string> RunTask(OrchestrationContext context, Input input)
    {
        var retry = new RetryOptions(input.FirstRetry, input.Attempts) { BackoffCoefficient = 2, MaxRetryInterval = input.MaxRetry };
        for (var step = 0; step < StepsPerHistory; step++)
        {
            TimeSpan? wait;
            try
            {
                wait = await context.ScheduleWithRetry<TimeSpan?>(AdvanceGateCycle.Name, "", retry, input.CycleId);
            }
            catch (TaskFailedException e)
            {
                try
                {
                    if (await context.ScheduleWithRetry<bool>(StopGateCycle.Name, "", retry, new StopGateCycle.Input(input.CycleId, Reason(e)))) return "needs-attention";
                    wait = input.MaxRetry;
                }
                catch (TaskFailedException)
                {
                    wait = input.MaxRetry;
                }
            }
            if (wait is null) return "finished"; // settled, or stopped for the market operator
            await context.CreateTimer(context.CurrentUtcDateTime + wait.Value, input.CycleId);
        }
        context.ContinueAsNew(input);
        return "continued";
    }

    /// <summary>The step's last failure in a sentence (the framework wraps it; its own exception says what went wrong).</summary>
    private static string Reason(TaskFailedException e)
    {
        var inner = e.InnerException ?? e;
        var text = $"{inner.GetType().Name}: {inner.Message}";
        return text.Length <= 500 ? text : text[..500];
    }
}

/// <summary>
/// Stops a gate cycle whose step kept failing (<see cref="GateCycleRunner.NeedsAttentionAsync"/>): true when it is now
/// waiting for the market operator, false when there is nothing to stop (unknown or settled).
/// </summary>
public sealed class StopGateCycle(IServiceProvider services, CancellationToken stopping) : AsyncTaskActivity<StopGateCycle.Input, bool>
{
    public const string Name = "StopGateCycle";

    /// <summary>The cycle and why its step failed.</summary>
    public sealed record Input(string CycleId, string Reason);

    protected override Task<bool> ExecuteAsync(TaskContext context, Input input) =>
        services.GetRequiredService<GateCycleRunner>().NeedsAttentionAsync(input.CycleId, input.Reason, services.GetRequiredService<TimeProvider>().GetUtcNow(), stopping);
}

/// <summary>
/// The gate cycle's step (<see cref="GateCycleRunner.AdvanceAsync"/>) at the market's clock; returns how long until the cycle
/// can move again (at most <see cref="GateCycleOptions.MaxTimerWait"/>, so a moved clock is seen), or null when it is
/// finished. Idempotent: every transition is checkpointed with If-Match, so a repeated run resumes from the last one.
/// </summary>
public sealed partial class AdvanceGateCycle(IServiceProvider services, GateCycleOptions options, CancellationToken stopping) : AsyncTaskActivity<string, TimeSpan?>
{
    public const string Name = "AdvanceGateCycle";

    private readonly ILogger _log = services.GetRequiredService<ILogger<AdvanceGateCycle>>();

    protected override async Task<TimeSpan?> ExecuteAsync(TaskContext context, string cycleId)
    {
        var clock = services.GetRequiredService<TimeProvider>();
        DateTimeOffset? next;
        try
        {
            next = await services.GetRequiredService<GateCycleRunner>().AdvanceAsync(cycleId, clock.GetUtcNow(), stopping);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            LogStepFailed(cycleId, e.GetType().Name, e.Message);
            throw;
        }
        if (next is null) return null;
        var wait = next.Value - clock.GetUtcNow();
        return wait < TimeSpan.Zero ? TimeSpan.Zero : wait > options.MaxTimerWait ? options.MaxTimerWait : wait;
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Gate cycle {CycleId}: step failed ({Error}: {Detail}); it is retried up to GateCycle:StepAttempts times")]
    private partial void LogStepFailed(string cycleId, string error, string detail);
}
