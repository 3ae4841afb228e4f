using System.Numerics;
using System.Text;
using Nethereum.ABI.FunctionEncoding.Attributes;
using Nethereum.Contracts;
using Nethereum.Hex.HexConvertors.Extensions;
using Nethereum.Hex.HexTypes;
using Nethereum.RLP;
using Nethereum.RPC.Eth.DTOs;
using Nethereum.Signer;
using Nethereum.Util;
using Nethereum.Web3.Accounts;

namespace FlexChain.Ethereum.Tests;

/// <summary>
/// The published vectors our hand-written code was once checked against, now run through Nethereum: they pin the
/// library's behaviour on what settlement relies on (hashes, encodings, signatures).
/// </summary>
public class KeccakVectorTests
{
    // Published Keccak-256 vectors (the Ethereum variant, not SHA3-256).
    [Theory]
    [InlineData("", "0xc5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470")]
    [InlineData("abc", "0x4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45")]
    public void CalculateHash_PublishedVector_Matches(string input, string expected) =>
        Assert.Equal(expected, Sha3Keccack.Current.CalculateHash(Encoding.ASCII.GetBytes(input)).ToHex(prefix: true));
}

/// <summary>Cases from ethereum/tests RLPTests/rlptest.json.</summary>
public class RlpVectorTests
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
        Assert.Equal(expected, Encode(input).ToHex(prefix: true));
    }

    [Fact]
    public void Decode_StringList_ReadsTheItems()
    {
        var list = Assert.IsType<RLPCollection>(RLP.Decode("0xcc83646f6783676f6483636174".HexToByteArray()));
        Assert.Equal(["dog", "god", "cat"], list.Select(item => item.RLPData.ToStringFromRLPDecoded()));
    }

    private static object[] Repeat(object item, int count) => Enumerable.Repeat(item, count).ToArray();

    private static byte[] Encode(object input) => input switch
    {
        string s when s.StartsWith('#') => RLP.EncodeElement(BigInteger.Parse(s[1..]).ToBytesForRLPEncoding()),
        string s => RLP.EncodeElement(Encoding.UTF8.GetBytes(s)),
        int i => RLP.EncodeElement(i.ToBytesForRLPEncoding()),
        object[] list => RLP.EncodeList(list.Select(Encode).ToArray()),
        _ => throw new ArgumentException("unsupported test input"),
    };
}

public class TransactionVectorTests
{
    // The example in EIP-155 (https://eips.ethereum.org/EIPS/eip-155).
    [Fact]
    public void LegacySign_Eip155Example_MatchesRawTransaction()
    {
        var raw = new LegacyTransactionSigner().SignTransaction(
            "0x4646464646464646464646464646464646464646464646464646464646464646", chainId: 1,
            to: "0x3535353535353535353535353535353535353535", amount: BigInteger.Pow(10, 18), nonce: 9,
            gasPrice: 20_000_000_000, gasLimit: 21000, data: "");
        Assert.Equal(
            "0xf86c098504a817c800825208943535353535353535353535353535353535353535880de0b6b3a76400008025a028ef61340bd939bc2195fe537567866003e1a15d3c71ff63e1590620aa636276a067cbe9d8997f761aecb703304b3800ccf555c9f3dc64214b297fb1966a3b6d83",
            raw.EnsureHexPrefix());
    }

