using TokenFactory.Chat;
using TokenFactory.Engine.Embeddings;
using TokenFactory.Models;
using TokenFactory.Tokenization;

namespace TokenFactory.Engine;

/// <summary>
/// What a host (the HTTP server, the CLI) needs from an engine: submit a request, stream its tokens,
/// see the load. The implementation is the continuous-batching engine (<c>Engine.Batching.BatchingEngine</c>);
/// hosts' tests substitute their own. Thread-safe; many requests may be in flight at once.
/// </summary>
public interface IInferenceEngine : IDisposable
{
    /// <summary>The loaded model (a decoder, or an encoder that only computes embeddings).</summary>
    IModelFile Model { get; }

    /// <summary>Whether the model generates text; an encoder (BERT) does not, and <see cref="GenerateAsync"/> refuses.</summary>
    bool Generates => true;

    /// <summary>Embeddings of this model (its declared or configured pooling), or null when it has none.</summary>
    IEmbeddingEngine? Embeddings => null;

    Tokenizer Tokenizer { get; }

    /// <summary>The model's chat template, or ChatML when the file has none (<see cref="HasOwnChatTemplate"/> false).</summary>
    ChatTemplate ChatTemplate { get; }

    bool HasOwnChatTemplate { get; }

    /// <summary>Tokens one sequence may hold (prompt + completion).</summary>
    int ContextLength { get; }

    EngineLoad Load { get; }

    /// <summary>Cumulative counters (steps, prefix-cache hits, preemptions…); engines without a concept leave it zero.</summary>
    EngineCounters Counters => default;

    /// <summary>Size and load for placing requests (<see cref="EngineStatus"/>); engines without a concept report only their load.</summary>
    EngineStatus Status => new() { Running = Load.Running, Waiting = Load.Waiting };

    /// <summary>
    /// Queues a request and streams its tokens; the last update carries <see cref="GenerationUpdate.Final"/>.
    /// Cancelling the token stops the sequence within one decoding step and frees its cache.
    /// </summary>
    /// <exception cref="EngineOverloadedException">The wait queue is full (nothing was queued).</exception>
    /// <exception cref="InvalidGenerationRequestException">A parameter is out of bounds (<see cref="GenerationRequest.Validate"/>).</exception>
    /// <exception cref="ContextLengthExceededException">Prompt + max tokens exceeds the context.</exception>
    IAsyncEnumerable<GenerationUpdate> GenerateAsync(GenerationRequest request, CancellationToken cancellation = default);

    /// <summary>
    /// Queues the choices of one request together and returns one stream per choice: they are checked, then
    /// admitted or refused as one unit and counted as one waiting request (<see cref="GenerationGroup"/>).
    /// An engine without a shared queue starts each choice on its own.
    /// </summary>
    /// <exception cref="EngineOverloadedException">The wait queue is full (nothing was queued).</exception>
    IReadOnlyList<IAsyncEnumerable<GenerationUpdate>> Submit(GenerationGroup group, CancellationToken cancellation = default) =>
        [.. group.Choices.Select(choice => GenerateAsync(choice, cancellation))];

    /// <summary>
    /// Ends every generation, running or waiting, as cancelled (the server's shutdown deadline), so each is answered as
    /// one the server stopped while its connection still stands. An engine without a queue of its own may leave it to
    /// its callers' cancellation.
    /// </summary>
    void CancelAll()
    {
    }
}

/// <summary>A point-in-time view of the engine's load, for metrics and admission.</summary>
public readonly record struct EngineLoad(int Running, int Waiting, long KvCacheUsedTokens, long KvCacheCapacityTokens)
{
    public double KvCacheUsage => KvCacheCapacityTokens > 0 ? (double)KvCacheUsedTokens / KvCacheCapacityTokens : 0;
}
