using System.Globalization;
using System.Numerics;
using FlexChain.EndToEnd.Tests;
using FlexChain.Ethereum;
using FlexChain.Testing;
using Microsoft.Playwright;
using Nethereum.RPC.Eth.DTOs;
using Nethereum.Util;
using Nethereum.Web3;

namespace FlexChain.Browser.Tests;

/// <summary>
/// The CPO's walk in the browser: signs in while the event stream is down (the page retries and works meanwhile),
/// sees its prequalified station and its EV, opens a request at its transformer, sees the stream reconnect and a newly
/// published request appear through it, and after a dropped connection resume it after the last event; places an offer, edits it, is refused (412) when another system changed it meanwhile and sees it
/// reloaded, withdraws it, offers again, after the gate closes sees its offer accepted and awarded, then after delivery
/// the payout, the meter data against the baseline, and its claimable balance read through its wallet, then a credited
/// balance claimed with the wallet.
/// </summary>
[Collection(BrowserCollection.Name)]
public sealed class CpoPageTests(BrowserFixture browser)
{
    private readonly MarketClient _api = new(browser.Market.Client);

    [Fact]
    public async Task Cpo_OffersUnderTheETagRules_FollowsItsAwardToPayoutAndClaim()
    {
        var market = browser.Market;
        var t0 = market.Clock.GetUtcNow();
        var (dso, cpoA, cpoB, transformer, stationA, stationB) =
            await _api.SmallMarketAsync("Cpo page", MarketFixture.DsoKey, MarketFixture.CpoAKey, MarketFixture.CpoBKey, "IT001E00000095", "IT001E00000096");
        await _api.PostAsync("/v1/evs", cpoA, new { model = "Fiat 500e", batteryKwh = 42m, maxChargingKw = 11m });
        var request = await _api.RequestAsync(dso, transformer, t0.AddHours(1), t0.AddHours(2), kwh: 10m);

        await using var session = await browser.OpenAsync("cpo");
        var page = session.Page;
        await browser.InjectWalletAsync(page, MarketFixture.CpoAKey);
        // The event stream is down at first (503): the page says so, retries with backoff and works meanwhile.
        await page.RouteAsync("**/v1/events", route => route.FulfillAsync(new() { Status = 503, Body = "" }));
        session.ExpectConsoleErrors("status of 503");
        await page.GotoAsync(browser.AppUrl + "/app/#/cpo");
        await page.GetByLabel("API key").FillAsync(cpoA.ApiKey);
        await page.GetByRole(AriaRole.Button, new() { Name = "Sign in" }).ClickAsync();
        var live = page.Locator(".signed-in .live");
        await Assertions.Expect(live).ToContainTextAsync("reconnecting");
        var stations = page.GetByRole(AriaRole.Table, new() { Name = "Stations" });
        await Assertions.Expect(stations.GetByRole(AriaRole.Row).Filter(new() { HasText = stationA })).ToContainTextAsync("Qualified until");
        await Assertions.Expect(page.GetByRole(AriaRole.Table, new() { Name = "EVs" })).ToContainTextAsync("Fiat 500e");
        // The calendar shows the window (an hour from t0 + 2 h) on its delivery day; choosing it there opens the same
        // offer panel as the list.
        var deliveryDay = page.GetByRole(AriaRole.Group, new() { Name = "Open requests by delivery day (UTC)" })
            .GetByRole(AriaRole.Region, new() { Name = t0.AddHours(2).ToString("ddd d MMM", System.Globalization.CultureInfo.InvariantCulture) });
        await Assertions.Expect(deliveryDay).ToContainTextAsync($"{t0.AddHours(2):HH:mm}–{t0.AddHours(3):HH:mm} · 10 kWh less");
        await deliveryDay.GetByRole(AriaRole.Button, new() { Name = $"{t0.AddHours(2):HH:mm}–{t0.AddHours(3):HH:mm} · 10 kWh less" }).ClickAsync();
        await Assertions.Expect(page.GetByText("You have no offer on this request.")).ToBeVisibleAsync();
        await Assertions.Expect(page.GetByRole(AriaRole.Heading, new() { Name = $"Offer on {request}" })).ToBeVisibleAsync();
        await page.GetByRole(AriaRole.Button, new() { Name = request, Exact = true }).ClickAsync();
        await Assertions.Expect(page.GetByText("You have no offer on this request.")).ToBeVisibleAsync();
        await session.CheckAsync("request");

        // The stream comes back: the page reconnects by itself, and a request published meanwhile at its transformer
        // appears without a reload (the open-requests list is never polled: only the stream's request.published shows it).
        await page.UnrouteAsync("**/v1/events");
        await Assertions.Expect(live).ToHaveTextAsync("Live updates: connected.", new() { Timeout = 45_000 });   // backoff is at most 30 s
        var second = await _api.RequestAsync(dso, transformer, t0.AddHours(1), t0.AddHours(3), kwh: 5m);
        await Assertions.Expect(page.GetByRole(AriaRole.Button, new() { Name = second })).ToBeVisibleAsync();

        // The connection drops (the browser goes offline): the page says so, and when it is back it resumes the stream
        // after the last event it received (Last-Event-ID), so nothing sent meanwhile is lost.
        session.ExpectConsoleErrors("ERR_INTERNET_DISCONNECTED");
        await page.Context.SetOfflineAsync(true);
        await Assertions.Expect(live).ToContainTextAsync("reconnecting in 2 s");   // the first retry failed too
        var resumed = page.WaitForRequestAsync(r => r.Url.EndsWith("/v1/events", StringComparison.Ordinal));
        await page.Context.SetOfflineAsync(false);
        Assert.Equal($"{second}:request.published:role:Cpo", (await (await resumed).AllHeadersAsync()).GetValueOrDefault("last-event-id"));
        await Assertions.Expect(live).ToHaveTextAsync("Live updates: connected.");
        await session.CheckAsync("resumed");

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
        var awards = page.GetByRole(AriaRole.Table, new() { Name = "Your awards" });
        var award = awards.GetByRole(AriaRole.Row).Filter(new() { HasText = request });
        await Assertions.Expect(award).ToContainTextAsync("Locked in escrow: deliver");
        // The award's value in EUR with two decimals (10 kWh at 0.25 EUR/kWh: 2.50, not 2.5).
        await Assertions.Expect(award.GetByRole(AriaRole.Cell).Nth(3)).ToHaveTextAsync("2.50");
        await session.CheckAsync("awarded");

        // Delivered and settled: the award shows how it went and the payout, linked to the wallet page's check; its
        // meter data is drawn against the verified baseline (5 kWh a quarter hour before the window, 2.75 in it).
        var settled = (await browser.DeliverAndSettleAsync(_api, request, dso, cpoA, stationA, t0.AddHours(2)))["settlements"]![0]!;
        await Assertions.Expect(award).ToContainTextAsync("Delivered; paid");
        await Assertions.Expect(award.GetByRole(AriaRole.Link, new() { Name = "2.25 EUR" })).ToHaveAttributeAsync("href", $"#/wallet?awardId={settled["awardId"]}");
        var awardId = (await _api.GetAsync($"/v1/requests/{request}", cpoA))["awards"]![0]!["id"]!.GetValue<string>();
        await award.GetByRole(AriaRole.Button, new() { Name = $"Meter data for {awardId}" }).ClickAsync();
        var meter = page.Locator("svg.meter");
        // Its readings are read station by station; under a loaded machine (the end-to-end suite beside it) that took over 20 s once.
        await Assertions.Expect(meter.Locator("rect.bar")).ToHaveCountAsync(8, new() { Timeout = 45_000 });
        await Assertions.Expect(meter).ToHaveAttributeAsync("aria-label", "8 readings; in the delivery window 11 kWh metered against a baseline of 20 kWh.");
        await Assertions.Expect(meter.Locator("polyline.baseline")).ToHaveCountAsync(1);

        // The claimable balance, read from the escrow through the CPO's wallet: every payment reached it.
        await page.GetByRole(AriaRole.Button, new() { Name = "Check my claimable balance" }).ClickAsync();
        var claimStatus = page.Locator("section[aria-labelledby=claim-title] [role=status]");
        await Assertions.Expect(claimStatus).ToHaveTextAsync("Nothing to claim: every payment reached your wallet.");
        await session.CheckAsync("paid");

        // A payment the token refused is credited to the CPO in the escrow: the page shows it, and the CPO's wallet claims it.
        var before = await market.TokenBalanceAsync(MarketFixture.CpoAWallet);
        await CreditClaimableAsync(MarketFixture.CpoAWallet, 1_500_000);
        await page.GetByRole(AriaRole.Button, new() { Name = "Check again" }).ClickAsync();
        await Assertions.Expect(claimStatus).ToHaveTextAsync("1.50 EUR is waiting for you in the escrow.");
        await page.GetByRole(AriaRole.Button, new() { Name = "Claim 1.50 EUR" }).ClickAsync();
        await Assertions.Expect(claimStatus).ToContainTextAsync("Claimed 1.50 EUR in transaction 0x");
        Assert.Equal(before + 1_500_000, await market.TokenBalanceAsync(MarketFixture.CpoAWallet));
        await Assertions.Expect(page.GetByRole(AriaRole.Button, new() { Name = "Claim 1.50 EUR" })).ToHaveCountAsync(0);
        await session.CheckAsync("claimed");
    }

