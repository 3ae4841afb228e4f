using FlexChain.Domain;
using FlexChain.Ethereum;
using FlexChain.Functions.Settlement;
using FlexChain.Storage;
using FlexChain.Verification;

namespace FlexChain.Functions.Storage;

// ---- the settlement index: settled escrow cycle -> request ----
// One entity per cycle (PartitionKey = cycle id hex), written once when the gate cycle settles it: an award id leads
// to its cycle by masking its low 32 bits, so one write serves every award of the cycle, however many.
public sealed partial class MarketStore
{
    private const string RequestIdProperty = "RequestId";

    private TableClient SettlementIndex => service.GetTableClient("settlementindex");

    /// <summary>Records that the escrow cycle <paramref name="cycleId"/> settles <paramref name="requestId"/> (an upsert: safe to repeat).</summary>
    public Task IndexSettlementAsync(Hash32 cycleId, string requestId, CancellationToken cancellationToken) =>
        SettlementIndex.UpsertEntityAsync(new TableEntity(cycleId.ToString(), Doc) { [RequestIdProperty] = requestId }, TableUpdateMode.Replace, cancellationToken);

    /// <summary>The request whose settled escrow cycle holds <paramref name="awardId"/>, or null (not a FlexChain award, or not settled).</summary>
    public async Task<string?> FindSettledRequestAsync(Hash32 awardId, CancellationToken cancellationToken) =>
        (await SettlementIndex.GetEntityAsync(EscrowIds.CycleOf(awardId).ToString(), Doc, cancellationToken: cancellationToken))?.GetString(RequestIdProperty);

    /// <summary>The award records of every award of <paramref name="request"/>, in index order (the cycle's award list).</summary>
    public async Task<IReadOnlyList<AwardRecord>> GetAwardRecordsAsync(FlexRequest request, int tokenDecimals, CancellationToken cancellationToken)
    {
        var dso = await GetWalletAsync(request.DsoId, cancellationToken);
        var records = new List<AwardRecord>(request.Awards.Count);
        for (var i = 0; i < request.Awards.Count; i++)
            records.Add(AwardRecord.For(request, i, dso, await GetWalletAsync(request.Awards[i].CpoId, cancellationToken), tokenDecimals));
        return records;
    }
}
