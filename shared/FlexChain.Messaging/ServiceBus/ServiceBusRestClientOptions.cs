using Azure.Core;

namespace FlexChain.Messaging.ServiceBus;

/// <summary>Options for <see cref="ServiceBusRestClient"/>: the Azure.Core pipeline settings plus receive and token settings.</summary>
/// <remarks>
/// <para>The lock duration and the maximum delivery count are properties of the Service Bus queue (set in infrastructure),
/// not of a client: the broker locks a message for the queue's <c>LockDuration</c> and dead-letters it after
/// <c>MaxDeliveryCount</c> deliveries.</para>
/// <para>Retries use Azure.Core's defaults. A retried send whose first response was lost may store the message twice
/// unless the queue has duplicate detection on (it keys on the message id); consumers de-duplicate in any case.</para>
/// </remarks>
public sealed class ServiceBusRestClientOptions : ClientOptions
{
    /// <summary>
    /// How long a receive waits for a message before answering "none" (the Peek-Lock <c>timeout</c>), whole seconds,
    /// 0 to 60; default 0 (answer at once).
    /// </summary>
    public TimeSpan ReceiveWaitTime { get; set; } = TimeSpan.Zero;

    /// <summary>How long each SAS token this client makes is valid (default 20 minutes; a fresh one is made per attempt).</summary>
    public TimeSpan SasTokenLifetime { get; set; } = TimeSpan.FromMinutes(20);

    /// <summary>The largest message the namespace accepts, body plus broker properties, in bytes (default 256 KiB, the Standard tier's).</summary>
    public int MaxMessageSizeBytes { get; set; } = 256 * 1024;

    /// <summary>The clock for token expiry (default: the system clock).</summary>
    public TimeProvider TimeProvider { get; set; } = TimeProvider.System;

    internal void Validate()
    {
        if (ReceiveWaitTime < TimeSpan.Zero || ReceiveWaitTime > TimeSpan.FromSeconds(60))
            throw new ArgumentOutOfRangeException(nameof(ReceiveWaitTime), ReceiveWaitTime, "0 to 60 seconds.");
        if (SasTokenLifetime < TimeSpan.FromMinutes(1))
            throw new ArgumentOutOfRangeException(nameof(SasTokenLifetime), SasTokenLifetime, "At least one minute.");
        if (MaxMessageSizeBytes < 1024)
            throw new ArgumentOutOfRangeException(nameof(MaxMessageSizeBytes), MaxMessageSizeBytes, "At least 1 KiB.");
        ArgumentNullException.ThrowIfNull(TimeProvider);
    }
}
