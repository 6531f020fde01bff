using TokenFactory.Compute;
using TokenFactory.Gguf;
using TokenFactory.Tensors;
using TokenFactory.Tests.Tensors;

namespace TokenFactory.Tests.Compute;

/// <summary>The tiled matrix path against the scalar row kernels, over odd shapes, token counts and thread counts.</summary>
public sealed class MatMulTests
{
    private static (GgufFile File, WeightMatrix W) Matrix(GgmlType type, int rows, int cols, Random rng)
    {
        int blocks = cols / GgmlTypeInfo.BlockSize(type);
        var data = new byte[GgmlTypeInfo.RowSize(type, cols) * rows];
        for (int r = 0; r < rows; r++)
        {
            byte[] row = r % 2 == 0
                ? TestRows.RandomWeightRow(rng, type, blocks)
                : TestRows.Quantize(type, TestRows.WeightLike(rng, cols));
            row.CopyTo(data, row.Length * r);
        }
        var writer = new GgufWriter();
        writer.AddTensor("w", [cols, rows], type, data);
        var file = GgufFile.FromBytes(writer.ToBytes());
        return (file, new WeightMatrix(file, file.GetTensorInfo("w")));
    }

    [Theory]
    [InlineData(GgmlType.F16, 256, 9)]
    [InlineData(GgmlType.F16, 77, 5)]
    [InlineData(GgmlType.BF16, 256, 9)]
    [InlineData(GgmlType.BF16, 45, 3)]
    [InlineData(GgmlType.F16, 2085, 37)]  // prefill's 1024-column pieces, a 5-column tail and a partial 16-row block
    [InlineData(GgmlType.BF16, 2085, 19)]
    [InlineData(GgmlType.F16, 9000, 33)]  // rows long enough that a widened block holds 14 rows, not 16
    public void Half_precision_rows_give_the_row_kernel_bits_for_every_token_count(GgmlType type, int cols, int rows)
    {
        // The row path widens F16/BF16 activations once per call, and blocks of rows once for all tokens, and runs six
        // tokens per pass over two rows (the last six overlapping the previous ones); each
        // (row, token) must still be exactly what the F16/BF16 row kernel gives for that token alone.
        var rng = new Random(cols + rows);
        var data = new byte[GgmlTypeInfo.RowSize(type, cols) * rows];
        for (int r = 0; r < rows; r++)
            TestRows.Quantize(type, TestRows.WeightLike(rng, cols)).CopyTo(data, (int)GgmlTypeInfo.RowSize(type, cols) * r);
        var writer = new GgufWriter();
        writer.AddTensor("w", [cols, rows], type, data);
        using var file = GgufFile.FromBytes(writer.ToBytes());
        var w = new WeightMatrix(file, file.GetTensorInfo("w"));
        foreach (int threads in new[] { 1, 2 })
        {
            using var pool = new ComputePool(threads);
            var mm = new MatMul(pool);
            foreach (int tokens in new[] { 1, 3, 6, 8, 9, 17 })
            {
                float[] x = new float[3 + tokens * cols];
                TestRows.Floats(rng, x.Length).CopyTo(x, 0);
                float[] output = new float[5 + tokens * rows];
                long pairedBefore = mm.PairedGroups;
                mm.Multiply(w, x, 3, tokens, output, 5);
                if (threads == 1)
                {
                    // One thread takes every group: two whole groups and 3 tokens or more pair where the 16-row tiles run,
                    // so the shapes meant for them reach them (more threads may split two groups between themselves).
                    bool wide = type switch { GgmlType.Q4_0 => LegacyGemmX8<Q4_0x8>.Wide, GgmlType.MXFP4 => LegacyGemmX8<MXFP4x8>.Wide, _ => false };
                    Assert.Equal(wide && rows >= 16 && tokens >= 3, mm.PairedGroups > pairedBefore);
                }
                for (int t = 0; t < tokens; t++)
                {
                    byte[] a = TestRows.Quantize(type, x.AsSpan(3 + t * cols, cols).ToArray());
                    for (int r = 0; r < rows; r++)
                    {
                        float expected = VecDot.Dot(type, w.Row(r), a, cols), actual = output[5 + t * rows + r];
                        Assert.True(BitConverter.SingleToInt32Bits(expected) == BitConverter.SingleToInt32Bits(actual),
                            $"{type} {rows}x{cols} tokens={tokens} threads={threads} t={t} r={r}: {expected} vs {actual}");
                    }
                }
            }
        }
    }

