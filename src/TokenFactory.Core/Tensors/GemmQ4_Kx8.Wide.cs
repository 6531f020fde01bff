using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

using TokenFactory.Platform;

namespace TokenFactory.Tensors;

/// <summary>
/// The 512-bit kernels, for CPUs with AVX-512BW and VBMI (Zen 4 and 5, Ice Lake, Sapphire Rapids and later; AVX-VNNI
/// is used where present, see <see cref="PairDot"/>): the prefill tile and the decode kernel, both reading the 8-bytes-per-row code layout
/// <see cref="Pack(byte*, int, long, int, byte*)"/> writes on these CPUs, against activations packed by
/// <see cref="ActivationPacking.Q8_KPairs"/>.
/// <para>
/// .NET 10 exposes no 512-bit <c>vpdpbusd</c> here, but <c>vpmaddubsw</c> on zmm does 64 byte products per
/// instruction against 32 for the 256-bit <c>vpdpbusd</c>, at the same instruction rate on Zen 5 (a tight loop of
/// it with int16 adds measured 421 GMAC/s per core against 216 for <c>vpdpbusd</c> ymm). On Intel server cores
/// (Sapphire Rapids class: 512-bit integer multiplies on ports 0 and 5 only) it still ran 1.2x the 256-bit tile with
/// its operands in L1.
/// </para>
/// <para>
/// A zmm of codes holds 8 rows × 8 bytes, so one broadcast of 8 activation codes serves the 8 rows. The bytes of a
/// sub-block pair are interleaved (<see cref="ChunkByte"/>) so that a row's int16 lanes alternate between the pair's
/// two sub-blocks: one <c>vpmaddwd</c> per pair then applies both 6-bit scales, adds them and widens to int32, where
/// separate sub-blocks took two and an add. The int16 sums are exact: each lane adds 16 products of a nibble (≤ 15) and
/// a code (|a| ≤ 127), at most 30480 &lt; 32767; so isum = Σ sc·(q·a) is the same integer as in the 256-bit kernels and the
/// results keep their bits.
/// </para>
/// </summary>
internal static unsafe partial class GemmQ4_Kx8
{
    /// <summary>Whether this CPU can run the 512-bit kernels (AVX-512BW, and VBMI for <c>vpermb</c>); <see cref="UseWide"/> says whether they run.</summary>
    public static bool WideIsSupported => Avx512BW.IsSupported && Avx512F.IsSupported && Avx512Vbmi.IsSupported;

    /// <summary>Whether this process packs Q4_K weights for the 512-bit kernels and runs them (see <see cref="ChooseWide"/>).</summary>
    public static bool UseWide => s_useWide;

    private static readonly bool s_useWide = ChooseWide(KernelOptions.Current.Q4KWide);

    /// <summary>
    /// The 512-bit kernels where they run, unless <paramref name="wide"/> (<see cref="KernelOptions.Q4KWide"/>) is false
    /// and the 256-bit ones can run instead (they need AVX-VNNI, which AVX-512 CPUs such as Zen 4 and Ice Lake lack).
    /// </summary>
    internal static bool ChooseWide(bool wide)
    {
        if (!WideIsSupported)
            return false;
        return wide || !IsSupported;
    }

    /// <summary>Whether Q4_K matrices are repacked for a tiled kernel on this CPU (the 256-bit or the 512-bit ones).</summary>
    public static bool TiledIsSupported => IsSupported || UseWide;

    /// <summary>
    /// <see cref="PrepareGroupWide"/> output per 256-block: per sub-block pair the scales as int16 quadruples per row
    /// (4 × 64), min pairs (4 × 32), d and dmin (2 × 32).
    /// </summary>
    public const int WidePreparedBytes = 4 * 64 + 4 * 32 + 2 * 32;

    private const int WideMins = 4 * 64, WideD = WideMins + 4 * 32;

    /// <summary>
    /// Per 256-block of a group in the wide layout: each sub-block pair's scales (<see cref="PairScales"/>), then min
    /// pairs, d and dmin as <see cref="PrepareGroup"/> lays them out; shared by the group's token tiles.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void PrepareGroupWide(byte* group, int blocks, byte* prepared) => PrepareGroupWide(group, blocks, prepared, BlockBytes);

