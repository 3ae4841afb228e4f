using System.Globalization;
using System.Text.Json;
using Azure.Data.Tables;
using FlexChain.Domain;
using FlexChain.Functions.Storage;
using FlexChain.Storage;
using FlexChain.Testing;

namespace FlexChain.EndToEnd.Tests;

/// <summary>
/// Packed meter data (issue 17): one entity per station and day holding its intervals, merged under ETags, revisions
/// counted; and the verification on it gives what it gave on the per-reading storage it replaced.
/// </summary>
[Collection(StoreCollection.Name)]
public sealed class PackedMeterDataTests(AzuriteFixture azurite)
{
    private static readonly DateTimeOffset Day = new(2029, 3, 14, 0, 0, 0, TimeSpan.Zero);
    private static readonly DateTimeOffset Now = Day.AddDays(10);
    private readonly TableClient _days = new TableServiceClient(azurite.ConnectionString).GetTableClient("meterdays");

    private static ChargingStation NewStation() =>
        new("st_" + Guid.NewGuid().ToString("N"), "cpo_packed", "tr_packed", Kilowatts.From(22m), "IT001E00000017", true);

    private static MeterReading R(ChargingStation s, DateTimeOffset start, int minutes, decimal kwh) =>
        new(s.Id, new TimeWindow(start, start.AddMinutes(minutes)), KilowattHours.From(kwh));

    private static IReadOnlyList<(ChargingStation, IReadOnlyList<ReadingUpload>)> Upload(ChargingStation s, params MeterReading[] readings) =>
        [(s, readings.Select((r, i) => new ReadingUpload(i, r)).ToList())];

    private static readonly DateOnly Date = DateOnly.FromDateTime(Day.UtcDateTime);

    /// <summary>The station's day entities (a scan by row key: tests only), each named by the end of its partition key: kind and day.</summary>
    private async Task<List<string>> DaysOfAsync(ChargingStation s) =>
        (await _days.QueryAsync<TableEntity>(TableClient.CreateQueryFilter($"RowKey eq {s.Id}")).ToListAsync())
        .Select(e => e.PartitionKey[^9..]).Order(StringComparer.Ordinal).ToList();

    [Fact]
    public void Encode_DayOfQuarterHours_FiveBytesAnIntervalAndRoundTrips()
    {
        var s = NewStation();
        var readings = Enumerable.Range(0, 96).Select(k => R(s, Day.AddMinutes(15 * k), 15, 1m + k % 7 * 0.125m) with { Revision = 1 }).ToList();

        var packed = PackedMeterDay.Encode(Date, readings);

        // Format and unit, then per interval: gap 0, length 15 (minutes), 1,000 to 1,750 Wh (2 bytes), revision 1.
        Assert.Equal(2 + 96 * 5, packed.Length);
        Assert.Equal(readings, PackedMeterDay.Decode(s.Id, Date, packed));
    }

    [Fact]
    public void Encode_FullDayInTicksWithTheLargestValues_FitsUnderThePropertyLimitAndRoundTrips()
    {
        var s = NewStation();
        // Starts a tick after each minute force the tick unit; the energy and revision take their largest encodings.
        var readings = Enumerable.Range(0, 1_440).Select(m => new MeterReading(s.Id,
            new TimeWindow(Day.AddMinutes(m).AddTicks(m == 0 ? 1 : 0), Day.AddMinutes(m + 1)), new KilowattHours((m % 2 == 0 ? long.MaxValue / 4 : -(long.MaxValue / 4)) / 1000m),
            int.MaxValue - m)).ToList();

        var packed = PackedMeterDay.Encode(Date, readings);

        Assert.True(packed.Length <= 2 + 1_440 * PackedMeterDay.MaxIntervalBytes);
        Assert.True(packed.Length < TableLimits.MaxPropertyBytes);
        TableLimits.Check(new TableEntity("cpo~00~m20290314", s.Id) { [PackedMeterDay.Property] = packed });
        Assert.Equal(readings, PackedMeterDay.Decode(s.Id, Date, packed));
    }

