using FlexChain.Functions.Api;

namespace FlexChain.Functions.Settlement;

/// <summary>Whether the app can use the settlement chain. Numbers are explicit; the API shows the names.</summary>
public enum ChainState
{
    /// <summary>Not connected yet: the node did not answer (or not yet asked); retried in the background.</summary>
    Connecting = 0,

    /// <summary>Connected: the node is on the configured chain and the escrow's token is known.</summary>
    Connected = 1,

    /// <summary>The node is on another chain id than configured: no chain step runs (still retried, in case the node is fixed).</summary>
    Refused = 2,
}

/// <summary>The chain as the app sees it: its state, why it cannot be used (never a URL or key), and what it is once connected.</summary>
public sealed record ChainStatus(ChainState State, string? Problem, ChainInfo? Info)
{
    /// <summary>Before the first attempt.</summary>
    public static readonly ChainStatus NotYetConnected = new(ChainState.Connecting, "not connected yet", null);
}

/// <summary>A chain step was asked for while the chain cannot be used; the API answers 503, a gate cycle step retries later.</summary>
public sealed class ChainUnavailableException(ChainStatus status)
    : Exception($"The settlement chain is not available ({status.State}): {status.Problem}")
{
    /// <summary>The chain's status when the step was refused.</summary>
    public ChainStatus Status { get; } = status;
}

/// <summary>
/// Connects the <see cref="SettlementLedger"/> to the chain off the start-up path, so a chain outage never keeps the API
/// down: start-up waits at most <see cref="FirstAttemptWait"/> for the first attempt (enough for a healthy node, so the
/// app serves with the chain from its first request), then the attempts go on in the background with backoff until one
/// succeeds. Meanwhile every chain step is refused with <see cref="ChainUnavailableException"/> and /v1/health says why.
/// </summary>
public sealed partial class ChainConnector(SettlementLedger ledger, ILogger<ChainConnector> log) : IHostedService, IDisposable
{
    /// <summary>How long start-up waits for the first attempt.</summary>
    public static readonly TimeSpan FirstAttemptWait = TimeSpan.FromSeconds(3);

    private static readonly TimeSpan FirstRetry = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan MaxRetry = TimeSpan.FromSeconds(30);

    private readonly CancellationTokenSource _stopping = new();
    private Task _connecting = Task.CompletedTask;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        _connecting = Task.Run(() => ConnectAsync(_stopping.Token), CancellationToken.None);
        await Task.WhenAny(_connecting, Task.Delay(FirstAttemptWait, cancellationToken));
    }

    /// <summary>Ends the attempts; safe to call more than once and after <see cref="Dispose"/> (a test host may do both).</summary>
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (!_stopping.IsCancellationRequested) await _stopping.CancelAsync();
        await _connecting.WaitAsync(cancellationToken);
    }

    public void Dispose()
    {
        _stopping.Cancel();
        _stopping.Dispose();
    }

    private async Task ConnectAsync(CancellationToken stopping)
    {
        var wait = FirstRetry;
        while (!stopping.IsCancellationRequested)
        {
            try
            {
                await ledger.InitializeAsync(stopping);
                LogConnected(ledger.Info.ChainId, ledger.Info.SettlementContract);
                return;
            }
            catch (OperationCanceledException) when (stopping.IsCancellationRequested)
            {
                return;
            }
            catch (Exception)
            {
                LogNotConnected(ledger.Status.State, ledger.Status.Problem, wait);
            }
            try { await Task.Delay(wait, stopping); }
            catch (OperationCanceledException) { return; }
            wait = wait * 2 < MaxRetry ? wait * 2 : MaxRetry;
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Settlement chain {ChainId} connected, escrow {Escrow}")]
    private partial void LogConnected(long chainId, string escrow);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Settlement chain not usable ({State}): {Problem}; next attempt in {Wait}")]
    private partial void LogNotConnected(ChainState state, string? problem, TimeSpan wait);
}
