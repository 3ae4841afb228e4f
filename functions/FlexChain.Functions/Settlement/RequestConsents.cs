using System.Globalization;
using System.Numerics;
using FlexChain.Domain;
using FlexChain.Ethereum;
using FlexChain.Functions.Api;
using FlexChain.Verification;

namespace FlexChain.Functions.Settlement;

/// <summary>
/// A DSO's consent to pay for its request (<see cref="DsoConsent"/>): checked when the request is posted (signature by
/// the DSO's wallet over this request's terms, enough authorised for the request's most costly outcome, a deadline
/// not before delivery starts, a nonce no lock drew on, and the allowance and balance the escrow will draw from), and
/// drawn on when the request's awards are locked (an allowance: a request whose awards span several escrow batches
/// draws on its one consent in each, never past its maximum in total).
/// </summary>
public static class RequestConsents
{
    /// <summary>The stored form of the posted consent (its fields are checked by the request validator).</summary>
    public static FundingConsent From(ConsentItem body)
    {
        ArgumentNullException.ThrowIfNull(body);
        return new(body.MaxAmount!, body.Deadline!.Value, body.Nonce!, body.Signature!);
    }

    /// <summary>The terms of <paramref name="request"/> its DSO's consent binds (their hash is the consent's request hash).</summary>
    public static RequestTerms Terms(FlexRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        var v = request.Verification;
        return new(request.TransformerId, request.Delivery.Start.ToUnixTimeSeconds(), request.Delivery.End.ToUnixTimeSeconds(),
            request.Energy.WattHours, Micro(request.MaxPrice.Value), request.GateClosure.ToUnixTimeSeconds(), request.Direction.ToString(),
            request.Pricing.ToString(), request.MinimumOfferEnergy?.WattHours ?? 0, request.Selection.ToString(),
            request.DecisionDeadline?.ToUnixTimeSeconds() ?? 0, v.Baseline.ToString(), v.Payout.ToString(), Micro(v.SuccessThreshold),
            Micro(v.Tolerance), v.MbmaMinutes, v.X, v.Y,
            request.Profile is null ? null : RequestRecords.Profile(request.Profile, request.Interval, request.Delivery, request.Energy).Hash(),
            request.AvailabilityId ?? "");
    }

    /// <summary>Millionths, truncated (micro-euros per kWh, parts per million).</summary>
    private static long Micro(decimal value) => checked((long)(value * 1_000_000m));

    /// <summary>The signed consent of <paramref name="request"/>, as the escrow checks it.</summary>
    /// <exception cref="InvalidOperationException">The request was stored without a consent.</exception>
    public static DsoConsent Of(FlexRequest request)
    {
        var c = request.Consent ?? throw new InvalidOperationException($"request {request.Id} has no DSO consent to draw on");
        return new(Terms(request).Hash(), BigInteger.Parse(c.MaxAmount, NumberStyles.None, CultureInfo.InvariantCulture), c.Deadline.ToUnixTimeSeconds(),
            BigInteger.Parse(c.Nonce, NumberStyles.None, CultureInfo.InvariantCulture), c.Signature);
    }

    /// <summary>The most the request can cost (energy x price cap), in token units: what the escrow may draw for it.</summary>
    public static BigInteger MostCost(FlexRequest request, int tokenDecimals) => (request.Energy * request.MaxPrice).ToTokenUnits(tokenDecimals);

    /// <summary>
    /// Checks <paramref name="request"/>'s consent against its DSO's wallet and the chain. Each failure is a 422 on field
    /// <c>consent</c> naming its rule: <c>consent-signature</c>, <c>consent-amount</c>, <c>consent-deadline</c>,
    /// <c>consent-nonce</c>, <c>allowance</c>, <c>balance</c>.
    /// </summary>
    /// <exception cref="DomainException">The consent does not let the escrow fund the request.</exception>
    public static Task VerifyAsync(FlexRequest request, Participant dso, SettlementLedger ledger, CancellationToken cancellationToken) =>
        VerifyAsync(Of(request), request.Consent!.Deadline, request.Delivery.Start, "deliveryStart", "energyKwh x maxPriceEurPerKwh",
            MostCost(request, ledger.Info.TokenDecimals), dso, ledger, cancellationToken);

    /// <summary>
    /// Checks a consent of <paramref name="dso"/> over a hash of terms (a request's or an availability request's) that can
    /// cost up to <paramref name="cost"/> token units (<paramref name="costName"/> in messages) and is locked before
    /// <paramref name="startsAt"/> (<paramref name="startName"/>); the rules are those of <see cref="VerifyAsync(FlexRequest, Participant, SettlementLedger, CancellationToken)"/>.
    /// </summary>
    public static async Task VerifyAsync(DsoConsent consent, DateTimeOffset deadline, DateTimeOffset startsAt, string startName, string costName, BigInteger cost,
        Participant dso, SettlementLedger ledger, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(consent);
        ArgumentNullException.ThrowIfNull(dso);
        ArgumentNullException.ThrowIfNull(ledger);
        var info = ledger.Info;
        var wallet = EthAddress.Parse(dso.Wallet.Value);
        if (consent.Signer(info.ChainId, ledger.Chain.Escrow) != wallet)
            throw new DomainException("consent", "consent-signature",
                $"The consent must be signed by your wallet {wallet} (EIP-712, domain FlexSettlement version 1, chain {info.ChainId}, escrow {info.SettlementContract}) " +
                $"over this request's hash {consent.RequestHash}.");
        if (consent.MaxAmount < cost)
            throw new DomainException("consent", "consent-amount", $"maxAmount must be at least {costName} = {cost} token units.");
        if (deadline < startsAt)
            throw new DomainException("consent", "consent-deadline", $"The consent's deadline must not be before {startName} ({startsAt:O}): the payments are locked before it.");
        if (await ledger.ConsentDrawnAsync(wallet, consent.Nonce, cancellationToken) > 0)
            throw new DomainException("consent", "consent-nonce", $"Nonce {consent.Nonce} was already drawn on by a lock: sign with a new nonce.");
        var (allowance, balance) = await ledger.FundingOfAsync(wallet, cancellationToken);
        if (allowance < cost)
            throw new DomainException("consent", "allowance", $"Your wallet allows the escrow {info.SettlementContract} {allowance} token units; approve at least {cost}.");
        if (balance < cost)
            throw new DomainException("consent", "balance", $"Your wallet holds {balance} token units; the request can cost up to {cost}.");
    }

    /// <summary>The consents a batch's lock draws on: per request of the batch, its consent and the sum of its awards' locked amounts there.</summary>
    public static List<CycleConsent> Draws(IReadOnlyList<string> requestIdsByPosition, IReadOnlyList<AwardRecord> records, IReadOnlyDictionary<string, FlexRequest> requests)
    {
        ArgumentNullException.ThrowIfNull(requestIdsByPosition);
        ArgumentNullException.ThrowIfNull(records);
        ArgumentNullException.ThrowIfNull(requests);
        return requestIdsByPosition.Select((id, position) => (id, records[position].LockedUnits))
            .GroupBy(x => x.id, StringComparer.Ordinal)
            .Select(g => Of(requests[g.Key]).Draw(g.Aggregate(BigInteger.Zero, (sum, x) => sum + x.LockedUnits)))
            .ToList();
    }
}
