using System.Diagnostics;
using Azure;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;
using Azure.Storage.Blobs.Specialized;

namespace FlexChain.Functions.Settlement;

/// <summary>
/// The lease that lets one app instance at a time send transactions with the operator's key, so that nonces are
/// serialised across instances (ARCHITECTURE.md section 5): a blob lease on <c>leases/signer-{address}</c>. While held
/// it is renewed in the background every third of its duration; before every send the holder proves it still holds it
/// (<see cref="EnsureHeldAsync"/>), so an instance that was paused past its lease (GC pause, frozen VM) and lost it to
/// another sends nothing more. A holder that dies loses it when the storage service lets it expire. Disposing stops the
/// renewal and releases it.
/// </summary>
/// <remarks>
/// The fence narrows the window, it cannot close it: a pause longer than the lease between a successful check and the
/// node accepting the transaction still lets two instances send. The lease's duration bounds that window from below.
/// </remarks>
public sealed partial class SignerLease : IAsyncDisposable
{
    /// <summary>The blob container holding one lease blob per signer address.</summary>
    public const string ContainerName = "leases";

    /// <summary>The shortest finite lease the storage service grants: 15 s.</summary>
    public static readonly TimeSpan MinDuration = TimeSpan.FromSeconds(15);

    /// <summary>The longest finite lease the storage service grants: 60 s.</summary>
    public static readonly TimeSpan MaxDuration = TimeSpan.FromSeconds(60);

    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(250);

    private readonly BlobLeaseClient _lease;
    private readonly string _signer;
    private readonly ILogger _log;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _renewing;

    private SignerLease(BlobLeaseClient lease, string signer, TimeSpan duration, ILogger log)
    {
        _lease = lease;
        _signer = signer;
        _log = log;
        // A third of the duration leaves two more attempts before it expires when one renewal fails.
        _renewing = RenewWhileHeldAsync(duration / 3, _stop.Token);
    }

    /// <summary>The name of <paramref name="signer"/>'s lease blob in <see cref="ContainerName"/>.</summary>
    public static string BlobName(string signer) => "signer-" + signer.ToLowerInvariant();

    /// <summary>
    /// Takes <paramref name="signer"/>'s lease for <paramref name="duration"/> (renewed while held), creating its blob if
    /// missing, and waits up to <paramref name="wait"/> for another holder to release it or let it expire.
    /// </summary>
    /// <param name="blobs">The storage account holding the lease blobs.</param>
    /// <param name="signer">The signer's address.</param>
    /// <param name="duration">The lease's duration, <see cref="MinDuration"/> to <see cref="MaxDuration"/>.</param>
    /// <param name="wait">How long to wait for another holder; zero tries once.</param>
    /// <param name="log">Where renewal failures and a lost lease are logged.</param>
    /// <param name="cancellationToken">Cancels waiting.</param>
    /// <returns>The held lease; dispose it to release it.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="duration"/> is outside 15-60 s.</exception>
    /// <exception cref="TimeoutException">Another instance held it for the whole wait.</exception>
    /// <exception cref="RequestFailedException">The storage service refused or did not answer (after the client's retries).</exception>
    public static async Task<SignerLease> AcquireAsync(
        BlobServiceClient blobs, string signer, TimeSpan duration, TimeSpan wait, ILogger log, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(blobs);
        ArgumentOutOfRangeException.ThrowIfLessThan(duration, MinDuration);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(duration, MaxDuration);
        var container = blobs.GetBlobContainerClient(ContainerName);
        await container.CreateIfNotExistsAsync(cancellationToken: cancellationToken);
        var blob = container.GetBlobClient(BlobName(signer));
        try
        {
            await blob.UploadAsync(BinaryData.Empty, overwrite: false, cancellationToken);
        }
        catch (RequestFailedException e) when (e.Status is 409 or 412)
        {
            // It exists (409 BlobAlreadyExists; 412 LeaseIdMissing if the service checks the other holder's lease
            // first): all we need is a blob to lease.
        }

        var lease = blob.GetBlobLeaseClient();
        var waited = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                await lease.AcquireAsync(duration, cancellationToken: cancellationToken);
                return new SignerLease(lease, signer, duration, log);
            }
            catch (RequestFailedException e) when (e.ErrorCode == BlobErrorCode.LeaseAlreadyPresent)
            {
                if (waited.Elapsed >= wait) throw new TimeoutException($"the signer lease for {signer} is held by another instance", e);
            }
            await Task.Delay(PollInterval, cancellationToken);
        }
    }

    /// <summary>
    /// The fence before every send: proves this instance still holds the lease by renewing it, which the storage
    /// service grants only to the holder's lease id, and so also extends it by its duration.
    /// </summary>
    /// <exception cref="SignerLeaseLostException">Another instance took the lease over, or it was broken: send nothing more.</exception>
    /// <exception cref="RequestFailedException">The storage service did not answer (after the client's retries): holding is unproven, so send nothing either.</exception>
    public async Task EnsureHeldAsync(CancellationToken cancellationToken)
    {
        try
        {
            await _lease.RenewAsync(cancellationToken: cancellationToken);
        }
        catch (RequestFailedException e) when (IsLost(e))
        {
            throw new SignerLeaseLostException(_signer, e);
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
            LogReleaseFailed(_signer, Describe(e));
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
                    LogLost(_signer, Describe(e));
                    return; // the fence refuses every further send
                }
                catch (Exception e) when (e is RequestFailedException or AggregateException)
                {
                    // Storage unreachable after the client's retries: the next tick tries again before the lease can expire.
                    LogRenewalFailed(_signer, Describe(e));
                }
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Signer lease for {Signer} lost ({Error}): no further transaction is sent under it")]
    private partial void LogLost(string signer, string error);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Signer lease for {Signer}: renewal failed ({Error}); retrying on the next tick")]
    private partial void LogRenewalFailed(string signer, string error);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Signer lease for {Signer}: release failed ({Error}); it expires on its own")]
    private partial void LogReleaseFailed(string signer, string error);
}

/// <summary>
/// The signer lease was taken over by another instance or broken while this instance held it: this instance must send
/// nothing more with the key, because another may now own its next nonce.
/// </summary>
public sealed class SignerLeaseLostException(string signer, Exception innerException)
    : Exception($"the signer lease for {signer} was lost (taken over or broken); no further transaction is sent", innerException);