    [Fact]
    public void Encode_SecondsAndMinutes_UseTheLargestUnitThatFits()
    {
        var s = NewStation();
        var bySecond = new[] { R(s, Day.AddSeconds(30), 15, 1m), R(s, Day.AddMinutes(20), 15, 1m) };

        Assert.Equal(1, PackedMeterDay.Encode(Date, bySecond)[1]);
        Assert.Equal(0, PackedMeterDay.Encode(Date, [R(s, Day.AddMinutes(20), 15, 1m)])[1]);
        Assert.Equal(bySecond, PackedMeterDay.Decode(s.Id, Date, PackedMeterDay.Encode(Date, bySecond)));
    }

    [Fact]
    public void Encode_ReadingStartingOnAnotherDayOrOverlapping_Throws()
    {
        var s = NewStation();
        Assert.Throws<ArgumentException>(() => PackedMeterDay.Encode(Date, [R(s, Day.AddDays(1), 15, 1m)]));
        Assert.Throws<ArgumentException>(() => PackedMeterDay.Encode(Date, [R(s, Day.AddTicks(-1), 15, 1m)]));
        Assert.Throws<ArgumentException>(() => PackedMeterDay.Encode(Date, [R(s, Day, 15, 1m), R(s, Day.AddMinutes(10), 15, 1m)]));
    }

    [Theory]
    [InlineData(new byte[0])]
    [InlineData(new byte[] { 2 })]
    [InlineData(new byte[] { 1, 0 })]
    [InlineData(new byte[] { 2, 3 })]
    [InlineData(new byte[] { 2, 0, 0, 15, 0x80 })]
    [InlineData(new byte[] { 2, 0, 0, 15, 2 })]
    public void Decode_NotThisFormat_Throws(byte[] data) =>
        Assert.Throws<FormatException>(() => PackedMeterDay.Decode("st_x", Date, data));

    [Fact]
    public async Task IngestReadingsAsync_QuarterHoursOverTwoDays_OneEntityPerStationAndDay()
    {
        var store = await StoreCollection.NewStoreAsync(azurite);
        var (a, b) = (NewStation(), NewStation());
        // 100 quarter-hours from noon: 48 on the first day, 52 on the second.
        MeterReading[] Run(ChargingStation s) => Enumerable.Range(0, 100).Select(k => R(s, Day.AddHours(12).AddMinutes(15 * k), 15, 1m + k % 7 * 0.125m)).ToArray();

        var result = await store.IngestReadingsAsync([.. Upload(a, Run(a)), .. Upload(b, Run(b))], Now, CancellationToken.None);

        Assert.All(result.Items, i => Assert.Equal(ReadingOutcome.Stored, i.Outcome));
        foreach (var s in new[] { a, b })
        {
            Assert.Equal(["m20290314", "m20290315"], await DaysOfAsync(s));
            var stored = await store.GetReadingsAsync(s.CpoId, s.Id, new TimeWindow(Day, Day.AddDays(2)), CancellationToken.None);
            Assert.Equal(Run(s), stored);
        }
    }

    [Fact]
    public async Task IngestReadingsAsync_Corrections_CountRevisionsAndKeepTheLatestValue()
    {
        var store = await StoreCollection.NewStoreAsync(azurite);
        var s = NewStation();
        var window = new TimeWindow(Day, Day.AddDays(1));
        await store.IngestReadingsAsync(Upload(s, R(s, Day.AddHours(1), 15, 1m), R(s, Day.AddHours(2), 15, 5m)), Now, CancellationToken.None);

        var second = await store.IngestReadingsAsync(Upload(s, R(s, Day.AddHours(1), 15, 2m)), Now, CancellationToken.None);
        var third = await store.IngestReadingsAsync(Upload(s, R(s, Day.AddHours(1), 15, 3m), R(s, Day.AddHours(2), 15, 5m)), Now, CancellationToken.None);

        Assert.Equal(ReadingOutcome.Corrected, Assert.Single(second.Items).Outcome);
        Assert.Equal([ReadingOutcome.Corrected, ReadingOutcome.Unchanged], third.Items.Select(i => i.Outcome));
        var stored = await store.GetReadingsAsync(s.CpoId, s.Id, window, CancellationToken.None);
        Assert.Equal([(3m, 3), (5m, 1)], stored.Select(r => (r.Energy.Value, r.Revision)));
        Assert.True(MeterSeries.For(s.Id, stored).IsRevised(new TimeWindow(Day.AddHours(1), Day.AddHours(1).AddMinutes(15))));
        Assert.False(MeterSeries.For(s.Id, stored).IsRevised(new TimeWindow(Day.AddHours(2), Day.AddHours(2).AddMinutes(15))));
        Assert.Single(await DaysOfAsync(s));
    }

