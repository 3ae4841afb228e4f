using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace FlexChain.Testing;

/// <summary>
/// A real server (Azurite, a Hardhat node, the app) started as a child process on loopback ports,
/// waited for until its ports accept connections, and killed with its whole process tree on dispose.
/// </summary>
public sealed class ServerProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly System.Text.StringBuilder _output = new();

    private ServerProcess(Process process) => _process = process;

    /// <summary>The OS process id, for tests that suspend or kill the server.</summary>
    public int ProcessId => _process.Id;

    /// <summary>Whether the process has exited.</summary>
    public bool HasExited => _process.HasExited;

    /// <summary>What the server printed so far (for failure messages).</summary>
    public string Output { get { lock (_output) return _output.ToString(); } }

    /// <summary>Starts <paramref name="fileName"/> and waits until every port in <paramref name="ports"/> accepts TCP connections.</summary>
    public static async Task<ServerProcess> StartAsync(
        string fileName, IEnumerable<string> arguments, string workingDirectory, IReadOnlyList<int> ports,
        IDictionary<string, string>? environment = null, TimeSpan? timeout = null, CancellationToken cancellationToken = default)
    {
        var info = new ProcessStartInfo(fileName)
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in arguments) info.ArgumentList.Add(a);
        if (environment is not null)
            foreach (var (k, v) in environment) info.Environment[k] = v;

        var process = Process.Start(info) ?? throw new InvalidOperationException("could not start " + fileName);
        var server = new ServerProcess(process);
        process.OutputDataReceived += (_, e) => server.Append(e.Data);
        process.ErrorDataReceived += (_, e) => server.Append(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();

        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(60));
        foreach (var port in ports)
        {
            while (!await CanConnectAsync(port, cancellationToken).ConfigureAwait(false))
            {
                if (process.HasExited || DateTime.UtcNow > deadline)
                {
                    await server.DisposeAsync().ConfigureAwait(false);
                    throw new InvalidOperationException(
                        $"{Path.GetFileName(fileName)} did not listen on port {port}: {server.Output}");
                }
                await Task.Delay(100, cancellationToken).ConfigureAwait(false);
            }
        }
        return server;
    }

    /// <summary>
    /// A TCP port on 127.0.0.1 that is free right now, chosen at random below the kernel's ephemeral range (32768 and up
    /// on Linux): a port the kernel hands out (bind to port 0) is also what any process's next outgoing connection may take
    /// before our server binds it, which on a busy machine made servers fail with EADDRINUSE.
    /// </summary>
    public static int FreePort()
    {
        for (var attempt = 0; attempt < 100; attempt++)
        {
            var port = Random.Shared.Next(20_000, 32_768);
            try
            {
                using var probe = new TcpListener(IPAddress.Loopback, port);
                probe.Start();
                return port;
            }
            catch (SocketException)
            {
                // taken: try another
            }
        }
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>Whether something accepts TCP connections on 127.0.0.1:<paramref name="port"/>.</summary>
    public static async Task<bool> CanConnectAsync(int port, CancellationToken cancellationToken = default)
    {
        using var client = new TcpClient();
        try
        {
            await client.ConnectAsync(IPAddress.Loopback, port, cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    /// <summary>Kills the whole process tree and waits for it to exit.</summary>
    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            try { _process.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
            await _process.WaitForExitAsync().ConfigureAwait(false);
        }
        _process.Dispose();
    }

    private void Append(string? line)
    {
        if (line is null) return;
        lock (_output)
        {
            // Keep the tail only: a chatty server must not grow memory without bound.
            if (_output.Length > 64_000) _output.Remove(0, 32_000);
            _output.AppendLine(line);
        }
    }
}
