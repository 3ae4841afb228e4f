namespace FlexChain.Domain;

/// <summary>What a participant may do in the market. Numbers are stable; names go on the wire.</summary>
public enum Role
{
    Dso = 1,
    Cpo = 2,
    Operator = 3,
}

/// <summary>A registered market participant.</summary>
public sealed record Participant(string Id, Role Role, string LegalName, string Contact, WalletAddress Wallet, DateTimeOffset RegisteredAt);

/// <summary>A DSO's MV/LV transformer (a grid node where congestion is managed).</summary>
public sealed record Transformer(string Id, string DsoId, string Name, Kilowatts RatedPower);

/// <summary>A CPO's charging station, connected behind one transformer.</summary>
public sealed record ChargingStation(
    string Id, string CpoId, string TransformerId, Kilowatts MaxPower, string MeteringPointId, bool RealTimeMonitoring)
{
    /// <summary>The Italian pilot's hard requirements: real-time monitoring and enough power (DOMAIN.md section 2).</summary>
    public bool QualifiesFor(Transformer transformer, Kilowatts minimumPower) =>
        TransformerId == transformer.Id && RealTimeMonitoring && MaxPower.Value >= minimumPower.Value;
}

/// <summary>Which way the DSO needs consumption to move.</summary>
public enum Direction
{
    ReduceConsumption = 1,
    IncreaseConsumption = 2,
}

/// <summary>How accepted offers are priced (DOMAIN.md section 4).</summary>
public enum PricingRule
{
    /// <summary>Each winner is paid its own price.</summary>
    PayAsBid = 1,

    /// <summary>Every winner is paid the price of the last (most expensive) accepted offer.</summary>
    PayAsClear = 2,
}

/// <summary>A CPO's sealed offer on one request. One per CPO per request.</summary>
public sealed record Offer(
    string Id, string RequestId, string CpoId, IReadOnlyList<string> StationIds, KilowattHours Energy,
    EurosPerKilowattHour Price, bool Divisible, DateTimeOffset SubmittedAt);

/// <summary>An accepted (part of an) offer: what the CPO must deliver and what it is paid per kWh.</summary>
public sealed record Award(string Id, string OfferId, string CpoId, IReadOnlyList<string> StationIds, KilowattHours Energy, EurosPerKilowattHour Price)
{
    /// <summary>The most the CPO can earn: full delivery at the awarded price.</summary>
    public Euros Value => Energy * Price;

    /// <summary>The deterministic award id: one per request and offer, so retries never create a second award.</summary>
    public static string IdFor(string requestId, string offerId) => $"{requestId}/{offerId}";
}
