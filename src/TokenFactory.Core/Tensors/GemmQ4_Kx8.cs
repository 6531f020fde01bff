using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace TokenFactory.Tensors;

/// <summary>
/// Q4_K weights repacked once at load into groups of 8 rows ("Q4_Kx8"), the same 144 bytes per row and 256-block as
/// the file, so one 256-bit <c>vpdpbusd</c> serves 8 rows (see <see cref="LegacyGemmX8"/> for the idea). Per 256-block a
/// group holds the 8 rows' d (fp16 x 8), dmin (fp16 x 8), packed 6-bit scales and mins (the three 32-bit words of
/// each row's 12 bytes, stored word-major: 8 first words, 8 second, 8 third, so SIMD unpacks all rows at once), then for each
/// pair j of 32-element sub-blocks 8 chunks of 32 bytes: chunk c holds bytes 4c..4c+3 of each row's 32 nibble bytes
/// of the pair (low nibbles: sub-block 2j, high: 2j+1), so lane r of a <c>vpdpbusd</c> against 4 broadcast
/// activation codes collects row r's products. Where the 512-bit kernels run (<see cref="UseWide"/>) the codes
/// are packed 8 bytes per row instead: 4 vectors of 64 bytes per pair, each row's 8 bytes holding two chunks of 8
/// nibbles that interleave the pair's two sub-blocks (<see cref="ChunkByte"/>, GemmQ4_Kx8.Wide.cs); the rest of the
/// block is the same.
/// <para>
/// Activations are <see cref="ActivationPacking.Q8_K"/>'s codes (sub-blocks stored in slot order), with each block's
/// scale and sub-block sums (as int16 pairs) laid out by <see cref="LegacyGemmX8.TokenIndex"/>. Per (row, token) every kernel computes the exact integers isum = Σ sc·(q·a) and
/// msum = Σ m·Σa of each 256-block and then <c>f += dw·da·isum − dmin·da·msum</c> in that order, unfused, as
/// <see cref="VecDotScalar.KQuant"/> does: results equal the scalar kernel bit for bit, in any batch.
/// </para>
/// </summary>
internal static unsafe partial class GemmQ4_Kx8
{
    public const int GroupRows = 8;
    public const int BlockBytes = 8 * 144;
    private const int CodesOffset = 128;

    /// <summary>Bytes of <see cref="PrepareGroup"/> output per 256-block: scales and mins (8 x 8 ints each), d and dmin (8 floats each).</summary>
    public const int PreparedBytes = 2 * 8 * 32 + 2 * 32;

    public static bool IsSupported => AvxVnni.IsSupported && Avx2.IsSupported;


    public static int Groups(int rows) => (rows + GroupRows - 1) / GroupRows;

    public static long PackedBytes(int rows, int blocks) => (long)Groups(rows) * blocks * BlockBytes;

    /// <summary>
    /// Repacks <paramref name="rows"/> Q4_K rows (<paramref name="blocks"/> 256-blocks each) into groups of 8, with the
    /// codes in the layout this CPU's kernels read (<see cref="UseWide"/>: 8 bytes per row, else 4).
    /// </summary>
    public static void Pack(byte* src, int rows, long rowBytes, int blocks, byte* dst) => Pack(src, rows, rowBytes, blocks, dst, UseWide);

    /// <summary>As <see cref="Pack(byte*, int, long, int, byte*)"/>, with the codes 8 bytes per row when <paramref name="wide"/>.</summary>
    internal static void Pack(byte* src, int rows, long rowBytes, int blocks, byte* dst, bool wide)
        => Parallel.For(0, Groups(rows), g => PackGroup(src, rows, rowBytes, blocks, g, dst + (long)g * blocks * BlockBytes, wide));

