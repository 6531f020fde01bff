using TokenFactory.Chat;
using TokenFactory.Models;
using TokenFactory.Tokenization;

namespace TokenFactory.Engine;

/// <summary>
/// What a host (the HTTP server, the CLI) needs from an engine: submit a request, stream its tokens,
/// see the load. Implementations: <see cref="SerialEngine"/> (one sequence at a time) and the
/// continuous-batching engine. Thread-safe; many requests may be in flight at once.
/// </summary>
public interface IInferenceEngine : IDisposable
{
    TransformerModel Model { get; }

    Tokenizer Tokenizer { get; }

    /// <summary>The model's chat template, or ChatML when the file has none (<see cref="HasOwnChatTemplate"/> false).</summary>
    ChatTemplate ChatTemplate { get; }

    bool HasOwnChatTemplate { get; }

    /// <summary>Tokens one sequence may hold (prompt + completion).</summary>
    int ContextLength { get; }

    EngineLoad Load { get; }

    /// <summary>Cumulative counters (steps, prefix-cache hits, preemptions…); engines without a concept leave it zero.</summary>
    Batching.EngineCounters Counters => default;

    /// <summary>
    /// Queues a request and streams its tokens; the last update carries <see cref="GenerationUpdate.Final"/>.
    /// Cancelling the token stops the sequence within one decoding step and frees its cache.
    /// </summary>
    /// <exception cref="EngineOverloadedException">The wait queue is full (nothing was queued).</exception>
    /// <exception cref="ContextLengthExceededException">Prompt + max tokens exceeds the context.</exception>
    IAsyncEnumerable<GenerationUpdate> GenerateAsync(GenerationRequest request, CancellationToken cancellation = default);
}

/// <summary>A point-in-time view of the engine's load, for metrics and admission.</summary>
public readonly record struct EngineLoad(int Running, int Waiting, long KvCacheUsedTokens, long KvCacheCapacityTokens)
{
    public double KvCacheUsage => KvCacheCapacityTokens > 0 ? (double)KvCacheUsedTokens / KvCacheCapacityTokens : 0;
}

/// <summary>The request could not be queued because the bounded wait queue is full; retry after <see cref="RetryAfter"/>.</summary>
public sealed class EngineOverloadedException(int waiting, TimeSpan retryAfter)
    : TokenFactoryException($"The server is overloaded: {waiting} requests are already waiting. Retry after {retryAfter.TotalSeconds:F0} s.")
{
    public TimeSpan RetryAfter { get; } = retryAfter;
}

/// <summary>One alternative at a position, for OpenAI-style logprobs.</summary>
public readonly record struct TokenLogprob(int Token, string Text, float Logprob);

/// <summary>
/// One generated token (its text may be empty while a multi-byte character or a possible stop
/// string is pending), or, with <see cref="Final"/> set, the end of the generation.
/// </summary>
public sealed record GenerationUpdate
{
    public int Token { get; init; } = -1;
    public string Text { get; init; } = "";
    /// <summary>Log-probability of <see cref="Token"/> when the request asked for logprobs.</summary>
    public float? Logprob { get; init; }
    public TokenLogprob[]? TopLogprobs { get; init; }
    public GenerationSummary? Final { get; init; }
}

public sealed record GenerationSummary
{
    public required FinishReason FinishReason { get; init; }
    public required int PromptTokens { get; init; }
    public required int CompletionTokens { get; init; }
    public int CachedPromptTokens { get; init; }
    public string? MatchedStop { get; init; }
    /// <summary>From submission until the engine started the prompt.</summary>
    public TimeSpan QueueTime { get; init; }
    /// <summary>From submission until the first generated token.</summary>
    public TimeSpan TimeToFirstToken { get; init; }
    /// <summary>From submission until the end.</summary>
    public TimeSpan TotalTime { get; init; }
    /// <summary>
    /// This generation's share of the engine's compute: each step's wall time and energy divided among its
    /// sequences by the tokens each ran in it, split by prompt (prefill) and generated (decode) work.
    /// </summary>
    public WorkShare Work { get; init; }
    /// <summary>Prompt-token logprobs (position 0 has none) when <see cref="GenerationRequest.EchoLogprobs"/> was set.</summary>
    public IReadOnlyList<(float? Logprob, TokenLogprob[]? Top)>? PromptLogprobs { get; init; }
}

/// <summary>Seconds of engine time and joules charged to one generation, for prompt and for generated tokens.</summary>
public readonly record struct WorkShare(double PrefillSeconds, double DecodeSeconds, double PrefillJoules, double DecodeJoules)
{
    public double Seconds => PrefillSeconds + DecodeSeconds;
    public double Joules => PrefillJoules + DecodeJoules;
}
