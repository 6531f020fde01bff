using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace TokenFactory.Tensors;

/// <summary>
/// Q8_0 weights x Q8_0 activations in register tiles, with AVX-VNNI <c>vpdpbusd</c> (u8 x s8 -> i32, no saturation).
/// Activations come from <see cref="ActivationPacking.Q8_0(float*, int, byte*, float*)"/> with 128 added to every
/// code; each weight block's correction 128·Σw is subtracted exactly (it seeds the accumulator), so every block's
/// integer dot product is exact, as in the row kernels. Blocks are then scaled by dw·da and summed in float lanes.
/// Scales are widened (fp16 -> float, exact for finite values) and repeated 8 times, so two blocks share one 512-bit
/// float accumulator: convert, multiply by dw·da, add. Prefill widens weight scales once per 4-row tile; decode on the fly.
/// </summary>
internal static unsafe class GemmQ8_0
{
    /// <summary>
    /// Bytes ahead of the decode kernels' position that they prefetch in each of their 4 row streams. The 4 rows of a
    /// tile are contiguous, so this reaches about 3 tiles ahead (24 KiB for 2048-wide Q8_0 rows): measured on the
    /// Zen 5 box, one core's decode read rate went from 16 GB/s (768 B) to 23-28 GB/s (24 KiB) with the same kernel.
    /// TOKENFACTORY_PREFETCH overrides it (bytes) for tuning on other machines.
    /// </summary>
    internal static readonly int PrefetchDistance = int.TryParse(Environment.GetEnvironmentVariable("TOKENFACTORY_PREFETCH"), out int d) ? d : 24576;

    public static bool IsSupported => AvxVnni.IsSupported && Avx512F.IsSupported && Avx512BW.IsSupported && Fma.IsSupported;

    /// <summary>
    /// Floats per row of <see cref="RowScales"/> output for <paramref name="nb"/> blocks: each block's scale is
    /// repeated 8 times (the lanes of its half of a 512-bit accumulator), padded to an even block count.
    /// </summary>
    public static int ExpandedScaleFloats(int nb) => 8 * (nb + (nb & 1));

    // Words 2i+1 of the result take word 0 (block b's scale) for i < 8 and word 17 (bytes 34-35: block b+1's) after.
    private static readonly Vector512<short> s_pairScaleIndex = Vector512.Create(
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 17, 0, 17, 0, 17, 0, 17, 0, 17, 0, 17, 0, 17, 0, 17);

    /// <summary>[d_b x8 | d_b+1 x8] from the 64 bytes at block b's start (blocks b and b+1 must both exist).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> PairScales(byte* block, Vector512<short> index)
        => HalfVectors.FiniteHighToSingle(Avx512BW.PermuteVar32x16(Vector512.Load((short*)block), index).AsInt32());

    /// <summary>
    /// As <see cref="PairScales"/> but 2^-112 times the value (the rebias is left out): exact, and multiplying it by
    /// da·2^112 gives exactly dw·da rounded once, because da is an fp16 value (so da·2^112 &lt; 2^128 stays finite) and
    /// scaling by powers of two is exact (half subnormals become float subnormals, still exact without DAZ).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> PairScalesUnbiased(byte* block, Vector512<short> index)
        => ((Avx512BW.PermuteVar32x16(Vector512.Load((short*)block), index).AsInt32() >> 3) & Vector512.Create(unchecked((int)0x8FFFE000))).AsSingle();

    /// <summary>[d_b x8 | 0 x8] for a final, unpaired block.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> SingleScale(byte* block)
        => Vector256.Create(Fp16.ToFloat(*(ushort*)block)).ToVector512();

    /// <summary>The fp16 scales of a row's <paramref name="nb"/> blocks, each widened and repeated 8 times into <paramref name="dst"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void RowScales(byte* row, int nb, float* dst)
    {
        Vector512<short> index = s_pairScaleIndex;
        int b = 0;
        for (; b + 2 <= nb; b += 2)
            PairScales(row + 34 * b, index).Store(dst + 8 * b);
        if (b < nb)
            SingleScale(row + 34 * b).Store(dst + 8 * b);
    }

