namespace FlexChain.Domain;

/// <summary>
/// Exact conversions between the decimal quantities and the integers the engine works in: watt-hours,
/// 0.0001 EUR per kWh ("price units") and, for the canonical form, micro-EUR per kWh.
/// </summary>
internal static class Units
{
    public const int EnergyScale = KilowattHours.Scale;
    public const int PriceScale = EurosPerKilowattHour.Scale;

    private static readonly ulong[] Pow10 =
    [
        1, 10, 100, 1_000, 10_000, 100_000, 1_000_000, 10_000_000, 100_000_000, 1_000_000_000, 10_000_000_000,
        100_000_000_000, 1_000_000_000_000, 10_000_000_000_000, 100_000_000_000_000, 1_000_000_000_000_000,
        10_000_000_000_000_000, 100_000_000_000_000_000, 1_000_000_000_000_000_000, 10_000_000_000_000_000_000,
    ];

    /// <summary>
    /// <paramref name="value"/> x 10^<paramref name="scale"/> when that is a whole number that fits a long. Reads the
    /// decimal's bits instead of multiplying, because this runs once per offer and decimal arithmetic is slow.
    /// </summary>
    public static bool TryScaled(decimal value, int scale, out long units)
    {
        units = 0;
        Span<int> bits = stackalloc int[4];
        decimal.GetBits(value, bits);
        if (bits[2] != 0) return false; // mantissa above 2^64: far outside any quantity we clear
        var mantissa = unchecked((uint)bits[0] | ((ulong)(uint)bits[1] << 32));
        var digits = (bits[3] >> 16) & 0xFF;
        if (digits > scale)
        {
            var shift = digits - scale;
            if (shift >= Pow10.Length) return mantissa == 0;
            if (mantissa % Pow10[shift] != 0) return false;
            mantissa /= Pow10[shift];
        }
        else if (digits < scale)
        {
            var factor = Pow10[scale - digits];
            if (mantissa > long.MaxValue / factor) return false;
            mantissa *= factor;
        }
        if (mantissa > long.MaxValue) return false;
        units = bits[3] < 0 ? -(long)mantissa : (long)mantissa;
        return true;
    }

    /// <summary>Whole watt-hours of <paramref name="energy"/>.</summary>
    /// <exception cref="DomainException">The energy is finer than 1 Wh.</exception>
    public static long WattHours(KilowattHours energy, string field) =>
        TryScaled(energy.Value, EnergyScale, out var wh) ? wh
            : throw new DomainException(field, "precision", $"{field} must be a whole number of watt-hours.");

    /// <summary>Whole 0.0001 EUR/kWh units of <paramref name="price"/>.</summary>
    /// <exception cref="DomainException">The price has more than 4 decimals.</exception>
    public static long PriceUnits(EurosPerKilowattHour price, string field) =>
        TryScaled(price.Value, PriceScale, out var units) ? units
            : throw new DomainException(field, "precision", $"{field} has more than {PriceScale} decimals of EUR/kWh.");

    /// <summary>Watt-hours as kWh with exactly 3 decimals, built from bits (no decimal division).</summary>
    public static KilowattHours Kwh(long wh)
    {
        var magnitude = wh < 0 ? unchecked((ulong)-wh) : (ulong)wh;
        return new(new decimal(unchecked((int)magnitude), unchecked((int)(magnitude >> 32)), 0, wh < 0, EnergyScale));
    }
}

/// <summary>How an accepted offer is priced: a small strategy per <see cref="PricingRule"/>.</summary>
internal interface IPricingStrategy
{
    /// <summary>The price paid for an accepted offer bidding <paramref name="own"/>, when the highest accepted bid is <paramref name="clearing"/>.</summary>
    EurosPerKilowattHour PriceFor(EurosPerKilowattHour own, EurosPerKilowattHour clearing);
}

internal sealed class PayAsBid : IPricingStrategy
{
    public static readonly PayAsBid Instance = new();

    public EurosPerKilowattHour PriceFor(EurosPerKilowattHour own, EurosPerKilowattHour clearing) => own;
}

internal sealed class PayAsClear : IPricingStrategy
{
    public static readonly PayAsClear Instance = new();

    public EurosPerKilowattHour PriceFor(EurosPerKilowattHour own, EurosPerKilowattHour clearing) => clearing;
}

internal static class PricingStrategies
{
    public static IPricingStrategy For(PricingRule rule) => rule switch
    {
        PricingRule.PayAsBid => PayAsBid.Instance,
        PricingRule.PayAsClear => PayAsClear.Instance,
        _ => throw new DomainException("pricing", "pricing-rule", $"Unknown pricing rule {rule}."),
    };
}

/// <summary>What a selection strategy decided for one eligible offer, before the station capacity check.</summary>
internal readonly record struct SelectionDecision(OfferOutcomeKind Kind, long WattHours, Why Why = Why.None)
{
    public bool Accepts => Kind is OfferOutcomeKind.Accepted or OfferOutcomeKind.PartlyAccepted;
}

