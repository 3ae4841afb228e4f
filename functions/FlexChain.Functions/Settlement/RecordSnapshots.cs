using Azure;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;
using FlexChain.Ethereum;
using FlexChain.Verification;

namespace FlexChain.Functions.Settlement;

/// <summary>
/// The records put on chain, as they were put there: per escrow cycle, its award list when it is locked and its
/// settlement records when it is settled, each stored once, before the transaction that commits to it, and never
/// rebuilt: a retried step, the settlement and the public API all read the stored snapshot, so a later change to the
/// data the records came from (a participant's wallet, a request) cannot change what is published or paid. Stored as
/// blobs (<c>{escrowCycleId}/awards</c> and <c>/settlements</c>) holding the ABI encoding of the records
/// (<see cref="RecordEncoding"/>): a batch of up to 1,000 awards is 288 KB, past a table property's 64 KiB.
/// </summary>
public sealed class RecordSnapshots(BlobServiceClient blobs)
{
    public const string ContainerName = "record-snapshots";

    private BlobContainerClient Container => blobs.GetBlobContainerClient(ContainerName);

    /// <summary>The award list of escrow cycle <paramref name="cycleId"/> as first stored; stored from <paramref name="build"/> if there is none yet.</summary>
    public Task<IReadOnlyList<AwardRecord>> AwardsAsync(Hash32 cycleId, Func<CancellationToken, Task<IReadOnlyList<AwardRecord>>> build, CancellationToken cancellationToken) =>
        GetOrStoreAsync(cycleId, "awards", async ct => RecordEncoding.Encode(await build(ct)), RecordEncoding.DecodeAwards, cancellationToken);

    /// <summary>The settlement records of escrow cycle <paramref name="cycleId"/> as first stored; stored from <paramref name="build"/> if there are none yet.</summary>
    public Task<IReadOnlyList<SettlementRecord>> SettlementsAsync(Hash32 cycleId, Func<CancellationToken, Task<IReadOnlyList<SettlementRecord>>> build, CancellationToken cancellationToken) =>
        GetOrStoreAsync(cycleId, "settlements", async ct => RecordEncoding.Encode(await build(ct)), RecordEncoding.DecodeSettlements, cancellationToken);

    /// <summary>The stored award list of escrow cycle <paramref name="cycleId"/>, or null when it was never locked.</summary>
    public async Task<IReadOnlyList<AwardRecord>?> GetAwardsAsync(Hash32 cycleId, CancellationToken cancellationToken) =>
        await GetAsync(cycleId, "awards", cancellationToken) is { } bytes ? RecordEncoding.DecodeAwards(bytes) : null;

    /// <summary>The stored settlement records of escrow cycle <paramref name="cycleId"/>, or null when it was never settled.</summary>
    public async Task<IReadOnlyList<SettlementRecord>?> GetSettlementsAsync(Hash32 cycleId, CancellationToken cancellationToken) =>
        await GetAsync(cycleId, "settlements", cancellationToken) is { } bytes ? RecordEncoding.DecodeSettlements(bytes) : null;

    private async Task<byte[]?> GetAsync(Hash32 cycleId, string kind, CancellationToken cancellationToken)
    {
        try
        {
            return (await Container.GetBlobClient($"{cycleId}/{kind}").DownloadContentAsync(cancellationToken)).Value.Content.ToArray();
        }
        catch (RequestFailedException e) when (e.Status == 404)
        {
            return null;
        }
    }

    private async Task<IReadOnlyList<T>> GetOrStoreAsync<T>(Hash32 cycleId, string kind, Func<CancellationToken, Task<byte[]>> build,
        Func<byte[], IReadOnlyList<T>> decode, CancellationToken cancellationToken)
    {
        if (await GetAsync(cycleId, kind, cancellationToken) is { } stored) return decode(stored);
        await Container.CreateIfNotExistsAsync(cancellationToken: cancellationToken);
        try
        {
            // Only if absent: of two attempts racing, the first stored wins and both go on with it.
            await Container.GetBlobClient($"{cycleId}/{kind}").UploadAsync(BinaryData.FromBytes(await build(cancellationToken)),
                new BlobUploadOptions { Conditions = new BlobRequestConditions { IfNoneMatch = ETag.All } }, cancellationToken);
        }
        catch (RequestFailedException e) when (e.Status is 409 or 412)
        {
        }
        return decode(await GetAsync(cycleId, kind, cancellationToken) ?? throw new InvalidOperationException($"the {kind} snapshot of escrow cycle {cycleId} vanished"));
    }
}