    // Vectors from ethereumjs-monorepo packages/tx/test/json/eip1559.json (chain id 7822 = 0x1e8e, empty data and
    // access list), signed the way TransactionSender signs: AccountOfflineTransactionSigner with a type-2 input.
    [Theory]
    [InlineData(819, 43203529, 35552, 75853, 121212, "0x02f870821e8e8203338301284d8301d97c828ae094000000000000000000000000000000000000aaaa8402933bc980c080a0d067f2167008c59219652f91cbf8788dbca5f771f6e91e2b7657e85b78b472e0a01d305af9fe81fdba43f0dfcd400ed24dcace0a7e30d4e85701dcaaf484cd079e")]
    [InlineData(353, 61901619, 32593, 38850, 136295, "0x02f86f821e8e8201618297c283021467827f5194000000000000000000000000000000000000aaaa8403b08b3380c001a004205678f13fc1d7b10feea6513dfa76e24418b6e08097d95c6f93a3b64e536da01d45ad61bfece43862de2cce7d2575a8c1d08c26c87f3cb5f26d7b0be54a91b2")]
    [InlineData(985, 32531825, 68541, 66377, 136097, "0x02f871821e8e8203d983010349830213a183010bbd94000000000000000000000000000000000000aaaa8401f0657180c001a0e6d23c5ecc0f388a4d41a9523c3ad171e98083a61288c340b968dfe0903a6741a07319e8d54a4fd8f0c081d3ce093d869f9df598481991c8534bfd8f2c163884b4")]
    public void Eip1559Sign_EthereumJsVector_MatchesRawTransaction(long nonce, long value, long gasLimit, long maxPriorityFee, long maxFee, string expectedRaw)
    {
        var account = new Account("0x8f2a55949038a9610f50fb23b5883af3b4ecb3c3bb792cbcefbd1542c692be63", 7822);
        var input = new TransactionInput
        {
            Type = new HexBigInteger(2), Nonce = new HexBigInteger(nonce), Value = new HexBigInteger(value), Gas = new HexBigInteger(gasLimit),
            MaxPriorityFeePerGas = new HexBigInteger(maxPriorityFee), MaxFeePerGas = new HexBigInteger(maxFee),
            To = "0x000000000000000000000000000000000000aaaa", Data = "",
        };
        Assert.Equal(expectedRaw, new AccountOfflineTransactionSigner().SignTransaction(account, input).EnsureHexPrefix());
    }
}

public class PersonalSignVectorTests
{
    // viem's documentation example (https://viem.sh/docs/actions/wallet/signMessage): "hello world" signed by
    // Hardhat account #0 (0xf39F...2266).
    private const string HelloWorldSignature =
        "0xa461f509887bd19e312c0c58467ce8ff8e300d3c1a90b608a760c5b80318eaf15fe57c96f9175d6cd4daad4663763baa7e78836e067d0163e9a2ccf2ff753f5b1b";

    [Fact]
    public void EncodeUTF8AndSign_ViemDocsVector_Matches() =>
        Assert.Equal(HelloWorldSignature, new EthereumMessageSigner().EncodeUTF8AndSign("hello world", new EthECKey(TestKeys.Account0)));

    [Fact]
    public void EncodeUTF8AndEcRecover_ViemDocsVector_IsAccount0() =>
        Assert.Equal(TestKeys.Address0, EthAddress.Parse(new EthereumMessageSigner().EncodeUTF8AndEcRecover("hello world", HelloWorldSignature)));

    [Fact]
    public void EncodeUTF8AndEcRecover_VAsZeroOrOne_RecoversLike27Or28() =>
        Assert.Equal(TestKeys.Address0, EthAddress.Parse(new EthereumMessageSigner().EncodeUTF8AndEcRecover("hello world", HelloWorldSignature[..^2] + "00")));

    [Fact]
    public void EncodeUTF8AndEcRecover_OtherMessage_IsAnotherAddress() =>
        Assert.NotEqual(TestKeys.Address0, EthAddress.Parse(new EthereumMessageSigner().EncodeUTF8AndEcRecover("hello world!", HelloWorldSignature)));

    // Hardhat's default accounts (printed by `hardhat node`; derived from the mnemonic "test test ... junk").
    [Theory]
    [InlineData("0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80", "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266")]
    [InlineData("0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d", "0x70997970C51812dc3A010C7d01b50e0d17dc79C8")]
    [InlineData("0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a", "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC")]
    public void Address_HardhatAccount_MatchesPublishedAddress(string privateKey, string address) =>
        Assert.Equal(address, new Account(privateKey).Address);
}

/// <summary>Examples from the Solidity ABI specification (https://docs.soliditylang.org/en/latest/abi-spec.html) and ERC-20, as typed Nethereum messages.</summary>
public class AbiSpecVectorTests
{
    private static string Words(params string[] words) => string.Concat(words.Select(w => w.PadLeft(64, '0')));

    [Function("baz")]
    public sealed class Baz : FunctionMessage
    {
        [Parameter("uint32", "x", 1)] public uint X { get; set; }
        [Parameter("bool", "y", 2)] public bool Y { get; set; }
    }

