using System.Diagnostics;
using Azure;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;
using Azure.Storage.Blobs.Specialized;

namespace FlexChain.Functions.Hosting;

/// <summary>
/// A lease that lets one app instance at a time do something across instances: a blob lease on <c>leases/{name}</c>
/// (the operator key's signer, <c>signer-{address}</c>, which serialises its nonces, ARCHITECTURE.md section 5; the
/// market's clearing, <c>clearing</c>, see <see cref="Gates.GateCycleRunner"/>). While held it is renewed in the
/// background every third of its duration; before each guarded write the holder proves it still holds it
/// (<see cref="EnsureHeldAsync"/>), so an instance that was paused past its lease (GC pause, frozen VM) and lost it to
/// another writes nothing more. A holder that dies loses it when the storage service lets it expire. Disposing stops the
/// renewal and releases it.
/// </summary>
/// <remarks>
/// The fence narrows the window, it cannot close it: a pause longer than the lease between a successful check and the
/// write landing still lets two instances write. The lease's duration bounds that window from below.
/// </remarks>
public sealed partial class ExclusiveLease : IAsyncDisposable
{
    /// <summary>The blob container holding one lease blob per lease name.</summary>
    public const string ContainerName = "leases";

    /// <summary>The shortest finite lease the storage service grants: 15 s.</summary>
    public static readonly TimeSpan MinDuration = TimeSpan.FromSeconds(15);

    /// <summary>The longest finite lease the storage service grants: 60 s.</summary>
    public static readonly TimeSpan MaxDuration = TimeSpan.FromSeconds(60);

    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(250);

    private const string NoteKey = "note";

    private readonly BlobClient _blob;
    private readonly BlobLeaseClient _lease;
    private readonly string _name;
    private readonly ILogger _log;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _renewing;

    private ExclusiveLease(BlobClient blob, BlobLeaseClient lease, string name, TimeSpan duration, ILogger log)
    {
        _blob = blob;
        _lease = lease;
        _name = name;
        _log = log;
        // A third of the duration leaves two more attempts before it expires when one renewal fails.
        _renewing = RenewWhileHeldAsync(duration / 3, _stop.Token);
    }

    /// <summary>The name of <paramref name="signer"/>'s lease (its blob in <see cref="ContainerName"/>).</summary>
    public static string SignerName(string signer) => "signer-" + signer.ToLowerInvariant();

