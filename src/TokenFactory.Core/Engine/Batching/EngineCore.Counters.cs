namespace TokenFactory.Engine.Batching;

/// <summary>What the engine thread publishes for other threads: counters, the running and waiting counts, the cache's fill.</summary>
public sealed partial class EngineCore
{
    private long _steps, _scheduledSequences, _prefillTokens, _decodeTokens, _finished, _cancelledCount, _failed, _dequeued;
    private int _running, _preemptedWaiting;

    /// <summary>Sequences that have left the wait queue for good: first scheduled, or ended before that. Any thread.</summary>
    public long Dequeued => Volatile.Read(ref _dequeued);

    /// <summary>Sequences running as of the last step. Any thread.</summary>
    public int Running => Volatile.Read(ref _running);

    /// <summary>Preempted sequences waiting to be recomputed, as of the last step. Any thread.</summary>
    public int PreemptedWaiting => Volatile.Read(ref _preemptedWaiting);

    /// <summary>Cache positions held by blocks in use, and the cache's capacity. Any thread (a snapshot).</summary>
    public long KvCacheUsedTokens => (long)(_pool.BlockCount - _pool.FreeBlockCount) * _pool.BlockSize;
    public long KvCacheCapacityTokens => _pool.CapacityTokens;

    public EngineCounters Counters => new()
    {
        Steps = Volatile.Read(ref _steps),
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
        Volatile.Write(ref _running, _scheduler.Running.Count);
        var waiting = _scheduler.Waiting;
        int preempted = 0;
        for (int i = 0; i < waiting.Count; i++)
        {
            if (waiting[i].LeftQueue)
                preempted++;
        }
        Volatile.Write(ref _preemptedWaiting, preempted);
    }
}
