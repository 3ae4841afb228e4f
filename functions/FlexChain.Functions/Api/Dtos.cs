using FlexChain.Domain;

namespace FlexChain.Functions.Api;

// Wire formats. Times are UTC ISO 8601; in responses energy is kWh with 3 decimals, power kW with 3, EUR amounts with 2,
// prices EUR/kWh with 4, always written with all of them (Wire); inputs take at most as many; ids are a type prefix and 32 hex digits (e.g. st_0197...). Unknown fields are refused.

public sealed record RegisterParticipantRequest(string? Role, string? LegalName, string? Contact, string? WalletAddress);

public sealed record ParticipantResponse(
    string Id, string Role, string LegalName, string Contact, string WalletAddress, bool WalletVerified, DateTimeOffset? WalletVerifiedAt,
    DateTimeOffset RegisteredAt)
{
    public static ParticipantResponse From(Participant p) =>
        new(p.Id, p.Role.ToString(), p.LegalName, p.Contact, FlexChain.Ethereum.EthAddress.Parse(p.Wallet.Value).ToString(), p.WalletVerified,
            p.WalletVerifiedAt, p.RegisteredAt);
}

/// <summary>Returned at registration: the API key is shown once (only its hash is stored); a replay through an Idempotency-Key returns null here.</summary>
public sealed record RegisteredParticipantResponse(ParticipantResponse Participant, string? ApiKey);

/// <summary>The caller's profile as it may change: legal name and contact (role and wallet are fixed at registration).</summary>
public sealed record ProfileRequest(string? LegalName, string? Contact);

/// <summary>Rotation of the caller's API key: how many minutes the key used for the call keeps working (0 to 1,440; default 15).</summary>
public sealed record RotateApiKeyRequest(int? PreviousKeyValidMinutes);

/// <summary>The new API key, shown once (only its hash is stored), and when the key used for the rotation stops working (null: at once).</summary>
public sealed record RotatedApiKeyResponse(string ApiKey, DateTimeOffset? PreviousKeyExpiresAt);

/// <summary>The message to sign with the wallet's key (EIP-191 personal_sign), valid until <paramref name="ExpiresAt"/>.</summary>
public sealed record WalletChallengeResponse(string Message, string WalletAddress, DateTimeOffset ExpiresAt);

/// <summary>The 65-byte signature (r, s, v) of the challenge message, 0x-prefixed hex, as personal_sign returns it.</summary>
public sealed record WalletProofRequest(string? Signature);

public sealed record LocationItem(decimal? Latitude, decimal? Longitude);

public sealed record RegisterTransformerRequest(
    string? Name, decimal? RatedPowerKw, LocationItem? Location, string? ParentId, decimal? PlanningLimitKw = null, decimal? OperationalLimitKw = null);

public sealed record TransformerResponse(
    string Id, string DsoId, string Name, decimal RatedPowerKw, LocationItem? Location, DateTimeOffset RegisteredAt, string? ParentId,
    decimal? PlanningLimitKw, decimal? OperationalLimitKw)
{
    public static TransformerResponse From(GridNode t) =>
        new(t.Id, t.OperatorId, t.Name, Wire.Kw(t.RatedPower.Value), GridNodeResponse.LocationOf(t), t.RegisteredAt, t.ParentId,
            GridNodeResponse.KwOrNull(t.Limits?.Planning), GridNodeResponse.KwOrNull(t.Limits?.Operational));
}

public sealed record RegisterGridNodeRequest(
    string? Kind, string? Name, decimal? RatedPowerKw, LocationItem? Location, string? ParentId, decimal? PlanningLimitKw = null, decimal? OperationalLimitKw = null);

public sealed record GridNodeResponse(
    string Id, string OperatorId, string Kind, string Name, decimal RatedPowerKw, LocationItem? Location, string? ParentId,
    IReadOnlyList<string> AncestorIds, DateTimeOffset RegisteredAt, decimal? PlanningLimitKw, decimal? OperationalLimitKw)
{
    public static GridNodeResponse From(GridNode n) =>
        new(n.Id, n.OperatorId, n.Kind.ToString(), n.Name, Wire.Kw(n.RatedPower.Value), LocationOf(n), n.ParentId, n.AncestorIds, n.RegisteredAt,
            KwOrNull(n.Limits?.Planning), KwOrNull(n.Limits?.Operational));

    internal static decimal? KwOrNull(Kilowatts? kw) => kw is { } k ? Wire.Kw(k.Value) : null;

    internal static LocationItem? LocationOf(GridNode n) => n.Location is { } l ? new LocationItem(l.Latitude, l.Longitude) : null;
}

