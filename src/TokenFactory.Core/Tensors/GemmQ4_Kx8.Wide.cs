using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace TokenFactory.Tensors;

/// <summary>
/// The 512-bit kernels, for CPUs with AVX-512BW and VBMI besides the AVX-VNNI every kernel here needs (Zen 5,
/// Sapphire Rapids and later): the prefill tile and the decode kernel, both reading the 8-bytes-per-row code layout
/// <see cref="Pack(byte*, int, long, int, byte*)"/> writes on these CPUs.
/// <para>
/// .NET 10 exposes no 512-bit <c>vpdpbusd</c> here, but <c>vpmaddubsw</c> on zmm does 64 byte products per
/// instruction against 32 for the 256-bit <c>vpdpbusd</c>, at the same instruction rate on Zen 5 (a tight loop of
/// it with int16 adds measured 421 GMAC/s per core against 216 for <c>vpdpbusd</c> ymm). Its int16 results are exact
/// here: a nibble times a code pairs to at most 2·15·128 = 3840, and a 32-element sub-block adds four of those per lane
/// (15360), under int16's 32767. One <c>vpmaddwd</c> per sub-block then applies the 6-bit scale and widens to int32,
/// so isum = Σ sc·(q·a) is the same integer as in the 256-bit kernels and the results keep their bits.
/// </para>
/// <para>
/// A zmm of codes holds 8 rows × 8 adjacent bytes, so one broadcast of 8 activation codes serves the 8 rows.
/// </para>
/// </summary>
internal static unsafe partial class GemmQ4_Kx8
{
    /// <summary>Whether the 512-bit kernels and their code layout are used on this CPU (besides the 256-bit VNNI the other kernels need; VBMI for <c>vpermb</c>).</summary>
    public static bool WideIsSupported => Avx512BW.IsSupported && Avx512F.IsSupported && Avx512Vbmi.IsSupported;

    /// <summary>
    /// <see cref="PrepareGroupWide"/> output per 256-block: per sub-block scales as int16 quadruples per row (8 × 64),
    /// min pairs (4 × 32), d and dmin (2 × 32).
    /// </summary>
    public const int WidePreparedBytes = 8 * 64 + 4 * 32 + 2 * 32;

    private const int WideMins = 8 * 64, WideD = WideMins + 4 * 32;

    /// <summary>
    /// Per 256-block of a group in the wide layout: each sub-block's scales with row r's in int16 lanes 4r..4r+3, then
    /// min pairs, d and dmin as <see cref="PrepareGroup"/> lays them out; shared by the group's token tiles.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void PrepareGroupWide(byte* group, int blocks, byte* prepared)
    {
        for (int b = 0; b < blocks; b++)
        {
            byte* block = group + (long)b * BlockBytes, p = prepared + (long)b * WidePreparedBytes;
            (Vector256<int> sc03, Vector256<int> sc47, Vector256<int> m03, Vector256<int> m47) = UnpackScales(block);
            Vector512<byte> z03 = sc03.AsByte().ToVector512(), z47 = sc47.AsByte().ToVector512();
            short* sc = (short*)p;
            SubBlockScales(z03, s_control0).Store(sc);
            SubBlockScales(z03, s_control1).Store(sc + 32);
            SubBlockScales(z03, s_control2).Store(sc + 64);
            SubBlockScales(z03, s_control3).Store(sc + 96);
            SubBlockScales(z47, s_control0).Store(sc + 128);
            SubBlockScales(z47, s_control1).Store(sc + 160);
            SubBlockScales(z47, s_control2).Store(sc + 192);
            SubBlockScales(z47, s_control3).Store(sc + 224);
            StoreMinsAndScales(block, m03, m47, (int*)(p + WideMins), (float*)(p + WideD));
        }
    }

