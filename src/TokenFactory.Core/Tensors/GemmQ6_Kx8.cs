using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace TokenFactory.Tensors;

/// <summary>
/// Q6_K weights (the output matrix and some attention-value and feed-forward-down matrices of every Q4_K_M file)
/// repacked once at load into groups of 8 rows for 512-bit kernels, as <see cref="GemmQ4_Kx8"/> does for Q4_K: the row
/// kernels (<see cref="VecDot"/>) ran prefill at about a sixth of the Q4_K tile's rate and half llama.cpp's pp512.
/// <para>
/// A group's 256-block keeps the file's 8 × 210 bytes: the 8 rows' fp16 d (16 bytes), their int8 sub-block scales
/// ordered by quad (32 elements, two 16-element sub-blocks): quad q holds sc_2q, sc_2q+1 of row 0, then of row 1, …
/// (128 bytes), then 8 quads of codes (6 bits as stored, 0..63, the file's value + 32) of 192 bytes each: two vectors
/// of 64 bytes with the low 4 bits of chunks 0/1 and 2/3 as nibbles, and one with the top 2 bits of all four chunks
/// (chunk c in bits 2c, 2c+1). A chunk is 8 bytes per row (<see cref="ChunkByte"/>): elements e, e+1 of the quad's low
/// sub-block, e, e+1 of its high one, e+2, e+3 of each, for e = 4c, so <c>vpmaddubsw</c> leaves a row's int16 lanes
/// alternating between the two sub-blocks and one <c>vpmaddwd</c> per two chunks applies both scales.
/// </para>
/// <para>
/// Activations are Q8_K codes in the same chunk order (<see cref="ActivationPacking.Q8_KQuads"/>) with, per block, the
/// 16-element sums as int16 pairs (one int per quad). Per (row, token) every kernel computes the exact integer
/// isum = Σ sc·(code·a) − 32·Σ sc·bsum of each 256-block and then <c>f += (d·da)·isum</c>, as the row kernels do, so
/// results equal them bit for bit in any batch. The int16 sums are exact: two <c>vpmaddubsw</c> add 4 products of a code
/// (≤ 63) and an activation (|a| ≤ 127), at most 32004.
/// </para>
/// </summary>
internal static unsafe class GemmQ6_Kx8
{
    public const int GroupRows = 8;
    public const int BlockBytes = 8 * 210;
    private const int ScalesOffset = 16, CodesOffset = 144, QuadBytes = 192;

    /// <summary>AVX-512BW for the 512-bit byte and word multiplies; AVX-VNNI and GFNI are used where present.</summary>
    public static bool IsSupported => Avx512BW.IsSupported && Avx512F.IsSupported;

    public static long PackedBytes(int rows, int blocks) => (long)LegacyGemmX8.Groups(rows) * blocks * BlockBytes;

    /// <summary>
    /// Byte <paramref name="k"/> (0-7) of chunk <paramref name="c"/> (0-3) of a quad, for weights and activations alike:
    /// its element within the 16-element sub-block and whether that is the quad's high sub-block.
    /// </summary>
    internal static (int Element, bool High) ChunkByte(int c, int k) => (4 * c + 2 * (k >> 2) + (k & 1), (k & 2) != 0);

    /// <summary>Repacks <paramref name="rows"/> Q6_K rows (<paramref name="blocks"/> 256-blocks each) into groups of 8.</summary>
    public static void Pack(byte* src, int rows, long rowBytes, int blocks, byte* dst)
        => Parallel.For(0, LegacyGemmX8.Groups(rows), g => PackGroup(src, rows, rowBytes, blocks, g, dst + (long)g * blocks * BlockBytes));

