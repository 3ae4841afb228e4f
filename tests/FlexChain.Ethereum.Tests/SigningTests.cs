using System.Numerics;
using System.Text;

namespace FlexChain.Ethereum.Tests;

public class EthereumKeyTests
{
    // Hardhat's default accounts (printed by `hardhat node`; derived from the mnemonic "test test ... junk").
    [Theory]
    [InlineData("0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80", "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266")]
    [InlineData("0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d", "0x70997970C51812dc3A010C7d01b50e0d17dc79C8")]
    [InlineData("0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a", "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC")]
    [InlineData("0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6", "0x90F79bf6EB2c4f870365E785982E1f101E93b906")]
    public void Address_HardhatAccount_MatchesPublishedAddress(string privateKey, string address) =>
        Assert.Equal(address, EthereumKey.FromHex(privateKey).Address.ToString());

    [Fact]
    public void ToString_ShowsAddressNotKey()
    {
        var key = EthereumKey.FromHex(TestKeys.Account0);
        Assert.DoesNotContain("ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80", key.ToString(), StringComparison.OrdinalIgnoreCase);
        Assert.Contains(key.Address.ToString(), key.ToString());
    }

    [Theory]
    [InlineData("0x0000000000000000000000000000000000000000000000000000000000000000")]
    [InlineData("0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141")] // n itself
    public void FromHex_OutOfRange_ThrowsWithoutKeyInMessage(string privateKey)
    {
        var e = Assert.Throws<ArgumentException>(() => EthereumKey.FromHex(privateKey));
        Assert.DoesNotContain(privateKey[2..12], e.Message, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public void Sign_AnyHash_IsLowSAndRecoversSigner()
    {
        var key = EthereumKey.FromHex(TestKeys.Account1);
        for (var i = 0; i < 20; i++)
        {
            var hash = Keccak256.Hash(Encoding.ASCII.GetBytes("message " + i));
            var signature = key.Sign(hash);
            Assert.True(signature.IsLowS);
            Assert.Equal(key.Address, EthereumKey.RecoverAddress(hash, signature));
        }
    }

    [Fact]
    public void Sign_SameHashTwice_IsDeterministic()
    {
        var key = EthereumKey.FromHex(TestKeys.Account0);
        var hash = Keccak256.Hash("deterministic");
        Assert.Equal(key.Sign(hash), key.Sign(hash));
    }

    [Fact]
    public void RecoverAddress_TamperedHash_GivesOtherAddress()
    {
        var key = EthereumKey.FromHex(TestKeys.Account0);
        var signature = key.Sign(Keccak256.Hash("a"));
        Assert.NotEqual(key.Address, EthereumKey.RecoverAddress(Keccak256.Hash("b"), signature));
    }
}

public class PersonalSignTests
{
    [Fact]
    public void SignMessage_RoundTrip_RecoversSignerWithV27Or28()
    {
        var key = EthereumKey.FromHex(TestKeys.Account2);
        var message = Encoding.UTF8.GetBytes("FlexChain wallet challenge 7f3a");
        var signature = key.SignMessage(message).ToBytes();
        Assert.Equal(65, signature.Length);
        Assert.Contains(signature[64], new byte[] { 27, 28 });
        Assert.Equal(key.Address, EthereumKey.RecoverMessageSigner(message, signature));
    }

    // viem's documentation example (https://viem.sh/docs/actions/wallet/signMessage): "hello world" signed by
    // Hardhat account #0 (0xf39F...2266).
    [Fact]
    public void SignMessage_ViemDocsVector_Matches()
    {
        var key = EthereumKey.FromHex(TestKeys.Account0);
        var signature = key.SignMessage(Encoding.UTF8.GetBytes("hello world"));
        Assert.Equal(
            "0xa461f509887bd19e312c0c58467ce8ff8e300d3c1a90b608a760c5b80318eaf15fe57c96f9175d6cd4daad4663763baa7e78836e067d0163e9a2ccf2ff753f5b1b",
            Hex.Encode(signature.ToBytes()));
    }

    [Fact]
    public void RecoverMessageSigner_OtherMessage_DoesNotMatch()
    {
        var key = EthereumKey.FromHex(TestKeys.Account0);
        var signature = key.SignMessage(Encoding.UTF8.GetBytes("pay to A")).ToBytes();
        Assert.NotEqual(key.Address, EthereumKey.RecoverMessageSigner(Encoding.UTF8.GetBytes("pay to B"), signature));
    }

    [Fact]
    public void RecoverMessageSigner_BadV_Throws()
    {
        var signature = new byte[65];
        signature[0] = 1;
        signature[32] = 1;
        signature[64] = 29;
        Assert.Throws<ArgumentException>(() => EthereumKey.RecoverMessageSigner([1], signature));
    }
}

public class TransactionTests
{
    // The example in EIP-155 (https://eips.ethereum.org/EIPS/eip-155).
    [Fact]
    public void LegacySign_Eip155Example_MatchesSigningHashAndRawTransaction()
    {
        var tx = new LegacyTransaction(
            ChainId: 1, Nonce: 9, GasPrice: Wei.FromGwei(20), GasLimit: 21000,
            To: EthAddress.Parse("0x3535353535353535353535353535353535353535"), Value: Wei.FromEther(1), Data: default);
        var key = EthereumKey.FromHex("0x4646464646464646464646464646464646464646464646464646464646464646");

        Assert.Equal("0xdaf5a779ae972f972197303d7b574746c7ef83eadac0f2791ad23db92e4c8e53", Hex.Encode(tx.SigningHash()));
        var signed = tx.Sign(key);
        Assert.Equal(
            "0xf86c098504a817c800825208943535353535353535353535353535353535353535880de0b6b3a76400008025a028ef61340bd939bc2195fe537567866003e1a15d3c71ff63e1590620aa636276a067cbe9d8997f761aecb703304b3800ccf555c9f3dc64214b297fb1966a3b6d83",
            signed.RawHex);
        Assert.Equal(new Hash32(Keccak256.Hash(signed.Raw)), signed.Hash);
    }

    // Vectors from ethereumjs-monorepo packages/tx/test/json/eip1559.json (chain id 7822 = 0x1e8e, empty data and
    // access list). The file stores each signed transaction wrapped once more as an RLP string (b873 / b872 ...);
    // the raw transaction is that string's payload, starting with the type byte 02.
    [Theory]
    [InlineData(819, 43203529, 35552, 75853, 121212, "0x02f870821e8e8203338301284d8301d97c828ae094000000000000000000000000000000000000aaaa8402933bc980c080a0d067f2167008c59219652f91cbf8788dbca5f771f6e91e2b7657e85b78b472e0a01d305af9fe81fdba43f0dfcd400ed24dcace0a7e30d4e85701dcaaf484cd079e")]
    [InlineData(353, 61901619, 32593, 38850, 136295, "0x02f86f821e8e8201618297c283021467827f5194000000000000000000000000000000000000aaaa8403b08b3380c001a004205678f13fc1d7b10feea6513dfa76e24418b6e08097d95c6f93a3b64e536da01d45ad61bfece43862de2cce7d2575a8c1d08c26c87f3cb5f26d7b0be54a91b2")]
    [InlineData(985, 32531825, 68541, 66377, 136097, "0x02f871821e8e8203d983010349830213a183010bbd94000000000000000000000000000000000000aaaa8401f0657180c001a0e6d23c5ecc0f388a4d41a9523c3ad171e98083a61288c340b968dfe0903a6741a07319e8d54a4fd8f0c081d3ce093d869f9df598481991c8534bfd8f2c163884b4")]
    public void Eip1559Sign_EthereumJsVector_MatchesRawTransaction(
        long nonce, long value, long gasLimit, long maxPriorityFee, long maxFee, string expectedRaw)
    {
        var tx = new Eip1559Transaction(
            ChainId: 7822, Nonce: (ulong)nonce, MaxPriorityFeePerGas: new Wei(maxPriorityFee), MaxFeePerGas: new Wei(maxFee),
            GasLimit: (ulong)gasLimit, To: EthAddress.Parse("0x000000000000000000000000000000000000aaaa"), Value: new Wei(value), Data: default);
        var signed = tx.Sign(EthereumKey.FromHex("0x8f2a55949038a9610f50fb23b5883af3b4ecb3c3bb792cbcefbd1542c692be63"));
        Assert.Equal(expectedRaw, signed.RawHex);
    }

    [Fact]
    public void Eip1559Sign_DecodedFields_RecoverSender()
    {
        var key = EthereumKey.FromHex(TestKeys.Account0);
        var tx = new Eip1559Transaction(31337, 5, Wei.FromGwei(1), Wei.FromGwei(3), 50_000, null, Wei.Zero, new byte[] { 0x60, 0x00 });
        var signed = tx.Sign(key);
        Assert.Equal(0x02, signed.Raw[0]);
        var fields = Rlp.Decode(signed.Raw.AsSpan(1)).Items;
        Assert.Equal(12, fields.Count);
        Assert.Equal(0, fields[5].Bytes.Length); // contract creation: empty "to"
        var signature = new EthSignature(fields[10].ToBigInteger(), fields[11].ToBigInteger(), (byte)fields[9].ToBigInteger());
        Assert.Equal(key.Address, EthereumKey.RecoverAddress(tx.SigningHash(), signature));
    }
}

internal static class TestKeys
{
    // Hardhat's publicly known development keys: never use them on a real network.
    public const string Account0 = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
    public const string Account1 = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";
    public const string Account2 = "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a";
    public static readonly EthAddress Address0 = EthAddress.Parse("0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266");
}

public class EthSignatureTests
{
    [Fact]
    public void FromBytes_VZeroOrOne_IsAcceptedLike27Or28()
    {
        var signature = EthereumKey.FromHex(TestKeys.Account0).Sign(Keccak256.Hash("x"));
        var bytes = signature.ToBytes();
        bytes[64] -= 27;
        Assert.Equal(signature, EthSignature.FromBytes(bytes));
    }

    [Fact]
    public void ToString_DoesNotRevealSignature()
    {
        var signature = EthereumKey.FromHex(TestKeys.Account0).Sign(Keccak256.Hash("x"));
        Assert.DoesNotContain(Hex.Encode(signature.ToBytes())[2..10], signature.ToString());
    }

    [Fact]
    public void Sign_HashNot32Bytes_Throws() =>
        Assert.Throws<ArgumentException>(() => EthereumKey.FromHex(TestKeys.Account0).Sign(new byte[31]));
}
