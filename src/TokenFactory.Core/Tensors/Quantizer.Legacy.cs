namespace TokenFactory.Tensors;

// The reference quantizers of the 32-element weight formats: one scale from the block's extreme value, then
// truncation of (x * id + offset + 0.5), clamped to the code range.
public static partial class Quantizer
{
    /// <summary>The element of largest magnitude, keeping its sign (the first one on ties).</summary>
    private static float SignedAbsMax(ReadOnlySpan<float> x)
    {
        float amax = 0, max = 0;
        foreach (float v in x)
        {
            if (amax < MathF.Abs(v))
            {
                amax = MathF.Abs(v);
                max = v;
            }
        }
        return max;
    }

    private static void MinMax(ReadOnlySpan<float> x, out float min, out float max)
    {
        min = float.MaxValue;
        max = -float.MaxValue;
        foreach (float v in x)
        {
            if (v < min) min = v;
            if (v > max) max = v;
        }
    }

    private static void PackNibbles(ReadOnlySpan<int> q, Span<byte> qs)
    {
        for (int j = 0; j < 16; j++)
            qs[j] = (byte)((q[j] & 0xF) | ((q[j + 16] & 0xF) << 4));
    }

    private static uint FifthBits(ReadOnlySpan<int> q)
    {
        uint qh = 0;
        for (int j = 0; j < 32; j++)
            qh |= (uint)((q[j] >> 4) & 1) << j;
        return qh;
    }

    // Q4_0: the extreme value maps to -8: d = max / -8.
    private static void Q4_0(ReadOnlySpan<float> x, Span<byte> y)
    {
        float d = SignedAbsMax(x) / -8f;
        float id = d != 0 ? 1f / d : 0f;
        Span<int> q = stackalloc int[32];
        for (int j = 0; j < 32; j++)
            q[j] = Math.Min(15, (int)(x[j] * id + 8.5f));
        Fp16.Write(y, 0, d);
        PackNibbles(q, y.Slice(2, 16));
    }

    // Q4_1: d = (max - min) / 15, m = min.
    private static void Q4_1(ReadOnlySpan<float> x, Span<byte> y)
    {
        MinMax(x, out float min, out float max);
        float d = (max - min) / 15f;
        float id = d != 0 ? 1f / d : 0f;
        Span<int> q = stackalloc int[32];
        for (int j = 0; j < 32; j++)
            q[j] = Math.Min(15, (int)((x[j] - min) * id + 0.5f));
        Fp16.Write(y, 0, d);
        Fp16.Write(y, 2, min);
        PackNibbles(q, y.Slice(4, 16));
    }

    // Q5_0: the extreme value maps to -16: d = max / -16.
    private static void Q5_0(ReadOnlySpan<float> x, Span<byte> y)
    {
        float d = SignedAbsMax(x) / -16f;
        float id = d != 0 ? 1f / d : 0f;
        Span<int> q = stackalloc int[32];
        for (int j = 0; j < 32; j++)
            q[j] = Math.Min(31, (int)(x[j] * id + 16.5f));
        Fp16.Write(y, 0, d);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(y.Slice(2, 4), FifthBits(q));
        PackNibbles(q, y.Slice(6, 16));
    }

    // Q5_1: d = (max - min) / 31, m = min.
    private static void Q5_1(ReadOnlySpan<float> x, Span<byte> y)
    {
        MinMax(x, out float min, out float max);
        float d = (max - min) / 31f;
        float id = d != 0 ? 1f / d : 0f;
        Span<int> q = stackalloc int[32];
        for (int j = 0; j < 32; j++)
            q[j] = Math.Min(31, (int)((x[j] - min) * id + 0.5f));
        Fp16.Write(y, 0, d);
        Fp16.Write(y, 2, min);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(y.Slice(4, 4), FifthBits(q));
        PackNibbles(q, y.Slice(8, 16));
    }
}
