using System.Runtime.InteropServices;
using TokenFactory.Gguf;
using TokenFactory.Tensors;

namespace TokenFactory.Tests.Tensors;

public sealed class VecDotTests
{
    private static readonly VecDotIsa[] s_simdTiers = [VecDotIsa.Avx2, VecDotIsa.Avx512];

    public static TheoryData<GgmlType> QuantizedWeightTypes =>
    [
        GgmlType.Q4_0, GgmlType.Q4_1, GgmlType.Q5_0, GgmlType.Q5_1, GgmlType.Q8_0,
        GgmlType.Q2_K, GgmlType.Q3_K, GgmlType.Q4_K, GgmlType.Q5_K, GgmlType.Q6_K,
        GgmlType.IQ4_NL, GgmlType.IQ4_XS, GgmlType.MXFP4,
    ];

    public static TheoryData<GgmlType> SimdBlockTypes => [GgmlType.Q8_0, GgmlType.Q4_0, GgmlType.Q4_K, GgmlType.Q5_K, GgmlType.Q6_K, GgmlType.IQ4_NL, GgmlType.MXFP4, GgmlType.IQ4_XS];

    [SkippableTheory]
    [InlineData(GgmlType.F16, 2048)]
    [InlineData(GgmlType.F16, 77)]
    [InlineData(GgmlType.BF16, 2048)]
    [InlineData(GgmlType.BF16, 45)]
    public void Half_rows_against_widened_activations_give_the_same_bits_as_against_the_rounded_ones(GgmlType type, int n)
    {
        Skip.If(VecDotIsaInfo.Best != VecDotIsa.Avx512, "needs the AVX-512 kernels, the only ones MatMul widens half rows for");
        var rng = new Random(n);
        float[] w = new float[n], x = new float[n], widened = new float[n];
        for (int i = 0; i < n; i++)
            (w[i], x[i]) = ((float)(rng.NextDouble() - 0.5) * 4, (float)(rng.NextDouble() - 0.5) * 4);
        int rowBytes = (int)GgmlTypeInfo.RowSize(type, n);
        byte[] wq = new byte[rowBytes], xq = new byte[rowBytes];
        Quantizer.QuantizeRow(type, w, wq);
        Quantizer.QuantizeRow(type, x, xq);
        Dequantizer.DequantizeRow(type, xq, widened);
        float expected = VecDot.DotWith(VecDotIsa.Avx512, type, wq, xq, n);
        float actual = VecDotAvx512.HalfTimesSingle(MemoryMarshal.Cast<byte, ushort>(wq), widened, type == GgmlType.BF16);
        Assert.Equal(BitConverter.SingleToInt32Bits(expected), BitConverter.SingleToInt32Bits(actual));
        Assert.NotEqual(0f, actual);

        // Two widened rows by six tokens, the rows cut into pieces as prefill cuts them: each (row, token) the same bits
        // as alone. The second row is another quantized row, so mixing up the two rows' accumulators fails too.
        for (int i = 0; i < n; i++)
            w[i] = (float)(rng.NextDouble() - 0.5) * 4;
        byte[] wq2 = new byte[rowBytes];
        Quantizer.QuantizeRow(type, w, wq2);
        float[] six = new float[6 * n];
        for (int i = 0; i < six.Length; i++)
            six[i] = (float)(rng.NextDouble() - 0.5);
        float[,] results = TwoRowsSixTokensInPieces(wq, wq2, six, n, type == GgmlType.BF16, piece: 64);
        for (int r = 0; r < 2; r++)
            for (int t = 0; t < 6; t++)
            {
                float alone = VecDotAvx512.HalfTimesSingle(MemoryMarshal.Cast<byte, ushort>(r == 0 ? wq : wq2), six.AsSpan(t * n, n), type == GgmlType.BF16);
                Assert.True(BitConverter.SingleToInt32Bits(alone) == BitConverter.SingleToInt32Bits(results[r, t]), $"row {r} token {t}: {alone} vs {results[r, t]}");
            }
    }

