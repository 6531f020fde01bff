using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace TokenFactory.Tensors;

/// <summary>
/// The prefill tile on 512-bit registers, for CPUs with AVX-512BW besides the AVX-VNNI every kernel here needs (Zen 5,
/// Sapphire Rapids and later).
/// <para>
/// .NET 10 exposes no 512-bit <c>vpdpbusd</c> here, but <c>vpmaddubsw</c> on zmm does 64 byte products per
/// instruction against 32 for the 256-bit <c>vpdpbusd</c>, at the same instruction rate on Zen 5 (a tight loop of
/// it with int16 adds measured 421 GMAC/s per core against 216 for <c>vpdpbusd</c> ymm). Its int16 results are exact
/// here: a nibble times a code pairs to at most 2·15·128 = 3840, and a 32-element sub-block adds four of those per lane
/// (15360), under int16's 32767. One <c>vpmaddwd</c> per sub-block then applies the 6-bit scale and widens to int32,
/// so isum = Σ sc·(q·a) is the same integer as in the 256-bit kernels and the results keep their bits.
/// </para>
/// <para>
/// A zmm of codes holds 8 rows × 8 adjacent bytes, so one broadcast of 8 activation codes serves the 8 rows; the
/// group's codes are rearranged into that order by <see cref="PrepareGroupWide"/>, once per group for all its
/// token tiles.
/// </para>
/// </summary>
internal static unsafe partial class GemmQ4_Kx8
{
    /// <summary>Whether <see cref="Tile8x8Wide"/> runs on this CPU (besides the 256-bit VNNI the other kernels need).</summary>
    public static bool WideIsSupported => Avx512BW.IsSupported && Avx512F.IsSupported;

    /// <summary>
    /// <see cref="PrepareGroupWide"/> output per 256-block: codes (1024), per sub-block scales as int16 quadruples per
    /// row (8 × 64), min pairs (4 × 32), d and dmin (2 × 32).
    /// </summary>
    public const int WidePreparedBytes = 1024 + 8 * 64 + 4 * 32 + 2 * 32;

    private const int WideScales = 1024, WideMins = WideScales + 8 * 64, WideD = WideMins + 4 * 32;

    /// <summary>
    /// Per 256-block: for sub-block pair j, 4 chunks of 64 bytes, chunk q holding bytes 8q..8q+7 of each row's 32
    /// nibble bytes of the pair (row r at 8r); then each sub-block's scales with row r's in int16 lanes 4r..4r+3;
    /// then min pairs, d and dmin as <see cref="PrepareGroup"/> lays them out.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void PrepareGroupWide(byte* group, int blocks, byte* prepared)
    {
        // Packed chunks 2q and 2q+1 hold bytes 4 apart of each row; interleaving their dwords puts 8 adjacent bytes per row.
        Vector512<int> interleave = Vector512.Create(0, 8, 1, 9, 2, 10, 3, 11, 4, 12, 5, 13, 6, 14, 7, 15);
        Vector512<int> pairs = Vector512.Create(0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7);
        Vector256<int> byteMask = Vector256.Create(0xFF);
        for (int b = 0; b < blocks; b++)
        {
            byte* block = group + (long)b * BlockBytes, p = prepared + (long)b * WidePreparedBytes;
            for (int chunk = 0; chunk < 16; chunk++)
                Avx512F.PermuteVar16x32(Vector512.Load((int*)(block + CodesOffset) + 16 * chunk), interleave).Store((int*)p + 16 * chunk);
            (Vector256<int> sc03, Vector256<int> sc47, Vector256<int> m03, Vector256<int> m47) = UnpackScales(block);
            for (int s = 0; s < 8; s++)
            {
                Vector256<int> sc = ((s < 4 ? sc03 : sc47) >>> (8 * (s & 3))) & byteMask;
                Vector512<int> row = Avx512F.PermuteVar16x32(Vector512.Create(sc | (sc << 16), sc), pairs);
                row.Store((int*)(p + WideScales) + 16 * s);
            }
            StoreMinsAndScales(block, m03, m47, (int*)(p + WideMins), (float*)(p + WideD));
        }
    }

