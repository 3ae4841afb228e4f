using System.Globalization;
using System.Text.Json;
using Azure;
using FlexChain.Domain;
using FlexChain.Storage;

namespace FlexChain.Functions.Storage;

/// <summary>A stored document with the ETag that guards its next update.</summary>
public readonly record struct Stored<T>(T Value, ETag ETag);

/// <summary>A participant as stored: the profile and the hash of its API key.</summary>
public readonly record struct ParticipantRecord(Participant Participant, string ApiKeyHash);

/// <summary>
/// FlexChain's state in Azure Table storage. Each aggregate is one entity whose <c>Data</c> property holds its JSON,
/// keyed so that every read the market makes is a point read or a single-partition query:
/// participants, transformers, stations and requests by id; offers by request (one row per CPO, so the key itself
/// enforces one offer per CPO per request); meter readings by station and interval start; the gate schedule by due time.
/// </summary>
public sealed class MarketStore(TableServiceClient service)
{
    private const string Data = "Data";
    private const string Doc = "doc";
    private static readonly string[] Tables = ["participants", "transformers", "stations", "requests", "offers", "readings", "schedule"];

    private TableClient Participants => service.GetTableClient("participants");
    private TableClient Transformers => service.GetTableClient("transformers");
    private TableClient Stations => service.GetTableClient("stations");
    private TableClient Requests => service.GetTableClient("requests");
    private TableClient Offers => service.GetTableClient("offers");
    private TableClient Readings => service.GetTableClient("readings");
    private TableClient Schedule => service.GetTableClient("schedule");

    public async Task InitializeAsync(CancellationToken cancellationToken)
    {
        foreach (var t in Tables) await service.CreateTableIfNotExistsAsync(t, cancellationToken);
    }

    public Task AddParticipantAsync(Participant p, string apiKeyHash, CancellationToken cancellationToken) =>
        Participants.AddEntityAsync(ToEntity(p.Id, Doc, new ParticipantRecord(p, apiKeyHash)), cancellationToken);

    public async Task<ParticipantRecord?> GetParticipantAsync(string id, CancellationToken cancellationToken) =>
        (await GetAsync<ParticipantRecord>(Participants, id, Doc, cancellationToken))?.Value;

    /// <summary>The wallet that pays (DSO) or is paid (CPO); throws when the participant is missing.</summary>
    public async Task<WalletAddress> GetWalletAsync(string participantId, CancellationToken cancellationToken) =>
        (await GetParticipantAsync(participantId, cancellationToken))?.Participant.Wallet
        ?? throw new InvalidOperationException($"participant {participantId} is missing");

    public Task AddTransformerAsync(Transformer t, CancellationToken cancellationToken) =>
        Transformers.AddEntityAsync(ToEntity(t.Id, Doc, t), cancellationToken);

    public async Task<Transformer?> GetTransformerAsync(string id, CancellationToken cancellationToken) =>
        (await GetAsync<Transformer>(Transformers, id, Doc, cancellationToken))?.Value;

    public Task AddStationAsync(ChargingStation s, CancellationToken cancellationToken) =>
        Stations.AddEntityAsync(ToEntity(s.Id, Doc, s), cancellationToken);

    public async Task<ChargingStation?> GetStationAsync(string id, CancellationToken cancellationToken) =>
        (await GetAsync<ChargingStation>(Stations, id, Doc, cancellationToken))?.Value;

    public Task<Stored<FlexRequest>?> GetRequestAsync(string id, CancellationToken cancellationToken) =>
        GetAsync<FlexRequest>(Requests, id, Doc, cancellationToken);

    public Task AddRequestAsync(FlexRequest r, CancellationToken cancellationToken) =>
        Requests.AddEntityAsync(ToEntity(r.Id, Doc, r), cancellationToken);

    /// <summary>Saves <paramref name="r"/> if nobody changed it since <paramref name="etag"/>; false when someone did.</summary>
    public async Task<bool> TryReplaceRequestAsync(FlexRequest r, ETag etag, CancellationToken cancellationToken)
    {
        try
        {
            await Requests.UpdateEntityAsync(ToEntity(r.Id, Doc, r), etag, TableUpdateMode.Replace, cancellationToken);
            return true;
        }
        catch (RequestFailedException e) when (e.Status == 412)
        {
            return false;
        }
    }

    /// <summary>Stores the CPO's offer; false when it already has one on this request.</summary>
    public async Task<bool> TryAddOfferAsync(Offer o, CancellationToken cancellationToken)
    {
        try
        {
            await Offers.AddEntityAsync(ToEntity(o.RequestId, o.CpoId, o), cancellationToken);
            return true;
        }
        catch (RequestFailedException e) when (e.Status == 409)
        {
            return false;
        }
    }

    public async Task<IReadOnlyList<Offer>> GetOffersAsync(string requestId, CancellationToken cancellationToken) =>
        await QueryAsync<Offer>(Offers, TableFilter.Create($"PartitionKey eq {requestId}"), cancellationToken);

