using System.Security.Cryptography;
using System.Text;
using FlexChain.Domain;

namespace FlexChain.Functions.Notifications;

/// <summary>Settings of notifications (section <c>Notifications</c>).</summary>
public sealed class NotificationOptions
{
    /// <summary>Attempts per webhook delivery before it is marked failed (1 to 20).</summary>
    public int MaxAttempts { get; set; } = 8;

    /// <summary>Wait before the second attempt; each later wait doubles, up to <see cref="MaxBackoff"/>.</summary>
    public TimeSpan InitialBackoff { get; set; } = TimeSpan.FromSeconds(1);

    public TimeSpan MaxBackoff { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>How long one attempt holds a delivery: an instance that crashes mid-attempt gives it up after this.</summary>
    public TimeSpan AttemptLease { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>Timeout of one POST to a subscriber, connection included.</summary>
    public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Timeout of connecting to a subscriber (DNS and TCP).</summary>
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>Deliveries to one subscriber in flight at once; subscribers are served side by side, so a slow one delays only itself.</summary>
    public int ParallelismPerSubscriber { get; set; } = 2;

    /// <summary>Subscribers served at once by one instance.</summary>
    public int ParallelSubscribers { get; set; } = 16;

    /// <summary>Consecutive failed attempts to one subscription that open its circuit: its deliveries wait <see cref="BreakDuration"/>, then one is tried.</summary>
    public int BreakAfterFailures { get; set; } = 5;

    public TimeSpan BreakDuration { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>Attempts a delivery gets in all, redeliveries on demand included; then it is dead-lettered.</summary>
    public int MaxTotalAttempts { get; set; } = 24;

    /// <summary>Age after which a delivery is no longer attempted or redelivered: it is dead-lettered.</summary>
    public TimeSpan MaxDeliveryAge { get; set; } = TimeSpan.FromDays(3);

    /// <summary>
    /// Base64 of the 32-byte AES-256 key that encrypts webhook secrets at rest (Key Vault in Azure). Unset: a key derived
    /// from the operator's chain key (Chain:OperatorKey) with HKDF, so a single secret protects both; set it to rotate separately.
    /// </summary>
    public string? SecretKey { get; set; }

    /// <summary>Wall-clock pause between polls for due deliveries (and of server-sent event streams).</summary>
    public TimeSpan PollInterval { get; set; } = TimeSpan.FromMilliseconds(250);

    /// <summary>
    /// Deliver to loopback and private addresses (a development and test setting; off by default). Off, a participant
    /// cannot make the market call into its own network: every delivery checks the address it connects to.
    /// </summary>
    public bool AllowPrivateTargets { get; set; }
}

/// <summary>The event types a participant can receive, as they appear in <c>type</c> and <c>X-FlexChain-Event</c>.</summary>
public static class EventTypes
{
    public const string RequestPublished = "request.published";
    public const string GateClosed = "gate.closed";
    public const string Award = "award";
    public const string Activation = "activation";
    public const string VerificationResult = "verification.result";
    public const string Settlement = "settlement";
    public const string GateCycleNeedsAttention = "gate-cycle.needs-attention";
    public const string FundingFailed = "funding.failed";
    public const string Unpaid = "settlement.unpaid";
    public const string OfferForwarded = "offer.forwarded";

    public const string GridState = "grid-state";

    public static readonly IReadOnlyList<string> All =
        [RequestPublished, GateClosed, Award, Activation, VerificationResult, Settlement, GateCycleNeedsAttention, FundingFailed, Unpaid, OfferForwarded, GridState];
}

/// <summary>
/// A webhook subscription of one participant. The secret signs every body (HMAC-SHA256); it is stored encrypted
/// (<see cref="WebhookSecrets"/>) because it is needed to sign, and shown to the subscriber only in the answer that created it.
/// </summary>
public sealed record WebhookSubscription(string Id, string ParticipantId, Role Role, Uri Url, IReadOnlyList<string> EventTypes, string Secret, DateTimeOffset CreatedAt)
{
    public bool Wants(string type) => EventTypes.Contains(type);
}

/// <summary>
/// One event for one recipient (a participant id, or <c>role:Cpo</c> for events every CPO receives). <see cref="Body"/>
/// is the exact JSON sent and signed: <c>{ id, type, occurredAt, requestId, data }</c>.
/// </summary>
public sealed record NotificationEvent(string Id, string Type, DateTimeOffset OccurredAt, string RequestId, string Recipient, string Body);

/// <summary>
/// An event at its place in its recipient's stream. <see cref="Position"/> is <c>{ticks of RecordedAt}_{event id}</c>:
/// positions of every recipient compare alike (ordinal), and reading on after one resumes the stream there.
/// <see cref="RecordedAt"/> is when the event was stored, just after its webhook fan-out, so a little after it occurred.
/// </summary>
public sealed record StreamedEvent(string Position, DateTimeOffset RecordedAt, NotificationEvent Event);

public enum DeliveryState
{
    Pending = 0,
    Delivered = 1,

    /// <summary>This round's attempts are spent; it can be redelivered on demand while its budget lasts.</summary>
    Failed = 2,

    /// <summary>Its budget is spent (<see cref="NotificationOptions.MaxTotalAttempts"/> or <see cref="NotificationOptions.MaxDeliveryAge"/>): never attempted again.</summary>
    DeadLettered = 3,
}

/// <summary>One attempt to deliver: when, the HTTP status (null on a transport error) and the error, if any.</summary>
public sealed record DeliveryAttempt(int Number, DateTimeOffset At, int? Status, string? Error, bool Redelivery = false);

/// <summary>One event to one subscription, with its attempts.</summary>
public sealed record WebhookDelivery(
    string Id, string SubscriptionId, string ParticipantId, string EventId, string EventType, string Body, DateTimeOffset CreatedAt)
{
    public DeliveryState State { get; init; }
    public IReadOnlyList<DeliveryAttempt> Attempts { get; init; } = [];
    public DateTimeOffset? NextAttemptAt { get; init; }

    /// <summary>Attempts since the delivery was created or last redelivered on demand (the backoff and the limit count these).</summary>
    public int RoundAttempts { get; init; }

    /// <summary>Set by a redelivery on demand until its first attempt.</summary>
    public bool Redelivering { get; init; }

    /// <summary>The delivery id: deterministic per subscription and event, so fanning an event out again never duplicates it.</summary>
    public static string IdFor(string subscriptionId, string eventId) =>
        "dlv_" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(subscriptionId + "\n" + eventId)))[..32];
}

/// <summary>
/// Signs webhook bodies: <c>sha256=</c> and the lower-case hex HMAC-SHA256, keyed with the subscription secret, of
/// <c>{timestamp}.{raw body}</c>, where the timestamp is <see cref="TimestampHeader"/> (Unix seconds of the attempt).
/// Receivers recompute it and refuse a timestamp more than a few minutes from their clock, so a captured delivery
/// cannot be replayed later (docs/SECURITY.md).
/// </summary>
public static class WebhookSignature
{
    public const string Header = "X-FlexChain-Signature";
    public const string TimestampHeader = "X-FlexChain-Timestamp";

