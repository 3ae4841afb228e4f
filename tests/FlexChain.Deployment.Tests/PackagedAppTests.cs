using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Azure.Data.Tables;
using Azure.Storage.Blobs;
using FlexChain.Functions.Hosting;
using FlexChain.Testing;

namespace FlexChain.Deployment.Tests;

/// <summary>
/// The packaged executable started as the Functions host starts a custom handler (<c>FUNCTIONS_CUSTOMHANDLER_PORT</c>,
/// the package as working directory) on real Azurite and with no chain node: it listens, answers its health check,
/// serves its routes under the Api function's <c>v1/</c> route and the trigger invocations, and has created its storage.
/// </summary>
[Collection(PackageCollection.Name)]
public sealed partial class PackagedAppTests(PackageFixture package, AzuriteFixture storage) : IAsyncLifetime
{
    private readonly int _port = ServerProcess.FreePort();
    private ServerProcess? _app;
    private readonly HttpClient _client = new();

    public async Task InitializeAsync()
    {
        _client.BaseAddress = new Uri($"http://127.0.0.1:{_port}");
        _app = await ServerProcess.StartAsync(Path.Combine(package.Root, "FlexChain.Functions"), [], package.Root, [_port],
            new Dictionary<string, string>
            {
                ["FUNCTIONS_CUSTOMHANDLER_PORT"] = _port.ToString(System.Globalization.CultureInfo.InvariantCulture),
                ["Storage__ConnectionString"] = storage.ConnectionString,
                // No node listens here: the app must serve without the chain.
                ["Chain__RpcUrl"] = $"http://127.0.0.1:{ServerProcess.FreePort()}/",
                ["Chain__ChainId"] = "31337",
                ["Chain__SettlementContract"] = "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512",
                // Hardhat's public development account #0 (never a real key).
                ["Chain__OperatorKey"] = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
                // Hardhat's public development account #17, the deploy script's registrar.
                ["Chain__RegistrarKey"] = "0x689af8efa8c651a91ad287602527f3af2fe9f6501a7ac4b061667b5a93e037fd",
                ["DurableTask__WorkerId"] = "package-test",
            }, TimeSpan.FromSeconds(60));
    }

    public async Task DisposeAsync()
    {
        _client.Dispose();
        if (_app is not null) await _app.DisposeAsync();
    }

    [Fact]
    public async Task Health_WithoutChainNode_AnswersDegradedNamingTheChainState()
    {
        using var response = await _client.GetAsync("/v1/health");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var health = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
        Assert.Equal("degraded", health["status"]!.GetValue<string>());
        Assert.Equal("Connecting", health["chain"]!["state"]!.GetValue<string>());
    }

    [Fact]
    public async Task Routes_AreAllUnderTheApiFunctionsRoute()
    {
        var paths = (await _client.GetFromJsonAsync<JsonNode>("/v1/openapi.json"))!["paths"]!.AsObject().Select(p => p.Key).ToList();

        Assert.NotEmpty(paths);
        Assert.All(paths, p => Assert.StartsWith("/v1/", p, StringComparison.Ordinal));
    }

    [Fact]
    public async Task Dashboard_IsServedFromThePackage_WithItsOwnPolicyAndRevalidation()
    {
        using var page = await _client.GetAsync("/app/");
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.Equal("text/html", page.Content.Headers.ContentType!.MediaType);
        Assert.Equal(Dashboard.ContentSecurityPolicy, Assert.Single(page.Headers.GetValues("Content-Security-Policy")));
        Assert.Equal("no-cache", page.Headers.CacheControl!.ToString());
        Assert.Contains("src=\"main.js\"", await page.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        using var script = await _client.GetAsync("/app/main.js");
        Assert.Equal(HttpStatusCode.OK, script.StatusCode);
        Assert.Equal("text/javascript", script.Content.Headers.ContentType!.MediaType);
        Assert.NotNull(script.Headers.ETag);
        using var css = await _client.GetAsync("/app/style.css");
        Assert.Equal("text/css", css.Content.Headers.ContentType!.MediaType);

        // The API keeps its own policy; a file the bundle does not have is a 404.
        using var api = await _client.GetAsync("/v1/health");
        Assert.Equal(SecurityHeadersMiddleware.ContentSecurityPolicy, Assert.Single(api.Headers.GetValues("Content-Security-Policy")));
        using var missing = await _client.GetAsync("/app/nothing.js");
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
    }

    [Fact]
    public async Task TimerInvocation_AsTheHostPostsIt_IsAnswered()
    {
        var invocation = """{"Data":{"timer":{"IsPastDue":false}},"Metadata":{"sys":{"MethodName":"GateTick"}}}""";

        using var response = await _client.PostAsync("/GateTick", new StringContent(invocation, Encoding.UTF8, "application/json"));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var body = JsonNode.Parse(await response.Content.ReadAsStringAsync())!.AsObject();
        Assert.Equal(["Outputs", "Logs", "ReturnValue"], body.Select(p => p.Key));
    }

    [Fact]
    public async Task Startup_CreatesEveryTableAndContainerTheCodeNames()
    {
        var code = string.Join('\n', Directory.GetFiles(Path.Combine(RepoPaths.Root, "functions"), "*.cs", SearchOption.AllDirectories)
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal)).Select(File.ReadAllText));
        var tables = TableName().Matches(code).Select(m => m.Groups[1].Value).Distinct().ToList();
        Assert.Contains("participants", tables);

        var created = new HashSet<string>(StringComparer.Ordinal);
        await foreach (var t in new TableServiceClient(storage.ConnectionString).QueryAsync()) created.Add(t.Name);
        Assert.Empty(tables.Except(created));
        Assert.True((await new BlobServiceClient(storage.ConnectionString).GetBlobContainerClient(FlexChain.Functions.Storage.MarketStore.DocumentsContainer).ExistsAsync()).Value);
    }

    [GeneratedRegex(@"GetTableClient\(""([a-z0-9]+)""\)")]
    private static partial Regex TableName();
}
