using FlexChain.Domain;
using FlexChain.Functions.Hosting;
using FlexChain.Functions.Storage;
using Microsoft.Extensions.Options;

namespace FlexChain.Functions.Gates;

/// <summary>Settings of availability contracts (section <c>Availability</c>).</summary>
public sealed class AvailabilityOptions
{
    /// <summary>How long before a day starts its DSO must arm it (Norway: about two days); an unarmed day is then released.</summary>
    [System.ComponentModel.DataAnnotations.Range(typeof(TimeSpan), "00:00:00", "14.00:00:00")]
    public TimeSpan ArmingLead { get; set; } = TimeSpan.FromDays(2);

    /// <summary>
    /// The unit an availability period starts and ends on: whole UTC hours (the product); <c>scripts/run</c> sets a minute so
    /// that its demo buys, calls and settles availability in minutes.
    /// </summary>
    [System.ComponentModel.DataAnnotations.Range(typeof(TimeSpan), "00:01:00", "1.00:00:00")]
    public TimeSpan PeriodUnit { get; set; } = AvailabilityTerms.HourUnit;
}

/// <summary>
/// Clears availability requests at their gate and releases unarmed days, on every gate tick (<c>functions/GateTick</c>).
/// Clearing closes the offer fence, reads the offers and the bookings of their stations, reserves in merit order
/// (<see cref="AvailabilityReservation.Reserve"/>), stores the result and books the holders' stations for every day of
/// the period, under the market's clearing lease like a gate cycle (it reads the bookings before writing its own). A
/// retry after a crash finds the stored result and only books again (upserts: the same rows).
/// </summary>
public sealed partial class AvailabilityGate(
    MarketStore store, Azure.Storage.Blobs.BlobServiceClient blobs, Settlement.AvailabilityPayments payments, IOptions<AvailabilityOptions> options,
    ILogger<AvailabilityGate> log)
{
    /// <summary>The arming lead in force.</summary>
    public TimeSpan ArmingLead => options.Value.ArmingLead;

    /// <summary>The period unit in force (<see cref="AvailabilityOptions.PeriodUnit"/>).</summary>
    public TimeSpan PeriodUnit => options.Value.PeriodUnit;

    /// <summary>
    /// Clears every due availability request, then advances every reserved contract (arming, escrow lock, settlement);
    /// returns how many it cleared. A failure of one request or contract is logged and retried on the next tick.
    /// </summary>
    public async Task<int> TickAsync(DateTimeOffset now, CancellationToken cancellationToken)
    {
        var due = await store.DueAvailabilityAsync(now, cancellationToken);
        foreach (var id in due)
        {
            try
            {
                await ClearAsync(id, now, cancellationToken);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                LogNotCleared(e, id);
            }
        }
        foreach (var id in await store.ActiveAvailabilityAsync(cancellationToken))
        {
            try
            {
                await AdvanceAsync(id, now, cancellationToken);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                // One contract's failure (storage, the chain, a lost lease) must not hold up the others; it is retried next tick.
                LogNotAdvanced(e, id);
            }
        }
        return due.Count;
    }

    /// <summary>
    /// One tick of a reserved contract: releases the days not armed in time, locks the availability payments, settles them
    /// once due; a contract its DSO cannot fund releases all its bookings. Ends the watch when settled or unfunded.
    /// </summary>
    private async Task AdvanceAsync(string id, DateTimeOffset now, CancellationToken cancellationToken)
    {
        if (await store.GetAvailabilityAsync(id, cancellationToken) is not { } stored) return;
        var contract = stored.Value.Contract();
        await store.ReleaseBookingsAsync(contract.Released(now, ArmingLead), cancellationToken);
        var doc = stored.Value;
        if (doc.State == AvailabilityState.Reserved && doc.LockTransactions is null)
            doc = await payments.LockAsync(stored, cancellationToken) ?? doc;
        else if (doc.State == AvailabilityState.Reserved)
            doc = await payments.SettleIfDueAsync(stored, now, cancellationToken) ?? doc;
        if (doc.State == AvailabilityState.FundingFailed) await store.ReleaseBookingsAsync(contract.Bookings(now, ArmingLead), cancellationToken);
        if (doc.State is AvailabilityState.FundingFailed or AvailabilityState.Settled) await store.AvailabilityEndedAsync(id, cancellationToken);
    }

    private async Task ClearAsync(string id, DateTimeOffset now, CancellationToken cancellationToken)
    {
        if (await store.GetAvailabilityAsync(id, cancellationToken) is not { } stored) return;
        var doc = stored.Value;
        if (doc.State == AvailabilityState.Open)
        {
            await using var lease = await ExclusiveLease.AcquireAsync(blobs, GateCycleRunner.ClearingLease, null, ExclusiveLease.MinDuration,
                TimeSpan.FromMinutes(2), log, cancellationToken);
            // A gate cycle that died before booking its plan left its id on the lease; its retry books it first.
            if (await lease.ReadNoteAsync(cancellationToken) is { } unbooked)
                throw new InvalidOperationException($"gate cycle {unbooked}'s plan is not booked yet");
            await store.CloseAvailabilityFenceAsync(id, cancellationToken);
            var offers = await store.GetAvailabilityOffersAsync(id, cancellationToken);
            var terms = doc.Terms();
            var taken = await store.GetBookingsAsync(offers.SelectMany(o => o.StationIds), terms.Period, CycleIdOf(id), cancellationToken);
            var reservation = AvailabilityReservation.Reserve(terms, offers, taken, await IneligibleAsync(doc, terms, offers, cancellationToken));
            doc = doc with
            {
                State = reservation.Holders.Count == 0 ? AvailabilityState.Unfilled : AvailabilityState.Reserved,
                Holders = reservation.Holders, Outcomes = reservation.Outcomes,
            };
            // Booked before the result is stored, so no later clearing can miss a reservation; a crash in between clears again.
            await lease.EnsureHeldAsync(cancellationToken);
            await store.BookAsync(CycleIdOf(id), doc.Contract().Bookings(now, ArmingLead), cancellationToken);
            if (!await store.TryReplaceAvailabilityAsync(doc, stored.ETag, cancellationToken))
                throw new InvalidOperationException($"availability request {id} changed while it was cleared; the next tick clears it again");
        }
        else
        {
            await store.BookAsync(CycleIdOf(id), doc.Contract().Bookings(now, ArmingLead), cancellationToken);
        }
        await store.AvailabilityClearedAsync(doc, cancellationToken);
    }

    /// <summary>The bookings' cycle id of an availability request: its own bookings are never taken against it.</summary>
    public static string CycleIdOf(string availabilityId) => "availability:" + availabilityId;

    /// <summary>
    /// Why offers may not hold capacity at the gate, by offer id (<see cref="AvailabilityTerms.Problem"/> at gate closure):
    /// their stations as they are now (active, behind the transformer, qualified with its DSO) and what the grid operators
    /// allow them over the period (grid prequalification, temporary limits, grid state), as at an offer.
    /// </summary>
    private async Task<IReadOnlyDictionary<string, QualificationReason>> IneligibleAsync(AvailabilityDocument doc, AvailabilityTerms terms,
        IReadOnlyList<AvailabilityOffer> offers, CancellationToken cancellationToken)
    {
        var transformer = await store.GetTransformerAsync(doc.TransformerId, cancellationToken)
            ?? throw new InvalidOperationException($"availability request {doc.Id} names a missing transformer");
        var requirements = await store.GetRequirementsAsync(transformer.OperatorId, cancellationToken);
        var ineligible = new Dictionary<string, QualificationReason>(StringComparer.Ordinal);
        var stations = new Dictionary<string, List<ChargingStation>>(StringComparer.Ordinal);
        foreach (var o in offers)
        {
            stations[o.Id] = [];
            foreach (var s in o.StationIds)
                if (await store.GetStationAsync(o.CpoId, s, cancellationToken) is { } station) stations[o.Id].Add(station.Value);
                else ineligible.TryAdd(o.Id, new("own-station", $"Station {s} is no longer registered."));
        }
        var grid = await store.GetGridRestrictionsAsync(stations.Values.SelectMany(s => s).DistinctBy(s => s.Id), terms.Period, doc.GateClosure, cancellationToken);
        foreach (var o in offers)
            if (!ineligible.ContainsKey(o.Id) && terms.Problem(o, stations[o.Id], transformer, requirements, doc.GateClosure, grid) is { } problem)
                ineligible[o.Id] = problem;
        return ineligible;
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Availability request {Id} was not cleared on this tick; the next tick tries again")]
    private partial void LogNotCleared(Exception exception, string id);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Availability contract {Id} did not advance on this tick; the next tick tries again")]
    private partial void LogNotAdvanced(Exception exception, string id);
}