    [SkippableTheory]
    [InlineData(0x7C00, 77)]   // +infinity
    [InlineData(0xFC00, 64)]   // -infinity
    [InlineData(0x7E01, 2048)] // a NaN
    [InlineData(0x0001, 2048)] // the smallest subnormal (finite: the fast widening)
    [InlineData(0x8000, 96)]   // -0 (finite)
    public void F16_rows_with_special_values_against_widened_activations_give_the_row_kernel_bits(int special, int n)
    {
        Skip.If(VecDotIsaInfo.Best != VecDotIsa.Avx512, "needs the AVX-512 kernels, the only ones MatMul widens half rows for");
        // Finite rows take a widening that would turn infinities and NaNs into finite values; such rows must fall back
        // to the general one and still give exactly what the F16 row kernel gives. Subnormals and -0 stay on the fast
        // path and must widen exactly. The special value sits in the vector part of the row, and in its tail.
        var rng = new Random(special + n);
        float[] w = new float[n], x = new float[n], widened = new float[n];
        for (int i = 0; i < n; i++)
            (w[i], x[i]) = ((float)(rng.NextDouble() - 0.5) * 4, (float)(rng.NextDouble() - 0.5) * 4);
        int rowBytes = (int)GgmlTypeInfo.RowSize(GgmlType.F16, n);
        byte[] wq = new byte[rowBytes], xq = new byte[rowBytes];
        Quantizer.QuantizeRow(GgmlType.F16, w, wq);
        Quantizer.QuantizeRow(GgmlType.F16, x, xq);
        Dequantizer.DequantizeRow(GgmlType.F16, xq, widened);
        var halves = MemoryMarshal.Cast<byte, ushort>(wq.AsSpan());
        foreach (int at in new[] { 5, n - 1 })
        {
            halves[at] = (ushort)special;
            halves[3] = (ushort)(special ^ 0x8000);
            float expected = VecDot.DotWith(VecDotIsa.Avx512, GgmlType.F16, wq, xq, n);
            float actual = VecDotAvx512.HalfTimesSingle(halves, widened, brain: false);
            Assert.True(BitConverter.SingleToInt32Bits(expected) == BitConverter.SingleToInt32Bits(actual), $"0x{special:X4} at {at}: {expected} vs {actual}");
            if ((special & 0x7C00) != 0x7C00)
                Assert.True(float.IsFinite(actual) && actual != 0, $"{actual}");
            else
                Assert.False(float.IsFinite(actual));
        }
    }

    private static unsafe float[,] TwoRowsSixTokensInPieces(byte[] row0, byte[] row1, float[] six, int n, bool brain, int piece)
    {
        var acc = new System.Runtime.Intrinsics.Vector512<float>[VecDotAvx512.WidenedTileAccumulators];
        int whole = n / 32 * 32;
        float[] wide = new float[2 * whole + 1];
        float[] tokenResults = new float[6];
        var results = new float[2, 6];
        fixed (byte* x0 = row0, x1 = row1)
        fixed (float* y = six, wf = wide, res = tokenResults)
        fixed (System.Runtime.Intrinsics.Vector512<float>* a = acc)
        {
            // The pair's rows side by side, 32 columns of each in turn, as prefill lays them out.
            VecDotAvx512.WidenHalves((ushort*)x0, wf, whole, 64, brain);
            VecDotAvx512.WidenHalves((ushort*)x1, wf + 32, whole, 64, brain);
            for (int c = 0; c < whole; c += piece)
                VecDotAvx512.Widened2x6Columns(wf + 2 * c, y, n, a, c, Math.Min(whole, c + piece));
            for (int r = 0; r < 2; r++)
            {
                VecDotAvx512.HalfTimesSingleFinish((ushort*)(r == 0 ? x0 : x1), y, n, brain, a + 12 * r, 6, n, res);
                for (int t = 0; t < 6; t++)
                    results[r, t] = tokenResults[t];
            }
        }
        return results;
    }

