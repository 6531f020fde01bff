namespace TokenFactory.Engine.Batching;

/// <summary>
/// Where the engine delivers one sequence's results, on the engine thread. Text arrives as spans over reused buffers,
/// valid only during the call: an output that keeps text copies it, one that does not (benchmarks, the allocation gate)
/// costs the step nothing.
/// </summary>
public interface ISequenceOutput
{
    /// <summary>A generated token and the text it released (empty while a character or a possible stop string is pending).</summary>
    void Token(int token, ReadOnlySpan<char> text, float? logprob, TokenLogprob[]? topLogprobs);

    /// <summary>Text released at the end without a token of its own (held-back text once the token budget is spent).</summary>
    void Text(ReadOnlySpan<char> text);

    /// <summary>The sequence ended (finished, stopped or cancelled); nothing follows.</summary>
    void Finished(GenerationSummary summary);

    /// <summary>The step running the sequence failed; nothing follows.</summary>
    void Failed(Exception error);

    /// <summary>
    /// Whether the reader has fallen so far behind that the sequence should not decode this step (asked once per step, on
    /// the engine thread). A reader that keeps up, or an output that keeps nothing, never does. An output that says yes
    /// takes it as a request to wake the engine (<see cref="BatchingEngine"/>'s loop otherwise looks again every few
    /// milliseconds) when its reader catches up.
    /// </summary>
    bool WaitsForReader() => false;
}
