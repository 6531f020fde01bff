using TokenFactory.Compute;
using TokenFactory.Gguf;
using TokenFactory.Tests.Tensors;

namespace TokenFactory.Tests.Compute;

public sealed class WeightStreamProbeTests
{
    private static (GgufFile File, WeightMatrix[] Matrices) Matrices(params (GgmlType Type, int Rows, int Columns)[] shapes)
    {
        var rng = new Random(3);
        var writer = new GgufWriter();
        for (int m = 0; m < shapes.Length; m++)
        {
            var (type, rows, cols) = shapes[m];
            var data = new List<byte>();
            for (int r = 0; r < rows; r++)
                data.AddRange(TestRows.Quantize(type, TestRows.WeightLike(rng, cols)));
            writer.AddTensor($"w{m}", [cols, rows], type, [.. data]);
        }
        var file = GgufFile.FromBytes(writer.ToBytes());
        return (file, [.. Enumerable.Range(0, shapes.Length).Select(m => new WeightMatrix(file, file.GetTensorInfo($"w{m}")))]);
    }

    [Fact]
    public void A_pass_multiplies_every_matrix_by_one_row_and_counts_every_streamed_byte()
    {
        // Matrices of different widths and kinds: the probe's one input row serves each (its first Columns values).
        var (file, matrices) = Matrices((GgmlType.Q8_0, 96, 512), (GgmlType.Q4_K, 40, 1024), (GgmlType.Q8_0, 70, 256));
        using var owned = file;
        using var pool = new ComputePool(2);
        var matmul = new MatMul(pool);
        var probe = new WeightStreamProbe(matmul, matrices);
        Assert.Equal(matrices.Sum(w => w.Streamed.Length), probe.Bytes);
        Assert.True(probe.Bytes > 96 * 512); // packed or mapped, every matrix's bytes are counted

        double rate = probe.Pass();
        Assert.True(rate > 0 && double.IsFinite(rate), $"{rate} bytes/s");
        Assert.True(probe.Best(3) > 0);

        // The last pass's last product is the engine's own product of that matrix and the probe's row.
        var last = matrices[^1];
        var x = probe.Input[..last.Columns].ToArray();
        var expected = new float[last.Rows];
        matmul.Multiply(last, x, 0, 1, expected, 0);
        Assert.Equal(expected, probe.LastOutput.ToArray());
        Assert.Contains(expected, v => v != 0);
    }

    [Fact]
    public void A_probe_of_several_tokens_multiplies_that_many_rows_and_counts_their_flops()
    {
        var (file, matrices) = Matrices((GgmlType.Q8_0, 64, 512), (GgmlType.Q8_0, 48, 256));
        using var owned = file;
        using var pool = new ComputePool(2);
        var matmul = new MatMul(pool);
        var probe = new WeightStreamProbe(matmul, matrices, tokens: 3);
        Assert.Equal(3, probe.Tokens);
        Assert.Equal(2.0 * 3 * (64 * 512 + 48 * 256), probe.FlopsPerPass);
        double flops = probe.FlopsPerSecond(2);
        Assert.True(flops > 0 && double.IsFinite(flops), $"{flops} FLOP/s");

        var last = matrices[^1];
        var x = probe.Input[..(3 * last.Columns)].ToArray(); // three rows of the last matrix's width
        var expected = new float[3 * last.Rows];
        matmul.Multiply(last, x, 0, 3, expected, 0);
        Assert.Equal(expected, probe.LastOutput.ToArray());
        Assert.Throws<ArgumentOutOfRangeException>(() => new WeightStreamProbe(matmul, matrices, tokens: 0));
    }

    [Fact]
    public void No_matrices_is_refused()
    {
        using var pool = new ComputePool(1);
        Assert.Throws<ArgumentOutOfRangeException>(() => new WeightStreamProbe(new MatMul(pool), []));
    }
}
