using System.Diagnostics;
using FlexChain.Testing;

namespace FlexChain.Deployment.Tests;

/// <summary>The deployable package, built once by <c>scripts/publish</c> into a temporary folder and deleted afterwards.</summary>
public sealed class PackageFixture : IAsyncLifetime
{
    private readonly string _out = Path.Combine(Path.GetTempPath(), "flexchain-publish-" + Guid.NewGuid().ToString("N"));

    /// <summary>The package root: what the Functions host sees as the function app's folder.</summary>
    public string Root => Path.Combine(_out, "package");

    /// <summary>The zip that is deployed.</summary>
    public string Zip => Path.Combine(_out, "flexchain-functions.zip");

    public async Task InitializeAsync()
    {
        var info = new ProcessStartInfo("bash") { WorkingDirectory = RepoPaths.Root, RedirectStandardOutput = true, RedirectStandardError = true };
        info.ArgumentList.Add(Path.Combine(RepoPaths.Root, "scripts", "publish"));
        info.ArgumentList.Add(_out);
        using var process = Process.Start(info)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var errors = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(10));
        await process.WaitForExitAsync(timeout.Token);
        if (process.ExitCode != 0)
            throw new InvalidOperationException($"scripts/publish failed ({process.ExitCode}): {await output}{await errors}");
    }

    public Task DisposeAsync()
    {
        Directory.Delete(_out, recursive: true);
        return Task.CompletedTask;
    }
}

[CollectionDefinition(Name)]
public sealed class PackageCollection : ICollectionFixture<PackageFixture>, ICollectionFixture<AzuriteFixture>
{
    public const string Name = "package";
}