public sealed record TemporaryLimitRequest(string? StationId, string? NodeId, DateTimeOffset? PeriodStart, DateTimeOffset? PeriodEnd, decimal? MaxKw, string? Reason);

public sealed record TemporaryLimitResponse(
    string Id, string OperatorId, string TargetId, DateTimeOffset PeriodStart, DateTimeOffset PeriodEnd, decimal MaxKw, string Reason, DateTimeOffset AnnouncedAt)
{
    public static TemporaryLimitResponse From(TemporaryLimit l) =>
        new(l.Id, l.OperatorId, l.TargetId, l.Period.Start, l.Period.End, Wire.Kw(l.MaxPower.Value), l.Reason, l.AnnouncedAt);
}

public sealed record GridOperatorsResponse(string NodeId, string ConnectingOperatorId, IReadOnlyList<string> ImpactedOperatorIds);

public sealed record ForecastPointItem(DateTimeOffset? Start, DateTimeOffset? End, decimal? ExpectedLoadKw, decimal? LimitKw);

public sealed record PutForecastRequest(IReadOnlyList<ForecastPointItem>? Points);

public sealed record ForecastPointResponse(DateTimeOffset Start, DateTimeOffset End, decimal ExpectedLoadKw, decimal LimitKw, bool Congested);

/// <summary>A transformer's forecast of one UTC day (no points and no <c>publishedAt</c> before one is published).</summary>
public sealed record ForecastResponse(string TransformerId, string Day, IReadOnlyList<ForecastPointResponse> Points, int CongestedIntervals, DateTimeOffset? PublishedAt)
{
    public static ForecastResponse From(string transformerId, DateOnly day, CongestionForecast? f) =>
        new(transformerId, day.ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture),
            f is null ? [] : f.Points.Select(p => new ForecastPointResponse(p.Start, p.End, Wire.Kw(p.ExpectedLoad.Value), Wire.Kw(p.Limit.Value), p.Congested)).ToList(),
            f?.Points.Count(p => p.Congested) ?? 0, f?.PublishedAt);
}

public sealed record StationRequest(
    string? TransformerId, string? Model, string? Country, string? City, string? Address, decimal? MaxAcKw, decimal? MaxDcKw,
    IReadOnlyList<string>? ConnectorTypes, string? MeteringPointId, bool? RealTimeMonitoring, string? Status,
    bool? DynamicConnection = null, string? BalanceResponsiblePartyId = null, int? RecoveryMinutes = null);

public sealed record BulkStationsRequest(IReadOnlyList<StationRequest>? Stations);

public sealed record QualificationReasonItem(string Rule, string Message);

/// <summary>A station's prequalification; <c>status</c> is Pending, Qualified, Failed, or Expired (a qualification past its validity).</summary>
public sealed record QualificationResponse(
    string StationId, string DsoId, string Status, IReadOnlyList<QualificationReasonItem> Reasons, DateTimeOffset CheckedAt, DateTimeOffset? ValidUntil,
    int RequirementsVersion, int StationVersion)
{
    public static QualificationResponse From(string stationId, Qualification q, DateTimeOffset now) =>
        new(stationId, q.DsoId, q.Status == QualificationStatus.Qualified && q.ValidUntil <= now ? "Expired" : q.Status.ToString(),
            q.Reasons.Select(r => new QualificationReasonItem(r.Rule, r.Message)).ToList(), q.CheckedAt, q.ValidUntil, q.RequirementsVersion, q.StationVersion);
}

