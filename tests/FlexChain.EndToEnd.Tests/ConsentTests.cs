using System.Net;
using System.Text.Json.Nodes;
using FlexChain.Testing;
using Nethereum.Web3;
using Nethereum.Web3.Accounts;

namespace FlexChain.EndToEnd.Tests;

/// <summary>
/// A DSO's consent to pay, checked when the request is posted (422 on field <c>consent</c> naming the rule, nothing
/// stored), and used on chain when its awards are locked.
/// </summary>
[Collection(MarketCollection.Name)]
public sealed class ConsentTests(MarketFixture market)
{
    private readonly MarketClient _api = new(market.Client);

    /// <summary>Hardhat's accounts #10 and #11: neither funded nor approving the escrow by the deploy script.</summary>
    private static readonly Wallet Unapproved = new("0xf214f2b2cd398c806f84e317254e0f0b801d0643303237d97a22a48e01628897");
    private static readonly Wallet Unfunded = new("0x701b615bbdfb9de65240bc28bd21bbc0d996645a3dd57e7b12bc2bdf6f192c82");

    private async Task<(Caller Dso, JsonObject Request)> RequestOfAsync(Wallet wallet)
    {
        var dso = await _api.RegisterAsync("Dso", "Consent DSO", wallet);
        var transformer = await _api.TransformerAsync(dso);
        var now = market.Clock.GetUtcNow();
        return (dso, new JsonObject
        {
            ["transformerId"] = transformer, ["deliveryStart"] = now.AddHours(3).ToString("O"), ["deliveryEnd"] = now.AddHours(4).ToString("O"),
            ["energyKwh"] = 10m, ["direction"] = "ReduceConsumption", ["maxPriceEurPerKwh"] = 0.5m, ["gateClosure"] = now.AddHours(2).ToString("O"),
            ["pricing"] = "PayAsBid",
        });
    }

    private async Task<int> CountAsync(Caller dso, JsonObject request) =>
        (await _api.GetAsync($"/v1/requests?transformerId={request["transformerId"]!.GetValue<string>()}", dso))["items"]!.AsArray().Count;

    /// <summary>Posts the request, expects the problem (422: on field consent with <paramref name="rule"/>) and that nothing was stored.</summary>
    private async Task<JsonNode> RefusedAsync(Caller dso, JsonObject request, HttpStatusCode status, string? rule)
    {
        var before = await CountAsync(dso, request);
        using var response = await _api.SendAsync(HttpMethod.Post, "/v1/requests", dso, request);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(status == response.StatusCode, $"expected {(int)status}, got {(int)response.StatusCode}: {text}");
        var problem = JsonNode.Parse(text)!;
        if (rule is not null) Assert.Equal(("consent", rule), (problem["field"]!.GetValue<string>(), problem["rule"]!.GetValue<string>()));
        Assert.Equal(before, await CountAsync(dso, request));
        return problem;
    }

    [Fact]
    public async Task PostRequest_WithoutConsent_IsRefusedNamingTheField()
    {
        var (dso, request) = await RequestOfAsync(MarketFixture.RuleDsoKey);
        request["consent"] = null;

        var problem = await RefusedAsync(dso, request, HttpStatusCode.BadRequest, null);

        Assert.NotNull(problem["errors"]!["consent"]);
    }

