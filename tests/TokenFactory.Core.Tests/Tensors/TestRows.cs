using System.Buffers.Binary;
using TokenFactory.Gguf;
using TokenFactory.Tensors;

namespace TokenFactory.Tests.Tensors;

/// <summary>Seeded random rows and blocks for the tensor tests.</summary>
internal static class TestRows
{
    public static float[] Floats(Random rng, int n, float scale = 1f)
    {
        var x = new float[n];
        for (int i = 0; i < n; i++)
            x[i] = (float)(rng.NextDouble() * 2 - 1) * scale;
        return x;
    }

    /// <summary>Gaussian-ish values (sum of uniforms) with occasional outliers, like real weights.</summary>
    public static float[] WeightLike(Random rng, int n)
    {
        var x = new float[n];
        for (int i = 0; i < n; i++)
        {
            double v = rng.NextDouble() + rng.NextDouble() + rng.NextDouble() - 1.5;
            if (rng.Next(64) == 0)
                v *= 4;
            x[i] = (float)v;
        }
        return x;
    }

    public static byte[] Quantize(GgmlType type, float[] x)
    {
        var bytes = new byte[GgmlTypeInfo.RowSize(type, x.Length)];
        Quantizer.QuantizeRow(type, x, bytes);
        return bytes;
    }

    public static float[] Dequantize(GgmlType type, byte[] bytes, int n)
    {
        var y = new float[n];
        Dequantizer.DequantizeRow(type, bytes, y);
        return y;
    }

    /// <summary>A weight row with random code bytes but sane fp16 scales (random bytes there could be Inf/NaN).</summary>
    public static byte[] RandomWeightRow(Random rng, GgmlType type, int blocks)
    {
        int ts = GgmlTypeInfo.TypeSize(type);
        var row = new byte[blocks * ts];
        rng.NextBytes(row);
        for (int b = 0; b < blocks; b++)
        {
            Span<byte> blk = row.AsSpan(b * ts, ts);
            if (type == GgmlType.MXFP4)
            {
                blk[0] = (byte)(118 + rng.Next(6)); // E8M0: scales 2^-9 .. 2^-4, weight-sized
                continue;
            }
            foreach (int offset in HalfScaleOffsets(type))
                WriteHalf(blk, offset, (float)(rng.NextDouble() * 0.02 + 0.001) * (offset == 0 || type != GgmlType.Q4_1 ? 1 : -1));
        }
        return row;
    }

    private static int[] HalfScaleOffsets(GgmlType type) => type switch
    {
        GgmlType.Q4_0 or GgmlType.Q5_0 or GgmlType.Q8_0 or GgmlType.IQ4_NL or GgmlType.IQ4_XS => [0],
        GgmlType.Q4_1 or GgmlType.Q5_1 or GgmlType.Q4_K or GgmlType.Q5_K => [0, 2],
        GgmlType.Q2_K => [80, 82],
        GgmlType.Q3_K => [108],
        GgmlType.Q6_K => [208],
        _ => throw new ArgumentOutOfRangeException(nameof(type)),
    };

    /// <summary>An activation row (Q8_0, Q8_1 or Q8_K) with codes in -127..127 and consistent s / bsums fields.</summary>
    public static byte[] RandomActivationRow(Random rng, GgmlType type, int blocks)
    {
        int ts = GgmlTypeInfo.TypeSize(type);
        var row = new byte[blocks * ts];
        for (int b = 0; b < blocks; b++)
        {
            Span<byte> blk = row.AsSpan(b * ts, ts);
            switch (type)
            {
                case GgmlType.Q8_0:
                    WriteHalf(blk, 0, (float)(rng.NextDouble() * 0.05 + 0.001));
                    FillCodes(rng, blk.Slice(2, 32));
                    break;
                case GgmlType.Q8_1:
                {
                    float d = (float)(rng.NextDouble() * 0.05 + 0.001);
                    WriteHalf(blk, 0, d);
                    int sum = FillCodes(rng, blk.Slice(4, 32));
                    WriteHalf(blk, 2, sum * d);
                    break;
                }
                case GgmlType.Q8_K:
                    BinaryPrimitives.WriteSingleLittleEndian(blk, (float)(rng.NextDouble() * 0.05 + 0.001));
                    for (int g = 0; g < 16; g++)
                        BinaryPrimitives.WriteInt16LittleEndian(blk.Slice(260 + 2 * g, 2), (short)FillCodes(rng, blk.Slice(4 + 16 * g, 16)));
                    break;
                default:
                    throw new ArgumentOutOfRangeException(nameof(type));
            }
        }
        return row;
    }

    private static int FillCodes(Random rng, Span<byte> codes)
    {
        int sum = 0;
        for (int i = 0; i < codes.Length; i++)
        {
            int q = rng.Next(-127, 128);
            codes[i] = (byte)(sbyte)q;
            sum += q;
        }
        return sum;
    }

    public static void WriteHalf(Span<byte> dst, int offset, float value)
        => BinaryPrimitives.WriteUInt16LittleEndian(dst.Slice(offset, 2), BitConverter.HalfToUInt16Bits((Half)value));

    public static float MaxAbs(ReadOnlySpan<float> x)
    {
        float m = 0;
        foreach (float v in x)
            m = MathF.Max(m, MathF.Abs(v));
        return m;
    }
}
