using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace TokenFactory.Tensors;

/// <summary>
/// AVX-512 (F + BW) kernels. .NET 10 exposes no 512-bit VNNI, so products go through <c>vpmaddubsw</c>/<c>vpmaddwd</c>
/// (or sign-extension to i16 for int8 x int8, which also copes with -128). K-quant blocks reduce to the exact integer
/// sum and are scaled like <see cref="VecDotScalar"/>, matching it bit for bit.
/// </summary>
internal static class VecDotAvx512
{
    // Q6_K: lane k of the 32 i16 scale lanes for 64-element group g uses sub-block 4g + k/8 (each 16 bytes -> 8 i16 pairs).
    private static readonly Vector512<short>[] s_q6ScaleIndex = BuildQ6ScaleIndex();

    private static Vector512<short>[] BuildQ6ScaleIndex()
    {
        var result = new Vector512<short>[4];
        Span<short> lanes = stackalloc short[32];
        for (int g = 0; g < 4; g++)
        {
            for (int k = 0; k < 32; k++)
                lanes[k] = (short)(4 * g + k / 8);
            result[g] = Vector512.Create((ReadOnlySpan<short>)lanes);
        }
        return result;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]

    public static float F32(ReadOnlySpan<float> x, ReadOnlySpan<float> y)
    {
        int n = x.Length, i = 0;
        ref float xr = ref MemoryMarshal.GetReference(x);
        ref float yr = ref MemoryMarshal.GetReference(y);
        Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default;
        for (; i + 64 <= n; i += 64)
        {
            a0 = Avx512F.FusedMultiplyAdd(Vector512.LoadUnsafe(ref xr, (nuint)i), Vector512.LoadUnsafe(ref yr, (nuint)i), a0);
            a1 = Avx512F.FusedMultiplyAdd(Vector512.LoadUnsafe(ref xr, (nuint)i + 16), Vector512.LoadUnsafe(ref yr, (nuint)i + 16), a1);
            a2 = Avx512F.FusedMultiplyAdd(Vector512.LoadUnsafe(ref xr, (nuint)i + 32), Vector512.LoadUnsafe(ref yr, (nuint)i + 32), a2);
            a3 = Avx512F.FusedMultiplyAdd(Vector512.LoadUnsafe(ref xr, (nuint)i + 48), Vector512.LoadUnsafe(ref yr, (nuint)i + 48), a3);
        }
        for (; i + 16 <= n; i += 16)
            a0 = Avx512F.FusedMultiplyAdd(Vector512.LoadUnsafe(ref xr, (nuint)i), Vector512.LoadUnsafe(ref yr, (nuint)i), a0);
        double sum = Vector512.Sum((a0 + a1) + (a2 + a3));
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
        Vector512<float> a0 = default, a1 = default;
        for (; i + 32 <= n; i += 32)
        {
            (Vector512<uint> xl, Vector512<uint> xh) = Vector512.Widen(Vector512.LoadUnsafe(ref xr, (nuint)i));
            (Vector512<uint> yl, Vector512<uint> yh) = Vector512.Widen(Vector512.LoadUnsafe(ref yr, (nuint)i));
            a0 = Avx512F.FusedMultiplyAdd(Widen(xl, brain), Widen(yl, brain), a0);
            a1 = Avx512F.FusedMultiplyAdd(Widen(xh, brain), Widen(yh, brain), a1);
        }
        double sum = Vector512.Sum(a0 + a1);
        for (; i < n; i++)
            sum += HalfToFloat(x[i], brain) * HalfToFloat(y[i], brain);
        return (float)sum;
    }