    private static void PackGroup(byte* src, int rows, long rowBytes, int blocks, int g, byte* dst)
    {
        byte* q = stackalloc byte[256];
        ReadOnlySpan<byte> element = s_chunkElement;
        for (int b = 0; b < blocks; b++)
        {
            byte* o = dst + (long)b * BlockBytes;
            new Span<byte>(o, BlockBytes).Clear(); // padding rows: d = 0, scales 0
            for (int r = 0; r < GroupRows; r++)
            {
                int row = g * GroupRows + r;
                if (row >= rows)
                    continue;
                byte* block = src + row * rowBytes + 210L * b;
                *(ushort*)(o + 2 * r) = *(ushort*)(block + 208);
                for (int quad = 0; quad < 8; quad++)
                {
                    o[ScalesOffset + 16 * quad + 2 * r] = block[192 + 2 * quad];
                    o[ScalesOffset + 16 * quad + 2 * r + 1] = block[192 + 2 * quad + 1];
                }
                // The file's stored codes (value + 32): element 128h + 32run + l takes nibble run/2 of ql[64h + 32(run%2) + l]
                // and bits 2run, 2run+1 of qh[32h + l] as its top two.
                for (int i = 0; i < 256; i++)
                {
                    int h = i >> 7, run = (i & 127) >> 5, l = i & 31;
                    int low = (block[64 * h + l + 32 * (run & 1)] >> (4 * (run >> 1))) & 0xF;
                    q[i] = (byte)(low | ((block[128 + 32 * h + l] >> (2 * run)) & 3) << 4);
                }
                for (int quad = 0; quad < 8; quad++)
                {
                    byte* codes = q + 32 * quad, w = o + CodesOffset + QuadBytes * quad + 8 * r;
                    for (int k = 0; k < 8; k++)
                    {
                        int u0 = codes[element[k]], u1 = codes[element[8 + k]], u2 = codes[element[16 + k]], u3 = codes[element[24 + k]];
                        w[k] = (byte)((u0 & 15) | (u1 & 15) << 4);
                        w[64 + k] = (byte)((u2 & 15) | (u3 & 15) << 4);
                        w[128 + k] = (byte)(u0 >> 4 | (u1 >> 4) << 2 | (u2 >> 4) << 4 | (u3 >> 4) << 6);
                    }
                }
            }
        }
    }

    // Byte k of chunk c of a quad: its element's index among the quad's 32 (see ChunkByte).
    private static readonly byte[] s_chunkElement = ChunkElements();

    private static byte[] ChunkElements()
    {
        var map = new byte[32];
        for (int c = 0; c < 4; c++)
            for (int k = 0; k < 8; k++)
            {
                (int e, bool high) = ChunkByte(c, k);
                map[8 * c + k] = (byte)((high ? 16 : 0) + e);
            }
        return map;
    }

    /// <summary>
    /// 8 rows × 8 tokens: <c>o[t·stride + r] = W[r] · a[t]</c>. Token t's codes are at <c>a + t·k</c>; block b's scale
    /// of token t is <c>da[8b + t]</c> and its 16-element sums (8 ints of int16 pairs) start at <c>sums + 64b + 8t</c>
    /// (<see cref="LegacyGemmX8.TokenIndex"/>); <paramref name="next"/>, when not null, is the group to prefetch meanwhile.
    /// </summary>
    public static void Tile8x8(byte* group, sbyte* a, int k, float* da, int* sums, int blocks, float* o, int stride, byte* next)
        => Tile<Tokens8>(group, a, k, da, sums, blocks, o, stride, next);

