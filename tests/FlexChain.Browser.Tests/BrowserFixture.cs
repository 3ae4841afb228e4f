using Deque.AxeCore.Commons;
using Deque.AxeCore.Playwright;
using FlexChain.EndToEnd.Tests;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;
using Nethereum.Signer.EIP712;

namespace FlexChain.Browser.Tests;

/// <summary>
/// The end-to-end market (real Azurite, a Hardhat node with the contracts, the app with a manual clock) with one more
/// instance of the app listening on a real loopback port for the browser, and Debian's headless Chromium driven by
/// Playwright (never Playwright's own browser download).
/// </summary>
public sealed class BrowserFixture : IAsyncLifetime
{
    /// <summary>Where every test's screenshots go (desktop and 390 px wide): <c>screenshots/</c> in the test output folder.</summary>
    public static string Screenshots { get; } = Path.Combine(AppContext.BaseDirectory, "screenshots");

    public MarketFixture Market { get; } = new();

    /// <summary>The app's origin as the browser reaches it (no trailing slash).</summary>
    public string AppUrl { get; private set; } = "";

    private WebApplicationFactory<Program>? _web;
    private IPlaywright? _playwright;
    private IBrowser? _browser;

    public async Task InitializeAsync()
    {
        Environment.SetEnvironmentVariable("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1");
        await Market.InitializeAsync();
        _web = Market.NewInstance(("Chain:PublicRpcUrl", Market.Chain.RpcUri.ToString()));   // as scripts/run offers its node
        _web.UseKestrel(k => k.Listen(System.Net.IPAddress.Loopback, 0));
        _web.StartServer();
        AppUrl = _web.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single().TrimEnd('/');
        _playwright = await Playwright.CreateAsync();
        _browser = await _playwright.Chromium.LaunchAsync(new()
        {
            ExecutablePath = "/usr/bin/chromium", Headless = true,
            Args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
        });
        Directory.CreateDirectory(Screenshots);
        // The machine is shared (Azurite, the chain node, the app and the browser on two cores): wait longer than
        // Playwright's 5 s default for what a page shows after its API calls.
        Assertions.SetDefaultExpectTimeout(20_000);
    }

    /// <summary>
    /// Delivers and settles an awarded request as the end-to-end tests do: <paramref name="cpo"/>'s meter reads 5 kWh a
    /// quarter hour in the hour before the window (baseline) and 2.75 in it (9 kWh of reduction), and the market clock
    /// moves past delivery and the meter-data grace. Returns the request once settled.
    /// </summary>
    public async Task<System.Text.Json.Nodes.JsonNode> DeliverAndSettleAsync(MarketClient api, string request, Caller dso, Caller cpo, string station, DateTimeOffset windowStart)
    {
        Market.Clock.SetTo(windowStart);
        await api.PostQuarterReadingsAsync(cpo, station, windowStart.AddHours(-1), 5m);
        Market.Clock.SetTo(windowStart.AddHours(1));
        await api.PostQuarterReadingsAsync(cpo, station, windowStart, 2.75m);
        Market.Clock.SetTo(windowStart.AddHours(1).AddMinutes(5));
        return await api.WaitForStateAsync(request, dso, "Settled");
    }

    /// <summary>
    /// An EIP-1193 provider as a wallet extension injects it (window.ethereum), backed by a Hardhat development key: it
    /// offers the key's account, signs typed data (eth_signTypedData_v4) in the test process, and sends every other call
    /// to the chain node as a wallet app sends it to its own (the node's development accounts are unlocked, so
    /// eth_sendTransaction from the key's account is signed there).
    /// </summary>
    public async Task InjectWalletAsync(IPage page, Wallet wallet)
    {
        await page.ExposeFunctionAsync("testWalletSignTypedData", (string json) => new Eip712TypedDataSigner().SignTypedDataV4(json, wallet.Key));
        await page.AddInitScriptAsync($$"""
            window.ethereum = {
              isTestWallet: true,
              async request({ method, params }) {
                if (method === "eth_requestAccounts" || method === "eth_accounts") return ["{{wallet.Address}}"];
                if (method === "eth_signTypedData_v4") return window.testWalletSignTypedData(params[1]);
                const response = await fetch("{{Market.Chain.RpcUri}}", { method: "POST", headers: { "Content-Type": "application/json" },
                  body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params: params ?? [] }) });
                const answer = await response.json();
                if (answer.error) throw Object.assign(new Error(answer.error.message), { code: answer.error.code });
                return answer.result;
              },
            };
            """);
    }

