using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace TokenFactory.Tensors;

/// <summary>
/// Weights in ggml's 32-element block formats (Q8_0, Q4_0) repacked once at load into groups of 8 rows, so that one
/// 256-bit <c>vpdpbusd</c> serves 8 rows at once. Per 32-element block a group holds the 8 rows' fp16 scales
/// (16 bytes), then the codes interleaved in 4-byte pieces: chunk j of a block (<see cref="ILegacyGroupFormat.Chunk"/>)
/// holds elements 4j..4j+3 of each row in turn as signed bytes. Broadcasting 4 activation codes against chunk j adds 4
/// products to each row's lane, so after 8 chunks lane r holds row r's whole block dot product, and scaling costs one
/// convert and one FMA per 8 rows instead of per row. A group is the same bytes per block as 8 rows of the file's
/// format (no extra weight traffic), packing is exact, and padding rows past the matrix are zero.
/// <para>
/// Activations are the offset (+128, unsigned) Q8_0 codes of <see cref="ActivationPacking.Q8_0(float*, int, byte*, float*)"/>;
/// the offset is taken back exactly by seeding each block's sum with -128·Σw, so every block dot product is the exact
/// integer. Every output lane then runs the same float operations in the same block order in every kernel
/// (f = fma(float(isum), dw·da, f), from 0), which makes a token's result independent of the batch it is in.
/// </para>
/// </summary>
internal static unsafe class LegacyGemmX8
{
    public const int GroupRows = 8;
    public const int ScaleBytes = 16;

    /// <summary>256-bit VNNI is all this needs (AVX-VNNI or AVX-512 VNNI+VL CPUs both report it).</summary>
    public static bool IsSupported => AvxVnni.IsSupported && Avx2.IsSupported && Fma.IsSupported;

    /// <summary>Bytes ahead of the decode kernel's position that it prefetches (TOKENFACTORY_PREFETCH overrides).</summary>
    internal static readonly int PrefetchDistance =
        int.TryParse(Environment.GetEnvironmentVariable("TOKENFACTORY_PREFETCH"), out int d) ? d : 4096;

    public static int Groups(int rows) => (rows + GroupRows - 1) / GroupRows;
}

/// <summary>How a 32-element block format is laid out in a group of 8 rows, and how its chunks become signed codes.</summary>
internal unsafe interface ILegacyGroupFormat
{
    /// <summary>Bytes of one block of the file's format (one row).</summary>
    static abstract int RowBlockBytes { get; }

    /// <summary>Bytes of one block of a group (8 rows): 8 × <see cref="RowBlockBytes"/>.</summary>
    static abstract int BlockBytes { get; }

    /// <summary>Chunk <paramref name="j"/> (0..7) of a group block: element 4j+i of row r in byte 4r+i, as a signed code.</summary>
    static abstract Vector256<sbyte> Chunk(byte* block, int j);

    /// <summary>Writes one row's block (file layout at <paramref name="src"/>) into lane <paramref name="r"/> of a group block.</summary>
    static abstract void PackRow(byte* src, byte* block, int r);

    /// <summary>Element <paramref name="i"/> of row <paramref name="r"/> of a group block, as the signed code the kernels use.</summary>
    static abstract int Code(byte* block, int r, int i);
}

/// <summary>Q8_0 (34 bytes: fp16 d, 32 signed codes): chunk j is stored as is.</summary>
internal readonly unsafe struct Q8_0x8 : ILegacyGroupFormat
{
    public static int RowBlockBytes => 34;
    public static int BlockBytes => 272;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<sbyte> Chunk(byte* block, int j) => Vector256.Load(block + LegacyGemmX8.ScaleBytes + 32 * j).AsSByte();

    public static void PackRow(byte* src, byte* block, int r)
    {
        *(ushort*)(block + 2 * r) = *(ushort*)src;
        for (int j = 0; j < 8; j++)
            *(uint*)(block + LegacyGemmX8.ScaleBytes + 32 * j + 4 * r) = *(uint*)(src + 2 + 4 * j);
    }

    public static int Code(byte* block, int r, int i) => (sbyte)block[LegacyGemmX8.ScaleBytes + 32 * (i / 4) + 4 * r + i % 4];
}