    [Fact]
    public void Activation_types_follow_ggml()
    {
        Assert.Equal(GgmlType.F32, VecDot.ActivationType(GgmlType.F32));
        Assert.Equal(GgmlType.F16, VecDot.ActivationType(GgmlType.F16));
        Assert.Equal(GgmlType.BF16, VecDot.ActivationType(GgmlType.BF16));
        foreach (GgmlType t in new[] { GgmlType.Q8_0, GgmlType.Q4_0, GgmlType.Q5_0 })
            Assert.Equal(GgmlType.Q8_0, VecDot.ActivationType(t));
        foreach (GgmlType t in new[] { GgmlType.Q4_1, GgmlType.Q5_1 })
            Assert.Equal(GgmlType.Q8_1, VecDot.ActivationType(t));
        foreach (GgmlType t in new[] { GgmlType.Q2_K, GgmlType.Q3_K, GgmlType.Q4_K, GgmlType.Q5_K, GgmlType.Q6_K })
            Assert.Equal(GgmlType.Q8_K, VecDot.ActivationType(t));
    }

    private static void AssertClose(float expected, float actual, double magnitude, double rel, string what)
        => Assert.True(Math.Abs(expected - actual) <= rel * magnitude + 1e-30, $"{what}: expected {expected}, got {actual} (scale {magnitude})");

    [Theory]
    [InlineData(GgmlType.F32)]
    [InlineData(GgmlType.F16)]
    [InlineData(GgmlType.BF16)]
    public void Simd_float_dot_matches_scalar_for_every_length(GgmlType type)
    {
        var rng = new Random(5);
        foreach (VecDotIsa isa in s_simdTiers)
        {
            if (!VecDotIsaInfo.IsSupported(isa))
                continue;
            for (int n = 0; n <= 256; n++)
            {
                byte[] x = TestRows.Quantize(type, TestRows.Floats(rng, n));
                byte[] y = TestRows.Quantize(type, TestRows.Floats(rng, n));
                float[] xf = TestRows.Dequantize(type, x, n), yf = TestRows.Dequantize(type, y, n);
                double magnitude = 0;
                for (int i = 0; i < n; i++)
                    magnitude += Math.Abs((double)xf[i] * yf[i]);
                AssertClose(VecDot.DotScalar(type, x, y, n), VecDot.DotWith(isa, type, x, y, n), magnitude, 1e-5, $"{isa} {type} n={n}");
            }
        }
    }

    [Theory]
    [MemberData(nameof(SimdBlockTypes))]
    public void Simd_block_dot_matches_scalar_for_every_block_count(GgmlType type)
    {
        var rng = new Random(11 + (int)type);
        GgmlType at = VecDot.ActivationType(type);
        int bs = GgmlTypeInfo.BlockSize(type);
        foreach (VecDotIsa isa in s_simdTiers)
        {
            if (!VecDotIsaInfo.IsSupported(isa))
                continue;
            foreach (int blocks in Enumerable.Range(0, 17).Concat([31, 33, 128]))
            {
                int n = blocks * bs;
                byte[] w = TestRows.RandomWeightRow(rng, type, blocks);
                byte[] a = TestRows.RandomActivationRow(rng, at, blocks);
                float scalar = VecDot.DotScalar(type, w, a, n);
                float simd = VecDot.DotWith(isa, type, w, a, n);
                if (bs == 256)
                {
                    // K-quant kernels reduce each block to its exact integer sum and scale it like the scalar code.
                    Assert.Equal(scalar, simd);
                }
                else
                {
                    AssertClose(scalar, simd, Magnitude(type, w, a, n), 1e-5, $"{isa} {type} blocks={blocks}");
                }
            }
        }
    }

