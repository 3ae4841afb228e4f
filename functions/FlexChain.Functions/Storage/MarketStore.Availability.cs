using Azure;
using Azure.Data.Tables;
using FlexChain.Domain;
using FlexChain.Storage;

namespace FlexChain.Functions.Storage;

/// <summary>Where an availability request stands. Numbers are stable; names go on the wire.</summary>
public enum AvailabilityState
{
    /// <summary>Taking offers until gate closure.</summary>
    Open = 1,

    /// <summary>Cleared with holders: their capacity is reserved (booked) for the period.</summary>
    Reserved = 2,

    /// <summary>Cleared without any holder.</summary>
    Unfilled = 3,

    /// <summary>Reserved, but the escrow could not draw the availability payments from the DSO (see the reason); the bookings are released.</summary>
    FundingFailed = 4,

    /// <summary>The availability payments are settled on chain (each holder paid by the availability payment rule, the rest refunded).</summary>
    Settled = 5,
}

/// <summary>The snapshot of one holder's availability record as locked in escrow (<see cref="FlexChain.Verification.AvailabilityRecord"/>), stored before the lock.</summary>
public sealed record StoredAvailabilityRecord(
    string OfferId, string AwardId, string Dso, string Cpo, long ReservedW, long AvailabilityPriceMicroEurPerKw, long ActivationPriceMicroEurPerKwh,
    string LockedUnits, long PeriodStart, long PeriodEnd)
{
    public FlexChain.Verification.AvailabilityRecord ToRecord() => new(
        FlexChain.Ethereum.Hash32.Parse(AwardId), FlexChain.Ethereum.EthAddress.Parse(Dso), FlexChain.Ethereum.EthAddress.Parse(Cpo), ReservedW,
        AvailabilityPriceMicroEurPerKw, ActivationPriceMicroEurPerKwh, System.Numerics.BigInteger.Parse(LockedUnits, System.Globalization.CultureInfo.InvariantCulture),
        PeriodStart, PeriodEnd);
}

/// <summary>The snapshot of one holder's availability settlement (<see cref="FlexChain.Verification.AvailabilitySettlementRecord"/>), stored before the settlement.</summary>
public sealed record StoredAvailabilitySettlement(string AwardId, int CallsAwarded, int CallsFailed, string PayoutUnits, string LockedUnits)
{
    public FlexChain.Verification.AvailabilitySettlementRecord ToRecord() => new(
        FlexChain.Ethereum.Hash32.Parse(AwardId), CallsAwarded, CallsFailed,
        System.Numerics.BigInteger.Parse(PayoutUnits, System.Globalization.CultureInfo.InvariantCulture),
        System.Numerics.BigInteger.Parse(LockedUnits, System.Globalization.CultureInfo.InvariantCulture));
}

/// <summary>
/// An availability request as stored: its terms, and after its gate the holders, every offer's outcome, armed days and
/// calls; once locked the transactions of its escrow batches (<see cref="LockTransactions"/>, null until the lock step
/// ran) and once settled theirs (<see cref="SettleTransactions"/>).
/// </summary>
public sealed record AvailabilityDocument(
    string Id, string DsoId, string TransformerId, TimeWindow Period, Kilowatts Capacity, EurosPerKilowatt MaxPrice, Direction Direction,
    DateTimeOffset GateClosure, bool Arming, DateTimeOffset CreatedAt, AvailabilityState State = AvailabilityState.Open,
    IReadOnlyList<AvailabilityHolder>? Holders = null, IReadOnlyList<ReservationOutcome>? Outcomes = null,
    IReadOnlyList<DateTimeOffset>? ArmedDays = null, IReadOnlyList<TimeWindow>? Calls = null, FundingConsent? Consent = null,
    IReadOnlyList<string>? CallIds = null, IReadOnlyList<StoredAvailabilityRecord>? Records = null, IReadOnlyList<string>? LockTransactions = null,
    IReadOnlyList<StoredAvailabilitySettlement>? Settlements = null, IReadOnlyList<string>? SettleTransactions = null, string? StateReason = null)
{
    public AvailabilityTerms Terms() => AvailabilityTerms.Restore(TransformerId, Period, Capacity, MaxPrice, Direction, GateClosure, Arming);

    public AvailabilityContract Contract() => new(Id, DsoId, Terms(), Holders ?? [], ArmedDays, Calls);

    /// <summary>This document with the contract's armed days and calls.</summary>
    public AvailabilityDocument With(AvailabilityContract contract) => this with { ArmedDays = [.. contract.ArmedDays], Calls = [.. contract.Calls] };

    /// <summary>The availability request a cycle id names (its bookings' and escrow batches' <see cref="Gates.AvailabilityGate.CycleIdOf"/>), or null for a gate cycle's id.</summary>
    public static string? IdOfCycle(string cycleId) =>
        cycleId.StartsWith(Gates.AvailabilityGate.CycleIdOf(""), StringComparison.Ordinal) ? cycleId[Gates.AvailabilityGate.CycleIdOf("").Length..] : null;
}

