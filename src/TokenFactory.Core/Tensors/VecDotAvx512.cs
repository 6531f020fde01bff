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
    /// F16 rows without infinities or NaNs take <see cref="FiniteHalfTimesSingle"/>. Rows are prefetched as there
    /// (synthetic tinyllama BF16 tg64, three alternating pairs of processes: 78.7/76.8/79.2 -> 81.7/78.0/81.2 % of the roofline).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static unsafe float HalfTimesSingle(ReadOnlySpan<ushort> x, ReadOnlySpan<float> y, bool brain)
    {
        if (!brain && FiniteHalfTimesSingle(x, y, out float finite))
            return finite;
        int n = x.Length, i = 0;
        ref ushort xr = ref MemoryMarshal.GetReference(x);
        ref float yr = ref MemoryMarshal.GetReference(y);
        Vector512<float> a0 = default, a1 = default;
        for (; i + 32 <= n; i += 32)
        {
            WeightPrefetch.Line((byte*)Unsafe.AsPointer(ref Unsafe.Add(ref xr, i)) + WeightPrefetch.Distance);
            (Vector512<uint> xl, Vector512<uint> xh) = Vector512.Widen(Vector512.LoadUnsafe(ref xr, (nuint)i));
            a0 = Avx512F.FusedMultiplyAdd(Widen(xl, brain), Vector512.LoadUnsafe(ref yr, (nuint)i), a0);
            a1 = Avx512F.FusedMultiplyAdd(Widen(xh, brain), Vector512.LoadUnsafe(ref yr, (nuint)(i + 16)), a1);
        }
        double sum = Vector512.Sum(a0 + a1);
        for (; i < n; i++)
            sum += HalfToFloat(x[i], brain) * y[i];
        return (float)sum;
    }

    /// <summary>
    /// <see cref="HalfTimesSingle"/> for an F16 row, false when the row holds an infinity or a NaN. Sign-extended to
    /// 32 bits, shifted left by 13 and masked, a finite half is a float whose exponent is 112 short (subnormals
    /// included), so one multiply by 2^112 widens it exactly: 3 instructions per 16 values where the general widening
    /// takes 9. Products and sums are the general path's, so are the bits; whether any value had the all-ones
    /// exponent is kept as a running maximum and checked once at the end. Decode streams the rows, so it prefetches
    /// as the quantized decode kernels do (<see cref="WeightPrefetch.Distance"/> ahead): tinyllama F16 tg64 went
    /// 23.0/20.1/18.3 -> 24.8/22.8/20.7 tokens/s in three alternating pairs of processes.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe bool FiniteHalfTimesSingle(ReadOnlySpan<ushort> x, ReadOnlySpan<float> y, out float result)
    {
        int n = x.Length, i = 0;
        ref ushort xr = ref MemoryMarshal.GetReference(x);
        ref float yr = ref MemoryMarshal.GetReference(y);
        Vector512<float> a0 = default, a1 = default;
        Vector512<ushort> largest = default, magnitude = Vector512.Create((ushort)0x7FFF);
        for (; i + 32 <= n; i += 32)
        {
            WeightPrefetch.Line((byte*)Unsafe.AsPointer(ref Unsafe.Add(ref xr, i)) + WeightPrefetch.Distance);
            Vector512<ushort> raw = Vector512.LoadUnsafe(ref xr, (nuint)i);
            largest = Vector512.Max(largest, raw & magnitude);
            (Vector512<int> xl, Vector512<int> xh) = Vector512.Widen(raw.AsInt16());
            a0 = Avx512F.FusedMultiplyAdd(WidenFinite(xl), Vector512.LoadUnsafe(ref yr, (nuint)i), a0);
            a1 = Avx512F.FusedMultiplyAdd(WidenFinite(xh), Vector512.LoadUnsafe(ref yr, (nuint)(i + 16)), a1);
        }
        result = 0;
        if (Vector512.GreaterThanOrEqualAny(largest, Vector512.Create((ushort)0x7C00)))
            return false;
        double sum = Vector512.Sum(a0 + a1);
        for (; i < n; i++)
            sum += Fp16.ToFloat(x[i]) * y[i];
        result = (float)sum;
        return true;
    }

    /// <summary>Finite halves, sign-extended into int32 lanes, as floats (exact; see <see cref="FiniteHalfTimesSingle"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> WidenFinite(Vector512<int> halves)
        => ((halves << 13) & Vector512.Create(unchecked((int)0x8FFFE000))).AsSingle() * Vector512.Create(0x77800000).AsSingle();

    /// <summary>Tokens per tile of <see cref="Widened2x6Columns"/>.</summary>
    public const int WidenedTileTokens = 6;

    /// <summary>Accumulators <see cref="Widened2x6Columns"/> carries: two per row and token, row-major (<c>acc[12r + 2t + h]</c>).</summary>
    public const int WidenedTileAccumulators = 24;

    /// <summary>
    /// The first <paramref name="n"/> (a multiple of 32) F16 or BF16 (<paramref name="brain"/>) values of <paramref name="x"/>
    /// widened to floats, exactly: each 32 of them to <paramref name="dst"/>, which then moves on by <paramref name="step"/>
    /// floats (32: contiguous; 64: leaving room for a second row's 32 in between, as <see cref="Widened2x6Columns"/> reads).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static unsafe void WidenHalves(ushort* x, float* dst, int n, nint step, bool brain)
    {
        for (int i = 0; i < n; i += 32, dst += step)
        {
            (Vector512<uint> xl, Vector512<uint> xh) = Vector512.Widen(Vector512.Load(x + i));
            Widen(xl, brain).Store(dst);
            Widen(xh, brain).Store(dst + 16);
        }
    }

    /// <summary>
    /// <see cref="HalfTimesSingle"/> for two rows already widened to floats and laid side by side from <paramref name="w"/>
    /// (for each 32 columns, the first row's 32 floats, then the second's) against six tokens' widened activations (<paramref name="y"/> +
    /// t·<paramref name="st"/>), over columns [<paramref name="from"/>, <paramref name="to"/>) (multiples of 32), continuing
    /// from and leaving its 24 accumulators in <paramref name="acc"/> (zeroed before a row's first piece). Each (row, token)
    /// keeps <see cref="HalfTimesSingle"/>'s two accumulators and sees its operations in its order however the row is cut
    /// into pieces, so <see cref="HalfTimesSingleFinish"/> gives results with its bits. Prefill's F16/BF16 kernel: widening
    /// a row once for all tokens instead of once per few tokens left 24 FMAs to 16 loads (the widening had taken as many
    /// instructions as the FMAs), and 24 accumulators, 4 weight vectors and 2 activation vectors fit the 32 registers.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static unsafe void Widened2x6Columns(float* w, float* y, nint st, Vector512<float>* acc, int from, int to)
    {
        Vector512<float> a000 = acc[0], a001 = acc[1], a010 = acc[2], a011 = acc[3], a020 = acc[4], a021 = acc[5], a030 = acc[6], a031 = acc[7], a040 = acc[8], a041 = acc[9], a050 = acc[10], a051 = acc[11];
        Vector512<float> a100 = acc[12], a101 = acc[13], a110 = acc[14], a111 = acc[15], a120 = acc[16], a121 = acc[17], a130 = acc[18], a131 = acc[19], a140 = acc[20], a141 = acc[21], a150 = acc[22], a151 = acc[23];
        for (int i = from; i < to; i += 32)
        {
            Vector512<float> w00 = Vector512.Load(w), w01 = Vector512.Load(w + 16), w10 = Vector512.Load(w + 32), w11 = Vector512.Load(w + 48);
            w += 64;
            float* p = y + i;
            Vector512<float> y0, y1;
            y0 = Vector512.Load(p); y1 = Vector512.Load(p + 16);
            a000 = Avx512F.FusedMultiplyAdd(w00, y0, a000); a100 = Avx512F.FusedMultiplyAdd(w10, y0, a100);
            a001 = Avx512F.FusedMultiplyAdd(w01, y1, a001); a101 = Avx512F.FusedMultiplyAdd(w11, y1, a101);
            y0 = Vector512.Load(p + st); y1 = Vector512.Load(p + st + 16);
            a010 = Avx512F.FusedMultiplyAdd(w00, y0, a010); a110 = Avx512F.FusedMultiplyAdd(w10, y0, a110);
            a011 = Avx512F.FusedMultiplyAdd(w01, y1, a011); a111 = Avx512F.FusedMultiplyAdd(w11, y1, a111);
            y0 = Vector512.Load(p + 2 * st); y1 = Vector512.Load(p + 2 * st + 16);
            a020 = Avx512F.FusedMultiplyAdd(w00, y0, a020); a120 = Avx512F.FusedMultiplyAdd(w10, y0, a120);
            a021 = Avx512F.FusedMultiplyAdd(w01, y1, a021); a121 = Avx512F.FusedMultiplyAdd(w11, y1, a121);
            y0 = Vector512.Load(p + 3 * st); y1 = Vector512.Load(p + 3 * st + 16);
            a030 = Avx512F.FusedMultiplyAdd(w00, y0, a030); a130 = Avx512F.FusedMultiplyAdd(w10, y0, a130);
            a031 = Avx512F.FusedMultiplyAdd(w01, y1, a031); a131 = Avx512F.FusedMultiplyAdd(w11, y1, a131);
            y0 = Vector512.Load(p + 4 * st); y1 = Vector512.Load(p + 4 * st + 16);
            a040 = Avx512F.FusedMultiplyAdd(w00, y0, a040); a140 = Avx512F.FusedMultiplyAdd(w10, y0, a140);
            a041 = Avx512F.FusedMultiplyAdd(w01, y1, a041); a141 = Avx512F.FusedMultiplyAdd(w11, y1, a141);
            y0 = Vector512.Load(p + 5 * st); y1 = Vector512.Load(p + 5 * st + 16);
            a050 = Avx512F.FusedMultiplyAdd(w00, y0, a050); a150 = Avx512F.FusedMultiplyAdd(w10, y0, a150);
            a051 = Avx512F.FusedMultiplyAdd(w01, y1, a051); a151 = Avx512F.FusedMultiplyAdd(w11, y1, a151);
        }
        acc[0] = a000; acc[1] = a001; acc[2] = a010; acc[3] = a011; acc[4] = a020; acc[5] = a021; acc[6] = a030; acc[7] = a031; acc[8] = a040; acc[9] = a041; acc[10] = a050; acc[11] = a051;
        acc[12] = a100; acc[13] = a101; acc[14] = a110; acc[15] = a111; acc[16] = a120; acc[17] = a121; acc[18] = a130; acc[19] = a131; acc[20] = a140; acc[21] = a141; acc[22] = a150; acc[23] = a151;
    }

    /// <summary>
    /// The results for <paramref name="tokens"/> tokens (activations <paramref name="y"/> + t·<paramref name="stride"/>) of a row
    /// of <paramref name="n"/> whose two accumulators per token (<c>acc[2t]</c>, <c>acc[2t + 1]</c>) went over every whole
    /// 32 columns: lane sums in double, then the last n % 32 columns from the F16/BF16 row <paramref name="x"/>, as <see cref="HalfTimesSingle"/> ends.
    /// </summary>
    public static unsafe void HalfTimesSingleFinish(ushort* x, float* y, nint stride, bool brain, Vector512<float>* acc, int tokens, int n, float* results)
    {
        for (int t = 0; t < tokens; t++)
        {
            double sum = Vector512.Sum(acc[2 * t] + acc[2 * t + 1]);
            for (int i = n / 32 * 32; i < n; i++)
                sum += HalfToFloat(x[i], brain) * y[t * stride + i];
            results[t] = (float)sum;
        }
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
