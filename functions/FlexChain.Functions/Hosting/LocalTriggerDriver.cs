using System.Text.Json;

namespace FlexChain.Functions.Hosting;

/// <summary>Settings of the local trigger driver (section <c>LocalTriggers</c>).</summary>
public sealed class LocalTriggerOptions
{
    /// <summary>Drive timers from the function.json files (on when not running under the Functions host).</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>Schedules that replace those in function.json, by function name (tests tick every second).</summary>
    public Dictionary<string, string> Schedules { get; set; } = [];
}

/// <summary>
/// Without the Functions host, the app drives its own timer triggers: it reads each timer's NCRONTAB schedule from
/// its function.json and calls the same handler the host would call at <c>POST /{FunctionName}</c>.
/// </summary>
public sealed partial class LocalTriggerDriver(
    IServiceScopeFactory scopes, Microsoft.Extensions.Options.IOptions<LocalTriggerOptions> options, ILogger<LocalTriggerDriver> log)
    : BackgroundService
{
    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        Task.WhenAll(TimerTriggers().Select(t => RunAsync(t.Name, options.Value.Schedules.GetValueOrDefault(t.Name, t.Schedule), stoppingToken)));

    /// <summary>Timer triggers declared in the function.json files beside host.json (or under functions/ in the repository).</summary>
    public static IReadOnlyList<(string Name, string Schedule)> TimerTriggers()
    {
        var root = FindFunctionsRoot();
        var result = new List<(string, string)>();
        foreach (var file in Directory.GetFiles(root, "function.json", SearchOption.AllDirectories))
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(file));
            foreach (var b in doc.RootElement.GetProperty("bindings").EnumerateArray())
                if (b.GetProperty("type").GetString() == "timerTrigger")
                    result.Add((Path.GetFileName(Path.GetDirectoryName(file)!), b.GetProperty("schedule").GetString()!));
        }
        return result;
    }

    private static string FindFunctionsRoot()
    {
        foreach (var start in new[] { AppContext.BaseDirectory, Directory.GetCurrentDirectory() })
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
                if (File.Exists(Path.Combine(dir.FullName, "host.json")))
                    return Directory.Exists(Path.Combine(dir.FullName, "functions")) ? Path.Combine(dir.FullName, "functions") : dir.FullName;
        throw new InvalidOperationException("host.json not found: cannot read the function.json schedules.");
    }

    private async Task RunAsync(string name, string schedule, CancellationToken stoppingToken)
    {
        var cron = Cron.Parse(schedule);
        var handler = TriggersApi.Handlers[name];
        LogScheduled(name, schedule);
        while (!stoppingToken.IsCancellationRequested)
        {
            // Wall-clock wait: the schedule is real time even when the market's clock is replaced in tests.
            var delay = cron.Next(DateTimeOffset.UtcNow) - DateTimeOffset.UtcNow;
            try { await Task.Delay(delay > TimeSpan.Zero ? delay : TimeSpan.Zero, stoppingToken); }
            catch (OperationCanceledException) { return; }
            try
            {
                await using var scope = scopes.CreateAsyncScope();
                foreach (var line in await handler(scope.ServiceProvider, stoppingToken)) LogInvocation(name, line);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                LogFailed(name, e.GetType().Name, e.Message);
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Timer {Name} scheduled '{Schedule}'")]
    private partial void LogScheduled(string name, string schedule);

    [LoggerMessage(Level = LogLevel.Debug, Message = "{Name}: {Line}")]
    private partial void LogInvocation(string name, string line);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Timer {Name} failed: {Error}: {Detail}")]
    private partial void LogFailed(string name, string error, string detail);
}