    /// <summary>
    /// F16 or BF16 (<paramref name="brain"/>) weights against activations that are already F16/BF16 values widened to
    /// floats (exactly): lane for lane the products and sums of <see cref="F16"/>/<see cref="BF16"/> against those
    /// activations, so the same bits, without widening the activations again in every row. .NET 10 exposes no
    /// <c>vcvtph2ps</c>, so an F16 widening is about ten instructions per 16 values: halving them is what this saves.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float HalfTimesSingle(ReadOnlySpan<ushort> x, ReadOnlySpan<float> y, bool brain)
    {
        int n = x.Length, i = 0;
        ref ushort xr = ref MemoryMarshal.GetReference(x);
        ref float yr = ref MemoryMarshal.GetReference(y);
        Vector512<float> a0 = default, a1 = default;
        for (; i + 32 <= n; i += 32)
        {
            (Vector512<uint> xl, Vector512<uint> xh) = Vector512.Widen(Vector512.LoadUnsafe(ref xr, (nuint)i));
            a0 = Avx512F.FusedMultiplyAdd(Widen(xl, brain), Vector512.LoadUnsafe(ref yr, (nuint)i), a0);
            a1 = Avx512F.FusedMultiplyAdd(Widen(xh, brain), Vector512.LoadUnsafe(ref yr, (nuint)(i + 16)), a1);
        }
        double sum = Vector512.Sum(a0 + a1);
        for (; i < n; i++)
            sum += HalfToFloat(x[i], brain) * y[i];
        return (float)sum;
    }

    /// <summary>Accumulators <see cref="HalfTimesSingle8Columns"/> carries per row: two per token.</summary>
    public const int HalfAccumulators = 16;

    /// <summary>
    /// <see cref="HalfTimesSingle"/> for eight tokens' widened activations at once (<paramref name="y"/> + t·<paramref name="st"/>),
    /// over columns [<paramref name="from"/>, <paramref name="to"/>) (multiples of 32), continuing from and leaving its 16
    /// accumulators in <paramref name="acc"/> (zeroed before a row's first piece). Each weight chunk is widened once for
    /// the eight, and each token's lanes see the same operations in the same order as in <see cref="HalfTimesSingle"/>,
    /// however the row is cut into pieces; <see cref="HalfTimesSingle8Finish"/> then gives results with its bits. So a
    /// caller can go over many rows piece by piece while a piece of the eight activation rows stays in L1. Prefill's
    /// row kernel for F16/BF16: 16 accumulators and the two widened weight vectors fit the 32 registers.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static unsafe void HalfTimesSingle8Columns(ushort* x, float* y, nint st, bool brain, Vector512<float>* acc, int from, int to)
    {
        Vector512<float> a00 = acc[0], a01 = acc[1], a10 = acc[2], a11 = acc[3], a20 = acc[4], a21 = acc[5], a30 = acc[6], a31 = acc[7];
        Vector512<float> a40 = acc[8], a41 = acc[9], a50 = acc[10], a51 = acc[11], a60 = acc[12], a61 = acc[13], a70 = acc[14], a71 = acc[15];
        for (int i = from; i < to; i += 32)
        {
            (Vector512<uint> xl, Vector512<uint> xh) = Vector512.Widen(Vector512.Load(x + i));
            Vector512<float> wl = Widen(xl, brain), wh = Widen(xh, brain);
            float* p = y + i;
            a00 = Avx512F.FusedMultiplyAdd(wl, Vector512.Load(p), a00);
            a01 = Avx512F.FusedMultiplyAdd(wh, Vector512.Load(p + 16), a01);
            a10 = Avx512F.FusedMultiplyAdd(wl, Vector512.Load(p + st), a10);
            a11 = Avx512F.FusedMultiplyAdd(wh, Vector512.Load(p + st + 16), a11);
            a20 = Avx512F.FusedMultiplyAdd(wl, Vector512.Load(p + 2 * st), a20);
            a21 = Avx512F.FusedMultiplyAdd(wh, Vector512.Load(p + 2 * st + 16), a21);
            a30 = Avx512F.FusedMultiplyAdd(wl, Vector512.Load(p + 3 * st), a30);
            a31 = Avx512F.FusedMultiplyAdd(wh, Vector512.Load(p + 3 * st + 16), a31);
            a40 = Avx512F.FusedMultiplyAdd(wl, Vector512.Load(p + 4 * st), a40);
            a41 = Avx512F.FusedMultiplyAdd(wh, Vector512.Load(p + 4 * st + 16), a41);
            a50 = Avx512F.FusedMultiplyAdd(wl, Vector512.Load(p + 5 * st), a50);
            a51 = Avx512F.FusedMultiplyAdd(wh, Vector512.Load(p + 5 * st + 16), a51);
            a60 = Avx512F.FusedMultiplyAdd(wl, Vector512.Load(p + 6 * st), a60);
            a61 = Avx512F.FusedMultiplyAdd(wh, Vector512.Load(p + 6 * st + 16), a61);
            a70 = Avx512F.FusedMultiplyAdd(wl, Vector512.Load(p + 7 * st), a70);
            a71 = Avx512F.FusedMultiplyAdd(wh, Vector512.Load(p + 7 * st + 16), a71);
        }
        acc[0] = a00; acc[1] = a01; acc[2] = a10; acc[3] = a11; acc[4] = a20; acc[5] = a21; acc[6] = a30; acc[7] = a31;
        acc[8] = a40; acc[9] = a41; acc[10] = a50; acc[11] = a51; acc[12] = a60; acc[13] = a61; acc[14] = a70; acc[15] = a71;
    }

