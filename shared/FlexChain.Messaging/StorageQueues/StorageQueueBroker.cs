using Azure.Storage.Queues;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace FlexChain.Messaging.StorageQueues;

/// <summary>
/// The storage-queue transport: hands out the <see cref="StorageQueue"/>s of one storage account (Azurite locally), for
/// sending (as an <see cref="IMessageBroker"/>) and for receiving (the local trigger driver). Thread-safe; create one per
/// account and keep it.
/// </summary>
/// <remarks>
/// Build the <see cref="QueueServiceClient"/> once: from a connection string locally, with a <c>TokenCredential</c> in
/// Azure. Keep its default <see cref="QueueMessageEncoding.None"/>: the adapter writes base64 text itself.
/// </remarks>
public sealed class StorageQueueBroker : IMessageBroker
{
    private const int MaxQueueNameLength = 63;

    private readonly QueueServiceClient _service;
    private readonly StorageQueueOptions _options;
    private readonly ILogger _logger;

    /// <summary>A broker over <paramref name="service"/> with the delivery policy in <paramref name="options"/>.</summary>
    /// <exception cref="ArgumentNullException">The service client is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of range.</exception>
    public StorageQueueBroker(QueueServiceClient service, StorageQueueOptions? options = null, ILogger<StorageQueueBroker>? logger = null)
    {
        _service = service ?? throw new ArgumentNullException(nameof(service));
        _options = options ?? new StorageQueueOptions();
        _options.Validate();
        _logger = (ILogger?)logger ?? NullLogger.Instance;
    }

    /// <summary>A client for one queue (no request is made; the queue need not exist yet).</summary>
    /// <exception cref="ArgumentException">
    /// The name is not a valid queue name (3–63 lower-case letters, digits and single hyphens, starting and ending with a
    /// letter or digit) or leaves no room for the <c>-poison</c> suffix.
    /// </exception>
    public StorageQueue GetQueue(string name)
    {
        // The SDK does not check names; the service would refuse a bad one only on the first request.
        ArgumentException.ThrowIfNullOrEmpty(name);
        var maxLength = MaxQueueNameLength - StorageQueue.PoisonSuffix.Length;
        var valid = name.Length >= 3 && name.Length <= maxLength
            && char.IsAsciiLetterOrDigit(name[0]) && char.IsAsciiLetterOrDigit(name[^1])
            && name.All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c == '-')
            && !name.Contains("--", StringComparison.Ordinal);
        if (!valid)
            throw new ArgumentException(
                $"Queue names have 3–{maxLength} lower-case letters, digits and single hyphens, and start and end with a letter or digit.", nameof(name));
        return new StorageQueue(_service, name, _options, _logger);
    }

    IMessageSender IMessageBroker.GetQueue(string name) => GetQueue(name);
}

/// <summary>The delivery policy of a <see cref="StorageQueueBroker"/>'s queues.</summary>
public sealed class StorageQueueOptions
{
    /// <summary>
    /// How long a received message stays locked (invisible to other receivers): 1 second to 7 days, rounded up to whole
    /// seconds; default 30 seconds.
    /// </summary>
    public TimeSpan LockDuration { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// How many deliveries a message gets before it is moved to the poison queue (like the Functions host's
    /// <c>maxDequeueCount</c>); at least 1, default 5.
    /// </summary>
    public int MaxDeliveryCount { get; init; } = 5;

    /// <summary>The clock used to turn a scheduled enqueue time into a visibility delay (default: the system clock).</summary>
    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;

    internal void Validate()
    {
        if (LockDuration < TimeSpan.FromSeconds(1) || LockDuration > TimeSpan.FromDays(7))
            throw new ArgumentOutOfRangeException(nameof(LockDuration), LockDuration, "The lock duration is 1 second to 7 days.");
        if (MaxDeliveryCount < 1)
            throw new ArgumentOutOfRangeException(nameof(MaxDeliveryCount), MaxDeliveryCount, "At least one delivery.");
        ArgumentNullException.ThrowIfNull(TimeProvider);
    }
}