    /// <summary>
    /// 8 rows × <paramref name="count"/> (2-7) tokens t0.. of an 8-token run (t0 % 8 + count rounded up to even ≤ 8: an odd count's
    /// last pair reads the next token's scale and sums, never stored), as <see cref="Tile8x8"/> with
    /// only those tokens' products (a few sequences decoding, the few tokens a mixture's expert gets of a prompt).
    /// </summary>
    public static void TileFew(byte* group, sbyte* a, int k, float* da, int* sums, int blocks, float* o, int stride, byte* next, int count)
    {
        switch (count)
        {
            case 2: Tile<Tokens2>(group, a, k, da, sums, blocks, o, stride, next); break;
            case 3: Tile<Tokens3>(group, a, k, da, sums, blocks, o, stride, next); break;
            case 4: Tile<Tokens4>(group, a, k, da, sums, blocks, o, stride, next); break;
            case 5: Tile<Tokens5>(group, a, k, da, sums, blocks, o, stride, next); break;
            case 6: Tile<Tokens6>(group, a, k, da, sums, blocks, o, stride, next); break;
            case 7: Tile<Tokens7>(group, a, k, da, sums, blocks, o, stride, next); break;
            default: throw new ArgumentOutOfRangeException(nameof(count), count, "a few-token tile takes 2 to 7 tokens");
        }
    }

    /// <summary>The tile for <typeparamref name="TTokens"/>' count of tokens, compiled per count; an odd count's last pair finishes a lane pair it never stores.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Tile<TTokens>(byte* group, sbyte* a, int k, float* da, int* sums, int blocks, float* o, int stride, byte* next)
        where TTokens : struct, ITileTokens
    {
        int n = TTokens.Count;
        float* f = stackalloc float[64];
        for (int t = 0; t < 64; t += 16)
            Vector512<float>.Zero.Store(f + t);
        nint kk = k;
        for (int b = 0; b < blocks; b++)
        {
            byte* block = group + (long)b * BlockBytes;
            if (next != null)
                PrefetchBlockL2(next + (long)b * BlockBytes);
            sbyte* ab = a + 256 * b;
            Vector512<int> s0 = default, s1 = default, s2 = default, s3 = default, s4 = default, s5 = default, s6 = default, s7 = default;
            for (int quad = 0; quad < 8; quad++)
            {
                Chunks(block + CodesOffset + QuadBytes * quad, out Vector512<byte> c0, out Vector512<byte> c1, out Vector512<byte> c2, out Vector512<byte> c3);
                Vector512<short> sc = QuadScales(block + ScalesOffset + 16 * quad);
                sbyte* p = ab + 32 * quad;
                s0 += QuadSum(c0, c1, c2, c3, p, sc);
                s1 += QuadSum(c0, c1, c2, c3, p + kk, sc);
                if (n > 2)
                    s2 += QuadSum(c0, c1, c2, c3, p + 2 * kk, sc);
                if (n > 3)
                    s3 += QuadSum(c0, c1, c2, c3, p + 3 * kk, sc);
                if (n > 4)
                    s4 += QuadSum(c0, c1, c2, c3, p + 4 * kk, sc);
                if (n > 5)
                    s5 += QuadSum(c0, c1, c2, c3, p + 5 * kk, sc);
                if (n > 6)
                    s6 += QuadSum(c0, c1, c2, c3, p + 6 * kk, sc);
                if (n > 7)
                    s7 += QuadSum(c0, c1, c2, c3, p + 7 * kk, sc);
            }
            FinishBlock(f, block, da + 8 * b, sums + 64 * b, s0, s1, s2, s3, s4, s5, s6, s7, n);
        }
        for (int t = 0; t < n; t++)
            Vector256.Load(f + 8 * t).Store(o + t * stride);
    }

