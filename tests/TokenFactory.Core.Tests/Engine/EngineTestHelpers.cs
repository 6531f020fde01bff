using TokenFactory.Engine;
using TokenFactory.Engine.Batching;
using TokenFactory.Models;

namespace TokenFactory.Tests.Engine;

/// <summary>Runs requests through the engine (asynchronously, or one step at a time on its core), collecting tokens.</summary>
internal static class EngineTestHelpers
{
    public sealed record Outcome(List<int> Tokens, string Text, GenerationSummary Final);

    public static async Task<Outcome> Collect(IInferenceEngine engine, GenerationRequest request, CancellationToken cancellation = default)
    {
        var tokens = new List<int>();
        var text = new System.Text.StringBuilder();
        GenerationSummary? final = null;
        await foreach (var u in engine.GenerateAsync(request, cancellation))
        {
            if (u.Final != null)
                final = u.Final;
            else
            {
                if (u.Token >= 0)
                    tokens.Add(u.Token);
                text.Append(u.Text);
            }
        }
        return new Outcome(tokens, text.ToString(), final ?? throw new InvalidOperationException("no final update"));
    }

    /// <summary>
    /// Runs <paramref name="request"/> and cancels it once <paramref name="tokens"/> tokens have arrived; returns its
    /// final summary (the engine may run a little ahead of this reader before it notices).
    /// </summary>
    public static Task<GenerationSummary> CancelAfter(IInferenceEngine engine, GenerationRequest request, int tokens, CancellationTokenSource cts) =>
        Task.Run(async () =>
        {
            int seen = 0;
            GenerationSummary? final = null;
            await foreach (var u in engine.GenerateAsync(request, cts.Token))
            {
                if (u.Final != null)
                    final = u.Final;
                else if (++seen == tokens)
                    cts.Cancel();
            }
            return final ?? throw new InvalidOperationException("no final update");
        });

    /// <summary>
    /// The request run alone: a fresh engine core with room for one sequence, stepped on this thread, prompts in 64-token
    /// steps (not the batched runs' budgets), so a batched result equal to it is independent of batch and chunking.
    /// </summary>
    public static RecordingOutput Reference(TransformerModel model, GenerationRequest request)
    {
        using var core = new EngineCore(model, new EngineOptions { Threads = 2, ContextLength = 512, MaxRunningSequences = 1, MaxBatchTokens = 64, PrefixCaching = false });
        return RunToEnd(core, request);
    }

    /// <summary>Adds <paramref name="request"/> to <paramref name="core"/> and steps until nothing is left to run.</summary>
    public static RecordingOutput RunToEnd(EngineCore core, GenerationRequest request, CancellationToken cancellation = default)
    {
        var output = new RecordingOutput();
        core.Add(core.CreateSequence(request, output, cancellation));
        while (core.Step())
        {
        }
        if (output.Failure != null)
            throw new InvalidOperationException("The sequence failed.", output.Failure);
        return output;
    }

    /// <summary>Deterministic pseudo-random prompt of in-vocabulary tokens, starting with BOS.</summary>
    public static int[] Prompt(int length, int seed, int vocab)
    {
        var r = new Random(seed);
        var p = new int[length];
        p[0] = 1;
        for (int i = 1; i < length; i++)
            p[i] = r.Next(3, vocab);
        return p;
    }

    public static GenerationRequest Greedy(int[] prompt, int maxTokens) => new()
    {
        PromptTokens = prompt,
        MaxTokens = maxTokens,
        Sampling = SamplingParameters.Greedy,
        IgnoreEndOfGeneration = true,
    };

    /// <summary>Waits for the engine to settle (abandoned streams are noticed a step later), then returns its counters.</summary>
    public static async Task<EngineCounters> Idle(BatchingEngine engine)
    {
        for (int i = 0; i < 500 && !(engine.IsIdle && engine.Counters.KvBlocksFree == engine.Counters.KvBlocksTotal); i++)
            await Task.Delay(10);
        return engine.Counters;
    }
}