    public static string Sign(string secret, long timestamp, byte[] body) =>
        "sha256=" + Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), Encoding.ASCII.GetBytes($"{timestamp}.").Concat(body).ToArray()));

    /// <summary>A new secret: <c>whsec_</c> and 64 hex digits.</summary>
    public static string NewSecret() => "whsec_" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32));
}

/// <summary>
/// Webhook secrets at rest: AES-256-GCM under <see cref="NotificationOptions.SecretKey"/>, with the subscription id
/// as associated data (a stored secret cannot be moved to another subscription). Stored as <c>v1.</c> and base64 of
/// nonce, ciphertext and tag. The key is never logged.
/// </summary>
public sealed class WebhookSecrets
{
    private readonly byte[] _key;

    public WebhookSecrets(Microsoft.Extensions.Options.IOptions<NotificationOptions> options, IConfiguration configuration)
    {
        _key = options.Value.SecretKey is { Length: > 0 } configured
            ? Convert.FromBase64String(configured)
            : HKDF.DeriveKey(HashAlgorithmName.SHA256, Convert.FromHexString((configuration["Chain:OperatorKey"]
                ?? throw new InvalidOperationException("Set Notifications:SecretKey or Chain:OperatorKey.")).Replace("0x", "", StringComparison.OrdinalIgnoreCase)), 32, info: "flexchain/webhook-secrets/v1"u8.ToArray());
        if (_key.Length != 32) throw new InvalidOperationException("Notifications:SecretKey must be base64 of 32 bytes.");
    }

    public string Protect(string subscriptionId, string secret)
    {
        var plain = Encoding.UTF8.GetBytes(secret);
        var sealedBytes = new byte[12 + plain.Length + 16];
        RandomNumberGenerator.Fill(sealedBytes.AsSpan(0, 12));
        using var aes = new AesGcm(_key, 16);
        aes.Encrypt(sealedBytes.AsSpan(0, 12), plain, sealedBytes.AsSpan(12, plain.Length), sealedBytes.AsSpan(12 + plain.Length), Encoding.UTF8.GetBytes(subscriptionId));
        return "v1." + Convert.ToBase64String(sealedBytes);
    }

    /// <exception cref="CryptographicException">The stored secret was not sealed with this key for this subscription.</exception>
    public string Unprotect(string subscriptionId, string stored)
    {
        if (!stored.StartsWith("v1.", StringComparison.Ordinal)) throw new CryptographicException("not a protected webhook secret");
        var sealedBytes = Convert.FromBase64String(stored[3..]);
        var plain = new byte[sealedBytes.Length - 28];
        using var aes = new AesGcm(_key, 16);
        aes.Decrypt(sealedBytes.AsSpan(0, 12), sealedBytes.AsSpan(12, plain.Length), sealedBytes.AsSpan(12 + plain.Length), plain, Encoding.UTF8.GetBytes(subscriptionId));
        return Encoding.UTF8.GetString(plain);
    }
}
