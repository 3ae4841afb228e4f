using System.Net;
using System.Numerics;
using System.Text.Json.Nodes;
using FlexChain.Domain;
using FlexChain.Ethereum;
using FlexChain.Functions.Storage;
using FlexChain.Verification;
using static FlexChain.EndToEnd.Tests.ApiResponses;

namespace FlexChain.EndToEnd.Tests;

/// <summary>
/// Delivery verification end to end: requests with their own verification rules, two awarded CPOs delivering 90 % and
/// 50 % of their awards, payouts on chain per rule; and meter data ingestion over HTTP (per-item results, idempotent
/// re-upload, corrections counted as revisions, gaps and duplicates, kW conversion, late data, declared schedules, access).
/// </summary>
[Collection(MarketCollection.Name)]
public sealed class DeliveryVerificationTests(MarketFixture market)
{
    private readonly MarketClient _api = new(market.Client);

    /// <summary>
    /// Four requests on one window, each 20 kWh won by CPO A and CPO B with 10 kWh at 0.25 EUR/kWh. MBMA baseline
    /// 20 kWh/h; A meters 11 kWh (delivers 9, 90 %), B 15 kWh (delivers 5, 50 %). ZeroBelowThreshold pays 2.25 and 0,
    /// ProRataByScore (tolerance 0.1) 2.5 (score 1) and 1.25 (score 0.5), Full 2.5 and 0; a declared baseline of
    /// 5 kWh per quarter pays A 2.25 (quality 1 - 2.25 / 5 = 0.55) and fails B, which declared nothing.
    /// </summary>
    [Fact]
    public async Task TwoCpos_90And50Percent_PayoutsOnChainFollowEachRequestsRule()
    {
        var t0 = market.Clock.GetUtcNow();
        var dso = await _api.RegisterAsync("Dso", "Delivery DSO", MarketFixture.DsoKey);
        var cpoA = await _api.RegisterAsync("Cpo", "Delivery CPO A", MarketFixture.CpoAKey);
        var cpoB = await _api.RegisterAsync("Cpo", "Delivery CPO B", MarketFixture.CpoBKey);
        var transformer = await _api.TransformerAsync(dso);
        // One station per CPO and request: a station is awarded at most once per window.
        var stationsA = new List<string>();
        var stationsB = new List<string>();
        for (var k = 0; k < 4; k++)
        {
            stationsA.Add(await _api.StationAsync(cpoA, transformer, $"IT001E0000009{k}"));
            stationsB.Add(await _api.StationAsync(cpoB, transformer, $"IT001E0000019{k}"));
        }
        var windowStart = t0.AddHours(2);
        var rules = new (string Name, object Verification, BigInteger A, BigInteger B)[]
        {
            ("zero", new { payout = "ZeroBelowThreshold" }, 2_250_000, 0),
            ("prorata", new { payout = "ProRataByScore", tolerance = 0.1m }, 2_500_000, 1_250_000),
            ("full", new { payout = "Full", successThreshold = 0.8m }, 2_500_000, 0),
            ("declared", new { baseline = "Declared", payout = "ZeroBelowThreshold" }, 2_250_000, 0),
        };
        var requests = new List<string>();
        foreach (var rule in rules)
        {
            var posted = await _api.PostAsync("/v1/requests", dso, new
            {
                transformerId = transformer, deliveryStart = windowStart, deliveryEnd = windowStart.AddHours(1), energyKwh = 20m,
                direction = "ReduceConsumption", maxPriceEurPerKwh = 0.5m, gateClosure = t0.AddHours(1), pricing = "PayAsBid", verification = rule.Verification,
            });
            requests.Add(posted["id"]!.GetValue<string>());
        }
        var declared = await _api.GetAsync($"/v1/requests/{requests[3]}", dso);
        Assert.Equal("Declared", declared["verification"]!["baseline"]!.GetValue<string>());
        Assert.Equal(0.8m, declared["verification"]!["successThreshold"]!.GetValue<decimal>());
        for (var k = 0; k < requests.Count; k++)
        {
            await _api.PostAsync($"/v1/requests/{requests[k]}/offers", cpoA, new { stationIds = new[] { stationsA[k] }, energyKwh = 10m, priceEurPerKwh = 0.25m, divisible = false });
            await _api.PostAsync($"/v1/requests/{requests[k]}/offers", cpoB, new { stationIds = new[] { stationsB[k] }, energyKwh = 10m, priceEurPerKwh = 0.25m, divisible = false });
        }
        await _api.SendOkAsync(HttpMethod.Put, $"/v1/stations/{stationsA[3]}/declared-schedule", cpoA, new
        {
            intervals = Enumerable.Range(0, 4).Select(i => new { start = windowStart.AddMinutes(15 * i), end = windowStart.AddMinutes(15 * (i + 1)), energyKwh = 5m }),
        });
        var (balanceA, balanceB) = (await market.TokenBalanceAsync(MarketFixture.CpoAWallet), await market.TokenBalanceAsync(MarketFixture.CpoBWallet));

        market.Clock.SetTo(t0.AddHours(1));
        foreach (var request in requests) await _api.WaitForStateAsync(request, dso, "Awarded");
        market.Clock.SetTo(windowStart);
        // A declaration is closed once its window has started.
        using (var late = await _api.SendAsync(HttpMethod.Put, $"/v1/stations/{stationsB[3]}/declared-schedule", cpoB,
                   new { intervals = new[] { new { start = windowStart, end = windowStart.AddMinutes(15), energyKwh = 5m } } }))
            Assert.Equal("declaration-closed", (await ProblemAsync(late, HttpStatusCode.Conflict))["rule"]!.GetValue<string>());
        for (var k = 0; k < 4; k++)
        {
            await _api.PostQuarterReadingsAsync(cpoA, stationsA[k], windowStart.AddHours(-1), 5m);
            await _api.PostQuarterReadingsAsync(cpoB, stationsB[k], windowStart.AddHours(-1), 5m);
        }
        market.Clock.SetTo(windowStart.AddHours(1));
        for (var k = 0; k < 4; k++)
        {
            await _api.PostQuarterReadingsAsync(cpoA, stationsA[k], windowStart, 2.75m);
            // B reports its window in average power: 15 kW over a quarter hour is 3.75 kWh.
            await _api.PostAsync($"/v1/stations/{stationsB[k]}/readings", cpoB, new
            {
                readings = Enumerable.Range(0, 4).Select(i => new { start = windowStart.AddMinutes(15 * i), end = windowStart.AddMinutes(15 * (i + 1)), powerKw = 15m }),
            });
        }
        market.Clock.SetTo(windowStart.AddHours(1).AddMinutes(5));

        var paid = new Dictionary<Hash32, BigInteger>();
        var verifier = new PaymentVerifier(new JsonRpcEscrowChain(market.Web3, market.Settlement), new HttpPublishedRecords(market.Client, market.Client.BaseAddress!));
        for (var k = 0; k < rules.Length; k++)
        {
            var settled = await _api.WaitForStateAsync(requests[k], dso, "Settled");
            var cpoOf = settled["awards"]!.AsArray().ToDictionary(a => a!["record"]!["awardId"]!.GetValue<string>(), a => a!["cpoId"]!.GetValue<string>());
            var settlements = settled["settlements"]!.AsArray().Select(s => s!).ToList();
            var byCpo = settlements.ToDictionary(s => cpoOf[s["awardId"]!.GetValue<string>()]);
            Assert.Equal(rules[k].A.ToString(), byCpo[cpoA.Id]["payoutUnits"]!.GetValue<string>());
            Assert.Equal(rules[k].B.ToString(), byCpo[cpoB.Id]["payoutUnits"]!.GetValue<string>());
            // The AwardSettled events of the settling transaction pay exactly what the records say.
            var tx = Hash32.Parse(settlements[0]["transactionHash"]!.GetValue<string>());
            foreach (var verdict in await verifier.VerifyTransactionAsync(tx, default))
            {
                Assert.True(verdict.Verified, verdict.Describe(6));
                paid[verdict.AwardId!.Value] = verdict.Payment!.Paid;
            }
            Assert.Equal(rules[k].A, paid[Hash32.Parse(byCpo[cpoA.Id]["awardId"]!.GetValue<string>())]);
            Assert.Equal(rules[k].B, paid[Hash32.Parse(byCpo[cpoB.Id]["awardId"]!.GetValue<string>())]);
            var detailA = byCpo[cpoA.Id]["verification"]!;
            Assert.Equal(4, detailA["intervals"]!.AsArray().Count);
            Assert.Equal(9m, detailA["deliveredKwh"]!.GetValue<decimal>());
        }

        var prorata = (await _api.GetAsync($"/v1/requests/{requests[1]}", dso))["settlements"]!.AsArray();
        Assert.Equal([1m, 0.5m], prorata.Select(s => s!["verification"]!["score"]!.GetValue<decimal>()).Order().Reverse());
        // Paid half by its score below the threshold: reported as paid pro rata, not as a failure.
        var half = prorata.Single(s => s!["verification"]!["score"]!.GetValue<decimal>() == 0.5m)!;
        Assert.Equal(("PaidProRata", false, null), (half["outcome"]!.GetValue<string>(), half["succeeded"]!.GetValue<bool>(), half["failureReason"]?.GetValue<string>()));
        Assert.Equal("PaidProRata", half["verification"]!["outcome"]!.GetValue<string>());
        var declaredSettlements = (await _api.GetAsync($"/v1/requests/{requests[3]}", dso))["settlements"]!.AsArray();
        Assert.Contains(declaredSettlements, s => s!["verification"]!["qualityFactor"]?.GetValue<decimal>() == 0.55m);
        Assert.Contains(declaredSettlements, s => s!["failureReason"]?.GetValue<string>().Contains("missing declared schedule") == true);
        var quality = await _api.GetAsync($"/v1/participants/me/quality?from={Q(windowStart.AddDays(-1))}&to={Q(windowStart.AddDays(1))}", cpoA);
        Assert.Equal(0.55m, Assert.Single(quality["entries"]!.AsArray())!["qualityFactor"]!.GetValue<decimal>());
        Assert.False(quality["months"]![0]!["meetsTarget"]!.GetValue<bool>());

        Assert.Equal(rules.Aggregate(BigInteger.Zero, (s, r) => s + r.A), await market.TokenBalanceAsync(MarketFixture.CpoAWallet) - balanceA);
        Assert.Equal(rules.Aggregate(BigInteger.Zero, (s, r) => s + r.B), await market.TokenBalanceAsync(MarketFixture.CpoBWallet) - balanceB);

        // Late data: the window is verified, so a correction of it is refused with a reason; data after it is still accepted.
        using var correction = await _api.SendAsync(HttpMethod.Post, $"/v1/stations/{stationsA[0]}/readings", cpoA, new
        {
            readings = new[]
            {
                new { start = windowStart, end = windowStart.AddMinutes(15), energyKwh = 0m },
                new { start = windowStart.AddHours(1), end = windowStart.AddHours(1).AddMinutes(5), energyKwh = 1m },
            },
        });
        var result = await JsonAsync(correction, HttpStatusCode.MultiStatus);
        Assert.Equal("verification-closed", result["items"]![0]!["problem"]!["rule"]!.GetValue<string>());
        Assert.Equal(409, result["items"]![0]!["status"]!.GetValue<int>());
        Assert.Equal("Stored", result["items"]![1]!["outcome"]!.GetValue<string>());
    }