/// <summary>
/// Q4_0 (18 bytes: fp16 d, 16 bytes whose low nibbles are elements 0-15 and high nibbles 16-31, value q − 8): 4 stored
/// chunks of 32 bytes; chunk j &lt; 4 is the low nibbles of stored chunk j, chunk j ≥ 4 the high nibbles of j − 4,
/// both minus 8 — which are exactly elements 4j..4j+3.
/// </summary>
internal readonly unsafe struct Q4_0x8 : ILegacyGroupFormat
{
    public static int RowBlockBytes => 18;
    public static int BlockBytes => 144;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<sbyte> Chunk(byte* block, int j)
    {
        Vector256<byte> x = Vector256.Load(block + LegacyGemmX8.ScaleBytes + 32 * (j & 3));
        if (j >= 4)
            x = (x.AsUInt16() >>> 4).AsByte();
        return ((x & Vector256.Create((byte)0x0F)) - Vector256.Create((byte)8)).AsSByte();
    }

    public static void PackRow(byte* src, byte* block, int r)
    {
        *(ushort*)(block + 2 * r) = *(ushort*)src;
        for (int j = 0; j < 4; j++)
            *(uint*)(block + LegacyGemmX8.ScaleBytes + 32 * j + 4 * r) = *(uint*)(src + 2 + 4 * j);
    }

    public static int Code(byte* block, int r, int i)
    {
        int b = block[LegacyGemmX8.ScaleBytes + 32 * ((i % 16) / 4) + 4 * r + i % 4];
        return (i < 16 ? b & 0x0F : b >> 4) - 8;
    }
}

/// <summary>Whether a tile is a group's first and so also writes the group's scales and offsets (specialised by the JIT).</summary>
internal interface ITileMode
{
    static abstract bool Prepares { get; }
}

/// <summary>The group's first tile: computes and stores its scales and offsets.</summary>
internal readonly struct PreparingTile : ITileMode
{
    public static bool Prepares => true;
}

/// <summary>A later tile: reads the scales and offsets the first one stored.</summary>
internal readonly struct PreparedTile : ITileMode
{
    public static bool Prepares => false;
}

/// <summary>The kernels of <see cref="LegacyGemmX8"/>, specialised by the JIT for each format.</summary>
internal static unsafe class LegacyGemmX8<TFormat> where TFormat : struct, ILegacyGroupFormat
{
    private const int GroupRows = LegacyGemmX8.GroupRows;
    private const int ScaleBytes = LegacyGemmX8.ScaleBytes;

    public static long PackedBytes(int rows, int blocks) => (long)LegacyGemmX8.Groups(rows) * blocks * TFormat.BlockBytes;

    /// <summary>Repacks <paramref name="rows"/> rows (<paramref name="blocks"/> blocks each) into groups of 8.</summary>
    public static void Pack(byte* src, int rows, long rowBytes, int blocks, byte* dst)
    {
        // Row-group order is free, so split by group; each writes its own bytes.
        Parallel.For(0, LegacyGemmX8.Groups(rows), g =>
        {
            byte* group = dst + (long)g * blocks * TFormat.BlockBytes;
            new Span<byte>(group, blocks * TFormat.BlockBytes).Clear(); // padding rows: zero scales and codes
            for (int r = 0; r < GroupRows && g * GroupRows + r < rows; r++)
                for (int b = 0; b < blocks; b++)
                    TFormat.PackRow(src + (g * GroupRows + r) * rowBytes + (long)b * TFormat.RowBlockBytes, group + (long)b * TFormat.BlockBytes, r);
        });
    }

    /// <summary>The 8 rows' scales of one packed block, widened exactly.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Scales(byte* block)
        => HalfVectors.FiniteHighToSingle(Avx2.ConvertToVector256Int32((ushort*)block) << 16);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> Dot4(Vector256<int> acc, byte* a, Vector256<sbyte> w)
        => AvxVnni.MultiplyWideningAndAdd(acc, Vector256.Create(*(uint*)a).AsByte(), w);