    public static TheoryData<GgmlType, int, int> Shapes => new()
    {
        { GgmlType.Q8_0, 32, 1 }, { GgmlType.Q8_0, 64, 5 }, { GgmlType.Q8_0, 96, 13 }, { GgmlType.Q8_0, 288, 8 }, { GgmlType.Q8_0, 256, 3 },
        { GgmlType.Q4_K, 256, 1 }, { GgmlType.Q4_K, 512, 5 }, { GgmlType.Q4_K, 768, 9 }, { GgmlType.Q4_K, 256, 4 }, { GgmlType.Q4_K, 512, 16 },
        { GgmlType.Q6_K, 256, 3 }, { GgmlType.Q6_K, 256, 1 }, { GgmlType.Q6_K, 512, 9 }, { GgmlType.Q6_K, 768, 16 },
        { GgmlType.Q5_K, 256, 1 }, { GgmlType.Q5_K, 512, 9 }, { GgmlType.Q5_K, 768, 16 }, { GgmlType.Q4_0, 64, 5 }, { GgmlType.Q4_0, 96, 13 }, { GgmlType.Q4_0, 256, 16 },
        // Two and five groups of 8 rows: the 16-row tiles where they run (Q4_0, MXFP4), a lone group after them.
        { GgmlType.Q4_0, 64, 40 }, { GgmlType.MXFP4, 64, 16 }, { GgmlType.MXFP4, 96, 24 },
    };

    [Theory]
    [MemberData(nameof(Shapes))]
    public void Matches_scalar_row_kernels(GgmlType type, int cols, int rows)
    {
        var rng = new Random(cols * 31 + rows);
        var (file, w) = Matrix(type, rows, cols, rng);
        using var _ = file;
        GgmlType at = VecDot.ActivationType(type);
        foreach (int threads in new[] { 1, 2, 3 })
        {
            using var pool = new ComputePool(threads);
            var mm = new MatMul(pool);
            foreach (int tokens in new[] { 1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 13, 14, 15, 16, 17 })
            {
                float[] x = new float[3 + tokens * cols];
                TestRows.Floats(rng, x.Length).CopyTo(x, 0);
                float[] output = new float[5 + tokens * rows];
                long pairedBefore = mm.PairedGroups;
                mm.Multiply(w, x, 3, tokens, output, 5);
                if (threads == 1)
                {
                    // One thread takes every group: two whole groups and 3 tokens or more pair where the 16-row tiles run,
                    // so the shapes meant for them reach them (more threads may split two groups between themselves).
                    bool wide = type switch { GgmlType.Q4_0 => LegacyGemmX8<Q4_0x8>.Wide, GgmlType.MXFP4 => LegacyGemmX8<MXFP4x8>.Wide, _ => false };
                    Assert.Equal(wide && rows >= 16 && tokens >= 3, mm.PairedGroups > pairedBefore);
                }
                for (int t = 0; t < tokens; t++)
                {
                    byte[] a = TestRows.Quantize(at, x.AsSpan(3 + t * cols, cols).ToArray());
                    float[] af = TestRows.Dequantize(at, a, cols);
                    for (int r = 0; r < rows; r++)
                    {
                        float expected = VecDot.DotScalar(type, w.Row(r), a, cols);
                        float actual = output[5 + t * rows + r];
                        if (type is GgmlType.Q4_K or GgmlType.Q5_K or GgmlType.Q6_K)
                        {
                            // Exact integer block sums scaled in the scalar kernel's order: equal bit for bit.
                            Assert.True(expected == actual, $"{type} {rows}x{cols} tokens={tokens} threads={threads} t={t} r={r}: {expected} vs {actual}");
                            continue;
                        }
                        float[] wf = new float[cols];
                        w.DequantizeRow(r, wf);
                        double magnitude = 0;
                        for (int i = 0; i < cols; i++)
                            magnitude += Math.Abs((double)wf[i] * af[i]);
                        Assert.True(Math.Abs(expected - actual) <= 1e-5 * magnitude + 1e-30,
                            $"{type} {rows}x{cols} tokens={tokens} threads={threads} t={t} r={r}: {expected} vs {actual}");
                    }
                }
            }
        }
    }