public sealed record StationResponse(
    string Id, string CpoId, string TransformerId, string Model, string Country, string City, string Address, decimal MaxAcKw, decimal MaxDcKw,
    decimal MaxPowerKw, IReadOnlyList<string> ConnectorTypes, string MeteringPointId, bool RealTimeMonitoring, string Status, bool Active,
    int Version, DateTimeOffset UpdatedAt, DateTimeOffset? DeactivatedAt, QualificationResponse? Qualification, bool DynamicConnection,
    string? BalanceResponsiblePartyId, int RecoveryMinutes = 0)
{
    public static StationResponse From(ChargingStation s, DateTimeOffset now) =>
        new(s.Id, s.CpoId, s.TransformerId, s.Model, s.Country, s.City, s.Address, Wire.Kw(s.MaxAcPower.Value), Wire.Kw(s.MaxDcPower.Value), Wire.Kw(s.MaxPower.Value),
            s.Connectors, s.MeteringPointId, s.RealTimeMonitoring, s.Status.ToString(), s.Active, s.Version, s.UpdatedAt, s.DeactivatedAt,
            s.Qualification is { } q ? QualificationResponse.From(s.Id, q, now) : null, s.DynamicConnection, s.BalanceResponsibleParty, s.RecoveryMinutes);
}

/// <summary>One item of a bulk registration: its index in the request, its own HTTP status, and the station or the problem.</summary>
public sealed record BulkItemResult(int Index, int Status, StationResponse? Station, BulkItemProblem? Problem);

public sealed record BulkItemProblem(string Title, string Field, string Rule, string Detail);

/// <summary>A bulk registration's outcome (HTTP 207): every item succeeded or failed on its own.</summary>
public sealed record BulkStationsResponse(int Succeeded, int Failed, IReadOnlyList<BulkItemResult> Items);

public sealed record EvRequest(string? Model, decimal? BatteryKwh, decimal? MaxChargingKw);

public sealed record EvResponse(string Id, string CpoId, string Model, decimal BatteryKwh, decimal MaxChargingKw, bool Active, int Version,
    DateTimeOffset UpdatedAt, DateTimeOffset? DeactivatedAt)
{
    public static EvResponse From(ElectricVehicle e) =>
        new(e.Id, e.CpoId, e.Model, Wire.Kwh(e.BatteryCapacity.Value), Wire.Kw(e.MaxChargingPower.Value), e.Active, e.Version, e.UpdatedAt, e.DeactivatedAt);
}

public sealed record RequirementsRequest(IReadOnlyList<string>? TransformerIds, decimal? MinimumPowerKw, bool? MonitoringRequired, int? ValidityDays);

public sealed record RequirementsResponse(string DsoId, IReadOnlyList<string>? TransformerIds, decimal MinimumPowerKw, bool MonitoringRequired,
    int ValidityDays, int Version, DateTimeOffset UpdatedAt)
{
    public static RequirementsResponse From(PrequalificationRequirements r) =>
        new(r.DsoId, r.TransformerIds, Wire.Kw(r.MinimumPower.Value), r.MonitoringRequired, (int)r.Validity.TotalDays, r.Version, r.UpdatedAt);
}

public sealed record HoursItem(int? FromHour, int? ToHour);

public sealed record GridAnswerRequest(string? Verdict, HoursItem? AllowedHours, decimal? MaxKw, string? Justification, string? WhyNoTemporaryLimit);

public sealed record GridAnswerResponse(
    string OperatorId, string Verdict, IReadOnlyList<int>? AllowedHoursUtc, decimal? MaxKw, string? Justification, string? WhyNoTemporaryLimit, DateTimeOffset AnsweredAt)
{
    public static GridAnswerResponse From(string operatorId, GridAnswer a) =>
        new(operatorId, a.Verdict.ToString(), a.AllowedHours?.Hours, a.MaxPower is { } m ? Wire.Kw(m.Value) : null, a.Justification, a.WhyNoTemporaryLimit, a.AnsweredAt);
}

public sealed record GridCaseResponse(
    string StationId, string CpoId, string NodeId, string ConnectingOperatorId, IReadOnlyList<string> ImpactedOperatorIds, DateTimeOffset OpenedAt,
    DateTimeOffset Deadline, GridAnswerResponse? Answer)
{
    public static GridCaseResponse From(GridCase c, string? operatorId = null, GridAnswer? answer = null) =>
        new(c.StationId, c.CpoId, c.NodeId, c.ConnectingOperatorId, c.ImpactedOperatorIds, c.OpenedAt, c.Deadline,
            answer is null ? null : GridAnswerResponse.From(operatorId!, answer));
}

public sealed record GridPrequalificationResponse(
    string StationId, string Status, GridCaseResponse Case, IReadOnlyList<GridAnswerResponse> Answers, IReadOnlyList<string> RefusedBy,
    IReadOnlyList<int>? AllowedHoursUtc, decimal? MaxKw);

