using System.Buffers.Binary;
using System.Runtime.CompilerServices;

namespace TokenFactory.Tensors;

// ggml's reference activation quantizers. Note the reference multiplies by id = 1/d rather than dividing by d;
// the two can differ in the last bit, which flips a rounding now and then, so we do exactly what it does.
public static partial class Quantizer
{
    /// <summary>C's <c>roundf</c>: halves go away from zero.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static int RoundHalfAway(float v) => (int)MathF.Round(v, MidpointRounding.AwayFromZero);

    /// <summary>ggml's <c>nearest_int</c> (the 1.5*2^23 trick): round-half-to-even for |v| &lt; 2^22.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static int NearestInt(float v) => (int)MathF.Round(v, MidpointRounding.ToEven);

    private static float AbsMax(ReadOnlySpan<float> x)
    {
        float amax = 0;
        foreach (float v in x)
        {
            float av = MathF.Abs(v);
            amax = amax > av ? amax : av; // C's MAX macro, including how it treats NaN
        }
        return amax;
    }

    // Q8_0: d = amax/127 (stored fp16), q = roundf(x * (1/d)).
    private static void Q8_0(ReadOnlySpan<float> x, Span<byte> y)
    {
        float d = AbsMax(x) / 127f;
        float id = d != 0 ? 1f / d : 0f;
        Fp16.Write(y, 0, d);
        for (int j = 0; j < 32; j++)
            y[2 + j] = (byte)(sbyte)RoundHalfAway(x[j] * id);
    }

    // Q8_1: as Q8_0, plus s = (sum of q) * d with the unrounded float d, stored fp16.
    private static void Q8_1(ReadOnlySpan<float> x, Span<byte> y)
    {
        float d = AbsMax(x) / 127f;
        float id = d != 0 ? 1f / d : 0f;
        int sum = 0;
        for (int j = 0; j < 32; j++)
        {
            int q = RoundHalfAway(x[j] * id);
            sum += q;
            y[4 + j] = (byte)(sbyte)q;
        }
        Fp16.Write(y, 0, d);
        Fp16.Write(y, 2, sum * d);
    }

    // Q8_K: the signed value of largest magnitude maps to -127: iscale = -127/max, q = min(127, nearest_int(iscale*x)),
    // d = 1/iscale stored as float32, and bsums holds the int16 sum of each 16 q's.
    private static void Q8_K(ReadOnlySpan<float> x, Span<byte> y)
    {
        float max = 0, amax = 0;
        foreach (float v in x)
        {
            float av = MathF.Abs(v);
            if (av > amax)
            {
                amax = av;
                max = v;
            }
        }
        Span<byte> qs = y.Slice(4, 256);
        Span<byte> bsums = y.Slice(260, 32);
        if (amax == 0)
        {
            y.Clear();
            return;
        }
        float iscale = -127f / max;
        for (int j = 0; j < 256; j++)
            qs[j] = (byte)(sbyte)Math.Min(127, NearestInt(iscale * x[j]));
        for (int g = 0; g < 16; g++)
        {
            int sum = 0;
            for (int l = 0; l < 16; l++)
                sum += (sbyte)qs[16 * g + l];
            BinaryPrimitives.WriteInt16LittleEndian(bsums.Slice(2 * g, 2), (short)sum);
        }
        BinaryPrimitives.WriteSingleLittleEndian(y, 1f / iscale);
    }
}
