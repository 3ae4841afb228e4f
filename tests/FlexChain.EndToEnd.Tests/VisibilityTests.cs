using System.Globalization;
using System.Net;
using System.Text.Json.Nodes;
using FlexChain.Domain;

namespace FlexChain.EndToEnd.Tests;

/// <summary>
/// Visibility between operators over HTTP: a station's bookings are read by its CPO, its connecting DSO and the TSO above
/// it, and a DSO lists every booking in its grid with the buyer, including those of another buyer (written here through
/// the store, as a TSO's clearing writes them: TSO requests are not in this branch).
/// </summary>
[Collection(MarketCollection.Name)]
public sealed class VisibilityTests(MarketFixture market)
{
    private readonly MarketClient _api = new(market.Client);

    private static readonly object Where = new { latitude = 42.5636m, longitude = 12.6427m };

    private static string Q(DateTimeOffset t) => Uri.EscapeDataString(t.ToString("O", CultureInfo.InvariantCulture));

    [Fact]
    public async Task Bookings_OfEveryBuyer_AreVisibleToTheStationsOperators_AndNobodyElse()
    {
        var t0 = market.Clock.GetUtcNow();
        var tso = await _api.RegisterAsync("Tso", "Visibility TSO", MarketFixture.RuleCpoBKey);
        var dso = await _api.RegisterAsync("Dso", "Visibility DSO", MarketFixture.RuleDsoKey);
        var cpo = await _api.RegisterAsync("Cpo", "Visibility CPO", MarketFixture.RuleCpoAKey);
        var otherCpo = await _api.RegisterAsync("Cpo", "Other CPO", MarketFixture.CpoBKey);
        var otherDso = await _api.RegisterAsync("Dso", "Other DSO", MarketFixture.DsoKey);
        var substation = (await _api.PostAsync("/v1/grid/nodes", tso, new { kind = "HvMvSubstation", name = "Narni HV/MV", ratedPowerKw = 40_000m, location = Where }))["id"]!.GetValue<string>();
        var feeder = (await _api.PostAsync("/v1/grid/nodes", dso, new { kind = "MvFeeder", name = "Feeder 7", ratedPowerKw = 5_000m, location = Where, parentId = substation }))["id"]!.GetValue<string>();
        var transformer = (await _api.PostAsync("/v1/transformers", dso, new { name = "Narni 1", ratedPowerKw = 630m, location = Where, parentId = feeder }))["id"]!.GetValue<string>();
        var station = await _api.StationAsync(cpo, transformer, "IT001E00000601");
        var window = new DateTimeOffset(t0.Year, t0.Month, t0.Day, t0.Hour, 0, 0, TimeSpan.Zero).AddHours(3);
        var request = await _api.RequestAsync(dso, transformer, t0.AddHours(1), window, 10m);
        await _api.PostAsync($"/v1/requests/{request}/offers", cpo, new { stationIds = new[] { station }, energyKwh = 10m, priceEurPerKwh = 0.25m, divisible = false });
        market.Clock.SetTo(t0.AddHours(1));
        var award = (await _api.WaitForStateAsync(request, dso, "Awarded"))["awards"]![0]!["id"]!.GetValue<string>();

        // Another buyer's award on the same station in a later window, booked as every clearing books.
        var store = await StoreCollection.NewStoreAsync(market.StorageConnectionString);
        var later = new TimeWindow(window.AddHours(2), window.AddHours(3));
        await store.BookAsync("tso-cycle-visibility", [new StationBooking(station, later, "req_tsovisibility/off_1")], default);

        var period = $"from={Q(window.AddHours(-1))}&to={Q(window.AddHours(4))}";
        foreach (var reader in new[] { cpo, dso, tso })
        {
            var items = (await _api.GetAsync($"/v1/stations/{station}/bookings?{period}", reader))["items"]!.AsArray();
            Assert.Equal([award, "req_tsovisibility/off_1"], items.Select(i => i!["awardId"]!.GetValue<string>()));
            Assert.Equal((dso.Id, "Dso", request), (items[0]!["buyerId"]!.GetValue<string>(), items[0]!["buyerRole"]!.GetValue<string>(), items[0]!["requestId"]!.GetValue<string>()));
            Assert.Null(items[1]!["buyerId"]);
        }
        foreach (var outsider in new[] { otherCpo, otherDso })
        {
            using var r = await _api.SendAsync(HttpMethod.Get, $"/v1/stations/{station}/bookings?{period}", outsider, null);
            Assert.Equal(HttpStatusCode.NotFound, r.StatusCode);
        }

        // The grid's listing: the DSO under its feeder, the TSO under its substation; another DSO is refused.
        foreach (var (reader, node) in new[] { (dso, feeder), (tso, substation), (dso, transformer) })
        {
            var items = (await _api.GetAsync($"/v1/grid/nodes/{node}/bookings?{period}", reader))["items"]!.AsArray();
            Assert.Equal([(station, award), (station, "req_tsovisibility/off_1")], items.Select(i => (i!["stationId"]!.GetValue<string>(), i!["awardId"]!.GetValue<string>())));
        }
        using (var r = await _api.SendAsync(HttpMethod.Get, $"/v1/grid/nodes/{feeder}/bookings?{period}", otherDso, null))
            await MarketClient.ProblemAsync(r, HttpStatusCode.Forbidden, "id", "own-grid");
        using (var r = await _api.SendAsync(HttpMethod.Get, $"/v1/grid/nodes/{feeder}/bookings?{period}", cpo, null))
            Assert.Equal(HttpStatusCode.Forbidden, r.StatusCode);
        // Outside the period: nothing.
        Assert.Empty((await _api.GetAsync($"/v1/grid/nodes/{feeder}/bookings?from={Q(window.AddHours(5))}&to={Q(window.AddHours(6))}", dso))["items"]!.AsArray());
    }
}
