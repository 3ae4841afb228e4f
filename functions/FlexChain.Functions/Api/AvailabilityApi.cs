using FlexChain.Domain;
using FlexChain.Functions.Auth;
using FlexChain.Functions.Gates;
using FlexChain.Functions.Settlement;
using FlexChain.Functions.Storage;
using FluentValidation;
using Microsoft.AspNetCore.Http.HttpResults;

namespace FlexChain.Functions.Api;

/// <summary>
/// Availability (DOMAIN.md section 4): a DSO buys capacity held ready over a period; CPOs offer capacity with an
/// availability and an activation price; at the gate the capacity is reserved in merit order of availability price and
/// the holders' stations are booked; with arming the DSO arms the days it will need and the others are released.
/// </summary>
public static class AvailabilityApi
{
    public static RouteGroupBuilder MapAvailabilityApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/v1/availability").WithTags("Availability").RequireAuthorization();
        group.MapPost("/", PostAvailability).Validate<PostAvailabilityRequest>().RequireAuthorization(Policies.Dso);
        group.MapGet("/{id}", GetAvailability);
        group.MapPut("/{id}/offer", PutOffer).Validate<AvailabilityOfferRequest>().RequireAuthorization(Policies.Cpo);
        group.MapPost("/{id}/arm", Arm).Validate<ArmRequest>().RequireAuthorization(Policies.Dso);
        return group;
    }

    public static async Task<Created<AvailabilityResponse>> PostAvailability(
        PostAvailabilityRequest body, HttpContext http, MarketStore store, AvailabilityPayments payments, AvailabilityGate gate, TimeProvider clock,
        CancellationToken cancellationToken)
    {
        var dso = await OffersApi.PayableParticipantAsync(http, store, cancellationToken);
        var transformer = await store.GetTransformerAsync(body.TransformerId!, cancellationToken)
            ?? throw new DomainException("transformerId", "exists", $"Transformer {body.TransformerId} is not registered.");
        if (transformer.OperatorId != dso.Id)
            throw new DomainException("transformerId", "own-transformer", "Availability is bought on your own transformers only.");
        var now = clock.GetUtcNow();
        if (body.GateClosure <= now) throw new DomainException("gateClosure", "future", "gateClosure must be in the future.");
        var terms = AvailabilityTerms.Create(transformer.Id, new TimeWindow(body.PeriodStart!.Value, body.PeriodEnd!.Value),
            Kilowatts.From(body.CapacityKw!.Value, "capacityKw"), EurosPerKilowatt.From(body.MaxAvailabilityPriceEurPerKw!.Value, "maxAvailabilityPriceEurPerKw"),
            ValidationExtensions.ParseEnum(body.Direction, Direction.ReduceConsumption), body.GateClosure!.Value, body.Arming ?? false, gate.PeriodUnit);
        var doc = new AvailabilityDocument(Ids.New("av", clock), dso.Id, terms.TransformerId, terms.Period, terms.Capacity, terms.MaxPrice,
            terms.Direction, terms.GateClosure, terms.Arming, now, Consent: RequestConsents.From(body.Consent!));
        await payments.VerifyConsentAsync(doc, dso, cancellationToken);
        await store.AddAvailabilityAsync(doc, cancellationToken);
        return TypedResults.Created($"/v1/availability/{doc.Id}", AvailabilityResponse.From(doc, http.User.ParticipantId()));
    }

    /// <summary>The terms to anyone signed in; the outcomes and every holder to its DSO; a CPO sees its own offer and holding only.</summary>
    public static async Task<Results<Ok<AvailabilityResponse>, NotFound>> GetAvailability(
        string id, HttpContext http, MarketStore store, CancellationToken cancellationToken)
    {
        if (await store.GetAvailabilityAsync(id, cancellationToken) is not { } stored) return TypedResults.NotFound();
        var caller = http.User.ParticipantId();
        var response = AvailabilityResponse.From(stored.Value, caller);
        if (http.User.Role() == Role.Cpo && await store.GetAvailabilityOfferAsync(id, caller, cancellationToken) is { } own)
            response = response with { Offer = AvailabilityOfferResponse.From(own) };
        return TypedResults.Ok(response);
    }

    /// <summary>Places or replaces the caller's offer (one per CPO) until gate closure; a replaced offer takes the time of the change.</summary>
    public static async Task<Results<Ok<AvailabilityOfferResponse>, NotFound>> PutOffer(
        string id, AvailabilityOfferRequest body, HttpContext http, MarketStore store, TimeProvider clock, CancellationToken cancellationToken)
    {
        if (await store.GetAvailabilityAsync(id, cancellationToken) is not { } stored) return TypedResults.NotFound();
        var doc = stored.Value;
        var terms = doc.Terms();
        var now = clock.GetUtcNow();
        var cpo = await OffersApi.PayableParticipantAsync(http, store, cancellationToken);
        var ids = body.StationIds!.Distinct().ToList();
        var stations = new List<ChargingStation>();
        foreach (var s in ids)
            stations.Add((await store.GetStationAsync(cpo.Id, s, cancellationToken))?.Value
                ?? throw new DomainException("stationIds", "own-station", $"Station {s} is not one of your registered stations."));
        var transformer = await store.GetTransformerAsync(doc.TransformerId, cancellationToken)
            ?? throw new InvalidOperationException($"availability request {id} names a missing transformer");
        var offer = new AvailabilityOffer("avo_" + id + "_" + cpo.Id, cpo.Id, ids, Kilowatts.From(body.CapacityKw!.Value, "capacityKw"),
            EurosPerKilowatt.From(body.AvailabilityPriceEurPerKw!.Value), EurosPerKilowattHour.From(body.ActivationPriceEurPerKwh!.Value, "activationPriceEurPerKwh"), now)
        {
            Direction = ValidationExtensions.ParseEnum(body.Direction, Direction.ReduceConsumption),
        };
        terms.AcceptOffer(offer, stations, transformer, await store.GetRequirementsAsync(transformer.OperatorId, cancellationToken), now,
            await store.GetGridRestrictionsAsync(stations, terms.Period, now, cancellationToken));
        if (!await store.TryPutAvailabilityOfferAsync(id, offer, cancellationToken))
            throw new DomainException("gateClosure", "gate-closed", $"The gate closed at {doc.GateClosure:O}; the clearing has fixed its offers.");
        return TypedResults.Ok(AvailabilityOfferResponse.From(offer));
    }

    /// <summary>
    /// Arms one day of the caller's reserved contract (the day's start, UTC midnight or the period's start), at least the
    /// arming lead (<c>Availability:ArmingLead</c>, default 2 days) before it; an unarmed day is released after that.
    /// </summary>
    public static async Task<Results<Ok<AvailabilityResponse>, NotFound>> Arm(
        string id, ArmRequest body, HttpContext http, MarketStore store, AvailabilityGate gate, TimeProvider clock, CancellationToken cancellationToken)
    {
        if (await store.GetAvailabilityAsync(id, cancellationToken) is not { } stored) return TypedResults.NotFound();
        var doc = stored.Value;
        if (doc.DsoId != http.User.ParticipantId())
            throw new DomainException("id", "own-request", "Only the DSO that bought the availability can arm it.");
        if (doc.State != AvailabilityState.Reserved)
            throw new DomainException("id", "illegal-transition", $"Only a reserved contract is armed; this one is {doc.State}.");
        var contract = doc.Contract();
        contract.Arm(body.Day!.Value, clock.GetUtcNow(), gate.ArmingLead);
        doc = doc.With(contract);
        if (!await store.TryReplaceAvailabilityAsync(doc, stored.ETag, cancellationToken))
            throw new ApiProblemException(409, "id", "concurrent-update", "The contract changed while arming; read it again.");
        return TypedResults.Ok(AvailabilityResponse.From(doc, doc.DsoId));
    }

    /// <summary>
    /// Records <paramref name="call"/> (a request naming its availability contract) on the contract, then adds it to its gate
    /// cycle; if the gate cycle refuses it (<c>lead-time</c>), the call is taken off the contract again. The contract must be
    /// the DSO's own (403 <c>own-request</c>), reserved (409 <c>illegal-transition</c>), on the same transformer and in the same
    /// direction (422 <c>call-terms</c>); the call's rules (<see cref="AvailabilityContract.Call"/>) answer 422.
    /// </summary>
    public static async Task CallAsync(FlexRequest call, MarketStore store, GateCycleRunner gate, AvailabilityGate availability, DateTimeOffset now,
        CancellationToken cancellationToken)
    {
        var stored = await store.GetAvailabilityAsync(call.AvailabilityId!, cancellationToken)
            ?? throw new DomainException("availabilityId", "exists", $"Availability contract {call.AvailabilityId} does not exist.");
        var doc = stored.Value;
        if (doc.DsoId != call.DsoId) throw new DomainException("availabilityId", "own-request", "Only the DSO that bought the availability can call it.");
        if (doc.State != AvailabilityState.Reserved)
            throw new DomainException("availabilityId", "illegal-transition", $"Only a reserved contract is called; this one is {doc.State}.");
        if (doc.TransformerId != call.TransformerId || doc.Direction != call.Direction)
            throw new DomainException("availabilityId", "call-terms", $"A call has its contract's transformer ({doc.TransformerId}) and direction ({doc.Direction}).");
        var contract = doc.Contract();
        contract.Call(call.Delivery, call.Energy, now, availability.ArmingLead);
        if (!await store.TryReplaceAvailabilityAsync(doc.With(contract) with { CallIds = [.. doc.CallIds ?? [], call.Id] }, stored.ETag, cancellationToken))
            throw new ApiProblemException(409, "availabilityId", "concurrent-update", "The contract changed while calling it (another call?); try again.");
        try
        {
            await gate.AddAsync(call, cancellationToken);
        }
        catch (DomainException)
        {
            var again = (await store.GetAvailabilityAsync(doc.Id, cancellationToken))!.Value;
            await store.TryReplaceAvailabilityAsync(again.Value with
            {
                Calls = again.Value.Calls?.Where(c => c != call.Delivery).ToList(), CallIds = again.Value.CallIds?.Where(c => c != call.Id).ToList(),
            }, again.ETag, cancellationToken);
            throw;
        }
    }

    public sealed class PostAvailabilityValidator : AbstractValidator<PostAvailabilityRequest>
    {
        public PostAvailabilityValidator(TimeProvider clock)
        {
            RuleFor(x => x.TransformerId).Id();
            RuleFor(x => x.PeriodStart).Utc().Must(t => t <= clock.GetUtcNow() + RequestsApi.Horizon)
                .WithMessage($"'Period Start' must be within {RequestsApi.Horizon.TotalDays} days from now.").WithErrorCode("horizon");
            RuleFor(x => x.PeriodEnd).Utc().GreaterThan(x => x.PeriodStart).WithMessage("'Period End' must be after 'Period Start'.");
            RuleFor(x => x.GateClosure).Utc();
            RuleFor(x => x.CapacityKw).PositiveQuantity(3, 1_000_000m);
            RuleFor(x => x.MaxAvailabilityPriceEurPerKw).PositiveQuantity(EurosPerKilowattHour.Scale, 10_000m);
            RuleFor(x => x.Direction).EnumName<PostAvailabilityRequest, Direction>();
            RuleFor(x => x.Consent).NotNull().WithMessage("'Consent' is required: the DSO's signed consent to pay the availability payments.").WithErrorCode("required");
            RuleFor(x => x.Consent!).SetValidator(new RequestsApi.ConsentValidator()).When(x => x.Consent is not null);
        }
    }

    public sealed class AvailabilityOfferValidator : AbstractValidator<AvailabilityOfferRequest>
    {
        public AvailabilityOfferValidator()
        {
            RuleFor(x => x.StationIds).NotEmpty().Must(s => s is null || s.Count <= 100).WithMessage("'Station Ids' may list at most 100 stations.").WithErrorCode("count");
            RuleForEach(x => x.StationIds).Id();
            RuleFor(x => x.CapacityKw).PositiveQuantity(3, 1_000_000m);
            RuleFor(x => x.AvailabilityPriceEurPerKw).PositiveQuantity(EurosPerKilowattHour.Scale, 10_000m);
            RuleFor(x => x.ActivationPriceEurPerKwh).PositiveQuantity(EurosPerKilowattHour.Scale, 10_000m);
            RuleFor(x => x.Direction).EnumName<AvailabilityOfferRequest, Direction>();
        }
    }

    public sealed class ArmValidator : AbstractValidator<ArmRequest>
    {
        public ArmValidator() => RuleFor(x => x.Day).NotNull().Utc();
    }
}