    /// <summary>A fresh browser context and page at desktop size that records console errors and uncaught exceptions.</summary>
    public async Task<PageSession> OpenAsync(string name)
    {
        var context = await _browser!.NewContextAsync(new() { ViewportSize = new() { Width = 1280, Height = 900 } });
        return new PageSession(name, context, await context.NewPageAsync());
    }

    public async Task DisposeAsync()
    {
        if (_browser is not null) await _browser.DisposeAsync();
        _playwright?.Dispose();
        if (_web is not null) await _web.DisposeAsync();
        await Market.DisposeAsync();
    }
}

/// <summary>
/// One test's page: <see cref="CheckAsync"/> is what every test ends each screen with: screenshots at desktop width and at
/// 390 px, nothing wider than the screen and no serious or critical axe violation at either width, and no console error or uncaught exception so far.
/// </summary>
public sealed class PageSession : IAsyncDisposable
{
    private readonly IBrowserContext _context;
    private readonly List<string> _errors = [];
    private readonly List<string> _expected = [];
    private readonly List<string> _expectedRepeated = [];

    public PageSession(string name, IBrowserContext context, IPage page)
    {
        (Name, _context, Page) = (name, context, page);
        page.Console += (_, message) => { if (message.Type == "error") lock (_errors) _errors.Add($"console: {message.Text}"); };
        page.PageError += (_, error) => { lock (_errors) _errors.Add($"uncaught: {error}"); };
    }

    public string Name { get; }

    /// <summary>
    /// Declares one console error the next step must cause: Chromium logs every refused API call (a 412 the page handles,
    /// say) as "Failed to load resource". <see cref="CheckAsync"/> fails if it did not appear.
    /// </summary>
    public void ExpectConsoleError(string text) => _expected.Add(text);

    /// <summary>As <see cref="ExpectConsoleError"/> for an error the next step causes one or more times (a retried call).</summary>
    public void ExpectConsoleErrors(string text) => _expectedRepeated.Add(text);

    public IPage Page { get; }

    /// <summary>Checks the page as it is now, saving <c>{test}-{step}-desktop.png</c> and <c>{test}-{step}-390.png</c>.</summary>
    public async Task CheckAsync(string step)
    {
        foreach (var (width, height, suffix) in new[] { (1280, 900, "desktop"), (390, 844, "390") })
        {
            await Page.SetViewportSizeAsync(width, height);
            await Page.ScreenshotAsync(new() { Path = Path.Combine(BrowserFixture.Screenshots, $"{Name}-{step}-{suffix}.png"), FullPage = true });
            // Nothing wider than the screen: a phone user never scrolls sideways to read a line.
            Assert.True(await Page.EvaluateAsync<int>("document.documentElement.scrollWidth") <= width, $"{step} at {width} px scrolls sideways");
            var axe = await Page.RunAxe();
            var blocking = axe.Violations.Where(v => v.Impact is "serious" or "critical")
                .Select(v => $"{v.Id} ({v.Impact}): {v.Help} at {string.Join(", ", v.Nodes.Select(n => n.Target?.ToString()))}").ToList();
            Assert.True(blocking.Count == 0, $"{step} at {width} px: " + string.Join("; ", blocking));
        }
        await Page.SetViewportSizeAsync(1280, 900);
        lock (_errors)
        {
            foreach (var text in _expected)
                Assert.True(_errors.Remove(_errors.FirstOrDefault(e => e.Contains(text, StringComparison.Ordinal)) ?? ""), $"expected console error '{text}' did not appear");
            _expected.Clear();
            foreach (var text in _expectedRepeated)
                Assert.True(_errors.RemoveAll(e => e.Contains(text, StringComparison.Ordinal)) > 0, $"expected console error '{text}' did not appear");
            _expectedRepeated.Clear();
            Assert.True(_errors.Count == 0, string.Join("\n", _errors));
        }
    }

    public async ValueTask DisposeAsync() => await _context.DisposeAsync();
}

[CollectionDefinition(Name)]
public sealed class BrowserCollection : ICollectionFixture<BrowserFixture>
{
    public const string Name = "browser";
}
