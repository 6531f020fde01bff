namespace TokenFactory.Floor.RateLimiting;

/// <summary>
/// A bucket of <see cref="Capacity"/> units refilled continuously at capacity per minute (OpenAI's RPM and
/// TPM limits): a burst up to the limit is allowed, then the steady rate. Time comes from the caller.
/// </summary>
public sealed class TokenBucket(long capacity, long startTimestamp)
{
    private readonly Lock _lock = new();
    private double _level = capacity;
    private long _updated = startTimestamp;

    public long Capacity { get; } = capacity;

    private double RefillPerTick(TimeProvider time) => Capacity / 60.0 / time.TimestampFrequency;

    /// <summary>Takes <paramref name="amount"/> if that many are there; else says how long until they will be.</summary>
    public bool TryTake(long amount, TimeProvider time, out TimeSpan retryAfter)
    {
        lock (_lock)
        {
            Refill(time);
            if (amount <= _level)
            {
                _level -= amount;
                retryAfter = TimeSpan.Zero;
                return true;
            }
            retryAfter = amount > Capacity ? TimeSpan.MaxValue : TimeSpan.FromSeconds((amount - _level) / (Capacity / 60.0));
            return false;
        }
    }

    /// <summary>Gives back what a request reserved but did not use (never above capacity).</summary>
    public void Return(long amount, TimeProvider time)
    {
        lock (_lock)
        {
            Refill(time);
            _level = Math.Min(Capacity, _level + amount);
        }
    }

    /// <summary>Units left now, and how long until the bucket is full again.</summary>
    public (long Remaining, TimeSpan UntilFull) Peek(TimeProvider time)
    {
        lock (_lock)
        {
            Refill(time);
            return ((long)Math.Floor(_level), TimeSpan.FromSeconds((Capacity - _level) / (Capacity / 60.0)));
        }
    }

    private void Refill(TimeProvider time)
    {
        long now = time.GetTimestamp();
        _level = Math.Min(Capacity, _level + (now - _updated) * RefillPerTick(time));
        _updated = now;
    }
}
