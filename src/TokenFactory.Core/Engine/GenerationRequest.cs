namespace TokenFactory.Engine;

/// <summary>One generation: prompt tokens in, up to <see cref="MaxTokens"/> tokens out.</summary>
public sealed record GenerationRequest
{
    public required IReadOnlyList<int> PromptTokens { get; init; }
    public int MaxTokens { get; init; } = 256;
    public SamplingParameters Sampling { get; init; } = new();
    public IReadOnlyList<string> Stop { get; init; } = [];
    /// <summary>Keep generating past end-of-generation tokens (benchmarks want a fixed length).</summary>
    public bool IgnoreEndOfGeneration { get; init; }
    /// <summary>Null: no logprobs. 0..20: the chosen token's logprob plus that many alternatives.</summary>
    public int? Logprobs { get; init; }
    /// <summary>Also return the prompt tokens' logprobs (completions' echo + logprobs).</summary>
    public bool EchoLogprobs { get; init; }
}

public enum FinishReason
{
    /// <summary>An end-of-generation token or a stop string.</summary>
    Stop,
    /// <summary>max_tokens reached, or the context is full.</summary>
    Length,
    /// <summary>The caller cancelled (e.g. the client disconnected).</summary>
    Cancelled,
}

/// <summary>A generated token and the text it released (empty while a multi-byte character or a possible stop string is pending).</summary>
public readonly record struct GeneratedToken(int Id, string Text, float? Logprob = null, TokenLogprob[]? TopLogprobs = null);

public sealed record GenerationResult
{
    public required int PromptTokens { get; init; }
    /// <summary>Prompt tokens served from the cache instead of being evaluated again.</summary>
    public int CachedPromptTokens { get; init; }
    public required IReadOnlyList<int> Tokens { get; init; }
    public required string Text { get; init; }
    public required FinishReason FinishReason { get; init; }
    public string? MatchedStop { get; init; }
    public TimeSpan PromptTime { get; init; }
    public TimeSpan GenerationTime { get; init; }
    public IReadOnlyList<(float? Logprob, TokenLogprob[]? Top)>? PromptLogprobs { get; init; }

    public double PromptTokensPerSecond => PromptTime.TotalSeconds > 0 ? (PromptTokens - CachedPromptTokens) / PromptTime.TotalSeconds : 0;
    public double GenerationTokensPerSecond => GenerationTime.TotalSeconds > 0 && Tokens.Count > 1 ? (Tokens.Count - 1) / GenerationTime.TotalSeconds : 0;
}