    /// <summary>As <see cref="PrepareGroupWide(byte*, int, byte*)"/> for groups whose blocks are <paramref name="blockBytes"/> apart but start as Q4_K's do (Q5_K).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void PrepareGroupWide(byte* group, int blocks, byte* prepared, int blockBytes)
    {
        Vector512<byte> c0 = s_pairControl0, c1 = s_pairControl1;
        for (int b = 0; b < blocks; b++)
        {
            byte* block = group + (long)b * blockBytes, p = prepared + (long)b * WidePreparedBytes;
            (Vector256<int> sc03, Vector256<int> sc47, Vector256<int> m03, Vector256<int> m47) = UnpackScales(block);
            Vector512<byte> z03 = sc03.AsByte().ToVector512(), z47 = sc47.AsByte().ToVector512();
            short* sc = (short*)p;
            PairScales(z03, c0).Store(sc);
            PairScales(z03, c1).Store(sc + 32);
            PairScales(z47, c0).Store(sc + 64);
            PairScales(z47, c1).Store(sc + 96);
            StoreMinsAndScales(block, m03, m47, (int*)(p + WideMins), (float*)(p + WideD));
        }
    }

    /// <summary>
    /// A sub-block pair's scales as int16, row r's in lanes 4r..4r+3 as (sc_2j, sc_2j+1, sc_2j, sc_2j+1), the order
    /// <see cref="PairSum"/> leaves its sub-block sums in, from the 8 rows' packed scales of sub-blocks 0-3 or 4-7
    /// (<see cref="UnpackScales"/>, zero-extended) and which pair of the four the control picks.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<short> PairScales(Vector512<byte> packed, Vector512<byte> control)
        => Avx512Vbmi.PermuteVar64x8(packed, control).AsInt16();

    // The vpermb indices of PairScales, built once: made at each use, the JIT rebuilt them in every block (the decode
    // kernel ran at 67 instead of 90 GB/s on Zen 5).
    private static readonly Vector512<byte> s_pairControl0 = PairControl(0), s_pairControl1 = PairControl(1);

    /// <summary>Even output bytes 8r + 2m take byte 2q + (m mod 2) of row r's dword (4r + that); odd ones byte 32, a zero of the extension.</summary>
    private static Vector512<byte> PairControl(int q)
    {
        Span<byte> index = stackalloc byte[64];
        for (int i = 0; i < 64; i++)
            index[i] = (byte)(i % 2 == 0 ? 4 * (i / 8) + 2 * q + (i / 2) % 2 : 32);
        return Vector512.Create<byte>(index);
    }

    /// <summary>
    /// Byte <paramref name="k"/> (0-7) of chunk <paramref name="c"/> (0-7) of a sub-block pair, in the wide layout of
    /// both the weights' nibbles and the activation codes: elements e, e+1 of the low sub-block (2j), then e, e+1 of
    /// the high one (2j+1), then e+2, e+3 of each, for e = 4c. <c>vpmaddubsw</c> thus leaves a row's int16 lanes
    /// alternating between the two sub-blocks, and one <c>vpmaddwd</c> against <see cref="PairScales"/> applies both
    /// scales and adds them.
    /// </summary>
    /// <returns>The element's index in its sub-block and whether it belongs to the high one.</returns>
    internal static (int Element, bool High) ChunkByte(int c, int k) => (4 * c + 2 * (k >> 2) + (k & 1), (k & 2) != 0);

    /// <summary>
    /// 8 rows × 8 tokens, as <see cref="Tile8x8"/> (same arguments and results) but from the wide layout,
    /// <see cref="PrepareGroupWide"/>'s scales and activation codes packed by <see cref="ActivationPacking.Q8_KPairs"/>.
    /// A block's 8 token accumulators (int32, row r in lanes 2r and 2r+1) stay in registers beside the pair's 8 code
    /// vectors; all of it is EVEX-encoded, so the JIT has 32 registers to place them in.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Tile8x8Wide(byte* group, byte* prepared, sbyte* a, int k, float* da, int* sums, int blocks, float* o, int stride, byte* next)
        => TileWide<Q4_KPair>(group, prepared, a, k, da, sums, blocks, o, stride, next);

