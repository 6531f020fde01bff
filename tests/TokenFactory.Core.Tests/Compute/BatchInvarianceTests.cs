using TokenFactory.Compute;
using TokenFactory.Gguf;
using TokenFactory.Tensors;

namespace TokenFactory.Tests.Compute;

/// <summary>
/// A sequence must get the same bits whatever else shares its batch: kernels may tile tokens and
/// elements however they like, but a token's result cannot depend on its neighbours or its offset.
/// </summary>
public sealed class BatchInvarianceTests
{
    [Theory]
    [InlineData(GgmlType.F32)]
    [InlineData(GgmlType.F16)]
    [InlineData(GgmlType.BF16)]
    [InlineData(GgmlType.Q8_0)]
    [InlineData(GgmlType.Q4_0)]
    [InlineData(GgmlType.MXFP4)]
    [InlineData(GgmlType.Q4_K)]
    [InlineData(GgmlType.Q5_K)]
    [InlineData(GgmlType.Q6_K)]
    public void Matmul_row_of_a_token_is_identical_alone_and_in_any_batch(GgmlType type)
    {
        const int cols = 512, rows = 72;
        var rng = new Random(5);
        var weights = new float[cols];
        var w = new GgufWriter();
        int rowBytes = (int)GgmlTypeInfo.RowSize(type, cols);
        var data = new byte[rowBytes * rows];
        for (int r = 0; r < rows; r++)
        {
            for (int i = 0; i < cols; i++)
                weights[i] = (float)(rng.NextDouble() * 2 - 1);
            Quantizer.QuantizeRow(type, weights, data.AsSpan(r * rowBytes, rowBytes));
        }
        w.AddTensor("w", [cols, rows], type, data);
        using var file = GgufFile.FromBytes(w.ToBytes());
        var matrix = new WeightMatrix(file, file.GetTensorInfo("w"));
        using var pool = new ComputePool(2);
        var matmul = new MatMul(pool);

        const int maxTokens = 23;
        var x = new float[maxTokens * cols];
        for (int i = 0; i < x.Length; i++)
            x[i] = (float)(rng.NextDouble() * 4 - 2);
        var alone = new float[maxTokens * rows];
        var single = new float[rows];
        for (int t = 0; t < maxTokens; t++)
        {
            matmul.Multiply(matrix, x, t * cols, 1, single, 0);
            single.CopyTo(alone, t * rows);
        }
        foreach (int tokens in new[] { 2, 3, 4, 5, 6, 7, 8, 9, 14, 15, 16, 17, 23 })
        {
            var batched = new float[tokens * rows];
            matmul.Multiply(matrix, x, 0, tokens, batched, 0);
            for (int i = 0; i < batched.Length; i++)
                Assert.True(BitConverter.SingleToInt32Bits(batched[i]) == BitConverter.SingleToInt32Bits(alone[i]),
                    $"{type}: token {i / rows} row {i % rows} differs in a batch of {tokens}: {batched[i]} vs {alone[i]} alone");
        }
        // Q4_0 and MXFP4 batches of 3 or more went through the 16-row tiles where they run (the same bits by design, so only
        // the count tells they were taken); single tokens and the other formats never pair.
        bool pairs = type switch { GgmlType.Q4_0 => LegacyGemmX8<Q4_0x8>.Wide, GgmlType.MXFP4 => LegacyGemmX8<MXFP4x8>.Wide, _ => false };
        Assert.Equal(pairs, matmul.PairedGroups > 0);
    }

    [Fact]
    public void Silu_multiply_does_not_depend_on_an_elements_offset()
    {
        var rng = new Random(3);
        var g = Enumerable.Range(0, 300).Select(_ => (float)(rng.NextDouble() * 16 - 8)).ToArray();
        var u = Enumerable.Range(0, 300).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
        var whole = (float[])g.Clone();
        FusedOps.SiluMultiply(whole, u);
        foreach (int start in new[] { 1, 5, 17, 290 })
        {
            foreach (int length in new[] { 1, 3, 10 })
            {
                if (start + length > g.Length)
                    continue;
                var part = g.AsSpan(start, length).ToArray();
                FusedOps.SiluMultiply(part, u.AsSpan(start, length));
                Assert.Equal(whole.AsSpan(start, length).ToArray(), part);
            }
        }
    }
}
