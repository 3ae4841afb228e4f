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

    /// <summary>Timeout of one POST to a subscriber.</summary>
    public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Wall-clock pause between polls for due deliveries (and of server-sent event streams).</summary>
    public TimeSpan PollInterval { get; set; } = TimeSpan.FromMilliseconds(250);

    /// <summary>
    /// Accept webhook URLs whose host is a loopback or private IP literal (tests, local runs). Off in production so a
    /// participant cannot make the market call into its own network.
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

    public static readonly IReadOnlyList<string> All = [RequestPublished, GateClosed, Award, Activation, VerificationResult, Settlement];
}

/// <summary>
/// A webhook subscription of one participant. The secret signs every body (HMAC-SHA256); it is stored because it is
/// needed to sign, and shown to the subscriber only in the answer that created it.
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
    Failed = 2,
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

/// <summary>Signs webhook bodies: <c>sha256=</c> and the lower-case hex HMAC-SHA256 of the raw body with the subscription secret.</summary>
public static class WebhookSignature
{
    public const string Header = "X-FlexChain-Signature";

    public static string Sign(string secret, byte[] body) =>
        "sha256=" + Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), body));

    /// <summary>A new secret: <c>whsec_</c> and 64 hex digits.</summary>
    public static string NewSecret() => "whsec_" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32));
}
