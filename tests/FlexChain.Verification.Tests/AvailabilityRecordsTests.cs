using System.Numerics;
using FlexChain.Ethereum;
using FlexChain.Verification;

namespace FlexChain.Verification.Tests;

/// <summary>The availability record kinds hash as ethers computes them (vectors from ethers' AbiCoder and keccak256).</summary>
public class AvailabilityRecordsTests
{
    private static readonly Hash32 Id = Hash32.Parse("0x" + string.Concat(Enumerable.Repeat("11", 32)));
    private static readonly EthAddress Dso = EthAddress.Parse("0x70997970C51812dc3A010C7d01b50e0d17dc79C8");
    private static readonly EthAddress Cpo = EthAddress.Parse("0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC");

    [Fact]
    public void AvailabilityTermsRecord_Hash_MatchesEthers() =>
        Assert.Equal("0x6f95fd88465d0b95574af85d8c58c40da4bab8c31884443cccfa46a34d7677e6",
            new AvailabilityTermsRecord("tr_1", 1765324800, 1765497600, 10_000, "ReduceConsumption", 5_000_000, 1765116000, true).Hash().ToString());

    [Fact]
    public void AvailabilityRecord_Hash_MatchesEthers() =>
        Assert.Equal("0x12eab8984699e9a5975ca9e4434ff75a3c45c86d45a30de8a1a66fe8dd7c5840",
            new AvailabilityRecord(Id, Dso, Cpo, 8_000, 2_000_000, 300_000, 16_000_000, 1765324800, 1765497600).Hash().ToString());

    [Fact]
    public void AvailabilitySettlementRecord_Hash_MatchesEthers() =>
        Assert.Equal("0x8a98f6cf1df93940b462a702be15ddfb0125c4074a53d52a960fd914cd970115",
            new AvailabilitySettlementRecord(Id, 2, 1, BigInteger.Zero, 16_000_000).Hash().ToString());

    [Fact]
    public void AvailabilityTerms_ArmingIsPartOfTheHash() =>
        Assert.NotEqual(new AvailabilityTermsRecord("tr_1", 1, 2, 3, "ReduceConsumption", 4, 0, true).Hash(),
            new AvailabilityTermsRecord("tr_1", 1, 2, 3, "ReduceConsumption", 4, 0, false).Hash());

    [Fact]
    public void CycleCommitment_MixesRecordKinds_EachByItsOwnHash()
    {
        var availability = new AvailabilityRecord(Id, Dso, Cpo, 8_000, 2_000_000, 300_000, 16_000_000, 1765324800, 1765497600);
        var entry = Assert.Single(CycleCommitment.Entries([availability]));
        Assert.Equal((Cpo, new BigInteger(16_000_000), availability.Hash()), (EthAddress.Parse(entry.Cpo), entry.Amount, new Hash32(entry.AwardHash)));
    }
}
