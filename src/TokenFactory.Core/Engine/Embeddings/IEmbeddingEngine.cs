using TokenFactory.Models;
using TokenFactory.Tokenization;

namespace TokenFactory.Engine.Embeddings;

/// <summary>
/// Computes embeddings: many requests' inputs batched into shared forward passes. Thread-safe; what a host needs to serve
/// <c>/v1/embeddings</c>.
/// </summary>
public interface IEmbeddingEngine : IDisposable
{
    Tokenizer Tokenizer { get; }

    /// <summary>Floats per embedding.</summary>
    int Dimensions { get; }

    /// <summary>The longest input, in tokens.</summary>
    int ContextLength { get; }

    PoolingType Pooling { get; }

    /// <summary>Inputs in the pass now running (<see cref="EngineLoad.Running"/>) and waiting for one (<see cref="EngineLoad.Waiting"/>).</summary>
    EngineLoad Load { get; }

    EmbeddingCounters Counters { get; }

    /// <summary>Queues the inputs (token ids) and returns one pooled, unnormalized vector per input, in order, with the work they took.</summary>
    /// <exception cref="ArgumentException">An input is empty, longer than <see cref="ContextLength"/> or holds an unknown token (param <c>input</c>).</exception>
    /// <exception cref="EngineOverloadedException">Too many inputs are already waiting (nothing was queued).</exception>
    Task<EmbeddingResult> EmbedAsync(IReadOnlyList<int[]> inputs, CancellationToken cancellation = default);

    /// <summary>
    /// The server's shutdown deadline: every request none of whose inputs has gone into a pass fails with
    /// <see cref="EngineStoppedException"/>; those under way finish (their passes are short).
    /// </summary>
    void CancelAll();
}

/// <summary>Cumulative embedding work: forward passes, inputs and tokens encoded.</summary>
public readonly record struct EmbeddingCounters(long Passes, long Inputs, long Tokens);

/// <summary>
/// One request's embeddings: a vector per input, its share of the passes it ran in (time and energy shared by tokens, as
/// prefill work), and how long it waited before its first input ran.
/// </summary>
public sealed record EmbeddingResult(float[][] Vectors, long Tokens, WorkShare Work, TimeSpan QueueTime);

/// <summary>
/// An embedding request cancelled by its caller, with what its passes that had finished did: their tokens ran and are
/// charged, as a cancelled generation's generated tokens are.
/// </summary>
public sealed class EmbeddingCancelledException(long tokens, WorkShare work, TimeSpan queueTime, CancellationToken token)
    : OperationCanceledException("The embedding request was cancelled.", token)
{
    public long Tokens { get; } = tokens;
    public WorkShare Work { get; } = work;
    public TimeSpan QueueTime { get; } = queueTime;
}