    /// <summary>
    /// A sub-block's scales as int16, row r's in lanes 4r..4r+3 (where <c>vpmaddubsw</c> leaves its sums), from the 8
    /// rows' packed scales of sub-blocks 0-3 or 4-7 (<see cref="UnpackScales"/>, zero-extended) and the sub-block's
    /// position s in them (<c>s_control</c>s).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<short> SubBlockScales(Vector512<byte> packed, Vector512<byte> control)
        => Avx512Vbmi.PermuteVar64x8(packed, control).AsInt16();

    // The vpermb indices of SubBlockScales, built once: made at each use, the JIT rebuilt them in every block, and the
    // decode kernel ran at 67 instead of 90 GB/s.
    private static readonly Vector512<byte> s_control0 = ScaleControl(0), s_control1 = ScaleControl(1), s_control2 = ScaleControl(2), s_control3 = ScaleControl(3);

    /// <summary>Output bytes 8r, 8r+2, 8r+4, 8r+6 take byte s of row r's dword (4r + s); the others byte 32, a zero of the extension.</summary>
    private static Vector512<byte> ScaleControl(int s)
    {
        Span<byte> index = stackalloc byte[64];
        for (int i = 0; i < 64; i++)
            index[i] = (byte)(i % 2 == 0 ? 4 * (i / 8) + s : 32);
        return Vector512.Create<byte>(index);
    }

    /// <summary>
    /// 8 rows × 8 tokens, as <see cref="Tile8x8"/> (same arguments and results) but from the wide layout and
    /// <see cref="PrepareGroupWide"/>'s scales. A block's 8 token accumulators (int32, row r in lanes 2r and 2r+1) stay in registers beside the
    /// pair's 8 code vectors; all of it is EVEX-encoded, so the JIT has 32 registers to place them in.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Tile8x8Wide(byte* group, byte* prepared, sbyte* a, int k, float* da, int* sums, int blocks, float* o, int stride, byte* next)
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
                byte* w = group + (long)b * BlockBytes + CodesOffset + 256 * j;
                Vector512<byte> x0 = Vector512.Load(w), x1 = Vector512.Load(w + 64), x2 = Vector512.Load(w + 128), x3 = Vector512.Load(w + 192);
                Vector512<byte> l0 = x0 & low4, l1 = x1 & low4, l2 = x2 & low4, l3 = x3 & low4;
                Vector512<byte> h0 = HighNibbles(x0), h1 = HighNibbles(x1), h2 = HighNibbles(x2), h3 = HighNibbles(x3);
                Vector512<short> scLow = Vector512.Load((short*)p + 64 * j), scHigh = Vector512.Load((short*)p + 64 * j + 32);
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

    /// <summary>
    /// Bytes ahead that <see cref="Group8x1Wide"/> prefetches (TOKENFACTORY_PREFETCH_Q4K overrides). Twice the other
    /// kernels' distance: over 256 MiB of groups, two threads, while the streaming kernel read 70-78 GB/s (the fast
    /// spells of this shared machine), 4 KiB ahead read 56-68 GB/s and 8 KiB 68-70; L2-only prefetches 8-16 KiB ahead
    /// read 60-66, and with the stream at 37-46 GB/s all of them read the same.
    /// </summary>
    internal static readonly int WidePrefetchDistance =
        int.TryParse(Environment.GetEnvironmentVariable("TOKENFACTORY_PREFETCH_Q4K"), out int d) ? d : 8192;

