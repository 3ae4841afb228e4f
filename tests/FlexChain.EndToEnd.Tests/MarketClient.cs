using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using FlexChain.Ethereum;

namespace FlexChain.EndToEnd.Tests;

/// <summary>A participant as the tests act: its id and API key.</summary>
public sealed record Caller(string Id, string ApiKey);

/// <summary>HTTP helpers that act as DSOs and CPOs would, failing with the response body when a call fails.</summary>
public sealed class MarketClient(HttpClient http)
{
    public async Task<Caller> RegisterAsync(string role, string name, EthAddress wallet)
    {
        var body = await PostAsync("/v1/participants", null, new { role, legalName = name, contact = "ops@example.org", walletAddress = wallet.ToString() });
        return new Caller(body["participant"]!["id"]!.GetValue<string>(), body["apiKey"]!.GetValue<string>());
    }

    public async Task<string> TransformerAsync(Caller dso) =>
        (await PostAsync("/v1/transformers", dso, new { name = "Terni Nord MV/LV 3", ratedPowerKw = 630 }))["id"]!.GetValue<string>();

    public async Task<string> StationAsync(Caller cpo, string transformer, string meter = "IT001E00000001", bool monitoring = true) =>
        (await PostAsync("/v1/stations", cpo, new { transformerId = transformer, maxPowerKw = 22m, meteringPointId = meter, realTimeMonitoring = monitoring }))["id"]!.GetValue<string>();

    public async Task<string> RequestAsync(Caller dso, string transformer, DateTimeOffset gateClosure, DateTimeOffset windowStart, decimal kwh = 10m) =>
        (await PostAsync("/v1/requests", dso, new
        {
            transformerId = transformer, deliveryStart = windowStart, deliveryEnd = windowStart.AddHours(1), energyKwh = kwh,
            direction = "ReduceConsumption", maxPriceEurPerKwh = 0.5m, gateClosure, pricing = "PayAsBid",
        }))["id"]!.GetValue<string>();

    public async Task<JsonNode> GetAsync(string path, Caller caller)
    {
        using var response = await SendAsync(HttpMethod.Get, path, caller, null);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, $"GET {path}: {(int)response.StatusCode} {text}");
        return JsonNode.Parse(text)!;
    }

    public async Task<JsonNode> PostAsync(string path, Caller? caller, object body)
    {
        using var response = await SendAsync(HttpMethod.Post, path, caller, body);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, $"POST {path}: {(int)response.StatusCode} {text}");
        return JsonNode.Parse(text)!;
    }

    public Task<HttpResponseMessage> SendAsync(HttpMethod method, string path, Caller? caller, object? body)
    {
        var message = new HttpRequestMessage(method, path);
        if (caller is not null) message.Headers.Add("X-Api-Key", caller.ApiKey);
        if (body is not null) message.Content = JsonContent.Create(body, options: new JsonSerializerOptions(JsonSerializerDefaults.Web));
        return http.SendAsync(message);
    }

    public Task<HttpResponseMessage> SendRawAsync(HttpMethod method, string path, Caller? caller, string body, string contentType = "application/json")
    {
        var message = new HttpRequestMessage(method, path) { Content = new StringContent(body, System.Text.Encoding.UTF8, contentType) };
        if (caller is not null) message.Headers.Add("X-Api-Key", caller.ApiKey);
        return http.SendAsync(message);
    }
}