    /// <summary>
    /// 8 rows × 8 tokens, as <see cref="Tile8x8"/> (same arguments and results) but from <see cref="PrepareGroupWide"/>'s
    /// layout. A block's 8 token accumulators (int32, row r in lanes 2r and 2r+1) stay in registers beside the
    /// pair's 8 code vectors; all of it is EVEX-encoded, so the JIT has 32 registers to place them in.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Tile8x8Wide(byte* prepared, sbyte* a, int k, float* da, int* sums, int blocks, float* o, int stride, byte* next)
    {
        float* f = stackalloc float[64];
        for (int t = 0; t < 8; t++)
            Vector256<float>.Zero.Store(f + 8 * t);
        nint kk = k;
        Vector512<byte> low4 = Vector512.Create((byte)0x0F);
        for (int b = 0; b < blocks; b++)
        {
            if (next != null)
                PrefetchNextBlock(next, b);
            byte* p = prepared + (long)b * WidePreparedBytes;
            sbyte* ab = a + 256 * b;
            Vector512<int> s0 = default, s1 = default, s2 = default, s3 = default, s4 = default, s5 = default, s6 = default, s7 = default;
            for (int j = 0; j < 4; j++)
            {
                byte* w = p + 256 * j;
                Vector512<byte> x0 = Vector512.Load(w), x1 = Vector512.Load(w + 64), x2 = Vector512.Load(w + 128), x3 = Vector512.Load(w + 192);
                Vector512<byte> l0 = x0 & low4, l1 = x1 & low4, l2 = x2 & low4, l3 = x3 & low4;
                Vector512<byte> h0 = (x0.AsUInt16() >>> 4).AsByte() & low4, h1 = (x1.AsUInt16() >>> 4).AsByte() & low4;
                Vector512<byte> h2 = (x2.AsUInt16() >>> 4).AsByte() & low4, h3 = (x3.AsUInt16() >>> 4).AsByte() & low4;
                Vector512<short> scLow = Vector512.Load((short*)(p + WideScales) + 64 * j), scHigh = Vector512.Load((short*)(p + WideScales) + 64 * j + 32);
                sbyte* pl = ab + 32 * ActivationPacking.SubBlockSlot(2 * j), ph = ab + 32 * ActivationPacking.SubBlockSlot(2 * j + 1);
                s0 += PairSum(l0, l1, l2, l3, h0, h1, h2, h3, pl, ph, scLow, scHigh);
                s1 += PairSum(l0, l1, l2, l3, h0, h1, h2, h3, pl + kk, ph + kk, scLow, scHigh);
                s2 += PairSum(l0, l1, l2, l3, h0, h1, h2, h3, pl + 2 * kk, ph + 2 * kk, scLow, scHigh);
                s3 += PairSum(l0, l1, l2, l3, h0, h1, h2, h3, pl + 3 * kk, ph + 3 * kk, scLow, scHigh);
                s4 += PairSum(l0, l1, l2, l3, h0, h1, h2, h3, pl + 4 * kk, ph + 4 * kk, scLow, scHigh);
                s5 += PairSum(l0, l1, l2, l3, h0, h1, h2, h3, pl + 5 * kk, ph + 5 * kk, scLow, scHigh);
                s6 += PairSum(l0, l1, l2, l3, h0, h1, h2, h3, pl + 6 * kk, ph + 6 * kk, scLow, scHigh);
                s7 += PairSum(l0, l1, l2, l3, h0, h1, h2, h3, pl + 7 * kk, ph + 7 * kk, scLow, scHigh);
            }
            FinishBlock(f, (int*)(p + WideMins), (float*)(p + WideD), da + 8 * b, sums + 32 * b,
                RowSums(s0), RowSums(s1), RowSums(s2), RowSums(s3), RowSums(s4), RowSums(s5), RowSums(s6), RowSums(s7));
        }
        for (int t = 0; t < 8; t++)
            Vector256.Load(f + 8 * t).Store(o + t * stride);
    }

    /// <summary>
    /// One token's sub-block pair: sc_low·(low nibbles · a_low) + sc_high·(high nibbles · a_high), as int32 with row r
    /// in lanes 2r and 2r+1.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<int> PairSum(Vector512<byte> l0, Vector512<byte> l1, Vector512<byte> l2, Vector512<byte> l3,
        Vector512<byte> h0, Vector512<byte> h1, Vector512<byte> h2, Vector512<byte> h3, sbyte* pl, sbyte* ph, Vector512<short> scLow, Vector512<short> scHigh)
    {
        Vector512<short> low = (Avx512BW.MultiplyAddAdjacent(l0, Codes8(pl)) + Avx512BW.MultiplyAddAdjacent(l1, Codes8(pl + 8)))
            + (Avx512BW.MultiplyAddAdjacent(l2, Codes8(pl + 16)) + Avx512BW.MultiplyAddAdjacent(l3, Codes8(pl + 24)));
        Vector512<short> high = (Avx512BW.MultiplyAddAdjacent(h0, Codes8(ph)) + Avx512BW.MultiplyAddAdjacent(h1, Codes8(ph + 8)))
            + (Avx512BW.MultiplyAddAdjacent(h2, Codes8(ph + 16)) + Avx512BW.MultiplyAddAdjacent(h3, Codes8(ph + 24)));
        return Avx512BW.MultiplyAddAdjacent(low, scLow) + Avx512BW.MultiplyAddAdjacent(high, scHigh);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<sbyte> Codes8(sbyte* p) => Vector512.Create(*(long*)p).AsSByte();

    /// <summary>Adds each row's two int32 lanes (2r, 2r+1) into lane r of a 256-bit vector (wrapping as int32 adds do).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> RowSums(Vector512<int> s)
    {
        Vector512<long> q = s.AsInt64();
        return Avx512F.ConvertToVector256Int32(q + (q >>> 32));
    }
}
