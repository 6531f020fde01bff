using TokenFactory.Engine;
using TokenFactory.Engine.Batching;
using TokenFactory.Kv;
using TokenFactory.Models;
using TokenFactory.Tests.Models;
using static TokenFactory.Tests.Engine.EngineTestHelpers;

namespace TokenFactory.Tests.Engine;

/// <summary>
/// Hybrid models (Nemotron-H's Mamba-2 or Qwen3.5's DeltaNet recurrent state beside the paged KV cache) in the batching engine: the same
/// tokens as the request alone whatever the batch, preemption recomputes with a fresh state,
/// cancellation and completion return every state slot and block, and prefix caching stays off.
/// Synthetic models' greedy tokens lean on the current token, so besides tokens every test compares
/// each step's log-probabilities, bit for bit (<see cref="LogprobTolerance"/>).
/// </summary>
public sealed class HybridBatchingTests
{
    /// <summary>
    /// Batched and solo log-probabilities are the same bits: both run the one paged forward pass, whose per-token results
    /// do not depend on the batch or the prefill chunking (the retired contiguous single-sequence pass was up to 2e-3
    /// apart and needed a tolerance). A sequence reading another's state moves them by far more.
    /// </summary>
    private const float LogprobTolerance = 0f;

    private sealed record Trace(List<int> Tokens, List<float> Logprobs, GenerationSummary? Final);

    private static GenerationRequest WithLogprobs(GenerationRequest r) => r with { Logprobs = 3 };

    private static async Task<Trace> Run(IInferenceEngine engine, GenerationRequest request)
    {
        var trace = new Trace([], [], null);
        GenerationSummary? final = null;
        await foreach (var u in engine.GenerateAsync(request))
        {
            if (u.Final != null)
                final = u.Final;
            else if (u.Token >= 0)
            {
                trace.Tokens.Add(u.Token);
                trace.Logprobs.Add(u.Logprob ?? float.NaN);
                trace.Logprobs.AddRange(u.TopLogprobs?.Select(t => t.Logprob) ?? []);
            }
        }
        return trace with { Final = final };
    }

    /// <summary>The request alone in an engine of its own (<see cref="EngineTestHelpers.Reference"/>).</summary>
    private static Trace Solo(TransformerModel model, GenerationRequest request)
    {
        var alone = Reference(model, request);
        return new Trace(alone.Tokens, alone.Logprobs, alone.Summary);
    }

    private static void AssertSame(Trace expected, Trace actual)
    {
        Assert.Equal(expected.Tokens, actual.Tokens);
        Assert.Equal(expected.Logprobs.Count, actual.Logprobs.Count);
        for (int i = 0; i < expected.Logprobs.Count; i++)
            Assert.True(Math.Abs(expected.Logprobs[i] - actual.Logprobs[i]) <= LogprobTolerance,
                $"log-probability {i}: alone {expected.Logprobs[i]}, batched {actual.Logprobs[i]}");
    }

    public static TheoryData<string> Models() => new()
    {
        "synth-nemotron_h-nemotron-h-tiny-Q8_0-seed1",
        "synth-nemotron_h_moe-nemotron-h-moe-tiny-F32-seed1",
        "synth-nemotron_h_moe-nemotron-h-moe-tiny-Q8_0-seed1",
        "synth-qwen35-qwen35-tiny-Q8_0-seed1",
        "synth-qwen35moe-qwen35moe-tiny-Q8_0-seed1",
    };

    [Theory]
    [MemberData(nameof(Models))]
    public async Task Greedy_sequence_is_identical_alone_or_in_a_batch(string name)
    {
        using var model = TransformerModel.Load(SyntheticModels.Get(name));
        int vocab = model.VocabSize;
        // Prompts straddle the step budget (24) so prefill chunks of one sequence continue its state across steps.
        int[] lengths = [1, 5, 16, 17, 40, 70, 33, 9];
        var requests = lengths.Select((l, i) => WithLogprobs(Greedy(Prompt(l, 100 + i, vocab), 12 + i))).ToList();
        requests.Add(new GenerationRequest
        {
            PromptTokens = Prompt(20, 7, vocab),
            MaxTokens = 16,
            Sampling = new SamplingParameters { Temperature = 0.9f, TopK = 20, Seed = 42 },
            IgnoreEndOfGeneration = true,
            Logprobs = 3,
        });
        var expected = requests.Select(r => Solo(model, r)).ToList();

        using var engine = new BatchingEngine(model, new EngineOptions { Threads = 2, ContextLength = 512, MaxBatchTokens = 24, MaxRunningSequences = 6 });

        Assert.Equal(6, engine.StateSlots);
        var ssm = model.Config.Ssm!;
        Assert.Equal(6L * model.Config.RecurrentLayerCount * (ssm.ConvStateLength + ssm.SsmStateLength) * sizeof(float), engine.RecurrentStateBytes);
        Assert.True(engine.PrefixCaching); // with recurrent-state snapshots
        var outcomes = await Task.WhenAll(requests.Select(r => Run(engine, r)));
        for (int i = 0; i < requests.Count; i++)
            AssertSame(expected[i], outcomes[i]);
        AssertSame(expected[4], await Run(engine, requests[4]));
        var counters = await Idle(engine);
        Assert.Equal(counters.KvBlocksTotal, counters.KvBlocksFree);
        Assert.Equal(engine.StateSlots, engine.FreeStateSlots);
        Assert.True(counters.MeanBatchSequences > 1.5, $"mean batch {counters.MeanBatchSequences}");
    }