    /// <summary>
    /// High 2 of 2 working days, with an activation day among the days before the window: the station was awarded an earlier
    /// request delivering at the same hours two days before. Quarter-hour readings at those hours: 2 kWh three days back,
    /// 1 kWh on the activation day (its delivery), 3 kWh the day before the window. The baseline takes days 1 and 3 back:
    /// (3 + 2) / 2 = 2.5 kWh per quarter, 10 kWh; the station meters 0.5 kWh per quarter, 2 kWh, and delivers 8 kWh of the
    /// 8 awarded (score 1), paid 8 x 0.25 = 2 EUR. Counting the activation day ((3 + 1) / 2 = 2 per quarter) would give
    /// 6 kWh, 75 %, below the 80 % threshold: no payout.
    /// </summary>
    [Fact]
    public async Task XOfY_EarlierActivationDay_IsLeftOutOfTheBaseline()
    {
        var t0 = market.Clock.GetUtcNow();
        // Wallets #4 and #5: the rule tests' own, so that this test's payments do not touch the gate-cycle test's balances.
        var dso = await _api.RegisterAsync("Dso", "X-of-Y DSO", MarketFixture.RuleDsoKey);
        var cpo = await _api.RegisterAsync("Cpo", "X-of-Y CPO", MarketFixture.RuleCpoAKey);
        var transformer = await _api.TransformerAsync(dso);
        var station = await _api.StationAsync(cpo, transformer, "IT001E00000096", recoveryMinutes: 5);
        // X-of-Y compares similar days in Rome: the window and the three days before it must all be working days, or the
        // days before would not count whatever the activation (the clock starts at the real date, which may be a weekend).
        var window = Enumerable.Range(2, 14).Select(d => t0.AddHours(2).AddDays(d))
            .First(w => Enumerable.Range(0, 4).All(back => MarketCalendar.DayTypeOf(MarketCalendar.LocalDate(w.AddDays(-back), VerificationRules.Default.Zone())) == DayType.WorkingDay));
        var activationDay = window.AddDays(-2);
        var earlier = await _api.RequestAsync(dso, transformer, t0.AddHours(1), activationDay, 8m);
        var xOfY = (await _api.PostAsync("/v1/requests", dso, new
        {
            transformerId = transformer, deliveryStart = window, deliveryEnd = window.AddHours(1), energyKwh = 8m, direction = "ReduceConsumption",
            maxPriceEurPerKwh = 0.5m, gateClosure = window.AddHours(-1), pricing = "PayAsBid", verification = new { baseline = "HighXOfY", x = 2, y = 2 },
        }))["id"]!.GetValue<string>();
        foreach (var request in new[] { earlier, xOfY })
            await _api.PostAsync($"/v1/requests/{request}/offers", cpo, new { stationIds = new[] { station }, energyKwh = 8m, priceEurPerKwh = 0.25m, divisible = false });

        // The earlier request is awarded (its activation is recorded) and delivered: 3 kWh per quarter before, 1 during.
        market.Clock.SetTo(t0.AddHours(1));
        await _api.WaitForStateAsync(earlier, dso, "Awarded");
        market.Clock.SetTo(activationDay.AddHours(1));
        await _api.PostQuarterReadingsAsync(cpo, station, activationDay.AddDays(-1), 2m);
        await _api.PostQuarterReadingsAsync(cpo, station, activationDay.AddHours(-1), 3m);
        await _api.PostQuarterReadingsAsync(cpo, station, activationDay, 1m);
        market.Clock.SetTo(activationDay.AddHours(1).AddMinutes(5));
        await _api.WaitForStateAsync(earlier, dso, "Settled");

        market.Clock.SetTo(window.AddDays(-1).AddHours(1));
        await _api.PostQuarterReadingsAsync(cpo, station, window.AddDays(-1), 3m);
        market.Clock.SetTo(window.AddHours(-1));
        await _api.WaitForStateAsync(xOfY, dso, "Awarded");
        market.Clock.SetTo(window.AddHours(1));
        await _api.PostQuarterReadingsAsync(cpo, station, window, 0.5m);
        market.Clock.SetTo(window.AddHours(1).AddMinutes(5));

        var settlement = Assert.Single((await _api.WaitForStateAsync(xOfY, dso, "Settled"))["settlements"]!.AsArray())!;
        var verification = settlement["verification"]!;
        Assert.Equal((10m, 2m, 8m), (verification["baselineKwh"]!.GetValue<decimal>(), verification["measuredKwh"]!.GetValue<decimal>(),
            verification["deliveredKwh"]!.GetValue<decimal>()));
        Assert.All(verification["intervals"]!.AsArray(), i => Assert.Equal(2.5m, i!["baselineKwh"]!.GetValue<decimal>()));
        Assert.Equal(4, verification["intervals"]!.AsArray().Count);
        Assert.Equal(1m, verification["score"]!.GetValue<decimal>());
        Assert.Equal("2000000", settlement["payoutUnits"]!.GetValue<string>());
        var verifier = new PaymentVerifier(new JsonRpcEscrowChain(market.Web3, market.Settlement), new HttpPublishedRecords(market.Client, market.Client.BaseAddress!));
        var verdict = Assert.Single(await verifier.VerifyTransactionAsync(Hash32.Parse(settlement["transactionHash"]!.GetValue<string>()), default));
        Assert.True(verdict.Verified, verdict.Describe(6));
        Assert.Equal(2_000_000, verdict.Payment!.Paid);
    }