    private static void PackGroup(byte* src, int rows, long rowBytes, int blocks, int g, byte* dst, bool wide)
    {
        const int run = 4; // adjacent code bytes of one row in a chunk (256-bit layout)
        for (int b = 0; b < blocks; b++)
        {
            byte* o = dst + (long)b * BlockBytes;
            new Span<byte>(o, BlockBytes).Clear(); // padding rows stay zero: d = dmin = 0
            for (int r = 0; r < GroupRows; r++)
            {
                int row = g * GroupRows + r;
                if (row >= rows)
                    continue;
                byte* block = src + row * rowBytes + 144L * b;
                *(ushort*)(o + 2 * r) = *(ushort*)block;
                *(ushort*)(o + 16 + 2 * r) = *(ushort*)(block + 2);
                for (int word = 0; word < 3; word++)
                    *(uint*)(o + 32 + 32 * word + 4 * r) = *(uint*)(block + 4 + 4 * word);
                for (int j = 0; j < 4; j++)
                {
                    byte* pair = block + 16 + 32 * j;
                    if (wide)
                    {
                        // Vector q, row r, byte k: chunk 2q's byte k in the low nibble, chunk 2q+1's in the high one.
                        for (int q = 0; q < 4; q++)
                            for (int k = 0; k < 8; k++)
                                o[CodesOffset + 256 * j + 64 * q + 8 * r + k] = (byte)(PairNibble(pair, 2 * q, k) | PairNibble(pair, 2 * q + 1, k) << 4);
                        continue;
                    }
                    for (int c = 0; c < 32 / run; c++)
                        *(uint*)(o + CodesOffset + 256 * j + 8 * run * c + run * r) = *(uint*)(pair + run * c);
                }
            }
        }
    }

    /// <summary>Byte <paramref name="k"/> of chunk <paramref name="c"/> of a pair's 32 file bytes (low nibbles: sub-block 2j, high: 2j+1), see <see cref="ChunkByte"/>.</summary>
    private static int PairNibble(byte* pair, int c, int k)
    {
        (int e, bool high) = ChunkByte(c, k);
        return high ? pair[e] >> 4 : pair[e] & 0x0F;
    }

    /// <summary>
    /// Per 256-block of a group: the 8 rows' sub-block scales and mins as 8 vectors of 8 ints each, then d and dmin
    /// widened; <see cref="PreparedBytes"/> per block, computed once per group and shared by its token tiles.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void PrepareGroup(byte* group, int blocks, byte* prepared)
    {
        for (int b = 0; b < blocks; b++)
            PrepareBlock(group + (long)b * BlockBytes, prepared + (long)b * PreparedBytes);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void PrepareBlock(byte* block, byte* p)
    {
        int* sc = (int*)p, m = sc + 64;
        (Vector256<int> sc03, Vector256<int> sc47, Vector256<int> m03, Vector256<int> m47) = UnpackScales(block);
        Vector256<int> byteMask = Vector256.Create(0xFF);
        for (int s = 0; s < 4; s++)
        {
            ((sc03 >>> (8 * s)) & byteMask).Store(sc + 8 * s);
            ((sc47 >>> (8 * s)) & byteMask).Store(sc + 8 * (s + 4));
        }
        StoreMinsAndScales(block, m03, m47, m, (float*)(p + 512));
    }

    /// <summary>A prepared block's min pairs (4 × 8 ints at <paramref name="m"/>) and its d, dmin widened (8 floats each at <paramref name="d"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StoreMinsAndScales(byte* block, Vector256<int> m03, Vector256<int> m47, int* m, float* d)
    {
        (Vector256<short> p0, Vector256<short> p1, Vector256<short> p2, Vector256<short> p3) = MinPairs(m03, m47);
        p0.AsInt32().Store(m);
        p1.AsInt32().Store(m + 8);
        p2.AsInt32().Store(m + 16);
        p3.AsInt32().Store(m + 24);
        HalfVectors.FiniteToSingle((ushort*)block).Store(d);
        HalfVectors.FiniteToSingle((ushort*)(block + 16)).Store(d + 8);
    }

    /// <summary>Pulls block <paramref name="b"/> of the next group into L2 while a tile computes on this one.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void PrefetchNextBlock(byte* next, int b)
    {
        for (int line = 0; line < BlockBytes; line += 64)
            Sse.Prefetch1(next + (long)b * BlockBytes + line);
    }

    /// <summary>
    /// Adds a 256-block's contribution for 8 tokens to the tile's float results <paramref name="f"/> (8 per token),
    /// from each token's isum and the prepared block's min pairs <paramref name="m"/> and d, dmin <paramref name="dd"/>;
    /// <paramref name="da"/> and <paramref name="sums"/> point at the block's first token (<see cref="LegacyGemmX8.TokenIndex"/>).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void FinishBlock(float* f, int* m, float* dd, float* da, int* sums,
        Vector256<int> s0, Vector256<int> s1, Vector256<int> s2, Vector256<int> s3, Vector256<int> s4, Vector256<int> s5, Vector256<int> s6, Vector256<int> s7, int tokens = 8)
    {
        Vector256<short> m0 = Vector256.Load(m).AsInt16(), m1 = Vector256.Load(m + 8).AsInt16(), m2 = Vector256.Load(m + 16).AsInt16(), m3 = Vector256.Load(m + 24).AsInt16();
        Vector256<float> dw = Vector256.Load(dd), dmin = Vector256.Load(dd + 8);
        FinishToken(f, s0, m0, m1, m2, m3, sums, da, dw, dmin);
        FinishToken(f + 8, s1, m0, m1, m2, m3, sums + 4, da + 1, dw, dmin);
        if (tokens > 2)
            FinishToken(f + 16, s2, m0, m1, m2, m3, sums + 8, da + 2, dw, dmin);
        if (tokens > 3)
            FinishToken(f + 24, s3, m0, m1, m2, m3, sums + 12, da + 3, dw, dmin);
        if (tokens > 4)
            FinishToken(f + 32, s4, m0, m1, m2, m3, sums + 16, da + 4, dw, dmin);
        if (tokens > 5)
            FinishToken(f + 40, s5, m0, m1, m2, m3, sums + 20, da + 5, dw, dmin);
        if (tokens > 6)
            FinishToken(f + 48, s6, m0, m1, m2, m3, sums + 24, da + 6, dw, dmin);
        if (tokens > 7)
            FinishToken(f + 56, s7, m0, m1, m2, m3, sums + 28, da + 7, dw, dmin);
    }

