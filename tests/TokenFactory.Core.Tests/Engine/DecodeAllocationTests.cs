using TokenFactory.Engine;
using TokenFactory.Engine.Batching;
using TokenFactory.Models;
using TokenFactory.Tests.Models;

namespace TokenFactory.Tests.Engine;

[CollectionDefinition(nameof(DecodeAllocationTests), DisableParallelization = true)]
public sealed class DecodeAllocationCollection;

/// <summary>
/// The allocation gate: after warm-up, a decode step of the batching engine (<see cref="EngineCore.Step"/>: scheduling,
/// the forward pass over the paged cache, sampling, text and stop strings) allocates nothing, with one sequence and with
/// sixteen, on the calling thread (exactly) and on the pool's workers (runs outside the parallel test collections, so the
/// process-wide count is not polluted by other tests). The outputs here keep nothing, as a benchmark's do; the server's
/// copies each token's text into the update it streams, which is its own allocation, not the step's.
/// </summary>
[Collection(nameof(DecodeAllocationTests))]
public sealed class DecodeAllocationTests
{
    private sealed class CountingOutput : ISequenceOutput
    {
        public int Tokens;
        public int Ended;

        public void Token(int token, ReadOnlySpan<char> text, float? logprob, TokenLogprob[]? topLogprobs) => Tokens++;

        public void Text(ReadOnlySpan<char> text)
        {
        }

        public void Finished(GenerationSummary summary) => Ended++;

        public void Failed(Exception error) => throw new InvalidOperationException("A decode step failed.", error);
    }

    [Theory]
    [InlineData("synth-llama-tiny-Q8_0-seed1", 1, 2)]
    [InlineData("synth-llama-tiny-Q8_0-seed1", 16, 2)]
    [InlineData("synth-llama-tiny-Q4_K-seed1", 1, 2)]
    [InlineData("synth-llama-tiny-Q4_K-seed1", 16, 2)]
    [InlineData("synth-llama-tiny-Q5_K-seed1", 16, 2)]
    [InlineData("synth-llama-tiny-Q6_K-seed1", 1, 1)]
    [InlineData("synth-llama-tiny-Q6_K-seed1", 16, 2)]
    [InlineData("synth-qwen3-tiny-F16-seed1", 16, 2)]
    [InlineData("synth-nemotron_h-nemotron-h-tiny-Q8_0-seed1", 1, 2)]
    [InlineData("synth-nemotron_h-nemotron-h-tiny-Q8_0-seed1", 16, 2)]
    [InlineData("synth-nemotron_h_moe-nemotron-h-moe-tiny-Q8_0-seed1", 16, 2)]
    [InlineData("synth-qwen3moe-qwen3moe-tiny-Q8_0-seed1", 16, 2)]
    [InlineData("synth-llama-tiny-IQ4_XS-seed1", 4, 2)]
    [InlineData("synth-gpt-oss-gpt-oss-tiny-MXFP4-seed1", 16, 2)]
    [InlineData("synth-gpt-oss-gpt-oss-tiny-MXFP4-seed1", 1, 2)] // one-token steps: the experts' products as MatMul.MultiplyParts runs
    [InlineData("synth-qwen3moe-qwen3moe-tiny-Q8_0-seed1", 1, 2)]
    public void Decode_step_allocates_nothing(string model, int sequences, int threads)
    {
        using var m = TransformerModel.Load(SyntheticModels.Get(model));
        using var core = new EngineCore(m, new EngineOptions { Threads = threads, ContextLength = 128, MaxRunningSequences = sequences, MaxBatchTokens = 128 });
        var output = new CountingOutput();
        for (int i = 0; i < sequences; i++)
        {
            core.Add(core.CreateSequence(new GenerationRequest
            {
                PromptTokens = [1, 5 + i, 9, 13, 17, 21],
                MaxTokens = 100,
                Sampling = SamplingParameters.Greedy,
                IgnoreEndOfGeneration = true,
            }, output));
        }
        // Warm-up: the prefill step, then decode steps until lazily grown buffers reach their size and every method has
        // passed the tiered JIT's 30-call threshold (a tier-up inside the measured window can allocate on the runtime's
        // behalf). Blocks fill and join the prefix cache at positions 16, 32 and 48 on the way, so that is covered too.
        for (int i = 0; i < 41; i++)
            Assert.True(core.Step());
        Assert.Equal(41 * sequences, output.Tokens);

        // A per-step allocation shows in every window; a stray runtime allocation (timer, JIT) in one window on a busy
        // machine does not, so the test passes when any of three windows is clean.
        var windows = new List<string>();
        for (int attempt = 0; attempt < 3; attempt++)
        {
            int before = output.Tokens;
            long thread0 = GC.GetAllocatedBytesForCurrentThread();
            long all0 = GC.GetTotalAllocatedBytes(precise: true);
            for (int i = 0; i < 8; i++)
                core.Step();
            long thread1 = GC.GetAllocatedBytesForCurrentThread();
            long all1 = GC.GetTotalAllocatedBytes(precise: true);
            Assert.Equal(8 * sequences, output.Tokens - before); // every step decoded every sequence
            Assert.Equal(0, output.Ended);
            // Background threads may allocate a little; a per-step allocation anywhere in the forward pass
            // (8 steps x every layer) would be far above 4 KiB.
            if (thread1 - thread0 == 0 && all1 - all0 < 4096)
                return;
            windows.Add($"calling thread {thread1 - thread0} B, all threads {all1 - all0} B");
        }
        Assert.Fail($"8 decode steps of {sequences} sequences allocated in every window: " + string.Join("; ", windows));
    }
}