    /// <summary>
    /// A rebound inside the window: 10 kWh delivered in all (5, 3, 3 and -1 kWh per quarter hour against a 5 kWh
    /// baseline), the whole award, but the last quarter rebounded. Each quarter's share is 2.5 kWh; the first three met
    /// it and are paid their share, the last is not: 7.5 kWh x 0.25 = 1.875 EUR on chain, the rest back to the DSO.
    /// </summary>
    [Fact]
    public async Task ReboundInsideTheWindow_PaidForTheQuartersDeliveredOnly()
    {
        var t0 = market.Clock.GetUtcNow();
        var dso = await _api.RegisterAsync("Dso", "Rebound DSO", MarketFixture.RuleDsoKey);
        var cpo = await _api.RegisterAsync("Cpo", "Rebound CPO", MarketFixture.RuleCpoAKey);
        var transformer = await _api.TransformerAsync(dso);
        var station = await _api.StationAsync(cpo, transformer, "IT001E00000097");
        var window = new DateTimeOffset(t0.Year, t0.Month, t0.Day, t0.Hour, 0, 0, TimeSpan.Zero).AddHours(3); // on the quarter hours
        var request = await _api.RequestAsync(dso, transformer, t0.AddHours(1), window, 10m);
        Assert.Equal(15, (await _api.GetAsync($"/v1/requests/{request}", dso))["marketIntervalMinutes"]!.GetValue<int>());
        await _api.PostAsync($"/v1/requests/{request}/offers", cpo, new { stationIds = new[] { station }, energyKwh = 10m, priceEurPerKwh = 0.25m, divisible = false });
        market.Clock.SetTo(t0.AddHours(1));
        await _api.WaitForStateAsync(request, dso, "Awarded");

        market.Clock.SetTo(window.AddHours(1));
        await _api.PostQuarterReadingsAsync(cpo, station, window.AddHours(-1), 5m);
        await _api.PostAsync($"/v1/stations/{station}/readings", cpo, new
        {
            readings = new[] { 0m, 2m, 2m, 6m }.Select((kwh, i) => new { start = window.AddMinutes(15 * i), end = window.AddMinutes(15 * (i + 1)), energyKwh = kwh }),
        });
        market.Clock.SetTo(window.AddHours(1).AddMinutes(20));

        var settlement = Assert.Single((await _api.WaitForStateAsync(request, dso, "Settled"))["settlements"]!.AsArray())!;
        var verification = settlement["verification"]!;
        Assert.Equal(10m, verification["deliveredKwh"]!.GetValue<decimal>());
        Assert.Equal(("PaidProRata", false), (verification["outcome"]!.GetValue<string>(), verification["succeeded"]!.GetValue<bool>()));
        var quarters = verification["marketIntervals"]!.AsArray();
        Assert.Equal([true, true, true, false], quarters.Select(q => q!["met"]!.GetValue<bool>()));
        Assert.Equal([5m, 3m, 3m, -1m], quarters.Select(q => q!["deliveredKwh"]!.GetValue<decimal>()));
        Assert.All(quarters, q => Assert.Equal(2.5m, q!["scheduledKwh"]!.GetValue<decimal>()));
        Assert.Equal("1875000", settlement["payoutUnits"]!.GetValue<string>());
        var verifier = new PaymentVerifier(new JsonRpcEscrowChain(market.Web3, market.Settlement), new HttpPublishedRecords(market.Client, market.Client.BaseAddress!));
        var verdict = Assert.Single(await verifier.VerifyTransactionAsync(Hash32.Parse(settlement["transactionHash"]!.GetValue<string>()), default));
        Assert.True(verdict.Verified, verdict.Describe(6));
        Assert.Equal(1_875_000, verdict.Payment!.Paid);
    }