    [Function("bar")]
    public sealed class Bar : FunctionMessage
    {
        [Parameter("bytes3[2]", "", 1)] public List<byte[]> Values { get; set; } = [];
    }

    [Function("sam")]
    public sealed class Sam : FunctionMessage
    {
        [Parameter("bytes", "name", 1)] public byte[] Name { get; set; } = [];
        [Parameter("bool", "z", 2)] public bool Z { get; set; }
        [Parameter("uint256[]", "data", 3)] public List<BigInteger> Data { get; set; } = [];
    }

    [Function("f")]
    public sealed class F : FunctionMessage
    {
        [Parameter("uint256", "a", 1)] public BigInteger A { get; set; }
        [Parameter("uint32[]", "b", 2)] public List<uint> B { get; set; } = [];
        [Parameter("bytes10", "c", 3)] public byte[] C { get; set; } = [];
        [Parameter("bytes", "d", 4)] public byte[] D { get; set; } = [];
    }

    [Function("g")]
    public sealed class G : FunctionMessage
    {
        [Parameter("uint256[][]", "a", 1)] public List<List<BigInteger>> A { get; set; } = [];
        [Parameter("string[]", "b", 2)] public List<string> B { get; set; } = [];
    }

    [Event("Transfer")]
    public sealed class Transfer : IEventDTO
    {
        [Parameter("address", "from", 1, true)] public string From { get; set; } = "";
        [Parameter("address", "to", 2, true)] public string To { get; set; } = "";
        [Parameter("uint256", "value", 3, false)] public BigInteger Value { get; set; }
    }

    [Fact]
    public void GetCallData_Baz_MatchesSpec() =>
        Assert.Equal("0xcdcd77c0" + Words("45", "1"), new Baz { X = 69, Y = true }.GetCallData().ToHex(prefix: true));

    [Fact]
    public void GetCallData_BarFixedArrayOfBytes3_MatchesSpec() =>
        Assert.Equal("0xfce353f6" + "616263".PadRight(64, '0') + "646566".PadRight(64, '0'),
            new Bar { Values = ["abc"u8.ToArray(), "def"u8.ToArray()] }.GetCallData().ToHex(prefix: true));

    [Fact]
    public void GetCallData_Sam_MatchesSpec() =>
        Assert.Equal("0xa5643bf2" + Words("60", "1", "a0", "4") + "64617665".PadRight(64, '0') + Words("3", "1", "2", "3"),
            new Sam { Name = "dave"u8.ToArray(), Z = true, Data = [1, 2, 3] }.GetCallData().ToHex(prefix: true));

    [Fact]
    public void GetCallData_F_MatchesSpec() =>
        Assert.Equal("0x8be65246" + Words("123", "80") + "31323334353637383930".PadRight(64, '0') + Words("e0", "2", "456", "789", "d")
            + "48656c6c6f2c20776f726c6421".PadRight(64, '0'),
            new F { A = 0x123, B = [0x456, 0x789], C = "1234567890"u8.ToArray(), D = "Hello, world!"u8.ToArray() }.GetCallData().ToHex(prefix: true));

    [Fact]
    public void GetCallData_GNestedDynamicArrays_MatchesSpec() =>
        Assert.Equal("0x2289b18c" + Words("40", "140", "2", "40", "a0", "2", "1", "2", "1", "3", "3", "60", "a0", "e0", "3")
            + "6f6e65".PadRight(64, '0') + Words("3") + "74776f".PadRight(64, '0') + Words("5") + "7468726565".PadRight(64, '0'),
            new G { A = [[1, 2], [3]], B = ["one", "two", "three"] }.GetCallData().ToHex(prefix: true));

    [Fact]
    public void EventTopic_Erc20Transfer_MatchesPublishedHash() =>
        Assert.Equal("ddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef", EventExtensions.GetEventABI<Transfer>().Sha3Signature);
}

internal static class TestKeys
{
    // Hardhat's publicly known development keys: never use them on a real network.
    public const string Account0 = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
    public static readonly EthAddress Address0 = EthAddress.Parse("0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266");
}
