namespace TokenFactory.Tensors;

internal static partial class VecDotScalar
{
    /// <summary>IQ4_NL weights against Q8_0: per block <c>(dw · da) · Σ level·a</c>, the integer sum exact.</summary>
    public static float IQ4_NL(ReadOnlySpan<byte> w, ReadOnlySpan<byte> a, int blocks)
    {
        var levels = NonLinearCodes.Iq4;
        float sum = 0;
        for (int b = 0; b < blocks; b++)
        {
            var x = w.Slice(b * 18, 18);
            var y = a.Slice(b * 34, 34);
            int isum = 0;
            for (int j = 0; j < 16; j++)
                isum += levels[x[2 + j] & 0xF] * (sbyte)y[2 + j] + levels[x[2 + j] >> 4] * (sbyte)y[18 + j];
            sum += Fp16.Read(x, 0) * Fp16.Read(y, 0) * isum;
        }
        return sum;
    }

    /// <summary>MXFP4 weights against Q8_0: per block <c>(da · 2^(e−128)) · Σ (2·value)·a</c>, the integer sum exact.</summary>
    public static float MXFP4(ReadOnlySpan<byte> w, ReadOnlySpan<byte> a, int blocks)
    {
        var levels = NonLinearCodes.Mxfp4Doubled;
        float sum = 0;
        for (int b = 0; b < blocks; b++)
        {
            var x = w.Slice(b * 17, 17);
            var y = a.Slice(b * 34, 34);
            int isum = 0;
            for (int j = 0; j < 16; j++)
                isum += levels[x[1 + j] & 0xF] * (sbyte)y[2 + j] + levels[x[1 + j] >> 4] * (sbyte)y[18 + j];
            sum += Fp16.Read(y, 0) * NonLinearCodes.E8M0Half(x[0]) * isum;
        }
        return sum;
    }

    /// <summary>IQ4_XS weights against Q8_K: per sub-block of 32 <c>((dw · da) · (ls − 32)) · Σ level·a</c>, summed in float.</summary>
    public static float IQ4_XS(ReadOnlySpan<byte> w, ReadOnlySpan<byte> a, int blocks)
    {
        var levels = NonLinearCodes.Iq4;
        float sum = 0;
        for (int b = 0; b < blocks; b++)
        {
            var x = w.Slice(b * 136, 136);
            var y = a.Slice(b * 292, 292);
            float d = Fp16.Read(x, 0) * BitConverter.ToSingle(y[..4]);
            int high = x[2] | (x[3] << 8);
            for (int ib = 0; ib < 8; ib++)
            {
                int ls = ((x[4 + ib / 2] >> (4 * (ib % 2))) & 0xF) | (((high >> (2 * ib)) & 3) << 4);
                var qs = x.Slice(8 + 16 * ib, 16);
                var q8 = y.Slice(4 + 32 * ib, 32);
                int isum = 0;
                for (int j = 0; j < 16; j++)
                    isum += levels[qs[j] & 0xF] * (sbyte)q8[j] + levels[qs[j] >> 4] * (sbyte)q8[j + 16];
                sum += d * (ls - 32) * isum;
            }
        }
        return sum;
    }
}