    /// <summary>The eight results from <paramref name="acc"/> after every 32-column piece of a row of <paramref name="n"/>: lane sums in double, then the last n % 32 columns.</summary>
    public static unsafe void HalfTimesSingle8Finish(ushort* x, float* y, nint stride, bool brain, Vector512<float>* acc, int n, float* results)
    {
        double* sums = stackalloc double[8];
        for (int t = 0; t < 8; t++)
            sums[t] = Vector512.Sum(acc[2 * t] + acc[2 * t + 1]);
        for (int i = n / 32 * 32; i < n; i++)
        {
            float wi = HalfToFloat(x[i], brain);
            for (int t = 0; t < 8; t++)
                sums[t] += wi * y[t * stride + i];
        }
        for (int t = 0; t < 8; t++)
            results[t] = (float)sums[t];
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float HalfToFloat(ushort bits, bool brain) => brain ? BFloat16Bits.ToFloat(bits) : Fp16.ToFloat(bits);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Widen(Vector512<uint> bits, bool brain) => brain ? (bits << 16).AsSingle() : HalfVectors.ToSingle(bits);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Half(ref byte p, int offset) => Fp16.ToFloat(Unsafe.ReadUnaligned<ushort>(ref Unsafe.Add(ref p, offset)));

    /// <summary>32 int8 x int8 products summed in pairs... into 16 int32 lanes, exactly (i16 products cannot overflow i32 pairs).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<int> MulSumI8(Vector256<sbyte> x, Vector256<sbyte> y)
        => Avx512BW.MultiplyAddAdjacent(Avx512BW.ConvertToVector512Int16(x), Avx512BW.ConvertToVector512Int16(y));

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]