    /// <summary>
    /// The wide tile of a format whose sub-block pairs <typeparamref name="TPair"/> reads (Q4_K, Q5_K): 8 rows × 8 tokens
    /// from <see cref="PrepareGroupWide(byte*, int, byte*, int)"/>'s scales, as <see cref="Tile8x8Wide"/> describes.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void TileWide<TPair>(byte* group, byte* prepared, sbyte* a, int k, float* da, int* sums, int blocks, float* o, int stride, byte* next)
        where TPair : struct, IWidePair
        => TileWide<TPair, Tokens8>(group, prepared, a, k, da, sums, blocks, o, stride, next);

    /// <summary>
    /// 8 rows × <paramref name="count"/> (2-7) tokens t0.. of an 8-token run (t0 % 8 + count rounded up to even ≤ 8: an odd count's
    /// last pair reads the next token's scale and sums, never stored), as <see cref="TileWide{TPair}"/>
    /// with only those tokens' products: the few tokens a mixture's expert gets of a prompt (Qwen3.5's 256 experts, 8 a token,
    /// give 2 of 64 on average) took one single-token pass each, which decodes the group's codes again per token, or a
    /// padded 8-token tile, which computes up to 6 tokens for nothing. The same lane arithmetic, so the same bits.
    /// </summary>
    internal static void TileWideFew<TPair>(byte* group, byte* prepared, sbyte* a, int k, float* da, int* sums, int blocks, float* o, int stride, byte* next, int count)
        where TPair : struct, IWidePair
    {
        switch (count)
        {
            case 2: TileWide<TPair, Tokens2>(group, prepared, a, k, da, sums, blocks, o, stride, next); break;
            case 3: TileWide<TPair, Tokens3>(group, prepared, a, k, da, sums, blocks, o, stride, next); break;
            case 4: TileWide<TPair, Tokens4>(group, prepared, a, k, da, sums, blocks, o, stride, next); break;
            case 5: TileWide<TPair, Tokens5>(group, prepared, a, k, da, sums, blocks, o, stride, next); break;
            case 6: TileWide<TPair, Tokens6>(group, prepared, a, k, da, sums, blocks, o, stride, next); break;
            case 7: TileWide<TPair, Tokens7>(group, prepared, a, k, da, sums, blocks, o, stride, next); break;
            default: throw new ArgumentOutOfRangeException(nameof(count), count, "a few-token tile takes 2 to 7 tokens");
        }
    }