    /// <summary>
    /// get_scale_min_k4 for 8 rows at once, each row's 8 six-bit scales and mins packed 4 to a lane: sub-blocks 0-3
    /// in the low 6 bits of the bytes of word 0 (scales) and word 1 (mins); 4-7 from word 2's nibbles with the top 2
    /// bits taken from words 0 and 1.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (Vector256<int> Sc03, Vector256<int> Sc47, Vector256<int> M03, Vector256<int> M47) UnpackScales(byte* block)
    {
        Vector256<uint> u0 = Vector256.Load((uint*)(block + 32)), u1 = Vector256.Load((uint*)(block + 64)), u2 = Vector256.Load((uint*)(block + 96));
        Vector256<uint> k3f = Vector256.Create(0x3f3f3f3fu), k0f = Vector256.Create(0x0f0f0f0fu), k03 = Vector256.Create(0x03030303u);
        return ((u0 & k3f).AsInt32(), ((u2 & k0f) | (((u0 >> 6) & k03) << 4)).AsInt32(),
            (u1 & k3f).AsInt32(), (((u2 >> 4) & k0f) | (((u1 >> 6) & k03) << 4)).AsInt32());
    }

    /// <summary>The mins as int16 pairs (sub-blocks 2p, 2p+1) per row lane, for <c>vpdpwssd</c> against the activations' pair sums.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (Vector256<short>, Vector256<short>, Vector256<short>, Vector256<short>) MinPairs(Vector256<int> m03, Vector256<int> m47)
    {
        Vector256<int> lowPair = Vector256.Create(0x000000FF), highPair = Vector256.Create(0x00FF0000);
        return (((m03 & lowPair) | ((m03 << 8) & highPair)).AsInt16(), (((m03 >>> 16) & lowPair) | ((m03 >>> 8) & highPair)).AsInt16(),
            ((m47 & lowPair) | ((m47 << 8) & highPair)).AsInt16(), (((m47 >>> 16) & lowPair) | ((m47 >>> 8) & highPair)).AsInt16());
    }