// ---- availability: table availability, one partition per availability request ----
// RowKey "doc" the document, "fence" present while offers are taken, "offer_{cpoId}" each CPO's offer (one per CPO).
// Table availabilitydue: partition "due" rows "{gateClosureTicks}_{id}" until the request is cleared, partition "active"
// one row per reserved contract until it is settled or unfunded (arming, the escrow lock and settlement run every tick).
public sealed partial class MarketStore
{
    private const string AvailabilityFence = "fence";
    private const string AvailabilityDuePartition = "due";
    private const string AvailabilityActivePartition = "active";

    private TableClient Availability => service.GetTableClient("availability");
    private TableClient AvailabilityDue => service.GetTableClient("availabilitydue");

    /// <summary>Stores a new availability request, its offer fence and its place in the gate schedule (the schedule first: a row without request is skipped).</summary>
    public async Task AddAvailabilityAsync(AvailabilityDocument doc, CancellationToken cancellationToken)
    {
        await AvailabilityDue.UpsertEntityAsync(new TableEntity(AvailabilityDuePartition, DueRow(doc)), TableUpdateMode.Replace, cancellationToken);
        await Availability.SubmitCheckedTransactionAsync(
            [new(TableTransactionActionType.Add, await DocumentEntityAsync(Availability, doc.Id, Doc, doc, cancellationToken)),
             new(TableTransactionActionType.Add, new TableEntity(doc.Id, AvailabilityFence))],
            cancellationToken);
    }

    public Task<Stored<AvailabilityDocument>?> GetAvailabilityAsync(string id, CancellationToken cancellationToken) =>
        GetAsync<AvailabilityDocument>(Availability, id, Doc, cancellationToken);

    /// <summary>Replaces the document if unchanged since <paramref name="etag"/>; false when it changed meanwhile.</summary>
    public async Task<bool> TryReplaceAvailabilityAsync(AvailabilityDocument doc, ETag etag, CancellationToken cancellationToken)
    {
        try
        {
            // A contract with many holders and outcomes may outgrow a table property: its JSON then goes to a blob.
            await Availability.UpdateEntityAsync(await DocumentEntityAsync(Availability, doc.Id, Doc, doc, cancellationToken), etag, TableUpdateMode.Replace, cancellationToken);
            return true;
        }
        catch (RequestFailedException e) when (e.Status == 412)
        {
            return false;
        }
    }

    /// <summary>Adds or replaces the CPO's offer while the offer fence stands; false when the gate has closed it.</summary>
    public async Task<bool> TryPutAvailabilityOfferAsync(string id, AvailabilityOffer offer, CancellationToken cancellationToken)
    {
        try
        {
            await Availability.SubmitCheckedTransactionAsync(
                [new(TableTransactionActionType.UpdateMerge, new TableEntity(id, AvailabilityFence), ETag.All),
                 new(TableTransactionActionType.UpsertReplace, ToEntity(id, "offer_" + offer.CpoId, offer))], cancellationToken);
            return true;
        }
        catch (TableTransactionFailedException e) when (e.FailedTransactionActionIndex == 0 && e.Status == 404)
        {
            return false;
        }
    }

