namespace TokenFactory.Tensors;

public static partial class Dequantizer
{
    /// <summary>IQ4_NL, 32 weights: fp16 d, 16 bytes of codes (low nibbles: weights 0–15, high: 16–31); w = d · level.</summary>
    private static void IQ4_NL(ReadOnlySpan<byte> b, Span<float> y)
    {
        float d = Fp16.Read(b, 0);
        var levels = NonLinearCodes.Iq4;
        for (int j = 0; j < 16; j++)
        {
            y[j] = d * levels[b[2 + j] & 0xF];
            y[j + 16] = d * levels[b[2 + j] >> 4];
        }
    }

    /// <summary>MXFP4, 32 weights: an E8M0 scale byte, 16 bytes of E2M1 codes laid out as IQ4_NL's; w = 2^(e−128) · 2·value.</summary>
    private static void MXFP4(ReadOnlySpan<byte> b, Span<float> y)
    {
        float d = NonLinearCodes.E8M0Half(b[0]);
        var levels = NonLinearCodes.Mxfp4Doubled;
        for (int j = 0; j < 16; j++)
        {
            y[j] = d * levels[b[1 + j] & 0xF];
            y[j + 16] = d * levels[b[1 + j] >> 4];
        }
    }

    /// <summary>
    /// IQ4_XS, 256 weights: fp16 d, a 16-bit word of scale high bits, 4 bytes of scale low nibbles, 128 bytes of codes. Each
    /// of the 8 sub-blocks of 32 has a 6-bit scale ls (low nibble | two high bits << 4); w = d·(ls − 32) · level.
    /// </summary>
    private static void IQ4_XS(ReadOnlySpan<byte> b, Span<float> y)
    {
        float d = Fp16.Read(b, 0);
        int high = b[2] | (b[3] << 8);
        var levels = NonLinearCodes.Iq4;
        for (int ib = 0; ib < 8; ib++)
        {
            int ls = ((b[4 + ib / 2] >> (4 * (ib % 2))) & 0xF) | (((high >> (2 * ib)) & 3) << 4);
            float dl = d * (ls - 32);
            var qs = b.Slice(8 + 16 * ib, 16);
            var o = y.Slice(32 * ib, 32);
            for (int j = 0; j < 16; j++)
            {
                o[j] = dl * levels[qs[j] & 0xF];
                o[j + 16] = dl * levels[qs[j] >> 4];
            }
        }
    }
}
