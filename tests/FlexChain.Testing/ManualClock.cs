namespace FlexChain.Testing;

/// <summary>A clock that moves only when a test moves it (the market never reads the machine's clock directly).</summary>
public sealed class ManualClock(DateTimeOffset start) : TimeProvider
{
    private long _utcTicks = start.UtcTicks;

    public override DateTimeOffset GetUtcNow() => new(Interlocked.Read(ref _utcTicks), TimeSpan.Zero);

    public void Advance(TimeSpan by) => Interlocked.Add(ref _utcTicks, by.Ticks);

    public void SetTo(DateTimeOffset to)
    {
        if (to.UtcTicks < Interlocked.Read(ref _utcTicks)) throw new ArgumentOutOfRangeException(nameof(to), "time does not go backwards");
        Interlocked.Exchange(ref _utcTicks, to.UtcTicks);
    }
}
