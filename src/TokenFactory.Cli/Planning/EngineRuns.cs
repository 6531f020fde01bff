using System.Diagnostics;
using TokenFactory.Engine;
using TokenFactory.Engine.Batching;
using TokenFactory.Planning;

namespace TokenFactory.Cli.Planning;

/// <summary>
/// Runs a planner workload on TokenFactory's own engine in this process — closed loop at a concurrency, or Poisson
/// arrivals — with fixed-length prompts of random in-vocabulary tokens and ignore-EOS outputs, and measures output
/// tokens/s and mean time to first token: what <c>plan calibrate</c> fits to and <c>plan check</c> compares with.
/// </summary>
internal static class EngineRuns
{
    public static async Task<MeasuredRun> MeasureAsync(BatchingEngine engine, Workload w, int maxBatchTokens, int maxRunning)
    {
        var random = new Random(w.Seed);
        int vocab = engine.Tokenizer.VocabSize;
        int Length(int mean) => Math.Max(1, (int)Math.Round(mean * (1 + w.Spread * (2 * random.NextDouble() - 1))));
        var requests = Enumerable.Range(0, w.Arrivals?.Count ?? w.Requests).Select(_ =>
        {
            // Random tokens: no two prompts share a prefix, so the prefix cache (which the planner does not model) stays out.
            var prompt = Enumerable.Range(0, Length(w.InputTokens)).Select(_ => 3 + random.Next(vocab - 3)).ToArray();
            return (Prompt: prompt, Output: Length(w.OutputTokens));
        }).ToList();
        var arrivals = new double[w.Requests];
        double t = 0;
        for (int i = 0; i < arrivals.Length && w.ArrivalRate > 0; i++)
            arrivals[i] = t += -Math.Log(1 - random.NextDouble()) / w.ArrivalRate;
        if (w.Arrivals != null)
            arrivals = [.. w.Arrivals];

        var clock = Stopwatch.StartNew();
        var ttfts = new double[requests.Count];
        long outputTokens = 0;
        async Task Run(int i)
        {
            if (w.OpenLoop && arrivals[i] > clock.Elapsed.TotalSeconds)
                await Task.Delay(TimeSpan.FromSeconds(arrivals[i] - clock.Elapsed.TotalSeconds));
            double start = clock.Elapsed.TotalSeconds;
            bool first = true;
            await foreach (var u in engine.GenerateAsync(new GenerationRequest
            {
                PromptTokens = requests[i].Prompt, MaxTokens = requests[i].Output, Sampling = SamplingParameters.Greedy, IgnoreEndOfGeneration = true,
            }))
            {
                if (u.Final != null || u.Token < 0)
                    continue;
                if (first)
                {
                    ttfts[i] = clock.Elapsed.TotalSeconds - start;
                    first = false;
                }
                Interlocked.Increment(ref outputTokens);
            }
        }

        if (w.OpenLoop)
            await Task.WhenAll(Enumerable.Range(0, requests.Count).Select(Run));
        else
        {
            int next = -1;
            async Task Worker()
            {
                int i;
                while ((i = Interlocked.Increment(ref next)) < requests.Count)
                    await Run(i);
            }
            await Task.WhenAll(Enumerable.Range(0, Math.Max(1, w.Concurrency)).Select(_ => Task.Run(Worker)));
        }
        double seconds = clock.Elapsed.TotalSeconds - (w.OpenLoop ? arrivals[0] : 0);
        var sorted = ttfts.Order().ToArray();
        return new MeasuredRun(w, maxBatchTokens, maxRunning, outputTokens / seconds, ttfts.Average())
        {
            TtftP50Seconds = sorted[Math.Clamp((int)Math.Ceiling(0.5 * sorted.Length) - 1, 0, sorted.Length - 1)],
            TtftP99Seconds = sorted[Math.Clamp((int)Math.Ceiling(0.99 * sorted.Length) - 1, 0, sorted.Length - 1)],
        };
    }
}
