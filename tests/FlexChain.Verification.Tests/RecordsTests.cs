using System.Numerics;
using System.Text.Json.Nodes;
using FlexChain.Ethereum;
using Nethereum.Util;

namespace FlexChain.Verification.Tests;

public sealed class RecordsTests
{
    private static readonly Hash32 AwardId = Hash32.Parse("0x" + string.Concat(Enumerable.Repeat("ab", 28)) + "00000001");

    private static Hash32 Keccak(string text) => new(Sha3Keccack.Current.CalculateHash(System.Text.Encoding.UTF8.GetBytes(text)));

    [Fact]
    public void CycleCommitment_Hash_MatchesTheContractsTestVector()
    {
        // contracts-sol/README.md: the vector pinned by test/FlexSettlementCycle.test.js.
        List<CycleAward> awards =
        [
            new() { Cpo = "0x00000000000000000000000000000000000000c1", Amount = 1_500_000, AwardHash = Keccak("award record 1").ToArray() },
            new() { Cpo = "0x00000000000000000000000000000000000000c2", Amount = 250, AwardHash = Keccak("award record 2").ToArray() },
        ];

        Assert.Equal("0xb959da4dafdbbf0d5f184f20c53706476663f698d161bf846b4ab81098ab928a", CycleCommitment.Hash(awards).ToString());
    }

    // Expected hashes computed independently with ethers 6 (the README's recipe):
    // keccak256(AbiCoder.defaultAbiCoder().encode([types], [values])).
    [Fact]
    public void AwardRecord_Hash_MatchesEthersAbiEncode() =>
        Assert.Equal("0xe3b6f88444dbc35fc025df794d0ecb7e90dba008e92e3f48dee21036f90a9752",
            new AwardRecord(AwardId, EthAddress.Parse("0x70997970C51812dc3A010C7d01b50e0d17dc79C8"), EthAddress.Parse("0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC"),
                10_000, 250_000, 2_500_000, 1_800_000_000, 1_800_003_600, ProfileRecord.Flat(1_800_000_000, 1_800_003_600, 10_000).Hash()).Hash().ToString());

    [Fact]
    public void ProfileRecord_Hash_OfAProfile_MatchesEthersAbiEncode() =>
        Assert.Equal("0x13fa04d4e093138444f34973f3f4258d54659c2ff12c5b17e6aa83d5882ba4e6", new ProfileRecord(900, [2_000, 1_000, 3_000, 2_000]).Hash().ToString());

    [Fact]
    public void ProfileRecord_Flat_IsOneIntervalOfTheWholeWindow()
    {
        var flat = ProfileRecord.Flat(1_800_000_000, 1_800_003_600, 10_000);

        Assert.Equal(3_600L, flat.IntervalSeconds);
        Assert.Equal([10_000L], flat.EnergyWh);
        Assert.Equal("0x8bfb61b23e3f067a830581bdc698af7dcef199ffca43937bce9fba8f1e6bdcb6", flat.Hash().ToString());
    }

    [Fact]
    public void ProfileRecord_Hash_BindsTheShapeAndTheIntervalLength()
    {
        var profile = new ProfileRecord(900, [2_000, 1_000, 3_000, 2_000]);

        // The same energy in another order, in quarters of another length, or flat over the same hour: each another hash.
        Assert.NotEqual(profile.Hash(), new ProfileRecord(900, [1_000, 2_000, 3_000, 2_000]).Hash());
        Assert.NotEqual(profile.Hash(), new ProfileRecord(1_800, [2_000, 1_000, 3_000, 2_000]).Hash());
        Assert.NotEqual(profile.Hash(), ProfileRecord.Flat(1_800_000_000, 1_800_003_600, 8_000).Hash());
    }

    [Fact]
    public void SettlementRecord_Hash_NegativeReadingsAreTwosComplementLikeEthers() =>
        Assert.Equal("0x73c3125b88bbfc2c4ca2aedd1cabcc944a6c82fd376323f2298235c29f082c88",
            new SettlementRecord(AwardId, 10_000, -20_000, -11_000, 9_000, true, 2_250_000, 2_500_000).Hash().ToString());

    [Fact]
    public void SettlementRecord_Hash_EighteenDecimalAmountsMatchEthers() =>
        Assert.Equal("0xb78279430127c87024262983064975576037fd552609256af036c9f7d81e7ee1",
            new SettlementRecord(AwardId, 10_000, 20_000, 11_000, 0, false, 0, BigInteger.Parse("2500000000000000000000")).Hash().ToString());