    /// <summary>
    /// msum = Σ_s m_s · (token's sum of sub-block s) for 8 rows, mins and sums as int16 pairs (exact: mins ≤ 63 and
    /// sub-block sums ≤ 32·127 in magnitude fit int16; <c>vpdpwssd</c> adds each pair in int32).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> MinSum(Vector256<short> m0, Vector256<short> m1, Vector256<short> m2, Vector256<short> m3, int* sums)
    {
        Vector256<int> msum = PairDot(Vector256<int>.Zero, m0, Vector256.Create(sums[0]).AsInt16());
        msum = PairDot(msum, m1, Vector256.Create(sums[1]).AsInt16());
        msum = PairDot(msum, m2, Vector256.Create(sums[2]).AsInt16());
        return PairDot(msum, m3, Vector256.Create(sums[3]).AsInt16());
    }

    /// <summary>
    /// <c>acc + Σ a·b</c> over each int32 lane's two int16 pairs: <c>vpdpwssd</c> where AVX-VNNI runs, else
    /// <c>vpmaddwd</c> and an add (the same exact integers), so the 512-bit kernels also run on AVX-512 CPUs without
    /// AVX-VNNI (Zen 4, Ice Lake).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector256<int> PairDot(Vector256<int> acc, Vector256<short> a, Vector256<short> b)
        => AvxVnni.IsSupported ? AvxVnni.MultiplyWideningAndAdd(acc, a, b) : acc + Avx2.MultiplyAddAdjacent(a, b);

    /// <summary>One 256-block's contribution as the scalar kernel computes it: <c>(dw·da)·isum − (dmin·da)·msum</c>, unfused.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> BlockTerm(Vector256<int> isum, Vector256<int> msum, float da, Vector256<float> dw, Vector256<float> dmin)
    {
        Vector256<float> vda = Vector256.Create(da);
        return (dw * vda) * Avx.ConvertToVector256Single(isum) - (dmin * vda) * Avx.ConvertToVector256Single(msum);
    }

    /// <summary>
    /// 8 rows x 8 tokens: <c>o[t·stride + r] = W[r] · a[t]</c>. Token t's codes are at <c>a + t·k</c>; block b's scale
    /// of token t is <c>da[8b + t]</c> and its sub-block sums (4 ints of int16 pairs) start at <c>sums + 32b + 4t</c>
    /// (the activations are laid out by <see cref="LegacyGemmX8.TokenIndex"/>); <paramref name="prepared"/> comes from
    /// <see cref="PrepareGroup"/>; <paramref name="next"/>, when not null, is the group to prefetch meanwhile.
    /// <para>
    /// The JIT encodes the accumulating <c>vpdpbusd</c> with its destination in ymm0-15 only; with more vectors live
    /// it shuttles accumulators through a low register (two moves per <c>vpdpbusd</c>). So the inner loop keeps just
    /// the 8 accumulators, the weight chunk and a broadcast, the float results live in a stack tile read and written
    /// once per block, and the tokens' finishing steps use constant offsets (activations laid out by token run).
    /// This took the kernel from ~128 to ~170 GMAC/s per core (5632x2048, 64-256 tokens).
    /// </para>
    /// </summary>
    public static void Tile8x8(byte* group, byte* prepared, sbyte* a, int k, float* da, int* sums, int blocks, float* o, int stride, byte* next)
        => Tile<Tokens8>(group, prepared, a, k, da, sums, blocks, o, stride, next);

    /// <summary>
    /// 8 rows × <paramref name="count"/> (2-7) tokens t0.. of an 8-token run (t0 % 8 + count ≤ 8), as <see cref="Tile8x8"/> with only
    /// those tokens' products: the 256-bit layout's tile for a few sequences decoding or a mixture expert's few tokens.
    /// </summary>
    public static void TileFew(byte* group, byte* prepared, sbyte* a, int k, float* da, int* sums, int blocks, float* o, int stride, byte* next, int count)
    {
        switch (count)
        {
            case 2: Tile<Tokens2>(group, prepared, a, k, da, sums, blocks, o, stride, next); break;
            case 3: Tile<Tokens3>(group, prepared, a, k, da, sums, blocks, o, stride, next); break;
            case 4: Tile<Tokens4>(group, prepared, a, k, da, sums, blocks, o, stride, next); break;
            case 5: Tile<Tokens5>(group, prepared, a, k, da, sums, blocks, o, stride, next); break;
            case 6: Tile<Tokens6>(group, prepared, a, k, da, sums, blocks, o, stride, next); break;
            case 7: Tile<Tokens7>(group, prepared, a, k, da, sums, blocks, o, stride, next); break;
            default: throw new ArgumentOutOfRangeException(nameof(count), count, "a few-token tile takes 2 to 7 tokens");
        }
    }

