using System.IO.Compression;
using System.Text.Json;
using FlexChain.Functions.Gates;
using FlexChain.Functions.Hosting;
using FlexChain.Testing;

namespace FlexChain.Deployment.Tests;

/// <summary>
/// The shape of the package <c>scripts/publish</c> builds, as the Azure Functions host reads it: host.json names a
/// custom handler executable that is in the package and executable, and each function folder's function.json is a
/// trigger the app serves (HTTP: the API under <c>v1/</c> and the dashboard's static files under <c>app/</c>, and the
/// timers and queue triggers it handles at <c>POST /{name}</c>).
/// </summary>
[Collection(PackageCollection.Name)]
[System.Runtime.Versioning.SupportedOSPlatform("linux")]   // the package is for linux-x64
public sealed class PublishPackageTests(PackageFixture package)
{
    /// <summary>The HTTP function: the host forwards every public request under this route to the app.</summary>
    private const string ApiFunction = "Api";

    /// <summary>The dashboard's function: the host forwards GETs under <c>app/</c> to the app, which serves the bundle (Hosting/Dashboard).</summary>
    private const string DashboardFunction = "Dashboard";

    /// <summary>Every function folder the package must have: the two HTTP functions and one per trigger the app handles.</summary>
    private static IEnumerable<string> Functions => TriggersApi.Handlers.Keys.Append(ApiFunction).Append(DashboardFunction);

    private JsonElement HostJson() => JsonDocument.Parse(File.ReadAllText(Path.Combine(package.Root, "host.json"))).RootElement;

    [Fact]
    public void HostJson_NamesTheExecutable_WhichIsInThePackageAndExecutable()
    {
        var handler = HostJson().GetProperty("customHandler");
        var description = handler.GetProperty("description");
        var executable = Path.Combine(package.Root, description.GetProperty("workingDirectory").GetString()!,
            description.GetProperty("defaultExecutablePath").GetString()!);

        Assert.True(File.Exists(executable), $"{executable} is not in the package");
        Assert.True((File.GetUnixFileMode(executable) & UnixFileMode.UserExecute) != 0, $"{executable} is not executable");
        Assert.Empty(description.GetProperty("arguments").EnumerateArray());
    }

    [Fact]
    public void HostJson_ForwardsHttpWithoutRoutePrefixAndBoundsFunctionTime()
    {
        var host = HostJson();

        Assert.Equal("2.0", host.GetProperty("version").GetString());
        Assert.True(host.GetProperty("customHandler").GetProperty("enableForwardingHttpRequest").GetBoolean());
        // The app's own routes carry the v1/ prefix: the host must not add one.
        Assert.Equal("", host.GetProperty("extensions").GetProperty("http").GetProperty("routePrefix").GetString());
        var timeout = TimeSpan.Parse(host.GetProperty("functionTimeout").GetString()!, System.Globalization.CultureInfo.InvariantCulture);
        Assert.InRange(timeout, TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(30));
        // The Service Bus trigger comes from the extension bundle (a custom handler has no extensions of its own).
        Assert.Equal("Microsoft.Azure.Functions.ExtensionBundle", host.GetProperty("extensionBundle").GetProperty("id").GetString());
    }

    [Fact]
    public void FunctionFolders_AreTheApiAndEveryTriggerTheAppHandles()
    {
        var folders = Directory.GetDirectories(package.Root).Where(d => File.Exists(Path.Combine(d, "function.json")))
            .Select(Path.GetFileName).Order(StringComparer.Ordinal);

        Assert.Equal(Functions.Order(StringComparer.Ordinal), folders);
    }

    [Fact]
    public void FunctionJsons_EachDeclaresOneTriggerTheAppServes()
    {
        foreach (var name in Functions)
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(package.Root, name, "function.json")));
            var trigger = Assert.Single(doc.RootElement.GetProperty("bindings").EnumerateArray(),
                b => b.GetProperty("type").GetString()!.EndsWith("Trigger", StringComparison.Ordinal));
            switch (trigger.GetProperty("type").GetString())
            {
                case "httpTrigger":
                    // The API is versioned under v1/; the dashboard is not part of the API's contract, so it has its own
                    // prefix, read-only methods, and nothing else of the app is reachable through it.
                    var (route, methods) = name switch
                    {
                        ApiFunction => ("v1/{*route}", new[] { "delete", "get", "patch", "post", "put" }),
                        DashboardFunction => (Dashboard.Path[1..] + "/{*path}", new[] { "get", "head" }),
                        _ => throw new Xunit.Sdk.XunitException($"{name}: an HTTP trigger the app does not serve"),
                    };
                    Assert.Equal(route, trigger.GetProperty("route").GetString());
                    Assert.Equal("anonymous", trigger.GetProperty("authLevel").GetString());   // the app authenticates (API keys)
                    Assert.Equal(methods, trigger.GetProperty("methods").EnumerateArray().Select(m => m.GetString()!).Order(StringComparer.Ordinal));
                    Assert.Contains(doc.RootElement.GetProperty("bindings").EnumerateArray(), b => b.GetProperty("type").GetString() == "http");
                    break;
                case "timerTrigger":
                    Assert.True(TriggersApi.Handlers.ContainsKey(name), name);
                    LocalTriggerDriver.ParseSchedule(trigger.GetProperty("schedule").GetString()!);
                    break;
                case "serviceBusTrigger":
                    Assert.Equal(("RequestEvents", RequestEvents.Queue), (name, trigger.GetProperty("queueName").GetString()));
                    // The same connection setting the app's own Service Bus client reads (AzureClients).
                    Assert.Equal("ServiceBusConnection", trigger.GetProperty("connection").GetString());
                    Assert.Equal(TriggersApi.MessageBinding, trigger.GetProperty("name").GetString());
                    break;
                default:
                    Assert.Fail($"{name}: trigger type {trigger.GetProperty("type")} is not served by the app");
                    break;
            }
        }
    }

    [Fact]
    public void Package_CarriesTheRepositorysHostAndFunctionFilesUnchanged()
    {
        Assert.Equal(File.ReadAllText(Path.Combine(RepoPaths.Root, "host.json")), File.ReadAllText(Path.Combine(package.Root, "host.json")));
        foreach (var name in Functions)
            Assert.Equal(File.ReadAllText(Path.Combine(RepoPaths.Root, "functions", name, "function.json")),
                File.ReadAllText(Path.Combine(package.Root, name, "function.json")));
    }

    [Fact]
    public void Zip_HoldsThePackageWithTheExecutableStillExecutable()
    {
        using var zip = ZipFile.OpenRead(package.Zip);
        var names = zip.Entries.Select(e => e.FullName).ToHashSet(StringComparer.Ordinal);

        Assert.Contains("host.json", names);
        Assert.Contains("Api/function.json", names);
        Assert.Contains("Dashboard/function.json", names);
        Assert.Contains("dashboard/index.html", names);
        Assert.Contains("appsettings.json", names);
        // Unix permissions live in the high 16 bits of a zip entry's external attributes; a lost x bit stops the host.
        var mode = (UnixFileMode)((zip.GetEntry("FlexChain.Functions")!.ExternalAttributes >> 16) & 0x1FF);
        Assert.True((mode & UnixFileMode.UserExecute) != 0, $"mode {mode}");
    }
}
