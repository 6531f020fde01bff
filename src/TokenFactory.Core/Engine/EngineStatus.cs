namespace TokenFactory.Engine;

/// <summary>
/// The engine's size and load in one snapshot, for whoever places requests on it (a fleet's router polls it several
/// times a second): every field is read without waiting on the engine's step, so fields may be a step apart.
/// </summary>
public readonly record struct EngineStatus
{
    /// <summary>Sequences running now, and at most.</summary>
    public int Running { get; init; }
    public int MaxRunning { get; init; }
    /// <summary>Sequences waiting to start or to be recomputed after preemption.</summary>
    public int Waiting { get; init; }
    /// <summary>Requests (groups of choices) in the bounded wait queue, and its capacity.</summary>
    public int WaitingRequests { get; init; }
    public int MaxWaitingRequests { get; init; }
    /// <summary>
    /// Prompt tokens not yet computed, of waiting and running sequences (with recomputation after preemption; choices
    /// sharing a prompt count it once), as of the last step: the prefill work ahead of a new request.
    /// </summary>
    public long PendingPrefillTokens { get; init; }
    /// <summary>Measured throughput: moving averages over recent steps of prompt (decode) tokens per step second; 0 until measured.</summary>
    public double PrefillTokensPerSecond { get; init; }
    public double DecodeTokensPerSecond { get; init; }
    public int KvBlockSize { get; init; }
    public int KvBlocksTotal { get; init; }
    public int KvBlocksFree { get; init; }
    public bool PrefixCaching { get; init; }
    /// <summary>Bytes of KV cache one token position takes across all layers (keys and values).</summary>
    public long KvBytesPerToken { get; init; }
    /// <summary>Bytes of recurrent state (Mamba convolution and SSM state) one running sequence holds; 0 for pure transformers.</summary>
    public long StateBytesPerSequence { get; init; }
}
