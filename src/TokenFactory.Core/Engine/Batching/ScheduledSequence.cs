namespace TokenFactory.Engine.Batching;

/// <summary>
/// A sequence's share of one step: how many of its uncomputed tokens run, which logits rows are its,
/// and (filled in while logits arrive) the token sampled from its last row. Reused step to step.
/// </summary>
public sealed class ScheduledSequence
{
    public Sequence Sequence { get; private set; } = null!;
    public int TokenCount { get; private set; }
    /// <summary>First logits row of this sequence in the step, and how many it has (consecutive).</summary>
    public int FirstLogitRow { get; set; } = -1;
    public int LogitRowCount { get; set; }
    /// <summary>Position of the token behind <see cref="FirstLogitRow"/>.</summary>
    public int FirstLogitPosition { get; set; }

    /// <summary>Set when the step completes the sequence's known tokens, so a new one was sampled.</summary>
    public int SampledToken { get; set; } = -1;
    public float? Logprob { get; set; }
    /// <summary>One generated token being evaluated (decode), as opposed to prompt work (prefill or recomputation).</summary>
    public bool IsDecode { get; set; }
    public TokenLogprob[]? TopLogprobs { get; set; }
    /// <summary>What went wrong reading this sequence's logits (a sampler or logprob failure): it alone fails, after the step.</summary>
    public Exception? Failure { get; set; }

    public void Reset(Sequence sequence, int tokenCount)
    {
        Sequence = sequence;
        TokenCount = tokenCount;
        FirstLogitRow = -1;
        LogitRowCount = 0;
        FirstLogitPosition = 0;
        SampledToken = -1;
        IsDecode = false;
        Logprob = null;
        TopLogprobs = null;
        Failure = null;
    }
}
