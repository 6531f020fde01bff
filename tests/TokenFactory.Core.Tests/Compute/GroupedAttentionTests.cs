using TokenFactory.Compute;
using TokenFactory.Engine;
using TokenFactory.Tests.Tensors;

namespace TokenFactory.Tests.Compute;

public sealed class GroupedAttentionTests
{
    [Theory]
    [InlineData(32, 4, 64)]   // tinyllama
    [InlineData(32, 8, 64)]   // llama-3.2-1b
    [InlineData(4, 4, 16)]    // no grouping
    [InlineData(16, 8, 128)]  // qwen3-0.6b
    [InlineData(24, 4, 64)]   // group of 6: four heads together, then two one by one
    [InlineData(16, 4, 128)]  // four heads together over two 64-channel passes
    [InlineData(4, 2, 24)]    // 16 + 8 channels: the last 8 in 256-bit vectors
    [InlineData(8, 4, 8)]     // stories260K: head size 8
    [InlineData(4, 2, 20)]    // head size not a multiple of 8: fallback path
    public void Matches_reference_attention(int heads, int kvHeads, int headSize)
    {
        var rng = new Random(heads * 100 + kvHeads + headSize);
        int ctx = 40, kvDim = kvHeads * headSize;
        var cache = new KvCache(2, ctx, kvDim);
        for (int p = 0; p < ctx; p++)
        {
            float[] k = TestRows.Floats(rng, kvDim, 2f), v = TestRows.Floats(rng, kvDim);
            cache.WriteKey(1, p, k);
            for (int i = 0; i < kvDim; i++)
                cache.Values(1, p)[i] = (Half)v[i];
        }
        foreach (int threads in new[] { 1, 2 })
        {
            using var pool = new ComputePool(threads);
            var reference = new Attention(heads, kvHeads, headSize, ctx, threads);
            var fast = new GroupedAttention(heads, kvHeads, headSize, ctx, threads);
            foreach ((int tokens, int start) in new[] { (1, 0), (1, 17), (5, 0), (7, 30) })
            {
                float[] q = TestRows.Floats(rng, tokens * heads * headSize, 2f);
                float[] expected = new float[q.Length], actual = new float[q.Length];
                reference.Run(pool, cache, 1, q, tokens, start, expected);
                fast.Run(pool, cache, 1, q, tokens, start, actual);
                for (int i = 0; i < q.Length; i++)
                    Assert.True(Math.Abs(expected[i] - actual[i]) <= 2e-3f * Math.Max(1f, Math.Abs(expected[i])),
                        $"heads={heads}/{kvHeads} hs={headSize} tokens={tokens} start={start} i={i}: {expected[i]} vs {actual[i]}");
            }
        }
    }
}

public sealed unsafe class RoundToHalfTests
{
    [Fact]
    public void Matches_Half_conversion_for_every_length_and_special_values()
    {
        var rng = new Random(9);
        float[] specials = [0f, -0f, 1f, -1f, 65504f, 65519.99f, 65520f, -70000f, 6.10351562e-5f, 6.1e-5f, 3e-8f, 2.98e-8f, 5.96e-8f, 1e-10f,
            float.PositiveInfinity, float.NegativeInfinity, 0.5f + 1f / 4096, 1f + 1f / 2048, 1f + 3f / 2048, 2049f, 2051f];
        for (int n = 0; n <= 256; n++)
        {
            float[] x = new float[n];
            for (int i = 0; i < n; i++)
            {
                double scale = Math.Pow(2, rng.Next(-30, 18));
                x[i] = i < specials.Length && n > 200 ? specials[i] : (float)((rng.NextDouble() * 2 - 1) * scale);
            }
            float[] y = new float[n];
            fixed (float* xp = x, yp = y)
                GroupedAttention.RoundToHalf(xp, yp, n);
            for (int i = 0; i < n; i++)
                Assert.Equal((float)(Half)x[i], y[i]);
        }
    }
}
