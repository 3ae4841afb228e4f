using FlexChain.Domain;
using FlexChain.Ethereum;
using FlexChain.Functions.Settlement;
using FlexChain.Testing;
using FlexChain.Verification;

namespace FlexChain.EndToEnd.Tests;

/// <summary>
/// Records are snapshots: the award list stored when a batch is locked is what its settlement pays and what the public
/// API publishes, whatever changes later in the data it was built from.
/// </summary>
[Collection(MarketCollection.Name)]
public sealed class RecordSnapshotTests(MarketFixture market)
{
    private readonly MarketClient _api = new(market.Client);

    private static AwardRecord Award(Hash32 cycleId, long energyWh) =>
        new(EscrowIds.Award(cycleId, 0), MarketFixture.DsoWallet, MarketFixture.CpoAWallet, energyWh, 250_000, energyWh * 250, 1_790_000_000, 1_790_003_600,
            ProfileRecord.Flat(1_790_000_000, 1_790_003_600, energyWh).Hash());

    [Fact]
    public async Task Snapshots_StoredOnce_ALaterOrRacingBuildIsNeverUsed()
    {
        var snapshots = new RecordSnapshots(new Azure.Storage.Blobs.BlobServiceClient(market.StorageConnectionString));
        var cycleId = EscrowIds.Cycle("snapshot/" + Guid.NewGuid().ToString("N"));
        Assert.Null(await snapshots.GetAwardsAsync(cycleId, default));
        Assert.Null(await snapshots.GetSettlementsAsync(cycleId, default));

        // Two attempts racing: whichever stores first, both go on with the same records.
        var racing = await Task.WhenAll(new[] { 1_000L, 2_000L }.Select(wh =>
            snapshots.AwardsAsync(cycleId, _ => Task.FromResult<IReadOnlyList<AwardRecord>>([Award(cycleId, wh)]), default)));
        Assert.Equal(racing[0], racing[1]);
        var built = false;
        var later = await snapshots.AwardsAsync(cycleId, _ =>
        {
            built = true;
            return Task.FromResult<IReadOnlyList<AwardRecord>>([Award(cycleId, 3_000)]);
        }, default);

        Assert.False(built);
        Assert.Equal(racing[0], later);
        Assert.Equal(racing[0], await snapshots.GetAwardsAsync(cycleId, default));
        SettlementRecord[] settled = [new(EscrowIds.Award(cycleId, 0), 1_000, 2_000, 1_000, 1_000, true, 250_000, 250_000)];
        Assert.Equal(settled, await snapshots.SettlementsAsync(cycleId, _ => Task.FromResult<IReadOnlyList<SettlementRecord>>(settled), default));
        Assert.Equal(settled, await snapshots.SettlementsAsync(cycleId, _ => Task.FromResult<IReadOnlyList<SettlementRecord>>([]), default));
        Assert.Equal(racing[0], await snapshots.GetAwardsAsync(cycleId, default)); // the settlements are stored beside the awards
    }

    [Fact]
    public async Task GateCycle_CpoWalletChangedInStorageAfterTheLock_SettlementPaysAndPublishesTheLockedRecords()
    {
        var (dsoWallet, _) = await market.FundedWalletAsync(5_000_000);
        var cpoWallet = new Wallet(Nethereum.Signer.EthECKey.GenerateKey().GetPrivateKey());
        var m = await _api.SmallMarketAsync("Snapshot", dsoWallet, cpoWallet, MarketFixture.CpoBKey, "IT001E00000061", "IT001E00000062");
        var t0 = market.Clock.GetUtcNow();
        var windowStart = t0.AddHours(2);
        var request = await _api.RequestAsync(m.Dso, m.Transformer, t0.AddHours(1), windowStart, kwh: 4m);
        await _api.PostAsync($"/v1/requests/{request}/offers", m.CpoA, new { stationIds = new[] { m.StationA }, energyKwh = 4m, priceEurPerKwh = 0.25m, divisible = false });
        market.Clock.SetTo(t0.AddHours(1));
        await _api.WaitForStateAsync(request, m.Dso, "Awarded");

        // The CPO's stored wallet changes after the lock (no API does this: it stands for any later change to the data).
        var store = await StoreCollection.NewStoreAsync(market.StorageConnectionString);
        var stored = (await store.GetParticipantForUpdateAsync(m.CpoA.Id, default))!.Value;
        var elsewhere = EthAddress.Parse(Nethereum.Signer.EthECKey.GenerateKey().GetPublicAddress());
        Assert.True(await store.TryReplaceParticipantAsync(
            stored.Value with { Participant = stored.Value.Participant with { Wallet = WalletAddress.Parse(elsewhere.ToString()) } }, stored.ETag, default));

        market.Clock.SetTo(windowStart);
        await _api.PostQuarterReadingsAsync(m.CpoA, m.StationA, windowStart.AddHours(-1), 2m);
        market.Clock.SetTo(windowStart.AddHours(1));
        await _api.PostQuarterReadingsAsync(m.CpoA, m.StationA, windowStart, 1m);
        market.Clock.SetTo(windowStart.AddHours(1).AddMinutes(5));
        var settled = await _api.WaitForStateAsync(request, m.Dso, "Settled");

        // Paid to the wallet the award was locked for (rebuilt records would name the other one and fail the escrow's check).
        Assert.Equal(1_000_000, await market.TokenBalanceAsync(cpoWallet.Address));
        Assert.Equal(0, await market.TokenBalanceAsync(elsewhere));
        var awardId = Assert.Single(settled["settlements"]!.AsArray())!["awardId"]!.GetValue<string>();
        var published = await _api.GetAsync($"/v1/settlements/{awardId}", m.Dso);
        Assert.Equal(cpoWallet.Address.ToString(), published["award"]!["cpoWallet"]!.GetValue<string>());
        Assert.Equal("1000000", published["settlement"]!["payoutUnits"]!.GetValue<string>());
        var verify = await _api.GetAsync($"/v1/verify?awardId={awardId}", m.Dso);
        Assert.True(verify["verified"]!.GetValue<bool>(), verify.ToJsonString());
    }
}
