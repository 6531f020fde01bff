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
    /// <summary>
    /// The output must be JSON this schema allows (structured output): each sampled token is checked against it and
    /// generation stops once the value is complete. Null: free text.
    /// </summary>
    public Constraints.SchemaNode? OutputSchema { get; init; }

    /// <summary>
    /// A grammar for part of the output only (a tool call the model may or may not make): free text until the output
    /// shows the trigger, then the schema from the trigger on, then free text again. Not with <see cref="OutputSchema"/>.
    /// </summary>
    public TriggeredSchema? TriggeredSchema { get; init; }

    /// <summary>
    /// Every check the engine makes before it queues a request, in one place: sampling parameters, a non-empty prompt of
    /// in-vocabulary tokens, a non-negative token budget, and prompt + budget within <paramref name="contextLength"/>.
    /// </summary>
    /// <exception cref="InvalidGenerationRequestException">Names the first parameter out of bounds.</exception>
    /// <exception cref="ContextLengthExceededException">The request does not fit the context.</exception>
    public void Validate(int contextLength, int vocabularySize)
    {
        Sampling.Validate();
        if (OutputSchema is not null && TriggeredSchema is not null)
            throw new ArgumentException("A request's output follows one schema, or a triggered one, not both.");
        if (PromptTokens.Count == 0)
            throw new InvalidGenerationRequestException(GenerationParameter.Prompt, 0, "at least one token");
        if (MaxTokens < 0)
            throw new InvalidGenerationRequestException(GenerationParameter.MaxTokens, MaxTokens, ">= 0");
        if (Logprobs is int top && (top < 0 || top > LogprobCalculator.MaxTop))
            throw new InvalidGenerationRequestException(GenerationParameter.Logprobs, top, $"between 0 and {LogprobCalculator.MaxTop}");
        if ((long)PromptTokens.Count + MaxTokens > contextLength)
            throw new ContextLengthExceededException(PromptTokens.Count, MaxTokens, contextLength);
        foreach (int t in PromptTokens)
        {
            if ((uint)t >= (uint)vocabularySize)
                throw new InvalidGenerationRequestException(GenerationParameter.Prompt, t, $"a token id in 0..{vocabularySize - 1}");
        }
        foreach (var (t, _) in Sampling.LogitBias ?? new Dictionary<int, float>())
        {
            if ((uint)t >= (uint)vocabularySize)
                throw new InvalidGenerationRequestException(GenerationParameter.LogitBias, t, $"a token id in 0..{vocabularySize - 1}");
        }
    }
}

/// <summary>
/// A schema that starts applying where the output first shows <see cref="Trigger"/> (a tool call's opening marker): the
/// trigger's bytes and whatever follows them in that token are the schema's first bytes, so the schema's text begins with
/// the trigger. <see cref="AtStart"/>: only a trigger at the start of the output (after whitespace) counts. Once the
/// schema's value is complete the output is free again and the next trigger starts it afresh (another call).
/// </summary>
public sealed record TriggeredSchema(string Trigger, Constraints.SchemaNode Schema, bool AtStart = false)
{
    public byte[] TriggerBytes { get; } = System.Text.Encoding.UTF8.GetBytes(Trigger);

    /// <summary>
    /// The model's reasoning block, which is not watched: a trigger written while thinking (the model musing about the call it
    /// will make) is text of the thought, not a call. Null: the whole output is watched.
    /// </summary>
    public ReasoningBlock? Reasoning { get; init; }
}

/// <summary>
/// A reasoning block's tags (<c>&lt;think&gt;</c>, <c>&lt;/think&gt;</c>); <see cref="StartsInside"/>: the prompt opened it, so the
/// output starts inside. Otherwise an output that begins with <see cref="Open"/> (whitespace aside) opens it.
/// </summary>
public sealed record ReasoningBlock(string Open, string Close, bool StartsInside)
{
    public byte[] OpenBytes { get; } = System.Text.Encoding.UTF8.GetBytes(Open);
    public byte[] CloseBytes { get; } = System.Text.Encoding.UTF8.GetBytes(Close);
}

public enum FinishReason
{
    /// <summary>An end-of-generation token or a stop string.</summary>
    Stop,
    /// <summary>The token budget is spent, or the context is full.</summary>
    Length,
    /// <summary>The caller cancelled (e.g. the client disconnected).</summary>
    Cancelled,
}