    /// <summary>
    /// The wide tile for <typeparamref name="TTokens"/>' count of tokens (a JIT-time constant: each count compiles to its own
    /// code with the other tokens' products dropped). Pairs of tokens finish together; an odd count's last pair finishes a
    /// lane pair past it, which is computed from the run's next scales and never stored.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void TileWide<TPair, TTokens>(byte* group, byte* prepared, sbyte* a, int k, float* da, int* sums, int blocks, float* o, int stride, byte* next)
        where TPair : struct, IWidePair where TTokens : struct, ITileTokens
    {
        int n = TTokens.Count;
        float* f = stackalloc float[64];
        for (int t = 0; t < 64; t += 16)
            Vector512<float>.Zero.Store(f + t);
        nint kk = k;
        for (int b = 0; b < blocks; b++)
        {
            byte* block = group + (long)b * TPair.BlockBytes;
            if (next != null)
            {
                for (int line = 0; line < TPair.BlockBytes; line += 64)
                    Sse.Prefetch1(next + (long)b * TPair.BlockBytes + line);
            }
            byte* p = prepared + (long)b * WidePreparedBytes;
            sbyte* ab = a + 256 * b;
            Vector512<int> s0 = default, s1 = default, s2 = default, s3 = default, s4 = default, s5 = default, s6 = default, s7 = default;
            for (int j = 0; j < 4; j++)
            {
                TPair.Load(block, j, out Vector512<byte> c0, out Vector512<byte> c1, out Vector512<byte> c2, out Vector512<byte> c3,
                    out Vector512<byte> c4, out Vector512<byte> c5, out Vector512<byte> c6, out Vector512<byte> c7);
                Vector512<short> sc = Vector512.Load((short*)p + 32 * j);
                sbyte* pj = ab + 64 * j;
                s0 += TPair.PairSum(c0, c1, c2, c3, c4, c5, c6, c7, pj, sc);
                if (n > 1)
                    s1 += TPair.PairSum(c0, c1, c2, c3, c4, c5, c6, c7, pj + kk, sc);
                if (n > 2)
                    s2 += TPair.PairSum(c0, c1, c2, c3, c4, c5, c6, c7, pj + 2 * kk, sc);
                if (n > 3)
                    s3 += TPair.PairSum(c0, c1, c2, c3, c4, c5, c6, c7, pj + 3 * kk, sc);
                if (n > 4)
                    s4 += TPair.PairSum(c0, c1, c2, c3, c4, c5, c6, c7, pj + 4 * kk, sc);
                if (n > 5)
                    s5 += TPair.PairSum(c0, c1, c2, c3, c4, c5, c6, c7, pj + 5 * kk, sc);
                if (n > 6)
                    s6 += TPair.PairSum(c0, c1, c2, c3, c4, c5, c6, c7, pj + 6 * kk, sc);
                if (n > 7)
                    s7 += TPair.PairSum(c0, c1, c2, c3, c4, c5, c6, c7, pj + 7 * kk, sc);
            }
            FinishBlockWide(f, (int*)(p + WideMins), (float*)(p + WideD), da + 8 * b, sums + 32 * b, s0, s1, s2, s3, s4, s5, s6, s7, n);
        }
        for (int t = 0; t < n; t++)
            Vector256.Load(f + 8 * t).Store(o + t * stride);
    }

    /// <summary>
    /// What the wide kernels need of a format besides Q4_K's block head (d, dmin, packed scales and mins at its start): its
    /// block size, one block prefetched, a sub-block pair's 8 chunk vectors and their per-token sum. The vectors travel as
    /// values, not as a struct's fields: a struct of 8 vectors was kept on the stack (Q4_K decode in L1 ran at half speed).
    /// </summary>
    internal interface IWidePair
    {
        /// <summary>Bytes of one group block (8 rows).</summary>
        static abstract int BlockBytes { get; }

        /// <summary>Prefetches the group block at <paramref name="block"/> into L1 (written out: a loop costs as many instructions again).</summary>
        static abstract void Prefetch(byte* block);

        /// <summary>Pair <paramref name="j"/>'s chunk vectors (8 rows × 8 codes, chunk c as <see cref="ChunkByte"/> lays it out) of the group block at <paramref name="block"/>.</summary>
        static abstract void Load(byte* block, int j, out Vector512<byte> c0, out Vector512<byte> c1, out Vector512<byte> c2, out Vector512<byte> c3,
            out Vector512<byte> c4, out Vector512<byte> c5, out Vector512<byte> c6, out Vector512<byte> c7);

        /// <summary>
        /// One token's pair: sc_2j·(low sub-block · a) + sc_2j+1·(high sub-block · a) as int32, row r in lanes 2r and 2r+1;
        /// chunk c against the activation codes at <c>p + 8c</c>.
        /// </summary>
        static abstract Vector512<int> PairSum(Vector512<byte> c0, Vector512<byte> c1, Vector512<byte> c2, Vector512<byte> c3,
            Vector512<byte> c4, Vector512<byte> c5, Vector512<byte> c6, Vector512<byte> c7, sbyte* p, Vector512<short> sc);
    }