    [Fact]
    public async Task IngestReadingsAsync_StoredReadingOverMidnight_OverlapFoundInTheNextDay()
    {
        var store = await StoreCollection.NewStoreAsync(azurite);
        var s = NewStation();
        await store.IngestReadingsAsync(Upload(s, R(s, Day.AddMinutes(-30), 60, 1m)), Now, CancellationToken.None);

        var late = await store.IngestReadingsAsync(Upload(s, R(s, Day.AddMinutes(15), 15, 1m), R(s, Day.AddMinutes(30), 15, 1m)), Now, CancellationToken.None);

        Assert.Equal([("overlap", ReadingOutcome.Rejected), (null, ReadingOutcome.Stored)], late.Items.Select(i => (i.Rule, i.Outcome)));
        Assert.Equal(["m20290313", "m20290314"], await DaysOfAsync(s));
    }

    [Fact]
    public async Task IngestReadingsAsync_ConcurrentUploadsIntoOneDay_EveryReadingStoredOnce()
    {
        var store = await StoreCollection.NewStoreAsync(azurite);
        var s = NewStation();

        var results = await Task.WhenAll(Enumerable.Range(0, 8).Select(k =>
            store.IngestReadingsAsync(Upload(s, R(s, Day.AddMinutes(15 * k), 15, k)), Now, CancellationToken.None)));

        Assert.All(results, r => Assert.Equal(ReadingOutcome.Stored, Assert.Single(r.Items).Outcome));
        var stored = await store.GetReadingsAsync(s.CpoId, s.Id, new TimeWindow(Day, Day.AddDays(1)), CancellationToken.None);
        Assert.Equal(Enumerable.Range(0, 8).Select(k => (Day.AddMinutes(15 * k), (decimal)k, 1)), stored.Select(r => (r.Interval.Start, r.Energy.Value, r.Revision)));
    }

    [Fact]
    public async Task IngestReadingsAsync_ManyStationsOfOneCpo_OneEntityPerStationAndDayInAFewSharedPartitions()
    {
        var store = await StoreCollection.NewStoreAsync(azurite);
        var cpo = "cpo_" + Guid.NewGuid().ToString("N");
        var stations = Enumerable.Range(0, 40).Select(_ => NewStation() with { CpoId = cpo }).ToList();

        var result = await store.IngestReadingsAsync(stations.Select(s => Upload(s, Enumerable.Range(0, 100)
            .Select(k => R(s, Day.AddHours(12).AddMinutes(15 * k), 15, 1m + k % 7 * 0.125m)).ToArray())[0]).ToList(), Now, CancellationToken.None);

        Assert.Equal(4_000, result.Items.Count(i => i.Outcome == ReadingOutcome.Stored));
        var entities = await _days.QueryAsync<TableEntity>(TableClient.CreateQueryFilter($"PartitionKey ge {cpo} and PartitionKey lt {cpo + "~~"}")).ToListAsync();
        Assert.Equal(80, entities.Count);
        Assert.Equal(80, entities.Select(e => (e.PartitionKey[^9..], e.RowKey)).Distinct().Count());
        // 4 shards a day over 2 days: the 40 stations' 80 day entities were written in at most 8 transactions.
        Assert.InRange(entities.Select(e => e.PartitionKey).Distinct().Count(), 2, 8);
        foreach (var s in stations.Take(3))
            Assert.Equal(100, (await store.GetReadingsAsync(cpo, s.Id, new TimeWindow(Day, Day.AddDays(2)), CancellationToken.None)).Count);
        // One metering point per station, found by the station id alone, in at most 16 partitions (one transaction each).
        var points = await new TableServiceClient(azurite.ConnectionString).GetTableClient("meterpoints")
            .QueryAsync<TableEntity>(string.Join(" or ", stations.Select(s => TableClient.CreateQueryFilter($"RowKey eq {s.Id}")))).ToListAsync();
        Assert.Equal(stations.Select(s => s.Id).Order(StringComparer.Ordinal), points.Select(p => p.RowKey).Order(StringComparer.Ordinal));
        Assert.InRange(points.Select(p => p.PartitionKey).Distinct().Count(), 2, 16);
        foreach (var s in stations)
            Assert.Equal(Day.AddHours(12).AddMinutes(15 * 99), (await store.GetMeterPointAsync(s.Id, CancellationToken.None))!.Latest.Interval.Start);
    }

