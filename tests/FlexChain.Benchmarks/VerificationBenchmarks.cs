using BenchmarkDotNet.Attributes;
using FlexChain.Domain;

namespace FlexChain.Benchmarks;

/// <summary>
/// Issue 6: verifying one gate cycle's 10,000 awarded offers (one station each, a one-hour window of quarter-hour
/// readings, MBMA over the hour before: 8 readings per station, 80,000 in all) with <see cref="DeliveryVerifier.Verify"/>.
/// Each award gets its own stations' readings, as a verifier that groups the evidence by station would pass them.
/// Results and the command are in docs/BENCHMARKS.md.
/// </summary>
[MemoryDiagnoser]
[MedianColumn]
[SimpleJob(launchCount: 1, warmupCount: 2, iterationCount: 7)]
public class VerificationBenchmarks
{
    private static readonly DateTimeOffset Start = new(2026, 6, 1, 18, 0, 0, TimeSpan.Zero);
    private readonly TimeWindow _window = new(Start, Start.AddHours(1));
    private Award[] _awards = [];
    private DeliveryEvidence[] _evidence = [];

    /// <summary>Awarded offers in the cycle.</summary>
    [Params(10_000)]
    public int Awards { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var random = new Random(6);
        _awards = new Award[Awards];
        _evidence = new DeliveryEvidence[Awards];
        for (var i = 0; i < Awards; i++)
        {
            var station = $"st-{i:D5}";
            _awards[i] = new Award($"req/off-{i:D5}", $"off-{i:D5}", $"cpo-{i % 500}", [station], new KilowattHours(random.Next(1_000, 20_000) / 1000m),
                new EurosPerKilowattHour(random.Next(500, 5_000) / 10_000m));
            var readings = new List<MeterReading>(8);
            for (var q = -4; q < 4; q++)
            {
                var from = Start.AddMinutes(15 * q);
                readings.Add(new MeterReading(station, new TimeWindow(from, from.AddMinutes(15)), new KilowattHours(random.Next(0, 10_000) / 1000m)));
            }
            _evidence[i] = new DeliveryEvidence(readings);
        }
    }

    [Benchmark]
    public int VerifyGateCycle()
    {
        var succeeded = 0;
        for (var i = 0; i < _awards.Length; i++)
            if (DeliveryVerifier.Verify(_awards[i], _window, Direction.ReduceConsumption, VerificationRules.Default, _evidence[i], MarketInterval.Default).Succeeded) succeeded++;
        return succeeded;
    }

}

/// <summary>
/// X-of-Y verification at 1-minute resolution: <see cref="Stations"/> awards of one request, one station each, High 5 of
/// 10 similar days (working days in Europe/Rome; 2 June is a holiday and weekends are skipped, so the 10 days span 15
/// calendar days) plus the window: 21,600 one-minute readings per station in one flat list, as the store loads a
/// request's evidence. The per-station grouping (<see cref="DeliveryEvidence.ReadingsOf"/>) is built inside the
/// measured method, as <see cref="FlexRequest.Verify"/> builds it for each request.
/// </summary>
[MemoryDiagnoser]
[MedianColumn]
[SimpleJob(launchCount: 1, warmupCount: 1, iterationCount: 5)]
public class XOfYVerificationBenchmarks
{
    // Wednesday 17 June 2026, 18:00-19:00 UTC (20:00 in Rome); the 10 working days before reach back to 3 June.
    private static readonly DateTimeOffset Start = new(2026, 6, 17, 18, 0, 0, TimeSpan.Zero);
    private static readonly VerificationRules Rules = VerificationRules.Default with { Baseline = BaselineMethod.HighXOfY, X = 5, Y = 10 };
    private readonly TimeWindow _window = new(Start, Start.AddHours(1));
    private Award[] _awards = [];
    private MeterReading[] _readings = [];

    /// <summary>Awarded stations, each with 15 days of one-minute readings.</summary>
    [Params(50)]
    public int Stations { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var random = new Random(7);
        var from = Start.AddDays(-14).Date;
        var minutes = (int)(Start.AddHours(1) - new DateTimeOffset(from, TimeSpan.Zero)).TotalMinutes;
        _awards = new Award[Stations];
        var readings = new List<MeterReading>(Stations * minutes);
        for (var s = 0; s < Stations; s++)
        {
            var station = $"st-{s:D3}";
            _awards[s] = new Award($"req/off-{s:D3}", $"off-{s:D3}", $"cpo-{s}", [station], new KilowattHours(random.Next(1_000, 10_000) / 1000m),
                new EurosPerKilowattHour(0.25m));
            for (var m = 0; m < minutes; m++)
            {
                // Charging at 6 to 21 kW before the window and at most 3 kW in it: every station delivers its award, so
                // every verification runs to the end (one that fails stops at its first failed interval).
                var at = new DateTimeOffset(from, TimeSpan.Zero).AddMinutes(m);
                var wh = _window.Contains(at) ? random.Next(0, 50) : random.Next(100, 350);
                readings.Add(new MeterReading(station, new TimeWindow(at, at.AddMinutes(1)), new KilowattHours(wh / 1000m)));
            }
        }
        _readings = readings.ToArray();
        new Random(8).Shuffle(_readings);
    }

    [Benchmark]
    public int VerifyXOfYOneMinute()
    {
        var evidence = new DeliveryEvidence(_readings);
        var succeeded = 0;
        foreach (var award in _awards)
            if (DeliveryVerifier.Verify(award, _window, Direction.ReduceConsumption, Rules, evidence, MarketInterval.Default).Succeeded) succeeded++;
        return succeeded;
    }
}
