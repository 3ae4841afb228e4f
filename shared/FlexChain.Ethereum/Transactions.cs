using System.Numerics;

namespace FlexChain.Ethereum;

/// <summary>A signed transaction ready for eth_sendRawTransaction.</summary>
/// <param name="Raw">The network encoding (typed envelope for EIP-2718 types, plain RLP for legacy).</param>
/// <param name="Hash">Keccak-256 of <paramref name="Raw"/>: the transaction hash nodes report.</param>
public sealed record SignedTransaction(byte[] Raw, Hash32 Hash)
{
    /// <summary>The raw transaction as 0x-prefixed hex.</summary>
    public string RawHex => Hex.Encode(Raw);
}

/// <summary>One EIP-2930 access list entry: an address and the storage slots the transaction will touch.</summary>
public sealed record AccessListEntry(EthAddress Address, IReadOnlyList<Hash32> StorageKeys);

/// <summary>
/// A legacy (type 0) transaction with EIP-155 replay protection. Amounts are in wei, gas in gas units.
/// </summary>
/// <param name="ChainId">The chain id (1 = mainnet, 31337 = Hardhat); must be positive.</param>
/// <param name="Nonce">The sender's transaction count.</param>
/// <param name="GasPrice">Price per gas unit.</param>
/// <param name="GasLimit">Maximum gas units.</param>
/// <param name="To">Recipient; null creates a contract from <paramref name="Data"/>.</param>
/// <param name="Value">Ether sent.</param>
/// <param name="Data">Call data or init code.</param>
public sealed record LegacyTransaction(
    ulong ChainId, ulong Nonce, Wei GasPrice, ulong GasLimit, EthAddress? To, Wei Value, ReadOnlyMemory<byte> Data)
{
    /// <summary>The EIP-155 signing hash: Keccak-256 of RLP([nonce, gasPrice, gas, to, value, data, chainId, 0, 0]).</summary>
    public byte[] SigningHash() =>
        Keccak256.Hash(Rlp.Encode(RlpItem.List([.. Fields(), RlpItem.FromInteger(ChainId), RlpItem.FromInteger(0), RlpItem.FromInteger(0)])));

    /// <summary>Signs with <paramref name="key"/>; v = recovery id + 35 + 2 * chain id.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><see cref="ChainId"/> is zero.</exception>
    public SignedTransaction Sign(EthereumKey key)
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentOutOfRangeException.ThrowIfZero(ChainId);
        var signature = key.Sign(SigningHash());
        var v = new BigInteger(signature.RecoveryId) + 35 + 2 * new BigInteger(ChainId);
        var raw = Rlp.Encode(RlpItem.List([.. Fields(), RlpItem.FromInteger(v), RlpItem.FromInteger(signature.R), RlpItem.FromInteger(signature.S)]));
        return new SignedTransaction(raw, new Hash32(Keccak256.Hash(raw)));
    }

    private RlpItem[] Fields() =>
    [
        RlpItem.FromInteger(Nonce),
        RlpItem.FromInteger(GasPrice.Value),
        RlpItem.FromInteger(GasLimit),
        RlpItem.FromBytes(To is { } to ? to.Bytes : []),
        RlpItem.FromInteger(Value.Value),
        RlpItem.FromBytes(Data.Span),
    ];
}

/// <summary>
/// An EIP-1559 (type 0x02) transaction. Amounts are in wei, gas in gas units.
/// </summary>
/// <param name="ChainId">The chain id (1 = mainnet, 31337 = Hardhat).</param>
/// <param name="Nonce">The sender's transaction count.</param>
/// <param name="MaxPriorityFeePerGas">Tip per gas unit to the block producer.</param>
/// <param name="MaxFeePerGas">Cap on base fee + tip per gas unit; must be at least <paramref name="MaxPriorityFeePerGas"/>.</param>
/// <param name="GasLimit">Maximum gas units.</param>
/// <param name="To">Recipient; null creates a contract from <paramref name="Data"/>.</param>
/// <param name="Value">Ether sent.</param>
/// <param name="Data">Call data or init code.</param>
/// <param name="AccessList">EIP-2930 access list; null for none.</param>
public sealed record Eip1559Transaction(
    ulong ChainId, ulong Nonce, Wei MaxPriorityFeePerGas, Wei MaxFeePerGas, ulong GasLimit,
    EthAddress? To, Wei Value, ReadOnlyMemory<byte> Data, IReadOnlyList<AccessListEntry>? AccessList = null)
{
    /// <summary>The EIP-2718 transaction type byte.</summary>
    public const byte TransactionType = 0x02;

    /// <summary>The signing hash: Keccak-256(0x02 || RLP([chainId, nonce, maxPriorityFee, maxFee, gas, to, value, data, accessList])).</summary>
    public byte[] SigningHash() => Keccak256.Hash(Envelope(RlpItem.List(Fields())));

    /// <summary>Signs with <paramref name="key"/>: appends yParity, r, s and wraps in the typed envelope.</summary>
    /// <exception cref="InvalidOperationException"><see cref="MaxFeePerGas"/> is below <see cref="MaxPriorityFeePerGas"/>.</exception>
    public SignedTransaction Sign(EthereumKey key)
    {
        ArgumentNullException.ThrowIfNull(key);
        if (MaxFeePerGas < MaxPriorityFeePerGas)
            throw new InvalidOperationException("maxFeePerGas must be at least maxPriorityFeePerGas");
        var signature = key.Sign(SigningHash());
        var raw = Envelope(RlpItem.List([.. Fields(), RlpItem.FromInteger(signature.RecoveryId), RlpItem.FromInteger(signature.R), RlpItem.FromInteger(signature.S)]));
        return new SignedTransaction(raw, new Hash32(Keccak256.Hash(raw)));
    }

    private static byte[] Envelope(RlpItem payload)
    {
        var rlp = Rlp.Encode(payload);
        var result = new byte[rlp.Length + 1];
        result[0] = TransactionType;
        rlp.CopyTo(result, 1);
        return result;
    }

    private RlpItem[] Fields() =>
    [
        RlpItem.FromInteger(ChainId),
        RlpItem.FromInteger(Nonce),
        RlpItem.FromInteger(MaxPriorityFeePerGas.Value),
        RlpItem.FromInteger(MaxFeePerGas.Value),
        RlpItem.FromInteger(GasLimit),
        RlpItem.FromBytes(To is { } to ? to.Bytes : []),
        RlpItem.FromInteger(Value.Value),
        RlpItem.FromBytes(Data.Span),
        RlpItem.List((AccessList ?? []).Select(e => RlpItem.List(
            RlpItem.FromBytes(e.Address.Bytes),
            RlpItem.List(e.StorageKeys.Select(k => RlpItem.FromBytes(k.Bytes)))))),
    ];
}