    /// <summary>
    /// Uploads of many stations race on shared day partitions: a transaction that loses on one station's day is planned again
    /// for all its stations, and no reading of any of them is lost or stored twice.
    /// </summary>
    [Fact]
    public async Task IngestReadingsAsync_ConcurrentManyStationUploads_EveryReadingStoredOnce()
    {
        var store = await StoreCollection.NewStoreAsync(azurite);
        var cpo = "cpo_" + Guid.NewGuid().ToString("N");
        var stations = Enumerable.Range(0, 12).Select(_ => NewStation() with { CpoId = cpo }).ToList();

        var results = await Task.WhenAll(Enumerable.Range(0, 6).Select(k => store.IngestReadingsAsync(
            stations.Select(s => Upload(s, R(s, Day.AddMinutes(15 * k), 15, k), R(s, Day.AddDays(1).AddMinutes(15 * k), 15, k))[0]).ToList(), Now, CancellationToken.None)));

        Assert.All(results.SelectMany(r => r.Items), i => Assert.Equal(ReadingOutcome.Stored, i.Outcome));
        foreach (var s in stations)
        {
            var stored = await store.GetReadingsAsync(cpo, s.Id, new TimeWindow(Day, Day.AddDays(2)), CancellationToken.None);
            Assert.Equal(Enumerable.Range(0, 6).Select(k => (Day.AddMinutes(15 * k), (decimal)k, 1)).Concat(Enumerable.Range(0, 6).Select(k => (Day.AddDays(1).AddMinutes(15 * k), (decimal)k, 1))),
                stored.Select(r => (r.Interval.Start, r.Energy.Value, r.Revision)));
            Assert.Equal(["m20290314", "m20290315"], await DaysOfAsync(s));
            // The points share partitions too: an upload that lost a point transaction read them again and moved each to the newest.
            Assert.Equal(Day.AddDays(1).AddMinutes(75), (await store.GetMeterPointAsync(s.Id, CancellationToken.None))!.Latest.Interval.Start);
        }
    }

    [Fact]
    public async Task TryPutDeclaredScheduleAsync_ReplacesIntervalsWithTheSameStart_AndKeepsTheRest()
    {
        var store = await StoreCollection.NewStoreAsync(azurite);
        var s = NewStation();
        Assert.True(await store.TryPutDeclaredScheduleAsync(s, [R(s, Day, 15, 1m), R(s, Day.AddMinutes(15), 15, 2m)], Now, CancellationToken.None));
        Assert.True(await store.TryPutDeclaredScheduleAsync(s, [R(s, Day.AddMinutes(15), 15, 4m)], Now, CancellationToken.None));

        var declared = await store.GetDeclaredScheduleAsync(s.CpoId, s.Id, new TimeWindow(Day, Day.AddHours(1)), CancellationToken.None);

        Assert.Equal([1m, 4m], declared.Select(r => r.Energy.Value));
        Assert.Empty(await store.GetReadingsAsync(s.CpoId, s.Id, new TimeWindow(Day, Day.AddHours(1)), CancellationToken.None));
    }

