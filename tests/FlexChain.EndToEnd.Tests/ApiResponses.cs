using System.Net;
using System.Text.Json.Nodes;

namespace FlexChain.EndToEnd.Tests;

/// <summary>Reading API answers in tests: the body of an expected status, bulk outcomes, and times as query values.</summary>
internal static class ApiResponses
{
    /// <summary>The JSON body, failing with it when the status is not <paramref name="expected"/>.</summary>
    public static async Task<JsonNode> JsonAsync(HttpResponseMessage response, HttpStatusCode expected)
    {
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == expected, $"{(int)response.StatusCode} {text}");
        return JsonNode.Parse(text)!;
    }

    /// <summary>The <c>outcome</c> of every item of a bulk answer, in order.</summary>
    public static List<string> Outcomes(JsonNode body) => body["items"]!.AsArray().Select(i => i!["outcome"]!.GetValue<string>()).ToList();

    /// <summary>A UTC time as a query string value.</summary>
    public static string Q(DateTimeOffset t) => Uri.EscapeDataString(t.ToString("yyyy-MM-ddTHH:mm:ssZ"));
}