public sealed record GridReportResponse(string OperatorId, int Year, int Conditional, int Refused, IReadOnlyList<GridCaseResponse> Cases);

public sealed record QualificationEntryResponse(StationResponse Station, QualificationResponse Qualification);

public sealed record PostRequestRequest(
    string? TransformerId, DateTimeOffset? DeliveryStart, DateTimeOffset? DeliveryEnd, decimal? EnergyKwh, string? Direction,
    decimal? MaxPriceEurPerKwh, DateTimeOffset? GateClosure, string? Pricing, decimal? MinimumOfferKwh = null, string? Selection = null,
    DateTimeOffset? DecisionDeadline = null, VerificationRulesItem? Verification = null, ConsentItem? Consent = null, DateTimeOffset? ApprovalDeadline = null,
    string? AvailabilityId = null, IReadOnlyList<decimal>? ProfileKw = null, decimal? MinBlockKw = null);

/// <summary>
/// The DSO's EIP-712 consent to pay for the request (see README, DSO consent): <c>maxAmount</c> and <c>nonce</c> as decimal
/// strings of token units and of a 256-bit number, the <c>deadline</c> (UTC; as Unix seconds in the signed message) and the
/// 65-byte <c>signature</c> (0x hex) by the DSO's wallet.
/// </summary>
public sealed record ConsentItem(string? MaxAmount, DateTimeOffset? Deadline, string? Nonce, string? Signature);

/// <summary>
/// How a request's delivery is verified and paid; every field is optional (defaults: MeterBeforeMeterAfter over the
/// 60 minutes before the window (mbmaMinutes, 1 to 1,440), ZeroBelowThreshold, successThreshold 0.8, tolerance 0.1, x 4 of y 5).
/// </summary>
public sealed record VerificationRulesItem(
    string? Baseline = null, string? Payout = null, decimal? SuccessThreshold = null, decimal? Tolerance = null, int? MbmaMinutes = null,
    int? X = null, int? Y = null)
{
    public VerificationRules ToRules()
    {
        var d = VerificationRules.Default;
        return new VerificationRules(ValidationExtensions.ParseEnum(Baseline, d.Baseline), ValidationExtensions.ParseEnum(Payout, d.Payout),
            SuccessThreshold ?? d.SuccessThreshold, Tolerance ?? d.Tolerance, MbmaMinutes ?? d.MbmaMinutes, X ?? d.X, Y ?? d.Y);
    }
}

public sealed record VerificationRulesResponse(string Baseline, string Payout, decimal SuccessThreshold, decimal Tolerance, int MbmaMinutes, int X, int Y)
{
    public static VerificationRulesResponse From(VerificationRules r) =>
        new(r.Baseline.ToString(), r.Payout.ToString(), r.SuccessThreshold, r.Tolerance, r.MbmaMinutes, r.X, r.Y);
}

/// <summary>
/// One station's delivery over one interval: baseline, measured and delivered kWh, exact (not rounded: the totals are
/// their sums rounded once to the Wh, delivered down). <c>revised</c>: a reading used is a correction (the latest
/// revision wins); <c>missing</c>: no reading covers the interval, which delivers zero; <c>share</c>: the award's share of
/// the station's delivery there (1 unless other awards booked the station in that market interval), so delivered is
/// share x (baseline - measured) for a reduction.
/// </summary>
public sealed record IntervalDeliveryResponse(
    string StationId, DateTimeOffset Start, DateTimeOffset End, decimal BaselineKwh, decimal MeasuredKwh, decimal DeliveredKwh, bool Revised, bool Missing, decimal Share);

/// <summary>
/// One market interval of a verified award: its share of the award (<c>scheduledKwh</c>), what was delivered in it
/// (negative for a rebound), its score and whether it met the success threshold (<c>met</c>: only such intervals are
/// paid, except by score).
/// </summary>
public sealed record MarketIntervalDeliveryResponse(DateTimeOffset Start, DateTimeOffset End, decimal ScheduledKwh, decimal DeliveredKwh, decimal Score, bool Met);

