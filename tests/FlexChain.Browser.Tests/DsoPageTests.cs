using System.Globalization;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using FlexChain.EndToEnd.Tests;
using Microsoft.Playwright;
using Nethereum.Signer.EIP712;

namespace FlexChain.Browser.Tests;

/// <summary>
/// The DSO's walk through one gate cycle in the browser: signs in with its API key, picks a transformer, drags over
/// the congested hours of its forecast to start a request, posts it with a consent its (injected) wallet signs, sees
/// the countdown, then after two CPOs offered and the gate closed the merit order with the accepted and rejected
/// offers, and after delivery the settlement, whose link opens the wallet page that verifies it on chain.
/// </summary>
[Collection(BrowserCollection.Name)]
public sealed partial class DsoPageTests(BrowserFixture browser)
{
    private readonly MarketClient _api = new(browser.Market.Client);

    [Fact]
    public async Task Dso_RequestFromTheForecastChart_SeesClearingAndTheVerifiedSettlement()
    {
        var market = browser.Market;
        // On a whole hour, so that the delivery window is four of the forecast's quarter hours (other tests move the clock).
        var now = market.Clock.GetUtcNow();
        var t0 = new DateTimeOffset(now.Year, now.Month, now.Day, now.Hour, 0, 0, TimeSpan.Zero).AddHours(1);
        market.Clock.SetTo(t0);
        var (dso, cpoA, cpoB, transformer, stationA, stationB) =
            await _api.SmallMarketAsync("Dso page", MarketFixture.DsoKey, MarketFixture.CpoAKey, MarketFixture.CpoBKey, "IT001E00000093", "IT001E00000094");
        await _api.PostAsync("/v1/transformers", dso, new { name = "Terni Sud 1", ratedPowerKw = 400, location = new { latitude = 42.55m, longitude = 12.66m } });
        var windowStart = t0.AddHours(2);
        var day = windowStart.UtcDateTime.Date;
        // A day of quarter hours at 500 kW under a 630 kW limit, except 640 kW in the hour from windowStart: 10 kWh too much.
        await _api.SendOkAsync(HttpMethod.Put, $"/v1/transformers/{transformer}/forecasts/{day:yyyy-MM-dd}", dso, new
        {
            points = Enumerable.Range(0, 96).Select(i => new DateTimeOffset(day, TimeSpan.Zero).AddMinutes(15 * i)).Select(start => new
            {
                start, end = start.AddMinutes(15), limitKw = 630m, expectedLoadKw = start >= windowStart && start < windowStart.AddHours(1) ? 640m : 500m,
            }),
        });

        await using var session = await browser.OpenAsync("dso");
        var page = session.Page;
        await InjectWalletAsync(page, MarketFixture.DsoKey);
        await page.GotoAsync(browser.AppUrl + "/app/#/dso");
        await session.CheckAsync("sign-in");
        await page.GetByLabel("API key").FillAsync(dso.ApiKey);
        await page.GetByRole(AriaRole.Button, new() { Name = "Sign in" }).ClickAsync();
        await Assertions.Expect(page.GetByText("Signed in as Dso page DSO")).ToBeVisibleAsync();
        await Assertions.Expect(page.GetByRole(AriaRole.Button, new() { Name = "Terni Sud 1 · 400 kW" })).ToBeVisibleAsync();
        await Assertions.Expect(page.Locator("svg.map circle")).ToHaveCountAsync(2);
        // Both transformers were registered at the same instant of the market's clock: their order is not fixed.
        // The page opens the market's day (t0's, not the browser's): when the window falls on the next day, that day
        // has no forecast, which the page says and Chromium logs as a 404.
        if (t0.UtcDateTime.Date != day) session.ExpectConsoleError("404");
        await page.GetByRole(AriaRole.Button, new() { Name = "Terni Nord MV/LV 3 · 630 kW" }).ClickAsync();
        await Assertions.Expect(page.GetByRole(AriaRole.Heading, new() { Name = "Forecast: Terni Nord MV/LV 3" })).ToBeVisibleAsync();

        // The page shows the market's day first: choose the window's day unless it is that one.
        var dayText = day.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);
        await Assertions.Expect(page.GetByLabel("Day (UTC)")).ToHaveValueAsync(t0.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture));
        if (t0.UtcDateTime.Date != day) await page.GetByLabel("Day (UTC)").FillAsync(dayText);
        var congested = page.Locator("svg.forecast rect.bar.congested");
        await Assertions.Expect(congested).ToHaveCountAsync(4);
        // Drag from the first congested bar's left edge to the last one's right edge.
        var edges = await congested.EvaluateAllAsync<float[]>(
            "bars => { const a = bars[0].getBoundingClientRect(), b = bars[bars.length - 1].getBoundingClientRect(); return [a.left + 1, a.top + a.height / 2, b.right - 1]; }");
        await page.Mouse.MoveAsync(edges[0], edges[1]);
        await page.Mouse.DownAsync();
        await page.Mouse.MoveAsync(edges[2], edges[1], new() { Steps = 5 });
        await page.Mouse.UpAsync();
        Assert.Equal(windowStart, DateTimeOffset.Parse(await page.GetByLabel("Delivery start (UTC, ISO 8601)").InputValueAsync(), CultureInfo.InvariantCulture));
        Assert.Equal(windowStart.AddHours(1), DateTimeOffset.Parse(await page.GetByLabel("Delivery end (UTC, ISO 8601)").InputValueAsync(), CultureInfo.InvariantCulture));
        await Assertions.Expect(page.GetByLabel("Energy (kWh)")).ToHaveValueAsync("10");
        await page.GetByLabel("Gate closure (UTC, ISO 8601)").FillAsync(t0.AddHours(1).ToString("O", CultureInfo.InvariantCulture));
        await session.CheckAsync("drafted");

        await page.GetByRole(AriaRole.Button, new() { Name = "Sign consent and post request" }).ClickAsync();
        var posted = page.GetByRole(AriaRole.Status).Filter(new() { HasText = "posted" });
        await Assertions.Expect(posted).ToContainTextAsync("Open");
        var request = RequestId().Match(await posted.TextContentAsync() ?? "").Value;
        await page.GetByRole(AriaRole.Button, new() { Name = request }).ClickAsync();
        await Assertions.Expect(page.Locator(".card").Filter(new() { HasText = $"Request {request}" }).Locator(".countdown")).ToHaveTextAsync(new Regex(@"^(1 h 00|59|58) min \d\d s$"));
        await session.CheckAsync("open");

        await _api.PostAsync($"/v1/requests/{request}/offers", cpoA, new { stationIds = new[] { stationA }, energyKwh = 10m, priceEurPerKwh = 0.25m, divisible = false });
        await _api.PostAsync($"/v1/requests/{request}/offers", cpoB, new { stationIds = new[] { stationB }, energyKwh = 10m, priceEurPerKwh = 0.40m, divisible = false });
        market.Clock.SetTo(t0.AddHours(1));
        var offers = page.GetByRole(AriaRole.Table, new() { Name = "Offers and the clearing result" });
        await Assertions.Expect(offers.GetByRole(AriaRole.Row)).ToHaveCountAsync(3, new() { Timeout = 60_000 });
        await Assertions.Expect(offers.GetByRole(AriaRole.Row).Nth(1)).ToContainTextAsync("Accepted");
        await Assertions.Expect(offers.GetByRole(AriaRole.Row).Nth(2)).ToContainTextAsync("Rejected");
        await Assertions.Expect(page.Locator("svg.merit rect.bar.accepted")).ToHaveCountAsync(1);
        await Assertions.Expect(page.GetByRole(AriaRole.Table, new() { Name = "Awards (locked in escrow)" })).ToContainTextAsync("0x", new() { Timeout = 60_000 });
        await session.CheckAsync("cleared");

        var settled = (await browser.DeliverAndSettleAsync(_api, request, dso, cpoA, stationA, windowStart))["settlements"]![0]!;
        var link = page.GetByRole(AriaRole.Link, new() { Name = settled["awardId"]!.GetValue<string>() });
        await Assertions.Expect(link).ToBeVisibleAsync(new() { Timeout = 30_000 });
        await session.CheckAsync("settled");

        await link.ClickAsync();
        await Assertions.Expect(page.GetByLabel("Escrow contract")).ToHaveValueAsync(market.Settlement.ToString());
        await page.GetByLabel("Chain node (JSON-RPC URL)").FillAsync(market.Chain.RpcUri.ToString());
        await page.GetByRole(AriaRole.Button, new() { Name = "Verify" }).ClickAsync();
        await Assertions.Expect(page.GetByRole(AriaRole.Status)).ToContainTextAsync("1 of 1 payment(s) verified");
        await session.CheckAsync("verified");
    }

    /// <summary>
    /// An EIP-1193 provider as a wallet extension injects it (window.ethereum), backed by a Hardhat development key: it
    /// offers the key's account and signs typed data (eth_signTypedData_v4) in the test process.
    /// </summary>
    private static async Task InjectWalletAsync(IPage page, Wallet wallet)
    {
        await page.ExposeFunctionAsync("testWalletSignTypedData", (string json) => new Eip712TypedDataSigner().SignTypedDataV4(json, wallet.Key));
        await page.AddInitScriptAsync($$"""
            window.ethereum = {
              isTestWallet: true,
              async request({ method, params }) {
                if (method === "eth_requestAccounts" || method === "eth_accounts") return ["{{wallet.Address}}"];
                if (method === "eth_signTypedData_v4") return window.testWalletSignTypedData(params[1]);
                throw Object.assign(new Error(`unsupported method ${method}`), { code: 4200 });
              },
            };
            """);
    }

    [GeneratedRegex("req_[A-Za-z0-9_]+")]
    private static partial Regex RequestId();
}