public sealed record PostAvailabilityRequest(
    string? TransformerId, DateTimeOffset? PeriodStart, DateTimeOffset? PeriodEnd, decimal? CapacityKw, decimal? MaxAvailabilityPriceEurPerKw,
    DateTimeOffset? GateClosure, string? Direction = null, bool? Arming = null, ConsentItem? Consent = null);

public sealed record AvailabilityOfferRequest(
    IReadOnlyList<string>? StationIds, decimal? CapacityKw, decimal? AvailabilityPriceEurPerKw, decimal? ActivationPriceEurPerKwh, string? Direction = null);

public sealed record ArmRequest(DateTimeOffset? Day);

public sealed record AvailabilityOfferResponse(
    string Id, IReadOnlyList<string> StationIds, decimal CapacityKw, decimal AvailabilityPriceEurPerKw, decimal ActivationPriceEurPerKwh,
    DateTimeOffset SubmittedAt, string Direction)
{
    public static AvailabilityOfferResponse From(AvailabilityOffer o) =>
        new(o.Id, o.StationIds, Wire.Kw(o.Capacity.Value), Wire.EurPerKwh(o.AvailabilityPrice.Value), Wire.EurPerKwh(o.ActivationPrice.Value),
            o.SubmittedAt, o.Direction.ToString());
}

