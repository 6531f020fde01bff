using System.Buffers.Binary;
using TokenFactory.Gguf;

namespace TokenFactory.Tensors;

/// <summary>
/// Portable reference dot products: exact integer sums per block, then per block
/// <c>sum += (dw * da) * isum</c> (+ <c>mw * sa</c> for Q4_1/Q5_1, - <c>(dminw * da) * Σ m·bsum</c> for K-quants), in float.
/// Plain float types accumulate float products in double, as ggml's scalar path does.
/// </summary>
internal static partial class VecDotScalar
{
    public static float F32(ReadOnlySpan<float> x, ReadOnlySpan<float> y, int n)
    {
        double sum = 0;
        for (int i = 0; i < n; i++)
            sum += x[i] * y[i];
        return (float)sum;
    }

    public static float F16(ReadOnlySpan<ushort> x, ReadOnlySpan<ushort> y, int n)
    {
        double sum = 0;
        for (int i = 0; i < n; i++)
            sum += Fp16.ToFloat(x[i]) * Fp16.ToFloat(y[i]);
        return (float)sum;
    }

    public static float BF16(ReadOnlySpan<ushort> x, ReadOnlySpan<ushort> y, int n)
    {
        double sum = 0;
        for (int i = 0; i < n; i++)
            sum += BFloat16Bits.ToFloat(x[i]) * BFloat16Bits.ToFloat(y[i]);
        return (float)sum;
    }

    /// <summary>Q4_0/Q5_0/Q8_0 weights against Q8_0, or Q4_1/Q5_1 against Q8_1.</summary>
    public static float Legacy(GgmlType type, ReadOnlySpan<byte> w, ReadOnlySpan<byte> a, int n)
    {
        int wSize = GgmlTypeInfo.TypeSize(type);
        bool withMin = type is GgmlType.Q4_1 or GgmlType.Q5_1;
        int aSize = withMin ? 36 : 34, aCodes = withMin ? 4 : 2;
        Span<int> q = stackalloc int[32];
        float sum = 0;
        for (int b = 0; b < n / 32; b++)
        {
            ReadOnlySpan<byte> wb = w.Slice(b * wSize, wSize);
            ReadOnlySpan<byte> ab = a.Slice(b * aSize, aSize);
            BlockCodes.Legacy(type, wb, q, out float dw, out float mw);
            int isum = 0;
            for (int j = 0; j < 32; j++)
                isum += q[j] * (sbyte)ab[aCodes + j];
            float da = Fp16.Read(ab, 0);
            sum += dw * da * isum;
            if (withMin)
                sum += mw * Fp16.Read(ab, 2);
        }
        return sum;
    }

    /// <summary>Q2_K..Q6_K weights against Q8_K activations.</summary>
    public static float KQuant(GgmlType type, ReadOnlySpan<byte> w, ReadOnlySpan<byte> a, int n)
    {
        int wSize = GgmlTypeInfo.TypeSize(type);
        Span<int> q = stackalloc int[256];
        Span<int> sc = stackalloc int[16];
        Span<int> m = stackalloc int[16];
        float sum = 0;
        for (int b = 0; b < n / 256; b++)
        {
            ReadOnlySpan<byte> ab = a.Slice(b * 292, 292);
            BlockCodes.KQuant(type, w.Slice(b * wSize, wSize), q, sc, m, out float dw, out float dminw);
            int isum = 0, msum = 0;
            for (int j = 0; j < 16; j++)
            {
                int s = 0;
                for (int l = 0; l < 16; l++)
                    s += q[16 * j + l] * (sbyte)ab[4 + 16 * j + l];
                isum += sc[j] * s;
                msum += m[j] * BinaryPrimitives.ReadInt16LittleEndian(ab.Slice(260 + 2 * j, 2));
            }
            float da = BinaryPrimitives.ReadSingleLittleEndian(ab);
            sum += dw * da * isum - dminw * da * msum;
        }
        return sum;
    }
}