    public async Task<Offer?> GetOfferAsync(string requestId, string cpoId, CancellationToken cancellationToken) =>
        (await GetAsync<Offer>(Offers, requestId, cpoId, cancellationToken))?.Value;

    /// <summary>Upserts readings keyed by station and interval start: re-uploading an interval replaces it.</summary>
    public async Task PutReadingsAsync(string stationId, IReadOnlyList<MeterReading> readings, CancellationToken cancellationToken)
    {
        foreach (var chunk in readings.Chunk(100))
        {
            var actions = chunk.Select(r => new TableTransactionAction(TableTransactionActionType.UpsertReplace,
                ToEntity(stationId, RowKey(r.Interval.Start), r))).ToList();
            await Readings.SubmitTransactionAsync(actions, cancellationToken);
        }
    }

    public async Task<IReadOnlyList<MeterReading>> GetReadingsAsync(string stationId, TimeWindow range, CancellationToken cancellationToken) =>
        await QueryAsync<MeterReading>(Readings, TableFilter.Create(
            $"PartitionKey eq {stationId} and RowKey ge {RowKey(range.Start)} and RowKey lt {RowKey(range.End)}"), cancellationToken);

    /// <summary>Marks <paramref name="requestId"/> due at <paramref name="due"/> for the gate cycle timer.</summary>
    public Task ScheduleAsync(string requestId, DateTimeOffset due, CancellationToken cancellationToken) =>
        Schedule.UpsertEntityAsync(new TableEntity("due", ScheduleKey(due, requestId)) { ["RequestId"] = requestId }, TableUpdateMode.Replace, cancellationToken);

    public Task UnscheduleAsync(string scheduleKey, CancellationToken cancellationToken) =>
        Schedule.DeleteEntityAsync("due", scheduleKey, ETag.All, cancellationToken);

    /// <summary>Schedule entries due at or before <paramref name="now"/>, oldest first, as (key, request id).</summary>
    public async Task<IReadOnlyList<(string Key, string RequestId)>> GetDueAsync(DateTimeOffset now, CancellationToken cancellationToken)
    {
        var result = new List<(string, string)>();
        var filter = TableFilter.Create($"PartitionKey eq {"due"} and RowKey lt {RowKey(now) + "~"}");
        await foreach (var e in Schedule.QueryAsync(filter, cancellationToken: cancellationToken))
            result.Add((e.RowKey, e.GetString("RequestId")!));
        return result;
    }

    /// <summary>Remembers the chain transaction that locked or settled an offer's award.</summary>
    public Task PutTransactionAsync(string requestId, string kind, string offerId, string transactionHash, CancellationToken cancellationToken) =>
        Requests.UpsertEntityAsync(new TableEntity(requestId, $"tx-{kind}-{offerId}") { ["Hash"] = transactionHash }, TableUpdateMode.Replace, cancellationToken);

    /// <summary>The request's chain transactions by (kind, offer id).</summary>
    public async Task<IReadOnlyDictionary<(string Kind, string OfferId), string>> GetTransactionsAsync(string requestId, CancellationToken cancellationToken)
    {
        var result = new Dictionary<(string, string), string>();
        var filter = TableFilter.Create($"PartitionKey eq {requestId} and RowKey ge {"tx-"} and RowKey lt {"tx."}");
        await foreach (var e in Requests.QueryAsync(filter, cancellationToken: cancellationToken))
        {
            var parts = e.RowKey.Split('-', 3);
            result[(parts[1], parts[2])] = e.GetString("Hash")!;
        }
        return result;
    }

    private static string RowKey(DateTimeOffset t) => t.UtcTicks.ToString("D19", CultureInfo.InvariantCulture);

    private static string ScheduleKey(DateTimeOffset due, string requestId) => RowKey(due) + "_" + requestId;

    private static TableEntity ToEntity<T>(string pk, string rk, T value) =>
        new(pk, rk) { [Data] = JsonSerializer.Serialize(value, StoreJson.Options) };

    private static async Task<Stored<T>?> GetAsync<T>(TableClient table, string pk, string rk, CancellationToken cancellationToken)
    {
        var e = await table.GetEntityAsync(pk, rk, cancellationToken: cancellationToken);
        return e is null ? null : new Stored<T>(Deserialize<T>(e), e.ETag);
    }

    private static async Task<List<T>> QueryAsync<T>(TableClient table, string filter, CancellationToken cancellationToken)
    {
        var list = new List<T>();
        await foreach (var e in table.QueryAsync(filter, cancellationToken: cancellationToken)) list.Add(Deserialize<T>(e));
        return list;
    }

    private static T Deserialize<T>(TableEntity e) =>
        JsonSerializer.Deserialize<T>(e.GetString(Data)!, StoreJson.Options) ?? throw new InvalidDataException($"empty document {e.PartitionKey}/{e.RowKey}");
}