/// <summary>
/// Chooses, offer by offer in merit order, what to accept. Offers reach it only when they are on time, eligible
/// and within the price cap; the engine checks station capacity after it accepts.
/// </summary>
internal interface ISelectionStrategy
{
    /// <param name="minimumWh">The least part of an offer that may be accepted (Wh); zero for any part.</param>
    SelectionDecision Decide(Offer offer, long offeredWh, long remainingWh, long allowanceWh, long minimumWh);

    /// <summary>
    /// The same decision per market interval: <paramref name="offeredWh"/> and <paramref name="remainingWh"/> per interval
    /// (a remaining need below zero is an overfill already bought), <paramref name="allowanceWh"/> what is left of the
    /// overfill allowance; fills <paramref name="acceptedWh"/> per interval when it accepts.
    /// </summary>
    SelectionDecision DecideProfile(Offer offer, long[] offeredWh, long[] remainingWh, long allowanceWh, long minimumWh, long[] acceptedWh);
}

/// <summary>Per-interval arithmetic shared by the strategies.</summary>
internal static class PerInterval
{
    /// <summary>How much of <paramref name="offeredWh"/> lies above the need left in its intervals (Wh).</summary>
    public static long Overshoot(long[] offeredWh, long[] remainingWh)
    {
        var over = 0L;
        for (var k = 0; k < offeredWh.Length; k++) over += Math.Max(0, offeredWh[k] - Math.Max(remainingWh[k], 0));
        return over;
    }

    public static SelectionDecision Whole(long[] offeredWh, long[] acceptedWh)
    {
        Array.Copy(offeredWh, acceptedWh, offeredWh.Length);
        return new(OfferOutcomeKind.Accepted, offeredWh.Sum());
    }
}

/// <summary>
/// Merit order. Rule for an indivisible offer larger than the remaining need: accept it whole if that stays within
/// the overfill allowance, otherwise reject it ("indivisible overshoot") and go on to the next offer in merit
/// order, which may be smaller. This greedy skip never pays for a dearer offer while a cheaper one fits, decides
/// each offer from its own size and the need left, runs in one pass, and is independent of input order. A search
/// for the cheapest exact combination (subset sum, NP-hard; pseudo-polynomial in watt-hours at best) would be
/// neither fast at a million offers nor explainable offer by offer, so it is not attempted.
/// </summary>
internal sealed class AutomaticSelection : ISelectionStrategy
{
    public static readonly AutomaticSelection Instance = new();

    public SelectionDecision Decide(Offer offer, long offeredWh, long remainingWh, long allowanceWh, long minimumWh)
    {
        if (remainingWh <= 0) return new(OfferOutcomeKind.RejectedNotNeeded, 0);
        if (offeredWh <= remainingWh) return new(OfferOutcomeKind.Accepted, offeredWh);
        // A divisible offer is cut to the need: the allowance is for indivisible lumps, not for buying extra. A cut below
        // the request's minimum is not worth activating, so the rest of the need stays uncovered.
        if (offer.Divisible)
            return remainingWh >= minimumWh
                ? new(OfferOutcomeKind.PartlyAccepted, remainingWh)
                : new(OfferOutcomeKind.RejectedNotNeeded, 0, Why.PartBelowMinimum);
        return offeredWh - remainingWh <= allowanceWh
            ? new(OfferOutcomeKind.Accepted, offeredWh)
            : new(OfferOutcomeKind.RejectedIndivisibleOvershoot, 0);
    }

    /// <summary>
    /// Per interval, each interval's need is filled by the offers covering it in merit order: a divisible offer gives
    /// each interval it covers what that interval still needs (at most its own power there); an indivisible offer is
    /// taken whole only when every interval it covers can take it (its excess over the need left, summed over its
    /// intervals, within what is left of the overfill allowance), otherwise it is an indivisible overshoot.
    /// </summary>
    public SelectionDecision DecideProfile(Offer offer, long[] offeredWh, long[] remainingWh, long allowanceWh, long minimumWh, long[] acceptedWh)
    {
        var over = PerInterval.Overshoot(offeredWh, remainingWh);
        if (over == 0) return PerInterval.Whole(offeredWh, acceptedWh);
        if (over == offeredWh.Sum()) return new(OfferOutcomeKind.RejectedNotNeeded, 0);
        if (!offer.Divisible)
            return over <= allowanceWh ? PerInterval.Whole(offeredWh, acceptedWh) : new(OfferOutcomeKind.RejectedIndivisibleOvershoot, 0);
        var taken = 0L;
        for (var k = 0; k < offeredWh.Length; k++) taken += acceptedWh[k] = Math.Min(offeredWh[k], Math.Max(remainingWh[k], 0));
        if (taken < minimumWh)
        {
            Array.Clear(acceptedWh);
            return new(OfferOutcomeKind.RejectedNotNeeded, 0, Why.PartBelowMinimum);
        }
        return new(OfferOutcomeKind.PartlyAccepted, taken);
    }
}

