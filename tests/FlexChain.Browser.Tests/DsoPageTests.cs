using System.Globalization;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using FlexChain.EndToEnd.Tests;
using Microsoft.Playwright;

namespace FlexChain.Browser.Tests;

/// <summary>
/// The DSO's walk through one gate cycle in the browser: signs in with its API key, picks a transformer, drags over
/// the congested hours of its forecast to start a request, posts it with a consent its (injected) wallet signs, sees
/// the countdown, then after two CPOs offered and the gate closed the merit order with the accepted and rejected
/// offers (all of it arriving through the event stream); picks the winner of a manual-selection request by hand before
/// its decision deadline; after delivery sees the verification per market interval and the settlement, finds the
/// request in its history by filters, and follows the settlement's link to the wallet page that verifies it on chain.
/// The transformer is chosen on the map with the keyboard.
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
        await browser.InjectWalletAsync(page, MarketFixture.DsoKey);
        await page.GotoAsync(browser.AppUrl + "/app/#/dso");
        await session.CheckAsync("sign-in");
        await page.GetByLabel("API key").FillAsync(dso.ApiKey);
        await page.GetByRole(AriaRole.Button, new() { Name = "Sign in" }).ClickAsync();
        await Assertions.Expect(page.GetByText("Signed in as Dso page DSO")).ToBeVisibleAsync();
        // The results below arrive through the event stream (polled only while it is down).
        await Assertions.Expect(page.Locator(".signed-in .live")).ToHaveTextAsync("Live updates: connected.");
        await Assertions.Expect(page.GetByRole(AriaRole.Button, new() { Name = "Terni Sud 1 · 400 kW" })).ToBeVisibleAsync();
        await Assertions.Expect(page.Locator("svg.map circle")).ToHaveCountAsync(2);
        // Both transformers were registered at the same instant of the market's clock: their order is not fixed, and the
        // page opens the first one's forecast. Terni Sud 1 has none, and when the window falls on the next day the market's
        // day (t0's, not the browser's), which the page opens, has none either: the page says so, with no console error.
        var opened = page.Locator("#forecast-title");
        await Assertions.Expect(opened).ToContainTextAsync("Forecast: ");
        if ((await opened.TextContentAsync())!.Contains("Terni Sud 1", StringComparison.Ordinal) || t0.UtcDateTime.Date != day)
            await Assertions.Expect(page.GetByText("No forecast published for ")).ToBeVisibleAsync();
        // Chosen on the map with the keyboard: Tab from the list reaches each transformer's dot, shown focused, and Enter picks it.
        var dot = page.GetByRole(AriaRole.Button, new() { Name = "Map: Terni Nord MV/LV 3, 630 kW" });
        await page.Locator("ul.choices button").First.FocusAsync();
        for (var tabs = 0; tabs < 4 && !await dot.EvaluateAsync<bool>("e => e === document.activeElement"); tabs++) await page.Keyboard.PressAsync("Tab");
        await Assertions.Expect(dot).ToBeFocusedAsync();
        Assert.Equal("rgb(240, 180, 0)", await dot.EvaluateAsync<string>("e => getComputedStyle(e).stroke"));
        await page.Keyboard.PressAsync("Enter");
        await Assertions.Expect(dot).ToHaveAttributeAsync("aria-pressed", "true");
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
        var manual = (await _api.PostAsync("/v1/requests", dso, new
        {
            transformerId = transformer, deliveryStart = windowStart.AddHours(1), deliveryEnd = windowStart.AddHours(2), energyKwh = 10m, direction = "ReduceConsumption",
            maxPriceEurPerKwh = 0.5m, gateClosure = t0.AddHours(1), pricing = "PayAsBid", selection = "Manual", decisionDeadline = t0.AddMinutes(90),
        }))["id"]!.GetValue<string>();
        var cheap = (await _api.PostAsync($"/v1/requests/{manual}/offers", cpoA, new { stationIds = new[] { stationA }, energyKwh = 10m, priceEurPerKwh = 0.25m, divisible = false }))["id"]!.GetValue<string>();
        var dear = (await _api.PostAsync($"/v1/requests/{manual}/offers", cpoB, new { stationIds = new[] { stationB }, energyKwh = 10m, priceEurPerKwh = 0.40m, divisible = true }))["id"]!.GetValue<string>();

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

        // A manual-selection request (posted before the gate closed, offered on by both CPOs): between gate closure and
        // its decision deadline the DSO picks the dearer offer, and at the deadline it is cleared with exactly that pick.
        await page.GetByRole(AriaRole.Button, new() { Name = manual }).ClickAsync();
        var decision = page.Locator("form.decision");
        await Assertions.Expect(decision).ToContainTextAsync("No decision recorded yet.");
        await page.GetByLabel($"Pick {dear}").CheckAsync();
        await page.GetByLabel($"kWh of {dear} (blank: all of it)").FillAsync("8");
        await page.GetByRole(AriaRole.Button, new() { Name = "Record decision" }).ClickAsync();
        await Assertions.Expect(decision).ToContainTextAsync($"Recorded at");
        await Assertions.Expect(page.GetByLabel($"Pick {dear}")).ToBeCheckedAsync();
        await Assertions.Expect(page.GetByLabel($"Pick {cheap}")).Not.ToBeCheckedAsync();
        await session.CheckAsync("decision");
        market.Clock.SetTo(t0.AddMinutes(90));
        var manualOffers = page.GetByRole(AriaRole.Table, new() { Name = "Offers and the clearing result" });
        await Assertions.Expect(page.GetByText("Winners chosen by the DSO's decision.")).ToBeVisibleAsync(new() { Timeout = 60_000 });
        await Assertions.Expect(manualOffers.GetByRole(AriaRole.Row).Filter(new() { HasText = dear })).ToContainTextAsync("Accepted");
        await Assertions.Expect(manualOffers.GetByRole(AriaRole.Row).Filter(new() { HasText = cheap })).ToContainTextAsync("Rejected");
        await page.GetByRole(AriaRole.Button, new() { Name = request }).ClickAsync();

        var settled = (await browser.DeliverAndSettleAsync(_api, request, dso, cpoA, stationA, windowStart))["settlements"]![0]!;
        var link = page.GetByRole(AriaRole.Link, new() { Name = settled["awardId"]!.GetValue<string>() });
        await Assertions.Expect(link).ToBeVisibleAsync(new() { Timeout = 30_000 });
        // Verified per market interval: 9 kWh of the 10 awarded, 2.25 kWh in each quarter hour against a 2.5 kWh share.
        var intervals = page.GetByRole(AriaRole.Table, new() { Name = "per market interval" });
        await Assertions.Expect(intervals.GetByRole(AriaRole.Row)).ToHaveCountAsync(5);
        await Assertions.Expect(intervals.GetByRole(AriaRole.Row).Nth(1)).ToContainTextAsync("2.25");
        await session.CheckAsync("settled");

        // The history: filtered by period, transformer and state, it lists the settled request; another state does not.
        await page.GetByLabel("Period").SelectOptionAsync("7");
        await page.GetByLabel("Transformer", new() { Exact = true }).SelectOptionAsync(transformer);
        await page.GetByLabel("State").SelectOptionAsync("Settled");
        await page.GetByRole(AriaRole.Button, new() { Name = "Show history" }).ClickAsync();
        var history = page.GetByRole(AriaRole.Table, new() { Name = "Request history" });
        await Assertions.Expect(history.GetByRole(AriaRole.Row)).ToHaveCountAsync(2);
        await Assertions.Expect(history.GetByRole(AriaRole.Row).Nth(1)).ToContainTextAsync(request);
        await page.GetByLabel("State").SelectOptionAsync("Cancelled");
        await page.GetByRole(AriaRole.Button, new() { Name = "Show history" }).ClickAsync();
        await Assertions.Expect(page.GetByText("No requests match these filters.")).ToBeVisibleAsync();
        await session.CheckAsync("history");

        await link.ClickAsync();
        await Assertions.Expect(page.GetByLabel("Escrow contract")).ToHaveValueAsync(market.Settlement.ToString());
        await page.GetByLabel("Chain node (JSON-RPC URL)").FillAsync(market.Chain.RpcUri.ToString());
        await page.GetByRole(AriaRole.Button, new() { Name = "Verify" }).ClickAsync();
        await Assertions.Expect(page.GetByRole(AriaRole.Status)).ToContainTextAsync("1 of 1 payment(s) verified");
        await session.CheckAsync("verified");
    }

    [GeneratedRegex("req_[A-Za-z0-9_]+")]
    private static partial Regex RequestId();
}
