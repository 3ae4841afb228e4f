using System.Numerics;
using System.Text.Json.Nodes;
using FlexChain.Ethereum;
using FlexChain.Ethereum.Abi;

namespace FlexChain.Verification.Tests;

public sealed class RecordsTests
{
    [Fact]
    public void CycleCommitment_Abi_MatchesTheContractsTestVector()
    {
        // contracts-sol/README.md: the vector pinned by test/FlexSettlementCycle.test.js.
        object[] awards =
        [
            new object[] { EthAddress.Parse("0x00000000000000000000000000000000000000c1"), new BigInteger(1_500_000), new Hash32(Keccak256.Hash("award record 1")) },
            new object[] { EthAddress.Parse("0x00000000000000000000000000000000000000c2"), new BigInteger(250), new Hash32(Keccak256.Hash("award record 2")) },
        ];

        var hash = new Hash32(Keccak256.Hash(AbiCodec.Encode(CycleCommitment.Abi, (object)awards)));

        Assert.Equal("0xb959da4dafdbbf0d5f184f20c53706476663f698d161bf846b4ab81098ab928a", hash.ToString());
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
            ["lockedUnits"] = "2500000", ["deliveryStart"] = 1800000000, ["deliveryEnd"] = 1800003600, ["recordHash"] = "0xignored",
        };
        var json = new JsonObject
        {
            ["requestId"] = "rq_1",
            ["escrowKey"] = "gc-20270115T101500Z/0",
            ["award"] = award.DeepClone(),
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

        json["settlement"]!["payoutUnits"] = 2250000;
        Assert.Contains("settlement.payoutUnits", Assert.Throws<FormatException>(() => PublishedSettlementJson.Parse(json)).Message);
    }
}
