namespace TokenFactory.Engine;

/// <summary>
/// Cumulative counters of a batching engine since it started, as one consistent-enough snapshot for
/// metrics (each field is read atomically; fields may be a step apart).
/// </summary>
public readonly record struct EngineCounters
{
    /// <summary>Model steps run.</summary>
    public long Steps { get; init; }
    /// <summary>Wall time spent inside model steps (the engine's busy time: divided by elapsed time, its utilization).</summary>
    public double BusySeconds { get; init; }
    /// <summary>Sum over steps of the sequences in the step (Steps divides it into the mean batch size).</summary>
    public long ScheduledSequences { get; init; }
    /// <summary>Tokens evaluated as prompt (including recomputation after preemption).</summary>
    public long PrefillTokens { get; init; }
    /// <summary>Tokens evaluated one per sequence while generating.</summary>
    public long DecodeTokens { get; init; }
    /// <summary>Prompt tokens looked up in the prefix cache, and how many were found there.</summary>
    public long PrefixCacheQueryTokens { get; init; }
    public long PrefixCacheHitTokens { get; init; }
    /// <summary>Sequences evicted from the KV cache to be recomputed later.</summary>
    public long Preemptions { get; init; }
    public long RequestsFinished { get; init; }
    public long RequestsCancelled { get; init; }
    public long RequestsFailed { get; init; }
    public int KvBlocksTotal { get; init; }
    public int KvBlocksFree { get; init; }
    public int KvBlocksCached { get; init; }
    public int KvBlockSize { get; init; }
    /// <summary>Blocks of the sliding-window cache (sliding layers' keys and values, kept apart; 0 when not kept apart) and how many are free.</summary>
    public int SlidingKvBlocksTotal { get; init; }
    public int SlidingKvBlocksFree { get; init; }

    public double MeanBatchSequences => Steps > 0 ? (double)ScheduledSequences / Steps : 0;
    public double PrefixCacheHitRate => PrefixCacheQueryTokens > 0 ? (double)PrefixCacheHitTokens / PrefixCacheQueryTokens : 0;
}