public sealed record AvailabilityHolderResponse(
    string OfferId, string CpoId, IReadOnlyList<string> StationIds, decimal ReservedKw, decimal AvailabilityPriceEurPerKw,
    decimal ActivationPriceEurPerKwh, decimal AvailabilityPaymentEur, AvailabilityRecordResponse? Record, AvailabilitySettlementResponse? Settlement)
{
    public static AvailabilityHolderResponse From(AvailabilityHolder h, StoredAvailabilityRecord? record, StoredAvailabilitySettlement? settlement) =>
        new(h.OfferId, h.CpoId, h.StationIds, Wire.Kw(h.Reserved.Value), Wire.EurPerKwh(h.AvailabilityPrice.Value), Wire.EurPerKwh(h.ActivationPrice.Value),
            Wire.Eur(h.AvailabilityPayment.Value), record is null ? null : AvailabilityRecordResponse.From(record),
            settlement is null ? null : AvailabilitySettlementResponse.From(settlement));
}

/// <summary>A holder's availability record as locked in escrow, under its field names, with its hash (README, Records and their hashes).</summary>
public sealed record AvailabilityRecordResponse(
    string AwardId, string DsoWallet, string CpoWallet, long ReservedW, long AvailabilityPriceMicroEurPerKw, long ActivationPriceMicroEurPerKwh,
    string LockedUnits, long PeriodStart, long PeriodEnd, string RecordHash)
{
    /// <summary>The record's fields as hashed (wallets checksummed, EIP-55, as in award records), with its hash.</summary>
    public static AvailabilityRecordResponse From(StoredAvailabilityRecord stored)
    {
        var r = stored.ToRecord();
        return new(r.AwardId.ToString(), r.Dso.ToString(), r.Cpo.ToString(), r.ReservedW, r.AvailabilityPriceMicroEurPerKw, r.ActivationPriceMicroEurPerKwh,
            r.LockedUnits.ToString(System.Globalization.CultureInfo.InvariantCulture), r.PeriodStart, r.PeriodEnd, r.Hash().ToString());
    }
}

