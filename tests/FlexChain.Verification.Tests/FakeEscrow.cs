using System.Numerics;
using FlexChain.Ethereum;
using Nethereum.ABI;
using Nethereum.Hex.HexConvertors.Extensions;
using Nethereum.Hex.HexTypes;
using Nethereum.RPC.Eth.DTOs;

namespace FlexChain.Verification.Tests;

/// <summary>An escrow held in memory: hand-made logs (encoded as the contract emits them) and cycle states.</summary>
public sealed class FakeEscrow : IEscrowChain
{
    public EthAddress Escrow { get; } = EthAddress.Parse("0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512");
    public List<FilterLog> Logs { get; } = [];
    public Dictionary<Hash32, EscrowCycle> Cycles { get; } = [];
    public EthAddress Token { get; } = EthAddress.Parse("0x5FbDB2315678afecb367f032d93F642f64180aa3");
    public long ChainId { get; set; } = 31337;

    /// <summary>The node's finalized block; by default every block is final.</summary>
    public ulong? Finalized { get; set; } = ulong.MaxValue;

    public Task<TokenInfo> GetTokenAsync(CancellationToken cancellationToken) => Task.FromResult(new TokenInfo(Token, 6));

    public Task<long> GetChainIdAsync(CancellationToken cancellationToken) => Task.FromResult(ChainId);

    public Task<ulong?> GetFinalizedBlockAsync(CancellationToken cancellationToken) => Task.FromResult(Finalized);

    public Task<IReadOnlyList<FilterLog>> GetLogsAsync(IReadOnlyList<Hash32?> topics, ulong fromBlock, CancellationToken cancellationToken) =>
        Task.FromResult<IReadOnlyList<FilterLog>>(Logs.Where(l => l.IsFrom(Escrow) && l.BlockNumber.Value >= fromBlock
            && topics.Select((t, i) => t is null || l.Topic(i) == t).All(ok => ok)).ToList());

    public Task<TransactionReceipt?> GetReceiptAsync(Hash32 transactionHash, CancellationToken cancellationToken)
    {
        var logs = Logs.Where(l => l.TransactionHash == transactionHash.ToString()).ToArray();
        return Task.FromResult(logs.Length == 0 ? null : new TransactionReceipt
        {
            TransactionHash = transactionHash.ToString(), BlockNumber = logs[0].BlockNumber, To = Escrow.ToString(), Status = new HexBigInteger(1), Logs = logs,
        });
    }

    public Task<EscrowCycle> GetCycleAsync(Hash32 cycleId, CancellationToken cancellationToken) =>
        Task.FromResult(Cycles.GetValueOrDefault(cycleId) ?? new EscrowCycle(CycleStatus.None, EthAddress.Zero, 0, 0, 0, Hash32.Zero));

    /// <summary>What <c>lockCycle</c> leaves behind: the cycle record and its <c>CycleLocked</c> event.</summary>
    public void Lock(Hash32 cycleId, IReadOnlyList<IEscrowEntry> awards, Hash32 transaction, ulong block)
    {
        var total = awards.Aggregate(BigInteger.Zero, (s, a) => s + a.LockedUnits);
        var commitment = CycleCommitment.Hash(awards);
        Cycles[cycleId] = new EscrowCycle(CycleStatus.Locked, awards[0].Dso, 1_900_000_000, total, 0, commitment);
        Emit(EscrowTopics.Of<CycleLockedEvent>(), [cycleId, EscrowTopics.Of(awards[0].Dso)],
            [new("uint256", total), new("uint64", 1_900_000_000UL), new("uint256", awards.Count), new("bytes32", commitment.ToArray())], transaction, block);
    }

    /// <summary>
    /// What <c>settleCycle</c> leaves behind: one <c>AwardSettled</c> per award with the given payouts and hashes, and the
    /// token's <c>Transfer</c> of each non-zero payout (unless <paramref name="transfers"/> is false).
    /// </summary>
    public void Settle(Hash32 cycleId, IReadOnlyList<IEscrowEntry> awards, IReadOnlyList<BigInteger> payouts, IReadOnlyList<Hash32> settlementHashes,
        Hash32 transaction, ulong block, bool transfers = true)
    {
        for (var i = 0; i < awards.Count; i++)
        {
            Emit(EscrowTopics.Of<AwardSettledEvent>(), [awards[i].AwardId, EscrowTopics.Of(awards[i].Cpo), EscrowTopics.Of(awards[i].Dso)],
                [new("uint256", payouts[i]), new("uint256", awards[i].LockedUnits - payouts[i]), new("bytes32", settlementHashes[i].ToArray())], transaction, block);
            if (transfers && payouts[i] > 0)
                Emit(EscrowTopics.Of<TokenTransferEvent>(), [EscrowTopics.Of(Escrow), EscrowTopics.Of(awards[i].Cpo)], [new("uint256", payouts[i])], transaction, block, Token);
        }
        Cycles[cycleId] = Cycles[cycleId] with { Status = CycleStatus.Settled, Paid = payouts.Aggregate(BigInteger.Zero, (s, p) => s + p) };
    }

    /// <summary>What <c>refundExpiredCycle</c> leaves behind: one <c>AwardRefunded</c> per award.</summary>
    public void Refund(Hash32 cycleId, IReadOnlyList<IEscrowEntry> awards, Hash32 transaction, ulong block)
    {
        foreach (var a in awards)
            Emit(EscrowTopics.Of<AwardRefundedEvent>(), [a.AwardId, EscrowTopics.Of(a.Cpo), EscrowTopics.Of(a.Dso)], [new("uint256", a.LockedUnits)], transaction, block);
        Cycles[cycleId] = Cycles[cycleId] with { Status = CycleStatus.Refunded };
    }

    private void Emit(Hash32 topic, Hash32[] indexed, ABIValue[] data, Hash32 transaction, ulong block, EthAddress? from = null) =>
        Logs.Add(new FilterLog
        {
            Address = (from ?? Escrow).ToString(), Topics = [topic.ToString(), .. indexed.Select(t => (object)t.ToString())],
            Data = new ABIEncode().GetABIEncoded(data).ToHex(prefix: true), BlockNumber = new HexBigInteger(block),
            TransactionHash = transaction.ToString(), LogIndex = new HexBigInteger(Logs.Count), Removed = false,
        });
}

/// <summary>Published records held in memory, keyed by award id.</summary>
public sealed class FakeRecords : IPublishedRecords
{
    public Dictionary<Hash32, PublishedSettlement> Published { get; } = [];

    public Task<PublishedSettlement?> GetAsync(Hash32 awardId, CancellationToken cancellationToken) =>
        Task.FromResult(Published.GetValueOrDefault(awardId));
}