    /// <summary>
    /// A profile request (issue 16): 8, 4, 12 and 8 kW per quarter hour (2, 1, 3 and 2 kWh, 8 kWh in all), won whole by an
    /// indivisible offer of the same profile. Against a 5 kWh baseline per quarter the station meters 3, 4, 2 and 6 kWh:
    /// it delivers 2, 1 and 3 kWh in the first three quarters, each its own scheduled energy, and rebounds by 1 kWh in the
    /// last. Paid for the three delivered quarters only: 6 kWh x 0.25 = 1.5 EUR on chain, the rest back to the DSO. The
    /// station rests 5 minutes after the window: 1.6 kWh metered in its first 4 minutes, against the window's 20 kW
    /// baseline (1.333 kWh), is a rebound of 0.267 kWh, reported (incomplete: the fifth minute had no reading when the
    /// award was verified, 5 minutes after the window) and not paid against.
    /// </summary>
    [Fact]
    public async Task ProfileRequest_ReboundInOneQuarter_PaidForTheDeliveredQuartersOfItsProfile()
    {
        var t0 = market.Clock.GetUtcNow();
        var dso = await _api.RegisterAsync("Dso", "Profile DSO", MarketFixture.RuleDsoKey);
        var cpo = await _api.RegisterAsync("Cpo", "Profile CPO", MarketFixture.RuleCpoAKey);
        var transformer = await _api.TransformerAsync(dso);
        var station = await _api.StationAsync(cpo, transformer, "IT001E00000096", recoveryMinutes: 5);
        var window = new DateTimeOffset(t0.Year, t0.Month, t0.Day, t0.Hour, 0, 0, TimeSpan.Zero).AddHours(3);
        var profile = new[] { 8m, 4m, 12m, 8m };
        var request = (await _api.PostAsync("/v1/requests", dso, new
        {
            transformerId = transformer, deliveryStart = window, deliveryEnd = window.AddHours(1), energyKwh = 8m, profileKw = profile,
            direction = "ReduceConsumption", maxPriceEurPerKwh = 0.5m, gateClosure = t0.AddHours(1), pricing = "PayAsBid",
        }))["id"]!.GetValue<string>();
        Assert.Equal(profile, (await _api.GetAsync($"/v1/requests/{request}", dso))["profileKw"]!.AsArray().Select(k => k!.GetValue<decimal>()));
        var offer = await _api.PostAsync($"/v1/requests/{request}/offers", cpo, new { stationIds = new[] { station }, profileKw = profile, priceEurPerKwh = 0.25m, divisible = false });
        Assert.Equal(8m, offer["energyKwh"]!.GetValue<decimal>());
        market.Clock.SetTo(t0.AddHours(1));
        var awarded = await _api.WaitForStateAsync(request, dso, "Awarded");
        var award = Assert.Single(awarded["awards"]!.AsArray())!;
        Assert.Equal(profile, award["profileKw"]!.AsArray().Select(k => k!.GetValue<decimal>()));
        // The award record binds the profile: 2, 1, 3 and 2 kWh in the quarters.
        Assert.Equal(new ProfileRecord(900, [2_000, 1_000, 3_000, 2_000]).Hash().ToString(), award["record"]!["profileHash"]!.GetValue<string>());

        market.Clock.SetTo(window.AddHours(1));
        await _api.PostQuarterReadingsAsync(cpo, station, window.AddHours(-1), 5m);
        await _api.PostAsync($"/v1/stations/{station}/readings", cpo, new
        {
            readings = new[] { 3m, 4m, 2m, 6m }.Select((kwh, i) => new { start = window.AddMinutes(15 * i), end = window.AddMinutes(15 * (i + 1)), energyKwh = kwh }),
        });
        market.Clock.SetTo(window.AddHours(1).AddMinutes(3));
        await _api.PostAsync($"/v1/stations/{station}/readings", cpo, new
        {
            readings = new[] { new { start = window.AddHours(1), end = window.AddHours(1).AddMinutes(4), energyKwh = 1.6m } },
        });
        market.Clock.SetTo(window.AddHours(1).AddMinutes(20));

        var settlement = Assert.Single((await _api.WaitForStateAsync(request, dso, "Settled"))["settlements"]!.AsArray())!;
        var rebound = settlement["verification"]!["rebound"]!;
        Assert.Equal((window.AddHours(1), window.AddHours(1).AddMinutes(5), 0.267m, false),
            (rebound["start"]!.GetValue<DateTimeOffset>(), rebound["end"]!.GetValue<DateTimeOffset>(), rebound["reboundKwh"]!.GetValue<decimal>(), rebound["complete"]!.GetValue<bool>()));
        var quarters = settlement["verification"]!["marketIntervals"]!.AsArray();
        Assert.Equal([2m, 1m, 3m, 2m], quarters.Select(q => q!["scheduledKwh"]!.GetValue<decimal>()));
        Assert.Equal([2m, 1m, 3m, -1m], quarters.Select(q => q!["deliveredKwh"]!.GetValue<decimal>()));
        Assert.Equal([true, true, true, false], quarters.Select(q => q!["met"]!.GetValue<bool>()));
        Assert.Equal("1500000", settlement["payoutUnits"]!.GetValue<string>());
        var verifier = new PaymentVerifier(new JsonRpcEscrowChain(market.Web3, market.Settlement), new HttpPublishedRecords(market.Client, market.Client.BaseAddress!));
        var verdict = Assert.Single(await verifier.VerifyTransactionAsync(Hash32.Parse(settlement["transactionHash"]!.GetValue<string>()), default));
        Assert.True(verdict.Verified, verdict.Describe(6));
        Assert.Equal(1_500_000, verdict.Payment!.Paid);
        var published = await _api.GetAsync($"/v1/settlements/{verdict.AwardId}", dso);
        Assert.Equal([2_000L, 1_000L, 3_000L, 2_000L], published["awardProfile"]!["energyWh"]!.AsArray().Select(w => w!.GetValue<long>()));
    }

