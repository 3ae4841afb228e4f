using System.IO.Compression;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using static FlexChain.EndToEnd.Tests.ApiResponses;

namespace FlexChain.EndToEnd.Tests;

/// <summary>
/// Meter data ingestion against stored data: uploads that append (new data in time order) and uploads that reach back
/// into stored readings follow the same rules, and a station's latest reading only ever moves forward, whatever order
/// uploads arrive or race in. Bulk uploads come as JSON or CSV, either gzip-compressed, under one 10 MB limit.
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

    /// <summary>The operator finds a station's meter data by its id alone, through the metering point that names its CPO.</summary>
    [Fact]
    public async Task GetStationReadings_Operator_SeesAStationOnceItHasSentReadings()
    {
        var s = await StationAsync("Operator view");
        var operatorCaller = new Caller("operator_00000000000000000000000000000001", MarketFixture.OperatorApiKey);
        var path = $"/v1/stations/{s.Id}/readings?from={Q(s.T0)}&to={Q(s.T0.AddHours(1))}";
        using (var before = await _api.SendAsync(HttpMethod.Get, path, operatorCaller, null))
            Assert.Equal(HttpStatusCode.NotFound, before.StatusCode);

        await _api.PostQuarterReadingsAsync(s.Cpo, s.Id, s.T0, 1m);

        Assert.Equal(4, (await _api.GetAsync(path, operatorCaller))["items"]!.AsArray().Count);
        Assert.Equal(s.Id, (await _api.GetAsync($"/v1/stations/{s.Id}/readings/latest", operatorCaller))["stationId"]!.GetValue<string>());
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

    [Fact]
    public async Task PostReadingsCsv_GoodAndBadRows_GoodRowsStoredAndEachBadRowNamed()
    {
        var s = await StationAsync("Csv");
        var other = await _api.StationAsync(await _api.RegisterAsync("Cpo", "Csv other CPO", MarketFixture.RuleCpoBKey), s.Transformer, "IT001E00000096", prequalify: false);
        string T(int minutes) => s.T0.AddMinutes(minutes).ToString("yyyy-MM-ddTHH:mm:ssZ");
        var csv = string.Join("\r\n",
            "stationId,start,end,energyKwh",
            $"{s.Id},{T(0)},{T(15)},1.25",                                  // 0 stored
            $"{s.Id},{T(15)},{T(30)},1.5",                                  // 1 stored
            $"{s.Id},{s.T0.AddMinutes(30):yyyy-MM-ddTHH:mm:ss},{T(45)},1",  // 2 start without Z
            $"{s.Id},{T(45)},{T(60)}",                                      // 3 three columns
            $"{s.Id},{T(45)},{T(60)},-1",                                   // 4 negative energy
            $"{s.Id},{T(60)},{T(180)},1",                                   // 5 two hours long
            $"{s.Id},{T(45)},{T(60)},1,5",                                  // 6 decimal comma: five columns
            $"{s.Id},{T(45)},{T(60)},one",                                  // 7 not a number
            $"{other},{T(0)},{T(15)},1",                                    // 8 another CPO's station
            $"{s.Id},{T(600)},{T(615)},1",                                  // 9 in the future
            "");

        using var response = await PostCsvAsync(s.Cpo, csv);

        var body = await JsonAsync(response, HttpStatusCode.MultiStatus);
        Assert.Equal(["Stored", "Stored", "Rejected", "Rejected", "Rejected", "Rejected", "Rejected", "Rejected", "Rejected", "Rejected"], Outcomes(body));
        var problems = body["items"]!.AsArray().Skip(2).Select(i => (i!["status"]!.GetValue<int>(), i["problem"]!["field"]!.GetValue<string>(), i["problem"]!["rule"]!.GetValue<string>()));
        Assert.Equal([
            (400, "rows[2].start", "utc-time"), (400, "rows[3]", "columns"), (400, "rows[4].energyKwh", "greater-than-or-equal"), (400, "rows[5].end", "interval"),
            (400, "rows[6]", "columns"), (400, "rows[7].energyKwh", "number"), (404, "rows[8].stationId", "own-station"), (400, "rows[9].end", "future"),
        ], problems);
        var series = await _api.GetAsync($"/v1/stations/{s.Id}/readings?from={Q(s.T0)}&to={Q(s.T0.AddHours(12))}", s.Cpo);
        Assert.Equal([1.25m, 1.5m], series["items"]!.AsArray().Select(i => i!["energyKwh"]!.GetValue<decimal>()));
    }

    [Fact]
    public async Task PostReadingsCsv_DurationHeader_StoresIntervalsOfThatLength()
    {
        var s = await StationAsync("Csv duration");
        string T(int minutes) => s.T0.AddMinutes(minutes).ToString("yyyy-MM-ddTHH:mm:ssZ");

        using var response = await PostCsvAsync(s.Cpo, $"stationId,start,duration,energyKwh\n{s.Id},{T(0)},PT15M,1\n{s.Id},{T(15)},PT1H,2.5\n{s.Id},{T(75)},P2D,1\n");

        var body = await JsonAsync(response, HttpStatusCode.MultiStatus);
        Assert.Equal(["Stored", "Stored", "Rejected"], Outcomes(body));
        Assert.Equal(("rows[2].duration", "duration"), (body["items"]![2]!["problem"]!["field"]!.GetValue<string>(), body["items"]![2]!["problem"]!["rule"]!.GetValue<string>()));
        var items = (await _api.GetAsync($"/v1/stations/{s.Id}/readings?from={Q(s.T0)}&to={Q(s.T0.AddHours(2))}", s.Cpo))["items"]!.AsArray();
        Assert.Equal([(s.T0, s.T0.AddMinutes(15)), (s.T0.AddMinutes(15), s.T0.AddMinutes(75))],
            items.Select(i => (i!["start"]!.GetValue<DateTimeOffset>(), i["end"]!.GetValue<DateTimeOffset>())));
    }

    [Theory]
    [InlineData("")]
    [InlineData("station,start,end,kwh\n")]
    [InlineData("stationId,start,end,energyKwh\n\n")]
    public async Task PostReadingsCsv_NoHeaderOrNoRows_RefusedWhole(string csv)
    {
        var s = await StationAsync("Csv header");
        using var response = await PostCsvAsync(s.Cpo, csv);
        var problem = await JsonAsync(response, HttpStatusCode.BadRequest);
        Assert.Contains(problem["rule"]!.GetValue<string>(), new[] { "csv-header", "count" });
    }

    [Fact]
    public async Task PostReadings_GzipJsonAndCsv_ReadDecompressed()
    {
        var s = await StationAsync("Gzip");
        string T(int minutes) => s.T0.AddMinutes(minutes).ToString("yyyy-MM-ddTHH:mm:ssZ");
        var json = $$"""{"readings":[{"start":"{{T(0)}}","end":"{{T(15)}}","energyKwh":1}]}""";

        using (var response = await PostBytesAsync(s.Cpo, $"/v1/stations/{s.Id}/readings", Gzip(json), "application/json", gzip: true))
            Assert.Equal(["Stored"], Outcomes(await JsonAsync(response, HttpStatusCode.OK)));
        using (var response = await PostBytesAsync(s.Cpo, "/v1/readings", Gzip($"stationId,start,end,energyKwh\n{s.Id},{T(15)},{T(30)},2\n"), "text/csv", gzip: true))
            Assert.Equal(["Stored"], Outcomes(await JsonAsync(response, HttpStatusCode.OK)));

        var series = await _api.GetAsync($"/v1/stations/{s.Id}/readings?from={Q(s.T0)}&to={Q(s.T0.AddHours(1))}", s.Cpo);
        Assert.Equal([1m, 2m], series["items"]!.AsArray().Select(i => i!["energyKwh"]!.GetValue<decimal>()));
    }

    [Theory]
    [InlineData("text/csv")]
    [InlineData("application/json")]
    public async Task PostReadings_GzipBodyOverTenMegabytesDecompressed_Is413AndStoresNothing(string contentType)
    {
        var s = await StationAsync("Bomb");
        string T(int minutes) => s.T0.AddMinutes(minutes).ToString("yyyy-MM-ddTHH:mm:ssZ");
        // A valid first reading, then 11 MB of blanks: about 11 KB compressed.
        var text = contentType == "text/csv"
            ? $"stationId,start,end,energyKwh\n{s.Id},{T(0)},{T(15)},1\n" + new string('\n', 11 * 1024 * 1024)
            : $$"""{"readings":[{"stationId":"{{s.Id}}","start":"{{T(0)}}","end":"{{T(15)}}","energyKwh":1}{{new string(' ', 11 * 1024 * 1024)}}]}""";
        var packed = Gzip(text);
        Assert.True(packed.Length < 100_000);

        using var response = await PostBytesAsync(s.Cpo, "/v1/readings", packed, contentType, gzip: true);

        Assert.Equal("body-size", (await JsonAsync(response, HttpStatusCode.RequestEntityTooLarge))["rule"]!.GetValue<string>());
        Assert.Empty((await _api.GetAsync($"/v1/stations/{s.Id}/readings?from={Q(s.T0)}&to={Q(s.T0.AddHours(1))}", s.Cpo))["items"]!.AsArray());
    }

    [Fact]
    public async Task PostReadings_CorruptGzip_Is400()
    {
        var s = await StationAsync("Corrupt");
        using var response = await PostBytesAsync(s.Cpo, "/v1/readings", [0x1f, 0x8b, 8, 0, 1, 2, 3, 4, 5, 6, 7], "text/csv", gzip: true);
        var problem = await JsonAsync(response, HttpStatusCode.BadRequest);
        Assert.Equal(("Content-Encoding", "gzip"), (problem["field"]!.GetValue<string>(), problem["rule"]!.GetValue<string>()));
    }

    [Fact]
    public async Task PostReadings_OtherContentType_Is415()
    {
        var s = await StationAsync("Xml");
        using var response = await PostBytesAsync(s.Cpo, "/v1/readings", Encoding.UTF8.GetBytes("<readings/>"), "application/xml", gzip: false);
        Assert.Equal(HttpStatusCode.UnsupportedMediaType, response.StatusCode);
    }

    private static byte[] Gzip(string text)
    {
        using var packed = new MemoryStream();
        using (var gzip = new GZipStream(packed, CompressionLevel.Optimal)) gzip.Write(Encoding.UTF8.GetBytes(text));
        return packed.ToArray();
    }

    private Task<HttpResponseMessage> PostCsvAsync(Caller cpo, string csv) => PostBytesAsync(cpo, "/v1/readings", Encoding.UTF8.GetBytes(csv), "text/csv", gzip: false);

    private Task<HttpResponseMessage> PostBytesAsync(Caller cpo, string path, byte[] body, string contentType, bool gzip)
    {
        var message = new HttpRequestMessage(HttpMethod.Post, path) { Content = new ByteArrayContent(body) };
        message.Content.Headers.ContentType = new MediaTypeHeaderValue(contentType);
        if (gzip) message.Content.Headers.ContentEncoding.Add("gzip");
        message.Headers.Add("X-Api-Key", cpo.ApiKey);
        return market.Client.SendAsync(message);
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