    /// <summary>
    /// Hybrid prefix caching: a prompt resumes after the longest cached prefix whose Mamba state was saved, and gets the bits a
    /// cold run gets. With snapshots every 64 tokens, the first prompt saves at 64 and at its last full block (128); the second,
    /// sharing 96 tokens of cached blocks, resumes at 64 and saves at 96, where its cached blocks ran out; the third resumes at 96.
    /// </summary>
    [Theory]
    [InlineData("synth-nemotron_h-nemotron-h-tiny-Q8_0-seed1")]
    [InlineData("synth-qwen35-qwen35-tiny-Q8_0-seed1")] // DeltaNet state in the same snapshots
    public async Task A_shared_prefix_resumes_from_the_saved_state_with_the_bits_of_a_cold_run(string name)
    {
        using var model = TransformerModel.Load(SyntheticModels.Get(name));
        var system = Prompt(100, 1, model.VocabSize);
        int[] first = [.. system, .. Prompt(30, 500, model.VocabSize)];
        int[] second = [.. system, .. Prompt(20, 600, model.VocabSize)];
        int[] third = [.. system, .. Prompt(25, 700, model.VocabSize)];
        using var engine = new BatchingEngine(model, new EngineOptions
        {
            Threads = 2, ContextLength = 512, MaxBatchTokens = 48, PrefixCaching = true, RecurrentSnapshotInterval = 64,
        });
        Assert.True(engine.PrefixCaching);
        var a = await Run(engine, WithLogprobs(Greedy(first, 8)));
        var b = await Run(engine, WithLogprobs(Greedy(second, 8)));
        var c = await Run(engine, WithLogprobs(Greedy(third, 8)));
        Assert.Equal((0, 64, 96), (a.Final!.CachedPromptTokens, b.Final!.CachedPromptTokens, c.Final!.CachedPromptTokens));
        AssertSame(Solo(model, WithLogprobs(Greedy(first, 8))), a);
        AssertSame(Solo(model, WithLogprobs(Greedy(second, 8))), b);
        AssertSame(Solo(model, WithLogprobs(Greedy(third, 8))), c);
        var counters = await Idle(engine);
        Assert.Equal(64 + 96, counters.PrefixCacheHitTokens);
        Assert.Equal(counters.KvBlocksTotal, counters.KvBlocksFree);
        Assert.Equal(engine.StateSlots, engine.FreeStateSlots);
    }

    [Fact]
    public async Task Snapshots_stay_within_their_memory_and_none_turns_hybrid_prefix_caching_off()
    {
        using var model = TransformerModel.Load(SyntheticModels.Get("synth-nemotron_h-nemotron-h-tiny-Q8_0-seed1"));
        var c = model.Config;
        long perSnapshot = (long)c.RecurrentLayerCount * (c.Ssm!.ConvStateLength + c.Ssm.SsmStateLength) * sizeof(float);
        var system = Prompt(100, 1, model.VocabSize);
        int[] first = [.. system, 10, 11, 12];
        int[] second = [.. system, 20, 21];

        using (var off = new BatchingEngine(model, new EngineOptions { Threads = 2, ContextLength = 512, MaxBatchTokens = 64, RecurrentSnapshotMemory = 0 }))
        {
            Assert.False(off.PrefixCaching);
            await Run(off, Greedy(first, 4));
            var b = await Run(off, WithLogprobs(Greedy(second, 8)));
            Assert.Equal(0, b.Final!.CachedPromptTokens);
            AssertSame(Solo(model, WithLogprobs(Greedy(second, 8))), b);
        }

        // Room for two snapshots: a long prompt passes four snapshot points, and only the latest two are kept.
        using var engine = new BatchingEngine(model, new EngineOptions
        {
            Threads = 2, ContextLength = 512, MaxBatchTokens = 64, RecurrentSnapshotMemory = 2 * perSnapshot + perSnapshot / 2, RecurrentSnapshotInterval = 32,
        });
        await Run(engine, Greedy(Prompt(140, 9, model.VocabSize), 2));
        Assert.Equal(2, engine.RecurrentSnapshotCount);
        Assert.Equal(2 * perSnapshot, engine.RecurrentSnapshotBytes);
        var again = await Run(engine, WithLogprobs(Greedy([.. Prompt(140, 9, model.VocabSize)[..130], 1, 2, 3], 6)));
        Assert.Equal(128, again.Final!.CachedPromptTokens); // the latest snapshot, at its last full block
        AssertSame(Solo(model, WithLogprobs(Greedy([.. Prompt(140, 9, model.VocabSize)[..130], 1, 2, 3], 6))), again);
    }

