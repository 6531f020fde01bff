using TokenFactory.Compute;
using TokenFactory.Kv;
using TokenFactory.Tests.Tensors;

namespace TokenFactory.Tests.Compute;

public sealed class PagedAttentionTests
{
    /// <summary>
    /// Every head shape the models use (and the scalar-order fallback), several sequences in one step, each through its
    /// own scattered blocks: prefill chunks at the start and mid-sequence, and single decode tokens.
    /// </summary>
    [Theory]
    [InlineData(32, 4, 64)]   // tinyllama
    [InlineData(32, 8, 64)]   // llama-3.2-1b
    [InlineData(4, 4, 16)]    // no grouping
    [InlineData(16, 8, 128)]  // qwen3-0.6b
    [InlineData(24, 4, 64)]   // group of 6: four heads together, then two one by one
    [InlineData(16, 4, 128)]  // four heads together over two 64-channel passes
    [InlineData(4, 2, 24)]    // 16 + 8 channels: the last 8 in 256-bit vectors
    [InlineData(8, 4, 8)]     // stories260K: head size 8
    [InlineData(4, 2, 20)]    // head size not a multiple of 8: the scalar-order path
    [InlineData(8, 2, 256)]   // gemma3, gemma4's sliding layers
    [InlineData(8, 2, 512)]   // gemma4's global layers
    [InlineData(4, 1, 520)]   // above 512: the scalar-order path
    public void Matches_the_reference_for_a_batch_of_sequences(int heads, int kvHeads, int headSize) =>
        MatchesReference(heads, kvHeads, headSize, window: 0, withSinks: false);

    /// <summary>
    /// gpt-oss's sliding layers: a 12-token window (runs that start inside it, cross it and lie past it) and a sink logit per head,
    /// through the four-head kernel, the one-by-one heads and the scalar-order path.
    /// </summary>
    [Theory]
    [InlineData(8, 2, 64, 12, true)]
    [InlineData(24, 4, 64, 12, true)]
    [InlineData(4, 2, 24, 12, true)]
    [InlineData(4, 2, 20, 12, true)]
    [InlineData(8, 2, 64, 0, true)]
    [InlineData(4, 2, 20, 0, true)]
    [InlineData(8, 2, 64, 12, false)]
    [InlineData(8, 2, 512, 12, false)]
    public void With_a_window_and_sinks_matches_the_reference(int heads, int kvHeads, int headSize, int window, bool withSinks) =>
        MatchesReference(heads, kvHeads, headSize, window, withSinks);

    private static void MatchesReference(int heads, int kvHeads, int headSize, int window, bool withSinks)
    {
        var rng = new Random(heads * 100 + kvHeads + headSize);
        const int ctx = 40;
        int kvDim = kvHeads * headSize;
        var pool = new KvBlockPool(2, kvDim, blockCount: 9);
        List<int>[] tables = [[4, 0, 7], [2, 8, 1], [5, 3, 6]];
        foreach (var table in tables)
        {
            for (int p = 0; p < ctx; p++)
            {
                float[] k = TestRows.Floats(rng, kvDim, 2f), v = TestRows.Floats(rng, kvDim);
                pool.WriteKey(1, table[p / 16], p % 16, k);
                for (int i = 0; i < kvDim; i++)
                    pool.Values(1)[pool.Offset(table[p / 16], p % 16) + i] = (Half)v[i];
            }
        }
        // (sequence, tokens, first position): a prefill from 0, a decode token, a chunk mid-sequence past a block boundary.
        (int Sequence, int Tokens, int Start)[] parts = [(0, 5, 0), (1, 1, 17), (2, 7, 30), (0, 1, 39)];
        foreach (int threads in new[] { 1, 2 })
        {
            using var compute = new ComputePool(threads);
            var attention = new PagedAttention(heads, kvHeads, headSize, ctx, threads);
            var batch = new StepBatch(32, 4);
            int total = parts.Sum(p => p.Tokens);
            float[] q = TestRows.Floats(rng, total * heads * headSize, 2f);
            foreach (var (sequence, tokens, start) in parts)
            {
                int index = batch.AddSequence(tables[sequence]);
                for (int t = 0; t < tokens; t++)
                    batch.AddToken(index, 0, start + t, wantLogits: false);
            }
            float[] actual = new float[q.Length];
            // Sinks from well below to above the scores, so some take most of a softmax and some almost none.
            float[]? sinks = withSinks ? [.. Enumerable.Range(0, heads).Select(h => -6f + 12f * h / heads)] : null;
            attention.Run(compute, pool, batch, 1, q, actual, window, sinks);

            int row = 0;
            foreach (var (sequence, tokens, start) in parts)
            {
                int width = tokens * heads * headSize;
                float[] expected = ReferenceAttention.Run(pool, tables[sequence], 1, q.AsSpan(row, width).ToArray(), tokens, start, heads, kvHeads, headSize,
                    window, sinks);
                for (int i = 0; i < width; i++)
                    Assert.True(Math.Abs(expected[i] - actual[row + i]) <= 2e-3f * Math.Max(1f, Math.Abs(expected[i])),
                        $"heads={heads}/{kvHeads} hs={headSize} sequence {sequence} start={start} i={i}: {expected[i]} vs {actual[row + i]}");
                row += width;
            }
        }
    }

