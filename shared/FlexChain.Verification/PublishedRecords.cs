using System.Net;
using System.Numerics;
using System.Text.Json;
using System.Text.Json.Nodes;
using FlexChain.Ethereum;

namespace FlexChain.Verification;

/// <summary>
/// What FlexChain publishes for one settled escrow entry: the request it belongs to (for an availability payment, the
/// availability request), the key of its escrow batch (the escrow cycle id derives from it, see <see cref="EscrowIds.Cycle"/>),
/// the entry's record and settlement record, and the whole entry list of the escrow cycle in index order (needed to
/// rebuild the cycle's commitment). The records are of one kind: an activation's <see cref="AwardRecord"/> and
/// <see cref="SettlementRecord"/>, or an availability payment's <see cref="AvailabilityRecord"/> and
/// <see cref="AvailabilitySettlementRecord"/> (README, Records and their hashes).
/// </summary>
/// <param name="SettleTransaction">The settling transaction as published (informational: verification finds it on chain).</param>
/// <param name="ChainId">The chain the records say they were settled on (<c>chain.chainId</c>); checked against the node's.</param>
/// <param name="Escrow">The escrow the records name (<c>chain.settlementContract</c>); checked against the one verified.</param>
/// <param name="AwardProfile">The profile an activation's award record's <c>profileHash</c> binds (<c>awardProfile</c>); null when not published (the profile check fails) and for an availability payment (it has none).</param>
public sealed record PublishedSettlement(
    string RequestId, string EscrowKey, IEscrowEntry Award, ISettlementEntry Settlement, IReadOnlyList<IEscrowEntry> CycleAwards, Hash32? SettleTransaction,
    long? ChainId = null, EthAddress? Escrow = null, ProfileRecord? AwardProfile = null);

/// <summary>A source of published records: FlexChain's API, or anything else that holds them (a file, an archive).</summary>
public interface IPublishedRecords
{
    /// <summary>The published records of the award, or null when none are published.</summary>
    /// <exception cref="FormatException">The published document is malformed.</exception>
    Task<PublishedSettlement?> GetAsync(Hash32 awardId, CancellationToken cancellationToken);
}

/// <summary>
/// Published records read from FlexChain's API (<c>GET /v1/settlements/{awardId}</c>, anonymous). Only the records'
/// fields are used; the hashes the API also returns are ignored, verification recomputes them.
/// </summary>
public sealed class HttpPublishedRecords(HttpClient http, Uri apiBase) : IPublishedRecords
{
    public async Task<PublishedSettlement?> GetAsync(Hash32 awardId, CancellationToken cancellationToken)
    {
        using var response = await http.GetAsync(new Uri(apiBase, $"v1/settlements/{awardId}"), cancellationToken).ConfigureAwait(false);
        if (response.StatusCode == HttpStatusCode.NotFound) return null;
        var text = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
        if (!response.IsSuccessStatusCode)
            throw new HttpRequestException($"GET v1/settlements/{awardId}: {(int)response.StatusCode} {text}", null, response.StatusCode);
        return PublishedSettlementJson.Parse(JsonNode.Parse(text));
    }
}

/// <summary>
/// The JSON of a published settlement (the body of <c>GET /v1/settlements/{awardId}</c>): <c>kind</c>, <c>requestId</c>,
/// <c>escrowKey</c>, then by kind. <c>Activation</c> (or no kind): <c>award</c>, <c>awardProfile</c> (<c>intervalSeconds</c>,
/// <c>energyWh</c> array), <c>settlement</c>, <c>cycleAwards</c> (array of award records in index order); award record fields
/// <c>awardId, dsoWallet, cpoWallet, energyWh, priceMicroEurPerKwh, lockedUnits, deliveryStart, deliveryEnd, profileHash</c>,
/// settlement record fields <c>awardId, awardedWh, baselineWh, measuredWh, deliveredWh, succeeded, payoutUnits, lockedUnits,
/// transactionHash</c>. <c>Availability</c>: <c>availabilityRecord</c>, <c>availabilitySettlement</c>,
/// <c>cycleAvailabilityRecords</c> (in index order), <c>settleTransactionHash</c>; availability record fields <c>awardId,
/// dsoWallet, cpoWallet, reservedW, availabilityPriceMicroEurPerKw, activationPriceMicroEurPerKwh, lockedUnits, periodStart,
/// periodEnd</c>, availability settlement fields <c>awardId, callsAwarded, callsFailed, payoutUnits, lockedUnits</c>.
/// Token amounts are decimal strings (they can exceed 2^53).
/// </summary>
public static class PublishedSettlementJson
{
    /// <summary>The <c>kind</c> of an activation's published records (an award of a request's gate cycle).</summary>
    public const string ActivationKind = "Activation";

    /// <summary>The <c>kind</c> of an availability payment's published records.</summary>
    public const string AvailabilityKind = "Availability";