    /// <summary>
    /// The differential test: the same uploads (mixed resolutions, corrections, a conflicting value, gaps, a reading
    /// over midnight) stored packed and in the per-reading layout this change replaced (kept here only), then every
    /// award verified from each: the verifications are identical, revised and missing intervals included.
    /// </summary>
    [Fact]
    public async Task Verify_PackedAndPerReadingStorage_GiveIdenticalVerifications()
    {
        var store = await StoreCollection.NewStoreAsync(azurite);
        var perReading = new PerReadingStore(new TableServiceClient(azurite.ConnectionString).GetTableClient("readingsold" + Guid.NewGuid().ToString("N")[..8]));
        await perReading.Table.CreateAsync();
        var (a, b, c) = (NewStation(), NewStation(), NewStation());
        var noon = Day.AddHours(12);
        var uploads = new List<MeterReading[]>
        {
            // a: quarter-hours 10:00-14:00 (the 12:45 one missing).
            Enumerable.Range(0, 16).Where(k => k != 11).Select(k => R(a, Day.AddHours(10).AddMinutes(15 * k), 15, 2.5m + k % 3 * 0.25m)).ToArray(),
            // b: five-minute readings 10:00-14:00, and c: one-minute readings 11:00-13:00.
            Enumerable.Range(0, 48).Select(k => R(b, Day.AddHours(10).AddMinutes(5 * k), 5, 0.8m - k % 4 * 0.1m)).ToArray(),
            Enumerable.Range(0, 120).Select(k => R(c, Day.AddHours(11).AddMinutes(k), 1, 0.05m + k % 5 * 0.01m)).ToArray(),
            // Corrections: a's 12:15 twice, b's 12:30 once; a re-upload that changes nothing; an overlap that is refused.
            new[] { R(a, noon.AddMinutes(15), 15, 1.1m), R(b, noon.AddMinutes(30), 5, 0.05m) },
            new[] { R(a, noon.AddMinutes(15), 15, 0.9m), R(a, noon, 15, 2.5m + 8 % 3 * 0.25m), R(a, noon.AddMinutes(5), 15, 9m) },
            // Over midnight: c's readings 23:00-01:00 in hours, the second crossing into the next day.
            new[] { R(c, Day.AddHours(23), 60, 4m), R(c, Day.AddHours(24), 60, 3m) },
        };
        foreach (var upload in uploads)
        {
            await store.IngestReadingsAsync(upload.GroupBy(r => r.StationId).Select(g =>
                (new ChargingStation(g.Key, "cpo_packed", "tr_packed", Kilowatts.From(22m), "IT", true), (IReadOnlyList<ReadingUpload>)g.Select((r, i) => new ReadingUpload(i, r)).ToList())).ToList(),
                Now, CancellationToken.None);
            await perReading.IngestAsync(upload);
        }

        var cases = new (TimeWindow Window, string[] Stations, VerificationRules Rules)[]
        {
            (new(noon, noon.AddHours(1)), [a.Id], VerificationRules.Default),                          // a correction and a gap in the window
            (new(noon, noon.AddHours(1)), [a.Id, b.Id, c.Id], VerificationRules.Default),              // mixed resolutions
            (new(noon.AddMinutes(10), noon.AddMinutes(50)), [b.Id, c.Id], VerificationRules.Default with { MbmaMinutes = 30 }),
            (new(noon, noon.AddHours(1)), [a.Id, b.Id], VerificationRules.Default with { Payout = PayoutRule.ProRataByScore }),
            (new(Day.AddHours(23).AddMinutes(30), Day.AddHours(24).AddMinutes(30)), [c.Id], VerificationRules.Default),   // over midnight, no baseline
        };
        foreach (var (window, stations, rules) in cases)
        {
            var award = new Award("req_diff/o1", "o1", "cpo_packed", stations, KilowattHours.From(1m), EurosPerKilowattHour.From(0.25m));
            var range = rules.EvidenceRange(window);
            var packed = new List<MeterReading>();
            var old = new List<MeterReading>();
            foreach (var station in stations)
            {
                packed.AddRange(await store.GetReadingsAsync("cpo_packed", station, range, CancellationToken.None));
                old.AddRange(await perReading.GetReadingsAsync(station, range));
            }
            var fromPacked = DeliveryVerifier.Verify(award, window, Direction.ReduceConsumption, rules, new DeliveryEvidence(packed), MarketInterval.Default);
            var fromOld = DeliveryVerifier.Verify(award, window, Direction.ReduceConsumption, rules, new DeliveryEvidence(old), MarketInterval.Default);

            Assert.Equal(JsonSerializer.Serialize(fromOld), JsonSerializer.Serialize(fromPacked));
        }
        // The cases are not vacuous: the first saw a revised and a missing interval.
        var first = DeliveryVerifier.Verify(new Award("req_diff/o1", "o1", "cpo_packed", [a.Id], KilowattHours.From(1m), EurosPerKilowattHour.From(0.25m)),
            cases[0].Window, Direction.ReduceConsumption, VerificationRules.Default,
            new DeliveryEvidence(await store.GetReadingsAsync(a.CpoId, a.Id, VerificationRules.Default.EvidenceRange(cases[0].Window), CancellationToken.None)), MarketInterval.Default);
        Assert.Contains(first.Intervals!, i => i.Revised);
        Assert.Contains(first.Intervals!, i => i.Missing);
    }

