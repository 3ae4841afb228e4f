using System.Globalization;
using System.Numerics;
using Azure.Storage.Blobs;
using FlexChain.Ethereum;

namespace FlexChain.Functions.Settlement;

/// <summary>
/// Every transaction the operator key signs, stored in blob storage before it is broadcast and kept until its nonce
/// is mined: after a crash between broadcast and mining, or a node that lost the transaction, the next holder of the
/// signer lease broadcasts the very same transaction again instead of signing a new one with a later nonce behind a
/// gap that would never be mined. One blob per nonce (<c>{signer}/{nonce}</c>); a fee-bumped replacement overwrites it.
/// </summary>
public sealed class SignedTransactionJournal(BlobServiceClient blobs, EthAddress signer)
{
    public const string ContainerName = "signed-transactions";

    private BlobContainerClient Container => blobs.GetBlobContainerClient(ContainerName);

    private string Prefix => signer.ToString().ToLowerInvariant() + "/";

    /// <summary>Stores <paramref name="transaction"/> (the newest version of its nonce).</summary>
    public async Task RecordAsync(SignedTransaction transaction, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(transaction);
        await Container.CreateIfNotExistsAsync(cancellationToken: cancellationToken);
        await Container.GetBlobClient(Prefix + transaction.Nonce.ToString("D20", CultureInfo.InvariantCulture))
            .UploadAsync(BinaryData.FromString(transaction.Raw), overwrite: true, cancellationToken);
    }

    /// <summary>
    /// The stored raw transactions whose nonce is at least <paramref name="minedNonceCount"/> (not mined yet), lowest
    /// nonce first; the others are mined and are deleted.
    /// </summary>
    public async Task<IReadOnlyList<string>> UnminedAsync(BigInteger minedNonceCount, CancellationToken cancellationToken)
    {
        if (!await Container.ExistsAsync(cancellationToken)) return [];
        var unmined = new List<(BigInteger Nonce, string Name)>();
        await foreach (var blob in Container.GetBlobsAsync(Azure.Storage.Blobs.Models.BlobTraits.None, Azure.Storage.Blobs.Models.BlobStates.None, Prefix, cancellationToken))
        {
            var nonce = BigInteger.Parse(blob.Name[Prefix.Length..], NumberStyles.None, CultureInfo.InvariantCulture);
            if (nonce < minedNonceCount) await Container.DeleteBlobIfExistsAsync(blob.Name, cancellationToken: cancellationToken);
            else unmined.Add((nonce, blob.Name));
        }
        var raws = new List<string>(unmined.Count);
        foreach (var (_, name) in unmined.OrderBy(u => u.Nonce))
            raws.Add((await Container.GetBlobClient(name).DownloadContentAsync(cancellationToken)).Value.Content.ToString());
        return raws;
    }
}