    /// <exception cref="FormatException">A field is missing or malformed (the message names it).</exception>
    public static PublishedSettlement Parse(JsonNode? document)
    {
        var root = document as JsonObject ?? throw new FormatException("the published settlement is not a JSON object");
        var chain = root["chain"] as JsonObject;
        var (chainId, escrow) = (chain is null ? (long?)null : Int64(chain, "chainId", "chain"), chain is null ? (EthAddress?)null : Address(chain, "settlementContract", "chain"));
        if (root["kind"] is JsonValue kind && kind.GetValueKind() == JsonValueKind.String && kind.GetValue<string>() == AvailabilityKind)
        {
            var s = Object(root, "availabilitySettlement");
            return new PublishedSettlement(
                String(root, "requestId"), String(root, "escrowKey"), ParseAvailability(Object(root, "availabilityRecord"), "availabilityRecord"),
                new AvailabilitySettlementRecord(Hash(s, "awardId", "availabilitySettlement"), Value<int>(s, "callsAwarded", "availabilitySettlement"),
                    Value<int>(s, "callsFailed", "availabilitySettlement"), Units(s, "payoutUnits", "availabilitySettlement"), Units(s, "lockedUnits", "availabilitySettlement")),
                List(root, "cycleAvailabilityRecords", ParseAvailability),
                root["settleTransactionHash"] is JsonValue stx ? Hash32.Parse(stx.GetValue<string>()) : null, chainId, escrow);
        }
        var settlement = Object(root, "settlement");
        return new PublishedSettlement(
            String(root, "requestId"),
            String(root, "escrowKey"),
            ParseAward(Object(root, "award"), "award"),
            new SettlementRecord(
                Hash(settlement, "awardId", "settlement"), Int64(settlement, "awardedWh", "settlement"), Int64(settlement, "baselineWh", "settlement"),
                Int64(settlement, "measuredWh", "settlement"), Int64(settlement, "deliveredWh", "settlement"),
                Value<bool>(settlement, "succeeded", "settlement"), Units(settlement, "payoutUnits", "settlement"), Units(settlement, "lockedUnits", "settlement")),
            List(root, "cycleAwards", ParseAward),
            settlement["transactionHash"] is JsonValue tx ? Hash32.Parse(tx.GetValue<string>()) : null,
            chainId, escrow,
            root["awardProfile"] is JsonObject profile ? ParseProfile(profile) : null);
    }

    private static List<IEscrowEntry> List(JsonObject root, string name, Func<JsonObject, string, IEscrowEntry> parse) =>
        (root[name] as JsonArray ?? throw new FormatException($"{name} is missing or not an array"))
            .Select((a, i) => parse(a as JsonObject ?? throw new FormatException($"{name}[{i}] is not an object"), $"{name}[{i}]")).ToList();

    private static AwardRecord ParseAward(JsonObject a, string path) => new(
        Hash(a, "awardId", path), Address(a, "dsoWallet", path), Address(a, "cpoWallet", path), Int64(a, "energyWh", path),
        Int64(a, "priceMicroEurPerKwh", path), Units(a, "lockedUnits", path), Int64(a, "deliveryStart", path), Int64(a, "deliveryEnd", path),
        Hash(a, "profileHash", path));

    private static AvailabilityRecord ParseAvailability(JsonObject a, string path) => new(
        Hash(a, "awardId", path), Address(a, "dsoWallet", path), Address(a, "cpoWallet", path), Int64(a, "reservedW", path),
        Int64(a, "availabilityPriceMicroEurPerKw", path), Int64(a, "activationPriceMicroEurPerKwh", path), Units(a, "lockedUnits", path),
        Int64(a, "periodStart", path), Int64(a, "periodEnd", path));

    private static ProfileRecord ParseProfile(JsonObject p) => new(
        Int64(p, "intervalSeconds", "awardProfile"),
        (p["energyWh"] as JsonArray ?? throw new FormatException("awardProfile.energyWh is missing or not an array"))
            .Select(EnergyWh).ToList());

    private static long EnergyWh(JsonNode? n, int i)
    {
        try
        {
            if (n is JsonValue v && v.Deserialize<long>() is var wh and >= 0) return wh;
        }
        catch (Exception e) when (e is InvalidOperationException or JsonException)
        {
        }
        throw new FormatException($"awardProfile.energyWh[{i}] is not a non-negative integer");
    }

    private static JsonObject Object(JsonObject o, string name) =>
        o[name] as JsonObject ?? throw new FormatException($"{name} is missing or not an object");

    private static string String(JsonObject o, string name, string? path = null) => Value<string>(o, name, path);

    private static long Int64(JsonObject o, string name, string path) => Value<long>(o, name, path);

    private static T Value<T>(JsonObject o, string name, string? path)
    {
        var where = path is null ? name : $"{path}.{name}";
        try
        {
            // Through JSON rather than GetValue: a node built in memory holds an int or a string, and must read like parsed text.
            return o[name] is JsonValue v && v.Deserialize<T>() is { } value ? value : throw new FormatException($"{where} is missing");
        }
        catch (Exception e) when (e is InvalidOperationException or JsonException)
        {
            throw new FormatException($"{where} is not a {typeof(T).Name}", e);
        }
    }

    private static BigInteger Units(JsonObject o, string name, string path) =>
        BigInteger.TryParse(String(o, name, path), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var v)
            ? v : throw new FormatException($"{path}.{name} is not a non-negative integer string");

    private static Hash32 Hash(JsonObject o, string name, string path) => Parsed(o, name, path, Hash32.Parse);

    private static EthAddress Address(JsonObject o, string name, string path) => Parsed(o, name, path, EthAddress.Parse);

    private static T Parsed<T>(JsonObject o, string name, string path, Func<string, T> parse)
    {
        var text = String(o, name, path);
        try
        {
            return parse(text);
        }
        catch (Exception e) when (e is FormatException or ArgumentException)
        {
            throw new FormatException($"{path}.{name} is malformed: {e.Message}", e);
        }
    }
}
