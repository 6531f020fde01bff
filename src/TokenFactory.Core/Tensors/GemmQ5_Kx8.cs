using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace TokenFactory.Tensors;

/// <summary>
/// Q5_K weights (Q5_K_S and Q5_K_M files) repacked once at load into groups of 8 rows for 512-bit kernels: the layout
/// and arithmetic of <see cref="GemmQ4_Kx8"/>'s wide kernels plus each code's fifth bit. A group's 256-block keeps the
/// file's 8 × 176 bytes: d, dmin and the packed 6-bit scales and mins as Q4_K's group block has them (128 bytes), the
/// low 4 bits of the codes in Q4_K's pair-interleaved wide layout (1024 bytes), then per sub-block pair one vector of 64
/// bytes (8 rows × 8) whose bit c of byte k is the fifth bit of chunk c's byte k (256 bytes).
/// <para>
/// Activations are those of the Q4_K wide kernels (<see cref="ActivationPacking.Q8_KPairs"/>, pair sums as int16
/// pairs), and every kernel computes isum = Σ sc·(q·a) and msum = Σ m·Σa exactly and then
/// <c>f += dw·da·isum − dmin·da·msum</c>, as the row kernels do: the same bits in any batch. Codes reach 31, so a lane
/// may add only 8 products in int16 (31·127·8 = 31496): each pair's 8 chunks go to <c>vpmaddwd</c> as two halves of 4.
/// </para>
/// </summary>
internal static unsafe class GemmQ5_Kx8
{
    public const int GroupRows = 8;
    public const int BlockBytes = 8 * 176;
    private const int CodesOffset = 128, HighOffset = 128 + 1024;

    /// <summary>The Q4_K wide kernels' instructions (AVX-512BW, VBMI); AVX-VNNI and GFNI are used where present.</summary>
    public static bool IsSupported => GemmQ4_Kx8.WideIsSupported;

    public static long PackedBytes(int rows, int blocks) => (long)LegacyGemmX8.Groups(rows) * blocks * BlockBytes;

    /// <summary><see cref="GemmQ4_Kx8.PrepareGroupWide(byte*, int, byte*)"/> output per 256-block.</summary>
    public const int PreparedBytes = GemmQ4_Kx8.WidePreparedBytes;

    /// <summary>Repacks <paramref name="rows"/> Q5_K rows (<paramref name="blocks"/> 256-blocks each) into groups of 8.</summary>
    public static void Pack(byte* src, int rows, long rowBytes, int blocks, byte* dst)
        => Parallel.For(0, LegacyGemmX8.Groups(rows), g => PackGroup(src, rows, rowBytes, blocks, g, dst + (long)g * blocks * BlockBytes));

    private static void PackGroup(byte* src, int rows, long rowBytes, int blocks, int g, byte* dst)
    {
        byte* q = stackalloc byte[256];
        ReadOnlySpan<byte> element = s_chunkElement;
        for (int b = 0; b < blocks; b++)
        {
            byte* o = dst + (long)b * BlockBytes;
            new Span<byte>(o, BlockBytes).Clear(); // padding rows: d = dmin = 0
            for (int r = 0; r < GroupRows; r++)
            {
                int row = g * GroupRows + r;
                if (row >= rows)
                    continue;
                byte* block = src + row * rowBytes + 176L * b;
                *(ushort*)(o + 2 * r) = *(ushort*)block;
                *(ushort*)(o + 16 + 2 * r) = *(ushort*)(block + 2);
                for (int word = 0; word < 3; word++)
                    *(uint*)(o + 32 + 32 * word + 4 * r) = *(uint*)(block + 4 + 4 * word);
                // The file's codes: element 64j + 32h + l is nibble h of qs[32j + l] plus bit 2j + h of qh[l] as 16.
                for (int i = 0; i < 256; i++)
                {
                    int j = i >> 6, h = (i >> 5) & 1, l = i & 31;
                    q[i] = (byte)(((block[48 + 32 * j + l] >> (4 * h)) & 15) | (((block[16 + l] >> (2 * j + h)) & 1) << 4));
                }
                for (int j = 0; j < 4; j++)
                {
                    byte* pair = q + 64 * j, nibbles = o + CodesOffset + 256 * j + 8 * r, fifth = o + HighOffset + 64 * j + 8 * r;
                    for (int k = 0; k < 8; k++)
                    {
                        int bits = 0;
                        for (int c = 0; c < 8; c++)
                        {
                            int code = pair[element[8 * c + k]];
                            bits |= (code >> 4) << c;
                            nibbles[64 * (c / 2) + k] |= (byte)((code & 15) << (4 * (c & 1)));
                        }
                        fifth[k] = (byte)bits;
                    }
                }
            }
        }
    }

    // Byte k of chunk c of a pair: its element's index among the pair's 64 (see GemmQ4_Kx8.ChunkByte).
    private static readonly byte[] s_chunkElement = ChunkElements();

