using TokenFactory.Compute;
using TokenFactory.Models;
using TokenFactory.Tests.Models;

namespace TokenFactory.Tests.Compute;

[CollectionDefinition(nameof(DecodeAllocationTests), DisableParallelization = true)]
public sealed class DecodeAllocationCollection;

/// <summary>
/// The allocation gate of the issue: after warm-up, a decode step (one token through ForwardPass) allocates nothing,
/// on the calling thread (exactly) or on the pool's workers (runs outside the parallel test collections, so the
/// process-wide count is not polluted by other tests).
/// </summary>
[Collection(nameof(DecodeAllocationTests))]
public sealed class DecodeAllocationTests
{
    [Theory]
    [InlineData("synth-llama-tiny-Q8_0-seed1", 2)]
    [InlineData("synth-llama-tiny-Q4_K-seed1", 2)]
    [InlineData("synth-llama-tiny-Q6_K-seed1", 1)]
    public void Decode_step_allocates_nothing(string model, int threads)
    {
        using var m = TransformerModel.Load(SyntheticModels.Get(model));
        using var pass = new ForwardPass(m, 64, threads: threads);
        int[] prompt = [1, 5, 9, 13, 17, 21];
        int[] token = [3];
        pass.Evaluate(prompt);
        for (int i = 0; i < 4; i++)
            pass.Evaluate(token); // warm-up: lazily grown buffers reach their size

        long thread0 = GC.GetAllocatedBytesForCurrentThread();
        long all0 = GC.GetTotalAllocatedBytes(precise: true);
        for (int i = 0; i < 8; i++)
            pass.Evaluate(token);
        long thread1 = GC.GetAllocatedBytesForCurrentThread();
        long all1 = GC.GetTotalAllocatedBytes(precise: true);

        Assert.Equal(0, thread1 - thread0);
        // The runtime's own background threads (tiered JIT, timers) may allocate a little; a per-step allocation
        // anywhere in the forward pass (8 steps x every layer) would be far above this bound.
        Assert.True(all1 - all0 < 4096, $"{all1 - all0} bytes allocated by all threads during 8 decode steps");
    }
}
