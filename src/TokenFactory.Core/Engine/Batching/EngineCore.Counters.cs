namespace TokenFactory.Engine.Batching;

/// <summary>What the engine thread publishes for other threads: counters, the running and waiting counts, the cache's fill.</summary>
public sealed partial class EngineCore
{
    private long _busyTicks, _steps, _scheduledSequences, _prefillTokens, _decodeTokens, _finished, _cancelledCount, _failed, _dequeued, _pendingPrefill;
    private int _running, _preemptedWaiting;
    private double _prefillRate, _decodeRate, _stepSeconds;

    /// <summary>
    /// Weight of the newest step in the throughput averages: about the last ten steps count, so the rates follow a change
    /// of load within a second of steps while one odd step (a page fault, a timer) moves them only a little.
    /// </summary>
    private const double RateSmoothing = 0.2;

    /// <summary>Sequences that have left the wait queue for good: first scheduled, or ended before that. Any thread.</summary>
    public long Dequeued => Volatile.Read(ref _dequeued);

    /// <summary>Sequences running as of the last step. Any thread.</summary>
    public int Running => Volatile.Read(ref _running);

    /// <summary>Preempted sequences waiting to be recomputed, as of the last step. Any thread.</summary>
    public int PreemptedWaiting => Volatile.Read(ref _preemptedWaiting);

    /// <summary>Prompt tokens not yet computed of waiting and running sequences, as of the last step (<see cref="EngineStatus.PendingPrefillTokens"/>). Any thread.</summary>
    public long PendingPrefillTokens => Volatile.Read(ref _pendingPrefill);

    /// <summary>Moving averages of prompt and decode tokens per second of step time; 0 until a step of that kind ran. Any thread.</summary>
    public double PrefillTokensPerSecond => Volatile.Read(ref _prefillRate);
    public double DecodeTokensPerSecond => Volatile.Read(ref _decodeRate);
    /// <summary>A step's wall time, smoothed over recent steps (0 before the first).</summary>
    public double TypicalStepSeconds => Volatile.Read(ref _stepSeconds);

    public int MaxRunning => _scheduler.MaxRunning;
    public int KvBlockSize => _pool.BlockSize;
    public int KvBlocksTotal => _pool.BlockCount;
    public int KvBlocksFree => _pool.FreeBlockCount;

    /// <summary>Cache positions held by blocks in use, and the cache's capacity. Any thread (a snapshot).</summary>
    public long KvCacheUsedTokens => (long)(_pool.BlockCount - _pool.FreeBlockCount) * _pool.BlockSize;
    public long KvCacheCapacityTokens => _pool.CapacityTokens;

    public long KvBytesPerToken => Kv.KvBlockPool.BytesPerBlock(_pool.Layers, _pool.KvDimension, _pool.BlockSize) / _pool.BlockSize;
    public long StateBytesPerSequence => _states?.BytesPerSlot ?? 0;

    public EngineCounters Counters => new()
    {
        Steps = Volatile.Read(ref _steps),
        BusySeconds = Volatile.Read(ref _busyTicks) / (double)System.Diagnostics.Stopwatch.Frequency,
        ScheduledSequences = Volatile.Read(ref _scheduledSequences),
        PrefillTokens = Volatile.Read(ref _prefillTokens),
        DecodeTokens = Volatile.Read(ref _decodeTokens),
        PrefixCacheQueryTokens = _scheduler.PrefixQueryTokens,
        PrefixCacheHitTokens = _scheduler.PrefixHitTokens,
        Preemptions = _scheduler.Preemptions,
        RequestsFinished = Volatile.Read(ref _finished),
        RequestsCancelled = Volatile.Read(ref _cancelledCount),
        RequestsFailed = Volatile.Read(ref _failed),
        KvBlocksTotal = _pool.BlockCount,
        KvBlocksFree = _pool.FreeBlockCount,
        KvBlocksCached = _pool.CachedBlockCount,
        KvBlockSize = _pool.BlockSize,
        SlidingKvBlocksTotal = _sliding?.BlockCount ?? 0,
        SlidingKvBlocksFree = _sliding?.FreeBlockCount ?? 0,
    };

    private void LeaveQueue(Sequence s)
    {
        if (s.LeftQueue)
            return;
        s.LeftQueue = true;
        Interlocked.Increment(ref _dequeued);
    }

    private void Publish()
    {
        var running = _scheduler.Running;
        Volatile.Write(ref _running, running.Count);
        long pending = 0;
        for (int i = 0; i < running.Count; i++)
            pending += PromptLeft(running[i]);
        var waiting = _scheduler.Waiting;
        int preempted = 0;
        for (int i = 0; i < waiting.Count; i++)
        {
            var s = waiting[i];
            if (s.LeftQueue)
                preempted++;
            // Choices of one prompt are queued together and compute it once (the others take it from the prefix cache).
            bool sibling = i > 0 && waiting[i - 1].Group == s.Group && ReferenceEquals(waiting[i - 1].Request.PromptTokens, s.Request.PromptTokens);
            bool shared = s.Group.Leader is { } leader && leader != s && ReferenceEquals(leader.Request.PromptTokens, s.Request.PromptTokens);
            if (!(_scheduler.PrefixCaching && (sibling || shared)))
                pending += PromptLeft(s);
        }
        Volatile.Write(ref _preemptedWaiting, preempted);
        Volatile.Write(ref _pendingPrefill, pending);
    }

    /// <summary>Tokens a sequence must still prefill before it decodes: none once it only has its next token to run.</summary>
    private static int PromptLeft(Sequence s) => s.UncomputedCount == 1 && s.GeneratedCount > 0 ? 0 : s.UncomputedCount;

    /// <summary>After a step of <paramref name="seconds"/>: folds its prompt and decode tokens per second into the averages.</summary>
    private void MeasureRates(int prefillTokens, int decodeTokens, double seconds)
    {
        if (seconds <= 0)
            return;
        Volatile.Write(ref _stepSeconds, Average(_stepSeconds, seconds));
        if (prefillTokens > 0)
            Volatile.Write(ref _prefillRate, Average(_prefillRate, prefillTokens / seconds));
        if (decodeTokens > 0)
            Volatile.Write(ref _decodeRate, Average(_decodeRate, decodeTokens / seconds));
    }

    private static double Average(double average, double sample) => average == 0 ? sample : average + RateSmoothing * (sample - average);
}