    [Theory]
    [MemberData(nameof(SimdBlockTypes))]
    public void Simd_block_dot_handles_extreme_codes(GgmlType type)
    {
        // Saturation hazards of vpmaddubsw: all-max nibbles/6-bit codes against +-127 activations, and -128 weights.
        GgmlType at = VecDot.ActivationType(type);
        int blocks = 3, n = blocks * GgmlTypeInfo.BlockSize(type);
        foreach (byte fill in new byte[] { 0xFF, 0x80, 0x00, 0x7F })
        {
            // Keep the random row's fp16 scales, saturate every code and sub-block-scale byte.
            byte[] w = TestRows.RandomWeightRow(new Random(1), type, blocks);
            for (int i = 0; i < w.Length; i++)
            {
                if (!IsScaleByte(type, i))
                    w[i] = fill;
            }
            foreach (sbyte code in new sbyte[] { 127, -127 })
            {
                byte[] a = TestRows.RandomActivationRow(new Random(2), at, blocks);
                SetAllCodes(at, a, code);
                float scalar = VecDot.DotScalar(type, w, a, n);
                foreach (VecDotIsa isa in s_simdTiers)
                {
                    if (VecDotIsaInfo.IsSupported(isa))
                        AssertClose(scalar, VecDot.DotWith(isa, type, w, a, n), Magnitude(type, w, a, n), 1e-5, $"{isa} {type} fill {fill:X2} code {code}");
                }
            }
        }
    }

    private static bool IsScaleByte(GgmlType type, int index)
    {
        int o = index % GgmlTypeInfo.TypeSize(type);
        return type switch
        {
            GgmlType.Q8_0 or GgmlType.Q4_0 or GgmlType.IQ4_NL => o < 2,
            GgmlType.MXFP4 => o < 1,
            GgmlType.IQ4_XS => o < 2,
            GgmlType.Q4_K or GgmlType.Q5_K => o < 4,
            GgmlType.Q6_K => o >= 208,
            _ => false,
        };
    }

    private static void SetAllCodes(GgmlType at, byte[] a, sbyte code)
    {
        int ts = GgmlTypeInfo.TypeSize(at);
        for (int b = 0; b < a.Length / ts; b++)
        {
            Span<byte> blk = a.AsSpan(b * ts, ts);
            if (at == GgmlType.Q8_0)
            {
                blk.Slice(2, 32).Fill((byte)code);
            }
            else
            {
                blk.Slice(4, 256).Fill((byte)code);
                MemoryMarshal.Cast<byte, short>(blk.Slice(260, 32)).Fill((short)(16 * code));
            }
        }
    }

    /// <summary>Σ|w_i a_i| over the dequantized rows: the scale of rounding differences between kernels.</summary>
    private static double Magnitude(GgmlType type, byte[] w, byte[] a, int n)
    {
        float[] wf = TestRows.Dequantize(type, w, n), af = TestRows.Dequantize(VecDot.ActivationType(type), a, n);
        double m = 0;
        for (int i = 0; i < n; i++)
            m += Math.Abs((double)wf[i] * af[i]);
        return m;
    }

    [Theory]
    [MemberData(nameof(QuantizedWeightTypes))]
    public void Scalar_dot_matches_the_dot_of_dequantized_rows(GgmlType type)
    {
        // Ties the integer-code decoding used by the dot products to the dequantizers' layout.
        var rng = new Random(21 + (int)type);
        GgmlType at = VecDot.ActivationType(type);
        foreach (int blocks in new[] { 1, 2, 5, 8 })
        {
            int n = blocks * GgmlTypeInfo.BlockSize(type);
            byte[] w = TestRows.RandomWeightRow(rng, type, blocks);
            byte[] a = TestRows.RandomActivationRow(rng, at, blocks);
            float[] wf = TestRows.Dequantize(type, w, n), af = TestRows.Dequantize(at, a, n);
            double expected = 0;
            for (int i = 0; i < n; i++)
                expected += (double)wf[i] * af[i];
            // Q4_1/Q5_1 use the fp16 s = d * sum(q) field instead of the exact sum, hence the looser bound.
            double rel = type is GgmlType.Q4_1 or GgmlType.Q5_1 ? 2e-3 : 1e-4;
            AssertClose((float)expected, VecDot.DotScalar(type, w, a, n), Magnitude(type, w, a, n), rel, $"{type} blocks={blocks}");
        }
    }

