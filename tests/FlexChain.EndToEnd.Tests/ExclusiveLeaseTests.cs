using System.ComponentModel.DataAnnotations;
using System.Diagnostics;
using Azure;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;
using Azure.Storage.Blobs.Specialized;
using FlexChain.Functions.Hosting;
using FlexChain.Functions.Settlement;
using FlexChain.Testing;
using Microsoft.Extensions.Logging.Abstractions;

namespace FlexChain.EndToEnd.Tests;

/// <summary>
/// The lease of the operator key's signer and of the market's clearing on a real blob lease (Azurite): exclusive,
/// re-entered with the same lease id, renewed while held, fenced, released, with a note for the next holder.
/// </summary>
public sealed class ExclusiveLeaseTests(AzuriteFixture azurite) : IClassFixture<AzuriteFixture>
{
    private static readonly TimeSpan Duration = ExclusiveLease.MinDuration;
    private readonly BlobServiceClient _blobs = new(azurite.ConnectionString);
    private readonly string _name = ExclusiveLease.SignerName("0x" + Guid.NewGuid().ToString("N") + "00000000"); // a fresh blob per test

    private Task<ExclusiveLease> AcquireAsync(TimeSpan wait, string? leaseId = null) =>
        ExclusiveLease.AcquireAsync(_blobs, _name, leaseId, Duration, wait, NullLogger.Instance, CancellationToken.None);

    /// <summary>Another client on the same blob: how a second instance, or an operator breaking the lease, sees it.</summary>
    private BlobLeaseClient OtherClient() =>
        _blobs.GetBlobContainerClient(ExclusiveLease.ContainerName).GetBlobClient(_name).GetBlobLeaseClient();

    [Fact]
    public async Task AcquireAsync_WhileAnotherHolds_WaitsAndGetsItAfterRelease()
    {
        var first = await AcquireAsync(TimeSpan.Zero);

        await Assert.ThrowsAsync<TimeoutException>(() => AcquireAsync(TimeSpan.FromSeconds(1)));
        var waiting = AcquireAsync(TimeSpan.FromSeconds(60));
        // The first still proves it holds the lease, so the waiting one cannot have it yet.
        await first.EnsureHeldAsync(CancellationToken.None);
        Assert.False(waiting.IsCompleted);

        await first.DisposeAsync();
        await using var second = await waiting;
        await second.EnsureHeldAsync(CancellationToken.None);
        await Assert.ThrowsAsync<LeaseLostException>(() => first.EnsureHeldAsync(CancellationToken.None));
    }

    [Fact]
    public async Task DisposeAsync_ReleasesAtOnce_NextHolderGetsItOnFirstTry()
    {
        var first = await AcquireAsync(TimeSpan.Zero);
        await first.DisposeAsync();

        // A zero wait is a single attempt: it succeeds only if the release freed the lease, not its expiry.
        await using var next = await AcquireAsync(TimeSpan.Zero);
        await next.EnsureHeldAsync(CancellationToken.None);
    }

    [Fact]
    public async Task EnsureHeldAsync_AfterLeaseBroken_ThrowsLeaseLost()
    {
        await using var holder = await AcquireAsync(TimeSpan.Zero);

        await OtherClient().BreakAsync(TimeSpan.Zero);

        await Assert.ThrowsAsync<LeaseLostException>(() => holder.EnsureHeldAsync(CancellationToken.None));
    }

    [Fact]
    public async Task EnsureHeldAsync_AfterAnotherInstanceTookOver_ThrowsLeaseLost_AndDisposeLeavesTheirLease()
    {
        var paused = await AcquireAsync(TimeSpan.Zero);
        // What a lease that expired during a pause looks like once another instance acquires it.
        await OtherClient().BreakAsync(TimeSpan.Zero);
        await using var successor = await AcquireAsync(TimeSpan.Zero);

        await Assert.ThrowsAsync<LeaseLostException>(() => paused.EnsureHeldAsync(CancellationToken.None));
        await paused.DisposeAsync(); // its release is refused (409) and ignored
        await successor.EnsureHeldAsync(CancellationToken.None);
    }