    public static float Q8_0(ReadOnlySpan<byte> w, ReadOnlySpan<byte> a, int blocks)
    {
        ref byte wr = ref MemoryMarshal.GetReference(w);
        ref byte ar = ref MemoryMarshal.GetReference(a);
        Vector512<float> acc0 = default, acc1 = default;
        int b = 0;
        for (; b + 2 <= blocks; b += 2)
        {
            int o = b * 34;
            Vector512<int> p0 = MulSumI8(Vector256.LoadUnsafe(ref wr, (nuint)(o + 2)).AsSByte(), Vector256.LoadUnsafe(ref ar, (nuint)(o + 2)).AsSByte());
            Vector512<int> p1 = MulSumI8(Vector256.LoadUnsafe(ref wr, (nuint)(o + 36)).AsSByte(), Vector256.LoadUnsafe(ref ar, (nuint)(o + 36)).AsSByte());
            acc0 = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(p0), Vector512.Create(Half(ref wr, o) * Half(ref ar, o)), acc0);
            acc1 = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(p1), Vector512.Create(Half(ref wr, o + 34) * Half(ref ar, o + 34)), acc1);
        }
        if (b < blocks)
        {
            int o = b * 34;
            Vector512<int> p0 = MulSumI8(Vector256.LoadUnsafe(ref wr, (nuint)(o + 2)).AsSByte(), Vector256.LoadUnsafe(ref ar, (nuint)(o + 2)).AsSByte());
            acc0 = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(p0), Vector512.Create(Half(ref wr, o) * Half(ref ar, o)), acc0);
        }
        return Vector512.Sum(acc0 + acc1);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]

    public static float Q4_0(ReadOnlySpan<byte> w, ReadOnlySpan<byte> a, int blocks)
    {
        ref byte wr = ref MemoryMarshal.GetReference(w);
        ref byte ar = ref MemoryMarshal.GetReference(a);
        Vector512<float> acc = default;
        for (int b = 0; b < blocks; b++)
        {
            int ow = b * 18, oa = b * 34;
            Vector128<byte> qs = Vector128.LoadUnsafe(ref wr, (nuint)(ow + 2));
            Vector128<byte> lo = qs & Vector128.Create((byte)0x0F);
            Vector128<byte> hi = (qs.AsUInt16() >> 4).AsByte() & Vector128.Create((byte)0x0F);
            Vector256<sbyte> x = (Vector256.Create(lo, hi) - Vector256.Create((byte)8)).AsSByte();
            Vector512<int> p = MulSumI8(x, Vector256.LoadUnsafe(ref ar, (nuint)(oa + 2)).AsSByte());
            acc = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(p), Vector512.Create(Half(ref wr, ow) * Half(ref ar, oa)), acc);
        }
        return Vector512.Sum(acc);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float Q4_K(ReadOnlySpan<byte> w, ReadOnlySpan<byte> a, int blocks) => Q4Or5_K(w, a, blocks, five: false);

    /// <summary>
    /// Q5_K against Q8_K: <see cref="Q4_K"/> with each code's fifth bit (qh bit 2g for the low nibbles of 64-element
    /// group g, 2g+1 for the high ones) set into bit 4; both halves of a vector take their own group's bits.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float Q5_K(ReadOnlySpan<byte> w, ReadOnlySpan<byte> a, int blocks) => Q4Or5_K(w, a, blocks, five: true);

    /// <summary>Both kernels' one body; <paramref name="five"/> is a constant in each caller, so the JIT drops the other branch.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Q4Or5_K(ReadOnlySpan<byte> w, ReadOnlySpan<byte> a, int blocks, bool five)
    {
        int blockBytes = five ? 176 : 144, codes = five ? 48 : 16;
        Vector512<byte> low4 = Vector512.Create((byte)0x0F), bit4 = Vector512.Create((byte)0x10);
        float sum = 0;
        Span<short> sc = stackalloc short[8];
        for (int b = 0; b < blocks; b++)
        {
            ReadOnlySpan<byte> wb = w.Slice(b * blockBytes, blockBytes);
            ReadOnlySpan<byte> ab = a.Slice(b * 292, 292);
            ref byte wr = ref MemoryMarshal.GetReference(wb);
            ref byte ar = ref MemoryMarshal.GetReference(ab);
            ReadOnlySpan<byte> packed = wb.Slice(4, 12);
            ReadOnlySpan<short> bsums = MemoryMarshal.Cast<byte, short>(ab.Slice(260, 32));
            int msum = 0;
            for (int j = 0; j < 8; j++)
            {
                KQuantScales.Unpack6(packed, j, out int s, out int m);
                sc[j] = (short)s;
                msum += m * (bsums[2 * j] + bsums[2 * j + 1]);
            }
            Vector512<ushort> qh = five ? Vector512.Create(Vector256.LoadUnsafe(ref wr, 16), Vector256.LoadUnsafe(ref wr, 16)).AsUInt16() : default;
            Vector512<int> acc = default;
            for (int i = 0; i < 4; i += 2)
            {
                // 64 qs bytes = 32-byte chunks i and i+1; their low nibbles are sub-blocks 2i and 2i+2, high ones 2i+1 and 2i+3.
                Vector512<byte> q = Vector512.LoadUnsafe(ref wr, (nuint)(codes + 32 * i));
                Vector512<byte> lo = q & low4;
                Vector512<byte> hi = (q.AsUInt16() >> 4).AsByte() & low4;
                if (five)
                {
                    // Bit 4 of each byte from qh bit 2g (low) or 2g+1 (high), g = i in the lower half and i + 1 in the upper.
                    Vector512<ushort> shift = Vector512.Create(Vector256.Create((ushort)(2 * i)), Vector256.Create((ushort)(2 * i + 2)));
                    lo |= (Avx512BW.ShiftRightLogicalVariable(qh, shift) << 4).AsByte() & bit4;
                    hi |= (Avx512BW.ShiftRightLogicalVariable(qh, shift + Vector512<ushort>.One) << 4).AsByte() & bit4;
                }
                nuint y0 = (nuint)(4 + 64 * i);
                Vector512<sbyte> ylo = Vector512.Create(Vector256.LoadUnsafe(ref ar, y0), Vector256.LoadUnsafe(ref ar, y0 + 64)).AsSByte();
                Vector512<sbyte> yhi = Vector512.Create(Vector256.LoadUnsafe(ref ar, y0 + 32), Vector256.LoadUnsafe(ref ar, y0 + 96)).AsSByte();
                Vector512<short> slo = Vector512.Create(Vector256.Create(sc[2 * i]), Vector256.Create(sc[2 * i + 2]));
                Vector512<short> shi = Vector512.Create(Vector256.Create(sc[2 * i + 1]), Vector256.Create(sc[2 * i + 3]));
                acc += Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(lo, ylo), slo);
                acc += Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(hi, yhi), shi);
            }
            int isum = Vector512.Sum(acc);
            float dw = Half(ref wr, 0), dminw = Half(ref wr, 2);
            float da = Unsafe.ReadUnaligned<float>(ref ar);
            sum += dw * da * isum - dminw * da * msum;
        }
        return sum;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]

    public static float Q6_K(ReadOnlySpan<byte> w, ReadOnlySpan<byte> a, int blocks)
    {
        Vector512<byte> low4 = Vector512.Create((byte)0x0F), bits45 = Vector512.Create((byte)0x30);
        // Lower 32 bytes hold runs 0/2 (qh bits 0-1 / 4-5), upper 32 bytes runs 1/3 (qh bits 2-3 / 6-7).
        Vector512<ushort> shl01 = Vector512.Create(Vector256.Create((ushort)4), Vector256.Create((ushort)2));
        Vector512<ushort> shr23 = Vector512.Create(Vector256.Create((ushort)0), Vector256.Create((ushort)2));
        Vector512<short>[] scaleIndex = s_q6ScaleIndex;
        float sum = 0;
        for (int b = 0; b < blocks; b++)
        {
            ReadOnlySpan<byte> wb = w.Slice(b * 210, 210);
            ReadOnlySpan<byte> ab = a.Slice(b * 292, 292);
            ref byte wr = ref MemoryMarshal.GetReference(wb);
            ref byte ar = ref MemoryMarshal.GetReference(ab);
            Vector512<short> scales = Avx2.ConvertToVector256Int16(Vector128.LoadUnsafe(ref wr, 192).AsSByte()).ToVector512Unsafe();
            Vector512<int> acc = default;
            for (int h = 0; h < 2; h++)
            {
                Vector512<byte> ql = Vector512.LoadUnsafe(ref wr, (nuint)(64 * h));
                Vector256<byte> qh256 = Vector256.LoadUnsafe(ref wr, (nuint)(128 + 32 * h));
                Vector512<ushort> qh = Vector512.Create(qh256, qh256).AsUInt16();
                Vector512<byte> q01 = (ql & low4) | (Avx512BW.ShiftLeftLogicalVariable(qh, shl01).AsByte() & bits45);
                Vector512<byte> q23 = ((ql.AsUInt16() >> 4).AsByte() & low4) | (Avx512BW.ShiftRightLogicalVariable(qh, shr23).AsByte() & bits45);
                nuint ya = (nuint)(4 + 128 * h);
                Vector512<sbyte> y01 = Vector512.LoadUnsafe(ref ar, ya).AsSByte();
                Vector512<sbyte> y23 = Vector512.LoadUnsafe(ref ar, ya + 64).AsSByte();
                Vector512<short> s01 = Avx512BW.PermuteVar32x16(scales, scaleIndex[2 * h]);
                Vector512<short> s23 = Avx512BW.PermuteVar32x16(scales, scaleIndex[2 * h + 1]);
                acc += Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(q01, y01), s01);
                acc += Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(q23, y23), s23);
            }
            int isum = Vector512.Sum(acc) - 32 * VecDotAvx2.ScaledBsums(ref Unsafe.Add(ref wr, 192), ref Unsafe.Add(ref ar, 260));
            float d = Half(ref wr, 208);
            float da = Unsafe.ReadUnaligned<float>(ref ar);
            sum += d * da * isum;
        }
        return sum;
    }
}
