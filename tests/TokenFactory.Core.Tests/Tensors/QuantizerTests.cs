using System.Buffers.Binary;
using TokenFactory.Gguf;
using TokenFactory.Tensors;

namespace TokenFactory.Tests.Tensors;

public sealed class QuantizerTests
{
    // Largest error allowed per element, as a fraction of the block's largest magnitude (and RMS bound vs. RMS of x).
    public static TheoryData<GgmlType, float, float> RoundTripBounds => new()
    {
        { GgmlType.F16, 1f / 1024, 1f / 2048 },
        { GgmlType.BF16, 1f / 128, 1f / 256 },
        // fp16 d: codes are chosen against the float d, so the stored d adds up to 127 * 2^-11 relative error.
        { GgmlType.Q8_0, 0.5f / 127 + 1f / 1024, 0.02f },
        { GgmlType.Q8_1, 0.5f / 127 + 1f / 1024, 0.02f },
        { GgmlType.Q8_K, 0.5f / 127 * 1.01f, 0.02f },
        { GgmlType.Q4_0, 1f / 8 * 1.01f, 0.15f },
        { GgmlType.Q4_1, 1f / 15, 0.1f },
        { GgmlType.Q5_0, 1f / 16 * 1.01f, 0.07f },
        { GgmlType.Q5_1, 1f / 31, 0.05f },
        { GgmlType.Q4_K, 0.2f, 0.12f },
        { GgmlType.Q5_K, 0.1f, 0.06f },
        { GgmlType.Q6_K, 0.05f, 0.04f },
    };

    [Theory]
    [MemberData(nameof(RoundTripBounds))]
    public void Round_trip_error_is_bounded(GgmlType type, float maxRelError, float rmsRelError)
    {
        var rng = new Random(1234 + (int)type);
        int bs = GgmlTypeInfo.BlockSize(type) == 1 ? 32 : GgmlTypeInfo.BlockSize(type);
        int n = 8 * Math.Max(bs, 32);
        float[] x = TestRows.WeightLike(rng, n);
        float[] y = TestRows.Dequantize(type, TestRows.Quantize(type, x), n);

        double err2 = 0, x2 = 0;
        for (int blockStart = 0; blockStart < n; blockStart += bs)
        {
            float amax = TestRows.MaxAbs(x.AsSpan(blockStart, bs));
            for (int i = blockStart; i < blockStart + bs; i++)
            {
                float e = MathF.Abs(x[i] - y[i]);
                Assert.True(e <= maxRelError * amax + 1e-30f, $"{type} element {i}: {x[i]} -> {y[i]} (block max {amax})");
                err2 += e * e;
                x2 += x[i] * x[i];
            }
        }
        Assert.True(Math.Sqrt(err2 / x2) <= rmsRelError, $"{type} RMS error {Math.Sqrt(err2 / x2)}");
    }

    [Theory]
    [MemberData(nameof(RoundTripBounds))]
    public void Requantizing_dequantized_values_is_stable(GgmlType type, float maxRelError, float rmsRelError)
    {
        _ = rmsRelError;
        var rng = new Random(99 + (int)type);
        int n = 1024;
        float[] x = TestRows.WeightLike(rng, n);
        float[] y1 = TestRows.Dequantize(type, TestRows.Quantize(type, x), n);
        float[] y2 = TestRows.Dequantize(type, TestRows.Quantize(type, y1), n);
        float amax = TestRows.MaxAbs(x);
        for (int i = 0; i < n; i++)
            Assert.True(MathF.Abs(y1[i] - y2[i]) <= maxRelError * amax, $"{type} element {i}: {y1[i]} then {y2[i]}");
    }

    [Theory]
    [InlineData(GgmlType.Q8_0)]
    [InlineData(GgmlType.F16)]
    [InlineData(GgmlType.BF16)]
    public void Exact_formats_requantize_to_the_same_bytes(GgmlType type)
    {
        float[] x = TestRows.WeightLike(new Random(7), 256);
        byte[] q1 = TestRows.Quantize(type, x);
        byte[] q2 = TestRows.Quantize(type, TestRows.Dequantize(type, q1, 256));
        Assert.Equal(q1, q2);
    }

    [Fact]
    public void Q8_0_activation_quantizer_rounds_halves_away_from_zero()
    {
        var x = new float[32];
        x[0] = 127f; // amax 127 -> d = 1, id = 1: codes are round(x) exactly
        x[1] = 2.5f;
        x[2] = -2.5f;
        x[3] = 0.5f;
        x[4] = -0.5f;
        x[5] = 1.5f;
        x[6] = 2.4999998f;
        byte[] q = TestRows.Quantize(GgmlType.Q8_0, x);
        Assert.Equal((ushort)0x3C00, BinaryPrimitives.ReadUInt16LittleEndian(q)); // d = 1.0 in fp16
        sbyte[] codes = q.Skip(2).Take(7).Select(b => (sbyte)b).ToArray();
        Assert.Equal(new sbyte[] { 127, 3, -3, 1, -1, 2, 2 }, codes);
    }