    public static TheoryData<GgmlType, GgmlType, GgmlType, int> SharedShapes => new()
    {
        { GgmlType.Q4_K, GgmlType.Q4_K, GgmlType.Q4_K, 512 },
        { GgmlType.Q8_0, GgmlType.Q8_0, GgmlType.Q8_0, 96 },
        { GgmlType.Q4_0, GgmlType.Q4_0, GgmlType.Q4_0, 64 },
        { GgmlType.Q6_K, GgmlType.Q6_K, GgmlType.Q6_K, 512 },
        { GgmlType.Q5_K, GgmlType.Q5_K, GgmlType.Q5_K, 256 },
        // Mixed formats (a Q4_K_M file's V in Q6_K) fall back to one multiplication each.
        { GgmlType.Q4_K, GgmlType.Q4_K, GgmlType.Q6_K, 256 },
        { GgmlType.Q8_0, GgmlType.Q4_0, GgmlType.Q8_0, 64 },
    };

    [Theory]
    [MemberData(nameof(SharedShapes))]
    public void Shared_activations_give_the_same_bits_as_one_matrix_at_a_time(GgmlType t0, GgmlType t1, GgmlType t2, int cols)
    {
        var rng = new Random(cols + (int)t2);
        // Row counts that end mid-group, so a part's last group and the next part's first share no chunk boundary.
        var (f0, w0) = Matrix(t0, 37, cols, rng);
        var (f1, w1) = Matrix(t1, 8, cols, rng);
        var (f2, w2) = Matrix(t2, 21, cols, rng);
        using (f0)
        using (f1)
        using (f2)
        {
            foreach (int threads in new[] { 1, 2, 3 })
            {
                using var pool = new ComputePool(threads);
                var mm = new MatMul(pool);
                foreach (int tokens in new[] { 1, 3, 5, 8, 13 })
                {
                    float[] x = TestRows.Floats(rng, tokens * cols);
                    float[][] shared = [new float[tokens * 37], new float[tokens * 8], new float[tokens * 21]];
                    mm.MultiplyShared([w0, w1, w2], x, tokens, shared);
                    WeightMatrix[] ws = [w0, w1, w2];
                    for (int i = 0; i < 3; i++)
                    {
                        float[] single = new float[shared[i].Length];
                        mm.Multiply(ws[i], x, 0, tokens, single, 0);
                        Assert.True(single.AsSpan().SequenceEqual(shared[i]), $"part {i} tokens={tokens} threads={threads}");
                        Assert.Contains(single, v => v != 0);
                    }
                    float[][] pair = [new float[tokens * 37], new float[tokens * 8]];
                    mm.MultiplyShared([w0, w1], x, tokens, pair);
                    Assert.True(pair[0].AsSpan().SequenceEqual(shared[0]) && pair[1].AsSpan().SequenceEqual(shared[1]));
                }
            }
        }
    }

