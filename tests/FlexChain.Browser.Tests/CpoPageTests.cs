using System.Globalization;
using FlexChain.EndToEnd.Tests;
using Microsoft.Playwright;

namespace FlexChain.Browser.Tests;

/// <summary>
/// The CPO's walk in the browser: signs in, sees its prequalified station and its EV, opens a request at its
/// transformer, places an offer, edits it, is refused (412) when another system changed it meanwhile and sees it
/// reloaded, withdraws it, offers again, and after the gate closes sees its offer accepted and awarded.
/// </summary>
[Collection(BrowserCollection.Name)]
public sealed class CpoPageTests(BrowserFixture browser)
{
    private readonly MarketClient _api = new(browser.Market.Client);

    [Fact]
    public async Task Cpo_PlacesEditsAndWithdrawsOffersUnderTheETagRules_SeesTheAward()
    {
        var market = browser.Market;
        var t0 = market.Clock.GetUtcNow();
        var (dso, cpoA, cpoB, transformer, stationA, stationB) =
            await _api.SmallMarketAsync("Cpo page", MarketFixture.DsoKey, MarketFixture.CpoAKey, MarketFixture.CpoBKey, "IT001E00000095", "IT001E00000096");
        await _api.PostAsync("/v1/evs", cpoA, new { model = "Fiat 500e", batteryKwh = 42m, maxChargingKw = 11m });
        var request = await _api.RequestAsync(dso, transformer, t0.AddHours(1), t0.AddHours(2), kwh: 10m);

        await using var session = await browser.OpenAsync("cpo");
        var page = session.Page;
        await page.GotoAsync(browser.AppUrl + "/app/#/cpo");
        await page.GetByLabel("API key").FillAsync(cpoA.ApiKey);
        await page.GetByRole(AriaRole.Button, new() { Name = "Sign in" }).ClickAsync();
        var stations = page.GetByRole(AriaRole.Table, new() { Name = "Stations" });
        await Assertions.Expect(stations.GetByRole(AriaRole.Row).Filter(new() { HasText = stationA })).ToContainTextAsync("Qualified until");
        await Assertions.Expect(page.GetByRole(AriaRole.Table, new() { Name = "EVs" })).ToContainTextAsync("Fiat 500e");
        await page.GetByRole(AriaRole.Button, new() { Name = request }).ClickAsync();
        await Assertions.Expect(page.GetByText("You have no offer on this request.")).ToBeVisibleAsync();
        await session.CheckAsync("request");

        // Place, then edit: the edit carries the version it was loaded at.
        await Assertions.Expect(page.GetByLabel($"{stationA} (22 kW)")).ToBeCheckedAsync();
        await page.GetByLabel("Energy (kWh)").FillAsync("10");
        await page.GetByLabel("Price (EUR/kWh)").FillAsync("0.3");
        await page.GetByRole(AriaRole.Button, new() { Name = "Place offer" }).ClickAsync();
        var status = page.Locator("form .status");
        await Assertions.Expect(status).ToContainTextAsync("placed");
        var offers = page.GetByRole(AriaRole.Table, new() { Name = "Your offers" });
        await Assertions.Expect(offers.GetByRole(AriaRole.Row)).ToHaveCountAsync(2);
        var offer = (await _api.GetAsync($"/v1/requests/{request}/offers", cpoA))["items"]![0]!["id"]!.GetValue<string>();
        await page.GetByRole(AriaRole.Button, new() { Name = $"Edit {offer}" }).ClickAsync();
        await Assertions.Expect(page.GetByLabel("Price (EUR/kWh)")).ToHaveValueAsync("0.3");   // loaded with its version
        await page.GetByLabel("Price (EUR/kWh)").FillAsync("0.28");
        await page.GetByRole(AriaRole.Button, new() { Name = $"Save changes to {offer}" }).ClickAsync();
        await Assertions.Expect(status).ToContainTextAsync("saved (revision 2)");
        await session.CheckAsync("edited");

        // Another system changes the offer after the page loaded it for editing: the page's save is refused, nothing
        // changes, and the page shows the other system's version.
        await page.GetByRole(AriaRole.Button, new() { Name = $"Edit {offer}" }).ClickAsync();
        await Assertions.Expect(page.GetByLabel("Price (EUR/kWh)")).ToHaveValueAsync("0.28");
        using (var other = await _api.SendAsync(HttpMethod.Put, $"/v1/requests/{request}/offers/{offer}", cpoA,
            new { stationIds = new[] { stationA }, energyKwh = 10m, priceEurPerKwh = 0.27m, divisible = false }, ifMatch: "\"2\""))
            Assert.True(other.IsSuccessStatusCode, await other.Content.ReadAsStringAsync());
        await page.GetByLabel("Price (EUR/kWh)").FillAsync("0.26");
        session.ExpectConsoleError("status of 412 (Precondition Failed)");
        await page.GetByRole(AriaRole.Button, new() { Name = $"Save changes to {offer}" }).ClickAsync();
        await Assertions.Expect(status).ToContainTextAsync("changed elsewhere");
        await Assertions.Expect(page.GetByLabel("Price (EUR/kWh)")).ToHaveValueAsync("0.27");
        Assert.Equal(0.27m, (await _api.GetAsync($"/v1/requests/{request}/offers/{offer}", cpoA))["priceEurPerKwh"]!.GetValue<decimal>());
        await session.CheckAsync("conflict");

        await page.GetByRole(AriaRole.Button, new() { Name = $"Withdraw {offer}" }).ClickAsync();
        await Assertions.Expect(status).ToContainTextAsync($"Offer {offer} withdrawn.");
        await Assertions.Expect(page.GetByText("You have no offer on this request.")).ToBeVisibleAsync();

        // Offer again; with CPO B's dearer offer the gate closes and the page shows the result as it comes.
        await page.GetByLabel("Energy (kWh)").FillAsync("10");
        await page.GetByLabel("Price (EUR/kWh)").FillAsync("0.25");
        await page.GetByRole(AriaRole.Button, new() { Name = "Place offer" }).ClickAsync();
        await Assertions.Expect(status).ToContainTextAsync("placed");
        await _api.PostAsync($"/v1/requests/{request}/offers", cpoB, new { stationIds = new[] { stationB }, energyKwh = 10m, priceEurPerKwh = 0.40m, divisible = false });
        market.Clock.SetTo(t0.AddHours(1));
        await _api.WaitForStateAsync(request, cpoA, "Awarded");
        var result = page.GetByRole(AriaRole.Table, new() { Name = "Offers and the clearing result" });
        await Assertions.Expect(result).ToContainTextAsync("Accepted", new() { Timeout = 30_000 });
        await Assertions.Expect(page.GetByRole(AriaRole.Table, new() { Name = "Awards (locked in escrow)" })).ToContainTextAsync("0x", new() { Timeout = 30_000 });
        Assert.Contains("0.25", await result.TextContentAsync(), StringComparison.Ordinal);
        await session.CheckAsync("awarded");
    }
}