    /// <summary>Repeats each of <paramref name="nb"/> activation block scales 8 times, like <see cref="RowScales"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void ExpandScales(float* da, int nb, float* dst)
    {
        for (int b = 0; b < nb; b++)
            Vector256.Create(da[b]).Store(dst + 8 * b);
        if ((nb & 1) != 0)
            Vector256<float>.Zero.Store(dst + 8 * nb);
    }

    /// <summary>
    /// 4 rows x 4 tokens: <c>result[4t + r] = W[r] · a[t]</c>. <paramref name="a"/>: 4 rows of offset codes
    /// <paramref name="k"/> bytes apart; <paramref name="dw"/>/<paramref name="da"/>: expanded scales
    /// (<see cref="ExpandedScaleFloats"/> apart) of the 4 weight rows and the 4 tokens.
    /// Two blocks share one 512-bit float accumulator per (row, token). Written without by-ref helpers so the 16
    /// accumulators stay in registers (by-ref accumulators were spilled to the stack every iteration).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Tile4x4(byte* w0, byte* w1, byte* w2, byte* w3, float* dw, byte* a, int k, float* da, int nb, float* result)
    {
        Vector512<float> c00 = default, c01 = default, c02 = default, c03 = default;
        Vector512<float> c10 = default, c11 = default, c12 = default, c13 = default;
        Vector512<float> c20 = default, c21 = default, c22 = default, c23 = default;
        Vector512<float> c30 = default, c31 = default, c32 = default, c33 = default;
        nint sx = ExpandedScaleFloats(nb), sx3 = 3 * sx, kk = k, k3 = 3 * (nint)k;
        int pairs = nb >> 1;
        for (int i = 0; i < pairs; i++)
        {
            // Tokens' codes (2 x 32 bytes each) and scales, shared by the 4 rows.
            Vector256<byte> a0l = Vector256.Load(a), a0h = Vector256.Load(a + 32);
            Vector256<byte> a1l = Vector256.Load(a + kk), a1h = Vector256.Load(a + kk + 32);
            Vector256<byte> a2l = Vector256.Load(a + 2 * kk), a2h = Vector256.Load(a + 2 * kk + 32);
            Vector256<byte> a3l = Vector256.Load(a + k3), a3h = Vector256.Load(a + k3 + 32);
            Vector512<float> d0 = Vector512.Load(da), d1 = Vector512.Load(da + sx), d2 = Vector512.Load(da + 2 * sx), d3 = Vector512.Load(da + sx3);
            Vector256<sbyte> xl, xh;
            Vector256<int> nl, nh;
            Vector512<float> s;

            xl = Vector256.Load(w0 + 2).AsSByte(); xh = Vector256.Load(w0 + 36).AsSByte();
            nl = Neg128(xl); nh = Neg128(xh); s = Vector512.Load(dw);
            c00 = Avx512F.FusedMultiplyAdd(PairV(nl, nh, a0l, a0h, xl, xh), s * d0, c00);
            c01 = Avx512F.FusedMultiplyAdd(PairV(nl, nh, a1l, a1h, xl, xh), s * d1, c01);
            c02 = Avx512F.FusedMultiplyAdd(PairV(nl, nh, a2l, a2h, xl, xh), s * d2, c02);
            c03 = Avx512F.FusedMultiplyAdd(PairV(nl, nh, a3l, a3h, xl, xh), s * d3, c03);

            xl = Vector256.Load(w1 + 2).AsSByte(); xh = Vector256.Load(w1 + 36).AsSByte();
            nl = Neg128(xl); nh = Neg128(xh); s = Vector512.Load(dw + sx);
            c10 = Avx512F.FusedMultiplyAdd(PairV(nl, nh, a0l, a0h, xl, xh), s * d0, c10);
            c11 = Avx512F.FusedMultiplyAdd(PairV(nl, nh, a1l, a1h, xl, xh), s * d1, c11);
            c12 = Avx512F.FusedMultiplyAdd(PairV(nl, nh, a2l, a2h, xl, xh), s * d2, c12);
            c13 = Avx512F.FusedMultiplyAdd(PairV(nl, nh, a3l, a3h, xl, xh), s * d3, c13);

            xl = Vector256.Load(w2 + 2).AsSByte(); xh = Vector256.Load(w2 + 36).AsSByte();
            nl = Neg128(xl); nh = Neg128(xh); s = Vector512.Load(dw + 2 * sx);
            c20 = Avx512F.FusedMultiplyAdd(PairV(nl, nh, a0l, a0h, xl, xh), s * d0, c20);
            c21 = Avx512F.FusedMultiplyAdd(PairV(nl, nh, a1l, a1h, xl, xh), s * d1, c21);
            c22 = Avx512F.FusedMultiplyAdd(PairV(nl, nh, a2l, a2h, xl, xh), s * d2, c22);
            c23 = Avx512F.FusedMultiplyAdd(PairV(nl, nh, a3l, a3h, xl, xh), s * d3, c23);

            xl = Vector256.Load(w3 + 2).AsSByte(); xh = Vector256.Load(w3 + 36).AsSByte();
            nl = Neg128(xl); nh = Neg128(xh); s = Vector512.Load(dw + sx3);
            c30 = Avx512F.FusedMultiplyAdd(PairV(nl, nh, a0l, a0h, xl, xh), s * d0, c30);
            c31 = Avx512F.FusedMultiplyAdd(PairV(nl, nh, a1l, a1h, xl, xh), s * d1, c31);
            c32 = Avx512F.FusedMultiplyAdd(PairV(nl, nh, a2l, a2h, xl, xh), s * d2, c32);
            c33 = Avx512F.FusedMultiplyAdd(PairV(nl, nh, a3l, a3h, xl, xh), s * d3, c33);

            w0 += 68; w1 += 68; w2 += 68; w3 += 68; a += 64; da += 16; dw += 16;
        }
        if ((nb & 1) != 0)
        {
            Row(w0, dw, a, a + kk, a + 2 * kk, a + k3, da, da + sx, da + 2 * sx, da + sx3, false, ref c00, ref c01, ref c02, ref c03);
            Row(w1, dw + sx, a, a + kk, a + 2 * kk, a + k3, da, da + sx, da + 2 * sx, da + sx3, false, ref c10, ref c11, ref c12, ref c13);
            Row(w2, dw + 2 * sx, a, a + kk, a + 2 * kk, a + k3, da, da + sx, da + 2 * sx, da + sx3, false, ref c20, ref c21, ref c22, ref c23);
            Row(w3, dw + sx3, a, a + kk, a + 2 * kk, a + k3, da, da + sx, da + 2 * sx, da + sx3, false, ref c30, ref c31, ref c32, ref c33);
        }
        result[0] = Vector512.Sum(c00); result[1] = Vector512.Sum(c10); result[2] = Vector512.Sum(c20); result[3] = Vector512.Sum(c30);
        result[4] = Vector512.Sum(c01); result[5] = Vector512.Sum(c11); result[6] = Vector512.Sum(c21); result[7] = Vector512.Sum(c31);
        result[8] = Vector512.Sum(c02); result[9] = Vector512.Sum(c12); result[10] = Vector512.Sum(c22); result[11] = Vector512.Sum(c32);
        result[12] = Vector512.Sum(c03); result[13] = Vector512.Sum(c13); result[14] = Vector512.Sum(c23); result[15] = Vector512.Sum(c33);
    }

