namespace TokenFactory.Tensors;

// Simple K-quant weight quantizers: per sub-block ranges, 6/8-bit quantized sub-block scales against an fp16
// super-scale, then codes chosen against the scales exactly as a reader will reconstruct them (fp16-rounded d).
public static partial class Quantizer
{
    // Q4_K: 8 sub-blocks of 32; x ~ (d*sc)*q - dmin*m with q in 0..15, sc and m in 0..63.
    private static void Q4_K(ReadOnlySpan<float> x, Span<byte> y) => Q4Or5_K(x, y, five: false);

    // Q5_K: Q4_K with q in 0..31, the fifth bits in qh (bit 2i of byte l for element 64i + l, bit 2i+1 for 64i + 32 + l).
    private static void Q5_K(ReadOnlySpan<float> x, Span<byte> y) => Q4Or5_K(x, y, five: true);

    private static void Q4Or5_K(ReadOnlySpan<float> x, Span<byte> y, bool five)
    {
        int top = five ? 31 : 15;
        Span<float> scale = stackalloc float[8];
        Span<float> minus = stackalloc float[8]; // -min of each sub-block, >= 0 (the min is clamped to <= 0)
        float maxScale = 0, maxMin = 0;
        for (int s = 0; s < 8; s++)
        {
            MinMax(x.Slice(32 * s, 32), out float mn, out float mx);
            mn = MathF.Min(mn, 0);
            scale[s] = mx > mn ? (mx - mn) / top : 0f;
            minus[s] = -mn;
            maxScale = MathF.Max(maxScale, scale[s]);
            maxMin = MathF.Max(maxMin, minus[s]);
        }
        float d = Fp16.Round(maxScale / 63f), dmin = Fp16.Round(maxMin / 63f);
        Span<byte> sc = stackalloc byte[8];
        Span<byte> m = stackalloc byte[8];
        for (int s = 0; s < 8; s++)
        {
            // Round the scale up so the sub-block's maximum still fits in its 15 (31) steps.
            sc[s] = (byte)(d > 0 ? Math.Clamp((int)MathF.Ceiling(scale[s] / d), 0, 63) : 0);
            m[s] = (byte)(dmin > 0 ? Math.Clamp(NearestInt(minus[s] / dmin), 0, 63) : 0);
        }
        Fp16.Write(y, 0, d);
        Fp16.Write(y, 2, dmin);
        KQuantScales.Pack6(sc, m, y.Slice(4, 12));
        Span<byte> qh = five ? y.Slice(16, 32) : default;
        qh.Clear();
        Span<byte> qs = y.Slice(five ? 48 : 16, 128);
        for (int i = 0; i < 4; i++)
        {
            float d1 = d * sc[2 * i], m1 = dmin * m[2 * i], d2 = d * sc[2 * i + 1], m2 = dmin * m[2 * i + 1];
            for (int l = 0; l < 32; l++)
            {
                int q1 = d1 > 0 ? Math.Clamp(NearestInt((x[64 * i + l] + m1) / d1), 0, top) : 0;
                int q2 = d2 > 0 ? Math.Clamp(NearestInt((x[64 * i + 32 + l] + m2) / d2), 0, top) : 0;
                qs[32 * i + l] = (byte)((q1 & 15) | ((q2 & 15) << 4));
                if (five)
                    qh[l] |= (byte)((q1 >> 4) << (2 * i) | (q2 >> 4) << (2 * i + 1));
            }
        }
    }

    // Q6_K: 16 sub-blocks of 16; x ~ (d*sc)*(q-32) with q-32 in -32..31 and sc an int8.
    private static void Q6_K(ReadOnlySpan<float> x, Span<byte> y)
    {
        Span<float> scale = stackalloc float[16];
        float bigScale = 0, bigAbs = 0;
        for (int s = 0; s < 16; s++)
        {
            scale[s] = SignedAbsMax(x.Slice(16 * s, 16)) / -32f; // the extreme value maps to code -32
            if (MathF.Abs(scale[s]) > bigAbs)
            {
                bigAbs = MathF.Abs(scale[s]);
                bigScale = scale[s];
            }
        }
        float d = Fp16.Round(bigScale / -128f);
        Span<sbyte> sc = stackalloc sbyte[16];
        for (int s = 0; s < 16; s++)
            sc[s] = (sbyte)(d != 0 ? Math.Clamp(NearestInt(scale[s] / d), -128, 127) : 0);

        Span<int> q = stackalloc int[256];
        for (int j = 0; j < 256; j++)
        {
            float ds = d * sc[j / 16];
            q[j] = (ds != 0 ? Math.Clamp(NearestInt(x[j] / ds), -32, 31) : 0) + 32;
        }
        Span<byte> ql = y[..128];
        Span<byte> qh = y.Slice(128, 64);
        for (int half = 0; half < 2; half++)
        {
            for (int l = 0; l < 32; l++)
            {
                int b = 128 * half + l;
                int q0 = q[b], q1 = q[b + 32], q2 = q[b + 64], q3 = q[b + 96];
                ql[64 * half + l] = (byte)((q0 & 0xF) | ((q2 & 0xF) << 4));
                ql[64 * half + l + 32] = (byte)((q1 & 0xF) | ((q3 & 0xF) << 4));
                qh[32 * half + l] = (byte)((q0 >> 4) | ((q1 >> 4) << 2) | ((q2 >> 4) << 4) | ((q3 >> 4) << 6));
            }
        }
        for (int s = 0; s < 16; s++)
            y[192 + s] = (byte)sc[s];
        Fp16.Write(y, 208, d);
    }
}