    /// <summary>
    /// One-token expert products (<see cref="MatMul.MultiplyParts"/>): each part against its own activation row gets the bits
    /// <see cref="MatMul.Multiply"/> gives it alone, for every repacked 32-element and K-quant format; unlike formats are refused.
    /// </summary>
    [SkippableTheory]
    [InlineData(GgmlType.Q8_0, 64)]
    [InlineData(GgmlType.Q4_0, 96)]
    [InlineData(GgmlType.MXFP4, 64)]
    [InlineData(GgmlType.IQ4_NL, 128)]
    [InlineData(GgmlType.Q4_K, 256)]
    [InlineData(GgmlType.Q6_K, 512)]
    public void Parts_on_their_own_rows_give_the_bits_of_one_matrix_at_a_time(GgmlType type, int cols)
    {
        Skip.If(!WeightMatrix.Repacks(type, cols), $"{type} is not repacked on this CPU");
        var rng = new Random(cols + (int)type);
        int[] rowCounts = [37, 8, 21, 16, 3];
        var matrices = rowCounts.Select(r => Matrix(type, r, cols, rng)).ToArray();
        try
        {
            foreach (int threads in new[] { 1, 2, 3 })
            {
                using var pool = new ComputePool(threads);
                var mm = new MatMul(pool);
                float[] x = TestRows.Floats(rng, 6 * cols);
                int[] rows = [4, 0, 5, 4, 2];
                int[] offsets = [0, 40, 50, 80, 100];
                var output = new float[110];
                Assert.True(mm.MultiplyParts([.. matrices.Select(m => m.Item2)], x, 6, rows, output, offsets));
                for (int p = 0; p < rowCounts.Length; p++)
                {
                    var single = new float[rowCounts[p]];
                    mm.Multiply(matrices[p].Item2, x, rows[p] * cols, 1, single, 0);
                    Assert.True(single.AsSpan().SequenceEqual(output.AsSpan(offsets[p], rowCounts[p])), $"part {p} threads={threads}");
                    Assert.Contains(single, v => v != 0);
                }
            }
            var (other, unlike) = Matrix(type == GgmlType.Q8_0 ? GgmlType.Q4_0 : GgmlType.Q8_0, 8, cols, rng);
            using (other)
            using (var one = new ComputePool(1))
                Assert.False(new MatMul(one).MultiplyParts([matrices[0].Item2, unlike], new float[cols], 1, [0, 0], new float[64], [0, 40]));
        }
        finally
        {
            foreach (var (file, _) in matrices)
                file.Dispose();
        }
    }

