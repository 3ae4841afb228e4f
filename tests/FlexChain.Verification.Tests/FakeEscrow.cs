using System.Numerics;
using FlexChain.Ethereum;
using FlexChain.Ethereum.Abi;

namespace FlexChain.Verification.Tests;

/// <summary>An escrow held in memory: hand-made logs (encoded as the contract emits them) and cycle states.</summary>
public sealed class FakeEscrow : IEscrowChain
{
    public EthAddress Escrow { get; } = EthAddress.Parse("0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512");
    public List<LogEntry> Logs { get; } = [];
    public Dictionary<Hash32, EscrowCycle> Cycles { get; } = [];

    public Task<IReadOnlyList<LogEntry>> GetLogsAsync(IReadOnlyList<Hash32?> topics, ulong fromBlock, CancellationToken cancellationToken) =>
        Task.FromResult<IReadOnlyList<LogEntry>>(Logs.Where(l => l.Address == Escrow && l.BlockNumber >= fromBlock
            && topics.Select((t, i) => t is null || (i < l.Topics.Count && l.Topics[i] == t)).All(ok => ok)).ToList());

    public Task<TransactionReceipt?> GetReceiptAsync(Hash32 transactionHash, CancellationToken cancellationToken)
    {
        var logs = Logs.Where(l => l.TransactionHash == transactionHash).ToList();
        return Task.FromResult(logs.Count == 0 ? null
            : new TransactionReceipt(transactionHash, logs[0].BlockNumber!.Value, Hash32.Zero, EthAddress.Zero, Escrow, true, 100_000, Wei.Zero, null, logs));
    }

    public Task<EscrowCycle> GetCycleAsync(Hash32 cycleId, CancellationToken cancellationToken) =>
        Task.FromResult(Cycles.GetValueOrDefault(cycleId) ?? new EscrowCycle(CycleStatus.None, EthAddress.Zero, 0, 0, 0, Hash32.Zero));

    /// <summary>What <c>lockCycle</c> leaves behind: the cycle record and its <c>CycleLocked</c> event.</summary>
    public void Lock(Hash32 cycleId, IReadOnlyList<AwardRecord> awards, Hash32 transaction, ulong block)
    {
        var total = awards.Aggregate(BigInteger.Zero, (s, a) => s + a.LockedUnits);
        var commitment = CycleCommitment.Hash(awards);
        Cycles[cycleId] = new EscrowCycle(CycleStatus.Locked, awards[0].Dso, 1_900_000_000, total, 0, commitment);
        Emit(EscrowAbi.CycleLocked, [cycleId, EscrowAbi.Topic(awards[0].Dso)],
            AbiCodec.Encode("uint256,uint64,uint256,bytes32", total, 1_900_000_000UL, (BigInteger)awards.Count, commitment), transaction, block);
    }

    /// <summary>What <c>settleCycle</c> leaves behind: one <c>AwardSettled</c> per award with the given payouts and hashes.</summary>
    public void Settle(Hash32 cycleId, IReadOnlyList<AwardRecord> awards, IReadOnlyList<BigInteger> payouts, IReadOnlyList<Hash32> settlementHashes,
        Hash32 transaction, ulong block)
    {
        for (var i = 0; i < awards.Count; i++)
            Emit(EscrowAbi.AwardSettled, [awards[i].AwardId, EscrowAbi.Topic(awards[i].Cpo), EscrowAbi.Topic(awards[i].Dso)],
                AbiCodec.Encode("uint256,uint256,bytes32", payouts[i], awards[i].LockedUnits - payouts[i], settlementHashes[i]), transaction, block);
        Cycles[cycleId] = Cycles[cycleId] with { Status = CycleStatus.Settled, Paid = payouts.Aggregate(BigInteger.Zero, (s, p) => s + p) };
    }

    private void Emit(AbiEvent evt, Hash32[] indexed, byte[] data, Hash32 transaction, ulong block) =>
        Logs.Add(new LogEntry(Escrow, [evt.Topic, .. indexed], data, block, transaction, (ulong)Logs.Count, false));
}

/// <summary>Published records held in memory, keyed by award id.</summary>
public sealed class FakeRecords : IPublishedRecords
{
    public Dictionary<Hash32, PublishedSettlement> Published { get; } = [];

    public Task<PublishedSettlement?> GetAsync(Hash32 awardId, CancellationToken cancellationToken) =>
        Task.FromResult(Published.GetValueOrDefault(awardId));
}
