using FlexChain.Domain;
using FlexChain.Ethereum;
using FlexChain.Functions.Settlement;
using Azure.Data.Tables;
using FlexChain.Storage;
using FlexChain.Verification;

namespace FlexChain.Functions.Storage;

// ---- the settlement index: escrow cycle -> gate cycle and batch ----
// One entity per escrow batch (PartitionKey = escrow cycle id hex), written when the gate cycle settles it: an award id
// leads to its escrow cycle by masking its low 32 bits, so one write serves every award of the batch, however many.
public sealed partial class MarketStore
{
    private TableClient SettlementIndex => service.GetTableClient("settlementindex");

    /// <summary>Records that escrow batch <paramref name="batch"/> of <paramref name="gateCycleId"/> is the escrow cycle <paramref name="escrowCycleId"/> (an upsert: safe to repeat).</summary>
    public Task IndexSettlementAsync(Hash32 escrowCycleId, string gateCycleId, int batch, CancellationToken cancellationToken) =>
        SettlementIndex.UpsertEntityAsync(new TableEntity(escrowCycleId.ToString(), Doc) { ["GateCycleId"] = gateCycleId, ["Batch"] = batch },
            TableUpdateMode.Replace, cancellationToken);

    /// <summary>The settled escrow batch that holds <paramref name="awardId"/>, or null (not a FlexChain award, or not settled).</summary>
    public async Task<EscrowBatch?> FindSettledBatchAsync(Hash32 awardId, CancellationToken cancellationToken) =>
        await FindIndexedAsync(awardId, cancellationToken) is ({ } cycleId, var number)
        && await GetEscrowBatchAsync(cycleId, number, cancellationToken) is { SettleTransaction: not null } batch
            ? batch : null;

    /// <summary>
    /// The settled availability contract whose escrow batch holds <paramref name="awardId"/> (indexed under the cycle id
    /// <see cref="Gates.AvailabilityGate.CycleIdOf"/>), with the batch's number, or null (not an availability payment, or not settled).
    /// </summary>
    public async Task<(AvailabilityDocument Contract, int Batch)?> FindSettledAvailabilityAsync(Hash32 awardId, CancellationToken cancellationToken) =>
        await FindIndexedAsync(awardId, cancellationToken) is ({ } cycleId, var number)
        && AvailabilityDocument.IdOfCycle(cycleId) is { } id
        && await GetAvailabilityAsync(id, cancellationToken) is { Value: { State: AvailabilityState.Settled } contract }
            ? (contract, number) : null;

    /// <summary>The gate cycle id and batch number the escrow cycle of <paramref name="awardId"/> is indexed under, or nulls.</summary>
    private async Task<(string? CycleId, int Batch)> FindIndexedAsync(Hash32 awardId, CancellationToken cancellationToken) =>
        await SettlementIndex.GetEntityIfExistsAsync<TableEntity>(EscrowIds.CycleOf(awardId).ToString(), Doc, cancellationToken: cancellationToken) is { HasValue: true, Value: { } e }
            ? (e.GetString("GateCycleId"), e.GetInt32("Batch")!.Value) : (null, 0);

    /// <summary>The award records of <paramref name="batch"/> in position order (the list its escrow cycle commits to).</summary>
    public async Task<IReadOnlyList<AwardRecord>> GetBatchRecordsAsync(
        EscrowBatch batch, IReadOnlyDictionary<string, FlexRequest> requests, int tokenDecimals, CancellationToken cancellationToken)
    {
        var cycle = EscrowIds.Cycle(batch.Key);
        var dso = await GetWalletAsync(batch.DsoId, cancellationToken);
        var cpos = batch.Awards.Select(a => requests[a.RequestId].Awards[a.AwardIndex].CpoId).Distinct().ToList();
        var wallets = (await Task.WhenAll(cpos.Select(id => GetWalletAsync(id, cancellationToken)))).Zip(cpos).ToDictionary(x => x.Second, x => x.First);
        return batch.Awards.Select((a, position) =>
        {
            var request = requests[a.RequestId];
            return AwardRecord.For(request, a.AwardIndex, EscrowIds.Award(cycle, position), dso, wallets[request.Awards[a.AwardIndex].CpoId], tokenDecimals);
        }).ToList();
    }
}