    /// <summary>
    /// Two requests of 5 kWh over one hour each award 5 kW on one 11 kW station (clearing books both: 10 of its 11 kW).
    /// The station goes from 11 kW in the hour before to 6 kW in the window: it reduced 5 kWh once. Each award is
    /// delivered its share, 5/10 of the station's 5 kWh = 2.5 kWh, and paid for that by the requests' rule (verified
    /// energy from a 50 % threshold): 2.5 x 0.2 = 0.5 EUR each on chain, 1 EUR for the one reduction, not 1 EUR each.
    /// </summary>
    [Fact]
    public async Task TwoRequestsSharingAStation_OneReduction_EachAwardPaidItsShareOnce()
    {
        var t0 = market.Clock.GetUtcNow();
        var dso = await _api.RegisterAsync("Dso", "Shared station DSO", MarketFixture.RuleDsoKey);
        var cpo = await _api.RegisterAsync("Cpo", "Shared station CPO", MarketFixture.RuleCpoAKey);
        var transformer = await _api.TransformerAsync(dso);
        var station = await _api.StationAsync(cpo, transformer, "IT001E00000095", acKw: 11m);
        var window = new DateTimeOffset(t0.Year, t0.Month, t0.Day, t0.Hour, 0, 0, TimeSpan.Zero).AddHours(3);
        var requests = new List<string>();
        for (var k = 0; k < 2; k++)
        {
            var request = (await _api.PostAsync("/v1/requests", dso, new
            {
                transformerId = transformer, deliveryStart = window, deliveryEnd = window.AddHours(1), energyKwh = 5m, direction = "ReduceConsumption",
                maxPriceEurPerKwh = 0.5m, gateClosure = t0.AddHours(1), pricing = "PayAsBid", verification = new { successThreshold = 0.5m },
            }))["id"]!.GetValue<string>();
            await _api.PostAsync($"/v1/requests/{request}/offers", cpo, new { stationIds = new[] { station }, energyKwh = 5m, priceEurPerKwh = 0.2m, divisible = false });
            requests.Add(request);
        }
        market.Clock.SetTo(t0.AddHours(1));
        foreach (var request in requests) await _api.WaitForStateAsync(request, dso, "Awarded");

        market.Clock.SetTo(window.AddHours(1));
        await _api.PostQuarterReadingsAsync(cpo, station, window.AddHours(-1), 2.75m);
        await _api.PostQuarterReadingsAsync(cpo, station, window, 1.5m);
        market.Clock.SetTo(window.AddHours(1).AddMinutes(20));

        var verifier = new PaymentVerifier(new JsonRpcEscrowChain(market.Web3, market.Settlement), new HttpPublishedRecords(market.Client, market.Client.BaseAddress!));
        var paid = BigInteger.Zero;
        foreach (var request in requests)
        {
            var settlement = Assert.Single((await _api.WaitForStateAsync(request, dso, "Settled"))["settlements"]!.AsArray())!;
            var verification = settlement["verification"]!;
            Assert.Equal((11m, 6m, 2.5m), (verification["baselineKwh"]!.GetValue<decimal>(), verification["measuredKwh"]!.GetValue<decimal>(), verification["deliveredKwh"]!.GetValue<decimal>()));
            Assert.All(verification["intervals"]!.AsArray(), i => Assert.Equal(0.5m, i!["share"]!.GetValue<decimal>()));
            Assert.Contains($"station {station} also booked by 1 other award", verification["sharingNote"]!.GetValue<string>());
            Assert.Equal("500000", settlement["payoutUnits"]!.GetValue<string>());
            foreach (var verdict in await verifier.VerifyTransactionAsync(Hash32.Parse(settlement["transactionHash"]!.GetValue<string>()), default))
                if (verdict.AwardId == Hash32.Parse(settlement["awardId"]!.GetValue<string>()))
                {
                    Assert.True(verdict.Verified, verdict.Describe(6));
                    paid += verdict.Payment!.Paid;
                }
        }
        Assert.Equal(1_000_000, paid); // 5 kWh x 0.2 EUR, paid once
    }