    /// <summary>
    /// Takes the lease <paramref name="name"/> for <paramref name="duration"/> (renewed while held), creating its blob if
    /// missing, and waits up to <paramref name="wait"/> for another holder to release it or let it expire.
    /// </summary>
    /// <param name="blobs">The storage account holding the lease blobs.</param>
    /// <param name="name">The lease's blob name.</param>
    /// <param name="leaseId">
    /// The lease id to hold it with (a GUID), or null for a new one. A holder with the same id takes it at once even while
    /// it is held (the storage service renews it): so a retry of one piece of work re-enters the lease its failed attempt
    /// held, instead of waiting for it to expire.
    /// </param>
    /// <param name="duration">The lease's duration, <see cref="MinDuration"/> to <see cref="MaxDuration"/>.</param>
    /// <param name="wait">How long to wait for another holder; zero tries once.</param>
    /// <param name="log">Where renewal failures and a lost lease are logged.</param>
    /// <param name="cancellationToken">Cancels waiting.</param>
    /// <returns>The held lease; dispose it to release it.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="duration"/> is outside 15-60 s.</exception>
    /// <exception cref="TimeoutException">Another instance held it for the whole wait.</exception>
    /// <exception cref="RequestFailedException">The storage service refused or did not answer (after the client's retries).</exception>
    public static async Task<ExclusiveLease> AcquireAsync(
        BlobServiceClient blobs, string name, string? leaseId, TimeSpan duration, TimeSpan wait, ILogger log, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(blobs);
        ArgumentOutOfRangeException.ThrowIfLessThan(duration, MinDuration);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(duration, MaxDuration);
        var container = blobs.GetBlobContainerClient(ContainerName);
        await container.CreateIfNotExistsAsync(cancellationToken: cancellationToken);
        var blob = container.GetBlobClient(name);
        try
        {
            await blob.UploadAsync(BinaryData.Empty, overwrite: false, cancellationToken);
        }
        catch (RequestFailedException e) when (e.Status is 409 or 412)
        {
            // It exists (409 BlobAlreadyExists; 412 LeaseIdMissing if the service checks the other holder's lease
            // first): all we need is a blob to lease.
        }

        var lease = blob.GetBlobLeaseClient(leaseId);
        var waited = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                await lease.AcquireAsync(duration, cancellationToken: cancellationToken);
                return new ExclusiveLease(blob, lease, name, duration, log);
            }
            catch (RequestFailedException e) when (e.ErrorCode == BlobErrorCode.LeaseAlreadyPresent)
            {
                if (waited.Elapsed >= wait) throw new TimeoutException($"the lease {name} is held by another instance", e);
            }
            await Task.Delay(PollInterval, cancellationToken);
        }
    }

    /// <summary>The note the last holder left on the lease (<see cref="WriteNoteAsync"/>), or null.</summary>
    public async Task<string?> ReadNoteAsync(CancellationToken cancellationToken) =>
        (await _blob.GetPropertiesAsync(new BlobRequestConditions { LeaseId = _lease.LeaseId }, cancellationToken)).Value.Metadata
            .TryGetValue(NoteKey, out var note) ? note : null;

    /// <summary>
    /// Leaves a note for the next holder (blob metadata, written only under this lease), or removes it (null): what a
    /// holder that dies or loses the lease part-way has left undone.
    /// </summary>
    /// <exception cref="LeaseLostException">The lease was taken over or broken.</exception>
    public async Task WriteNoteAsync(string? note, CancellationToken cancellationToken)
    {
        try
        {
            await _blob.SetMetadataAsync(note is null ? new Dictionary<string, string>() : new Dictionary<string, string> { [NoteKey] = note },
                new BlobRequestConditions { LeaseId = _lease.LeaseId }, cancellationToken);
        }
        catch (RequestFailedException e) when (e.Status is 409 or 412)
        {
            throw new LeaseLostException(_name, e);
        }
    }

    /// <summary>
    /// The fence before every guarded write: proves this instance still holds the lease by renewing it, which the storage
    /// service grants only to the holder's lease id, and so also extends it by its duration.
    /// </summary>
    /// <exception cref="LeaseLostException">Another instance took the lease over, or it was broken: write nothing more.</exception>
    /// <exception cref="RequestFailedException">The storage service did not answer (after the client's retries): holding is unproven, so write nothing either.</exception>
    public async Task EnsureHeldAsync(CancellationToken cancellationToken)
    {
        try
        {
            await _lease.RenewAsync(cancellationToken: cancellationToken);
        }
        catch (RequestFailedException e) when (IsLost(e))
        {
            throw new LeaseLostException(_name, e);
        }
    }

    /// <summary>Stops the renewal and releases the lease, unless it was already lost (then there is nothing of ours to release).</summary>
    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await _renewing;
        _stop.Dispose();
        try
        {
            await _lease.ReleaseAsync(cancellationToken: CancellationToken.None);
        }
        catch (RequestFailedException e) when (e.Status == 409)
        {
            // Broken or taken over meanwhile: the lease is someone else's now.
        }
        catch (Exception e) when (e is RequestFailedException or AggregateException)
        {
            // Not worth failing finished work for: the next holder waits for the lease to expire instead.
            LogReleaseFailed(_name, Describe(e));
        }
    }

    /// <summary>Lease id mismatch, lease broken or not present (409), or its blob gone (404).</summary>
    private static bool IsLost(RequestFailedException e) => e.Status is 409 or 404;

    /// <summary>The error code or type, never the message (it may carry a request URL).</summary>
    private static string Describe(Exception e) => e is RequestFailedException { ErrorCode: { } code } ? code : e.GetType().Name;

    private async Task RenewWhileHeldAsync(TimeSpan period, CancellationToken stop)
    {
        using var timer = new PeriodicTimer(period);
        try
        {
            while (await timer.WaitForNextTickAsync(stop))
            {
                try
                {
                    await _lease.RenewAsync(cancellationToken: stop);
                }
                catch (RequestFailedException e) when (IsLost(e))
                {
                    LogLost(_name, Describe(e));
                    return; // the fence refuses every further send
                }
                catch (Exception e) when (e is RequestFailedException or AggregateException)
                {
                    // Storage unreachable after the client's retries: the next tick tries again before the lease can expire.
                    LogRenewalFailed(_name, Describe(e));
                }
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Lease {Name} lost ({Error}): nothing more is written under it")]
    private partial void LogLost(string name, string error);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Lease {Name}: renewal failed ({Error}); retrying on the next tick")]
    private partial void LogRenewalFailed(string name, string error);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Lease {Name}: release failed ({Error}); it expires on its own")]
    private partial void LogReleaseFailed(string name, string error);
}

/// <summary>
/// A lease was taken over by another instance or broken while this instance held it: this instance must write nothing
/// more under it (for the signer lease: send nothing more with the key, because another may now own its next nonce).
/// </summary>
public sealed class LeaseLostException(string name, Exception innerException)
    : Exception($"the lease {name} was lost (taken over or broken); nothing more is written under it", innerException);
