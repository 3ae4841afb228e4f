using System.Net;
using System.Text.Json.Nodes;
using FlexChain.Testing;

namespace FlexChain.EndToEnd.Tests;

/// <summary>
/// A gate cycle whose step fails every time (the app is misconfigured: GateCycle:RefundAfter lies beyond the escrow's
/// longest refund delay, so the escrow refuses every lock, whoever the DSO) stops after GateCycle:StepAttempts attempts,
/// visibly and announced, until the market operator resumes it. (A DSO that cannot fund its awards is no such failure:
/// its awards end FundingFailed, see FundingFailureTests.)
/// </summary>
[Collection(MarketCollection.Name)]
public sealed class NeedsAttentionTests(MarketFixture market)
{
    private static readonly Caller Operator = new("operator_00000000000000000000000000000001", MarketFixture.OperatorApiKey);

    [Fact]
    public async Task GateCycle_LockFailsEveryAttempt_StopsAnnouncedUntilTheOperatorResumes()
    {
        var (app, storage) = await market.IsolatedInstanceAsync(("GateCycle:StepAttempts", "2"), ("GateCycle:StepRetryFirst", "00:00:00.500"),
            ("GateCycle:RefundAfter", "500.00:00:00"));
        try
        {
            var api = new MarketClient(app.CreateClient());
            var (wallet, _) = await market.FundedWalletAsync(5_000_000); // a wallet of its own: the consent checks pass when posting
            var (dso, cpoA, _, transformer, stationA, _) =
                await api.SmallMarketAsync("Attention", wallet, MarketFixture.RuleCpoAKey, MarketFixture.RuleCpoBKey, "IT001E00000091", "IT001E00000092");
            var t0 = market.Clock.GetUtcNow();
            var request = await api.RequestAsync(dso, transformer, t0.AddHours(1), t0.AddHours(2), kwh: 2m);
            await api.PostAsync($"/v1/requests/{request}/offers", cpoA, new { stationIds = new[] { stationA }, energyKwh = 2m, priceEurPerKwh = 0.10m, divisible = false });

            market.Clock.SetTo(t0.AddHours(1));
            var cycleId = (await api.WaitForStateAsync(request, dso, "Cleared"))["gateCycleId"]!.GetValue<string>();
            var stopped = await Poll.UntilAsync(() => api.GetAsync($"/v1/gate-cycles/{cycleId}", cpoA),
                c => c["needsAttention"] is not null && c["orchestration"]?["runtimeStatus"]?.GetValue<string>() == "Completed",
                TimeSpan.FromSeconds(90), $"gate cycle {cycleId} stopping for attention");

            var attention = stopped["needsAttention"]!;
            Assert.Equal("lock", attention["step"]!.GetValue<string>());
            Assert.Contains("execution reverted with error 0x", attention["reason"]!.GetValue<string>(), StringComparison.Ordinal);
            Assert.Equal("Cleared", stopped["state"]!.GetValue<string>());
            Assert.StartsWith("needs attention: step lock failed", stopped["history"]!.AsArray()[^1]!["cause"]!.GetValue<string>(), StringComparison.Ordinal);
            // Announced to the request's DSO and to the market operator, once per stop.
            var store = await StoreCollection.NewStoreAsync(storage.ConnectionString);
            var occurrence = stopped["history"]!.AsArray().Count;   // the stop's place in the history names its announcement
            foreach (var recipient in new[] { dso.Id, Operator.Id })
                Assert.True(await store.EventExistsAsync(recipient, $"{request}:gate-cycle.needs-attention:{recipient}:{occurrence}", default), recipient);

            // Only the market operator resumes it; the step is tried again (and stops again: the setting is still wrong).
            using (var refused = await api.SendAsync(HttpMethod.Post, $"/v1/gate-cycles/{cycleId}/resume", dso, new { }))
                Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
            var resumed = await api.PostAsync($"/v1/gate-cycles/{cycleId}/resume", Operator, new { });
            Assert.Null(resumed["needsAttention"]);
            Assert.StartsWith("resumed by the market operator", resumed["history"]!.AsArray()[^1]!["cause"]!.GetValue<string>(), StringComparison.Ordinal);
            // Stopped again once its orchestration finished, which is after the stop was announced (the flag is set first).
            var again = await Poll.UntilAsync(() => api.GetAsync($"/v1/gate-cycles/{cycleId}", cpoA),
                c => c["needsAttention"] is not null && c["orchestration"]?["runtimeStatus"]?.GetValue<string>() == "Completed",
                TimeSpan.FromSeconds(90), $"gate cycle {cycleId} stopping again");
            var secondStop = again["history"]!.AsArray().Count;
            Assert.NotEqual(occurrence, secondStop);
            Assert.True(await store.EventExistsAsync(dso.Id, $"{request}:gate-cycle.needs-attention:{dso.Id}:{secondStop}", default));
            Assert.Equal("Cleared", (await api.GetAsync($"/v1/requests/{request}", dso))["state"]!.GetValue<string>());
        }
        finally
        {
            await app.DisposeAsync();
            await storage.DisposeAsync();
        }
    }
}
