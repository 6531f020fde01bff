namespace TokenFactory.Engine;

/// <summary>Settings of the batching engine.</summary>
public sealed record EngineOptions
{
    /// <summary>Tokens per sequence; 0 means the model's training context, capped at 4096.</summary>
    public int ContextLength { get; init; }
    /// <summary>Compute threads; 0 means all cores.</summary>
    public int Threads { get; init; }
    /// <summary>Requests allowed to wait for a slot; beyond this new requests are refused (<see cref="EngineOverloadedException"/>).</summary>
    public int MaxWaitingRequests { get; init; } = 64;

    /// <summary>Bytes for the batching engine's paged KV cache; 0 means enough for every running sequence's full context, capped at 1 GiB.</summary>
    public long KvCacheMemory { get; init; }
    /// <summary>Tokens one batching step may run (decode tokens plus prefill chunks).</summary>
    public int MaxBatchTokens { get; init; } = 256;
    /// <summary>Sequences the batching engine runs at once.</summary>
    public int MaxRunningSequences { get; init; } = 32;
    /// <summary>
    /// How long an idle engine, woken by a request, waits for the rest of a burst before its first step (it starts sooner once
    /// nothing has arrived for a fifth of this). Null: 5 % of a typical step, at most 2 ms; zero: it starts at once.
    /// </summary>
    public TimeSpan? BurstGather { get; init; }
    /// <summary>Share full KV blocks between requests with the same token prefix.</summary>
    public bool PrefixCaching { get; init; } = true;

    /// <summary>
    /// Models with sliding-window layers (gemma3, gemma4, gpt-oss): keep those layers' keys and values in a cache of their own, from
    /// which blocks return to the pool once the window has passed them, so a long sequence holds only a window's worth there.
    /// Off: every layer keeps every position (more memory, same results).
    /// </summary>
    public bool SlidingWindowCache { get; init; } = true;

    /// <summary>
    /// Hybrid (Mamba) models: bytes for snapshots of the recurrent state that let a prompt resume after a cached prefix (each
    /// snapshot is one sequence's state, <c>RecurrentStateBytes / MaxRunningSequences</c>); 0 turns prefix caching off for them.
    /// </summary>
    public long RecurrentSnapshotMemory { get; init; } = DefaultRecurrentSnapshotMemory;

    /// <summary>Prompt tokens between recurrent-state snapshots (a multiple of the KV block size, 16).</summary>
    public int RecurrentSnapshotInterval { get; init; } = 128;

    public const long DefaultRecurrentSnapshotMemory = 512L << 20;

    /// <summary>Read around every step so each sequence is charged its share of the step's energy; null measures time only.</summary>
    public IEnergyMeter? EnergyMeter { get; init; }

    public const long DefaultKvCacheCap = 1L << 30;

    public int ResolveContextLength(int modelContext) =>
        ContextLength > 0 ? Math.Min(ContextLength, modelContext) : Math.Min(modelContext, 4096);

    /// <summary>
    /// A Jinja chat template to use instead of the model's own (llama.cpp's <c>--chat-template-file</c>): for a file
    /// whose template is missing or wrong, or to describe tools to a model whose template does not.
    /// </summary>
    public string? ChatTemplateSource { get; init; }

    /// <summary>
    /// Embedding pooling for this decoder, replacing the file's <c>{arch}.pooling_type</c>; null keeps the file's. With
    /// neither, the engine computes no embeddings (<see cref="IInferenceEngine.Embeddings"/> is null).
    /// </summary>
    public Models.PoolingType? Pooling { get; init; }
}
