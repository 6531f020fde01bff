using TokenFactory.Engine;
using TokenFactory.Engine.Batching;
using TokenFactory.Models;
using TokenFactory.Tests.Models;
using static TokenFactory.Tests.Engine.EngineTestHelpers;

namespace TokenFactory.Tests.Engine;

/// <summary>
/// Sliding layers' keys and values in a cache of their own (<see cref="EngineOptions.SlidingWindowCache"/>): a sequence holds only
/// the blocks its window still reads there, the results are the bits of keeping every position, and the KV cache is smaller.
/// </summary>
public sealed class SlidingWindowCacheTests
{
    [Theory]
    [InlineData("synth-gemma3-gemma3-tiny-Q8_0-seed1")]
    [InlineData("synth-gemma4-gemma4-tiny-Q8_0-seed1")]
    [InlineData("synth-gpt-oss-gpt-oss-tiny-MXFP4-seed1")]
    public void A_sequence_holds_only_its_windows_blocks_and_gets_the_bits_of_keeping_every_position(string name)
    {
        using var model = TransformerModel.Load(SyntheticModels.Get(name));
        int window = model.Config.SlidingWindow; // 8 tokens in the test shapes: a 16-token block holds a window
        var request = Greedy(Prompt(70, 3, model.VocabSize), 40) with { Logprobs = 3 };
        var options = new EngineOptions { Threads = 2, ContextLength = 512, MaxRunningSequences = 2, MaxBatchTokens = 32 };

        using var whole = new EngineCore(model, options with { SlidingWindowCache = false });
        var expected = RunToEnd(whole, request);
        Assert.Equal(0, whole.Counters.SlidingKvBlocksTotal);

        using var core = new EngineCore(model, options);
        var output = new RecordingOutput();
        core.Add(core.CreateSequence(request, output));
        int most = 0, steps = 0;
        while (core.Step())
        {
            var c = core.Counters;
            int held = c.SlidingKvBlocksTotal - c.SlidingKvBlocksFree;
            most = Math.Max(most, held);
            // After a step, the next token reads positions from (computed - window + 1) on: at most two 16-token blocks.
            Assert.True(held <= 2, $"step {steps}: {held} sliding blocks held");
            steps++;
        }
        Assert.Equal(expected.Tokens, output.Tokens);
        Assert.Equal(expected.Logprobs, output.Logprobs);
        Assert.True(most > 0);
        var idle = core.Counters;
        Assert.Equal(idle.SlidingKvBlocksTotal, idle.SlidingKvBlocksFree);
        Assert.Equal(idle.KvBlocksTotal, idle.KvBlocksFree);
        // The same budget, but the main pool holds only the global layers: it holds more positions.
        Assert.True(core.KvCacheBytes <= whole.KvCacheBytes, $"{core.KvCacheBytes} vs {whole.KvCacheBytes}");
        Assert.True(core.Counters.KvBlocksTotal > whole.Counters.KvBlocksTotal, $"{core.Counters.KvBlocksTotal} vs {whole.Counters.KvBlocksTotal} blocks");
        Assert.True(window < 16);
    }

    [Fact]
    public void A_budget_without_room_for_a_window_keeps_every_layer_in_one_pool()
    {
        using var model = TransformerModel.Load(SyntheticModels.Get("synth-gemma3-gemma3-tiny-Q8_0-seed1"));
        var c = model.Config;
        long wholeBlock = TokenFactory.Kv.KvBlockPool.BytesPerBlock(c.CacheLayerCount, c.KvDimension);
        // 24 blocks of every layer (6): half of it is 14 blocks of the 5 sliding layers, under one sequence's window plus a
        // 256-token step (3 + 16 blocks).
        using var core = new EngineCore(model, new EngineOptions { Threads = 2, ContextLength = 512, KvCacheMemory = 24 * wholeBlock });
        Assert.Equal(0, core.Counters.SlidingKvBlocksTotal);
        Assert.Equal(24, core.Counters.KvBlocksTotal);
        // 40 blocks' worth: 24 sliding blocks fit in half, and the global layer's pool takes the rest.
        using var split = new EngineCore(model, new EngineOptions { Threads = 2, ContextLength = 512, KvCacheMemory = 40 * wholeBlock });
        Assert.Equal(24, split.Counters.SlidingKvBlocksTotal);
        Assert.True(split.KvCacheBytes <= 40 * wholeBlock);
        var request = Greedy(Prompt(30, 4, model.VocabSize), 8);
        Assert.Equal(Reference(model, request).Tokens, RunToEnd(core, request).Tokens);
    }

    [Fact]
    public void A_cached_prefix_is_reused_only_where_its_windows_sliding_blocks_survive()
    {
        using var model = TransformerModel.Load(SyntheticModels.Get("synth-gemma3-gemma3-tiny-Q8_0-seed1"));
        var system = Prompt(100, 1, model.VocabSize);
        int[] first = [.. system, 10, 11, 12], second = [.. system, 20, 21];
        using var core = new EngineCore(model, new EngineOptions { Threads = 2, ContextLength = 512, MaxRunningSequences = 2, MaxBatchTokens = 32 });
        RunToEnd(core, Greedy(first, 4));
        var b = RunToEnd(core, Greedy(second, 6) with { Logprobs = 2 });
        Assert.Equal(96, b.Summary!.CachedPromptTokens); // six full blocks, the last one's sliding keys still cached
        var cold = Reference(model, Greedy(second, 6) with { Logprobs = 2 });
        Assert.Equal(cold.Tokens, b.Tokens);
        Assert.Equal(cold.Logprobs, b.Logprobs);

        // Another long prompt cycles the small sliding cache: the prefix's last sliding blocks are evicted while its main-pool
        // blocks survive, so the prefix is not taken (its sliding layers would have nothing to read) and the result is still a cold run's.
        RunToEnd(core, Greedy(Prompt(300, 9, model.VocabSize), 4));
        var third = RunToEnd(core, Greedy(second, 6) with { Logprobs = 2 });
        Assert.True(third.Summary!.CachedPromptTokens < 96, $"{third.Summary.CachedPromptTokens} cached");
        Assert.Equal(cold.Tokens, third.Tokens);
        Assert.Equal(cold.Logprobs, third.Logprobs);
        var idle = core.Counters;
        Assert.Equal(idle.SlidingKvBlocksTotal, idle.SlidingKvBlocksFree);
        Assert.Equal(idle.KvBlocksTotal, idle.KvBlocksFree);
    }
}
