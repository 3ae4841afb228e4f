using Azure.Core;

namespace FlexChain.Messaging.StorageQueues;

/// <summary>
/// Options for <see cref="StorageQueueServiceClient"/>: the Azure.Core pipeline settings (retry, transport,
/// diagnostics), the Queue service version and the delivery policy shared by its queues.
/// </summary>
/// <remarks>
/// Retries use Azure.Core's defaults (408, 429, 5xx and transport failures, exponential back-off); each attempt is
/// signed again. A retried Put Message whose first response was lost may store the message twice; consumers
/// de-duplicate by message id, as they must for any redelivery.
/// </remarks>
public sealed class StorageQueueClientOptions : ClientOptions
{
    /// <summary>The <c>x-ms-version</c> sent by default (needs 2017-07-29 or later for a never-expiring <c>messagettl=-1</c>).</summary>
    public const string DefaultServiceVersion = "2020-10-02";

    /// <summary>The <c>x-ms-version</c> sent with every request.</summary>
    public string ServiceVersion { get; set; } = DefaultServiceVersion;

    /// <summary>
    /// How long a received message stays locked (invisible to other receivers): 1 second to 7 days, whole seconds;
    /// default 30 seconds.
    /// </summary>
    public TimeSpan LockDuration { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// How many deliveries a message gets before it is moved to the poison queue (like the Functions host's
    /// <c>maxDequeueCount</c>); at least 1, default 5.
    /// </summary>
    public int MaxDeliveryCount { get; set; } = 5;

    /// <summary>Create a queue on first use when the service answers 404 QueueNotFound to a send (default <see langword="true"/>).</summary>
    public bool CreateQueueIfMissing { get; set; } = true;

    /// <summary>The clock used to turn a scheduled enqueue time into a visibility delay (default: the system clock).</summary>
    public TimeProvider TimeProvider { get; set; } = TimeProvider.System;

    internal void Validate()
    {
        if (LockDuration < TimeSpan.FromSeconds(1) || LockDuration > TimeSpan.FromDays(7))
            throw new ArgumentOutOfRangeException(nameof(LockDuration), LockDuration, "The lock duration is 1 second to 7 days.");
        if (MaxDeliveryCount < 1)
            throw new ArgumentOutOfRangeException(nameof(MaxDeliveryCount), MaxDeliveryCount, "At least one delivery.");
        ArgumentNullException.ThrowIfNull(TimeProvider);
        ArgumentException.ThrowIfNullOrEmpty(ServiceVersion);
    }
}