    /// <summary>
    /// Per block of a group: the widened scales (8 floats) into <paramref name="scales"/> and -128·Σw per row (8 ints)
    /// into <paramref name="offsets"/>; computed once per group, shared by all its 4-token tiles.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void PrepareGroup(byte* group, int blocks, float* scales, int* offsets)
    {
        Vector256<byte> k80 = Vector256.Create((byte)0x80);
        for (int b = 0; b < blocks; b++)
        {
            byte* block = group + (long)b * TFormat.BlockBytes;
            Scales(block).Store(scales + 8 * b);
            Vector256<int> c = Vector256<int>.Zero;
            for (int j = 0; j < 8; j++)
                c = AvxVnni.MultiplyWideningAndAdd(c, k80, TFormat.Chunk(block, j));
            (Vector256<int>.Zero - c).Store(offsets + 8 * b);
        }
    }

    /// <summary>
    /// Pulls a block of the next group into L2 while this one computes: the tiles are compute-bound, so streaming the
    /// weights behind them hides the memory latency that otherwise stalls the first pass over each group.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void PrefetchBlock(byte* block)
    {
        for (int line = 0; line < TFormat.BlockBytes; line += 64)
            Sse.Prefetch1(block + line);
    }

    /// <summary>
    /// 8 rows x 4 tokens: <c>o[t·stride + r] = W[r] · a[t]</c>. Token t's offset codes are at <c>a + t·k</c>, its block
    /// scales at <c>da + t·blocks</c>; <paramref name="scales"/>/<paramref name="offsets"/> come from <see cref="PrepareGroup"/>;
    /// <paramref name="next"/>, when not null, is the group to prefetch meanwhile.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Tile8x4(byte* group, float* scales, int* offsets, byte* a, int k, float* da, int blocks, float* o, int stride, byte* next)
    {
        Vector256<float> f0 = default, f1 = default, f2 = default, f3 = default;
        byte* a0 = a, a1 = a + k, a2 = a + 2 * (nint)k, a3 = a + 3 * (nint)k;
        float* d0 = da, d1 = da + blocks, d2 = da + 2 * blocks, d3 = da + 3 * blocks;
        for (int b = 0; b < blocks; b++)
        {
            if (next != null)
                PrefetchBlock(next + (long)b * TFormat.BlockBytes);
            Vector256<int> i0 = Vector256.Load(offsets + 8 * b), i1 = i0, i2 = i0, i3 = i0;
            byte* block = group + (long)b * TFormat.BlockBytes;
            int ao = 32 * b;
            for (int j = 0; j < 32; j += 8)
            {
                Vector256<sbyte> x = TFormat.Chunk(block, j / 4);
                i0 = Dot4(i0, a0 + ao + j, x);
                i1 = Dot4(i1, a1 + ao + j, x);
                i2 = Dot4(i2, a2 + ao + j, x);
                i3 = Dot4(i3, a3 + ao + j, x);
                x = TFormat.Chunk(block, j / 4 + 1);
                i0 = Dot4(i0, a0 + ao + j + 4, x);
                i1 = Dot4(i1, a1 + ao + j + 4, x);
                i2 = Dot4(i2, a2 + ao + j + 4, x);
                i3 = Dot4(i3, a3 + ao + j + 4, x);
            }
            Vector256<float> s = Vector256.Load(scales + 8 * b);
            f0 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(i0), s * Vector256.Create(d0[b]), f0);
            f1 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(i1), s * Vector256.Create(d1[b]), f1);
            f2 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(i2), s * Vector256.Create(d2[b]), f2);
            f3 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(i3), s * Vector256.Create(d3[b]), f3);
        }
        f0.Store(o);
        f1.Store(o + stride);
        f2.Store(o + 2 * stride);
        f3.Store(o + 3 * stride);
    }

    /// <summary>
    /// 8 rows x 8 tokens, as <see cref="Tile8x4"/>: twice the activation reuse per weight load, about 15 % faster at 16+
    /// tokens on Zen 5. Its 16 accumulators plus operands fit because the JIT encodes VNNI with EVEX (32 registers)
    /// on AVX-512 CPUs; on AVX2-only CPUs with AVX-VNNI some would spill, still correct.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Tile8x8<TMode>(byte* group, float* scales, int* offsets, byte* a, int k, float* da, int blocks, float* o, int stride, byte* next)
        where TMode : struct, ITileMode
    {
        Vector256<float> f0 = default, f1 = default, f2 = default, f3 = default, f4 = default, f5 = default, f6 = default, f7 = default;
        Vector256<byte> k80 = Vector256.Create((byte)0x80);
        nint kk = k;
        for (int b = 0; b < blocks; b++)
        {
            if (next != null)
                PrefetchBlock(next + (long)b * TFormat.BlockBytes);
            byte* block = group + (long)b * TFormat.BlockBytes;
            // The group's first tile also works out the block's scales and offsets (-128·Σw) for the tiles after it,
            // from the chunks it loads anyway, instead of a separate pass over the group.
            Vector256<int> c = Vector256<int>.Zero;
            Vector256<int> i0 = TMode.Prepares ? Vector256<int>.Zero : Vector256.Load(offsets + 8 * b), i1 = i0, i2 = i0, i3 = i0, i4 = i0, i5 = i0, i6 = i0, i7 = i0;
            byte* ab = a + 32 * b;
            // Unrolled by hand (the JIT does not unroll): 8 chunks x 8 tokens, no loop overhead between them.
            Vector256<sbyte> x;
            x = TFormat.Chunk(block, 0);
            if (TMode.Prepares)
                c = AvxVnni.MultiplyWideningAndAdd(c, k80, x);
            i0 = Dot4(i0, ab + 0, x);
            i1 = Dot4(i1, ab + 0 + kk, x);
            i2 = Dot4(i2, ab + 0 + 2 * kk, x);
            i3 = Dot4(i3, ab + 0 + 3 * kk, x);
            i4 = Dot4(i4, ab + 0 + 4 * kk, x);
            i5 = Dot4(i5, ab + 0 + 5 * kk, x);
            i6 = Dot4(i6, ab + 0 + 6 * kk, x);
            i7 = Dot4(i7, ab + 0 + 7 * kk, x);
            x = TFormat.Chunk(block, 1);
            if (TMode.Prepares)
                c = AvxVnni.MultiplyWideningAndAdd(c, k80, x);
            i0 = Dot4(i0, ab + 4, x);
            i1 = Dot4(i1, ab + 4 + kk, x);
            i2 = Dot4(i2, ab + 4 + 2 * kk, x);
            i3 = Dot4(i3, ab + 4 + 3 * kk, x);
            i4 = Dot4(i4, ab + 4 + 4 * kk, x);
            i5 = Dot4(i5, ab + 4 + 5 * kk, x);
            i6 = Dot4(i6, ab + 4 + 6 * kk, x);
            i7 = Dot4(i7, ab + 4 + 7 * kk, x);
            x = TFormat.Chunk(block, 2);
            if (TMode.Prepares)
                c = AvxVnni.MultiplyWideningAndAdd(c, k80, x);
            i0 = Dot4(i0, ab + 8, x);
            i1 = Dot4(i1, ab + 8 + kk, x);
            i2 = Dot4(i2, ab + 8 + 2 * kk, x);
            i3 = Dot4(i3, ab + 8 + 3 * kk, x);
            i4 = Dot4(i4, ab + 8 + 4 * kk, x);
            i5 = Dot4(i5, ab + 8 + 5 * kk, x);
            i6 = Dot4(i6, ab + 8 + 6 * kk, x);
            i7 = Dot4(i7, ab + 8 + 7 * kk, x);
            x = TFormat.Chunk(block, 3);
            if (TMode.Prepares)
                c = AvxVnni.MultiplyWideningAndAdd(c, k80, x);
            i0 = Dot4(i0, ab + 12, x);
            i1 = Dot4(i1, ab + 12 + kk, x);
            i2 = Dot4(i2, ab + 12 + 2 * kk, x);
            i3 = Dot4(i3, ab + 12 + 3 * kk, x);
            i4 = Dot4(i4, ab + 12 + 4 * kk, x);
            i5 = Dot4(i5, ab + 12 + 5 * kk, x);
            i6 = Dot4(i6, ab + 12 + 6 * kk, x);
            i7 = Dot4(i7, ab + 12 + 7 * kk, x);
            x = TFormat.Chunk(block, 4);
            if (TMode.Prepares)
                c = AvxVnni.MultiplyWideningAndAdd(c, k80, x);
            i0 = Dot4(i0, ab + 16, x);
            i1 = Dot4(i1, ab + 16 + kk, x);
            i2 = Dot4(i2, ab + 16 + 2 * kk, x);
            i3 = Dot4(i3, ab + 16 + 3 * kk, x);
            i4 = Dot4(i4, ab + 16 + 4 * kk, x);
            i5 = Dot4(i5, ab + 16 + 5 * kk, x);
            i6 = Dot4(i6, ab + 16 + 6 * kk, x);
            i7 = Dot4(i7, ab + 16 + 7 * kk, x);
            x = TFormat.Chunk(block, 5);
            if (TMode.Prepares)
                c = AvxVnni.MultiplyWideningAndAdd(c, k80, x);
            i0 = Dot4(i0, ab + 20, x);
            i1 = Dot4(i1, ab + 20 + kk, x);
            i2 = Dot4(i2, ab + 20 + 2 * kk, x);
            i3 = Dot4(i3, ab + 20 + 3 * kk, x);
            i4 = Dot4(i4, ab + 20 + 4 * kk, x);
            i5 = Dot4(i5, ab + 20 + 5 * kk, x);
            i6 = Dot4(i6, ab + 20 + 6 * kk, x);
            i7 = Dot4(i7, ab + 20 + 7 * kk, x);
            x = TFormat.Chunk(block, 6);
            if (TMode.Prepares)
                c = AvxVnni.MultiplyWideningAndAdd(c, k80, x);
            i0 = Dot4(i0, ab + 24, x);
            i1 = Dot4(i1, ab + 24 + kk, x);
            i2 = Dot4(i2, ab + 24 + 2 * kk, x);
            i3 = Dot4(i3, ab + 24 + 3 * kk, x);
            i4 = Dot4(i4, ab + 24 + 4 * kk, x);
            i5 = Dot4(i5, ab + 24 + 5 * kk, x);
            i6 = Dot4(i6, ab + 24 + 6 * kk, x);
            i7 = Dot4(i7, ab + 24 + 7 * kk, x);
            x = TFormat.Chunk(block, 7);
            if (TMode.Prepares)
                c = AvxVnni.MultiplyWideningAndAdd(c, k80, x);
            i0 = Dot4(i0, ab + 28, x);
            i1 = Dot4(i1, ab + 28 + kk, x);
            i2 = Dot4(i2, ab + 28 + 2 * kk, x);
            i3 = Dot4(i3, ab + 28 + 3 * kk, x);
            i4 = Dot4(i4, ab + 28 + 4 * kk, x);
            i5 = Dot4(i5, ab + 28 + 5 * kk, x);
            i6 = Dot4(i6, ab + 28 + 6 * kk, x);
            i7 = Dot4(i7, ab + 28 + 7 * kk, x);
            if (TMode.Prepares)
            {
                i0 -= c; i1 -= c; i2 -= c; i3 -= c; i4 -= c; i5 -= c; i6 -= c; i7 -= c;
                (Vector256<int>.Zero - c).Store(offsets + 8 * b);
                Scales(block).Store(scales + 8 * b);
            }
            Vector256<float> s = Vector256.Load(scales + 8 * b);
            float* d = da + b;
            f0 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(i0), s * Vector256.Create(d[0]), f0);
            f1 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(i1), s * Vector256.Create(d[blocks]), f1);
            f2 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(i2), s * Vector256.Create(d[2 * blocks]), f2);
            f3 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(i3), s * Vector256.Create(d[3 * blocks]), f3);
            f4 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(i4), s * Vector256.Create(d[4 * blocks]), f4);
            f5 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(i5), s * Vector256.Create(d[5 * blocks]), f5);
            f6 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(i6), s * Vector256.Create(d[6 * blocks]), f6);
            f7 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(i7), s * Vector256.Create(d[7 * blocks]), f7);
        }
        f0.Store(o);
        f1.Store(o + stride);
        f2.Store(o + 2 * stride);
        f3.Store(o + 3 * stride);
        f4.Store(o + 4 * stride);
        f5.Store(o + 5 * stride);
        f6.Store(o + 6 * stride);
        f7.Store(o + 7 * stride);
    }

    /// <summary>8 rows x 1 token (decode): <c>o[r] = W[r] · a</c>, streaming the group once; same lane arithmetic as <see cref="Tile8x4"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Group8x1(byte* group, byte* a, float* da, int blocks, float* o)
    {
        Vector256<byte> k80 = Vector256.Create((byte)0x80);
        Vector256<float> f = default;
        int ahead = LegacyGemmX8.PrefetchDistance;
        for (int b = 0; b < blocks; b++)
        {
            byte* block = group + (long)b * TFormat.BlockBytes;
            for (int line = 0; line < TFormat.BlockBytes; line += 64)
                Sse.Prefetch0(block + ahead + line);
            byte* ab = a + 32 * b;
            Vector256<int> i = Vector256<int>.Zero, c = Vector256<int>.Zero;
            Vector256<sbyte> x;
            // Unrolled by hand so each chunk index is a constant (Q4_0's nibble choice folds away).
            x = TFormat.Chunk(block, 0); i = Dot4(i, ab, x); c = AvxVnni.MultiplyWideningAndAdd(c, k80, x);
            x = TFormat.Chunk(block, 1); i = Dot4(i, ab + 4, x); c = AvxVnni.MultiplyWideningAndAdd(c, k80, x);
            x = TFormat.Chunk(block, 2); i = Dot4(i, ab + 8, x); c = AvxVnni.MultiplyWideningAndAdd(c, k80, x);
            x = TFormat.Chunk(block, 3); i = Dot4(i, ab + 12, x); c = AvxVnni.MultiplyWideningAndAdd(c, k80, x);
            x = TFormat.Chunk(block, 4); i = Dot4(i, ab + 16, x); c = AvxVnni.MultiplyWideningAndAdd(c, k80, x);
            x = TFormat.Chunk(block, 5); i = Dot4(i, ab + 20, x); c = AvxVnni.MultiplyWideningAndAdd(c, k80, x);
            x = TFormat.Chunk(block, 6); i = Dot4(i, ab + 24, x); c = AvxVnni.MultiplyWideningAndAdd(c, k80, x);
            x = TFormat.Chunk(block, 7); i = Dot4(i, ab + 28, x); c = AvxVnni.MultiplyWideningAndAdd(c, k80, x);
            f = Fma.MultiplyAdd(Avx.ConvertToVector256Single(i - c), Scales(block) * Vector256.Create(da[b]), f);
        }
        f.Store(o);
    }

    /// <summary>Scalar twin of one row against one token, in the kernels' order (and with their fused multiply-add).</summary>
    public static float DotScalar(byte* group, int row, byte* a, float* da, int blocks)
    {
        float f = 0;
        for (int b = 0; b < blocks; b++)
        {
            byte* block = group + (long)b * TFormat.BlockBytes;
            int isum = 0;
            for (int e = 0; e < 32; e++)
                isum += TFormat.Code(block, row, e) * (a[32 * b + e] - 128);
            float dw = Fp16.ToFloat(*(ushort*)(block + 2 * row));
            f = MathF.FusedMultiplyAdd(isum, dw * da[b], f);
        }
        return f;
    }
}