    /// <summary>A profile that does not fit the window's market intervals is a problem naming profileKw, and nothing is stored.</summary>
    [Fact]
    public async Task PostRequest_ProfileNotOneValuePerQuarter_IsAProblemNamingProfileKw()
    {
        var t0 = market.Clock.GetUtcNow();
        var dso = await _api.RegisterAsync("Dso", "Bad profile DSO", MarketFixture.RuleDsoKey);
        var transformer = await _api.TransformerAsync(dso);
        var window = new DateTimeOffset(t0.Year, t0.Month, t0.Day, t0.Hour, 0, 0, TimeSpan.Zero).AddHours(3);
        foreach (var kw in new[] { new[] { 4m, 4m, 4m }, [4m, 4m, 4m, 0.001m] }) // three values for four quarters; 1 W for 15 minutes is no whole Wh
            await MarketClient.ProblemAsync(await _api.SendAsync(HttpMethod.Post, "/v1/requests", dso, new
            {
                transformerId = transformer, deliveryStart = window, deliveryEnd = window.AddHours(1), energyKwh = 4m, profileKw = kw,
                direction = "ReduceConsumption", maxPriceEurPerKwh = 0.5m, gateClosure = t0.AddHours(1), pricing = "PayAsBid",
            }), HttpStatusCode.UnprocessableEntity, "profileKw", "profile");
    }

