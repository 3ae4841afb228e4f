using FlexChain.Ethereum;
using Nethereum.Signer;

namespace FlexChain.Verification.Tests;

/// <summary>
/// The DSO consent against vectors computed independently with ethers 6 (AbiCoder.encode, TypedDataEncoder.hash and
/// Wallet.signTypedData; the recipe of contracts-sol/scripts/consent.js), signed with Hardhat's public account #1.
/// </summary>
public sealed class ConsentTests
{
    private const long ChainId = 31337;
    private static readonly EthAddress Escrow = EthAddress.Parse("0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512");
    private static readonly EthECKey Dso = new("0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d");
    private static readonly EthAddress DsoWallet = EthAddress.Parse("0x70997970C51812dc3A010C7d01b50e0d17dc79C8");
    private const string EthersSignature =
        "0xc6c01f372a3a1978bf9005088ea37e37d0187df1a6303008fc87b54c5a9719b062c60eab21fdc54170f0668989fe3824b63c31315ec3ce9d591e273ec087c01b1c";

    /// <summary>A reduction request with every other term at its default.</summary>
    private static readonly RequestTerms Terms = new("tr_test", 1_790_000_000, 1_790_003_600, 10_000, 500_000, 1_789_996_400);

    private static readonly Hash32 RequestHash = Terms.Hash();

    private static DsoConsent Consent(string signature) => new(RequestHash, 5_000_000, 1_790_086_400, 42, signature);

    [Fact]
    public void RequestTermsHash_MatchesEthersAbiEncode() =>
        Assert.Equal("0x02f6be676e6419a865f643839992b83e359eee4ba9cbc579be965c515c75c8be", RequestHash.ToString());

    [Fact]
    public void RequestTermsHash_OfTheOtherDirection_MatchesEthersAndDiffers() =>
        Assert.Equal("0x863c7eaea393f8e50f1ff139cbcc405c638177cbec44972d03dc57e40d6e68e1", (Terms with { Direction = "IncreaseConsumption" }).Hash().ToString());

    [Fact]
    public void RequestTermsHash_OfAFlatRequest_BindsItsFlatProfile() =>
        Assert.Equal(RequestHash, (Terms with { ProfileHash = ProfileRecord.Flat(1_790_000_000, 1_790_003_600, 10_000).Hash() }).Hash());

    public static TheoryData<RequestTerms> EachTermChanged() =>
    [
        Terms with { TransformerId = "tr_other" }, Terms with { DeliveryStart = 1_790_000_001 }, Terms with { DeliveryEnd = 1_790_003_601 },
        Terms with { EnergyWh = 10_001 }, Terms with { Direction = "IncreaseConsumption" }, Terms with { MaxPriceMicroEurPerKwh = 500_001 },
        Terms with { GateClosure = 1_789_996_401 }, Terms with { Pricing = "PayAsClear" }, Terms with { MinimumOfferWh = 1 },
        Terms with { Selection = "Manual" }, Terms with { DecisionDeadline = 1_789_999_000 }, Terms with { Baseline = "HighXOfY" },
        Terms with { Payout = "Full" }, Terms with { SuccessThresholdPpm = 800_001 }, Terms with { TolerancePpm = 100_001 },
        Terms with { MbmaMinutes = 61 }, Terms with { X = 3 }, Terms with { Y = 6 },
        Terms with { ProfileHash = new ProfileRecord(900, [2_500, 2_500, 2_500, 2_500]).Hash() }, // the same energy by quarter hours
        Terms with { AvailabilityId = "av_1" }, // a call on a contract
    ];

    [Theory]
    [MemberData(nameof(EachTermChanged))]
    public void Signer_OfAConsentForTermsDifferingInAnyOne_IsNotTheWallet(RequestTerms changed) =>
        Assert.NotEqual(DsoWallet, new DsoConsent(changed.Hash(), 5_000_000, 1_790_086_400, 42, EthersSignature).Signer(ChainId, Escrow));

    [Fact]
    public void Digest_MatchesEthersTypedDataHash() =>
        Assert.Equal("0x64a26b5069cab07df1a033596c8fae7d6733a410b1b9d0a839dbe95533dc9587", Consent("").Digest(ChainId, Escrow).ToString());

    [Fact]
    public void Signer_OfAnEthersSignature_IsTheSigningWallet() =>
        Assert.Equal(DsoWallet, Consent(EthersSignature).Signer(ChainId, Escrow));

    [Fact]
    public void Sign_ProducesTheSameSignatureAsEthers() =>
        Assert.Equal(EthersSignature, DsoConsent.Sign(Dso, ChainId, Escrow, RequestHash, 5_000_000, 1_790_086_400, 42).Signature);

    [Theory]
    [InlineData(1L, "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512")]   // another chain
    [InlineData(31337L, "0x5FbDB2315678afecb367f032d93F642f64180aa3")] // another escrow
    public void Signer_InAnotherDomain_IsNotTheWallet(long chainId, string escrow) =>
        Assert.NotEqual(DsoWallet, Consent(EthersSignature).Signer(chainId, EthAddress.Parse(escrow)));

    [Fact]
    public void Signer_OfAlteredTerms_IsNotTheWallet() =>
        Assert.NotEqual(DsoWallet, (Consent(EthersSignature) with { MaxAmount = 5_000_001 }).Signer(ChainId, Escrow));

    [Theory]
    [InlineData("0x")]
    [InlineData("0x1234")]
    [InlineData("0xzz6cfe34854ff4ced1373aa085c9e46b0ae689e4be425d94216577bfaad387160c980ad9459f91a2b5b8be5bd03d3941c3e609224019165434e15a90074478541b")]
    public void Signer_OfAMalformedSignature_IsNull(string signature) =>
        Assert.Null(Consent(signature).Signer(ChainId, Escrow));

    [Fact]
    public void Draw_CarriesTheSignedTermsAndTheAmountDrawn()
    {
        var draw = Consent(EthersSignature).Draw(4_000_000);

        Assert.Equal(RequestHash.ToArray(), draw.RequestHash);
        Assert.Equal((5_000_000, 1_790_086_400, 42, 4_000_000), ((long)draw.MaxAmount, (long)draw.Deadline, (long)draw.Nonce, (long)draw.Amount));
        Assert.Equal(65, draw.Signature.Length);
    }
}
