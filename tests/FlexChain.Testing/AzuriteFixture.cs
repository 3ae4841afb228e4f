using System.Runtime.InteropServices;
using Xunit;

namespace FlexChain.Testing;

/// <summary>
/// Real Azurite (Blob, Queue, Table) for tests: started from the repository's npm install on free loopback ports
/// with an on-disk workspace in a temp folder, or taken from <c>FLEXCHAIN_AZURITE_CONNECTION_STRING</c> when set.
/// </summary>
/// <remarks>
/// <para>The fixture can be stopped and started again on the same ports and the same workspace, so tests can
/// prove that acknowledged data survives an emulator restart.</para>
/// <para>Azurite's table store (LokiJS) saves to disk every 5 seconds and on a graceful shutdown. <see cref="StopAsync"/>
/// therefore stops Azurite gracefully (SIGTERM) so that every acknowledged write is on disk; <see cref="KillAsync"/>
/// kills it hard and may lose the table writes of the last few seconds. That loss is Azurite's, not Azure's
/// (Azure acknowledges a write only once it is durable), so crash tests should kill the app, not the emulator.</para>
/// </remarks>
public sealed class AzuriteFixture : IAsyncLifetime
{
    /// <summary>The environment variable naming an already running Azurite (or storage account) to use instead.</summary>
    public const string ConnectionStringVariable = "FLEXCHAIN_AZURITE_CONNECTION_STRING";

    /// <summary>Azurite's well-known development account.</summary>
    public const string AccountName = "devstoreaccount1";

    /// <summary>Azurite's well-known development account key (public, documented by Microsoft).</summary>
    public const string AccountKey = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

    private ServerProcess? _server;
    private string? _location;

    /// <summary>Whether the fixture uses an external emulator from <see cref="ConnectionStringVariable"/> (and so cannot stop it).</summary>
    public bool IsExternal { get; private set; }

    /// <summary>The connection string with BlobEndpoint, QueueEndpoint and TableEndpoint.</summary>
    public string ConnectionString { get; private set; } = "";

    /// <summary>The Blob service port on 127.0.0.1 (0 when external).</summary>
    public int BlobPort { get; private set; }

    /// <summary>The Queue service port on 127.0.0.1 (0 when external).</summary>
    public int QueuePort { get; private set; }

    /// <summary>The Table service port on 127.0.0.1 (0 when external).</summary>
    public int TablePort { get; private set; }

    /// <summary>The Table service endpoint, for example <c>http://127.0.0.1:10002/devstoreaccount1</c>.</summary>
    public Uri TableEndpoint { get; private set; } = null!;

    /// <summary>The Queue service endpoint.</summary>
    public Uri QueueEndpoint { get; private set; } = null!;

    /// <summary>The Blob service endpoint.</summary>
    public Uri BlobEndpoint { get; private set; } = null!;

    /// <summary>Whether the emulator process this fixture started is running now.</summary>
    public bool IsRunning => IsExternal || _server is { HasExited: false };

    /// <summary>What Azurite printed so far (for failure messages).</summary>
    public string Output => _server?.Output ?? "";

