using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace TokenFactory.Tensors;

/// <summary>
/// AVX2 + FMA kernels. Integer parts use <c>vpmaddubsw</c> (u8 x s8 -> paired i16) and <c>vpmaddwd</c> (-> i32); no
/// pair can saturate for the code ranges involved (nibbles/6-bit codes, or |x| with sign moved onto an activation in -127..127).
/// K-quant blocks are reduced to the exact integer sum and scaled exactly like <see cref="VecDotScalar"/>, so they
/// match it bit for bit; the 32-element formats and floats accumulate in vector lanes (different, equally valid rounding).
/// </summary>
internal static partial class VecDotAvx2
{
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float F32(ReadOnlySpan<float> x, ReadOnlySpan<float> y)
    {
        int n = x.Length, i = 0;
        ref float xr = ref MemoryMarshal.GetReference(x);
        ref float yr = ref MemoryMarshal.GetReference(y);
        Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
        for (; i + 32 <= n; i += 32)
        {
            a0 = Fma.MultiplyAdd(Vector256.LoadUnsafe(ref xr, (nuint)i), Vector256.LoadUnsafe(ref yr, (nuint)i), a0);
            a1 = Fma.MultiplyAdd(Vector256.LoadUnsafe(ref xr, (nuint)i + 8), Vector256.LoadUnsafe(ref yr, (nuint)i + 8), a1);
            a2 = Fma.MultiplyAdd(Vector256.LoadUnsafe(ref xr, (nuint)i + 16), Vector256.LoadUnsafe(ref yr, (nuint)i + 16), a2);
            a3 = Fma.MultiplyAdd(Vector256.LoadUnsafe(ref xr, (nuint)i + 24), Vector256.LoadUnsafe(ref yr, (nuint)i + 24), a3);
        }
        for (; i + 8 <= n; i += 8)
            a0 = Fma.MultiplyAdd(Vector256.LoadUnsafe(ref xr, (nuint)i), Vector256.LoadUnsafe(ref yr, (nuint)i), a0);
        double sum = Vector256.Sum((a0 + a1) + (a2 + a3));
        for (; i < n; i++)
            sum += x[i] * y[i];
        return (float)sum;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float F16(ReadOnlySpan<ushort> x, ReadOnlySpan<ushort> y) => HalfDot(x, y, brain: false);

    /// <summary>BF16 · BF16: each value widened exactly (its bits shifted into a float's top half), products fused into float lanes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float BF16(ReadOnlySpan<ushort> x, ReadOnlySpan<ushort> y) => HalfDot(x, y, brain: true);

    /// <summary>F16 or BF16 (<paramref name="brain"/>, a constant in each caller) widened to floats and fused, with a scalar tail.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float HalfDot(ReadOnlySpan<ushort> x, ReadOnlySpan<ushort> y, bool brain)
    {
        int n = x.Length, i = 0;
        ref ushort xr = ref MemoryMarshal.GetReference(x);
        ref ushort yr = ref MemoryMarshal.GetReference(y);
        Vector256<float> a0 = default, a1 = default;
        for (; i + 16 <= n; i += 16)
        {
            (Vector256<uint> xl, Vector256<uint> xh) = Vector256.Widen(Vector256.LoadUnsafe(ref xr, (nuint)i));
            (Vector256<uint> yl, Vector256<uint> yh) = Vector256.Widen(Vector256.LoadUnsafe(ref yr, (nuint)i));
            a0 = Fma.MultiplyAdd(Widen(xl, brain), Widen(yl, brain), a0);
            a1 = Fma.MultiplyAdd(Widen(xh, brain), Widen(yh, brain), a1);
        }
        double sum = Vector256.Sum(a0 + a1);
        for (; i < n; i++)
            sum += brain ? BFloat16Bits.ToFloat(x[i]) * BFloat16Bits.ToFloat(y[i]) : Fp16.ToFloat(x[i]) * Fp16.ToFloat(y[i]);
        return (float)sum;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Widen(Vector256<uint> bits, bool brain) => brain ? (bits << 16).AsSingle() : HalfVectors.ToSingle(bits);

    /// <summary>Sum of signed byte products in 8 int32 lanes: |x| times y carrying x's sign (y must avoid -128).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> MulSumI8(Vector256<sbyte> x, Vector256<sbyte> y)
    {
        Vector256<short> pairs = Avx2.MultiplyAddAdjacent(Avx2.Abs(x), Avx2.Sign(y, x));
        return Avx2.MultiplyAddAdjacent(pairs, Vector256.Create((short)1));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Half(ref byte p, int offset) => Fp16.ToFloat(Unsafe.ReadUnaligned<ushort>(ref Unsafe.Add(ref p, offset)));

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]

    public static float Q8_0(ReadOnlySpan<byte> w, ReadOnlySpan<byte> a, int blocks)
    {
        ref byte wr = ref MemoryMarshal.GetReference(w);
        ref byte ar = ref MemoryMarshal.GetReference(a);
        Vector256<float> acc = default;
        for (int b = 0; b < blocks; b++)
        {
            int o = b * 34;
            Vector256<sbyte> x = Vector256.LoadUnsafe(ref wr, (nuint)(o + 2)).AsSByte();
            Vector256<sbyte> y = Vector256.LoadUnsafe(ref ar, (nuint)(o + 2)).AsSByte();
            float d = Half(ref wr, o) * Half(ref ar, o);
            acc = Fma.MultiplyAdd(Avx.ConvertToVector256Single(MulSumI8(x, y)), Vector256.Create(d), acc);
        }
        return Vector256.Sum(acc);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]

    public static float Q4_0(ReadOnlySpan<byte> w, ReadOnlySpan<byte> a, int blocks)
    {
        ref byte wr = ref MemoryMarshal.GetReference(w);
        ref byte ar = ref MemoryMarshal.GetReference(a);
        Vector256<float> acc = default;
        for (int b = 0; b < blocks; b++)
        {
            int ow = b * 18, oa = b * 34;
            Vector128<byte> qs = Vector128.LoadUnsafe(ref wr, (nuint)(ow + 2));
            Vector128<byte> lo = qs & Vector128.Create((byte)0x0F);
            Vector128<byte> hi = (qs.AsUInt16() >> 4).AsByte() & Vector128.Create((byte)0x0F);
            Vector256<sbyte> x = (Vector256.Create(lo, hi) - Vector256.Create((byte)8)).AsSByte();
            Vector256<sbyte> y = Vector256.LoadUnsafe(ref ar, (nuint)(oa + 2)).AsSByte();
            float d = Half(ref wr, ow) * Half(ref ar, oa);
            acc = Fma.MultiplyAdd(Avx.ConvertToVector256Single(MulSumI8(x, y)), Vector256.Create(d), acc);
        }
        return Vector256.Sum(acc);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float Q4_K(ReadOnlySpan<byte> w, ReadOnlySpan<byte> a, int blocks) => Q4Or5_K(w, a, blocks, five: false);

    /// <summary>
    /// Q5_K against Q8_K: Q4_K's arithmetic with each code's fifth bit (qh bit 2i for the low nibbles of 32-byte chunk i,
    /// 2i+1 for the high ones) set into bit 4; codes ≤ 31, so <c>vpmaddubsw</c> pairs stay ≤ 7874 and every sum is exact.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float Q5_K(ReadOnlySpan<byte> w, ReadOnlySpan<byte> a, int blocks) => Q4Or5_K(w, a, blocks, five: true);

    /// <summary>Both kernels' one body; <paramref name="five"/> is a constant in each caller, so the JIT drops the other branch.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Q4Or5_K(ReadOnlySpan<byte> w, ReadOnlySpan<byte> a, int blocks, bool five)
    {
        int blockBytes = five ? 176 : 144, codes = five ? 48 : 16;
        float sum = 0;
        Vector256<byte> low4 = Vector256.Create((byte)0x0F);
        for (int b = 0; b < blocks; b++)
        {
            ReadOnlySpan<byte> wb = w.Slice(b * blockBytes, blockBytes);
            ReadOnlySpan<byte> ab = a.Slice(b * 292, 292);
            ref byte wr = ref MemoryMarshal.GetReference(wb);
            ref byte ar = ref MemoryMarshal.GetReference(ab);
            ReadOnlySpan<byte> packed = wb.Slice(4, 12);
            ReadOnlySpan<short> bsums = MemoryMarshal.Cast<byte, short>(ab.Slice(260, 32));
            Vector256<byte> qh = five ? Vector256.LoadUnsafe(ref wr, 16) : default;
            Vector256<int> acc = default;
            int msum = 0;
            for (int i = 0; i < 4; i++)
            {
                KQuantScales.Unpack6(packed, 2 * i, out int sc1, out int m1);
                KQuantScales.Unpack6(packed, 2 * i + 1, out int sc2, out int m2);
                msum += m1 * (bsums[4 * i] + bsums[4 * i + 1]) + m2 * (bsums[4 * i + 2] + bsums[4 * i + 3]);
                Vector256<byte> q = Vector256.LoadUnsafe(ref wr, (nuint)(codes + 32 * i));
                Vector256<byte> lo = q & low4;
                Vector256<byte> hi = (q.AsUInt16() >> 4).AsByte() & low4;
                if (five)
                {
                    lo |= FifthBit(qh, 2 * i);
                    hi |= FifthBit(qh, 2 * i + 1);
                }
                Vector256<sbyte> ylo = Vector256.LoadUnsafe(ref ar, (nuint)(4 + 64 * i)).AsSByte();
                Vector256<sbyte> yhi = Vector256.LoadUnsafe(ref ar, (nuint)(36 + 64 * i)).AsSByte();
                acc += Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(lo, ylo), Vector256.Create((short)sc1));
                acc += Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(hi, yhi), Vector256.Create((short)sc2));
            }
            int isum = Vector256.Sum(acc);
            float dw = Half(ref wr, 0), dminw = Half(ref wr, 2);
            float da = Unsafe.ReadUnaligned<float>(ref ar);
            sum += dw * da * isum - dminw * da * msum;
        }
        return sum;
    }

    /// <summary>Bit <paramref name="s"/> (0-7) of every byte moved to bit 4 (16 when set), the rest cleared.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector256<byte> FifthBit(Vector256<byte> qh, int s)
        => (s <= 4 ? qh.AsUInt16() << (4 - s) : qh.AsUInt16() >>> (s - 4)).AsByte() & Vector256.Create((byte)0x10);

    /// <summary>Σ scale_j · bsum_j over the 16 sub-blocks (used to remove Q6_K's +32 code offset).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static int ScaledBsums(ref byte scales, ref byte bsums)
    {
        Vector256<short> sc = Avx2.ConvertToVector256Int16(Vector128.LoadUnsafe(ref scales).AsSByte());
        Vector256<short> bs = Vector256.LoadUnsafe(ref bsums).AsInt16();
        return Vector256.Sum(Avx2.MultiplyAddAdjacent(sc, bs));
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]

    public static float Q6_K(ReadOnlySpan<byte> w, ReadOnlySpan<byte> a, int blocks)
    {
        Vector256<byte> low4 = Vector256.Create((byte)0x0F), bits45 = Vector256.Create((byte)0x30);
        float sum = 0;
        for (int b = 0; b < blocks; b++)
        {
            ReadOnlySpan<byte> wb = w.Slice(b * 210, 210);
            ReadOnlySpan<byte> ab = a.Slice(b * 292, 292);
            ref byte wr = ref MemoryMarshal.GetReference(wb);
            ref byte ar = ref MemoryMarshal.GetReference(ab);
            Vector256<int> acc = default;
            for (int h = 0; h < 2; h++)
            {
                Vector256<byte> qla = Vector256.LoadUnsafe(ref wr, (nuint)(64 * h));
                Vector256<byte> qlb = Vector256.LoadUnsafe(ref wr, (nuint)(64 * h + 32));
                Vector256<ushort> qh = Vector256.LoadUnsafe(ref wr, (nuint)(128 + 32 * h)).AsUInt16();
                Vector256<byte> q0 = (qla & low4) | ((qh << 4).AsByte() & bits45);
                Vector256<byte> q1 = (qlb & low4) | ((qh << 2).AsByte() & bits45);
                Vector256<byte> q2 = ((qla.AsUInt16() >> 4).AsByte() & low4) | (qh.AsByte() & bits45);
                Vector256<byte> q3 = ((qlb.AsUInt16() >> 4).AsByte() & low4) | ((qh >> 2).AsByte() & bits45);
                int s = 192 + 8 * h;
                nuint ya = (nuint)(4 + 128 * h);
                acc += Run(q0, Vector256.LoadUnsafe(ref ar, ya), (sbyte)wb[s], (sbyte)wb[s + 1]);
                acc += Run(q1, Vector256.LoadUnsafe(ref ar, ya + 32), (sbyte)wb[s + 2], (sbyte)wb[s + 3]);
                acc += Run(q2, Vector256.LoadUnsafe(ref ar, ya + 64), (sbyte)wb[s + 4], (sbyte)wb[s + 5]);
                acc += Run(q3, Vector256.LoadUnsafe(ref ar, ya + 96), (sbyte)wb[s + 6], (sbyte)wb[s + 7]);
            }
            int isum = Vector256.Sum(acc) - 32 * ScaledBsums(ref Unsafe.Add(ref wr, 192), ref Unsafe.Add(ref ar, 260));
            float d = Half(ref wr, 208);
            float da = Unsafe.ReadUnaligned<float>(ref ar);
            sum += d * da * isum;
        }
        return sum;

        static Vector256<int> Run(Vector256<byte> q, Vector256<byte> y, sbyte scLo, sbyte scHi)
        {
            Vector256<short> sc = Vector256.Create(Vector128.Create((short)scLo), Vector128.Create((short)scHi));
            return Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(q, y.AsSByte()), sc);
        }
    }
}
