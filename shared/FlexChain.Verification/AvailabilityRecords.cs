using System.Numerics;
using FlexChain.Ethereum;

namespace FlexChain.Verification;

/// <summary>
/// One entry of an escrow cycle's award list, whatever its record kind (an activation's <see cref="AwardRecord"/>, an
/// availability payment's <see cref="AvailabilityRecord"/>): the escrow commits to <c>(cpo, lockedUnits, Hash())</c> and
/// never reads the record itself, so one lockCycle/settleCycle serves every kind.
/// </summary>
public interface IEscrowEntry
{
    Hash32 AwardId { get; }
    EthAddress Dso { get; }
    EthAddress Cpo { get; }
    BigInteger LockedUnits { get; }

    /// <summary>The record's canonical hash: the entry's <c>awardHash</c>.</summary>
    Hash32 Hash();
}

/// <summary>The settlement of one escrow entry, whatever its kind: what it pays and the hash the <c>AwardSettled</c> event carries.</summary>
public interface ISettlementEntry
{
    Hash32 AwardId { get; }
    BigInteger PayoutUnits { get; }
    BigInteger LockedUnits { get; }

    /// <summary>The record's canonical hash: the <c>settlementHash</c> of its <c>AwardSettled</c> event.</summary>
    Hash32 Hash();
}

/// <summary>
/// The record of an availability payment locked in escrow for one holder. Canonical hash: Keccak-256 of
/// <c>abi.encode(string kind, bytes32 awardId, address dso, address cpo, uint256 reservedW,
/// uint256 availabilityPriceMicroEurPerKw, uint256 activationPriceMicroEurPerKwh, uint256 lockedUnits, uint64 periodStart,
/// uint64 periodEnd)</c> with <c>kind = "availability"</c> (so it can never be read as an activation's award record),
/// reserved power in whole watts, prices in micro-euros, times in Unix seconds.
/// </summary>
public sealed record AvailabilityRecord(
    Hash32 AwardId, EthAddress Dso, EthAddress Cpo, long ReservedW, long AvailabilityPriceMicroEurPerKw, long ActivationPriceMicroEurPerKwh,
    BigInteger LockedUnits, long PeriodStart, long PeriodEnd) : IEscrowEntry
{
    /// <summary>The record kind, the first field of the hashed encoding.</summary>
    public const string Kind = "availability";

    public Hash32 Hash() => RecordHash.Of(
        new("string", Kind), new("bytes32", AwardId.ToArray()), new("address", Dso.ToString()), new("address", Cpo.ToString()),
        new("uint256", new BigInteger(ReservedW)), new("uint256", new BigInteger(AvailabilityPriceMicroEurPerKw)),
        new("uint256", new BigInteger(ActivationPriceMicroEurPerKwh)), new("uint256", LockedUnits),
        new("uint64", new BigInteger(PeriodStart)), new("uint64", new BigInteger(PeriodEnd)));
}

/// <summary>
/// The settlement of an availability payment. Canonical hash: Keccak-256 of <c>abi.encode(string kind, bytes32 awardId,
/// uint256 callsAwarded, uint256 callsFailed, uint256 payoutUnits, uint256 lockedUnits)</c> with
/// <c>kind = "availability-settlement"</c>: how many calls awarded the holder energy, how many of those failed
/// verification (one forfeits the payment), and what it is paid.
/// </summary>
public sealed record AvailabilitySettlementRecord(Hash32 AwardId, int CallsAwarded, int CallsFailed, BigInteger PayoutUnits, BigInteger LockedUnits)
    : ISettlementEntry
{
    /// <summary>The record kind, the first field of the hashed encoding.</summary>
    public const string Kind = "availability-settlement";

    public Hash32 Hash() => RecordHash.Of(
        new("string", Kind), new("bytes32", AwardId.ToArray()), new("uint256", new BigInteger(CallsAwarded)),
        new("uint256", new BigInteger(CallsFailed)), new("uint256", PayoutUnits), new("uint256", LockedUnits));
}

/// <summary>
/// The terms of an availability request that its DSO's consent binds (the consent's <c>requestHash</c>): Keccak-256 of
/// <c>abi.encode(string product, string transformerId, uint64 periodStart, uint64 periodEnd, uint256 capacityW,
/// string direction, uint256 maxAvailabilityPriceMicroEurPerKw, uint64 gateClosure, bool arming)</c> with
/// <c>product = "Availability"</c>; the consent's <c>maxAmount</c> must cover capacity x price cap.
/// </summary>
public sealed record AvailabilityTermsRecord(
    string TransformerId, long PeriodStart, long PeriodEnd, long CapacityW, string Direction, long MaxAvailabilityPriceMicroEurPerKw,
    long GateClosure, bool Arming)
{
    /// <summary>The product name, the first field of the hashed encoding.</summary>
    public const string Product = "Availability";

    public Hash32 Hash() => RecordHash.Of(
        new("string", Product), new("string", TransformerId), new("uint64", new BigInteger(PeriodStart)), new("uint64", new BigInteger(PeriodEnd)),
        new("uint256", new BigInteger(CapacityW)), new("string", Direction), new("uint256", new BigInteger(MaxAvailabilityPriceMicroEurPerKw)),
        new("uint64", new BigInteger(GateClosure)), new("bool", Arming));
}
