using System.Numerics;
using FlexChain.Ethereum;
using Nethereum.ABI.FunctionEncoding.Attributes;
using Nethereum.Contracts;

namespace FlexChain.Functions.Settlement;

/// <summary>
/// Why the escrow refuses to lock a DSO's batch for its funding, as a reason starting with its rule:
/// <c>consent-signature</c>, <c>consent-expired</c>, <c>consent-exceeded</c> (the escrow's own
/// errors), <c>allowance</c> or <c>balance</c> (whatever error the token gives: regulated tokens differ, so the DSO's
/// allowance and balance read at the same moment decide). Any other revert is not the DSO's doing and is no funding failure.
/// </summary>
public static class FundingRefusals
{
    /// <summary>The reason the lock reverted with <paramref name="revert"/> for the DSO's funding, or null when it is something else.</summary>
    /// <param name="revert">The simulated or mined lock's revert.</param>
    /// <param name="dso">The batch's DSO wallet.</param>
    /// <param name="total">What the batch locks, in token units.</param>
    /// <param name="allowance">The DSO's allowance to the escrow now, in token units.</param>
    /// <param name="balance">The DSO's token balance now, in token units.</param>
    public static string? Describe(ContractRevertException revert, EthAddress dso, BigInteger total, BigInteger allowance, BigInteger balance)
    {
        ArgumentNullException.ThrowIfNull(revert);
        if (Decode<InvalidConsentSignatureError>(revert) is { } signature)
            return $"consent-signature: the consent for request hash {Hex(signature.RequestHash)} is not signed by the DSO's wallet {dso}";
        if (Decode<ConsentExpiredError>(revert) is { } expired)
            return $"consent-expired: the consent for request hash {Hex(expired.RequestHash)} expired at {DateTimeOffset.FromUnixTimeSeconds((long)expired.Deadline):O}";
        if (Decode<ConsentExceededError>(revert) is { } exceeded)
            return $"consent-exceeded: with this lock {exceeded.Drawn} token units would be drawn under the consent for request hash {Hex(exceeded.RequestHash)}, which allows at most {exceeded.MaxAmount}";
        if (allowance < total)
            return $"allowance: the DSO's wallet {dso} allows the escrow {allowance} token units; the batch needs {total}";
        if (balance < total)
            return $"balance: the DSO's wallet {dso} holds {balance} token units; the batch needs {total}";
        return null;
    }

    private static TError? Decode<TError>(ContractRevertException revert) where TError : class, new() =>
        revert.Is<TError>() ? revert.RevertData!.DecodeExceptionEncodedData<TError>() : null;

    private static string Hex(byte[] bytes) => "0x" + Convert.ToHexStringLower(bytes);
}

/// <summary>The escrow's <c>InvalidConsentSignature(bytes32 requestHash)</c>.</summary>
[Error("InvalidConsentSignature")]
public sealed class InvalidConsentSignatureError
{
    [Parameter("bytes32", "requestHash", 1)] public byte[] RequestHash { get; set; } = [];
}

/// <summary>The escrow's <c>ConsentExpired(bytes32 requestHash, uint256 deadline)</c>.</summary>
[Error("ConsentExpired")]
public sealed class ConsentExpiredError
{
    [Parameter("bytes32", "requestHash", 1)] public byte[] RequestHash { get; set; } = [];
    [Parameter("uint256", "deadline", 2)] public BigInteger Deadline { get; set; }
}

/// <summary>The escrow's <c>ConsentExceeded(bytes32 requestHash, uint256 drawn, uint256 maxAmount)</c>: the lock would draw past the consent's maximum.</summary>
[Error("ConsentExceeded")]
public sealed class ConsentExceededError
{
    [Parameter("bytes32", "requestHash", 1)] public byte[] RequestHash { get; set; } = [];
    [Parameter("uint256", "drawn", 2)] public BigInteger Drawn { get; set; }
    [Parameter("uint256", "maxAmount", 3)] public BigInteger MaxAmount { get; set; }
}