/// <summary>
/// How an award's delivery was verified: the rules, per-interval inputs, totals, the score (MAESHA: 1 - discrepancy /
/// awarded, 1 within the tolerance; the award's score weighs its market intervals' by their share), the declared
/// baseline's quality factor, the payout in EUR before token rounding, the check of each market interval, and whether the
/// award's stations were shared with other awards (<c>sharingNote</c>).
/// </summary>
public sealed record VerificationDetailResponse(
    string AwardId, bool Succeeded, string Outcome, decimal Score, decimal? QualityFactor, decimal BaselineKwh, decimal MeasuredKwh, decimal DeliveredKwh, decimal PayoutEur,
    string? FailureReason, VerificationRulesResponse? Rules, IReadOnlyList<IntervalDeliveryResponse> Intervals,
    IReadOnlyList<MarketIntervalDeliveryResponse> MarketIntervals, ReboundResponse? Rebound = null, string? SharingNote = null)
{
    public static VerificationDetailResponse From(FlexChain.Domain.Verification v) =>
        new(v.AwardId, v.Succeeded, v.Outcome.ToString(), v.Score, v.QualityFactor, Wire.Kwh(v.Baseline.Value), Wire.Kwh(v.Measured.Value), Wire.Kwh(v.Delivered.Value),
            Wire.Eur(v.Payout.Value),
            v.Outcome == DeliveryOutcome.NotDelivered ? v.FailureReason : null,
            v.Rules is { } r ? VerificationRulesResponse.From(r) : null,
            (v.Intervals ?? []).Select(i => new IntervalDeliveryResponse(i.StationId, i.Interval.Start, i.Interval.End, Wire.Kwh(i.Baseline.Value), Wire.Kwh(i.Measured.Value), Wire.Kwh(i.Delivered.Value), i.Revised, i.Missing, i.Share)).ToList(),
            (v.MarketIntervals ?? []).Select(m => new MarketIntervalDeliveryResponse(m.Interval.Start, m.Interval.End, Wire.Kwh(m.Scheduled.Value), Wire.Kwh(m.Delivered.Value),
                decimal.Round(m.Score, 4, MidpointRounding.ToZero), m.Met)).ToList(),
            v.Rebound is { } b ? new ReboundResponse(b.Period.Start, b.Period.End, Wire.Kwh(b.Energy.Value), b.Complete) : null,
            v.SharingNote);
}

/// <summary>
/// The rebound after the window, in the recovery time of the award's stations (null when none rests): what they metered
/// beyond their average baseline power in the window, for the DSO to see; it is never paid against. <c>complete</c>: readings
/// covered the whole period when the award was verified.
/// </summary>
public sealed record ReboundResponse(DateTimeOffset Start, DateTimeOffset End, decimal ReboundKwh, bool Complete);

public sealed record PostOfferRequest(IReadOnlyList<string>? StationIds, decimal? EnergyKwh, decimal? PriceEurPerKwh, bool? Divisible, string? Direction = null,
    bool? ForwardToTso = null, IReadOnlyList<decimal>? ProfileKw = null);

public sealed record OfferResponse(string Id, string RequestId, string CpoId, IReadOnlyList<string> StationIds, decimal EnergyKwh,
    decimal PriceEurPerKwh, bool Divisible, DateTimeOffset SubmittedAt, int Revision, string Direction, bool ForwardToTso = false, string? ForwardedFrom = null,
    bool? SelectedElsewhere = null, IReadOnlyList<decimal>? ProfileKw = null)
{
    public static OfferResponse From(Offer o) =>
        new(o.Id, o.RequestId, o.CpoId, o.StationIds, Wire.Kwh(o.Energy.Value), Wire.EurPerKwh(o.Price.Value), o.Divisible, o.SubmittedAt, o.Revision,
            o.Direction.ToString(), o.ForwardToTso, o.ForwardedFrom, ProfileKw: Wire.Profile(o.Profile));
}

public sealed record OutcomeResponse(string OfferId, string Outcome, decimal AcceptedEnergyKwh, string? Detail, string? PoolId = null)
{
    public static OutcomeResponse From(OfferOutcome o) => new(o.OfferId, o.Kind.ToString(), Wire.Kwh(o.AcceptedEnergy.Value), o.Detail, o.PoolId);
}

public sealed record AwardResponse(string Id, string OfferId, string CpoId, IReadOnlyList<string> StationIds, decimal EnergyKwh,
    decimal PriceEurPerKwh, decimal ValueEur, AwardRecordResponse Record, string? LockTransactionHash, IReadOnlyList<decimal>? ProfileKw = null, string? PoolId = null);