    private static readonly AwardRecord[] Awards =
    [
        new(AwardId, EthAddress.Parse("0x70997970C51812dc3A010C7d01b50e0d17dc79C8"), EthAddress.Parse("0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC"),
            10_000, 250_000, BigInteger.Parse("1234567750000000000000", System.Globalization.CultureInfo.InvariantCulture), 1_790_000_000, 1_790_003_600,
            new ProfileRecord(900, [2_500, 2_500, 2_500, 2_500]).Hash()),
        new(EscrowIds.Award(EscrowIds.CycleOf(AwardId), 1), EthAddress.Parse("0x70997970C51812dc3A010C7d01b50e0d17dc79C8"),
            EthAddress.Parse("0x90F79bf6EB2c4f870365E785982E1f101E93b906"), 1, 1, 1, 0, 1, Hash32.Zero),
    ];

    private static readonly SettlementRecord[] Settlements = [new(AwardId, 10_000, -2_000, -12_000, 10_000, true, 2_500_000, 2_500_000)];

    [Fact]
    public void RecordEncoding_OfAwards_IsEthersAbiEncodeOfTheTupleArray() =>
        Assert.Equal("0x9d8443960dc75901fd3a87efe9770d01a0f76b46f666f26faa20fb1fed21ebd5",
            new Hash32(Sha3Keccack.Current.CalculateHash(RecordEncoding.Encode(Awards))).ToString());

    [Fact]
    public void RecordEncoding_OfSettlements_IsEthersAbiEncodeOfTheTupleArray() =>
        Assert.Equal("0x6fe2c4c68b49288574751ebe115aa40f5ff6c4966851ad9b0bb317dabb125ce7",
            new Hash32(Sha3Keccack.Current.CalculateHash(RecordEncoding.Encode(Settlements))).ToString());

    [Fact]
    public void RecordEncoding_Decode_GivesBackEachRecord()
    {
        Assert.Equal(Awards, RecordEncoding.DecodeAwards(RecordEncoding.Encode(Awards)));
        Assert.Equal(Settlements, RecordEncoding.DecodeSettlements(RecordEncoding.Encode(Settlements)));
        Assert.Empty(RecordEncoding.DecodeAwards(RecordEncoding.Encode(Array.Empty<AwardRecord>())));
    }

    [Fact]
    public void RecordEncoding_OfTheLargestBatch_IsNineWordsPerRecord() =>
        Assert.Equal(64 + 1_000 * 288, RecordEncoding.Encode(Enumerable.Repeat(Awards[1], 1_000).ToList()).Length);

    [Fact]
    public void CycleCommitment_Entries_CarryCpoLockedUnitsAndHash()
    {
        var award = new AwardRecord(AwardId, EthAddress.Zero, EthAddress.Parse("0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC"), 1, 2, 3, 4, 5, Hash32.Zero);
        var entry = Assert.Single(CycleCommitment.Entries([award]));
        Assert.Equal(award.Cpo, EthAddress.Parse(entry.Cpo));
        Assert.Equal(new BigInteger(3), entry.Amount);
        Assert.Equal(award.Hash(), new Hash32(entry.AwardHash));
        Assert.Equal(CycleCommitment.Hash([entry]), CycleCommitment.Hash([award]));
    }

    [Fact]
    public void EscrowIds_AwardId_LeadsBackToCycleAndPosition()
    {
        var cycle = EscrowIds.Cycle("gc-20270115T101500Z/0");
        var award = EscrowIds.Award(cycle, 1);

        Assert.EndsWith("00000000", cycle.ToString());
        Assert.EndsWith("00000002", award.ToString());
        Assert.Equal(cycle, EscrowIds.CycleOf(award));
        Assert.Equal(1, EscrowIds.IndexOf(award));
        Assert.Equal(-1, EscrowIds.IndexOf(cycle));
    }

    [Theory]
    [InlineData(2_250_000, 6, "2.25")]
    [InlineData(0, 6, "0")]
    [InlineData(1, 6, "0.000001")]
    [InlineData(3_000_000, 6, "3")]
    [InlineData(42, 0, "42")]
    public void TokenAmount_Format_IsExactWithoutTrailingZeros(long units, int decimals, string expected) =>
        Assert.Equal(expected, TokenAmount.Format(units, decimals));