    /// <summary>A block's contributions <c>(d·da)·isum</c> for the tile's tokens (pairs up to <paramref name="tokens"/>), two tokens per vector, the scale pairs read once.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void FinishBlock(float* f, byte* block, float* da, int* sums,
        Vector512<int> s0, Vector512<int> s1, Vector512<int> s2, Vector512<int> s3, Vector512<int> s4, Vector512<int> s5, Vector512<int> s6, Vector512<int> s7, int tokens = 8)
    {
        Vector256<float> dw = HalfVectors.FiniteToSingle((ushort*)block);
        Vector512<float> dw2 = Vector512.Create(dw, dw);
        byte* scales = block + ScalesOffset;
        var p = new PairScaleSet(PairScales(scales), PairScales(scales + 16), PairScales(scales + 32), PairScales(scales + 48),
            PairScales(scales + 64), PairScales(scales + 80), PairScales(scales + 96), PairScales(scales + 112));
        FinishTwo(f, s0, s1, p, sums, da, dw2);
        if (tokens > 2)
            FinishTwo(f + 16, s2, s3, p, sums + 16, da + 2, dw2);
        if (tokens > 4)
            FinishTwo(f + 32, s4, s5, p, sums + 32, da + 4, dw2);
        if (tokens > 6)
            FinishTwo(f + 48, s6, s7, p, sums + 48, da + 6, dw2);
    }

    /// <summary>The 8 quads' scale pairs of a block (<see cref="PairScales"/>).</summary>
    private readonly struct PairScaleSet(Vector256<short> q0, Vector256<short> q1, Vector256<short> q2, Vector256<short> q3,
        Vector256<short> q4, Vector256<short> q5, Vector256<short> q6, Vector256<short> q7)
    {
        public readonly Vector256<short> Q0 = q0, Q1 = q1, Q2 = q2, Q3 = q3, Q4 = q4, Q5 = q5, Q6 = q6, Q7 = q7;

        /// <summary>
        /// Σ over the block's 16 sub-blocks of sc·bsum for 8 rows (int32 lane r): per quad one <c>vpdpwssd</c> of the
        /// rows' scale pairs against the token's pair of 16-element sums (exact: |sc| ≤ 128, |bsum| ≤ 16·127; <see cref="GemmQ4_Kx8.PairDot"/>).
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public Vector256<int> ScaledSums(int* sums)
        {
            Vector256<int> acc = GemmQ4_Kx8.PairDot(Vector256<int>.Zero, Q0, Vector256.Create(sums[0]).AsInt16());
            acc = GemmQ4_Kx8.PairDot(acc, Q1, Vector256.Create(sums[1]).AsInt16());
            acc = GemmQ4_Kx8.PairDot(acc, Q2, Vector256.Create(sums[2]).AsInt16());
            acc = GemmQ4_Kx8.PairDot(acc, Q3, Vector256.Create(sums[3]).AsInt16());
            acc = GemmQ4_Kx8.PairDot(acc, Q4, Vector256.Create(sums[4]).AsInt16());
            acc = GemmQ4_Kx8.PairDot(acc, Q5, Vector256.Create(sums[5]).AsInt16());
            acc = GemmQ4_Kx8.PairDot(acc, Q6, Vector256.Create(sums[6]).AsInt16());
            return GemmQ4_Kx8.PairDot(acc, Q7, Vector256.Create(sums[7]).AsInt16());
        }
    }

    /// <summary>
    /// Two tokens' block contributions <c>(d·da)·isum</c> added to their 16 results at <paramref name="f"/> (the first
    /// token's 8 rows, then the second's), isum being the row sums of <paramref name="sa"/> / <paramref name="sb"/>
    /// (row r in int32 lanes 2r, 2r+1) less 32·Σ sc·bsum.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void FinishTwo(float* f, Vector512<int> sa, Vector512<int> sb, in PairScaleSet p, int* sums, float* da, Vector512<float> dw2)
    {
        Vector512<int> rows = Avx512F.PermuteVar16x32x2(sa, s_evenLanes, sb) + Avx512F.PermuteVar16x32x2(sa, s_oddLanes, sb);
        Vector512<int> offsets = Vector512.Create(p.ScaledSums(sums), p.ScaledSums(sums + 8));
        Vector512<int> isum = rows - (offsets << 5);
        Vector512<float> vda = Vector512.Create(Vector256.Create(da[0]), Vector256.Create(da[1]));
        (Vector512.Load(f) + (dw2 * vda) * Avx512F.ConvertToVector512Single(isum)).Store(f);
    }

    // vpermt2d indices: the even (odd) int32 lanes of the first vector, then those of the second.
    private static readonly Vector512<int> s_evenLanes = Vector512.Create(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    private static readonly Vector512<int> s_oddLanes = Vector512.Create(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);

    // vpermd indices that give each row's int16 scale pair to both of its int32 lanes.
    private static readonly Vector512<int> s_pairTwice = Vector512.Create(0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7);

    /// <summary>Σ sc·bsum of a block's 16 sub-blocks for 8 rows, reading the scale pairs from the block (decode: one token).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> ScaledSums(byte* scales, int* sums)
        => new PairScaleSet(PairScales(scales), PairScales(scales + 16), PairScales(scales + 32), PairScales(scales + 48),
            PairScales(scales + 64), PairScales(scales + 80), PairScales(scales + 96), PairScales(scales + 112)).ScaledSums(sums);

    /// <summary>A quad's scale pairs, row r's (sc_2q, sc_2q+1) in int16 lanes 2r, 2r+1 (sign-extended from the packed bytes).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<short> PairScales(byte* s) => Avx2.ConvertToVector256Int16((sbyte*)s);

    /// <summary>A quad's scales where <see cref="QuadSum"/> needs them: row r's int16 lanes 4r..4r+3 = (sc_2q, sc_2q+1, sc_2q, sc_2q+1).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<short> QuadScales(byte* s) => Avx512F.PermuteVar16x32(PairScales(s).AsInt32().ToVector512Unsafe(), s_pairTwice).AsInt16();

    /// <summary>
    /// One token's quad: Σ over its two sub-blocks of sc·(codes · a), as int32 with row r in lanes 2r and 2r+1; chunk c's
    /// activation codes are the 8 bytes at <c>p + 8c</c>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<int> QuadSum(Vector512<byte> c0, Vector512<byte> c1, Vector512<byte> c2, Vector512<byte> c3, sbyte* p, Vector512<short> sc)
        => Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(c0, GemmQ4_Kx8.Codes8(p)) + Avx512BW.MultiplyAddAdjacent(c1, GemmQ4_Kx8.Codes8(p + 8)), sc)
            + Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(c2, GemmQ4_Kx8.Codes8(p + 16)) + Avx512BW.MultiplyAddAdjacent(c3, GemmQ4_Kx8.Codes8(p + 24)), sc);

    /// <summary>A quad's 4 chunk vectors (8 rows × 8 codes each) from its 192 packed bytes at <paramref name="w"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Chunks(byte* w, out Vector512<byte> c0, out Vector512<byte> c1, out Vector512<byte> c2, out Vector512<byte> c3)
    {
        Vector512<byte> low4 = Vector512.Create((byte)0x0F);
        Vector512<byte> n0 = Vector512.Load(w), n1 = Vector512.Load(w + 64), hi = Vector512.Load(w + 128);
        c0 = (n0 & low4) | TopBits(hi, 0);
        c1 = GemmQ4_Kx8.HighNibbles(n0) | TopBits(hi, 1);
        c2 = (n1 & low4) | TopBits(hi, 2);
        c3 = GemmQ4_Kx8.HighNibbles(n1) | TopBits(hi, 3);
    }

    /// <summary>Bits 2j and 2j+1 of every byte moved to bits 4 and 5, the rest cleared (<paramref name="j"/> a constant).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector512<byte> TopBits(Vector512<byte> hi, int j)
    {
        if (Gfni.V512.IsSupported)
        {
            // Result bit i is the parity of the byte AND matrix byte 7-i: bytes 3 and 2 pick bits 2j and 2j+1.
            ulong matrix = (1UL << (2 * j)) << 24 | (2UL << (2 * j)) << 16;
            return Gfni.V512.GaloisFieldAffineTransform(hi, Vector512.Create(matrix).AsByte(), 0);
        }
        return TopBitsShift(hi, j);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector512<byte> TopBitsShift(Vector512<byte> hi, int j)
    {
        Vector512<ushort> x = hi.AsUInt16();
        Vector512<ushort> moved = j switch { 0 => x << 4, 1 => x << 2, 2 => x, _ => x >>> 2 };
        return moved.AsByte() & Vector512.Create((byte)0x30);
    }

    /// <summary>
    /// 8 rows × 1 token (decode), streaming the group once; same lane arithmetic as <see cref="Tile8x8"/>. The token's
    /// block b scale is <c>da[8b]</c> and its sums start at <c>sums + 64b</c> (the tile layout).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Group8x1(byte* group, sbyte* a, float* da, int* sums, int blocks, float* o)
    {
        Vector256<float> f = default;
        int ahead = WeightPrefetch.WideDistance;
        for (int b = 0; b < blocks; b++)
        {
            byte* block = group + (long)b * BlockBytes;
            PrefetchBlock(block + ahead);
            sbyte* p = a + 256 * b;
            byte* w = block + CodesOffset, scales = block + ScalesOffset;
            // Written out so that every offset is a constant.
            Vector512<int> acc = (DecodeQuad(w, p, scales) + DecodeQuad(w + QuadBytes, p + 32, scales + 16))
                + (DecodeQuad(w + 2 * QuadBytes, p + 64, scales + 32) + DecodeQuad(w + 3 * QuadBytes, p + 96, scales + 48));
            acc += (DecodeQuad(w + 4 * QuadBytes, p + 128, scales + 64) + DecodeQuad(w + 5 * QuadBytes, p + 160, scales + 80))
                + (DecodeQuad(w + 6 * QuadBytes, p + 192, scales + 96) + DecodeQuad(w + 7 * QuadBytes, p + 224, scales + 112));
            Vector512<long> q = acc.AsInt64();
            Vector256<int> rows = Avx512F.ConvertToVector256Int32(q + (q >>> 32));
            Vector256<int> isum = rows - (ScaledSums(scales, sums + 64 * b) << 5);
            f += (HalfVectors.FiniteToSingle((ushort*)block) * Vector256.Create(da[8 * b])) * Avx.ConvertToVector256Single(isum);
        }
        f.Store(o);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<int> DecodeQuad(byte* w, sbyte* p, byte* scales)
    {
        Chunks(w, out Vector512<byte> c0, out Vector512<byte> c1, out Vector512<byte> c2, out Vector512<byte> c3);
        return QuadSum(c0, c1, c2, c3, p, QuadScales(scales));
    }

    /// <summary>Prefetches one group block (27 cache lines) for a single read (<see cref="WeightPrefetch"/>), written out: a loop costs as many instructions again.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void PrefetchBlock(byte* p)
    {
        WeightPrefetch.Line(p); WeightPrefetch.Line(p + 64); WeightPrefetch.Line(p + 128); WeightPrefetch.Line(p + 192); WeightPrefetch.Line(p + 256); WeightPrefetch.Line(p + 320);
        WeightPrefetch.Line(p + 384); WeightPrefetch.Line(p + 448); WeightPrefetch.Line(p + 512); WeightPrefetch.Line(p + 576); WeightPrefetch.Line(p + 640); WeightPrefetch.Line(p + 704);
        WeightPrefetch.Line(p + 768); WeightPrefetch.Line(p + 832); WeightPrefetch.Line(p + 896); WeightPrefetch.Line(p + 960); WeightPrefetch.Line(p + 1024); WeightPrefetch.Line(p + 1088);
        WeightPrefetch.Line(p + 1152); WeightPrefetch.Line(p + 1216); WeightPrefetch.Line(p + 1280); WeightPrefetch.Line(p + 1344); WeightPrefetch.Line(p + 1408); WeightPrefetch.Line(p + 1472);
        WeightPrefetch.Line(p + 1536); WeightPrefetch.Line(p + 1600); WeightPrefetch.Line(p + 1664);
    }

    /// <summary>Pulls a block of the next group into L2 while a tile computes on this one.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void PrefetchBlockL2(byte* p)
    {
        for (int line = 0; line < BlockBytes; line += 64)
            Sse.Prefetch1(p + line);
    }
}