/// <summary>The award as recorded on chain: its escrow id, the amounts in token units and the record's canonical hash.</summary>
public sealed record AwardRecordResponse(string AwardId, string DsoWallet, string CpoWallet, long EnergyWh, long PriceMicroEurPerKwh,
    string LockedUnits, long DeliveryStart, long DeliveryEnd, string ProfileHash, string RecordHash);

/// <summary>A profile as the records hash it (<see cref="FlexChain.Verification.ProfileRecord"/>): the energy of each interval in Wh and the intervals' length.</summary>
public sealed record ProfileRecordResponse(long IntervalSeconds, IReadOnlyList<long> EnergyWh, string ProfileHash)
{
    public static ProfileRecordResponse From(FlexChain.Verification.ProfileRecord p) => new(p.IntervalSeconds, p.EnergyWh, p.Hash().ToString());
}

/// <summary>
/// A settlement as recorded on chain: verified quantities, payout, the record's canonical hash and the transaction.
/// <c>succeeded</c> is the record's flag (at or above the success threshold); <c>outcome</c> is Delivered, PaidProRata
/// (below the threshold, paid the score's share: not a failure) or NotDelivered, and only then <c>failureReason</c> says why.
/// </summary>
public sealed record SettlementResponse(string AwardId, long AwardedWh, long BaselineWh, long MeasuredWh, long DeliveredWh,
    bool Succeeded, string Outcome, string? FailureReason, string PayoutUnits, string LockedUnits, string RecordHash, string? TransactionHash,
    VerificationDetailResponse? Verification = null);

/// <summary>A request as listed: its terms and state, without offers or results.</summary>
public sealed record RequestSummaryResponse(
    string Id, string DsoId, string TransformerId, DateTimeOffset DeliveryStart, DateTimeOffset DeliveryEnd, decimal EnergyKwh, string Direction,
    decimal MaxPriceEurPerKwh, DateTimeOffset GateClosure, string Pricing, string Selection, DateTimeOffset? DecisionDeadline, decimal? MinimumOfferKwh,
    string State, DateTimeOffset CreatedAt, DateTimeOffset? CancelledAt, IReadOnlyList<decimal>? ProfileKw = null, decimal? MinBlockKw = null)
{
    public static RequestSummaryResponse From(FlexRequest r) =>
        new(r.Id, r.DsoId, r.TransformerId, r.Delivery.Start, r.Delivery.End, Wire.Kwh(r.Energy.Value), r.Direction.ToString(), Wire.EurPerKwh(r.MaxPrice.Value), r.GateClosure,
            r.Pricing.ToString(), r.Selection.ToString(), r.DecisionDeadline, Wire.Kwh(r.MinimumOfferEnergy?.Value), r.State.ToString(), r.CreatedAt, r.CancelledAt,
            Wire.Profile(r.Profile), GridNodeResponse.KwOrNull(r.MinBlock));
}

/// <summary>
/// A request with what the caller may see of it. <c>decision</c> is the DSO's manual decision (shown to that DSO only);
/// <c>appliedSelection</c> says how the winners were chosen once the request is cleared (Manual when the DSO's
/// decision was applied, Automatic otherwise), with <c>selectionNote</c> saying why when a manual request cleared automatically.
/// <c>stateReason</c> says why a request is FundingFailed or Unpaid.
/// </summary>
public sealed record RequestResponse(
    string Id, string DsoId, string TransformerId, DateTimeOffset DeliveryStart, DateTimeOffset DeliveryEnd, decimal EnergyKwh,
    string Direction, decimal MaxPriceEurPerKwh, DateTimeOffset GateClosure, string Pricing, string Selection, DateTimeOffset? DecisionDeadline,
    decimal? MinimumOfferKwh, string State, FillResponse? Fill, DateTimeOffset CreatedAt, DateTimeOffset? CancelledAt, string? GateCycleId,
    int? OfferCount, IReadOnlyList<OfferResponse>? Offers, IReadOnlyList<OutcomeResponse>? Outcomes,
    IReadOnlyList<AwardResponse> Awards, IReadOnlyList<SettlementResponse> Settlements, ChainInfo? Chain, VerificationRulesResponse Verification,
    DecisionResponse? Decision = null, string? AppliedSelection = null, string? SelectionNote = null, string? StateReason = null, int MarketIntervalMinutes = 15,
    string Buyer = nameof(Role.Dso), DateTimeOffset? ApprovalDeadline = null, string? AvailabilityId = null, IReadOnlyList<decimal>? ProfileKw = null,
    decimal? MinBlockKw = null);

