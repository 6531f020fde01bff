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

    public static TheoryData<GgmlType, int, int> Shapes => new()
    {
        { GgmlType.Q8_0, 32, 1 }, { GgmlType.Q8_0, 64, 5 }, { GgmlType.Q8_0, 96, 13 }, { GgmlType.Q8_0, 288, 8 }, { GgmlType.Q8_0, 256, 3 },
        { GgmlType.Q4_K, 256, 1 }, { GgmlType.Q4_K, 512, 5 }, { GgmlType.Q4_K, 768, 9 }, { GgmlType.Q4_K, 256, 4 }, { GgmlType.Q4_K, 512, 16 },
        { GgmlType.Q6_K, 256, 3 }, { GgmlType.Q4_0, 64, 5 }, { GgmlType.Q4_0, 96, 13 }, { GgmlType.Q4_0, 256, 16 },
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
                mm.Multiply(w, x, 3, tokens, output, 5);
                for (int t = 0; t < tokens; t++)
                {
                    byte[] a = TestRows.Quantize(at, x.AsSpan(3 + t * cols, cols).ToArray());
                    float[] af = TestRows.Dequantize(at, a, cols);
                    for (int r = 0; r < rows; r++)
                    {
                        float expected = VecDot.DotScalar(type, w.Row(r), a, cols);
                        float actual = output[5 + t * rows + r];
                        if (type == GgmlType.Q4_K)
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
}