    /// <summary>
    /// Q4_K: chunk 2q is the low nibbles of code vector q, chunk 2q+1 the high ones. Each int16 lane sums 16 products of
    /// one sub-block, at most 16·15·127 = 30480 in magnitude (Q8_K codes stay within ±127), so the int16 adds are exact
    /// and one <c>vpmaddwd</c> finishes the pair.
    /// </summary>
    internal readonly struct Q4_KPair : IWidePair
    {
        public static int BlockBytes => GemmQ4_Kx8.BlockBytes;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static void Prefetch(byte* block) => PrefetchBlock(block);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static void Load(byte* block, int j, out Vector512<byte> c0, out Vector512<byte> c1, out Vector512<byte> c2, out Vector512<byte> c3,
            out Vector512<byte> c4, out Vector512<byte> c5, out Vector512<byte> c6, out Vector512<byte> c7)
        {
            byte* w = block + CodesOffset + 256 * j;
            Vector512<byte> low4 = Vector512.Create((byte)0x0F);
            Vector512<byte> x0 = Vector512.Load(w), x1 = Vector512.Load(w + 64), x2 = Vector512.Load(w + 128), x3 = Vector512.Load(w + 192);
            (c0, c1, c2, c3) = (x0 & low4, HighNibbles(x0), x1 & low4, HighNibbles(x1));
            (c4, c5, c6, c7) = (x2 & low4, HighNibbles(x2), x3 & low4, HighNibbles(x3));
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector512<int> PairSum(Vector512<byte> c0, Vector512<byte> c1, Vector512<byte> c2, Vector512<byte> c3,
            Vector512<byte> c4, Vector512<byte> c5, Vector512<byte> c6, Vector512<byte> c7, sbyte* p, Vector512<short> sc)
        {
            Vector512<short> sum = ((Avx512BW.MultiplyAddAdjacent(c0, Codes8(p)) + Avx512BW.MultiplyAddAdjacent(c1, Codes8(p + 8)))
                + (Avx512BW.MultiplyAddAdjacent(c2, Codes8(p + 16)) + Avx512BW.MultiplyAddAdjacent(c3, Codes8(p + 24))))
                + ((Avx512BW.MultiplyAddAdjacent(c4, Codes8(p + 32)) + Avx512BW.MultiplyAddAdjacent(c5, Codes8(p + 40)))
                + (Avx512BW.MultiplyAddAdjacent(c6, Codes8(p + 48)) + Avx512BW.MultiplyAddAdjacent(c7, Codes8(p + 56))));
            return Avx512BW.MultiplyAddAdjacent(sum, sc);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector512<sbyte> Codes8(sbyte* p) => Vector512.Create(*(long*)p).AsSByte();

    /// <summary>
    /// <see cref="FinishBlock"/> for the wide tile: two tokens per 512-bit vector, so the row sums, the conversions and
    /// the block term take half the instructions (per lane the same operations in the same order, so the same bits).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void FinishBlockWide(float* f, int* m, float* dd, float* da, int* sums,
        Vector512<int> s0, Vector512<int> s1, Vector512<int> s2, Vector512<int> s3, Vector512<int> s4, Vector512<int> s5, Vector512<int> s6, Vector512<int> s7, int tokens = 8)
    {
        Vector256<short> m0 = Vector256.Load(m).AsInt16(), m1 = Vector256.Load(m + 8).AsInt16(), m2 = Vector256.Load(m + 16).AsInt16(), m3 = Vector256.Load(m + 24).AsInt16();
        Vector256<float> dw = Vector256.Load(dd), dmin = Vector256.Load(dd + 8);
        Vector512<float> dw2 = Vector512.Create(dw, dw), dmin2 = Vector512.Create(dmin, dmin);
        Vector512<int> even = s_evenLanes, odd = s_oddLanes;
        FinishTwo(f, s0, s1, even, odd, m0, m1, m2, m3, sums, da, dw2, dmin2);
        if (tokens > 2)
            FinishTwo(f + 16, s2, s3, even, odd, m0, m1, m2, m3, sums + 8, da + 2, dw2, dmin2);
        if (tokens > 4)
            FinishTwo(f + 32, s4, s5, even, odd, m0, m1, m2, m3, sums + 16, da + 4, dw2, dmin2);
        if (tokens > 6)
            FinishTwo(f + 48, s6, s7, even, odd, m0, m1, m2, m3, sums + 24, da + 6, dw2, dmin2);
    }

    // vpermt2d indices: the even (odd) int32 lanes of the first vector, then those of the second.
    private static readonly Vector512<int> s_evenLanes = Vector512.Create(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    private static readonly Vector512<int> s_oddLanes = Vector512.Create(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);

    /// <summary>
    /// Two tokens' block contributions (<see cref="BlockTerm"/>) added to their 16 float results at <paramref name="f"/>:
    /// each row's two int32 lanes summed (the first token's rows in lanes 0-7, the second's in 8-15).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void FinishTwo(float* f, Vector512<int> sa, Vector512<int> sb, Vector512<int> even, Vector512<int> odd,
        Vector256<short> m0, Vector256<short> m1, Vector256<short> m2, Vector256<short> m3, int* sums, float* da, Vector512<float> dw2, Vector512<float> dmin2)
    {
        Vector512<int> isum = Avx512F.PermuteVar16x32x2(sa, even, sb) + Avx512F.PermuteVar16x32x2(sa, odd, sb);
        Vector512<int> msum = Vector512.Create(MinSum(m0, m1, m2, m3, sums), MinSum(m0, m1, m2, m3, sums + 4));
        Vector512<float> vda = Vector512.Create(Vector256.Create(da[0]), Vector256.Create(da[1]));
        Vector512<float> term = (dw2 * vda) * Avx512F.ConvertToVector512Single(isum) - (dmin2 * vda) * Avx512F.ConvertToVector512Single(msum);
        (Vector512.Load(f) + term).Store(f);
    }

    /// <summary>
    /// 8 rows × 1 token (decode) from the wide layout, as <see cref="Group8x1"/> (same arguments, same bits). Per block
    /// it issues about half the instructions of the 256-bit kernel (32 <c>vpmaddubsw</c> zmm where that has 64
    /// <c>vpdpbusd</c> ymm, each with its own broadcast and mask), which matters because decode streams weights while
    /// computing: over 512 KB of groups it ran about 1.5x the 256-bit kernel's bytes per second (one core 88-94 against
    /// 57-63 GB/s, two 175-179 against 108-118), so it keeps up with the memory where that kernel ran out of time.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Group8x1Wide(byte* group, sbyte* a, float* da, int* sums, int blocks, float* o)
        => DecodeWide<Q4_KPair>(group, a, da, sums, blocks, o);

    /// <summary>The wide decode kernel of a format whose sub-block pairs <typeparamref name="TPair"/> reads, as <see cref="Group8x1Wide"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void DecodeWide<TPair>(byte* group, sbyte* a, float* da, int* sums, int blocks, float* o)
        where TPair : struct, IWidePair
    {
        Vector256<float> f = default;
        int ahead = WeightPrefetch.WideDistance;
        Vector512<byte> c0 = s_pairControl0, c1 = s_pairControl1;
        for (int b = 0; b < blocks; b++)
        {
            byte* block = group + (long)b * TPair.BlockBytes;
            TPair.Prefetch(block + ahead);
            sbyte* p = a + 256 * b;
            (Vector256<int> sc03, Vector256<int> sc47, Vector256<int> m03, Vector256<int> m47) = UnpackScales(block);
            Vector512<byte> z03 = sc03.AsByte().ToVector512(), z47 = sc47.AsByte().ToVector512();
            // Written out so that every offset is a constant.
            Vector512<int> acc = (DecodePair<TPair>(block, 0, p, PairScales(z03, c0)) + DecodePair<TPair>(block, 1, p + 64, PairScales(z03, c1)))
                + (DecodePair<TPair>(block, 2, p + 128, PairScales(z47, c0)) + DecodePair<TPair>(block, 3, p + 192, PairScales(z47, c1)));
            f += DecodeBlockTerm(block, RowSums(acc), m03, m47, sums + 32 * b, da[8 * b]);
        }
        f.Store(o);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<int> DecodePair<TPair>(byte* block, int j, sbyte* p, Vector512<short> sc) where TPair : struct, IWidePair
    {
        TPair.Load(block, j, out Vector512<byte> c0, out Vector512<byte> c1, out Vector512<byte> c2, out Vector512<byte> c3,
            out Vector512<byte> c4, out Vector512<byte> c5, out Vector512<byte> c6, out Vector512<byte> c7);
        return TPair.PairSum(c0, c1, c2, c3, c4, c5, c6, c7, p, sc);
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
