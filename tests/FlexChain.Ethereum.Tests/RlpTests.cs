using System.Numerics;
using System.Text;

namespace FlexChain.Ethereum.Tests;

/// <summary>Cases from ethereum/tests RLPTests/rlptest.json.</summary>
public class RlpTests
{
    public static TheoryData<string, object, string> Vectors => new()
    {
        { "emptystring", "", "0x80" },
        { "bytestring00", "\u0000", "0x00" },
        { "bytestring01", "\u0001", "0x01" },
        { "bytestring7F", "\u007F", "0x7f" },
        { "shortstring", "dog", "0x83646f67" },
        { "shortstring2", "Lorem ipsum dolor sit amet, consectetur adipisicing eli", "0xb74c6f72656d20697073756d20646f6c6f722073697420616d65742c20636f6e7365637465747572206164697069736963696e6720656c69" },
        { "longstring", "Lorem ipsum dolor sit amet, consectetur adipisicing elit", "0xb8384c6f72656d20697073756d20646f6c6f722073697420616d65742c20636f6e7365637465747572206164697069736963696e6720656c6974" },
        { "zero", 0, "0x80" },
        { "smallint", 1, "0x01" },
        { "smallint2", 16, "0x10" },
        { "smallint3", 79, "0x4f" },
        { "smallint4", 127, "0x7f" },
        { "mediumint1", 128, "0x8180" },
        { "mediumint2", 1000, "0x8203e8" },
        { "mediumint3", 100000, "0x830186a0" },
        { "mediumint4", "#83729609699884896815286331701780722", "0x8f102030405060708090a0b0c0d0e0f2" },
        { "mediumint5", "#105315505618206987246253880190783558935785933862974822347068935681", "0x9c0100020003000400050006000700080009000a000b000c000d000e01" },
        { "bigint", "#115792089237316195423570985008687907853269984665640564039457584007913129639936", "0xa1010000000000000000000000000000000000000000000000000000000000000000" },
        { "emptylist", new object[0], "0xc0" },
        { "stringlist", new object[] { "dog", "god", "cat" }, "0xcc83646f6783676f6483636174" },
        { "multilist", new object[] { "zw", new object[] { 4 }, 1 }, "0xc6827a77c10401" },
        { "shortListMax1", new object[] { "asdf", "qwer", "zxcv", "asdf", "qwer", "zxcv", "asdf", "qwer", "zxcv", "asdf", "qwer" }, "0xf784617364668471776572847a78637684617364668471776572847a78637684617364668471776572847a78637684617364668471776572" },
        { "longList1", Repeat(new object[] { "asdf", "qwer", "zxcv" }, 4), "0xf840cf84617364668471776572847a786376cf84617364668471776572847a786376cf84617364668471776572847a786376cf84617364668471776572847a786376" },
        { "longList2", Repeat(new object[] { "asdf", "qwer", "zxcv" }, 32), "0xf90200" + string.Concat(Enumerable.Repeat("cf84617364668471776572847a786376", 32)) },
        { "listsoflists", new object[] { new object[] { new object[0], new object[0] }, new object[0] }, "0xc4c2c0c0c0" },
        { "listsoflists2", new object[] { new object[0], new object[] { new object[0] }, new object[] { new object[0], new object[] { new object[0] } } }, "0xc7c0c1c0c3c0c1c0" },
        { "dictTest1", new object[] { new object[] { "key1", "val1" }, new object[] { "key2", "val2" }, new object[] { "key3", "val3" }, new object[] { "key4", "val4" } }, "0xecca846b6579318476616c31ca846b6579328476616c32ca846b6579338476616c33ca846b6579348476616c34" },
    };

    [Theory]
    [MemberData(nameof(Vectors))]
    public void Encode_EthereumTestsVector_MatchesOutput(string name, object input, string expected)
    {
        _ = name;
        Assert.Equal(expected, Hex.Encode(Rlp.Encode(ToItem(input))));
    }

    [Theory]
    [MemberData(nameof(Vectors))]
    public void Decode_EthereumTestsVector_ReencodesIdentically(string name, object input, string encoded)
    {
        _ = name;
        _ = input;
        var decoded = Rlp.Decode(Hex.Decode(encoded));
        Assert.Equal(encoded, Hex.Encode(Rlp.Encode(decoded)));
    }

    [Fact]
    public void Decode_Integer_ReadsBackBigInteger()
    {
        var value = BigInteger.Parse("83729609699884896815286331701780722");
        Assert.Equal(value, Rlp.Decode(Rlp.EncodeInteger(value)).ToBigInteger());
        Assert.Equal(BigInteger.Zero, Rlp.Decode(Hex.Decode("0x80")).ToBigInteger());
    }

    // Non-canonical or truncated encodings (in the spirit of RLPTests/invalidRLPTest.json).
    [Theory]
    [InlineData("0x")]            // nothing
    [InlineData("0x8100")]        // single byte < 0x80 wrapped as a string
    [InlineData("0x817f")]
    [InlineData("0xb800")]        // long form for a short string
    [InlineData("0xb90000")]      // length with leading zero
    [InlineData("0x83646f")]      // truncated string
    [InlineData("0xc3646f")]      // truncated list: element missing
    [InlineData("0x83646f6700")]  // trailing bytes
    [InlineData("0xbf0fffffffffffffff")] // absurd length
    public void Decode_InvalidInput_Throws(string hex) => Assert.Throws<FormatException>(() => Rlp.Decode(Hex.Decode(hex)));

    [Fact]
    public void ToBigInteger_LeadingZero_Throws() =>
        Assert.Throws<FormatException>(() => Rlp.Decode(Hex.Decode("0x820001")).ToBigInteger());

    private static object[] Repeat(object item, int count) => Enumerable.Repeat(item, count).ToArray();

    private static RlpItem ToItem(object input) => input switch
    {
        string s when s.StartsWith('#') => RlpItem.FromInteger(BigInteger.Parse(s[1..])),
        string s => RlpItem.FromBytes(Encoding.UTF8.GetBytes(s)),
        int i => RlpItem.FromInteger(i),
        object[] list => RlpItem.List(list.Select(ToItem)),
        _ => throw new ArgumentException("unsupported test input"),
    };
}