    /// <summary>A request keeps the market interval it was posted with; one stored before market intervals reads as 15 minutes.</summary>
    [Fact]
    public void StoredRequest_KeepsItsMarketInterval_OldRowsReadAsQuarterHours()
    {
        var t = new DateTimeOffset(2099, 1, 1, 10, 0, 0, TimeSpan.Zero);
        var transformer = new GridNode("tr_1", "dso_1", "T", Kilowatts.From(630));
        var request = FlexRequest.Post("req_1", "dso_1", transformer, new TimeWindow(t.AddHours(2), t.AddHours(3)), KilowattHours.From(1), Direction.ReduceConsumption,
            EurosPerKilowattHour.From(0.5m), t.AddHours(1), PricingRule.PayAsBid, t, interval: MarketInterval.From(5));
        var json = System.Text.Json.Nodes.JsonNode.Parse(System.Text.Json.JsonSerializer.Serialize(request, StoreJson.Options))!.AsObject();
        Assert.Equal(5, json["interval"]!.GetValue<int>());
        Assert.Equal(MarketInterval.From(5), System.Text.Json.JsonSerializer.Deserialize<FlexRequest>(json, StoreJson.Options)!.Interval);
        json.Remove("interval");
        Assert.Equal(MarketInterval.Default, System.Text.Json.JsonSerializer.Deserialize<FlexRequest>(json, StoreJson.Options)!.Interval);
    }

    [Fact]
    public async Task Ingestion_PerItemResults_IdempotentCorrectedGapsDuplicatesKwAndAccess()
    {
        var now = market.Clock.GetUtcNow();
        var dso = await _api.RegisterAsync("Dso", "Metering DSO", MarketFixture.DsoKey);
        var otherDso = await _api.RegisterAsync("Dso", "Other DSO", MarketFixture.DsoKey, publishRequirements: false);
        var cpo = await _api.RegisterAsync("Cpo", "Metering CPO", MarketFixture.CpoAKey);
        var otherCpo = await _api.RegisterAsync("Cpo", "Other CPO", MarketFixture.CpoBKey);
        var transformer = await _api.TransformerAsync(dso);
        // Qualified with the DSO: its grid views count only the stations it accepted.
        var station = await _api.StationAsync(cpo, transformer, "IT001E00000093");
        var second = await _api.StationAsync(cpo, transformer, "IT001E00000094");
        var t = now.AddHours(-3);
        object R(int fromMin, int toMin, decimal? kwh = null, decimal? kw = null) =>
            kw is null ? new { start = t.AddMinutes(fromMin), end = t.AddMinutes(toMin), energyKwh = kwh } : new { start = t.AddMinutes(fromMin), end = t.AddMinutes(toMin), powerKw = kw };

        // Bulk upload: 0-15, 15-30 (twice, same value), 30-45 (twice, other value), a gap, 60-75 in kW, 75-76 one minute in kW.
        using var first = await _api.SendAsync(HttpMethod.Post, $"/v1/stations/{station}/readings", cpo, new
        {
            readings = new[] { R(0, 15, 1m), R(15, 30, 1.5m), R(15, 30, 1.5m), R(30, 45, 2m), R(30, 45, 2.5m), R(60, 75, kw: 8m), R(75, 76, kw: 1.001m) },
        });
        var body = await JsonAsync(first, HttpStatusCode.MultiStatus);
        Assert.Equal(["Stored", "Stored", "Unchanged", "Stored", "Rejected", "Stored", "Stored"], Outcomes(body));
        Assert.Equal("duplicate-interval", body["items"]![4]!["problem"]!["rule"]!.GetValue<string>());
        Assert.Equal((5, 1, 0, 1), (Int(body, "stored"), Int(body, "unchanged"), Int(body, "corrected"), Int(body, "rejected")));
        var issues = body["issues"]!.AsArray().Select(i => (i!["kind"]!.GetValue<string>(), i["start"]!.GetValue<DateTimeOffset>())).ToList();
        Assert.Contains(("Duplicate", t.AddMinutes(15)), issues);
        Assert.Contains(("Conflict", t.AddMinutes(30)), issues);
        Assert.Contains(("Gap", t.AddMinutes(45)), issues);

        // Idempotent re-upload: 200, all unchanged. A correction replaces the value and counts a revision.
        using (var again = await _api.SendAsync(HttpMethod.Post, $"/v1/stations/{station}/readings", cpo, new { readings = new[] { R(0, 15, 1m), R(60, 75, 2m) } }))
            Assert.Equal(["Unchanged", "Unchanged"], Outcomes(await JsonAsync(again, HttpStatusCode.OK)));
        using (var fix = await _api.SendAsync(HttpMethod.Post, $"/v1/stations/{station}/readings", cpo, new { readings = new[] { R(0, 15, 1.2m) } }))
            Assert.Equal(["Corrected"], Outcomes(await JsonAsync(fix, HttpStatusCode.OK)));
        // A reading over stored boundaries is an overlap, not a silent second value.
        using (var overlap = await _api.SendAsync(HttpMethod.Post, $"/v1/stations/{station}/readings", cpo, new { readings = new[] { R(5, 10, 0.3m) } }))
            Assert.Equal("overlap", (await JsonAsync(overlap, HttpStatusCode.MultiStatus))["items"]![0]!["problem"]!["rule"]!.GetValue<string>());

        var series = await _api.GetAsync($"/v1/stations/{station}/readings?from={Q(t)}&to={Q(t.AddHours(2))}", cpo);
        var items = series["items"]!.AsArray();
        Assert.Equal([1.2m, 1.5m, 2m, 2m, 0.016m], items.Select(i => i!["energyKwh"]!.GetValue<decimal>()));
        Assert.Equal(8m, items[3]!["averageKw"]!.GetValue<decimal>());
        // The correction counts as a second revision of its interval; the latest value is kept.
        Assert.Equal([2, 1, 1, 1, 1], items.Select(i => i!["revisions"]!.GetValue<int>()));
        Assert.Contains(series["gaps"]!.AsArray(), g => g!["start"]!.GetValue<DateTimeOffset>() == t.AddMinutes(45));

        // Several stations in one call; a station that is not the caller's is rejected item by item.
        using (var bulk = await _api.SendAsync(HttpMethod.Post, "/v1/readings", otherCpo, new
               {
                   readings = new[] { new { stationId = second, start = t, end = t.AddMinutes(15), energyKwh = 1m } },
               }))
            Assert.Equal("own-station", (await JsonAsync(bulk, HttpStatusCode.MultiStatus))["items"]![0]!["problem"]!["rule"]!.GetValue<string>());
        using (var bulk = await _api.SendAsync(HttpMethod.Post, "/v1/readings", cpo, new
               {
                   readings = new[]
                   {
                       new { stationId = second, start = t, end = t.AddMinutes(15), energyKwh = 3m },
                       new { stationId = station, start = t.AddMinutes(45), end = t.AddMinutes(60), energyKwh = 0.5m },
                   },
               }))
            Assert.Equal(["Stored", "Stored"], Outcomes(await JsonAsync(bulk, HttpStatusCode.OK)));

        // Views: the latest reading; the DSO of the transformer sees the stations and their aggregate, others do not.
        var latest = await _api.GetAsync($"/v1/stations/{station}/readings/latest", dso);
        Assert.Equal(t.AddMinutes(75), latest["reading"]!["start"]!.GetValue<DateTimeOffset>());
        Assert.Equal(6, (await _api.GetAsync($"/v1/stations/{station}/readings?from={Q(t)}&to={Q(t.AddHours(2))}", dso))["items"]!.AsArray().Count);
        var load = await _api.GetAsync($"/v1/transformers/{transformer}/load?from={Q(t)}&to={Q(t.AddHours(1))}&resolution=15", dso);
        Assert.Equal([4.2m, 1.5m, 2m, 0.5m], load["items"]!.AsArray().Select(i => i!["energyKwh"]!.GetValue<decimal>()));
        Assert.Equal([2, 1, 1, 1], load["items"]!.AsArray().Select(i => i!["reportingStations"]!.GetValue<int>()));
        Assert.Equal(2, (await _api.GetAsync($"/v1/transformers/{transformer}/readings/latest", dso))["items"]!.AsArray().Count);
        foreach (var (path, caller) in new[]
                 {
                     ($"/v1/stations/{station}/readings", otherDso), ($"/v1/stations/{station}/readings", otherCpo),
                     ($"/v1/stations/{station}/readings/latest", otherCpo), ($"/v1/transformers/{transformer}/load", otherDso),
                 })
        {
            using var denied = await _api.SendAsync(HttpMethod.Get, path, caller, null);
            Assert.Equal(HttpStatusCode.NotFound, denied.StatusCode);
        }
        using var cpoLoad = await _api.SendAsync(HttpMethod.Get, $"/v1/transformers/{transformer}/load", cpo, null);
        Assert.Equal(HttpStatusCode.Forbidden, cpoLoad.StatusCode);
    }

