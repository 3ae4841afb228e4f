using System.Net;

namespace FlexChain.EndToEnd.Tests;

/// <summary>The grid tree over HTTP: a TSO's substation, a DSO's feeder and transformer below it, ownership and roles.</summary>
[Collection(MarketCollection.Name)]
public sealed class GridHierarchyTests(MarketFixture market)
{
    private readonly MarketClient _api = new(market.Client);

    private static readonly object Where = new { latitude = 42.5636m, longitude = 12.6427m };

    private static object NodeBody(string kind, string? parentId = null) => new { kind, name = kind + " 1", ratedPowerKw = 40_000m, location = Where, parentId };

    private async Task<(Caller Tso, Caller Dso, string Substation, string Feeder, string Transformer)> TreeAsync()
    {
        var tso = await _api.RegisterAsync("Tso", "Terna", MarketFixture.RuleDsoKey);
        var dso = await _api.RegisterAsync("Dso", "ASM Terni", MarketFixture.RuleDsoKey);
        var substation = (await _api.PostAsync("/v1/grid/nodes", tso, NodeBody("HvMvSubstation")))["id"]!.GetValue<string>();
        var feeder = (await _api.PostAsync("/v1/grid/nodes", dso, NodeBody("MvFeeder", substation)))["id"]!.GetValue<string>();
        var transformer = (await _api.PostAsync("/v1/transformers", dso,
            new { name = "Terni Nord 3", ratedPowerKw = 630, location = Where, parentId = feeder }))["id"]!.GetValue<string>();
        return (tso, dso, substation, feeder, transformer);
    }

    [Fact]
    public async Task RegisterTso_GetsTsoRoleAndKey()
    {
        var tso = await _api.RegisterAsync("Tso", "Terna", MarketFixture.RuleDsoKey);
        var me = await _api.GetAsync("/v1/participants/me", tso);
        Assert.Equal("Tso", me["role"]!.GetValue<string>());
        Assert.StartsWith("tso_", tso.Id);
    }

    [Fact]
    public async Task Tree_DsoBelowTso_ReadsAsTreeWithConnectingAndImpactedOperators()
    {
        var t = await TreeAsync();
        var node = await _api.GetAsync($"/v1/grid/nodes/{t.Transformer}", t.Tso);
        Assert.Equal(("MvLvTransformer", t.Dso.Id, t.Feeder), (node["kind"]!.GetValue<string>(), node["operatorId"]!.GetValue<string>(), node["parentId"]!.GetValue<string>()));
        Assert.Equal([t.Feeder, t.Substation], node["ancestorIds"]!.AsArray().Select(a => a!.GetValue<string>()));
        var children = (await _api.GetAsync($"/v1/grid/nodes/{t.Substation}/children", t.Dso))["items"]!.AsArray();
        Assert.Equal(t.Feeder, Assert.Single(children)!["id"]!.GetValue<string>());
        var operators = await _api.GetAsync($"/v1/grid/nodes/{t.Transformer}/operators", t.Dso);
        Assert.Equal(t.Dso.Id, operators["connectingOperatorId"]!.GetValue<string>());
        Assert.Equal([t.Tso.Id], operators["impactedOperatorIds"]!.AsArray().Select(a => a!.GetValue<string>()));
        // The transformer under the tree is still a transformer: listed, readable and usable as before.
        var listed = (await _api.GetAsync("/v1/transformers", t.Dso))["items"]!.AsArray();
        Assert.Equal(t.Transformer, Assert.Single(listed)!["id"]!.GetValue<string>());
        Assert.Equal(t.Feeder, (await _api.GetAsync($"/v1/transformers/{t.Transformer}", t.Tso))["parentId"]!.GetValue<string>());
        var own = (await _api.GetAsync("/v1/grid/nodes?kind=MvFeeder", t.Dso))["items"]!.AsArray();
        Assert.Equal(t.Feeder, Assert.Single(own)!["id"]!.GetValue<string>());
    }

    [Fact]
    public async Task RegisterNode_UnderAnotherDsosNode_IsForbidden()
    {
        var t = await TreeAsync();
        var other = await _api.RegisterAsync("Dso", "Other DSO", MarketFixture.RuleDsoKey);
        using var response = await _api.SendAsync(HttpMethod.Post, "/v1/grid/nodes", other, NodeBody("MvLvTransformer", t.Feeder));
        await MarketClient.ProblemAsync(response, HttpStatusCode.Forbidden, "parentId", "own-node");
        using var viaTransformers = await _api.SendAsync(HttpMethod.Post, "/v1/transformers", other,
            new { name = "T", ratedPowerKw = 630, location = Where, parentId = t.Feeder });
        await MarketClient.ProblemAsync(viaTransformers, HttpStatusCode.Forbidden, "parentId", "own-node");
    }

    [Fact]
    public async Task RegisterNode_AsCpo_IsForbidden()
    {
        var cpo = await _api.RegisterAsync("Cpo", "CPO", MarketFixture.RuleCpoAKey);
        using var response = await _api.SendAsync(HttpMethod.Post, "/v1/grid/nodes", cpo, NodeBody("HvMvSubstation"));
        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
    }

    [Fact]
    public async Task RegisterNode_BadInputs_AreProblemsNamingFieldAndRule()
    {
        var t = await TreeAsync();
        using (var r = await _api.SendAsync(HttpMethod.Post, "/v1/grid/nodes", t.Tso, NodeBody("MvFeeder")))
            await MarketClient.ProblemAsync(r, HttpStatusCode.UnprocessableEntity, "kind", "tso-kind");
        using (var r = await _api.SendAsync(HttpMethod.Post, "/v1/grid/nodes", t.Dso, NodeBody("MvFeeder", t.Transformer)))
            await MarketClient.ProblemAsync(r, HttpStatusCode.UnprocessableEntity, "kind", "kind-order");
        using (var r = await _api.SendAsync(HttpMethod.Post, "/v1/grid/nodes", t.Dso, NodeBody("Busbar")))
            await MarketClient.ProblemAsync(r, HttpStatusCode.BadRequest, "kind", "enum");
        using (var r = await _api.SendAsync(HttpMethod.Post, "/v1/grid/nodes", t.Dso, NodeBody("MvFeeder", "gn_" + new string('0', 32))))
            await MarketClient.ProblemAsync(r, HttpStatusCode.UnprocessableEntity, "parentId", "exists");
        using (var r = await _api.SendAsync(HttpMethod.Post, "/v1/grid/nodes", t.Dso, new { kind = "MvFeeder", name = "F", ratedPowerKw = 100m, location = new { latitude = 91m, longitude = 0m } }))
            await MarketClient.ProblemAsync(r, HttpStatusCode.BadRequest, "location.latitude", "inclusive-between");
    }

    [Fact]
    public async Task PostRequest_OnAFeeder_IsRefused()
    {
        var t = await TreeAsync();
        var now = market.Clock.GetUtcNow();
        using var response = await _api.SendAsync(HttpMethod.Post, "/v1/requests", t.Dso, new
        {
            transformerId = t.Feeder, deliveryStart = now.AddHours(2), deliveryEnd = now.AddHours(3), energyKwh = 1m,
            direction = "ReduceConsumption", maxPriceEurPerKwh = 0.5m, gateClosure = now.AddHours(1), pricing = "PayAsBid",
        });
        await MarketClient.ProblemAsync(response, HttpStatusCode.UnprocessableEntity, "transformerId", "node-kind");
    }
}