    [Theory]
    [InlineData("synth-nemotron_h_moe-nemotron-h-moe-tiny-Q8_0-seed1")]
    [InlineData("synth-qwen35moe-qwen35moe-tiny-Q8_0-seed1")]
    public async Task Tiny_kv_budget_preempts_and_recomputes_with_a_fresh_state(string name)
    {
        using var model = TransformerModel.Load(SyntheticModels.Get(name));
        var c = model.Config;
        long budget = 12 * KvBlockPool.BytesPerBlock(c.CacheLayerCount, c.KvDimension);
        var requests = Enumerable.Range(0, 6).Select(i => WithLogprobs(Greedy(Prompt(20 + 8 * i, 300 + i, model.VocabSize), 40))).ToList();
        var expected = requests.Select(r => Solo(model, r)).ToList();
        using var engine = new BatchingEngine(model, new EngineOptions { Threads = 2, ContextLength = 512, KvCacheMemory = budget, MaxBatchTokens = 32, MaxRunningSequences = 6 });
        var outcomes = await Task.WhenAll(requests.Select(r => Run(engine, r)));
        for (int i = 0; i < requests.Count; i++)
            AssertSame(expected[i], outcomes[i]);
        var counters = await Idle(engine);
        Assert.True(counters.Preemptions > 0, "expected preemptions under a 12-block pool");
        Assert.Equal(counters.KvBlocksTotal, counters.KvBlocksFree);
        Assert.Equal(engine.StateSlots, engine.FreeStateSlots);
    }

    [Fact]
    public void Cancelling_a_running_request_frees_its_state_slot_without_disturbing_others()
    {
        using var model = TransformerModel.Load(SyntheticModels.Get("synth-nemotron_h-nemotron-h-tiny-Q8_0-seed1"));
        var keep = WithLogprobs(Greedy(Prompt(30, 5, model.VocabSize), 60));
        var expected = Solo(model, keep);
        // Stepped on this thread, so the cancellation lands exactly after the victim's fifth token (the asynchronous
        // engine's reader may fall behind it by any number of steps on a loaded machine).
        using var core = new EngineCore(model, new EngineOptions { Threads = 2, ContextLength = 512, MaxRunningSequences = 4 });
        using var cts = new CancellationTokenSource();
        var victim = new RecordingOutput();
        var kept = new RecordingOutput();
        core.Add(core.CreateSequence(Greedy(Prompt(30, 6, model.VocabSize), 400), victim, cts.Token));
        core.Add(core.CreateSequence(keep, kept));
        while (core.Step())
        {
            if (victim.Tokens.Count == 5)
                cts.Cancel();
        }
        Assert.Equal(FinishReason.Cancelled, victim.Summary!.FinishReason);
        Assert.Equal(5, victim.Summary.CompletionTokens);
        AssertSame(expected, new Trace(kept.Tokens, kept.Logprobs, kept.Summary));
        Assert.Equal(FinishReason.Length, kept.Summary!.FinishReason);
        var counters = core.Counters;
        Assert.Equal(1, counters.RequestsCancelled);
        Assert.Equal(counters.KvBlocksTotal, counters.KvBlocksFree);
        Assert.Equal(core.StateSlots, core.FreeStateSlots);
    }

    [Fact]
    public void Config_reads_the_block_pattern_and_hybrid_hyperparameters_from_metadata()
    {
        using var model = TransformerModel.Load(SyntheticModels.Get("synth-nemotron_h_moe-nemotron-h-moe-tiny-Q8_0-seed1"));
        var c = model.Config;
        Assert.Equal("nemotron_h_moe", c.Architecture);
        Assert.Equal([LayerKind.Mamba, LayerKind.FeedForward, LayerKind.Mamba, LayerKind.Attention, LayerKind.FeedForward, LayerKind.Mamba],
            Enumerable.Range(0, c.BlockCount).Select(c.KindOf));
        Assert.Equal(1, c.CacheLayerCount);
        Assert.True(c.HasRecurrentState);
        Assert.False(c.UsesRope);
        Assert.Equal(new MoeConfig(8, 2, 128, 256, true, 2.5f, ExpertGating.Sigmoid), c.Moe);
        Assert.Equal(new SsmConfig(4, 256, 32, 8, 2), c.Ssm);
    }
}