    /// <summary>
    /// Leaves the escrow as a token's refusal does (PaymentCredited): <paramref name="units"/> credited to
    /// <paramref name="account"/>'s claimable balance, and those tokens held by the escrow (moved in from the DSO's wallet),
    /// so a claim pays them out without touching anyone's escrowed funds. The test token never refuses a payment, so the
    /// balance is written on the Hardhat node (hardhat_setStorageAt) at the mapping's slot, found by reading it back
    /// through the escrow's own claimable(address).
    /// </summary>
    private async Task CreditClaimableAsync(EthAddress account, BigInteger units)
    {
        var market = browser.Market;
        var dso = new Web3(new Nethereum.Web3.Accounts.Account(MarketFixture.DsoKey.Key.GetPrivateKey(), (long)HardhatNodeFixture.ChainId), market.Chain.RpcUri.AbsoluteUri);
        await dso.Eth.ERC20.GetContractService(market.Token.ToString()).TransferRequestAndWaitForReceiptAsync(market.Settlement.ToString(), units);
        var rpc = market.Web3.Client;
        var escrow = market.Settlement.ToString();
        static string Word(BigInteger v) => v.ToString("x64", CultureInfo.InvariantCulture)[^64..];
        var accountWord = account.ToString()[2..].ToLowerInvariant().PadLeft(64, '0');
        var claimable = "0x" + Sha3Keccack.Current.CalculateHash("claimable(address)")[..8] + accountWord;
        for (var slot = 0; slot < 64; slot++)
        {
            var key = "0x" + Sha3Keccack.Current.CalculateHashFromHex(accountWord + Word(slot));
            var position = "0x" + new BigInteger(Convert.FromHexString(key[2..]), isUnsigned: true, isBigEndian: true).ToString("x", CultureInfo.InvariantCulture).TrimStart('0');
            var old = await rpc.SendRequestAsync<string>("eth_getStorageAt", null, escrow, position, "latest");
            await rpc.SendRequestAsync<object>("hardhat_setStorageAt", null, escrow, position, "0x" + Word(units));
            var read = await market.Web3.Eth.Transactions.Call.SendRequestAsync(new CallInput(claimable, escrow));
            if (new BigInteger(Convert.FromHexString(read[2..]), isUnsigned: true, isBigEndian: true) == units) return;
            await rpc.SendRequestAsync<object>("hardhat_setStorageAt", null, escrow, position, "0x" + Word(new BigInteger(Convert.FromHexString(old[2..].PadLeft(64, '0')), isUnsigned: true, isBigEndian: true)));
        }
        Assert.Fail("the escrow's claimable mapping was not found in its first 64 storage slots");
    }
}
