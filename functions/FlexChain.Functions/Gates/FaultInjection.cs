using FlexChain.Messaging;
using Microsoft.Extensions.Options;

namespace FlexChain.Functions.Gates;

/// <summary>Settings of the crash tests (section <c>FaultInjection</c>); never set outside them.</summary>
public sealed class FaultInjectionOptions
{
    /// <summary>
    /// The named point right after whose durable side effect the process exits at once (no shutdown code runs), or null:
    /// <c>clearing-result-stored</c>, <c>lock-mined</c> (the escrow lock is on chain, not yet recorded),
    /// <c>verification-stored</c>, <c>settlement-mined</c> (the settlement is on chain, not yet recorded),
    /// <c>announcement-sent</c> (a request announcement is in the queue, its outbox row not yet marked),
    /// <c>availability-lock-mined</c> (an availability contract's escrow locks are on chain, not yet recorded),
    /// <c>availability-settlement-mined</c> (its escrow settlements are on chain, not yet recorded).
    /// </summary>
    public string? ExitAfter { get; set; }

    /// <summary>
    /// How far ahead of the machine's clock the process's market clock runs (zero: not at all), so a crash test can reach
    /// the end of an availability period (whole hours) without waiting for it.
    /// </summary>
    public TimeSpan ClockOffset { get; set; }
}

/// <summary>Named crash points for the crash tests: a real process killed right after a durable side effect.</summary>
public sealed class FaultInjection(IOptions<FaultInjectionOptions> options)
{
    public const string ClearingResultStored = "clearing-result-stored";
    public const string LockMined = "lock-mined";
    public const string VerificationStored = "verification-stored";
    public const string SettlementMined = "settlement-mined";
    public const string AnnouncementSent = "announcement-sent";
    public const string AvailabilityLockMined = "availability-lock-mined";
    public const string AvailabilitySettlementMined = "availability-settlement-mined";

    /// <summary>The market's clock: the system clock, <see cref="FaultInjectionOptions.ClockOffset"/> ahead when a crash test sets it.</summary>
    public static TimeProvider Clock(FaultInjectionOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        return options.ClockOffset == TimeSpan.Zero ? TimeProvider.System : new OffsetClock(options.ClockOffset);
    }

    private sealed class OffsetClock(TimeSpan offset) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => base.GetUtcNow() + offset;
    }

    /// <summary>Exits the process at once when <paramref name="point"/> is the configured one.</summary>
    public void Reached(string point)
    {
        if (options.Value.ExitAfter == point) Environment.FailFast($"FaultInjection: exit after {point}");
    }

    /// <summary><paramref name="broker"/>, exiting right after each send when <see cref="AnnouncementSent"/> is the configured point.</summary>
    public IMessageBroker AfterSend(IMessageBroker broker) =>
        options.Value.ExitAfter == AnnouncementSent ? new ExitingBroker(broker, this) : broker;

    private sealed class ExitingBroker(IMessageBroker inner, FaultInjection faults) : IMessageBroker
    {
        public IMessageSender GetQueue(string name) => new Sender(inner.GetQueue(name), faults);

        private sealed class Sender(IMessageSender inner, FaultInjection faults) : IMessageSender
        {
            public string Name => inner.Name;

            public async Task SendAsync(OutgoingMessage message, CancellationToken cancellationToken = default)
            {
                await inner.SendAsync(message, cancellationToken);
                faults.Reached(AnnouncementSent);
            }
        }
    }
}