/// <summary>A holder's availability settlement record, with its hash (the settlementHash of its AwardSettled event).</summary>
public sealed record AvailabilitySettlementResponse(string AwardId, int CallsAwarded, int CallsFailed, string PayoutUnits, string LockedUnits, string RecordHash)
{
    public static AvailabilitySettlementResponse From(StoredAvailabilitySettlement s) =>
        new(s.AwardId, s.CallsAwarded, s.CallsFailed, s.PayoutUnits, s.LockedUnits, s.ToRecord().Hash().ToString());
}

public sealed record ReservationOutcomeResponse(string OfferId, string Outcome, decimal ReservedKw, string? Detail);

public sealed record AvailabilityResponse(
    string Id, string DsoId, string TransformerId, DateTimeOffset PeriodStart, DateTimeOffset PeriodEnd, decimal CapacityKw,
    decimal MaxAvailabilityPriceEurPerKw, string Direction, DateTimeOffset GateClosure, bool Arming, string State,
    IReadOnlyList<AvailabilityHolderResponse> Holders, IReadOnlyList<ReservationOutcomeResponse>? Outcomes, IReadOnlyList<DateTimeOffset> ArmedDays,
    IReadOnlyList<string> CallIds, IReadOnlyList<string>? LockTransactionHashes, IReadOnlyList<string>? SettleTransactionHashes, string? StateReason,
    AvailabilityOfferResponse? Offer = null)
{
    /// <summary>The document as <paramref name="caller"/> may see it: its DSO every holder and outcome, anyone else only its own holding.</summary>
    public static AvailabilityResponse From(AvailabilityDocument d, string caller)
    {
        var owner = caller == d.DsoId;
        return new(d.Id, d.DsoId, d.TransformerId, d.Period.Start, d.Period.End, Wire.Kw(d.Capacity.Value), Wire.EurPerKwh(d.MaxPrice.Value),
            d.Direction.ToString(), d.GateClosure, d.Arming, d.State.ToString(),
            (d.Holders ?? []).Select((h, i) => (h, i)).Where(x => owner || x.h.CpoId == caller)
                .Select(x => AvailabilityHolderResponse.From(x.h, d.Records?[x.i], d.Settlements?[x.i])).ToList(),
            owner ? d.Outcomes?.Select(o => new ReservationOutcomeResponse(o.OfferId, o.Kind.ToString(), Wire.Kw(o.Reserved.Value), o.Detail)).ToList() : null,
            d.ArmedDays ?? [], owner ? d.CallIds ?? [] : [], d.LockTransactions, d.SettleTransactions, d.StateReason);
    }
}
