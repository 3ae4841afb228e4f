using System.Numerics;
using System.Text;
using FlexChain.Ethereum.Abi;

namespace FlexChain.Ethereum.Tests;

/// <summary>Examples from the Solidity ABI specification (https://docs.soliditylang.org/en/latest/abi-spec.html) and ERC-20.</summary>
public class AbiTests
{
    private static string Words(params string[] words) => string.Concat(words.Select(w => w.PadLeft(64, '0')));

    [Theory]
    [InlineData("baz(uint32,bool)", "0xcdcd77c0")]
    [InlineData("bar(bytes3[2])", "0xfce353f6")]
    [InlineData("sam(bytes,bool,uint256[])", "0xa5643bf2")]
    [InlineData("f(uint256,uint32[],bytes10,bytes)", "0x8be65246")]
    [InlineData("g(uint256[][],string[])", "0x2289b18c")]
    [InlineData("transfer(address,uint256)", "0xa9059cbb")]
    [InlineData("balanceOf(address)", "0x70a08231")]
    [InlineData("Error(string)", "0x08c379a0")]
    [InlineData("Panic(uint256)", "0x4e487b71")]
    [InlineData("sam(bytes name, bool z, uint[] data)", "0xa5643bf2")] // names and the uint alias are normalised
    public void SelectorOf_Signature_MatchesPublishedSelector(string signature, string selector) =>
        Assert.Equal(selector, Hex.Encode(AbiFunction.SelectorOf(signature)));

    [Fact]
    public void Topic_Erc20Transfer_MatchesPublishedHash() =>
        Assert.Equal(
            "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef",
            AbiEvent.Parse("Transfer(address indexed from, address indexed to, uint256 value)").Topic.ToString());

    [Fact]
    public void EncodeCall_Baz_MatchesSpec() =>
        Assert.Equal("0xcdcd77c0" + Words("45", "1"), Hex.Encode(AbiFunction.Parse("baz(uint32,bool)").EncodeCall(69u, true)));

    [Fact]
    public void EncodeCall_BarFixedArrayOfBytes3_MatchesSpec() =>
        Assert.Equal(
            "0xfce353f6" + "616263".PadRight(64, '0') + "646566".PadRight(64, '0'),
            Hex.Encode(AbiFunction.Parse("bar(bytes3[2])").EncodeCall((object)new[] { "abc"u8.ToArray(), "def"u8.ToArray() })));

    [Fact]
    public void EncodeCall_Sam_MatchesSpec()
    {
        var expected = "0xa5643bf2" + Words("60", "1", "a0", "4") + "64617665".PadRight(64, '0') + Words("3", "1", "2", "3");
        var data = AbiFunction.Parse("sam(bytes,bool,uint256[])").EncodeCall("dave"u8.ToArray(), true, new BigInteger[] { 1, 2, 3 });
        Assert.Equal(expected, Hex.Encode(data));
    }

    [Fact]
    public void EncodeCall_F_MatchesSpec()
    {
        var expected = "0x8be65246" + Words("123", "80") + "31323334353637383930".PadRight(64, '0') + Words("e0", "2", "456", "789", "d")
            + "48656c6c6f2c20776f726c6421".PadRight(64, '0');
        var data = AbiFunction.Parse("f(uint256,uint32[],bytes10,bytes)")
            .EncodeCall(0x123, new[] { 0x456, 0x789 }, "1234567890"u8.ToArray(), "Hello, world!"u8.ToArray());
        Assert.Equal(expected, Hex.Encode(data));
    }

    [Fact]
    public void EncodeCall_GNestedDynamicArrays_MatchesSpec()
    {
        var expected = "0x2289b18c" + Words("40", "140", "2", "40", "a0", "2", "1", "2", "1", "3", "3", "60", "a0", "e0", "3")
            + "6f6e65".PadRight(64, '0') + Words("3") + "74776f".PadRight(64, '0') + Words("5") + "7468726565".PadRight(64, '0');
        var function = AbiFunction.Parse("g(uint256[][],string[])");
        var data = function.EncodeCall(new object[] { new[] { 1, 2 }, new[] { 3 } }, new[] { "one", "two", "three" });
        Assert.Equal(expected, Hex.Encode(data));

        var decoded = AbiCodec.Decode(function.Inputs.Select(p => p.Type).ToArray(), data.AsSpan(4));
        var nested = (object?[])decoded[0]!;
        Assert.Equal(new object?[] { new BigInteger(1), new BigInteger(2) }, (object?[])nested[0]!);
        Assert.Equal(new object?[] { "one", "two", "three" }, (object?[])decoded[1]!);
    }