    /// <inheritdoc />
    public async Task InitializeAsync()
    {
        var external = Environment.GetEnvironmentVariable(ConnectionStringVariable);
        if (!string.IsNullOrWhiteSpace(external))
        {
            IsExternal = true;
            ConnectionString = external;
            foreach (var part in external.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                var eq = part.IndexOf('=', StringComparison.Ordinal);
                if (eq <= 0) continue;
                var key = part[..eq];
                var value = part[(eq + 1)..];
                if (key.Equals("TableEndpoint", StringComparison.OrdinalIgnoreCase)) TableEndpoint = new Uri(value);
                else if (key.Equals("QueueEndpoint", StringComparison.OrdinalIgnoreCase)) QueueEndpoint = new Uri(value);
                else if (key.Equals("BlobEndpoint", StringComparison.OrdinalIgnoreCase)) BlobEndpoint = new Uri(value);
            }
            // UseDevelopmentStorage=true names no endpoints: it means Azurite's default ports.
            TableEndpoint ??= new Uri($"http://127.0.0.1:10002/{AccountName}");
            QueueEndpoint ??= new Uri($"http://127.0.0.1:10001/{AccountName}");
            BlobEndpoint ??= new Uri($"http://127.0.0.1:10000/{AccountName}");
            return;
        }

        BlobPort = ServerProcess.FreePort();
        QueuePort = ServerProcess.FreePort();
        TablePort = ServerProcess.FreePort();
        while (QueuePort == BlobPort) QueuePort = ServerProcess.FreePort();
        while (TablePort == BlobPort || TablePort == QueuePort) TablePort = ServerProcess.FreePort();
        _location = Path.Combine(Path.GetTempPath(), "flexchain-azurite-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_location);

        BlobEndpoint = new Uri($"http://127.0.0.1:{BlobPort}/{AccountName}");
        QueueEndpoint = new Uri($"http://127.0.0.1:{QueuePort}/{AccountName}");
        TableEndpoint = new Uri($"http://127.0.0.1:{TablePort}/{AccountName}");
        ConnectionString =
            $"DefaultEndpointsProtocol=http;AccountName={AccountName};AccountKey={AccountKey};" +
            $"BlobEndpoint={BlobEndpoint};QueueEndpoint={QueueEndpoint};TableEndpoint={TableEndpoint};";

        await StartAsync().ConfigureAwait(false);
    }

    /// <summary>Starts Azurite on the fixture's ports and workspace; does nothing when it is already running.</summary>
    /// <exception cref="InvalidOperationException">The fixture uses an external emulator, or Azurite did not start listening.</exception>
    public async Task StartAsync(CancellationToken cancellationToken = default)
    {
        ThrowIfExternal();
        if (_server is { HasExited: false }) return;
        if (_server is not null)
        {
            await _server.DisposeAsync().ConfigureAwait(false);
            _server = null;
        }

        string[] arguments =
        [
            "--location", _location!,
            "--blobHost", "127.0.0.1", "--blobPort", BlobPort.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "--queueHost", "127.0.0.1", "--queuePort", QueuePort.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "--tableHost", "127.0.0.1", "--tablePort", TablePort.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "--skipApiVersionCheck", "--loose", "--disableProductStyleUrl", "--disableTelemetry", "--silent",
        ];
        _server = await ServerProcess.StartAsync(
            RepoPaths.NodeBin(RepoPaths.Root, "azurite"), arguments, _location!, [BlobPort, QueuePort, TablePort],
            cancellationToken: cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Stops Azurite gracefully (SIGTERM, so its table store saves to disk) and waits until it has exited;
    /// falls back to a hard kill after <paramref name="timeout"/> (default 15 s). The workspace is kept.
    /// </summary>
    /// <exception cref="InvalidOperationException">The fixture uses an external emulator.</exception>
    public async Task StopAsync(TimeSpan? timeout = null, CancellationToken cancellationToken = default)
    {
        ThrowIfExternal();
        var server = _server;
        if (server is null) return;
        _server = null;
        if (!server.HasExited && (OperatingSystem.IsLinux() || OperatingSystem.IsMacOS()))
        {
            const int sigterm = 15;
            _ = SendSignal(server.ProcessId, sigterm);
            var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(15));
            while (!server.HasExited && DateTime.UtcNow < deadline)
                await Task.Delay(50, cancellationToken).ConfigureAwait(false);
        }
        await server.DisposeAsync().ConfigureAwait(false);
        await WaitForPortsClosedAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Kills Azurite hard (its table writes of the last ~5 s may be lost, see the remarks on this type).</summary>
    /// <exception cref="InvalidOperationException">The fixture uses an external emulator.</exception>
    public async Task KillAsync(CancellationToken cancellationToken = default)
    {
        ThrowIfExternal();
        var server = _server;
        if (server is null) return;
        _server = null;
        await server.DisposeAsync().ConfigureAwait(false);
        await WaitForPortsClosedAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Stops Azurite gracefully and starts it again on the same ports and workspace.</summary>
    /// <exception cref="InvalidOperationException">The fixture uses an external emulator, or Azurite did not restart.</exception>
    public async Task RestartAsync(CancellationToken cancellationToken = default)
    {
        await StopAsync(cancellationToken: cancellationToken).ConfigureAwait(false);
        await StartAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async Task DisposeAsync()
    {
        if (IsExternal) return;
        if (_server is not null)
        {
            await _server.DisposeAsync().ConfigureAwait(false);
            _server = null;
        }
        if (_location is not null)
        {
            try { Directory.Delete(_location, recursive: true); }
            catch (IOException) { }
            catch (UnauthorizedAccessException) { }
        }
    }

    private void ThrowIfExternal()
    {
        if (IsExternal)
            throw new InvalidOperationException($"Azurite comes from {ConnectionStringVariable}; this fixture cannot stop or start it.");
    }

    private async Task WaitForPortsClosedAsync(CancellationToken cancellationToken)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        foreach (var port in new[] { BlobPort, QueuePort, TablePort })
        {
            while (await ServerProcess.CanConnectAsync(port, cancellationToken).ConfigureAwait(false))
            {
                if (DateTime.UtcNow > deadline)
                    throw new InvalidOperationException($"port {port} still accepts connections after Azurite stopped");
                await Task.Delay(50, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int SendSignal(int pid, int signal);
}
