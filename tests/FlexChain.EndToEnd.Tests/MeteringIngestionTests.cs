using System.Net;
using static FlexChain.EndToEnd.Tests.ApiResponses;

namespace FlexChain.EndToEnd.Tests;

/// <summary>
/// Meter data ingestion against stored data: uploads that append (new data in time order) and uploads that reach back
/// into stored readings follow the same rules, and a station's latest reading only ever moves forward, whatever order
/// uploads arrive or race in.
/// </summary>
[Collection(MarketCollection.Name)]
public sealed class MeteringIngestionTests(MarketFixture market)
{
    private readonly MarketClient _api = new(market.Client);

    [Fact]
    public async Task PostReadings_AppendThenReachBack_OverlapsAndReUploadsStillDetected()
    {
        var s = await StationAsync("Append");
        await _api.PostQuarterReadingsAsync(s.Cpo, s.Id, s.T0, 1m);
        // Starts where the stored data ends: an append.
        await _api.PostQuarterReadingsAsync(s.Cpo, s.Id, s.T0.AddHours(1), 2m);

        Assert.Equal("overlap", await RejectedRuleAsync(s, (55, 70, 0.5m)));
        using (var again = await UploadAsync(s, (60, 75, 2m), (120, 135, 3m)))
            Assert.Equal(["Unchanged", "Stored"], Outcomes(await JsonAsync(again, HttpStatusCode.OK)));
        Assert.Equal("overlap", await RejectedRuleAsync(s, (125, 130, 0.1m)));

        var series = await _api.GetAsync($"/v1/stations/{s.Id}/readings?from={Q(s.T0)}&to={Q(s.T0.AddMinutes(135))}", s.Cpo);
        Assert.Equal(9, series["items"]!.AsArray().Count);
        Assert.Empty(series["gaps"]!.AsArray());
    }

    [Fact]
    public async Task PostReadings_LateOlderInterval_DoesNotMoveLatestBack()
    {
        var s = await StationAsync("Late");
        using (var recent = await UploadAsync(s, (60, 75, 2m)))
            Assert.Equal(["Stored"], Outcomes(await JsonAsync(recent, HttpStatusCode.OK)));
        using (var late = await UploadAsync(s, (0, 15, 1m)))
            Assert.Equal(["Stored"], Outcomes(await JsonAsync(late, HttpStatusCode.OK)));

        var latest = (await _api.GetAsync($"/v1/stations/{s.Id}/readings/latest", s.Cpo))["reading"]!;
        Assert.Equal((s.T0.AddMinutes(60), 2m), (latest["start"]!.GetValue<DateTimeOffset>(), latest["energyKwh"]!.GetValue<decimal>()));
    }

    [Fact]
    public async Task PostReadings_ConcurrentUploadsOfOneStation_AllStoredAndLatestIsTheNewest()
    {
        var s = await StationAsync("Race");
        // Six uploads of one station at once, newest first, an hour each: whichever order they land in, every reading is
        // stored once and the latest reading, on the station's and on the transformer's view, is the newest hour's last.
        var responses = await Task.WhenAll(Enumerable.Range(0, 6).Reverse().Select(h =>
            UploadAsync(s, Enumerable.Range(0, 4).Select(q => (60 * h + 15 * q, 60 * h + 15 * (q + 1), 1m + h)).ToArray())));
        foreach (var response in responses)
            using (response)
                Assert.Equal(["Stored", "Stored", "Stored", "Stored"], Outcomes(await JsonAsync(response, HttpStatusCode.OK)));

        var latest = (await _api.GetAsync($"/v1/stations/{s.Id}/readings/latest", s.Cpo))["reading"]!;
        Assert.Equal((s.T0.AddMinutes(345), 6m), (latest["start"]!.GetValue<DateTimeOffset>(), latest["energyKwh"]!.GetValue<decimal>()));
        var behind = Assert.Single((await _api.GetAsync($"/v1/transformers/{s.Transformer}/readings/latest", s.Dso))["items"]!.AsArray())!;
        Assert.Equal(s.T0.AddMinutes(345), behind["reading"]!["start"]!.GetValue<DateTimeOffset>());
        var series = await _api.GetAsync($"/v1/stations/{s.Id}/readings?from={Q(s.T0)}&to={Q(s.T0.AddHours(6))}", s.Cpo);
        Assert.Equal(24, series["items"]!.AsArray().Count);
        Assert.Empty(series["gaps"]!.AsArray());
    }

    /// <summary>A station of its own, its CPO and DSO (wallets #4 and #5, which never pay here), and a start 8 hours ago.</summary>
    private sealed record Station(Caller Dso, Caller Cpo, string Transformer, string Id, DateTimeOffset T0);

    private async Task<Station> StationAsync(string name)
    {
        var dso = await _api.RegisterAsync("Dso", name + " DSO", MarketFixture.RuleDsoKey);
        var cpo = await _api.RegisterAsync("Cpo", name + " CPO", MarketFixture.RuleCpoAKey);
        var transformer = await _api.TransformerAsync(dso);
        // Qualified with the DSO: its grid views count only the stations it accepted.
        var station = await _api.StationAsync(cpo, transformer, "IT001E00000095");
        return new Station(dso, cpo, transformer, station, market.Clock.GetUtcNow().AddHours(-8));
    }

    /// <summary>Uploads readings given as (from, to) minutes after the station's start and their energy in kWh.</summary>
    private Task<HttpResponseMessage> UploadAsync(Station s, params (int From, int To, decimal Kwh)[] readings) =>
        _api.SendAsync(HttpMethod.Post, $"/v1/stations/{s.Id}/readings", s.Cpo, new
        {
            readings = readings.Select(r => new { start = s.T0.AddMinutes(r.From), end = s.T0.AddMinutes(r.To), energyKwh = r.Kwh }),
        });

    private async Task<string> RejectedRuleAsync(Station s, (int From, int To, decimal Kwh) reading)
    {
        using var response = await UploadAsync(s, reading);
        return (await JsonAsync(response, HttpStatusCode.MultiStatus))["items"]![0]!["problem"]!["rule"]!.GetValue<string>();
    }
}