    private static byte[] ChunkElements()
    {
        var map = new byte[64];
        for (int c = 0; c < 8; c++)
            for (int k = 0; k < 8; k++)
            {
                (int e, bool high) = GemmQ4_Kx8.ChunkByte(c, k);
                map[8 * c + k] = (byte)((high ? 32 : 0) + e);
            }
        return map;
    }

    /// <summary>
    /// 8 rows × 8 tokens, as <see cref="GemmQ4_Kx8.Tile8x8Wide"/> (same arguments, results and prepared scales from
    /// <see cref="GemmQ4_Kx8.PrepareGroupWide(byte*, int, byte*, int)"/>), on Q5_K groups.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Tile8x8(byte* group, byte* prepared, sbyte* a, int k, float* da, int* sums, int blocks, float* o, int stride, byte* next)
    {
        float* f = stackalloc float[64];
        for (int t = 0; t < 64; t += 16)
            Vector512<float>.Zero.Store(f + t);
        nint kk = k;
        for (int b = 0; b < blocks; b++)
        {
            byte* block = group + (long)b * BlockBytes;
            if (next != null)
                PrefetchBlockL2(next + (long)b * BlockBytes);
            byte* p = prepared + (long)b * PreparedBytes;
            sbyte* ab = a + 256 * b;
            Vector512<int> s0 = default, s1 = default, s2 = default, s3 = default, s4 = default, s5 = default, s6 = default, s7 = default;
            for (int j = 0; j < 4; j++)
            {
                var c = new Chunks(block + CodesOffset + 256 * j, block + HighOffset + 64 * j);
                Vector512<short> sc = Vector512.Load((short*)p + 32 * j);
                sbyte* pj = ab + 64 * j;
                s0 += c.PairSum(pj, sc);
                s1 += c.PairSum(pj + kk, sc);
                s2 += c.PairSum(pj + 2 * kk, sc);
                s3 += c.PairSum(pj + 3 * kk, sc);
                s4 += c.PairSum(pj + 4 * kk, sc);
                s5 += c.PairSum(pj + 5 * kk, sc);
                s6 += c.PairSum(pj + 6 * kk, sc);
                s7 += c.PairSum(pj + 7 * kk, sc);
            }
            GemmQ4_Kx8.FinishBlockWide(f, (int*)(p + GemmQ4_Kx8.WideMins), (float*)(p + GemmQ4_Kx8.WideD), da + 8 * b, sums + 32 * b, s0, s1, s2, s3, s4, s5, s6, s7);
        }
        for (int t = 0; t < 8; t++)
            Vector256.Load(f + 8 * t).Store(o + t * stride);
    }

    /// <summary>A sub-block pair's 8 chunk vectors (8 rows × 8 codes of 5 bits) from its nibbles and its fifth-bit vector.</summary>
    private readonly struct Chunks
    {
        public readonly Vector512<byte> C0, C1, C2, C3, C4, C5, C6, C7;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public Chunks(byte* nibbles, byte* fifth)
        {
            Vector512<byte> low4 = Vector512.Create((byte)0x0F);
            Vector512<byte> x0 = Vector512.Load(nibbles), x1 = Vector512.Load(nibbles + 64), x2 = Vector512.Load(nibbles + 128), x3 = Vector512.Load(nibbles + 192);
            Vector512<byte> h = Vector512.Load(fifth);
            C0 = (x0 & low4) | FifthBit(h, 0);
            C1 = GemmQ4_Kx8.HighNibbles(x0) | FifthBit(h, 1);
            C2 = (x1 & low4) | FifthBit(h, 2);
            C3 = GemmQ4_Kx8.HighNibbles(x1) | FifthBit(h, 3);
            C4 = (x2 & low4) | FifthBit(h, 4);
            C5 = GemmQ4_Kx8.HighNibbles(x2) | FifthBit(h, 5);
            C6 = (x3 & low4) | FifthBit(h, 6);
            C7 = GemmQ4_Kx8.HighNibbles(x3) | FifthBit(h, 7);
        }

        /// <summary>
        /// One token's pair: sc_2j·(low sub-block · a) + sc_2j+1·(high sub-block · a), row r in int32 lanes 2r, 2r+1;
        /// chunk c against the 8 activation codes at <c>p + 8c</c>, each half of 4 chunks exact in int16.
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public Vector512<int> PairSum(sbyte* p, Vector512<short> sc)
        {
            Vector512<short> first = (Avx512BW.MultiplyAddAdjacent(C0, GemmQ4_Kx8.Codes8(p)) + Avx512BW.MultiplyAddAdjacent(C1, GemmQ4_Kx8.Codes8(p + 8)))
                + (Avx512BW.MultiplyAddAdjacent(C2, GemmQ4_Kx8.Codes8(p + 16)) + Avx512BW.MultiplyAddAdjacent(C3, GemmQ4_Kx8.Codes8(p + 24)));
            Vector512<short> second = (Avx512BW.MultiplyAddAdjacent(C4, GemmQ4_Kx8.Codes8(p + 32)) + Avx512BW.MultiplyAddAdjacent(C5, GemmQ4_Kx8.Codes8(p + 40)))
                + (Avx512BW.MultiplyAddAdjacent(C6, GemmQ4_Kx8.Codes8(p + 48)) + Avx512BW.MultiplyAddAdjacent(C7, GemmQ4_Kx8.Codes8(p + 56)));
            return Avx512BW.MultiplyAddAdjacent(first, sc) + Avx512BW.MultiplyAddAdjacent(second, sc);
        }
    }