/// <summary>
/// What clearing gave a request (null before): <c>outcome</c> Filled, PartlyFilled (<c>shortfallKwh</c> not awarded) or
/// Unfilled; <c>rejections</c> counts the rejected offers per reason, shown to the request's DSO only (null for others).
/// </summary>
public sealed record FillResponse(string Outcome, decimal AwardedKwh, decimal ShortfallKwh, IReadOnlyList<RejectionCountResponse>? Rejections)
{
    public static FillResponse From(RequestFill f, bool withRejections) =>
        new(f.Kind.ToString(), Wire.Kwh(f.Awarded.Value), Wire.Kwh(f.Shortfall.Value),
            withRejections ? f.Rejections.Select(r => new RejectionCountResponse(r.Reason.ToString(), r.Count)).ToList() : null);
}

/// <summary>How many offers were rejected for one reason (an offer outcome name).</summary>
public sealed record RejectionCountResponse(string Reason, int Count);

/// <summary>One pick of a manual decision: an offer and, to take only part of a divisible offer, how much of it (kWh, at most 3 decimals); the whole offer when <c>energyKwh</c> is absent.</summary>
public sealed record OfferPickItem(string? OfferId, decimal? EnergyKwh = null);

/// <summary>The DSO's manual decision on its request: the offers it picks, each at most once.</summary>
public sealed record PutDecisionRequest(IReadOnlyList<OfferPickItem>? Picks);

/// <summary>One recorded pick; <c>energyKwh</c> is null when the whole offer was picked.</summary>
public sealed record OfferPickResponse(string OfferId, decimal? EnergyKwh);

/// <summary>The DSO's recorded decision: its picks, when it decided (UTC), and the deadline until which it may replace them.</summary>
public sealed record DecisionResponse(string RequestId, DateTimeOffset DecidedAt, DateTimeOffset? DecisionDeadline, IReadOnlyList<OfferPickResponse> Picks)
{
    public static DecisionResponse From(FlexRequest r, ManualDecision d) =>
        new(r.Id, d.DecidedAt, r.DecisionDeadline, d.Picks.Select(p => new OfferPickResponse(p.OfferId, Wire.Kwh(p.Energy?.Value))).ToList());
}

/// <summary>A pick the clearing engine would refuse: its position in the body, the offer, the reason (an outcome name) and a sentence.</summary>
public sealed record PickProblemItem(string Field, string Rule, string OfferId, string Reason, string Message);

/// <summary>Where to check the payments: chain id, escrow contract and token.</summary>
public sealed record ChainInfo(long ChainId, string SettlementContract, string Token, int TokenDecimals);

/// <summary>
/// <c>GET /v1/health</c>: <c>status</c> is <c>ok</c>, or <c>degraded</c> while the settlement chain cannot be used (the
/// API still serves; chain steps wait). <c>chain.state</c> is Connecting, Connected or Refused (the node is on another
/// chain id), with <c>chain.problem</c> saying why and, once connected, the chain's id, escrow and token; <c>chain.publicRpcUrl</c>
/// is the node the operator offers wallet holders (<c>Chain:PublicRpcUrl</c>), if any. <c>time</c> is
/// the market's clock (UTC): gate closures and deadlines are judged by it, not by the caller's clock.
/// </summary>
public sealed record HealthResponse(string Status, DateTimeOffset Time, ChainHealthResponse Chain)
{
    public static HealthResponse From(FlexChain.Functions.Settlement.ChainStatus chain, string? publicRpcUrl, DateTimeOffset now) => new(
        chain.State == FlexChain.Functions.Settlement.ChainState.Connected ? "ok" : "degraded", now,
        new ChainHealthResponse(chain.State.ToString(), chain.Problem, chain.Info?.ChainId, chain.Info?.SettlementContract, chain.Info?.Token, chain.Info?.TokenDecimals, publicRpcUrl));
}

/// <summary>The chain part of <see cref="HealthResponse"/>.</summary>
public sealed record ChainHealthResponse(string State, string? Problem, long? ChainId, string? SettlementContract, string? Token, int? TokenDecimals, string? PublicRpcUrl);
