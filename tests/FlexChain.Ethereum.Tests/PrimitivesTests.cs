using System.Numerics;
using System.Text;

namespace FlexChain.Ethereum.Tests;

public class Keccak256Tests
{
    // Published Keccak-256 vectors (the Ethereum variant, not SHA3-256).
    [Theory]
    [InlineData("", "0xc5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470")]
    [InlineData("abc", "0x4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45")]
    public void Hash_PublishedVector_Matches(string input, string expected) =>
        Assert.Equal(expected, Hex.Encode(Keccak256.Hash(Encoding.ASCII.GetBytes(input))));
}

public class HexTests
{
    [Theory]
    [InlineData("0x", new byte[0])]
    [InlineData("0x00ff", new byte[] { 0, 255 })]
    [InlineData("0XAbCd", new byte[] { 0xab, 0xcd })]
    public void Decode_ValidHex_ReturnsBytes(string hex, byte[] expected) => Assert.Equal(expected, Hex.Decode(hex));

    [Theory]
    [InlineData("")]
    [InlineData("00ff")]
    [InlineData("0x0")]
    [InlineData("0xzz")]
    [InlineData("0x 0")]
    public void Decode_InvalidHex_Throws(string hex) => Assert.Throws<FormatException>(() => Hex.Decode(hex));

    [Fact]
    public void Decode_InvalidDigit_MessageDoesNotEchoInput()
    {
        var secret = "0x4646464646464646464646464646464646464646464646464646464646464g46";
        var e = Assert.Throws<FormatException>(() => Hex.Decode(secret));
        Assert.DoesNotContain("4646", e.Message);
    }

    [Theory]
    [InlineData("0x0", 0)]
    [InlineData("0x1a", 26)]
    [InlineData("0x400", 1024)]
    public void DecodeQuantity_Canonical_ReturnsValue(string hex, long expected) =>
        Assert.Equal(new BigInteger(expected), Hex.DecodeQuantity(hex));

    [Theory]
    [InlineData("0x")]
    [InlineData("0x01")]
    [InlineData("1a")]
    public void DecodeQuantity_NotCanonical_Throws(string hex) => Assert.Throws<FormatException>(() => Hex.DecodeQuantity(hex));

    [Theory]
    [InlineData(0, "0x0")]
    [InlineData(26, "0x1a")]
    [InlineData(255, "0xff")]
    [InlineData(1024, "0x400")]
    public void EncodeQuantity_Value_IsCanonical(long value, string expected) => Assert.Equal(expected, Hex.EncodeQuantity(value));
}

public class EthAddressTests
{
    // The examples in EIP-55 (https://eips.ethereum.org/EIPS/eip-55).
    [Theory]
    [InlineData("0x52908400098527886E0F7030069857D2E4169EE7")]
    [InlineData("0x8617E340B3D01FA5F11F306F4090FD50E238070D")]
    [InlineData("0xde709f2102306220921060314715629080e2fb77")]
    [InlineData("0x27b1fdb04752bbc536007a920d24acb045561c26")]
    [InlineData("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed")]
    [InlineData("0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359")]
    [InlineData("0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB")]
    [InlineData("0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb")]
    public void ToString_Eip55Example_RoundTripsAsChecksum(string example)
    {
        var address = EthAddress.Parse(example);
        // The all-lower and all-upper examples are checksummed forms of themselves only if the hash says so;
        // what must hold for all: the checksum form parses back to the same address and compares equal ignoring case.
        Assert.Equal(example, address.ToString(), ignoreCase: true);
        Assert.Equal(address, EthAddress.Parse(address.ToString()));
    }

    [Theory]
    [InlineData("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed")]
    [InlineData("0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359")]
    [InlineData("0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB")]
    [InlineData("0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb")]
    public void ToString_LowerCaseInput_GivesEip55Checksum(string checksummed) =>
        Assert.Equal(checksummed, EthAddress.Parse(checksummed.ToLowerInvariant()).ToString());

    [Fact]
    public void Parse_MixedCaseWithWrongChecksum_Throws() =>
        Assert.Throws<FormatException>(() => EthAddress.Parse("0x5AAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"));

    [Theory]
    [InlineData("0x5aaeb6053f3e94c9b9a09f33669435e7ef1beae")]
    [InlineData("5aaeb6053f3e94c9b9a09f33669435e7ef1beaed00")]
    [InlineData("0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaeg")]
    public void Parse_Malformed_Throws(string text) => Assert.Throws<FormatException>(() => EthAddress.Parse(text));

    [Fact]
    public void Equals_SameBytesDifferentCase_AreEqual()
    {
        var a = EthAddress.Parse("0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed");
        var b = EthAddress.Parse("0x5AAEB6053F3E94C9B9A09F33669435E7EF1BEAED");
        Assert.Equal(a, b);
        Assert.True(a == b);
        Assert.Equal(a.GetHashCode(), b.GetHashCode());
        Assert.NotEqual(a, EthAddress.Zero);
    }

    [Fact]
    public void Default_IsZeroAddress() => Assert.Equal(EthAddress.Zero, default);
}

public class WeiTests
{
    [Fact]
    public void FromEther_Decimal_IsExact() =>
        Assert.Equal(BigInteger.Parse("1500000000000000001"), Wei.FromEther(1.500000000000000001m).Value);

    [Fact]
    public void FromEther_TooManyDecimals_Throws() =>
        Assert.Throws<ArgumentException>(() => Wei.FromEther(0.0000000000000000001m));

    [Fact]
    public void Constructor_Negative_Throws() => Assert.Throws<ArgumentOutOfRangeException>(() => new Wei(-1));

    [Fact]
    public void Subtract_BelowZero_Throws() => Assert.Throws<ArgumentOutOfRangeException>(() => Wei.FromGwei(1) - Wei.FromGwei(2));
}
