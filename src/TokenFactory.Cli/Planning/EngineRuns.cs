using System.Diagnostics;
using TokenFactory.Compute;
using TokenFactory.Engine;
using TokenFactory.Engine.Batching;
using TokenFactory.Models;
using TokenFactory.Planning;

namespace TokenFactory.Cli.Planning;

/// <summary>
/// Runs a planner workload on TokenFactory's own engine in this process — closed loop at a concurrency, or Poisson
/// arrivals — with fixed-length prompts of random in-vocabulary tokens and ignore-EOS outputs, and measures output
/// tokens/s and mean time to first token: what <c>plan calibrate</c> fits to and <c>plan check</c> compares with.
/// </summary>
internal static class EngineRuns
{
    /// <summary>
    /// Each workload measured <paramref name="rounds"/> times after a round that warms the code up, the set run through once
    /// per round so a slow stretch of a shared machine touches every workload alike; each figure is the median of its rounds.
    /// </summary>
    /// <param name="bandwidth">Probes the rate the weights stream before and after each measured run (their mean is the run's), or null.</param>
    /// <param name="products">Probes the products' rate at <see cref="MeasuredRun.ProductProbeRows"/> rows the same way (<see cref="ProductProbe"/>), or null.</param>
    public static async Task<List<MeasuredRun>> MeasureRoundsAsync(BatchingEngine engine, IReadOnlyList<Workload> workloads, int rounds, int maxBatchTokens, int maxRunning,
        TextWriter? log = null, WeightStreamProbe? bandwidth = null, WeightStreamProbe? products = null)
    {
        var runs = workloads.Select(_ => new List<MeasuredRun>()).ToList();
        // A round not measured first: the tiered JIT replaces each path's first code only after it has run a while, and a
        // calibration's first rounds measured 94 and 108 tokens/s where its third measured 134.
        foreach (var w in workloads)
            await MeasureAsync(engine, w, maxBatchTokens, maxRunning);
        double before = bandwidth?.Best(ProbePasses) ?? 0; // a run's reading after it is the next one's before it
        double productsBefore = products?.FlopsPerSecond(ProductPasses) ?? 0;
        for (int round = 0; round < Math.Max(1, rounds); round++)
        {
            for (int i = 0; i < workloads.Count; i++)
            {
                if (bandwidth != null)
                    await MeasureAsync(engine, Settle, maxBatchTokens, maxRunning);
                var run = await MeasureAsync(engine, workloads[i], maxBatchTokens, maxRunning);
                if (bandwidth != null)
                {
                    double after = bandwidth.Best(ProbePasses);
                    run = run with { BandwidthTbps = (before + after) / 2 / 1e12 };
                    before = after;
                }
                if (products != null)
                {
                    double after = products.FlopsPerSecond(ProductPasses);
                    run = run with { ProductTflops = (productsBefore + after) / 2 / 1e12 };
                    productsBefore = after;
                }
                log?.WriteLine($"  {run.Label}: {run.OutputTokensPerSecond:F1} output tokens/s, TTFT {run.TtftMeanSeconds * 1000:F1} ms" +
                    (bandwidth != null ? $", {run.BandwidthTbps * 1000:F1} GB/s around it" : "") + (products != null ? $", products at {run.ProductTflops * 1000:F0} GFLOPS" : ""));
                runs[i].Add(run);
            }
        }
        return [.. runs.Select(Median)];
    }

    /// <summary>
    /// A short request run, unmeasured, between a probe reading and the next measured run. The probe's threads are not the
    /// engine's, and the engine's first step after a probe often ran slow: two 64-token prompts sent together, 142 ms to the
    /// first token when the engine had just run, 159-172 ms in a third of the tries right after a probe (and not after
    /// 300 ms idle), so a 2-in-flight loop's first pair made its TTFT p99 (of 10 requests, its slowest) 11 % longer.
    /// </summary>
    private static readonly Workload Settle = new() { InputTokens = 16, OutputTokens = 2, Concurrency = 1, Requests = 1 };

    /// <summary>
    /// Passes per probe reading, the best kept (about 100 ms for a 0.5B model's 8-bit weights): after an engine run, up to
    /// four passes in a row ran at half to two thirds of the rate (28-37 GB/s, then 60-65), and readings of the best of four
    /// came out 42 GB/s around runs that went as fast as runs read at 52.
    /// </summary>
    private const int ProbePasses = 12;

    /// <summary>Passes of the product probe around each run, the best kept.</summary>
    private const int ProductPasses = 5;

    /// <summary>The products at <see cref="MeasuredRun.ProductProbeRows"/> rows, probed around each run as the bandwidth is.</summary>
    public static WeightStreamProbe ProductProbe(ComputePool pool, TransformerModel model) => new(new MatMul(pool), DecodeMatrices(model), MeasuredRun.ProductProbeRows);

