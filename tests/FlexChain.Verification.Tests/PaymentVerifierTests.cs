using System.Numerics;
using FlexChain.Ethereum;
using Nethereum.Util;

namespace FlexChain.Verification.Tests;

public sealed class PaymentVerifierTests
{
    private const string RequestId = "rq_01TEST";
    private const string EscrowKey = "gc-20270115T101500Z/0";
    private static readonly EthAddress Dso = EthAddress.Parse("0x70997970C51812dc3A010C7d01b50e0d17dc79C8");
    private static readonly EthAddress CpoA = EthAddress.Parse("0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC");
    private static readonly EthAddress CpoB = EthAddress.Parse("0x90F79bf6EB2c4f870365E785982E1f101E93b906");
    private static readonly Hash32 LockTx = new(Sha3Keccack.Current.CalculateHash("lock tx"u8.ToArray()));
    private static readonly Hash32 SettleTx = new(Sha3Keccack.Current.CalculateHash("settle tx"u8.ToArray()));

    private readonly FakeEscrow _chain = new();
    private readonly FakeRecords _records = new();
    private readonly Hash32 _cycle = EscrowIds.Cycle(EscrowKey);
    private readonly List<AwardRecord> _awards;
    private readonly List<SettlementRecord> _settlements;

    /// <summary>A's profile: 1, 2, 3 and 4 kWh in the quarters of its hour.</summary>
    private static readonly ProfileRecord ProfileA = new(900, [1_000, 2_000, 3_000, 4_000]);

    /// <summary>B's: flat, 4 kWh over the hour.</summary>
    private static readonly ProfileRecord ProfileB = ProfileRecord.Flat(1_800_000_000, 1_800_003_600, 4_000);

    /// <summary>
    /// A settled cycle of two awards: A (10 kWh at 0.25 by a profile, delivered 9 kWh: 2.25 of 2.5 paid) and B (4 kWh at
    /// 0.30, flat, failed: nothing paid).
    /// </summary>
    public PaymentVerifierTests()
    {
        _awards =
        [
            new(EscrowIds.Award(_cycle, 0), Dso, CpoA, 10_000, 250_000, 2_500_000, 1_800_000_000, 1_800_003_600, ProfileA.Hash()),
            new(EscrowIds.Award(_cycle, 1), Dso, CpoB, 4_000, 300_000, 1_200_000, 1_800_000_000, 1_800_003_600, ProfileB.Hash()),
        ];
        _settlements =
        [
            new(_awards[0].AwardId, 10_000, 20_000, 11_000, 9_000, true, 2_250_000, 2_500_000),
            new(_awards[1].AwardId, 4_000, 8_000, 7_000, 1_000, false, 0, 1_200_000),
        ];
        _chain.Lock(_cycle, _awards, LockTx, 10);
        _chain.Settle(_cycle, _awards, [.. _settlements.Select(s => s.PayoutUnits)], [.. _settlements.Select(s => s.Hash())], SettleTx, 20);
        Publish();
    }

    private PaymentVerifier Verifier => new(_chain, _records);

    private void Publish(Func<int, SettlementRecord, SettlementRecord>? settlement = null, IReadOnlyList<AwardRecord>? cycleAwards = null,
        ProfileRecord? profileOfA = null)
    {
        for (var i = 0; i < _awards.Count; i++)
            _records.Published[_awards[i].AwardId] = new PublishedSettlement(RequestId, EscrowKey, _awards[i],
                settlement?.Invoke(i, _settlements[i]) ?? _settlements[i], cycleAwards ?? _awards, SettleTx, 31337, _chain.Escrow,
                i == 0 ? profileOfA ?? ProfileA : ProfileB);
    }

    public static TheoryData<ProfileRecord, string> OtherProfiles() => new()
    {
        { new ProfileRecord(900, [2_000, 1_000, 3_000, 4_000]), "hashes to" },                 // the same energy, another shape
        { ProfileRecord.Flat(1_800_000_000, 1_800_003_600, 10_000), "hashes to" },             // the same energy, flat
    };