    [Fact]
    public async Task Renewal_WhileHeld_KeepsLeasePastItsDuration()
    {
        await using var holder = await AcquireAsync(TimeSpan.Zero);
        var competitor = OtherClient();

        // Another instance tries for the lease until well past its duration: without renewal it would get it.
        var held = Stopwatch.StartNew();
        while (held.Elapsed < Duration + TimeSpan.FromSeconds(5))
        {
            var refused = await Assert.ThrowsAsync<RequestFailedException>(() => competitor.AcquireAsync(Duration));
            Assert.Equal(BlobErrorCode.LeaseAlreadyPresent.ToString(), refused.ErrorCode);
            await Task.Delay(TimeSpan.FromSeconds(1));
        }
        await holder.EnsureHeldAsync(CancellationToken.None);
    }

    [Fact]
    public async Task AcquireAsync_WithTheHoldersLeaseId_ReentersAtOnce_OthersStillWait()
    {
        var id = Guid.NewGuid().ToString();
        await using var failed = await AcquireAsync(TimeSpan.Zero, id);   // an attempt that stopped holding it

        await using var retry = await AcquireAsync(TimeSpan.Zero, id);
        await retry.EnsureHeldAsync(CancellationToken.None);
        await Assert.ThrowsAsync<TimeoutException>(() => AcquireAsync(TimeSpan.Zero, Guid.NewGuid().ToString()));
        await Assert.ThrowsAsync<TimeoutException>(() => AcquireAsync(TimeSpan.Zero));
    }

    [Fact]
    public async Task Note_LeftByAHolder_ReadByTheNext_RemovedWithNull_RefusedAfterLoss()
    {
        var first = await AcquireAsync(TimeSpan.Zero);
        Assert.Null(await first.ReadNoteAsync(CancellationToken.None));
        await first.WriteNoteAsync("gc-1", CancellationToken.None);
        await first.DisposeAsync();

        var second = await AcquireAsync(TimeSpan.Zero);
        Assert.Equal("gc-1", await second.ReadNoteAsync(CancellationToken.None));
        await second.WriteNoteAsync(null, CancellationToken.None);
        Assert.Null(await second.ReadNoteAsync(CancellationToken.None));

        await OtherClient().BreakAsync(TimeSpan.Zero);
        await Assert.ThrowsAsync<LeaseLostException>(() => second.WriteNoteAsync("gc-2", CancellationToken.None));
        await second.DisposeAsync();
    }

    [Fact]
    public async Task AcquireAsync_DurationOutsideBlobLeaseRange_Throws()
    {
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() =>
            ExclusiveLease.AcquireAsync(_blobs, _name, null, TimeSpan.FromSeconds(5), TimeSpan.Zero, NullLogger.Instance, CancellationToken.None));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() =>
            ExclusiveLease.AcquireAsync(_blobs, _name, null, TimeSpan.FromSeconds(61), TimeSpan.Zero, NullLogger.Instance, CancellationToken.None));
    }

    [Theory]
    [InlineData("00:00:05", false)]
    [InlineData("00:00:15", true)]
    [InlineData("00:01:00", true)]
    [InlineData("00:01:01", false)]
    public void SettlementOptions_SignerLease_ValidatedToBlobLeaseRange(string duration, bool valid)
    {
        var options = new SettlementOptions { RpcUrl = "http://127.0.0.1:8545", ChainId = 31337, SettlementContract = "0x1", OperatorKey = "0x1", RegistrarKey = "0x2", SignerLease = TimeSpan.Parse(duration) };

        Assert.Equal(valid, Validator.TryValidateObject(options, new ValidationContext(options), null, validateAllProperties: true));
    }

    [Theory]
    [InlineData(0L, 2000UL, false)]    // not configured: refused at start-up, naming the setting
    [InlineData(31337L, 2000UL, true)]
    [InlineData(1L, 1UL, true)]
    [InlineData(31337L, 0UL, false)]   // a log scan needs at least one block per request
    [InlineData(31337L, 1_000_001UL, false)]
    public void SettlementOptions_ChainIdAndLogSpan_Validated(long chainId, ulong maxLogBlockSpan, bool valid)
    {
        var options = new SettlementOptions { RpcUrl = "http://127.0.0.1:8545", ChainId = chainId, SettlementContract = "0x1", OperatorKey = "0x1", RegistrarKey = "0x2", MaxLogBlockSpan = maxLogBlockSpan };
        var results = new List<ValidationResult>();

        Assert.Equal(valid, Validator.TryValidateObject(options, new ValidationContext(options), results, validateAllProperties: true));
        if (chainId == 0) Assert.Contains(results, r => r.ErrorMessage!.Contains("Chain:ChainId", StringComparison.Ordinal));
    }
}