    /// <summary>-128·Σw per 4-code group of a block (seeds the u8 x s8 sums of offset codes).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> Neg128(Vector256<sbyte> x)
        => Vector256<int>.Zero - AvxVnni.MultiplyWideningAndAdd(Vector256<int>.Zero, Vector256.Create((byte)0x80), x);

    /// <summary>As <see cref="Pair"/> with the token's codes already in registers.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> PairV(Vector256<int> nl, Vector256<int> nh, Vector256<byte> al, Vector256<byte> ah, Vector256<sbyte> xl, Vector256<sbyte> xh)
        => Avx512F.ConvertToVector512Single(Join(AvxVnni.MultiplyWideningAndAdd(nl, al, xl), AvxVnni.MultiplyWideningAndAdd(nh, ah, xh)));

    /// <summary>One weight row's two blocks (or one, when <paramref name="two"/> is false) against 4 tokens.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Row(byte* w, float* dw, byte* a0, byte* a1, byte* a2, byte* a3, float* d0, float* d1, float* d2, float* d3, bool two,
        ref Vector512<float> c0, ref Vector512<float> c1, ref Vector512<float> c2, ref Vector512<float> c3)
    {
        Vector256<byte> k80 = Vector256.Create((byte)0x80);
        Vector256<sbyte> xl = Vector256.Load(w + 2).AsSByte();
        Vector256<int> nl = Vector256<int>.Zero - AvxVnni.MultiplyWideningAndAdd(Vector256<int>.Zero, k80, xl);
        Vector512<float> s = Vector512.Load(dw);
        if (two)
        {
            Vector256<sbyte> xh = Vector256.Load(w + 36).AsSByte();
            Vector256<int> nh = Vector256<int>.Zero - AvxVnni.MultiplyWideningAndAdd(Vector256<int>.Zero, k80, xh);
            c0 = Avx512F.FusedMultiplyAdd(Pair(nl, nh, a0, xl, xh), s * Vector512.Load(d0), c0);
            c1 = Avx512F.FusedMultiplyAdd(Pair(nl, nh, a1, xl, xh), s * Vector512.Load(d1), c1);
            c2 = Avx512F.FusedMultiplyAdd(Pair(nl, nh, a2, xl, xh), s * Vector512.Load(d2), c2);
            c3 = Avx512F.FusedMultiplyAdd(Pair(nl, nh, a3, xl, xh), s * Vector512.Load(d3), c3);
        }
        else
        {
            c0 = Avx512F.FusedMultiplyAdd(One(nl, a0, xl), s * Vector512.Load(d0), c0);
            c1 = Avx512F.FusedMultiplyAdd(One(nl, a1, xl), s * Vector512.Load(d1), c1);
            c2 = Avx512F.FusedMultiplyAdd(One(nl, a2, xl), s * Vector512.Load(d2), c2);
            c3 = Avx512F.FusedMultiplyAdd(One(nl, a3, xl), s * Vector512.Load(d3), c3);
        }
    }

    /// <summary>Exact Σ a·w of two consecutive blocks, 8 lanes each, as floats; n = -128·Σw seeds each u8 x s8 sum.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Pair(Vector256<int> nl, Vector256<int> nh, byte* a, Vector256<sbyte> xl, Vector256<sbyte> xh)
        => Avx512F.ConvertToVector512Single(Join(
            AvxVnni.MultiplyWideningAndAdd(nl, Vector256.Load(a), xl),
            AvxVnni.MultiplyWideningAndAdd(nh, Vector256.Load(a + 32), xh)));

    /// <summary>[lo | hi] with one insert (Vector512.Create(lo, hi) inserts into the old register, a false dependency).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<int> Join(Vector256<int> lo, Vector256<int> hi) => Avx512F.InsertVector256(lo.ToVector512Unsafe(), hi, 1);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> One(Vector256<int> nl, byte* a, Vector256<sbyte> xl)
        => Avx512F.ConvertToVector512Single(AvxVnni.MultiplyWideningAndAdd(nl, Vector256.Load(a), xl).ToVector512());

    /// <summary>4 rows x 1 token (decode): <c>result[r] = W[r] · a</c>, with <paramref name="da"/> the token's expanded
    /// scales; the weight scales are widened on the fly from the same cache lines as the codes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Rows4x1(byte* w0, byte* w1, byte* w2, byte* w3, byte* a, float* da, int nb, float* result)
    {
        Vector512<float> c0 = default, c1 = default, c2 = default, c3 = default;
        Vector512<short> index = s_pairScaleIndex;
        int b = 0;
        for (; b + 2 <= nb; b += 2)
        {
            // Back to signed codes (the tiles use them offset by 128).
            Vector256<sbyte> yl = (Vector256.Load(a + 32 * b) ^ Vector256.Create((byte)0x80)).AsSByte();
            Vector256<sbyte> yh = (Vector256.Load(a + 32 * b + 32) ^ Vector256.Create((byte)0x80)).AsSByte();
            Vector512<float> d = Vector512.Load(da + 8 * b) * Vector512.Create(0x77800000u).AsSingle(); // da·2^112, see PairScalesUnbiased
            int o = 34 * b;
            Sse.Prefetch0(w0 + o + PrefetchDistance);
            Sse.Prefetch0(w1 + o + PrefetchDistance);
            Sse.Prefetch0(w2 + o + PrefetchDistance);
            Sse.Prefetch0(w3 + o + PrefetchDistance);
            c0 = Avx512F.FusedMultiplyAdd(Exact2(w0 + o, yl, yh), PairScalesUnbiased(w0 + o, index) * d, c0);
            c1 = Avx512F.FusedMultiplyAdd(Exact2(w1 + o, yl, yh), PairScalesUnbiased(w1 + o, index) * d, c1);
            c2 = Avx512F.FusedMultiplyAdd(Exact2(w2 + o, yl, yh), PairScalesUnbiased(w2 + o, index) * d, c2);
            c3 = Avx512F.FusedMultiplyAdd(Exact2(w3 + o, yl, yh), PairScalesUnbiased(w3 + o, index) * d, c3);
        }
        if (b < nb)
        {
            Vector256<sbyte> yl = (Vector256.Load(a + 32 * b) ^ Vector256.Create((byte)0x80)).AsSByte();
            Vector512<float> d = Vector512.Load(da + 8 * b);
            int o = 34 * b;
            c0 = Avx512F.FusedMultiplyAdd(Exact1(w0 + o, yl), SingleScale(w0 + o) * d, c0);
            c1 = Avx512F.FusedMultiplyAdd(Exact1(w1 + o, yl), SingleScale(w1 + o) * d, c1);
            c2 = Avx512F.FusedMultiplyAdd(Exact1(w2 + o, yl), SingleScale(w2 + o) * d, c2);
            c3 = Avx512F.FusedMultiplyAdd(Exact1(w3 + o, yl), SingleScale(w3 + o) * d, c3);
        }
        result[0] = Vector512.Sum(c0);
        result[1] = Vector512.Sum(c1);
        result[2] = Vector512.Sum(c2);
        result[3] = Vector512.Sum(c3);
    }

    /// <summary>Exact Σ a·w of one block: |w| (u8, 128 for -128) times a carrying w's sign (s8, |a| ≤ 127).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> Exact(Vector256<sbyte> y, Vector256<sbyte> x)
        => AvxVnni.MultiplyWideningAndAdd(Vector256<int>.Zero, Avx2.Abs(x), Avx2.Sign(y, x));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Exact2(byte* w, Vector256<sbyte> yl, Vector256<sbyte> yh)
        => Avx512F.ConvertToVector512Single(Join(Exact(yl, Vector256.Load(w + 2).AsSByte()), Exact(yh, Vector256.Load(w + 36).AsSByte())));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Exact1(byte* w, Vector256<sbyte> yl)
        => Avx512F.ConvertToVector512Single(Exact(yl, Vector256.Load(w + 2).AsSByte()).ToVector512());

    /// <summary>Scalar twin: one row against one token of the split layout, block by block like <see cref="VecDotScalar.Legacy"/>.</summary>
    public static float DotScalar(byte* w, byte* a, float* da, int nb)
    {
        float sum = 0;
        for (int b = 0; b < nb; b++)
        {
            int isum = 0;
            for (int j = 0; j < 32; j++)
                isum += (sbyte)w[34 * b + 2 + j] * (a[32 * b + j] - 128);
            sum += Fp16.ToFloat(*(ushort*)(w + 34 * b)) * da[b] * isum;
        }
        return sum;
    }
}
