using System.Diagnostics;
using TokenFactory.Compute;
using TokenFactory.Engine;
using TokenFactory.Engine.Batching;

namespace TokenFactory.Cli.Bench;

/// <summary>
/// One sequence at a time through the batching engine's step (<see cref="EngineCore"/>), driven on the calling thread so a
/// benchmark can time exactly the steps and run its bandwidth probe between them: what <c>bench model</c> measures is the
/// path <c>serve</c> runs. The output keeps no text, so the timed steps allocate nothing.
/// </summary>
internal sealed class SingleSequence(EngineCore core) : ISequenceOutput
{
    /// <summary>
    /// Prompt tokens per step for one sequence (the engine's token budget per step): the chunk the retired
    /// single-sequence pass prefilled in, so <c>bench model</c>'s pp stays comparable with its earlier figures.
    /// </summary>
    public const int PromptChunk = 64;

    private Exception? _failure;
    private GenerationSummary? _summary;

    /// <summary>Seconds to evaluate <paramref name="tokens"/> from an empty cache and pick the token after them.</summary>
    public double Prompt(int[] tokens)
    {
        Start(tokens, maxTokens: 1);
        long t0 = Stopwatch.GetTimestamp();
        while (core.Step())
        {
        }
        double seconds = Stopwatch.GetElapsedTime(t0).TotalSeconds;
        Finish();
        return seconds;
    }

    /// <summary>Seconds to generate <paramref name="n"/> tokens greedily from <paramref name="bos"/>: n steps of one token each.</summary>
    public double Generate(int bos, int n) => GenerateInterleaved(bos, n, probe: null, stretch: n).Seconds;

    /// <summary>
    /// As <see cref="Generate"/>, with one pass of <paramref name="probe"/> before every <paramref name="stretch"/>
    /// tokens and after the last; the seconds count only the steps, the passes give their bytes and their seconds.
    /// </summary>
    public (double Seconds, double PassBytes, double PassSeconds) GenerateInterleaved(int bos, int n, MemoryBandwidth.Probe? probe, int stretch)
    {
        Start([bos], n);
        double seconds = 0, passBytes = 0, passSeconds = 0;
        for (int done = 0; ; done += stretch)
        {
            if (probe != null)
            {
                passSeconds += probe.Bytes / probe.Pass();
                passBytes += probe.Bytes;
            }
            if (done >= n)
                break;
            long t0 = Stopwatch.GetTimestamp();
            for (int i = done; i < Math.Min(n, done + stretch); i++)
                core.Step();
            seconds += Stopwatch.GetElapsedTime(t0).TotalSeconds;
        }
        while (core.Step())
        {
        }
        Finish();
        return (seconds, passBytes, passSeconds);
    }

    private void Start(int[] prompt, int maxTokens)
    {
        _failure = null;
        _summary = null;
        core.Add(core.CreateSequence(new GenerationRequest
        {
            PromptTokens = prompt,
            MaxTokens = maxTokens,
            Sampling = SamplingParameters.Greedy,
            IgnoreEndOfGeneration = true,
        }, this));
    }

    private void Finish()
    {
        if (_failure != null)
            throw new TokenFactoryException($"The benchmark's sequence failed: {_failure.Message}", _failure);
        if (_summary is not { FinishReason: FinishReason.Length })
            throw new InvalidOperationException($"The benchmark's sequence ended as {_summary?.FinishReason.ToString() ?? "nothing"}.");
    }

    void ISequenceOutput.Token(int token, ReadOnlySpan<char> text, float? logprob, TokenLogprob[]? topLogprobs)
    {
    }

    void ISequenceOutput.Text(ReadOnlySpan<char> text)
    {
    }

    void ISequenceOutput.Finished(GenerationSummary summary) => _summary = summary;

    void ISequenceOutput.Failed(Exception error) => _failure = error;
}
