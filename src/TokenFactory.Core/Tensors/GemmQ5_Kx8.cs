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
    public static void Tile8x8(byte* group, byte* prepared, sbyte* a, int k, float* da, int* sums, int blocks, float* o, int stride, byte* next)
        => GemmQ4_Kx8.TileWide<Q5_KPair>(group, prepared, a, k, da, sums, blocks, o, stride, next);

    /// <summary>8 rows × 2-7 tokens, as <see cref="GemmQ4_Kx8.TileWideFew{TPair}"/> on Q5_K groups.</summary>
    public static void TileFew(byte* group, byte* prepared, sbyte* a, int k, float* da, int* sums, int blocks, float* o, int stride, byte* next, int count)
        => GemmQ4_Kx8.TileWideFew<Q5_KPair>(group, prepared, a, k, da, sums, blocks, o, stride, next, count);

    /// <summary>8 rows × 1 token (decode), streaming the group once; the same lane arithmetic as <see cref="Tile8x8"/>.</summary>
    public static void Group8x1(byte* group, sbyte* a, float* da, int* sums, int blocks, float* o)
        => GemmQ4_Kx8.DecodeWide<Q5_KPair>(group, a, da, sums, blocks, o);

    /// <summary>A Q5_K sub-block pair: chunk c is the nibbles of <see cref="GemmQ4_Kx8.Q4_KPair"/>'s chunk c plus bit c of the pair's fifth-bit vector as 16.</summary>
    private readonly struct Q5_KPair : GemmQ4_Kx8.IWidePair
    {
        public static int BlockBytes => GemmQ5_Kx8.BlockBytes;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static void Prefetch(byte* block) => PrefetchBlock(block);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static void Load(byte* block, int j, out Vector512<byte> c0, out Vector512<byte> c1, out Vector512<byte> c2, out Vector512<byte> c3,
            out Vector512<byte> c4, out Vector512<byte> c5, out Vector512<byte> c6, out Vector512<byte> c7)
        {
            GemmQ4_Kx8.Q4_KPair.Load(block, j, out c0, out c1, out c2, out c3, out c4, out c5, out c6, out c7);
            Vector512<byte> h = Vector512.Load(block + HighOffset + 64 * j);
            c0 |= FifthBit(h, 0);
            c1 |= FifthBit(h, 1);
            c2 |= FifthBit(h, 2);
            c3 |= FifthBit(h, 3);
            c4 |= FifthBit(h, 4);
            c5 |= FifthBit(h, 5);
            c6 |= FifthBit(h, 6);
            c7 |= FifthBit(h, 7);
        }

        /// <summary>The pair's sum, each half of 4 chunks exact in int16 (8 products of ≤ 31 and ≤ 127 a lane).</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector512<int> PairSum(Vector512<byte> c0, Vector512<byte> c1, Vector512<byte> c2, Vector512<byte> c3,
            Vector512<byte> c4, Vector512<byte> c5, Vector512<byte> c6, Vector512<byte> c7, sbyte* p, Vector512<short> sc)
        {
            Vector512<short> first = (Avx512BW.MultiplyAddAdjacent(c0, GemmQ4_Kx8.Codes8(p)) + Avx512BW.MultiplyAddAdjacent(c1, GemmQ4_Kx8.Codes8(p + 8)))
                + (Avx512BW.MultiplyAddAdjacent(c2, GemmQ4_Kx8.Codes8(p + 16)) + Avx512BW.MultiplyAddAdjacent(c3, GemmQ4_Kx8.Codes8(p + 24)));
            Vector512<short> second = (Avx512BW.MultiplyAddAdjacent(c4, GemmQ4_Kx8.Codes8(p + 32)) + Avx512BW.MultiplyAddAdjacent(c5, GemmQ4_Kx8.Codes8(p + 40)))
                + (Avx512BW.MultiplyAddAdjacent(c6, GemmQ4_Kx8.Codes8(p + 48)) + Avx512BW.MultiplyAddAdjacent(c7, GemmQ4_Kx8.Codes8(p + 56)));
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

    /// <summary>Prefetches one group block (22 cache lines) for a single read (<see cref="WeightPrefetch"/>), written out: a loop costs as many instructions again.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void PrefetchBlock(byte* p)
    {
        WeightPrefetch.Line(p); WeightPrefetch.Line(p + 64); WeightPrefetch.Line(p + 128); WeightPrefetch.Line(p + 192); WeightPrefetch.Line(p + 256); WeightPrefetch.Line(p + 320);
        WeightPrefetch.Line(p + 384); WeightPrefetch.Line(p + 448); WeightPrefetch.Line(p + 512); WeightPrefetch.Line(p + 576); WeightPrefetch.Line(p + 640); WeightPrefetch.Line(p + 704);
        WeightPrefetch.Line(p + 768); WeightPrefetch.Line(p + 832); WeightPrefetch.Line(p + 896); WeightPrefetch.Line(p + 960); WeightPrefetch.Line(p + 1024); WeightPrefetch.Line(p + 1088);
        WeightPrefetch.Line(p + 1152); WeightPrefetch.Line(p + 1216); WeightPrefetch.Line(p + 1280); WeightPrefetch.Line(p + 1344);
    }
}
