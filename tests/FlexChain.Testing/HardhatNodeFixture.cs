using System.Globalization;
using Xunit;

namespace FlexChain.Testing;

/// <summary>
/// A real Hardhat node (chain id 31337, automining, the 20 well-known funded dev accounts) for tests: started from
/// the repository's npm install on a free loopback port with contracts-sol as working directory, or taken from
/// <c>FLEXCHAIN_HARDHAT_RPC_URL</c> when set. Killed with its process tree on dispose.
/// </summary>
public sealed class HardhatNodeFixture : IAsyncLifetime
{
    /// <summary>The environment variable naming an already running node to use instead of starting one.</summary>
    public const string RpcUrlVariable = "FLEXCHAIN_HARDHAT_RPC_URL";

    /// <summary>Hardhat's default chain id.</summary>
    public const ulong ChainId = 31337;

    /// <summary>Hardhat's publicly known dev account private keys #0..#6 (from the mnemonic "test test ... junk"; worthless on real networks).</summary>
    public static readonly IReadOnlyList<string> AccountKeys =
    [
        "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
        "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
        "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
        "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6",
        "0x47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a",
        "0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba",
        "0x92db14e403b83dfe3df233f83dfa3a0d7096f21ca9b0d6d6b8d88b2b4ec1564e",
    ];

    private ServerProcess? _server;

    /// <summary>Whether the node comes from <see cref="RpcUrlVariable"/>.</summary>
    public bool IsExternal { get; private set; }

    /// <summary>The node's JSON-RPC endpoint, e.g. http://127.0.0.1:43127/.</summary>
    public Uri RpcUri { get; private set; } = null!;

    /// <summary>The node's process id, for tests that suspend it (SIGSTOP/SIGCONT): a Hardhat node keeps its chain in memory only.</summary>
    public int ProcessId => _server?.ProcessId ?? throw new InvalidOperationException("an external node cannot be suspended");

    /// <summary>Suspends (SIGSTOP) the node: it stops answering but keeps its chain.</summary>
    public Task SuspendAsync() => SignalAsync("STOP");

    /// <summary>Resumes (SIGCONT) a suspended node.</summary>
    public Task ResumeAsync() => SignalAsync("CONT");

    private async Task SignalAsync(string signal)
    {
        using var kill = System.Diagnostics.Process.Start("kill", ["-" + signal, ProcessId.ToString(CultureInfo.InvariantCulture)])
            ?? throw new InvalidOperationException("kill did not start");
        await kill.WaitForExitAsync().ConfigureAwait(false);
        if (kill.ExitCode != 0) throw new InvalidOperationException($"kill -{signal} failed");
    }

    /// <summary>What the node printed so far (for failure messages).</summary>
    public string Output => _server?.Output ?? "";

    /// <inheritdoc />
    public async Task InitializeAsync()
    {
        var external = Environment.GetEnvironmentVariable(RpcUrlVariable);
        if (!string.IsNullOrWhiteSpace(external))
        {
            IsExternal = true;
            RpcUri = new Uri(external);
            return;
        }

        var port = ServerProcess.FreePort();
        RpcUri = new Uri($"http://127.0.0.1:{port.ToString(CultureInfo.InvariantCulture)}/");
        _server = await ServerProcess.StartAsync(
            RepoPaths.NodeBin(RepoPaths.Contracts, "hardhat"),
            ["node", "--hostname", "127.0.0.1", "--port", port.ToString(CultureInfo.InvariantCulture)],
            RepoPaths.Contracts,
            [port],
            timeout: TimeSpan.FromSeconds(120)).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async Task DisposeAsync()
    {
        if (_server is not null)
        {
            await _server.DisposeAsync().ConfigureAwait(false);
            _server = null;
        }
    }
}