/// <summary>
/// The DSO's picks, applied in merit order (so the order in which the DSO listed them does not matter). A pick that
/// asks for more than offered, splits an indivisible offer, or exceeds what is left of the request (plus allowance)
/// is rejected with the reason; unpicked offers are "not picked".
/// </summary>
internal sealed class ManualSelection : ISelectionStrategy
{
    // Null marks an offer picked twice with different quantities: ambiguous, so neither pick is honoured.
    private readonly Dictionary<string, OfferPick?> _picks;

    public ManualSelection(IReadOnlyList<OfferPick> picks)
    {
        _picks = new Dictionary<string, OfferPick?>(picks.Count, StringComparer.Ordinal);
        foreach (var p in picks)
            _picks[p.OfferId] = _picks.TryGetValue(p.OfferId, out var seen) && seen != p ? null : p;
    }

    public SelectionDecision Decide(Offer offer, long offeredWh, long remainingWh, long allowanceWh, long minimumWh)
    {
        if (!_picks.TryGetValue(offer.Id, out var picked)) return new(OfferOutcomeKind.RejectedNotPicked, 0);
        if (picked is not { } pick) return Invalid(Why.PickTwice);
        var wh = offeredWh;
        if (pick.Energy is { } energy)
        {
            if (!Units.TryScaled(energy.Value, Units.EnergyScale, out wh) || wh <= 0) return Invalid(Why.PickEnergy);
            if (wh > offeredWh) return Invalid(Why.PickMoreThanOffered);
            if (wh < offeredWh && !offer.Divisible) return Invalid(Why.PickSplitsIndivisible);
            if (wh < offeredWh && wh < minimumWh) return Invalid(Why.PickBelowMinimum);
        }
        if (wh > remainingWh + allowanceWh) return Invalid(Why.PickExceedsRequest);
        return new(wh == offeredWh ? OfferOutcomeKind.Accepted : OfferOutcomeKind.PartlyAccepted, wh);
    }

    /// <summary>On a request cleared per interval a pick takes the whole offer (a part of a profile has no single size).</summary>
    public SelectionDecision DecideProfile(Offer offer, long[] offeredWh, long[] remainingWh, long allowanceWh, long minimumWh, long[] acceptedWh)
    {
        if (!_picks.TryGetValue(offer.Id, out var picked)) return new(OfferOutcomeKind.RejectedNotPicked, 0);
        if (picked is not { } pick) return Invalid(Why.PickTwice);
        if (pick.Energy is { } energy && (!Units.TryScaled(energy.Value, Units.EnergyScale, out var wh) || wh != offeredWh.Sum()))
            return Invalid(Why.PickPartOfProfile);
        return PerInterval.Overshoot(offeredWh, remainingWh) <= allowanceWh ? PerInterval.Whole(offeredWh, acceptedWh) : Invalid(Why.PickExceedsRequest);
    }

    private static SelectionDecision Invalid(Why why) => new(OfferOutcomeKind.RejectedInvalidPick, 0, why);
}

/// <summary>Detail codes behind an outcome; <see cref="Explain"/> turns them into the sentence the DSO reads.</summary>
internal enum Why : byte
{
    None,
    EnergyNotWholeWh,
    PriceNotValid,
    NoStation,
    StationNotQualified,
    PickTwice,
    PickEnergy,
    PickMoreThanOffered,
    PickSplitsIndivisible,
    PickExceedsRequest,
    CapacityConflict,
    PartBelowMinimum,
    PickBelowMinimum,
    Booked,
    WrongDirection,
    Recovery,
    NoPower,
    ProfileNotValid,
    PickPartOfProfile,
}

internal static class Explain
{
    public static string? Text(Why why) => why switch
    {
        Why.None => null,
        Why.EnergyNotWholeWh => "The offered energy must be a positive whole number of watt-hours.",
        Why.PriceNotValid => "The price must be positive with at most 4 decimals of EUR/kWh.",
        Why.NoStation => "The offer names no station.",
        Why.StationNotQualified => "A station of the offer is not qualified for this request.",
        Why.PickTwice => "The offer was picked twice with different quantities.",
        Why.PickEnergy => "The picked energy must be a positive whole number of watt-hours.",
        Why.PickMoreThanOffered => "The pick asks for more energy than the offer holds.",
        Why.PickSplitsIndivisible => "An indivisible offer can only be picked whole.",
        Why.PickExceedsRequest => "The pick exceeds what is left of the requested energy.",
        Why.CapacityConflict => "A station of the offer is already awarded for an overlapping window.",
        Why.PartBelowMinimum => "The part of the offer still needed is below the request's minimum accepted quantity.",
        Why.Booked => "A station of the offer is already booked by an earlier award for an overlapping window.",
        Why.WrongDirection => "The offer moves consumption the other way than the request.",
        Why.PickBelowMinimum => "The pick takes part of the offer below the request's minimum accepted quantity.",
        Why.Recovery => "A station of the offer rests after another award (its recovery time) during this window, or would rest during another award.",
        Why.NoPower => "The offer's stations do not have the power it asks for in some interval.",
        Why.ProfileNotValid => "The offer's profile does not fit the request's market intervals, or its sum is not its energy.",
        Why.PickPartOfProfile => "On a request cleared per interval a pick takes the whole offer.",
        _ => why.ToString(),
    };
}