    /// <summary>The 256-bit tile for <typeparamref name="TTokens"/>' count of tokens, compiled per count (each token finishes on its own, so nothing past the count is read).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Tile<TTokens>(byte* group, byte* prepared, sbyte* a, int k, float* da, int* sums, int blocks, float* o, int stride, byte* next)
        where TTokens : struct, ITileTokens
    {
        float* f = stackalloc float[64];
        Vector256<int> s0 = default, s1 = default, s2 = default, s3 = default, s4 = default, s5 = default, s6 = default, s7 = default;
        for (int t = 0; t < 8; t++)
            Vector256<float>.Zero.Store(f + 8 * t);
        nint kk = k;
        for (int b = 0; b < blocks; b++)
        {
            byte* codes = group + (long)b * BlockBytes + CodesOffset;
            if (next != null)
                PrefetchNextBlock(next, b);
            int* sc = (int*)(prepared + (long)b * PreparedBytes);
            sbyte* ab = a + 256 * b;
            // Sub-block pair j sits at codes + 256j: low nibbles are sub-block 2j, high nibbles 2j+1. Written out so
            // every offset is a constant.
            SubBlock<TTokens>(codes, ab + 32 * ActivationPacking.SubBlockSlot(0), kk, Vector256.Load(sc), high: false, first: true, ref s0, ref s1, ref s2, ref s3, ref s4, ref s5, ref s6, ref s7);
            SubBlock<TTokens>(codes, ab + 32 * ActivationPacking.SubBlockSlot(1), kk, Vector256.Load(sc + 8), high: true, first: false, ref s0, ref s1, ref s2, ref s3, ref s4, ref s5, ref s6, ref s7);
            SubBlock<TTokens>(codes + 256, ab + 32 * ActivationPacking.SubBlockSlot(2), kk, Vector256.Load(sc + 16), high: false, first: false, ref s0, ref s1, ref s2, ref s3, ref s4, ref s5, ref s6, ref s7);
            SubBlock<TTokens>(codes + 256, ab + 32 * ActivationPacking.SubBlockSlot(3), kk, Vector256.Load(sc + 24), high: true, first: false, ref s0, ref s1, ref s2, ref s3, ref s4, ref s5, ref s6, ref s7);
            SubBlock<TTokens>(codes + 512, ab + 32 * ActivationPacking.SubBlockSlot(4), kk, Vector256.Load(sc + 32), high: false, first: false, ref s0, ref s1, ref s2, ref s3, ref s4, ref s5, ref s6, ref s7);
            SubBlock<TTokens>(codes + 512, ab + 32 * ActivationPacking.SubBlockSlot(5), kk, Vector256.Load(sc + 40), high: true, first: false, ref s0, ref s1, ref s2, ref s3, ref s4, ref s5, ref s6, ref s7);
            SubBlock<TTokens>(codes + 768, ab + 32 * ActivationPacking.SubBlockSlot(6), kk, Vector256.Load(sc + 48), high: false, first: false, ref s0, ref s1, ref s2, ref s3, ref s4, ref s5, ref s6, ref s7);
            SubBlock<TTokens>(codes + 768, ab + 32 * ActivationPacking.SubBlockSlot(7), kk, Vector256.Load(sc + 56), high: true, first: false, ref s0, ref s1, ref s2, ref s3, ref s4, ref s5, ref s6, ref s7);
            FinishBlock(f, sc + 64, (float*)(prepared + (long)b * PreparedBytes + 512), da + 8 * b, sums + 32 * b, s0, s1, s2, s3, s4, s5, s6, s7, TTokens.Count);
        }
        for (int t = 0; t < TTokens.Count; t++)
            Vector256.Load(f + 8 * t).Store(o + t * stride);
    }

