using TokenFactory.Engine;
using TokenFactory.Engine.Batching;

namespace TokenFactory.Tests.Engine;

/// <summary>Keeps what the engine delivers for one sequence: tokens, their log-probabilities, the text, the summary.</summary>
internal sealed class RecordingOutput : ISequenceOutput
{
    public List<int> Tokens { get; } = [];
    /// <summary>Per token: its logprob, then its alternatives' (when the request asked for them).</summary>
    public List<float> Logprobs { get; } = [];
    public System.Text.StringBuilder Written { get; } = new();
    public GenerationSummary? Summary { get; private set; }
    public Exception? Failure { get; private set; }

    public void Token(int token, ReadOnlySpan<char> text, float? logprob, TokenLogprob[]? topLogprobs)
    {
        Tokens.Add(token);
        Written.Append(text);
        if (logprob is float lp)
            Logprobs.Add(lp);
        foreach (var t in topLogprobs ?? [])
            Logprobs.Add(t.Logprob);
    }

    public void Text(ReadOnlySpan<char> text) => Written.Append(text);

    public void Finished(GenerationSummary summary) => Summary = summary;

    public void Failed(Exception error) => Failure = error;
}
