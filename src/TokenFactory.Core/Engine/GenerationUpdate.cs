namespace TokenFactory.Engine;

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
