using System.Text.Json.Nodes;
using FlexChain.EndToEnd.Tests;
using Microsoft.Playwright;

namespace FlexChain.Browser.Tests;

/// <summary>
/// The wallet holder's page (no login): a payment settled on the real chain is shown verified, checked in the browser
/// against the node the holder names; the same payment with a tampered published record is shown not verified with
/// the failed check and its reason.
/// </summary>
[Collection(BrowserCollection.Name)]
public sealed class WalletPageTests(BrowserFixture browser)
{
    private readonly MarketClient _api = new(browser.Market.Client);

    [Fact]
    public async Task SettledPayment_VerifiedInTheBrowser_TamperedRecordShownNotVerifiedWithTheReason()
    {
        var settlement = await SettleOneAwardAsync();
        var awardId = settlement["awardId"]!.GetValue<string>();
        await using var session = await browser.OpenAsync("wallet");
        var page = session.Page;

        await page.GotoAsync(browser.AppUrl + "/app/#/wallet");
        // The chain node (on its own port, not Hardhat's default 8545) and the escrow address are prefilled from the app's
        // health endpoint (the holder may replace them).
        await Assertions.Expect(page.GetByLabel("Chain node (JSON-RPC URL)")).ToHaveValueAsync(browser.Market.Chain.RpcUri.ToString());
        await Assertions.Expect(page.GetByLabel("Escrow contract")).ToHaveValueAsync(browser.Market.Settlement.ToString());
        await session.CheckAsync("empty");

        await page.GetByLabel("What to check").SelectOptionAsync("awardId");
        await page.GetByLabel("Settlement id, transaction hash or wallet address").FillAsync(awardId);
        await page.GetByRole(AriaRole.Button, new() { Name = "Verify" }).ClickAsync();
        await Assertions.Expect(page.GetByRole(AriaRole.Status)).ToContainTextAsync("1 of 1 payment(s) verified");
        var card = page.Locator("article.verdict");
        await Assertions.Expect(card.GetByRole(AriaRole.Heading)).ToContainTextAsync("Verified");
        await Assertions.Expect(card).ToContainTextAsync("2.25");   // 9 kWh delivered of 10 at 0.25 EUR/kWh
        await Assertions.Expect(card).ToContainTextAsync(settlement["transactionHash"]!.GetValue<string>());
        await session.CheckAsync("verified");

        // The same payment, its published record altered on the way (a delivered amount raised): the browser's own hash
        // of the record no longer matches the settlementHash the escrow emitted.
        await page.RouteAsync("**/v1/settlements/**", async route =>
        {
            var response = await route.FetchAsync();
            var record = JsonNode.Parse(await response.TextAsync())!;
            record["settlement"]!["deliveredWh"] = 10_000;
            await route.FulfillAsync(new() { Response = response, Body = record.ToJsonString() });
        });
        await page.GetByRole(AriaRole.Button, new() { Name = "Verify" }).ClickAsync();
        await Assertions.Expect(page.GetByRole(AriaRole.Status)).ToContainTextAsync("0 of 1 payment(s) verified");
        await Assertions.Expect(card.GetByRole(AriaRole.Heading)).ToContainTextAsync("Not verified");
        var failure = card.GetByRole(AriaRole.List, new() { Name = "Failed checks" }).GetByRole(AriaRole.Listitem);
        await Assertions.Expect(failure).ToHaveCountAsync(1);
        await Assertions.Expect(failure).ToContainTextAsync(
            $"settlement-hash: the published settlement record hashes to 0x");
        await Assertions.Expect(failure).ToContainTextAsync($"the event's settlementHash is {settlement["recordHash"]!.GetValue<string>()}");
        await session.CheckAsync("tampered");

        // The profile published with it altered (another shape would be another purchase): it no longer hashes to the
        // award record's profileHash, which the escrow's commitment binds.
        await page.UnrouteAsync("**/v1/settlements/**");
        await page.RouteAsync("**/v1/settlements/**", async route =>
        {
            var response = await route.FetchAsync();
            var record = JsonNode.Parse(await response.TextAsync())!;
            record["awardProfile"]!["energyWh"] = new JsonArray(5_000, 5_000);
            record["awardProfile"]!["intervalSeconds"] = 1_800;
            await route.FulfillAsync(new() { Response = response, Body = record.ToJsonString() });
        });
        await page.GetByRole(AriaRole.Button, new() { Name = "Verify" }).ClickAsync();
        await Assertions.Expect(failure).ToHaveCountAsync(1);
        await Assertions.Expect(failure).ToContainTextAsync("profile: the published profile hashes to 0x");
    }

    /// <summary>
    /// One request won by CPO A (10 kWh at 0.25 EUR/kWh) against CPO B's dearer offer, delivered (9 kWh) and settled on
    /// chain, the market clock moved as the end-to-end tests move it. Returns the published settlement of the award.
    /// </summary>
    private async Task<JsonNode> SettleOneAwardAsync()
    {
        var market = browser.Market;
        var t0 = market.Clock.GetUtcNow();
        var (dso, cpoA, cpoB, transformer, stationA, stationB) =
            await _api.SmallMarketAsync("Wallet page", MarketFixture.DsoKey, MarketFixture.CpoAKey, MarketFixture.CpoBKey, "IT001E00000091", "IT001E00000092");
        var windowStart = t0.AddHours(2);
        var request = await _api.RequestAsync(dso, transformer, t0.AddHours(1), windowStart, kwh: 10m);
        await _api.PostAsync($"/v1/requests/{request}/offers", cpoA, new { stationIds = new[] { stationA }, energyKwh = 10m, priceEurPerKwh = 0.25m, divisible = false });
        await _api.PostAsync($"/v1/requests/{request}/offers", cpoB, new { stationIds = new[] { stationB }, energyKwh = 10m, priceEurPerKwh = 0.40m, divisible = false });

        market.Clock.SetTo(t0.AddHours(1));
        await _api.WaitForStateAsync(request, dso, "Awarded");
        return Assert.Single((await browser.DeliverAndSettleAsync(_api, request, dso, cpoA, stationA, windowStart))["settlements"]!.AsArray())!;
    }
}
