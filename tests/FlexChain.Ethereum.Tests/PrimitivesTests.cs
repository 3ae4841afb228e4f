namespace FlexChain.Ethereum.Tests;

public class Hash32Tests
{
    [Theory]
    [InlineData("0x")]
    [InlineData("0x00")]
    [InlineData("00000000000000000000000000000000000000000000000000000000000000000000")]
    [InlineData("0x000000000000000000000000000000000000000000000000000000000000000g")]
    [InlineData("0x00000000000000000000000000000000000000000000000000000000000000")]
    public void Parse_Malformed_ThrowsWithoutEchoingInput(string text)
    {
        var e = Assert.Throws<FormatException>(() => Hash32.Parse(text));
        Assert.DoesNotContain("000000000000", e.Message);
    }

    [Fact]
    public void Parse_EitherCase_RoundTripsAsLowerCase()
    {
        var upper = "0x" + new string('A', 62) + "0F";
        Assert.Equal(upper.ToLowerInvariant(), Hash32.Parse(upper).ToString());
        Assert.Equal(Hash32.Parse(upper), Hash32.Parse(upper.ToLowerInvariant()));
    }

    [Fact]
    public void Default_IsZero() => Assert.Equal(Hash32.Zero, default);
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