    /// <summary>
    /// The machine's speed as decoding sees it: the engine's own one-token products over the matrices a decode step
    /// multiplies (<see cref="TransformerWeights.MatricesPerToken"/>), in place. Two read loops measured other things: over
    /// a buffer of their own, 76 GB/s where decoding these pages reached 51 (a VM's guest pages are not all equally fast);
    /// over the weights, readings that moved between 38 and 72 GB/s from one minute to the next while the engine's speed
    /// held within a few percent, and every run predicted at its reading inherited the swing (a 2-in-flight run 13 % off).
    /// </summary>
    public static WeightStreamProbe WeightProbe(ComputePool pool, TransformerModel model) => new(new MatMul(pool), DecodeMatrices(model));

    /// <summary>The matrices one token multiplies (a mixture's first k experts standing for the ones it picks).</summary>
    private static IReadOnlyList<WeightMatrix> DecodeMatrices(TransformerModel model) => model.Weights.MatricesPerToken(model.Config.Moe?.UsedCount ?? 0);

    /// <summary>
    /// Activation rows the product probe multiplies: from 16, where the products stay bound by their arithmetic when the VM's
    /// memory is slow (at 8 rows a 0.6B model's Q8_0 products streamed 37-41 GB/s while one-row products streamed 40-45: a
    /// rate there is the weight reads', which the roofline counts apart, and fits made with it found no unoverlapped share of
    /// compute and reads, so a 2-sequence decode came out 10 % fast when memory sped up), to 128, past which the rate rose
    /// little (128 rows within 4 % of 64 on three dense shapes).
    /// </summary>
    internal static readonly int[] ProductProbeTokens = [16, 32, 64, 128];

    /// <summary>
    /// The rates of the engine's products over the matrices a token multiplies, by the rows they multiply at once
    /// (<see cref="ProductProbeTokens"/>): the planner's compute rate for this model on this machine, the rest of a token's
    /// work fitted apart (<see cref="HardwareProfile.ElementsPerSecond"/>). The products ran at 670-740 GFLOPS at 64 rows on
    /// three dense shapes from 0.5B to 1.1B, while at 16 rows the 1.1B model's kept 95 % of that and the others 87 %, and the
    /// whole of a prompt step's work per FLOP differed by 11-18 % between them. Each point is the best of three sweeps over
    /// all of them, three passes each: one sweep of five passes per point read 548 GFLOPS at 16 rows where the 32-row
    /// point read 645 (a slow stretch of the VM lasts longer than one point's passes), and the check's 16-sequence decode came out 9 % slow.
    /// </summary>
    public static ProductRates ProductRates(ComputePool pool, TransformerModel model)
    {
        var matmul = new MatMul(pool);
        var probes = ProductProbeTokens.Select(rows => new WeightStreamProbe(matmul, DecodeMatrices(model), rows)).ToArray();
        var best = new double[probes.Length];
        for (int sweep = 0; sweep < 3; sweep++)
        {
            for (int i = 0; i < probes.Length; i++)
                best[i] = Math.Max(best[i], probes[i].FlopsPerSecond(3));
        }
        return new([.. probes.Select((p, i) => new ProductRate(p.Tokens, best[i] / 1e12))]);
    }

    /// <summary>The median of <paramref name="values"/> (the mean of the middle two for an even count).</summary>
    internal static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
    }

    /// <summary>One run whose every figure is the median of <paramref name="runs"/>' (of the same workload).</summary>
    private static MeasuredRun Median(IReadOnlyList<MeasuredRun> runs)
    {
        var first = runs[0];
        return new MeasuredRun(first.Workload, first.MaxBatchTokens, first.MaxRunning, Median(runs.Select(r => r.OutputTokensPerSecond)), Median(runs.Select(r => r.TtftMeanSeconds)))
        {
            TtftP50Seconds = Median(runs.Select(r => r.TtftP50Seconds)),
            TtftP99Seconds = Median(runs.Select(r => r.TtftP99Seconds)),
            BandwidthTbps = Median(runs.Select(r => r.BandwidthTbps)),
            ProductTflops = Median(runs.Select(r => r.ProductTflops)),
        };
    }

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
        // A trace as given; else Poisson arrivals drawn after the prompts (a closed loop has none).
        double[] arrivals = w.Arrivals is { } trace ? [.. trace] : new double[requests.Count];
        double t = 0;
        for (int i = 0; w.Arrivals is null && w.ArrivalRate > 0 && i < arrivals.Length; i++)
            arrivals[i] = t += -Math.Log(1 - random.NextDouble()) / w.ArrivalRate;

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