    [Theory]
    [MemberData(nameof(QuantizedWeightTypes))]
    public void Dot_of_quantized_rows_approximates_the_float_dot(GgmlType type)
    {
        var rng = new Random(31 + (int)type);
        int n = 1024;
        float[] x = TestRows.WeightLike(rng, n), y = TestRows.WeightLike(rng, n);
        byte[] w = TestRows.RandomWeightRow(rng, type, n / GgmlTypeInfo.BlockSize(type));
        if (Quantizer.IsSupported(type))
            w = TestRows.Quantize(type, x);
        else
            x = TestRows.Dequantize(type, w, n); // no quantizer for this weight type: use its exact values
        byte[] a = TestRows.Quantize(VecDot.ActivationType(type), y);
        double expected = 0, magnitude = 0;
        for (int i = 0; i < n; i++)
        {
            expected += (double)x[i] * y[i];
            magnitude += Math.Abs((double)x[i] * y[i]);
        }
        AssertClose((float)expected, VecDot.Dot(type, w, a, n), magnitude, 0.15, type.ToString());
    }

    [Fact]
    public void Dot_uses_the_best_tier_and_rejects_short_rows()
    {
        var rng = new Random(3);
        byte[] w = TestRows.RandomWeightRow(rng, GgmlType.Q4_K, 2);
        byte[] a = TestRows.RandomActivationRow(rng, GgmlType.Q8_K, 2);
        Assert.Equal(VecDot.DotWith(VecDotIsaInfo.Best, GgmlType.Q4_K, w, a, 512), VecDot.Dot(GgmlType.Q4_K, w, a, 512));
        Assert.Throws<ArgumentException>(() => VecDot.Dot(GgmlType.Q4_K, w.AsSpan(1), a, 512));
        Assert.Throws<ArgumentException>(() => VecDot.Dot(GgmlType.Q4_K, w, a.AsSpan(1), 512));
        Assert.Throws<ArgumentException>(() => VecDot.Dot(GgmlType.Q4_K, w, a, 500));
    }

    [Fact]
    public void The_widest_supported_tier_is_chosen_unless_a_supported_one_is_pinned()
    {
        VecDotIsa expected = VecDotIsaInfo.IsSupported(VecDotIsa.Avx512) ? VecDotIsa.Avx512
            : VecDotIsaInfo.IsSupported(VecDotIsa.Avx2) ? VecDotIsa.Avx2 : VecDotIsa.Scalar;
        Assert.Equal(expected, VecDotIsaInfo.Best); // the tests run with KernelOptions.Isa = Best
        Assert.Equal(expected, VecDotIsaInfo.Choose(TokenFactory.Platform.KernelIsa.Best));
        Assert.Equal(VecDotIsa.Scalar, VecDotIsaInfo.Choose(TokenFactory.Platform.KernelIsa.Scalar));
        Assert.Equal(VecDotIsaInfo.IsSupported(VecDotIsa.Avx2) ? VecDotIsa.Avx2 : expected, VecDotIsaInfo.Choose(TokenFactory.Platform.KernelIsa.Avx2));
    }

    [Fact]
    public void Bf16_dot_matches_float_dot()
    {
        float[] x = [1f, 2f, -3f], y = [0.5f, 0.25f, 2f];
        byte[] xb = TestRows.Quantize(GgmlType.BF16, x), yb = TestRows.Quantize(GgmlType.BF16, y);
        Assert.Equal(-5f, VecDot.Dot(GgmlType.BF16, xb, yb, 3));
    }
}