    /// <summary>
    /// The per-reading storage this change replaced, kept only as the differential test's reference: one entity per reading
    /// (PartitionKey <c>{stationId}~{yyyyMMdd}</c>, RowKey <c>r{start ticks}</c>, the revision counted per correction),
    /// an upload's readings checked as the old store checked them (same start and boundaries: unchanged or corrected;
    /// other boundaries overlapping a stored reading or one earlier in the upload: refused), read back by a key range.
    /// </summary>
    private sealed class PerReadingStore(TableClient table)
    {
        public TableClient Table => table;

        private static string Partition(string stationId, DateTimeOffset t) => stationId + "~" + t.UtcDateTime.ToString("yyyyMMdd", CultureInfo.InvariantCulture);

        private static string Row(DateTimeOffset t) => "r" + t.UtcTicks.ToString("D19", CultureInfo.InvariantCulture);

        public async Task IngestAsync(IEnumerable<MeterReading> upload)
        {
            foreach (var station in upload.GroupBy(r => r.StationId))
            {
                var sorted = station.OrderBy(r => r.Interval.Start).ToList();
                var stored = (await GetReadingsAsync(station.Key, new TimeWindow(sorted[0].Interval.Start.AddHours(-1), sorted[^1].Interval.End))).ToList();
                MeterReading? last = null;
                foreach (var r in sorted)
                {
                    if (last is not null && last.Interval.End > r.Interval.Start) continue;
                    if (stored.Any(s => s.Interval.Start != r.Interval.Start && s.Interval.Overlaps(r.Interval))) continue;
                    last = r;
                    var existing = stored.FirstOrDefault(s => s.Interval.Start == r.Interval.Start);
                    if (existing is not null && existing.Interval == r.Interval && existing.Energy == r.Energy) continue;
                    await table.UpsertEntityAsync(new TableEntity(Partition(r.StationId, r.Interval.Start), Row(r.Interval.Start))
                    {
                        ["End"] = r.Interval.End, ["Wh"] = r.Energy.WattHours, ["Revision"] = (existing?.Revision ?? 0) + 1,
                    }, TableUpdateMode.Replace);
                }
            }
        }

        public async Task<IReadOnlyList<MeterReading>> GetReadingsAsync(string stationId, TimeWindow range)
        {
            var filter = TableClient.CreateQueryFilter(
                $"PartitionKey ge {Partition(stationId, range.Start)} and PartitionKey le {Partition(stationId, range.End)} and RowKey ge {Row(range.Start)} and RowKey lt {Row(range.End)}");
            var list = new List<MeterReading>();
            await foreach (var e in table.QueryAsync<TableEntity>(filter))
            {
                var start = new DateTimeOffset(long.Parse(e.RowKey.AsSpan(1), CultureInfo.InvariantCulture), TimeSpan.Zero);
                list.Add(new MeterReading(stationId, new TimeWindow(start, e.GetDateTimeOffset("End")!.Value), new KilowattHours(e.GetInt64("Wh")!.Value / 1000m), e.GetInt32("Revision")!.Value));
            }
            return list.OrderBy(r => r.Interval.Start).ToList();
        }
    }
}