    [Fact]
    public void A_sequence_gets_the_same_bits_alone_as_beside_others()
    {
        var rng = new Random(11);
        const int heads = 32, kvHeads = 4, headSize = 64, ctx = 48;
        int kvDim = kvHeads * headSize;
        var pool = new KvBlockPool(1, kvDim, blockCount: 6);
        List<int>[] tables = [[0, 1, 2], [5, 4, 3]];
        foreach (var table in tables)
        {
            for (int p = 0; p < ctx; p++)
            {
                pool.WriteKey(0, table[p / 16], p % 16, TestRows.Floats(rng, kvDim, 2f));
                var v = TestRows.Floats(rng, kvDim);
                for (int i = 0; i < kvDim; i++)
                    pool.Values(0)[pool.Offset(table[p / 16], p % 16) + i] = (Half)v[i];
            }
        }
        using var compute = new ComputePool(2);
        var attention = new PagedAttention(heads, kvHeads, headSize, ctx, 2);
        float[] q = TestRows.Floats(rng, 4 * heads * headSize, 2f);

        var alone = new StepBatch(8, 2);
        int s = alone.AddSequence(tables[0]);
        for (int t = 0; t < 3; t++)
            alone.AddToken(s, 0, 20 + t, false);
        float[] aloneOut = new float[3 * heads * headSize];
        attention.Run(compute, pool, alone, 0, q, aloneOut);

        var together = new StepBatch(8, 2);
        int other = together.AddSequence(tables[1]);
        together.AddToken(other, 0, 45, false);
        s = together.AddSequence(tables[0]);
        for (int t = 0; t < 3; t++)
            together.AddToken(s, 0, 20 + t, false);
        float[] q2 = [.. q.AsSpan(3 * heads * headSize, heads * headSize), .. q.AsSpan(0, 3 * heads * headSize)];
        float[] togetherOut = new float[4 * heads * headSize];
        attention.Run(compute, pool, together, 0, q2, togetherOut);
        Assert.Equal(aloneOut, togetherOut.AsSpan(heads * headSize).ToArray());
    }

    /// <summary>
    /// Rows of consecutive tokens are attended together (four rows a pass, across tokens when a KV group has 1-3 heads): every
    /// token of a 13-token prompt item gets the bits it gets decoded alone at its position, with and without a window and sinks.
    /// </summary>
    [Theory]
    [InlineData(8, 8, 64, 0, false)]    // one head per KV head
    [InlineData(16, 8, 128, 0, false)]  // qwen3-0.6b: two
    [InlineData(12, 4, 64, 0, true)]    // three, with sinks
    [InlineData(8, 2, 64, 0, false)]    // four: one token's heads fill a pass
    [InlineData(14, 2, 64, 0, false)]   // seven (qwen2.5-0.5b): passes straddle tokens
    [InlineData(16, 8, 128, 6, true)]   // a window: rows go together only within a token
    public void A_token_gets_the_same_bits_in_a_prompt_item_as_alone(int heads, int kvHeads, int headSize, int window, bool withSinks)
    {
        var rng = new Random(heads * 7 + headSize + window);
        const int ctx = 48, first = 20, tokens = 13;
        int kvDim = kvHeads * headSize;
        var pool = new KvBlockPool(1, kvDim, blockCount: 3);
        List<int> table = [2, 0, 1];
        for (int p = 0; p < ctx; p++)
        {
            pool.WriteKey(0, table[p / 16], p % 16, TestRows.Floats(rng, kvDim, 2f));
            var v = TestRows.Floats(rng, kvDim);
            for (int i = 0; i < kvDim; i++)
                pool.Values(0)[pool.Offset(table[p / 16], p % 16) + i] = (Half)v[i];
        }
        float[]? sinks = withSinks ? TestRows.Floats(rng, heads, 2f) : null;
        using var compute = new ComputePool(2);
        var attention = new PagedAttention(heads, kvHeads, headSize, ctx, 2);
        int width = heads * headSize;
        float[] q = TestRows.Floats(rng, tokens * width, 2f);

        var item = new StepBatch(tokens, 1);
        int s = item.AddSequence(table);
        for (int t = 0; t < tokens; t++)
            item.AddToken(s, 0, first + t, false);
        float[] together = new float[tokens * width];
        attention.Run(compute, pool, item, 0, q, together, window, sinks);

        for (int t = 0; t < tokens; t++)
        {
            var one = new StepBatch(1, 1);
            one.AddToken(one.AddSequence(table), 0, first + t, false);
            float[] alone = new float[width];
            attention.Run(compute, pool, one, 0, q.AsSpan(t * width, width).ToArray(), alone, window, sinks);
            Assert.True(alone.AsSpan().SequenceEqual(together.AsSpan(t * width, width)), $"token {t} differs from its result alone");
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
                AttentionKernels.RoundToHalf(xp, yp, n);
            for (int i = 0; i < n; i++)
                Assert.Equal((float)(Half)x[i], y[i]);
        }
    }
}