    /// <summary>Closes the offer fence: every offer write acknowledged before is read by clearing, none after is accepted.</summary>
    public async Task CloseAvailabilityFenceAsync(string id, CancellationToken cancellationToken) =>
        await Availability.DeleteEntityAsync(id, AvailabilityFence, ETag.All, cancellationToken);

    public async Task<AvailabilityOffer?> GetAvailabilityOfferAsync(string id, string cpoId, CancellationToken cancellationToken) =>
        (await GetAsync<AvailabilityOffer>(Availability, id, "offer_" + cpoId, cancellationToken))?.Value;

    public Task<List<AvailabilityOffer>> GetAvailabilityOffersAsync(string id, CancellationToken cancellationToken) =>
        QueryAsync<AvailabilityOffer>(Availability, TableClient.CreateQueryFilter($"PartitionKey eq {id} and RowKey ge 'offer_' and RowKey lt 'offer`'"), cancellationToken);

    /// <summary>The availability requests whose gate closed at or before <paramref name="now"/> and that are not cleared yet.</summary>
    public async Task<IReadOnlyList<string>> DueAvailabilityAsync(DateTimeOffset now, CancellationToken cancellationToken)
    {
        var ids = new List<string>();
        var filter = TableClient.CreateQueryFilter($"PartitionKey eq {AvailabilityDuePartition} and RowKey le {Ticks(now) + "_~"}");
        await foreach (var e in AvailabilityDue.QueryAsync<TableEntity>(filter, select: ["RowKey"], cancellationToken: cancellationToken))
            ids.Add(e.RowKey[(e.RowKey.IndexOf('_', StringComparison.Ordinal) + 1)..]);
        return ids;
    }

    /// <summary>Marks the request cleared: out of the gate schedule, and when reserved watched (arming, escrow) until it ends.</summary>
    public async Task AvailabilityClearedAsync(AvailabilityDocument doc, CancellationToken cancellationToken)
    {
        if (doc.State == AvailabilityState.Reserved)
            await AvailabilityDue.UpsertEntityAsync(new TableEntity(AvailabilityActivePartition, doc.Id), TableUpdateMode.Replace, cancellationToken);
        await AvailabilityDue.DeleteEntityAsync(AvailabilityDuePartition, DueRow(doc), ETag.All, cancellationToken);
    }

    /// <summary>The reserved contracts not ended yet (settled or unfunded).</summary>
    public async Task<IReadOnlyList<string>> ActiveAvailabilityAsync(CancellationToken cancellationToken)
    {
        var ids = new List<string>();
        await foreach (var e in AvailabilityDue.QueryAsync<TableEntity>(TableClient.CreateQueryFilter($"PartitionKey eq {AvailabilityActivePartition}"), select: ["RowKey"],
                           cancellationToken: cancellationToken))
            ids.Add(e.RowKey);
        return ids;
    }

    public async Task AvailabilityEndedAsync(string id, CancellationToken cancellationToken) =>
        await AvailabilityDue.DeleteEntityAsync(AvailabilityActivePartition, id, ETag.All, cancellationToken);

    /// <summary>Removes <paramref name="bookings"/> (a released availability day's); one already gone is no error.</summary>
    public async Task ReleaseBookingsAsync(IEnumerable<StationBooking> bookings, CancellationToken cancellationToken) =>
        await Parallel.ForEachAsync(bookings, InParallel(cancellationToken), async (b, ct) =>
            await Bookings.DeleteEntityAsync(BookingPartition(b.StationId), BookingRow(b), ETag.All, ct));

    private static string DueRow(AvailabilityDocument doc) => Ticks(doc.GateClosure) + "_" + doc.Id;
}