    /// <summary>
    /// 8 rows × 1 token (decode) from the wide layout, as <see cref="Group8x1"/> (same arguments, same bits). Per block
    /// it issues about half the instructions of the 256-bit kernel (32 <c>vpmaddubsw</c> zmm where that has 64
    /// <c>vpdpbusd</c> ymm, each with its own broadcast and mask), which matters because decode streams weights while
    /// computing: over 512 KB of groups it ran about 1.5x the 256-bit kernel's bytes per second (one core 88-94 against
    /// 57-63 GB/s, two 175-179 against 108-118), so it keeps up with the memory where that kernel ran out of time.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Group8x1Wide(byte* group, sbyte* a, float* da, int* sums, int blocks, float* o)
    {
        Vector256<float> f = default;
        int ahead = WidePrefetchDistance;
        Vector512<byte> c0 = s_control0, c1 = s_control1, c2 = s_control2, c3 = s_control3;
        for (int b = 0; b < blocks; b++)
        {
            byte* block = group + (long)b * BlockBytes;
            PrefetchBlock(block + ahead);
            byte* w = block + CodesOffset;
            sbyte* p = a + 256 * b;
            (Vector256<int> sc03, Vector256<int> sc47, Vector256<int> m03, Vector256<int> m47) = UnpackScales(block);
            Vector512<byte> z03 = sc03.AsByte().ToVector512(), z47 = sc47.AsByte().ToVector512();
            // Written out so that every offset is a constant.
            Vector512<int> acc = (DecodePair(w, p + 32 * ActivationPacking.SubBlockSlot(0), p + 32 * ActivationPacking.SubBlockSlot(1), SubBlockScales(z03, c0), SubBlockScales(z03, c1))
                + DecodePair(w + 256, p + 32 * ActivationPacking.SubBlockSlot(2), p + 32 * ActivationPacking.SubBlockSlot(3), SubBlockScales(z03, c2), SubBlockScales(z03, c3)))
                + (DecodePair(w + 512, p + 32 * ActivationPacking.SubBlockSlot(4), p + 32 * ActivationPacking.SubBlockSlot(5), SubBlockScales(z47, c0), SubBlockScales(z47, c1))
                + DecodePair(w + 768, p + 32 * ActivationPacking.SubBlockSlot(6), p + 32 * ActivationPacking.SubBlockSlot(7), SubBlockScales(z47, c2), SubBlockScales(z47, c3)));
            f += DecodeBlockTerm(block, RowSums(acc), m03, m47, sums + 32 * b, da[8 * b]);
        }
        f.Store(o);
    }

    /// <summary>One sub-block pair of the token: sc_low·(low nibbles · a_low) + sc_high·(high nibbles · a_high), row r in int32 lanes 2r, 2r+1.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<int> DecodePair(byte* w, sbyte* pl, sbyte* ph, Vector512<short> scLow, Vector512<short> scHigh)
    {
        Vector512<byte> low4 = Vector512.Create((byte)0x0F);
        Vector512<byte> x0 = Vector512.Load(w), x1 = Vector512.Load(w + 64), x2 = Vector512.Load(w + 128), x3 = Vector512.Load(w + 192);
        return PairSum(x0 & low4, x1 & low4, x2 & low4, x3 & low4, HighNibbles(x0), HighNibbles(x1), HighNibbles(x2), HighNibbles(x3), pl, ph, scLow, scHigh);
    }

    /// <summary>Each byte's high nibble: one GFNI affine transform where the CPU has it (Zen 4+, Ice Lake+), else a shift and a mask.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector512<byte> HighNibbles(Vector512<byte> x)
        => Gfni.V512.IsSupported ? HighNibblesGfni(x) : HighNibblesShift(x);

    // Result bit i is the parity of x AND matrix byte 7-i: bytes 7..4 pick bits 4..7 into bits 0..3.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector512<byte> HighNibblesGfni(Vector512<byte> x)
        => Gfni.V512.GaloisFieldAffineTransform(x, Vector512.Create(0x1020408000000000UL).AsByte(), 0);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector512<byte> HighNibblesShift(Vector512<byte> x) => (x.AsUInt16() >>> 4).AsByte() & Vector512.Create((byte)0x0F);

    /// <summary>Adds each row's two int32 lanes (2r, 2r+1) into lane r of a 256-bit vector (wrapping as int32 adds do).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> RowSums(Vector512<int> s)
    {
        Vector512<long> q = s.AsInt64();
        return Avx512F.ConvertToVector256Int32(q + (q >>> 32));
    }
}