    [Fact]
    public async Task PostRequest_ConsentSignedForOtherTerms_IsRefusedAsConsentSignature()
    {
        var (dso, request) = await RequestOfAsync(MarketFixture.RuleDsoKey);
        request["consent"] = await _api.ConsentAsync(MarketFixture.RuleDsoKey, request, t => (FlexChain.Ethereum.Hash32.Parse("0x" + new string('1', 64)), t.MaxAmount));

        var problem = await RefusedAsync(dso, request, (HttpStatusCode)422, "consent-signature");

        Assert.Contains("request's hash", problem["detail"]!.GetValue<string>(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task PostRequest_ConsentSignedForAnotherProfileOfTheSameEnergy_IsRefusedAsConsentSignature()
    {
        var (dso, request) = await RequestOfAsync(MarketFixture.RuleDsoKey);
        request["profileKw"] = new JsonArray(8m, 4m, 12m, 16m); // 2 + 1 + 3 + 4 = 10 kWh in the hour's quarters
        request["consent"] = await _api.ConsentAsync(MarketFixture.RuleDsoKey, request);
        request["profileKw"] = new JsonArray(16m, 12m, 4m, 8m);  // the same 10 kWh, another shape

        await RefusedAsync(dso, request, (HttpStatusCode)422, "consent-signature");

        request["profileKw"] = new JsonArray(8m, 4m, 12m, 16m);
        await _api.PostAsync("/v1/requests", dso, request);
    }

    [Theory]
    [InlineData("direction", "IncreaseConsumption")]
    [InlineData("pricing", "PayAsClear")]
    public async Task PostRequest_ConsentSignedForAnotherDirectionOrPricing_IsRefusedAsConsentSignature(string term, string value)
    {
        var (dso, request) = await RequestOfAsync(MarketFixture.RuleDsoKey);
        request["consent"] = await _api.ConsentAsync(MarketFixture.RuleDsoKey, request); // signed for ReduceConsumption, PayAsBid
        request[term] = value;

        await RefusedAsync(dso, request, (HttpStatusCode)422, "consent-signature");
    }

    [Fact]
    public async Task PostRequest_ConsentSignedByAnotherWallet_IsRefusedAsConsentSignature()
    {
        var (dso, request) = await RequestOfAsync(MarketFixture.RuleDsoKey);
        request["consent"] = await _api.ConsentAsync(MarketFixture.DsoKey, request);

        await RefusedAsync(dso, request, (HttpStatusCode)422, "consent-signature");
    }

    [Fact]
    public async Task PostRequest_ConsentBelowTheMostTheRequestCanCost_IsRefusedAsConsentAmount()
    {
        var (dso, request) = await RequestOfAsync(MarketFixture.RuleDsoKey);
        request["consent"] = await _api.ConsentAsync(MarketFixture.RuleDsoKey, request, t => (t.RequestHash, t.MaxAmount - 1));

        var problem = await RefusedAsync(dso, request, (HttpStatusCode)422, "consent-amount");

        Assert.Contains("5000000", problem["detail"]!.GetValue<string>(), StringComparison.Ordinal); // 10 kWh x 0.5 EUR/kWh, 6 decimals
    }

    [Fact]
    public async Task PostRequest_ConsentEndingBeforeDelivery_IsRefusedAsConsentDeadline()
    {
        var (dso, request) = await RequestOfAsync(MarketFixture.RuleDsoKey);
        var start = DateTimeOffset.Parse(request["deliveryStart"]!.GetValue<string>(), System.Globalization.CultureInfo.InvariantCulture);
        request["consent"] = await _api.ConsentAsync(MarketFixture.RuleDsoKey, request, deadline: start.AddSeconds(-1));

        await RefusedAsync(dso, request, (HttpStatusCode)422, "consent-deadline");
    }

    [Fact]
    public async Task PostRequest_DsoWithoutAllowance_IsRefusedAsAllowance()
    {
        var (dso, request) = await RequestOfAsync(Unapproved);

        await RefusedAsync(dso, request, (HttpStatusCode)422, "allowance");
    }

    [Fact]
    public async Task PostRequest_DsoApprovedButWithoutTokens_IsRefusedAsBalance()
    {
        var web3 = new Web3(new Account(Unfunded.Key.GetPrivateKey(), (long)HardhatNodeFixture.ChainId), market.Chain.RpcUri.AbsoluteUri);
        await web3.Eth.ERC20.GetContractService(market.Token.ToString())
            .ApproveRequestAndWaitForReceiptAsync(market.Settlement.ToString(), System.Numerics.BigInteger.Pow(10, 30));
        var (dso, request) = await RequestOfAsync(Unfunded);

        await RefusedAsync(dso, request, (HttpStatusCode)422, "balance");
    }

    [Fact]
    public async Task PostRequest_WithAValidConsent_IsStoredAndNothingIsDrawnYet()
    {
        var (dso, request) = await RequestOfAsync(MarketFixture.RuleDsoKey);
        var consent = await _api.ConsentAsync(MarketFixture.RuleDsoKey, request);
        request["consent"] = consent;

        var posted = await _api.PostAsync("/v1/requests", dso, request);

        Assert.Equal("Open", posted["state"]!.GetValue<string>());
        var drawn = await market.Web3.Eth.GetContractQueryHandler<FlexChain.Functions.Settlement.ConsentDrawnFunction>().QueryAsync<System.Numerics.BigInteger>(market.Settlement.ToString(),
            new() { Dso = MarketFixture.RuleDsoKey.Address.ToString(), ConsentNonce = System.Numerics.BigInteger.Parse(consent["nonce"]!.GetValue<string>()) });
        Assert.Equal(System.Numerics.BigInteger.Zero, drawn); // drawn on only when its awards are locked
    }
}