    [Theory]
    [MemberData(nameof(OtherProfiles))]
    public async Task VerifyAwardAsync_PublishedProfileNotTheOneBound_FailsProfile(ProfileRecord other, string reason)
    {
        Publish(profileOfA: other);

        var verdict = Assert.Single(await Verifier.VerifyAwardAsync(_awards[0].AwardId, default));

        Assert.Equal([VerificationCheck.Profile], Checks(verdict));
        Assert.Contains(reason, verdict.Failures[0].Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task VerifyAwardAsync_NoProfilePublished_FailsProfile()
    {
        _records.Published[_awards[0].AwardId] = _records.Published[_awards[0].AwardId] with { AwardProfile = null };

        var verdict = Assert.Single(await Verifier.VerifyAwardAsync(_awards[0].AwardId, default));

        Assert.Equal([VerificationCheck.Profile], Checks(verdict));
    }

    [Theory]
    [InlineData(1_200, "do not cover")]    // 4 x 20 minutes: not the award's hour
    [InlineData(900, "sums to")]           // the award record's energy is not the profile's
    public async Task VerifyAwardAsync_AwardBoundToAProfileOfAnotherWindowOrEnergy_FailsProfile(long intervalSeconds, string reason)
    {
        // A publisher that bound a profile the award cannot have: the hash agrees, the window or the energy does not.
        long[] energyWh = intervalSeconds == 900 ? [1_000, 2_000, 3_000, 5_000] : [1_000, 2_000, 3_000, 4_000];
        var profile = new ProfileRecord(intervalSeconds, energyWh);
        var chain = new FakeEscrow();
        var awards = new List<AwardRecord> { _awards[0] with { ProfileHash = profile.Hash() }, _awards[1] };
        chain.Lock(_cycle, awards, LockTx, 10);
        chain.Settle(_cycle, awards, [.. _settlements.Select(s => s.PayoutUnits)], [.. _settlements.Select(s => s.Hash())], SettleTx, 20);
        _records.Published[awards[0].AwardId] = new PublishedSettlement(RequestId, EscrowKey, awards[0], _settlements[0], awards, SettleTx, 31337, chain.Escrow, profile);

        var verdict = Assert.Single(await new PaymentVerifier(chain, _records).VerifyAwardAsync(awards[0].AwardId, default));

        Assert.Equal([VerificationCheck.Profile], Checks(verdict));
        Assert.Contains(reason, verdict.Failures[0].Reason, StringComparison.Ordinal);
    }

    private static IEnumerable<VerificationCheck> Checks(PaymentVerdict v) => v.Failures.Select(f => f.Check);

    [Fact]
    public async Task VerifyAwardAsync_RecordsMatchTheChain_Verified()
    {
        var verdict = Assert.Single(await Verifier.VerifyAwardAsync(_awards[0].AwardId, default));

        Assert.True(verdict.Verified, string.Join("; ", verdict.Failures));
        Assert.Equal(RequestId, verdict.RequestId);
        Assert.Equal(new BigInteger(2_250_000), verdict.Payment!.Paid);
        Assert.Equal(new BigInteger(250_000), verdict.Payment.Refunded);
        Assert.Equal(SettleTx, verdict.Payment.TransactionHash);
        Assert.StartsWith("VERIFIED award " + _awards[0].AwardId, verdict.Describe(6));
        Assert.Contains("paid 2.25 refunded 0.25", verdict.Describe(6));
        Assert.Contains("profile 4 x 900 s: 1000, 2000, 3000, 4000 Wh", verdict.Describe(6)); // the profile bought
    }

    [Fact]
    public async Task VerifyTransactionAsync_CycleSettlement_VerifiesEveryAwardItPaid()
    {
        var verdicts = await Verifier.VerifyTransactionAsync(SettleTx, default);

        Assert.Equal([_awards[0].AwardId, _awards[1].AwardId], verdicts.Select(v => v.AwardId!.Value));
        Assert.All(verdicts, v => Assert.True(v.Verified, string.Join("; ", v.Failures)));
    }

    [Fact]
    public async Task VerifyWalletAsync_CpoAndDso_FindTheirOwnPayments()
    {
        var asCpo = await Verifier.VerifyWalletAsync(CpoB, 0, default);
        var asDso = await Verifier.VerifyWalletAsync(Dso, 0, default);
        var later = await Verifier.VerifyWalletAsync(CpoA, 21, default);

        Assert.Equal(_awards[1].AwardId, Assert.Single(asCpo).AwardId);
        Assert.Equal(2, asDso.Count);
        Assert.All(asCpo.Concat(asDso), v => Assert.True(v.Verified, string.Join("; ", v.Failures)));
        Assert.Empty(later);
    }

    [Fact]
    public async Task VerifyAwardAsync_PublishedPayoutTampered_FailsHashAndPaid()
    {
        Publish(settlement: (i, s) => i == 0 ? s with { PayoutUnits = 2_500_000 } : s);

        var verdict = Assert.Single(await Verifier.VerifyAwardAsync(_awards[0].AwardId, default));

        Assert.False(verdict.Verified);
        Assert.Equal([VerificationCheck.SettlementHash, VerificationCheck.Paid], Checks(verdict));
        Assert.Contains("payoutUnits is 2500000", verdict.Failures[1].Reason);
        Assert.StartsWith("NOT VERIFIED", verdict.Describe(6));
    }

    [Fact]
    public async Task VerifyAwardAsync_PublishedFieldTampered_FailsTheSettlementHashOnly()
    {
        // The payout still matches the chain, but the record claims more delivered energy than was hashed into the event.
        Publish(settlement: (i, s) => i == 0 ? s with { DeliveredWh = 10_000 } : s);

        var verdict = Assert.Single(await Verifier.VerifyAwardAsync(_awards[0].AwardId, default));

        Assert.Equal([VerificationCheck.SettlementHash], Checks(verdict));
        Assert.Contains(_settlements[0].Hash().ToString(), verdict.Failures[0].Reason);
    }

    [Fact]
    public async Task VerifyAwardAsync_ChainPaidOtherThanTheRecord_FailsPaid()
    {
        // A settlement that carries the record's hash but pays another amount: the record and the payment disagree.
        var chain = new FakeEscrow();
        chain.Lock(_cycle, _awards, LockTx, 10);
        chain.Settle(_cycle, _awards, [2_400_000, 0], [.. _settlements.Select(s => s.Hash())], SettleTx, 20);

        var verdict = Assert.Single(await new PaymentVerifier(chain, _records).VerifyAwardAsync(_awards[0].AwardId, default));

        Assert.Equal([VerificationCheck.Paid], Checks(verdict));
    }

    [Fact]
    public async Task VerifyAwardAsync_EachAward_SaysPaidOrRefunded()
    {
        var verdicts = await Verifier.VerifyTransactionAsync(SettleTx, default);

        Assert.Equal([PaymentStatus.Paid, PaymentStatus.Refunded], verdicts.Select(v => v.Status));
        Assert.StartsWith($"VERIFIED award {_awards[0].AwardId} (paid) request", verdicts[0].Describe(6));
        Assert.StartsWith($"VERIFIED award {_awards[1].AwardId} (refunded) request", verdicts[1].Describe(6));
    }

    [Fact]
    public async Task VerifyAwardAsync_LockedNotSettled_IsPending()
    {
        var chain = new FakeEscrow();
        chain.Lock(_cycle, _awards, LockTx, 10);

        var verdict = Assert.Single(await new PaymentVerifier(chain, _records).VerifyAwardAsync(_awards[1].AwardId, default));

        Assert.Equal((PaymentStatus.Pending, true), (verdict.Status!.Value, verdict.Verified));
        Assert.Equal($"VERIFIED award {_awards[1].AwardId} (pending)", verdict.Describe(6));
    }

    [Fact]
    public async Task VerifyAwardAndWallet_CycleRefundedUnsettled_IsUnpaid()
    {
        var chain = new FakeEscrow();
        chain.Lock(_cycle, _awards, LockTx, 10);
        chain.Refund(_cycle, _awards, SettleTx, 30);
        var verifier = new PaymentVerifier(chain, _records);

        Assert.Equal(PaymentStatus.Unpaid, Assert.Single(await verifier.VerifyAwardAsync(_awards[0].AwardId, default)).Status);
        var asCpo = Assert.Single(await verifier.VerifyWalletAsync(CpoB, 0, default));
        Assert.Equal((_awards[1].AwardId, PaymentStatus.Unpaid), (asCpo.AwardId!.Value, asCpo.Status!.Value));
        Assert.Equal(2, (await verifier.VerifyWalletAsync(Dso, 0, default)).Count(v => v.Status == PaymentStatus.Unpaid));
    }

    [Fact]
    public async Task VerifyAwardAsync_SettlementWithoutTheTokenTransfer_FailsTransfer()
    {
        var chain = new FakeEscrow();
        chain.Lock(_cycle, _awards, LockTx, 10);
        chain.Settle(_cycle, _awards, [.. _settlements.Select(s => s.PayoutUnits)], [.. _settlements.Select(s => s.Hash())], SettleTx, 20, transfers: false);
        var verifier = new PaymentVerifier(chain, _records);

        var paid = Assert.Single(await verifier.VerifyAwardAsync(_awards[0].AwardId, default));

        Assert.Equal([VerificationCheck.Transfer], Checks(paid));
        Assert.Contains("no Transfer of 2250000 units", paid.Failures[0].Reason);
        Assert.True(Assert.Single(await verifier.VerifyAwardAsync(_awards[1].AwardId, default)).Verified); // nothing paid, nothing to transfer
    }

    [Fact]
    public async Task VerifyAwardAsync_NodeOnAnotherChainOrRecordsOfAnotherEscrow_FailsChainId()
    {
        _chain.ChainId = 1;
        var verdict = Assert.Single(await Verifier.VerifyAwardAsync(_awards[0].AwardId, default));
        Assert.Equal([VerificationCheck.ChainId], Checks(verdict));
        Assert.Contains("settled on chain 31337, the node is on chain 1", verdict.Failures[0].Reason);

        _chain.ChainId = 31337;
        _records.Published[_awards[0].AwardId] = _records.Published[_awards[0].AwardId] with { Escrow = CpoA };
        Assert.Equal([VerificationCheck.ChainId], Checks(Assert.Single(await Verifier.VerifyAwardAsync(_awards[0].AwardId, default))));
        _records.Published[_awards[0].AwardId] = _records.Published[_awards[0].AwardId] with { ChainId = null, Escrow = null };
        Assert.Equal([VerificationCheck.ChainId], Checks(Assert.Single(await Verifier.VerifyAwardAsync(_awards[0].AwardId, default))));
    }

    [Theory]
    [InlineData(19UL)]
    [InlineData(null)]
    public async Task VerifyAwardAsync_PaymentNotFinalYet_FailsFinality(ulong? finalized)
    {
        _chain.Finalized = finalized; // the settlement is in block 20

        var verdict = Assert.Single(await Verifier.VerifyAwardAsync(_awards[0].AwardId, default));

        Assert.Equal([VerificationCheck.Finality], Checks(verdict));
        _chain.Finalized = 20;
        Assert.True(Assert.Single(await Verifier.VerifyAwardAsync(_awards[0].AwardId, default)).Verified);
    }

    [Fact]
    public async Task VerifyAwardAsync_LockedOtherThanEnergyTimesPrice_FailsLockedAmount()
    {
        // A 6-decimal token: 10,000 Wh x 250,000 micro-euros per kWh = 2.5 EUR = 2,500,000 units; the records say 2,500,001.
        var chain = new FakeEscrow();
        var awards = new List<AwardRecord> { _awards[0] with { LockedUnits = 2_500_001 }, _awards[1] };
        var settlement = _settlements[0] with { LockedUnits = 2_500_001 };
        chain.Lock(_cycle, awards, LockTx, 10);
        chain.Settle(_cycle, awards, [2_250_000, 0], [settlement.Hash(), _settlements[1].Hash()], SettleTx, 20);
        _records.Published[awards[0].AwardId] = new PublishedSettlement(RequestId, EscrowKey, awards[0], settlement, awards, SettleTx, 31337, chain.Escrow, ProfileA);

        var verdict = Assert.Single(await new PaymentVerifier(chain, _records).VerifyAwardAsync(awards[0].AwardId, default));

        Assert.Equal([VerificationCheck.LockedAmount], Checks(verdict));
        Assert.Equal("the award locked 2500001 units; 10000 Wh x 250000 micro-euros per kWh is 2500000", verdict.Failures[0].Reason);
    }

    [Fact]
    public async Task VerifyAwardAsync_WrongCycleList_FailsTheCommitment()
    {
        // B's locked amount inflated in the published list: the list no longer hashes to what the escrow committed to.
        Publish(cycleAwards: [_awards[0], _awards[1] with { LockedUnits = 5_000_000 }]);

        var verdict = Assert.Single(await Verifier.VerifyAwardAsync(_awards[0].AwardId, default));

        Assert.Equal([VerificationCheck.CycleCommitment, VerificationCheck.CycleCommitment], Checks(verdict));
        Assert.Contains("getCycle's awardsHash", verdict.Failures[0].Reason);
        Assert.Contains("CycleLocked announced", verdict.Failures[1].Reason);
    }

    [Fact]
    public async Task VerifyAwardAsync_ListInAnotherOrder_FailsIdsAndCommitment()
    {
        Publish(cycleAwards: [_awards[1], _awards[0]]);

        var verdict = Assert.Single(await Verifier.VerifyAwardAsync(_awards[0].AwardId, default));

        Assert.Contains(VerificationCheck.AwardId, Checks(verdict));
        Assert.Contains(VerificationCheck.CycleCommitment, Checks(verdict));
        Assert.Contains(VerificationCheck.AwardInCycle, Checks(verdict));
    }

    [Fact]
    public async Task VerifyAwardAsync_AwardOfAnotherCpoPublished_FailsCpo()
    {
        var forged = _awards[0] with { Cpo = CpoB };
        Publish(cycleAwards: [forged, _awards[1]]);
        _records.Published[_awards[0].AwardId] = _records.Published[_awards[0].AwardId] with { Award = forged };

        var verdict = Assert.Single(await Verifier.VerifyAwardAsync(_awards[0].AwardId, default));

        Assert.Contains(VerificationCheck.Cpo, Checks(verdict));
        Assert.Contains(VerificationCheck.CycleCommitment, Checks(verdict));
    }

    [Fact]
    public async Task VerifyAwardAsync_UnknownAward_FailsEvent()
    {
        var unknown = EscrowIds.Award(EscrowIds.Cycle("rq_other"), 0);

        var verdict = Assert.Single(await Verifier.VerifyAwardAsync(unknown, default));

        Assert.Equal([VerificationCheck.Event], Checks(verdict));
        Assert.Null(verdict.Payment);
        Assert.Contains("no AwardSettled event", verdict.Failures[0].Reason);
    }

    [Fact]
    public async Task VerifyAwardAsync_PaymentWithoutPublishedRecord_FailsRecord()
    {
        _records.Published.Remove(_awards[1].AwardId);

        var verdict = Assert.Single(await Verifier.VerifyAwardAsync(_awards[1].AwardId, default));

        Assert.Equal([VerificationCheck.Record], Checks(verdict));
        Assert.NotNull(verdict.Payment);
    }

    [Fact]
    public async Task VerifyAwardAsync_RecordOfAnotherEscrowBatch_FailsAwardId()
    {
        _records.Published[_awards[0].AwardId] = _records.Published[_awards[0].AwardId] with { EscrowKey = "gc-20270115T101500Z/1" };

        var verdict = Assert.Single(await Verifier.VerifyAwardAsync(_awards[0].AwardId, default));

        Assert.Equal([VerificationCheck.AwardId], Checks(verdict));
    }

    [Fact]
    public async Task VerifyTransactionAsync_UnknownTransaction_FailsEvent()
    {
        var verdict = Assert.Single(await Verifier.VerifyTransactionAsync(new Hash32(Sha3Keccack.Current.CalculateHash("nothing"u8.ToArray())), default));

        Assert.Equal([VerificationCheck.Event], Checks(verdict));
        Assert.Contains("no mined transaction", verdict.Failures[0].Reason);
    }

    [Fact]
    public async Task VerifyTransactionAsync_LockTransaction_HasNoPayment()
    {
        var verdict = Assert.Single(await Verifier.VerifyTransactionAsync(LockTx, default));

        Assert.Contains("no AwardSettled event", verdict.Failures[0].Reason);
    }

    [Fact]
    public async Task VerifyTransactionAsync_AwardSettledLogWithTruncatedData_FailsEventAndVerifiesTheRest()
    {
        _chain.Logs[^1].Data = _chain.Logs[^1].Data[..66]; // one word of the three: not a valid AwardSettled event

        var verdicts = await Verifier.VerifyTransactionAsync(SettleTx, default);

        Assert.True(verdicts[0].Verified, string.Join("; ", verdicts[0].Failures));
        Assert.Equal([VerificationCheck.Event], Checks(verdicts[1]));
        Assert.Contains("not a valid AwardSettled event", verdicts[1].Failures[0].Reason);
    }

    /// <summary>
    /// A settled availability cycle of two holders: A (6 kW at 2 EUR/kW: 12 EUR locked, no call failed, paid it all) and
    /// B (4 kW at 3 EUR/kW, one of two calls failed: nothing paid); <paramref name="payoutOfB"/> and the lock of A
    /// (<paramref name="lockedOfA"/>) as the publisher and the chain both have them.
    /// </summary>
    private (PaymentVerifier Verifier, List<AvailabilityRecord> Records) SettledAvailability(BigInteger? payoutOfB = null, BigInteger? lockedOfA = null)
    {
        const string key = "availability:av_01TEST/0";
        var cycle = EscrowIds.Cycle(key);
        List<AvailabilityRecord> records =
        [
            new(EscrowIds.Award(cycle, 0), Dso, CpoA, 6_000, 2_000_000, 300_000, lockedOfA ?? 12_000_000, 1_800_000_000, 1_800_021_600),
            new(EscrowIds.Award(cycle, 1), Dso, CpoB, 4_000, 3_000_000, 200_000, 12_000_000, 1_800_000_000, 1_800_021_600),
        ];
        List<AvailabilitySettlementRecord> settlements =
        [
            new(records[0].AwardId, 1, 0, records[0].LockedUnits, records[0].LockedUnits),
            new(records[1].AwardId, 2, 1, payoutOfB ?? 0, records[1].LockedUnits),
        ];
        var chain = new FakeEscrow();
        chain.Lock(cycle, records, LockTx, 10);
        chain.Settle(cycle, records, [.. settlements.Select(x => x.PayoutUnits)], [.. settlements.Select(x => x.Hash())], SettleTx, 20);
        var published = new FakeRecords();
        for (var i = 0; i < records.Count; i++)
            published.Published[records[i].AwardId] = new PublishedSettlement("av_01TEST", key, records[i], settlements[i], records, SettleTx, 31337, chain.Escrow);
        return (new PaymentVerifier(chain, published), records);
    }

    [Fact]
    public async Task VerifyWalletAsync_AvailabilityPayments_VerifiedAgainstTheirOwnRecordTypes()
    {
        var (verifier, records) = SettledAvailability();

        var verdicts = await verifier.VerifyWalletAsync(Dso, 0, default);

        Assert.Equal([(records[0].AwardId, PaymentStatus.Paid), (records[1].AwardId, PaymentStatus.Refunded)], verdicts.Select(v => (v.AwardId!.Value, v.Status!.Value)));
        Assert.All(verdicts, v => Assert.True(v.Verified, string.Join("; ", v.Failures)));
        Assert.StartsWith($"VERIFIED award {records[0].AwardId} (paid) request av_01TEST", verdicts[0].Describe(6), StringComparison.Ordinal);
    }

    [Fact]
    public async Task VerifyAwardAsync_AvailabilityPaidDespiteAFailedCall_FailsAvailabilityPayout()
    {
        // The publisher and the chain agree, but the settlement breaks the rule: one failed call forfeits the payment.
        var (verifier, records) = SettledAvailability(payoutOfB: 12_000_000);

        var verdict = Assert.Single(await verifier.VerifyAwardAsync(records[1].AwardId, default));

        Assert.Equal([VerificationCheck.AvailabilityPayout], Checks(verdict));
        Assert.Contains("1 failed call(s)", verdict.Failures[0].Reason, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(12_000_001)] // a unit more than 6000 W x 2000000 micro-euros per kW
    [InlineData(11_999_999)]
    public async Task VerifyAwardAsync_AvailabilityLockNotReservedTimesPrice_FailsLockedAmount(long locked)
    {
        var (verifier, records) = SettledAvailability(lockedOfA: locked);

        var verdict = Assert.Single(await verifier.VerifyAwardAsync(records[0].AwardId, default));

        Assert.Equal([VerificationCheck.LockedAmount], Checks(verdict));
        Assert.Contains("6000 W x 2000000 micro-euros per kW is 12000000", verdict.Failures[0].Reason, StringComparison.Ordinal);
    }
}