    [Fact]
    public void Q8_1_stores_d_times_the_code_sum()
    {
        var x = new float[32];
        x[0] = 127f;
        x[1] = -27f;
        x[2] = 0.5f; // rounds to 1
        byte[] q = TestRows.Quantize(GgmlType.Q8_1, x);
        Assert.Equal(1f, (float)BitConverter.UInt16BitsToHalf(BinaryPrimitives.ReadUInt16LittleEndian(q)));
        Assert.Equal(101f, (float)BitConverter.UInt16BitsToHalf(BinaryPrimitives.ReadUInt16LittleEndian(q.AsSpan(2))));
        Assert.Equal(-27, (sbyte)q[5]);
    }

    [Fact]
    public void Q8_K_maps_the_signed_extreme_to_minus_127_and_rounds_half_to_even()
    {
        var x = new float[256];
        x[0] = -127f; // max = -127 -> iscale = 1, d = 1
        x[1] = 2.5f;
        x[2] = 3.5f;
        x[3] = -2.5f;
        x[4] = 127f;
        x[17] = 5f;
        byte[] q = TestRows.Quantize(GgmlType.Q8_K, x);
        Assert.Equal(1f, BinaryPrimitives.ReadSingleLittleEndian(q));
        Assert.Equal(new sbyte[] { -127, 2, 4, -2, 127 }, q.Skip(4).Take(5).Select(b => (sbyte)b).ToArray());
        Assert.Equal((short)(-127 + 2 + 4 - 2 + 127), BinaryPrimitives.ReadInt16LittleEndian(q.AsSpan(260)));
        Assert.Equal((short)5, BinaryPrimitives.ReadInt16LittleEndian(q.AsSpan(262)));

        x[0] = 254f; // positive extreme: iscale = -0.5, codes flip sign, d = -2
        q = TestRows.Quantize(GgmlType.Q8_K, x);
        Assert.Equal(-2f, BinaryPrimitives.ReadSingleLittleEndian(q));
        Assert.Equal(-127, (sbyte)q[4]);
        Assert.Equal(-1, (sbyte)q[5]); // -0.5 * 2.5 = -1.25
    }

    [Fact]
    public void All_zero_blocks_quantize_to_zero()
    {
        foreach (GgmlType type in new[] { GgmlType.Q8_0, GgmlType.Q8_1, GgmlType.Q8_K, GgmlType.Q4_0, GgmlType.Q4_K, GgmlType.Q5_K, GgmlType.Q6_K })
        {
            int n = GgmlTypeInfo.BlockSize(type);
            float[] y = TestRows.Dequantize(type, TestRows.Quantize(type, new float[n]), n);
            Assert.All(y, v => Assert.Equal(0f, v));
        }
    }

    [Fact]
    public void Float_to_bf16_rounds_to_nearest_even_and_keeps_nan_quiet()
    {
        static ushort Bf16(uint bits)
        {
            var dst = new ushort[1];
            FloatOps.FloatToBFloat16([BitConverter.UInt32BitsToSingle(bits)], dst);
            return dst[0];
        }
        Assert.Equal((ushort)0x3F80, Bf16(0x3F800000));
        Assert.Equal((ushort)0x3F80, Bf16(0x3F808000)); // tie, even stays
        Assert.Equal((ushort)0x3F82, Bf16(0x3F818000)); // tie, odd rounds up
        Assert.Equal((ushort)0x3F81, Bf16(0x3F808001));
        Assert.Equal((ushort)0x7F80, Bf16(0x7F800000)); // +inf
        Assert.Equal((ushort)0x7F80, Bf16(0x7F7FFFFF)); // overflow rounds to inf
        Assert.Equal((ushort)0x7FC0, Bf16(0x7F800001)); // signalling NaN with low payload stays NaN, quiet
        Assert.Equal((ushort)0xFFC0, Bf16(0xFFC00000));
    }

    [Fact]
    public void Float_to_f16_rounds_to_nearest_even()
    {
        var dst = new ushort[4];
        FloatOps.FloatToHalf([1f + MathF.Pow(2, -11), 1f + 3 * MathF.Pow(2, -11), 70000f, -0f], dst);
        Assert.Equal(new ushort[] { 0x3C00, 0x3C02, 0x7C00, 0x8000 }, dst);
    }

    [Fact]
    public void Every_f16_bit_pattern_widens_like_System_Half()
    {
        var all = new ushort[65536];
        for (int i = 0; i < all.Length; i++)
            all[i] = (ushort)i;
        var y = new float[65536];
        FloatOps.HalfToFloat(all, y);
        for (int i = 0; i < all.Length; i++)
        {
            float expected = (float)BitConverter.UInt16BitsToHalf((ushort)i);
            if (float.IsNaN(expected))
                Assert.True(float.IsNaN(y[i]), $"0x{i:X4}");
            else
                Assert.Equal(BitConverter.SingleToUInt32Bits(expected), BitConverter.SingleToUInt32Bits(y[i]));
        }
    }

    [Fact]
    public void Quantize_rejects_partial_blocks_and_short_destinations()
    {
        Assert.Throws<ArgumentException>(() => Quantizer.QuantizeRow(GgmlType.Q4_K, new float[255], new byte[144]));
        Assert.Throws<ArgumentException>(() => Quantizer.QuantizeRow(GgmlType.Q8_0, new float[32], new byte[33]));
        Assert.Throws<NotSupportedException>(() => Quantizer.QuantizeRow(GgmlType.Q3_K, new float[256], new byte[110]));
    }
}