    /// <summary>One sub-block for the tile's tokens: <c>s[t] (+)= scale · (codes · a[t])</c>, nibbles chosen by <paramref name="high"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void SubBlock<TTokens>(byte* w, sbyte* p, nint kk, Vector256<int> scale, bool high, bool first,
        ref Vector256<int> s0, ref Vector256<int> s1, ref Vector256<int> s2, ref Vector256<int> s3, ref Vector256<int> s4, ref Vector256<int> s5, ref Vector256<int> s6, ref Vector256<int> s7)
        where TTokens : struct, ITileTokens
    {
        int n = TTokens.Count;
        Vector256<int> i0 = default, i1 = default, i2 = default, i3 = default, i4 = default, i5 = default, i6 = default, i7 = default;
        for (int c = 0; c < 8; c++, w += 32, p += 4)
        {
            Vector256<byte> x = Vector256.Load(w);
            x = (high ? (x.AsUInt16() >>> 4).AsByte() : x) & Vector256.Create((byte)0x0F);
            i0 = LegacyGemmX8.Dot4(i0, x, p);
            i1 = LegacyGemmX8.Dot4(i1, x, p + kk);
            if (n > 2)
                i2 = LegacyGemmX8.Dot4(i2, x, p + 2 * kk);
            if (n > 3)
                i3 = LegacyGemmX8.Dot4(i3, x, p + 3 * kk);
            if (n > 4)
                i4 = LegacyGemmX8.Dot4(i4, x, p + 4 * kk);
            if (n > 5)
                i5 = LegacyGemmX8.Dot4(i5, x, p + 5 * kk);
            if (n > 6)
                i6 = LegacyGemmX8.Dot4(i6, x, p + 6 * kk);
            if (n > 7)
                i7 = LegacyGemmX8.Dot4(i7, x, p + 7 * kk);
        }
        if (first)
        {
            s0 = i0 * scale; s1 = i1 * scale; s2 = i2 * scale; s3 = i3 * scale;
            s4 = i4 * scale; s5 = i5 * scale; s6 = i6 * scale; s7 = i7 * scale;
            return;
        }
        s0 += i0 * scale; s1 += i1 * scale; s2 += i2 * scale; s3 += i3 * scale;
        s4 += i4 * scale; s5 += i5 * scale; s6 += i6 * scale; s7 += i7 * scale;
    }

    /// <summary>One token's 256-block contribution added to its 8 float results (see <see cref="BlockTerm"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void FinishToken(float* f, Vector256<int> isum, Vector256<short> m0, Vector256<short> m1, Vector256<short> m2, Vector256<short> m3,
        int* sums, float* da, Vector256<float> dw, Vector256<float> dmin)
        => (Vector256.Load(f) + BlockTerm(isum, MinSum(m0, m1, m2, m3, sums), *da, dw, dmin)).Store(f);

    /// <summary>
    /// 8 rows x 1 token (decode), streaming the group once; same lane arithmetic as <see cref="Tile8x8"/>. The token's
    /// block b scale is <c>da[8b]</c> and its sums start at <c>sums + 32b</c> (the tile layout).
    /// <para>
    /// Decode is bound by memory, so this keeps its compute well under the stream: the four sub-block pairs run side
    /// by side (8 independent accumulators instead of 2 dependency chains), high nibbles are masked in place (16q, the
    /// factor taken out exactly once per block by a shift) instead of shifted per chunk, and the scales are unpacked
    /// in registers.
    /// </para>
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Group8x1(byte* group, sbyte* a, float* da, int* sums, int blocks, float* o)
    {
        Vector256<byte> low4 = Vector256.Create((byte)0x0F), high4 = Vector256.Create((byte)0xF0);
        Vector256<float> f = default;
        int ahead = WeightPrefetch.Distance;
        for (int b = 0; b < blocks; b++)
        {
            byte* block = group + (long)b * BlockBytes;
            PrefetchBlock(block + ahead);
            byte* w = block + CodesOffset;
            sbyte* p = a + 256 * b;
            Vector256<int> l0 = default, l1 = default, l2 = default, l3 = default, h0 = default, h1 = default, h2 = default, h3 = default;
            for (int c = 0; c < 8; c++, w += 32, p += 4)
            {
                Vector256<byte> x0 = Vector256.Load(w), x1 = Vector256.Load(w + 256), x2 = Vector256.Load(w + 512), x3 = Vector256.Load(w + 768);
                l0 = LegacyGemmX8.Dot4(l0, x0 & low4, p + 32 * ActivationPacking.SubBlockSlot(0));
                h0 = LegacyGemmX8.Dot4(h0, x0 & high4, p + 32 * ActivationPacking.SubBlockSlot(1));
                l1 = LegacyGemmX8.Dot4(l1, x1 & low4, p + 32 * ActivationPacking.SubBlockSlot(2));
                h1 = LegacyGemmX8.Dot4(h1, x1 & high4, p + 32 * ActivationPacking.SubBlockSlot(3));
                l2 = LegacyGemmX8.Dot4(l2, x2 & low4, p + 32 * ActivationPacking.SubBlockSlot(4));
                h2 = LegacyGemmX8.Dot4(h2, x2 & high4, p + 32 * ActivationPacking.SubBlockSlot(5));
                l3 = LegacyGemmX8.Dot4(l3, x3 & low4, p + 32 * ActivationPacking.SubBlockSlot(6));
                h3 = LegacyGemmX8.Dot4(h3, x3 & high4, p + 32 * ActivationPacking.SubBlockSlot(7));
            }
            // Scales as PrepareBlock unpacks them, kept in registers.
            (Vector256<int> sc03, Vector256<int> sc47, Vector256<int> m03, Vector256<int> m47) = UnpackScales(block);
            Vector256<int> mask = Vector256.Create(0xFF);
            Vector256<int> lows = l0 * (sc03 & mask) + l1 * ((sc03 >>> 16) & mask) + l2 * (sc47 & mask) + l3 * ((sc47 >>> 16) & mask);
            Vector256<int> highs = h0 * ((sc03 >>> 8) & mask) + h1 * (sc03 >>> 24) + h2 * ((sc47 >>> 8) & mask) + h3 * (sc47 >>> 24);
            Vector256<int> isum = lows + (highs >> 4); // exact: every high product carries the factor 16
            f += DecodeBlockTerm(block, isum, m03, m47, sums + 32 * b, da[8 * b]);
        }
        f.Store(o);
    }

    /// <summary>
    /// A decode kernel's block contribution (<see cref="BlockTerm"/>) from the block's isum and its packed mins, d and
    /// dmin, with the token's block scale <paramref name="da"/> and sub-block sums at <paramref name="sums"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> DecodeBlockTerm(byte* block, Vector256<int> isum, Vector256<int> m03, Vector256<int> m47, int* sums, float da)
    {
        (Vector256<short> p0, Vector256<short> p1, Vector256<short> p2, Vector256<short> p3) = MinPairs(m03, m47);
        Vector256<float> dw = HalfVectors.FiniteToSingle((ushort*)block), dmin = HalfVectors.FiniteToSingle((ushort*)(block + 16));
        return BlockTerm(isum, MinSum(p0, p1, p2, p3, sums), da, dw, dmin);
    }

    /// <summary>Prefetches one group block (18 cache lines) for a single read (<see cref="WeightPrefetch"/>), written out: a loop costs as many instructions again.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void PrefetchBlock(byte* p)
    {
        WeightPrefetch.Line(p); WeightPrefetch.Line(p + 64); WeightPrefetch.Line(p + 128); WeightPrefetch.Line(p + 192); WeightPrefetch.Line(p + 256); WeightPrefetch.Line(p + 320);
        WeightPrefetch.Line(p + 384); WeightPrefetch.Line(p + 448); WeightPrefetch.Line(p + 512); WeightPrefetch.Line(p + 576); WeightPrefetch.Line(p + 640); WeightPrefetch.Line(p + 704);
        WeightPrefetch.Line(p + 768); WeightPrefetch.Line(p + 832); WeightPrefetch.Line(p + 896); WeightPrefetch.Line(p + 960); WeightPrefetch.Line(p + 1024); WeightPrefetch.Line(p + 1088);
    }
}