    [Fact]
    public async Task PostRequest_BadVerificationRules_AreProblemsNamingTheField()
    {
        var now = market.Clock.GetUtcNow();
        var dso = await _api.RegisterAsync("Dso", "Rules DSO", MarketFixture.DsoKey);
        var transformer = await _api.TransformerAsync(dso);
        foreach (var (verification, field) in new (object, string)[]
                 {
                     (new { baseline = "Guess" }, "verification.baseline"), (new { payout = "Half" }, "verification.payout"),
                     (new { successThreshold = 1.5m }, "verification.successThreshold"), (new { x = 6, y = 5 }, "verification.x"),
                     (new { tolerance = -0.1m }, "verification.tolerance"), (new { mbmaMinutes = 0 }, "verification.mbmaMinutes"),
                 })
        {
            using var response = await _api.SendAsync(HttpMethod.Post, "/v1/requests", dso, new
            {
                transformerId = transformer, deliveryStart = now.AddHours(3), deliveryEnd = now.AddHours(4), energyKwh = 10m, direction = "ReduceConsumption",
                maxPriceEurPerKwh = 0.5m, gateClosure = now.AddHours(2), pricing = "PayAsBid", verification,
            });
            Assert.Equal(field, (await ProblemAsync(response, HttpStatusCode.BadRequest))["field"]!.GetValue<string>());
        }
    }

    private static int Int(JsonNode body, string name) => body[name]!.GetValue<int>();

    private static async Task<JsonNode> ProblemAsync(HttpResponseMessage response, HttpStatusCode expected)
    {
        var problem = await JsonAsync(response, expected);
        Assert.NotNull(problem["rule"]);
        return problem;
    }
}