    [Fact]
    public void PublishedSettlementJson_Parse_ReadsTheApiShape()
    {
        var award = new JsonObject
        {
            ["awardId"] = "0x" + new string('a', 56) + "00000001", ["dsoWallet"] = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
            ["cpoWallet"] = "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC", ["energyWh"] = 10000, ["priceMicroEurPerKwh"] = 250000,
            ["lockedUnits"] = "2500000", ["deliveryStart"] = 1800000000, ["deliveryEnd"] = 1800003600,
            ["profileHash"] = ProfileRecord.Flat(1800000000, 1800003600, 10000).Hash().ToString(), ["recordHash"] = "0xignored",
        };
        var json = new JsonObject
        {
            ["requestId"] = "rq_1",
            ["escrowKey"] = "gc-20270115T101500Z/0",
            ["award"] = award.DeepClone(),
            ["awardProfile"] = new JsonObject { ["intervalSeconds"] = 3600, ["energyWh"] = new JsonArray(10000), ["profileHash"] = "0xignored" },
            ["settlement"] = new JsonObject
            {
                ["awardId"] = award["awardId"]!.DeepClone(), ["awardedWh"] = 10000, ["baselineWh"] = 20000, ["measuredWh"] = 11000, ["deliveredWh"] = 9000,
                ["succeeded"] = true, ["payoutUnits"] = "2250000", ["lockedUnits"] = "2500000", ["transactionHash"] = null,
            },
            ["cycleAwards"] = new JsonArray(award.DeepClone()),
        };

        var parsed = PublishedSettlementJson.Parse(json);

        Assert.Equal(new BigInteger(2_250_000), parsed.Settlement.PayoutUnits);
        Assert.Equal(parsed.Award, Assert.Single(parsed.CycleAwards));
        Assert.Null(parsed.SettleTransaction);
        Assert.Equal("gc-20270115T101500Z/0", parsed.EscrowKey);
        Assert.Equal(3600L, parsed.AwardProfile!.IntervalSeconds);
        Assert.Equal([10000L], parsed.AwardProfile.EnergyWh);
        Assert.Equal(Assert.IsType<AwardRecord>(parsed.Award).ProfileHash, parsed.AwardProfile.Hash());

        json["awardProfile"]!["energyWh"] = new JsonArray(-1);
        Assert.Contains("awardProfile.energyWh[0]", Assert.Throws<FormatException>(() => PublishedSettlementJson.Parse(json)).Message);
        json.Remove("awardProfile");
        Assert.Null(PublishedSettlementJson.Parse(json).AwardProfile);

        json["settlement"]!["payoutUnits"] = 2250000;
        Assert.Contains("settlement.payoutUnits", Assert.Throws<FormatException>(() => PublishedSettlementJson.Parse(json)).Message);
    }

    [Fact]
    public void PublishedSettlementJson_Parse_ReadsAnAvailabilityPayment()
    {
        var record = new JsonObject
        {
            ["awardId"] = "0x" + new string('b', 56) + "00000001", ["dsoWallet"] = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
            ["cpoWallet"] = "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC", ["reservedW"] = 8000, ["availabilityPriceMicroEurPerKw"] = 2000000,
            ["activationPriceMicroEurPerKwh"] = 300000, ["lockedUnits"] = "16000000", ["periodStart"] = 1800000000, ["periodEnd"] = 1800021600,
            ["recordHash"] = "0xignored",
        };
        var json = new JsonObject
        {
            ["kind"] = "Availability", ["requestId"] = "av_1", ["escrowKey"] = "availability:av_1/0", ["award"] = null, ["settlement"] = null,
            ["availabilityRecord"] = record.DeepClone(),
            ["availabilitySettlement"] = new JsonObject
            {
                ["awardId"] = record["awardId"]!.DeepClone(), ["callsAwarded"] = 2, ["callsFailed"] = 0, ["payoutUnits"] = "16000000", ["lockedUnits"] = "16000000",
            },
            ["cycleAvailabilityRecords"] = new JsonArray(record.DeepClone()),
            ["settleTransactionHash"] = "0x" + new string('c', 64),
        };

        var parsed = PublishedSettlementJson.Parse(json);

        Assert.Equal(new AvailabilityRecord(Hash32.Parse(record["awardId"]!.GetValue<string>()), EthAddress.Parse("0x70997970C51812dc3A010C7d01b50e0d17dc79C8"),
            EthAddress.Parse("0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC"), 8000, 2000000, 300000, 16_000_000, 1800000000, 1800021600), parsed.Award);
        Assert.Equal(parsed.Award, Assert.Single(parsed.CycleAwards));
        Assert.Equal((2, 0, new BigInteger(16_000_000)), Assert.IsType<AvailabilitySettlementRecord>(parsed.Settlement) is var s ? (s.CallsAwarded, s.CallsFailed, s.PayoutUnits) : default);
        Assert.Equal(Hash32.Parse("0x" + new string('c', 64)), parsed.SettleTransaction);
        Assert.Null(parsed.AwardProfile);

        json["availabilitySettlement"]!["callsFailed"] = "none";
        Assert.Contains("availabilitySettlement.callsFailed", Assert.Throws<FormatException>(() => PublishedSettlementJson.Parse(json)).Message);
        json.Remove("cycleAvailabilityRecords");
        json["availabilitySettlement"]!["callsFailed"] = 0;
        Assert.Contains("cycleAvailabilityRecords", Assert.Throws<FormatException>(() => PublishedSettlementJson.Parse(json)).Message);
    }
}
