using Azure;
using Azure.Data.Tables;
using FlexChain.Storage;

namespace FlexChain.Functions.Settlement;

/// <summary>
/// A lease in Table storage that lets one app instance at a time send transactions with the operator's key, so that
/// nonces are serialised across instances (ARCHITECTURE.md section 5). Taking and releasing it are ETag-guarded, so two
/// instances never both hold it; a holder that dies loses it when it expires. Expiry is wall-clock time, not the
/// market clock.
/// </summary>
public sealed class SignerLease(TableServiceClient tables, string signer, TimeSpan duration)
{
    private const string Table = "leases";
    private readonly string _owner = $"{Environment.MachineName}/{Environment.ProcessId}/{Guid.NewGuid():N}";
    private TableClient Leases => tables.GetTableClient(Table);

    /// <summary>Takes the lease, waiting up to <paramref name="wait"/> for another holder to release it or let it expire.</summary>
    /// <returns>A handle that releases the lease when disposed.</returns>
    /// <exception cref="TimeoutException">Another instance held it for the whole wait.</exception>
    public async Task<IAsyncDisposable> AcquireAsync(TimeSpan wait, CancellationToken cancellationToken)
    {
        await tables.CreateTableIfNotExistsAsync(Table, cancellationToken);
        var deadline = DateTimeOffset.UtcNow + wait;
        while (true)
        {
            if (await TryAcquireAsync(cancellationToken) is { } etag) return new Handle(this, etag);
            if (DateTimeOffset.UtcNow >= deadline) throw new TimeoutException($"the signer lease for {signer} is held by another instance");
            await Task.Delay(TimeSpan.FromMilliseconds(200), cancellationToken);
        }
    }

    private async Task<ETag?> TryAcquireAsync(CancellationToken cancellationToken)
    {
        var now = DateTimeOffset.UtcNow;
        var lease = new TableEntity("signer", signer) { ["Owner"] = _owner, ["ExpiresAt"] = now + duration };
        try
        {
            var current = (await Leases.GetEntityIfExistsAsync<TableEntity>("signer", signer, cancellationToken: cancellationToken)).Value;
            if (current is null) return (await Leases.AddEntityAsync(lease, cancellationToken)).Headers.ETag;
            if (current.GetDateTimeOffset("ExpiresAt") > now && current.GetString("Owner") != _owner) return null;
            return (await Leases.UpdateEntityAsync(lease, current.ETag, TableUpdateMode.Replace, cancellationToken)).Headers.ETag;
        }
        catch (RequestFailedException e) when (e.Status is 409 or 412)
        {
            return null; // another instance took it between our read and our write
        }
    }

    private async Task ReleaseAsync(ETag etag)
    {
        try
        {
            var released = new TableEntity("signer", signer) { ["Owner"] = "", ["ExpiresAt"] = DateTimeOffset.UtcNow };
            await Leases.UpdateEntityAsync(released, etag, TableUpdateMode.Replace, CancellationToken.None);
        }
        catch (RequestFailedException e) when (e.Status is 404 or 412)
        {
            // Expired and taken over meanwhile: nothing of ours to release.
        }
    }

    private sealed class Handle(SignerLease lease, ETag etag) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync() => await lease.ReleaseAsync(etag);
    }
}