    [Fact]
    public void Decode_Sam_RoundTripsValues()
    {
        var types = AbiCodec.ParseTypes("bytes,bool,uint256[]");
        var values = AbiCodec.Decode(types, AbiCodec.Encode(types, ["dave"u8.ToArray(), true, new BigInteger[] { 1, 2, 3 }]));
        Assert.Equal("dave"u8.ToArray(), values[0]);
        Assert.Equal(true, values[1]);
        Assert.Equal(new object?[] { new BigInteger(1), new BigInteger(2), new BigInteger(3) }, values[2]);
    }

    [Fact]
    public void Decode_ValueTypes_MapToDocumentedClrTypes()
    {
        var address = TestKeys.Address0;
        var hash = new Hash32(Keccak256.Hash("x"));
        var data = AbiCodec.Encode("uint8,uint64,uint256,int256,address,bytes32,string,address[],bytes32[],(uint64,address)",
            (byte)255, ulong.MaxValue, Wei.FromEther(2), new BigInteger(-5), address, hash, "Grüße",
            new[] { address, EthAddress.Zero }, new[] { hash }, new object[] { 9UL, address });

        var v = AbiCodec.Decode("uint8,uint64,uint256,int256,address,bytes32,string,address[],bytes32[],(uint64,address)", data);

        Assert.Equal(255UL, v[0]);
        Assert.Equal(ulong.MaxValue, v[1]);
        Assert.Equal(Wei.WeiPerEther * 2, v[2]);
        Assert.Equal(new BigInteger(-5), v[3]);
        Assert.Equal(address, v[4]);
        Assert.Equal(hash, v[5]);
        Assert.Equal("Grüße", v[6]);
        Assert.Equal(new object?[] { address, EthAddress.Zero }, v[7]);
        Assert.Equal(new object?[] { hash }, v[8]);
        Assert.Equal(new object?[] { 9UL, address }, v[9]);
    }

    [Fact]
    public void Encode_NegativeInt_IsTwosComplement() =>
        Assert.Equal("0x" + new string('f', 64), Hex.Encode(AbiCodec.Encode("int256", -1)));

    [Theory]
    [InlineData("uint8", 256)]
    [InlineData("uint256", -1)]
    [InlineData("int8", 128)]
    [InlineData("int8", -129)]
    public void Encode_OutOfRange_Throws(string type, int value) =>
        Assert.Throws<ArgumentException>(() => AbiCodec.Encode(type, value));

    [Fact]
    public void Encode_WrongClrType_Throws() =>
        Assert.Throws<ArgumentException>(() => AbiCodec.Encode("address", "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"));

    [Fact]
    public void Encode_WrongValueCount_Throws() =>
        Assert.Throws<ArgumentException>(() => AbiCodec.Encode("uint256,bool", 1));

    [Theory]
    [InlineData("uint7")]
    [InlineData("uint264")]
    [InlineData("bytes33")]
    [InlineData("bytes0")]
    [InlineData("fixed128x18")]
    [InlineData("uint256[0]")]
    [InlineData("(uint256")]
    public void Parse_UnsupportedType_Throws(string type) => Assert.Throws<FormatException>(() => AbiType.Parse(type));

    [Fact]
    public void Decode_OffsetBeyondData_Throws()
    {
        var data = Hex.Decode("0x" + Words("ffff"));
        Assert.Throws<FormatException>(() => AbiCodec.Decode("bytes", data));
    }

    [Fact]
    public void Decode_HugeArrayLengthInShortData_ThrowsWithoutAllocating()
    {
        var data = Hex.Decode("0x" + Words("20", "40"));
        Assert.Throws<FormatException>(() => AbiCodec.Decode("uint256[]", data));
    }

    [Fact]
    public void Decode_AddressWithDirtyHighBits_Throws() =>
        Assert.Throws<FormatException>(() => AbiCodec.Decode("address", Hex.Decode("0x" + new string('f', 64))));

    [Fact]
    public void Decode_TooShort_Throws() => Assert.Throws<FormatException>(() => AbiCodec.Decode("uint256", new byte[31]));

    [Fact]
    public void DecodeOutput_ReturnsClause_UsesOutputTypes()
    {
        var function = AbiFunction.Parse("function balanceOf(address owner) returns (uint256)");
        Assert.Equal("balanceOf(address)", function.Signature);
        Assert.Equal(new BigInteger(1000), function.DecodeOutput(AbiCodec.Encode("uint256", 1000))[0]);
    }
}

