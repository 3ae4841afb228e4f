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
            if (DeliveryVerifier.Verify(_awards[i], _window, Direction.ReduceConsumption, VerificationRules.Default, _evidence[i]).Succeeded) succeeded++;
        return succeeded;
    }
}
