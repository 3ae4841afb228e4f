using FlexChain.Domain;

namespace FlexChain.Functions.Api;

public sealed record RegisterParticipantRequest(string? Role, string? LegalName, string? Contact, string? WalletAddress);

public sealed record ParticipantResponse(string Id, string Role, string LegalName, string Contact, string WalletAddress, DateTimeOffset RegisteredAt);

/// <summary>Returned once, at registration: the API key is never shown again (only its hash is stored).</summary>
public sealed record RegisteredParticipantResponse(ParticipantResponse Participant, string ApiKey);

public sealed record RegisterTransformerRequest(string? Name, decimal? RatedPowerKw);

public sealed record TransformerResponse(string Id, string DsoId, string Name, decimal RatedPowerKw);

public sealed record RegisterStationRequest(string? TransformerId, decimal? MaxPowerKw, string? MeteringPointId, bool? RealTimeMonitoring);

public sealed record StationResponse(string Id, string CpoId, string TransformerId, decimal MaxPowerKw, string MeteringPointId, bool RealTimeMonitoring);

public sealed record PostRequestRequest(
    string? TransformerId, DateTimeOffset? DeliveryStart, DateTimeOffset? DeliveryEnd, decimal? EnergyKwh, string? Direction,
    decimal? MaxPriceEurPerKwh, DateTimeOffset? GateClosure, string? Pricing);

public sealed record PostOfferRequest(IReadOnlyList<string>? StationIds, decimal? EnergyKwh, decimal? PriceEurPerKwh, bool? Divisible);

public sealed record OfferResponse(string Id, string RequestId, string CpoId, IReadOnlyList<string> StationIds, decimal EnergyKwh,
    decimal PriceEurPerKwh, bool Divisible, DateTimeOffset SubmittedAt)
{
    public static OfferResponse From(Offer o) =>
        new(o.Id, o.RequestId, o.CpoId, o.StationIds, o.Energy.Value, o.Price.Value, o.Divisible, o.SubmittedAt);
}

public sealed record MeterReadingItem(DateTimeOffset? Start, DateTimeOffset? End, decimal? EnergyKwh);

public sealed record PostMeterReadingsRequest(IReadOnlyList<MeterReadingItem>? Readings);

public sealed record MeterReadingsAccepted(string StationId, int Stored);

public sealed record OutcomeResponse(string OfferId, string Outcome, decimal AcceptedEnergyKwh);

public sealed record AwardResponse(string Id, string OfferId, string CpoId, IReadOnlyList<string> StationIds, decimal EnergyKwh,
    decimal PriceEurPerKwh, decimal ValueEur, AwardRecordResponse Record);

/// <summary>The award as recorded on chain: its escrow id, the amounts in token units and the record's canonical hash.</summary>
public sealed record AwardRecordResponse(string AwardId, string DsoWallet, string CpoWallet, long EnergyWh, long PriceMicroEurPerKwh,
    string LockedUnits, long DeliveryStart, long DeliveryEnd, string RecordHash);

/// <summary>A settlement as recorded on chain: verified quantities, payout, the record's canonical hash and the transaction.</summary>
public sealed record SettlementResponse(string AwardId, long AwardedWh, long BaselineWh, long MeasuredWh, long DeliveredWh,
    bool Succeeded, string? FailureReason, string PayoutUnits, string LockedUnits, string RecordHash, string? TransactionHash);

public sealed record RequestResponse(
    string Id, string DsoId, string TransformerId, DateTimeOffset DeliveryStart, DateTimeOffset DeliveryEnd, decimal EnergyKwh,
    string Direction, decimal MaxPriceEurPerKwh, DateTimeOffset GateClosure, string Pricing, string State, string? FailureReason,
    int? OfferCount, IReadOnlyList<OfferResponse>? Offers, IReadOnlyList<OutcomeResponse>? Outcomes,
    IReadOnlyList<AwardResponse> Awards, IReadOnlyList<SettlementResponse> Settlements, ChainInfo Chain);

/// <summary>Where to check the payments: chain id, escrow contract and token.</summary>
public sealed record ChainInfo(long ChainId, string SettlementContract, string Token, int TokenDecimals);