    /// <summary>Bit <paramref name="c"/> of every byte moved to bit 4, the rest cleared (<paramref name="c"/> a constant).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector512<byte> FifthBit(Vector512<byte> h, int c)
    {
        if (Gfni.V512.IsSupported)
        {
            // Result bit i is the parity of the byte AND matrix byte 7-i: byte 3 picks bit c into bit 4.
            ulong matrix = (1UL << c) << 24;
            return Gfni.V512.GaloisFieldAffineTransform(h, Vector512.Create(matrix).AsByte(), 0);
        }
        return FifthBitShift(h, c);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector512<byte> FifthBitShift(Vector512<byte> h, int c)
    {
        Vector512<ushort> x = h.AsUInt16();
        return (c <= 4 ? x << (4 - c) : x >>> (c - 4)).AsByte() & Vector512.Create((byte)0x10);
    }

    /// <summary>8 rows × 1 token (decode), streaming the group once; the same lane arithmetic as <see cref="Tile8x8"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Group8x1(byte* group, sbyte* a, float* da, int* sums, int blocks, float* o)
    {
        Vector256<float> f = default;
        int ahead = GemmQ4_Kx8.WidePrefetchDistance;
        Vector512<byte> c0 = GemmQ4_Kx8.s_pairControl0, c1 = GemmQ4_Kx8.s_pairControl1;
        for (int b = 0; b < blocks; b++)
        {
            byte* block = group + (long)b * BlockBytes;
            PrefetchBlock(block + ahead);
            sbyte* p = a + 256 * b;
            (Vector256<int> sc03, Vector256<int> sc47, Vector256<int> m03, Vector256<int> m47) = GemmQ4_Kx8.UnpackScales(block);
            Vector512<byte> z03 = sc03.AsByte().ToVector512(), z47 = sc47.AsByte().ToVector512();
            byte* w = block + CodesOffset, h = block + HighOffset;
            // Written out so that every offset is a constant.
            Vector512<int> acc = (new Chunks(w, h).PairSum(p, GemmQ4_Kx8.PairScales(z03, c0)) + new Chunks(w + 256, h + 64).PairSum(p + 64, GemmQ4_Kx8.PairScales(z03, c1)))
                + (new Chunks(w + 512, h + 128).PairSum(p + 128, GemmQ4_Kx8.PairScales(z47, c0)) + new Chunks(w + 768, h + 192).PairSum(p + 192, GemmQ4_Kx8.PairScales(z47, c1)));
            f += GemmQ4_Kx8.DecodeBlockTerm(block, GemmQ4_Kx8.RowSums(acc), m03, m47, sums + 32 * b, da[8 * b]);
        }
        f.Store(o);
    }

    /// <summary>Prefetches one group block (22 cache lines) into L1, written out: a loop costs as many instructions again.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void PrefetchBlock(byte* p)
    {
        Sse.Prefetch0(p); Sse.Prefetch0(p + 64); Sse.Prefetch0(p + 128); Sse.Prefetch0(p + 192); Sse.Prefetch0(p + 256); Sse.Prefetch0(p + 320);
        Sse.Prefetch0(p + 384); Sse.Prefetch0(p + 448); Sse.Prefetch0(p + 512); Sse.Prefetch0(p + 576); Sse.Prefetch0(p + 640); Sse.Prefetch0(p + 704);
        Sse.Prefetch0(p + 768); Sse.Prefetch0(p + 832); Sse.Prefetch0(p + 896); Sse.Prefetch0(p + 960); Sse.Prefetch0(p + 1024); Sse.Prefetch0(p + 1088);
        Sse.Prefetch0(p + 1152); Sse.Prefetch0(p + 1216); Sse.Prefetch0(p + 1280); Sse.Prefetch0(p + 1344);
    }

    /// <summary>Pulls a block of the next group into L2 while a tile computes on this one.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void PrefetchBlockL2(byte* p)
    {
        for (int line = 0; line < BlockBytes; line += 64)
            Sse.Prefetch1(p + line);
    }
}
