namespace TokenFactory.Tensors;

public static partial class Quantizer
{
    /// <summary>
    /// IQ4_NL: the scale puts the block's largest magnitude on the level of largest magnitude (−127, sign matched), then
    /// each weight takes its nearest level. Simpler than llama.cpp's scale search, and as valid a block.
    /// </summary>
    private static void IQ4_NL(ReadOnlySpan<float> x, Span<byte> y)
    {
        float d = Iq4Scale(x);
        Fp16.Write(y, 0, d);
        Iq4Codes(x, Fp16.Read(y, 0), y.Slice(2, 16));
    }

    /// <summary>IQ4_XS: each sub-block's own IQ4_NL scale, stored as a 6-bit multiple (−32..31) of one super-block scale.</summary>
    private static void IQ4_XS(ReadOnlySpan<float> x, Span<byte> y)
    {
        Span<float> scales = stackalloc float[8];
        float largest = 0;
        for (int ib = 0; ib < 8; ib++)
        {
            scales[ib] = Iq4Scale(x.Slice(32 * ib, 32));
            largest = Math.Max(largest, Math.Abs(scales[ib]));
        }
        float d = largest / 32;
        Fp16.Write(y, 0, d);
        float dStored = Fp16.Read(y, 0);
        int high = 0;
        y.Slice(4, 4).Clear();
        for (int ib = 0; ib < 8; ib++)
        {
            int ls = dStored == 0 ? 32 : Math.Clamp((int)MathF.Round(scales[ib] / dStored) + 32, 0, 63);
            y[4 + ib / 2] |= (byte)((ls & 0xF) << (4 * (ib % 2)));
            high |= (ls >> 4) << (2 * ib);
            Iq4Codes(x.Slice(32 * ib, 32), dStored * (ls - 32), y.Slice(8 + 16 * ib, 16));
        }
        y[2] = (byte)high;
        y[3] = (byte)(high >> 8);
    }

    /// <summary>MXFP4: a power-of-two scale that brings the largest magnitude within FP4's 6, then each weight's nearest FP4 value.</summary>
    private static void MXFP4(ReadOnlySpan<float> x, Span<byte> y)
    {
        float amax = 0;
        foreach (float v in x)
            amax = Math.Max(amax, Math.Abs(v));
        // scale = 2^(e − 127) with amax / scale ≤ 6; stored as the E8M0 byte e (e = 0 for an all-zero block).
        int e = amax == 0 ? 0 : Math.Clamp((int)Math.Ceiling(Math.Log2(amax / 6.0)) + 127, 1, 254);
        y[0] = (byte)e;
        float half = NonLinearCodes.E8M0Half((byte)e);
        var levels = NonLinearCodes.Mxfp4Doubled;
        for (int j = 0; j < 16; j++)
            y[1 + j] = (byte)(Nearest(levels, x[j], half) | (Nearest(levels, x[j + 16], half) << 4));
    }

    private static float Iq4Scale(ReadOnlySpan<float> x)
    {
        float max = 0;
        foreach (float v in x)
        {
            if (Math.Abs(v) > Math.Abs(max))
                max = v;
        }
        return max / -127f;
    }

    private static void Iq4Codes(ReadOnlySpan<float> x, float d, Span<byte> codes)
    {
        var levels = NonLinearCodes.Iq4;
        for (int j = 0; j < 16; j++)
            codes[j] = (byte)(Nearest(levels, x[j], d) | (Nearest(levels, x[j + 16], d) << 4));
    }

    /// <summary>The code whose level times <paramref name="scale"/> is nearest <paramref name="value"/> (the first of equals).</summary>
    private static int Nearest(ReadOnlySpan<sbyte> levels, float value, float scale)
    {
        int best = 0;
        float bestError = float.MaxValue;
        for (int i = 0; i < levels.Length; i++)
        {
            float error = Math.Abs(value - scale * levels[i]);
            if (error < bestError)
            {
                best = i;
                bestError = error;
            }
        }
        return best;
    }
}