public class EventAndRevertTests
{
    private static readonly AbiEvent Transfer = AbiEvent.Parse("event Transfer(address indexed from, address indexed to, uint256 value)");

    [Fact]
    public void DecodeLog_IndexedAndDataParameters_InDeclarationOrder()
    {
        var from = TestKeys.Address0;
        var to = EthAddress.Parse("0x70997970C51812dc3A010C7d01b50e0d17dc79C8");
        Hash32 Topic(EthAddress a) => new([.. new byte[12], .. a.ToArray()]);

        var values = Transfer.DecodeLog([Transfer.Topic, Topic(from), Topic(to)], AbiCodec.Encode("uint256", 500));

        Assert.Equal(new object?[] { from, to, new BigInteger(500) }, values);
    }

    [Fact]
    public void DecodeLog_IndexedString_GivesItsHash()
    {
        var e = AbiEvent.Parse("Named(string indexed name, bytes32 id)");
        var nameHash = new Hash32(Keccak256.Hash("alice"));
        var values = e.DecodeLog([e.Topic, nameHash], AbiCodec.Encode("bytes32", Hash32.Zero));
        Assert.Equal(nameHash, values[0]);
    }

    [Fact]
    public void DecodeLog_OtherEvent_Throws()
    {
        var approval = AbiEvent.Parse("Approval(address indexed owner, address indexed spender, uint256 value)");
        Assert.Throws<FormatException>(() => Transfer.DecodeLog([approval.Topic, Hash32.Zero, Hash32.Zero], new byte[32]));
    }

    // The Error(string) example from the Solidity docs ("Not enough Ether provided.").
    [Fact]
    public void Decode_ErrorString_GivesMessage()
    {
        var data = Hex.Decode("0x08c379a0" + "0000000000000000000000000000000000000000000000000000000000000020"
            + "000000000000000000000000000000000000000000000000000000000000001a"
            + "4e6f7420656e6f7567682045746865722070726f76696465642e000000000000");
        var reason = RevertReason.Decode(data);
        Assert.Equal(RevertKind.Error, reason.Kind);
        Assert.Equal("Not enough Ether provided.", reason.Message);
        Assert.Equal("Error(\"Not enough Ether provided.\")", reason.ToString());
    }

    [Fact]
    public void Decode_Panic_GivesCode()
    {
        var reason = RevertReason.Decode(AbiError.Parse("Panic(uint256)").Encode(0x11));
        Assert.Equal(RevertKind.Panic, reason.Kind);
        Assert.Equal(new BigInteger(0x11), reason.PanicCode);
        Assert.Equal("Panic(0x11)", reason.ToString());
    }

    [Fact]
    public void Decode_KnownCustomError_GivesNameAndArguments()
    {
        var error = AbiError.Parse("error InsufficientBalance(uint256 available, uint256 required)");
        var reason = RevertReason.Decode(error.Encode(5, 10), [error]);
        Assert.Equal(RevertKind.CustomError, reason.Kind);
        Assert.Same(error, reason.Error);
        Assert.Equal(new object?[] { new BigInteger(5), new BigInteger(10) }, reason.Arguments);
        Assert.Equal("InsufficientBalance(5, 10)", reason.ToString());
    }

    [Fact]
    public void Decode_UnknownSelector_KeepsSelectorAndData()
    {
        var data = AbiError.Parse("Unauthorized(address)").Encode(TestKeys.Address0);
        var reason = RevertReason.Decode(data);
        Assert.Equal(RevertKind.Unknown, reason.Kind);
        Assert.Equal(data[..4], reason.Selector);
        Assert.Equal(data, reason.Data);
    }

    [Theory]
    [InlineData("0x", RevertKind.Empty)]
    [InlineData("0x08c379", RevertKind.Unknown)]
    [InlineData("0x08c379a0ff", RevertKind.Unknown)] // Error selector with garbage: reported raw, never thrown
    public void Decode_EdgeCases_NeverThrow(string hex, RevertKind kind) =>
        Assert.Equal(kind, RevertReason.Decode(Hex.Decode(hex)).Kind);

    [Fact]
    public void ErrorString_Utf8Message_Decodes() =>
        Assert.Equal("Zähler", RevertReason.Decode(AbiError.Parse("Error(string)").Encode("Zähler")).Message);

    [Fact]
    public void Encode_Utf8String_UsesByteLength() =>
        Assert.Equal(Encoding.UTF8.GetByteCount("€"), (int)(BigInteger)AbiCodec.Decode("uint256", AbiCodec.Encode("string", "€").AsSpan(32, 32))[0]!);
}