    /// <summary>
    /// Prompt-step expert products (<see cref="MatMul.MultiplySegments"/>): each part against its own 8-aligned rows gets the bits
    /// <see cref="MatMul.Multiply"/> gives those rows alone, for token counts that take every tile (1-17: single passes, 8-token
    /// tiles and tiles of the 2-7 left) and part widths with partial groups, into two outputs; bad layouts are refused.
    /// </summary>
    [SkippableTheory]
    [InlineData(GgmlType.Q8_0, 64)]
    [InlineData(GgmlType.Q4_0, 96)]
    [InlineData(GgmlType.MXFP4, 64)]
    [InlineData(GgmlType.IQ4_NL, 128)]
    [InlineData(GgmlType.Q4_K, 256)]
    [InlineData(GgmlType.Q5_K, 256)]
    [InlineData(GgmlType.Q6_K, 512)]
    public void Segments_give_each_part_the_bits_of_its_rows_alone(GgmlType type, int cols)
    {
        Skip.If(!WeightMatrix.Repacks(type, cols), $"{type} is not repacked on this CPU");
        var rng = new Random(cols * 3 + (int)type);
        int[] rowCounts = [37, 8, 21, 16, 3, 24];
        int[] counts = [1, 2, 3, 4, 5, 17];
        var matrices = rowCounts.Select(r => Matrix(type, r, cols, rng)).ToArray();
        try
        {
            int[] starts = new int[counts.Length];
            int rows = 0;
            for (int p = 0; p < counts.Length; p++)
            {
                starts[p] = rows;
                rows += (counts[p] + 7) & ~7;
            }
            float[] x = TestRows.Floats(rng, rows * cols);
            for (int p = 0; p < counts.Length; p++) // rows of no part are zero, as the caller leaves them
                x.AsSpan((starts[p] + counts[p]) * cols, (((counts[p] + 7) & ~7) - counts[p]) * cols).Clear();
            foreach (int threads in new[] { 1, 2, 3 })
            {
                using var pool = new ComputePool(threads);
                var mm = new MatMul(pool);
                var first = new float[rows * rowCounts.Max()];
                var second = new float[rows * rowCounts.Max()];
                float[][] outputs = [.. Enumerable.Range(0, counts.Length).Select(p => p % 2 == 0 ? first : second)];
                mm.MultiplySegments([.. matrices.Select(m => m.W)], x, rows, starts, counts, outputs);
                // Parts of 3 tokens or more with two whole groups pair where the 16-row tiles run (Q4_0, MXFP4).
                bool pairs = type switch { GgmlType.Q4_0 => LegacyGemmX8<Q4_0x8>.Wide, GgmlType.MXFP4 => LegacyGemmX8<MXFP4x8>.Wide, _ => false };
                Assert.Equal(pairs, mm.PairedGroups > 0);
                for (int p = 0; p < counts.Length; p++)
                {
                    var alone = new float[counts[p] * rowCounts[p]];
                    mm.Multiply(matrices[p].W, x, starts[p] * cols, counts[p], alone, 0);
                    var got = outputs[p].AsSpan(starts[p] * rowCounts[p], counts[p] * rowCounts[p]);
                    Assert.True(alone.AsSpan().SequenceEqual(got), $"part {p} ({counts[p]} tokens) threads={threads}");
                    Assert.Contains(alone, v => v != 0);
                }
            }
            using var single = new ComputePool(1);
            var m1 = new MatMul(single);
            WeightMatrix[] two = [matrices[0].W, matrices[1].W];
            float[][] outs = [new float[rows * 64], new float[rows * 64]];
            Assert.Throws<ArgumentOutOfRangeException>(() => m1.MultiplySegments(two, x, rows, [0, 4], [2, 2], outs)); // start not a multiple of 8
            Assert.Throws<ArgumentOutOfRangeException>(() => m1.MultiplySegments(two, x, 12, [0, 8], [2, 2], outs));   // rows not a multiple of 8
            Assert.Throws<ArgumentOutOfRangeException>(() => m1.MultiplySegments(two, x, 8, [0, 8], [2, 2], outs));    // past the rows
            Assert.Throws<ArgumentException>(() => m1.MultiplySegments(two, x, rows, [0, 8], [2], outs));
            var (other, unlike) = Matrix(type == GgmlType.Q8_0 ? GgmlType.Q4_0 : GgmlType.Q8_0, 8, cols, rng);
            using (other)
            {
                Assert.False(MatMul.CanMultiplySegments([matrices[0].W, unlike]));
                Assert.Throws<ArgumentException>(() => m1.MultiplySegments([matrices[0].W, unlike], x, rows, [0, 8], [2, 2], outs));
            }
        }
        finally
        {
            foreach (var (file, _) in matrices)
                file.Dispose();
        }
    }

    [Fact]
    public void Shared_multiplication_needs_an_output_per_matrix()
    {
        var rng = new Random(3);
        var (file, w) = Matrix(GgmlType.Q8_0, 8, 64, rng);
        using var _ = file;
        using var pool = new ComputePool(1);
        var mm = new MatMul(pool);
        Assert.Throws<ArgumentException>(() => mm.MultiplyShared([w, w], new float[64], 1, [new float[8]]));
        Assert.Throws<ArgumentOutOfRangeException>(() => mm.MultiplyShared([w, w], new float[64], 1, [new float[8], new float[7]]));
    }
}
