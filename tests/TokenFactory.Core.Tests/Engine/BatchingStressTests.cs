using TokenFactory.Engine;
using TokenFactory.Engine.Batching;
using TokenFactory.Kv;
using TokenFactory.Models;
using static TokenFactory.Tests.Engine.EngineTestHelpers;

namespace TokenFactory.Tests.Engine;

/// <summary>Randomized (fixed seed) submits, cancels, abandoned streams and finishes on a small pool: nothing leaks.</summary>
public sealed class BatchingStressTests
{
    [Fact]
    public async Task Random_mix_of_finished_cancelled_abandoned_and_preempted_requests_leaves_the_pool_free()
    {
        using var model = TransformerModel.Load(TestPaths.Stories260K);
        var c = model.Config;
        long budget = 20 * KvBlockPool.BytesPerBlock(c.BlockCount, c.KvDimension);
        using var engine = new BatchingEngine(model, new EngineOptions
        {
            Threads = 2, ContextLength = 320, KvCacheMemory = budget, MaxBatchTokens = 48, MaxRunningSequences = 8, MaxWaitingRequests = 1000,
        });
        var random = new Random(12345);
        // A few shared prefixes so the prefix cache is exercised along with eviction.
        var prefixes = Enumerable.Range(0, 3).Select(i => Prompt(16 * (i + 1) + 3, 900 + i, model.VocabSize)).ToArray();
        var tasks = new List<Task<FinishReason>>();
        for (int i = 0; i < 60; i++)
        {
            int[] prompt = random.Next(2) == 0
                ? [.. prefixes[random.Next(prefixes.Length)], .. Prompt(random.Next(1, 20), i, model.VocabSize)[1..]]
                : Prompt(random.Next(1, 90), i, model.VocabSize);
            var request = new GenerationRequest
            {
                PromptTokens = prompt,
                MaxTokens = random.Next(0, 60),
                Sampling = random.Next(2) == 0 ? SamplingParameters.Greedy : new SamplingParameters { Temperature = 1, Seed = (ulong)i },
                IgnoreEndOfGeneration = random.Next(4) != 0,
            };
            int mode = random.Next(4); // 0: cancel after a delay, 1: abandon after a few tokens, else run to the end
            int delay = random.Next(0, 30);
            int after = random.Next(1, 10);
            tasks.Add(Task.Run(() => Drive(engine, request, mode, delay, after)));
            if (random.Next(3) == 0)
                await Task.Delay(random.Next(0, 15));
        }
        var reasons = await Task.WhenAll(tasks);
        var counters = await Idle(engine);
        Assert.Equal(counters.KvBlocksTotal, counters.KvBlocksFree);
        Assert.Equal(0, engine.Load.Running);
        Assert.Equal(0, engine.Load.Waiting);
        Assert.Contains(FinishReason.Cancelled, reasons);
        Assert.Contains(FinishReason.Length, reasons);
        Assert.True(counters.Preemptions > 0, "the 20-block pool should have forced preemptions");
        Assert.True(counters.PrefixCacheHitTokens > 0, "shared prefixes should have hit the cache");
    }

    private static async Task<FinishReason> Drive(BatchingEngine engine, GenerationRequest request, int mode, int delay, int after)
    {
        using var cts = new CancellationTokenSource();
        if (mode == 0)
            cts.CancelAfter(delay);
        int seen = 0;
        await foreach (var u in engine.GenerateAsync(request, cts.Token))
        {
            if (u.Final != null)
                return u.Final.FinishReason;
            if (mode == 1 && ++seen == after)
                return FinishReason.Cancelled; // stop reading: the engine must notice and drop it
        }
        throw new InvalidOperationException("stream ended without a final update");
    }
}
