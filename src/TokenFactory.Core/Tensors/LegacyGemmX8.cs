using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace TokenFactory.Tensors;

/// <summary>
/// Weights in ggml's 32-element block formats (Q8_0, Q4_0) repacked once at load into groups of 8 rows, so that one
/// 256-bit <c>vpdpbusd</c> serves 8 rows at once. Per 32-element block a group holds the 8 rows' fp16 scales
/// (16 bytes), then the codes interleaved in 4-byte pieces: chunk j of a block (<see cref="ILegacyGroupFormat.Chunk"/>)
/// holds elements 4j..4j+3 of each row in turn as unsigned bytes (the value plus the format's
/// <see cref="ILegacyGroupFormat.ZeroPoint"/>). Broadcasting 4 signed activation codes against chunk j adds 4 products
/// to each row's lane, so after 8 chunks lane r holds row r's whole block dot product, and scaling costs one convert
/// and one FMA per 8 rows instead of per row. A group is the same bytes per block as 8 rows of the file's format (no
/// extra weight traffic), packing is exact, and padding rows past the matrix have zero scales.
/// <para>
/// Activations are the signed Q8_0 codes of <see cref="ActivationPacking.Q8_0(float*, int, sbyte*, float*, int*)"/> with
/// each block's code sum Σa: the weights' zero point z is taken back by seeding each block's sum with −z·Σa (the
/// "seed", laid out with the block scales by <see cref="TokenIndex"/>), which depends only on the token, so no per-row
/// correction is needed, and every block dot product is the exact integer.
/// Every output lane then runs the same float operations in the same block order in every kernel
/// (f = fma(float(isum), dw·da, f), from 0), which makes a token's result independent of the batch it is in.
/// </para>
/// </summary>
internal static unsafe class LegacyGemmX8
{
    public const int GroupRows = 8;
    public const int ScaleBytes = 16;

    /// <summary>
    /// 256-bit VNNI through .NET's <see cref="AvxVnni"/> is all this needs (CPUs with AVX-VNNI: Alder Lake and later,
    /// Zen 5). CPUs with only AVX-512 VNNI (Zen 4, Ice Lake) do not report it and use the row kernels.
    /// </summary>
    public static bool IsSupported => AvxVnni.IsSupported && Avx2.IsSupported && Fma.IsSupported;

    public static int Groups(int rows) => (rows + GroupRows - 1) / GroupRows;

    /// <summary>
    /// Where token <paramref name="t"/>'s block <paramref name="b"/> scale and seed live in the per-call activation
    /// tables: tokens in runs of 8, block-major within a run (<c>[t / 8][b][t % 8]</c>), so a tile finds its tokens'
    /// values side by side at constant offsets from one pointer that advances 8 per block.
    /// </summary>
    public static long TokenIndex(int t, int b, int blocks) => (long)(t >> 3) * blocks * 8 + b * 8 + (t & 7);

    /// <summary>
    /// Prefetches the lines of <c>[p, p + bytes)</c> for a single read (<see cref="WeightPrefetch"/>), <paramref name="bytes"/> ≤ 320 and a JIT-time constant:
    /// written out because the JIT keeps a constant-count loop as a loop (6 instructions a line, as many again as the
    /// Q8_0 decode kernel's arithmetic for a block).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void PrefetchLines(byte* p, int bytes)
    {
        WeightPrefetch.Line(p);
        if (bytes > 64)
            WeightPrefetch.Line(p + 64);
        if (bytes > 128)
            WeightPrefetch.Line(p + 128);
        if (bytes > 192)
            WeightPrefetch.Line(p + 192);
        if (bytes > 256)
            WeightPrefetch.Line(p + 256);
    }

    /// <summary>Per lane, <c>acc + Σ w·a</c> over 4 bytes: one <c>vpdpbusd</c> against 4 activation codes broadcast from <paramref name="a"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<int> Dot4(Vector256<int> acc, Vector256<byte> w, sbyte* a)
        => AvxVnni.MultiplyWideningAndAdd(acc, w, Vector256.Create(*(int*)a).AsSByte());

    /// <summary>As <see cref="Dot4(Vector256{int}, Vector256{byte}, sbyte*)"/> with the 4 codes already in every lane of <paramref name="a"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<int> Dot4(Vector256<int> acc, Vector256<byte> w, Vector256<int> a)
        => AvxVnni.MultiplyWideningAndAdd(acc, w, a.AsSByte());

    /// <summary>One chunk of 8 rows' codes <paramref name="x"/> against 8 tokens' 4 codes each, token t's at <c>p + t·kk</c>, into their accumulators.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Dot4x8(Vector256<byte> x, sbyte* p, nint kk,
        ref Vector256<int> i0, ref Vector256<int> i1, ref Vector256<int> i2, ref Vector256<int> i3, ref Vector256<int> i4, ref Vector256<int> i5, ref Vector256<int> i6, ref Vector256<int> i7)
    {
        i0 = Dot4(i0, x, p);
        i1 = Dot4(i1, x, p + kk);
        i2 = Dot4(i2, x, p + 2 * kk);
        i3 = Dot4(i3, x, p + 3 * kk);
        i4 = Dot4(i4, x, p + 4 * kk);
        i5 = Dot4(i5, x, p + 5 * kk);
        i6 = Dot4(i6, x, p + 6 * kk);
        i7 = Dot4(i7, x, p + 7 * kk);
    }
}

/// <summary>How a 32-element block format is laid out in a group of 8 rows, and how its chunks become codes.</summary>
internal unsafe interface ILegacyGroupFormat
{
    /// <summary>Bytes of one block of the file's format (one row).</summary>
    static abstract int RowBlockBytes { get; }

    /// <summary>Bytes of one block of a group (8 rows): 8 × <see cref="RowBlockBytes"/>.</summary>
    static abstract int BlockBytes { get; }

    /// <summary>What the unsigned codes of <see cref="Chunk"/> exceed the weights' values by.</summary>
    static abstract int ZeroPoint { get; }

    /// <summary>Chunk <paramref name="j"/> (0..7) of a group block: element 4j+i of row r in byte 4r+i, as value + zero point.</summary>
    static abstract Vector256<byte> Chunk(byte* block, int j);

    /// <summary>Writes one row's block (file layout at <paramref name="src"/>) into lane <paramref name="r"/> of a group block.</summary>
    static abstract void PackRow(byte* src, byte* block, int r);

    /// <summary>The value of element <paramref name="i"/> of row <paramref name="r"/> of a group block (the scalar twin's view).</summary>
    static abstract int Code(byte* block, int r, int i);

    /// <summary>The 8 rows' scales of a group block, widened exactly.</summary>
    static abstract Vector256<float> Scales(byte* block);

    /// <summary>Row <paramref name="r"/>'s scale of a group block (the scalar twin's view).</summary>
    static abstract float Scale(byte* block, int r);
}

/// <summary>Q8_0 (34 bytes: fp16 d, 32 signed codes): stored with 128 added, chunk j as is.</summary>
internal readonly unsafe struct Q8_0x8 : ILegacyGroupFormat
{
    public static int RowBlockBytes => 34;
    public static int BlockBytes => 272;
    public static int ZeroPoint => 128;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<byte> Chunk(byte* block, int j) => Vector256.Load(block + LegacyGemmX8.ScaleBytes + 32 * j);

    public static void PackRow(byte* src, byte* block, int r)
    {
        *(ushort*)(block + 2 * r) = *(ushort*)src;
        for (int j = 0; j < 8; j++)
            *(uint*)(block + LegacyGemmX8.ScaleBytes + 32 * j + 4 * r) = *(uint*)(src + 2 + 4 * j) ^ 0x80808080u;
    }

    public static int Code(byte* block, int r, int i) => block[LegacyGemmX8.ScaleBytes + 32 * (i / 4) + 4 * r + i % 4] - 128;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Scales(byte* block) => HalfVectors.FiniteToSingle((ushort*)block);

    public static float Scale(byte* block, int r) => Fp16.ToFloat(*(ushort*)(block + 2 * r));
}

/// <summary>
/// Q4_0 (18 bytes: fp16 d, 16 bytes whose low nibbles are elements 0-15 and high nibbles 16-31, value q − 8): 4 stored
/// chunks of 32 bytes; chunk j &lt; 4 is the low nibbles of stored chunk j, chunk j ≥ 4 the high nibbles of j − 4 —
/// exactly elements 4j..4j+3, with zero point 8.
/// </summary>
internal readonly unsafe struct Q4_0x8 : ILegacyGroupFormat
{
    public static int RowBlockBytes => 18;
    public static int BlockBytes => 144;
    public static int ZeroPoint => 8;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<byte> Chunk(byte* block, int j) => Nibbles(block + LegacyGemmX8.ScaleBytes, j);

    public static void PackRow(byte* src, byte* block, int r)
    {
        *(ushort*)(block + 2 * r) = *(ushort*)src;
        PackNibbles(src + 2, block + LegacyGemmX8.ScaleBytes, r);
    }

    public static int Code(byte* block, int r, int i) => Nibble(block + LegacyGemmX8.ScaleBytes, r, i) - 8;

    /// <summary>
    /// Chunk <paramref name="j"/> of a group's interleaved 4-bit codes at <paramref name="codes"/> (elements 4j..4j+3 of each row, the
    /// raw nibbles): the layout of every format whose 16 code bytes hold elements 0-15 in low nibbles and 16-31 in high ones.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector256<byte> Nibbles(byte* codes, int j)
    {
        Vector256<byte> x = Vector256.Load(codes + 32 * (j & 3));
        if (j >= 4)
            x = (x.AsUInt16() >>> 4).AsByte();
        return x & Vector256.Create((byte)0x0F);
    }

    /// <summary>Writes one row's 16 code bytes (<paramref name="src"/>) into lane <paramref name="r"/> of a group's codes.</summary>
    internal static void PackNibbles(byte* src, byte* codes, int r)
    {
        for (int j = 0; j < 4; j++)
            *(uint*)(codes + 32 * j + 4 * r) = *(uint*)(src + 4 * j);
    }

    /// <summary>The raw nibble of element <paramref name="i"/> of row <paramref name="r"/> in a group's codes (the scalar twins' view).</summary>
    internal static int Nibble(byte* codes, int r, int i)
    {
        int b = codes[32 * ((i % 16) / 4) + 4 * r + i % 4];
        return i < 16 ? b & 0x0F : b >> 4;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Scales(byte* block) => HalfVectors.FiniteToSingle((ushort*)block);

    public static float Scale(byte* block, int r) => Fp16.ToFloat(*(ushort*)(block + 2 * r));
}

/// <summary>The kernels of <see cref="LegacyGemmX8"/>, specialised by the JIT for each format.</summary>
internal static unsafe class LegacyGemmX8<TFormat> where TFormat : struct, ILegacyGroupFormat
{
    private const int GroupRows = LegacyGemmX8.GroupRows;

    public static long PackedBytes(int rows, int blocks) => (long)LegacyGemmX8.Groups(rows) * blocks * TFormat.BlockBytes;

    /// <summary>Repacks <paramref name="rows"/> rows (<paramref name="blocks"/> blocks each) into groups of 8.</summary>
    public static void Pack(byte* src, int rows, long rowBytes, int blocks, byte* dst)
    {
        // Row-group order is free, so split by group; each writes its own bytes.
        Parallel.For(0, LegacyGemmX8.Groups(rows), g =>
        {
            byte* group = dst + (long)g * blocks * TFormat.BlockBytes;
            new Span<byte>(group, blocks * TFormat.BlockBytes).Clear(); // padding rows: zero scales
            for (int r = 0; r < GroupRows && g * GroupRows + r < rows; r++)
                for (int b = 0; b < blocks; b++)
                    TFormat.PackRow(src + (g * GroupRows + r) * rowBytes + (long)b * TFormat.RowBlockBytes, group + (long)b * TFormat.BlockBytes, r);
        });
    }

    /// <summary>
    /// Pulls a block of the next group into L2 while this one computes: the tiles are compute-bound, so streaming the
    /// weights behind them hides the memory latency of the next group's first pass.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void PrefetchBlock(byte* block)
    {
        for (int line = 0; line < TFormat.BlockBytes; line += 64)
            Sse.Prefetch1(block + line);
    }

    /// <summary>
    /// 8 rows x 8 tokens: <c>o[t·stride + r] = W[r] · a[t]</c>. Token t's signed codes are at <c>a + t·k</c>, its block
    /// b scale at <c>da[8b + t]</c> and seed at <c>seeds[8b + t]</c> (<see cref="LegacyGemmX8.TokenIndex"/>);
    /// <paramref name="next"/>, when not null, is the group to prefetch meanwhile. Its 16 accumulators plus operands
    /// fit because the JIT encodes VNNI with EVEX (32 registers) on AVX-512 CPUs; on AVX2-only CPUs with AVX-VNNI some
    /// spill, still correct.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Tile8x8(byte* group, sbyte* a, int k, float* da, int* seeds, int blocks, float* o, int stride, byte* next)
    {
        Vector256<float> f0 = default, f1 = default, f2 = default, f3 = default, f4 = default, f5 = default, f6 = default, f7 = default;
        nint kk = k;
        for (int b = 0; b < blocks; b++)
        {
            if (next != null)
                PrefetchBlock(next + (long)b * TFormat.BlockBytes);
            byte* block = group + (long)b * TFormat.BlockBytes;
            sbyte* ab = a + 32 * b;
            Vector256<int> i0 = Vector256.Create(seeds[8 * b]);
            Vector256<int> i1 = Vector256.Create(seeds[8 * b + 1]);
            Vector256<int> i2 = Vector256.Create(seeds[8 * b + 2]);
            Vector256<int> i3 = Vector256.Create(seeds[8 * b + 3]);
            Vector256<int> i4 = Vector256.Create(seeds[8 * b + 4]);
            Vector256<int> i5 = Vector256.Create(seeds[8 * b + 5]);
            Vector256<int> i6 = Vector256.Create(seeds[8 * b + 6]);
            Vector256<int> i7 = Vector256.Create(seeds[8 * b + 7]);
            // Each chunk index is a constant once inlined, so Q4_0's nibble choice folds away. Tokens 0-3 broadcast each
            // chunk's 4 codes from memory, tokens 4-7 pick them by shuffle from two 16-byte broadcasts (see Tile8x4).
            sbyte* a4 = ab + 4 * kk, a5 = a4 + kk, a6 = a5 + kk, a7 = a6 + kk;
            Vector256<int> h4 = Avx2.BroadcastVector128ToVector256((int*)a4), h5 = Avx2.BroadcastVector128ToVector256((int*)a5);
            Vector256<int> h6 = Avx2.BroadcastVector128ToVector256((int*)a6), h7 = Avx2.BroadcastVector128ToVector256((int*)a7);
            Mixed8(TFormat.Chunk(block, 0), ab, kk, h4, h5, h6, h7, 0x00, ref i0, ref i1, ref i2, ref i3, ref i4, ref i5, ref i6, ref i7);
            Mixed8(TFormat.Chunk(block, 1), ab + 4, kk, h4, h5, h6, h7, 0x55, ref i0, ref i1, ref i2, ref i3, ref i4, ref i5, ref i6, ref i7);
            Mixed8(TFormat.Chunk(block, 2), ab + 8, kk, h4, h5, h6, h7, 0xAA, ref i0, ref i1, ref i2, ref i3, ref i4, ref i5, ref i6, ref i7);
            Mixed8(TFormat.Chunk(block, 3), ab + 12, kk, h4, h5, h6, h7, 0xFF, ref i0, ref i1, ref i2, ref i3, ref i4, ref i5, ref i6, ref i7);
            h4 = Avx2.BroadcastVector128ToVector256((int*)(a4 + 16));
            h5 = Avx2.BroadcastVector128ToVector256((int*)(a5 + 16));
            h6 = Avx2.BroadcastVector128ToVector256((int*)(a6 + 16));
            h7 = Avx2.BroadcastVector128ToVector256((int*)(a7 + 16));
            Mixed8(TFormat.Chunk(block, 4), ab + 16, kk, h4, h5, h6, h7, 0x00, ref i0, ref i1, ref i2, ref i3, ref i4, ref i5, ref i6, ref i7);
            Mixed8(TFormat.Chunk(block, 5), ab + 20, kk, h4, h5, h6, h7, 0x55, ref i0, ref i1, ref i2, ref i3, ref i4, ref i5, ref i6, ref i7);
            Mixed8(TFormat.Chunk(block, 6), ab + 24, kk, h4, h5, h6, h7, 0xAA, ref i0, ref i1, ref i2, ref i3, ref i4, ref i5, ref i6, ref i7);
            Mixed8(TFormat.Chunk(block, 7), ab + 28, kk, h4, h5, h6, h7, 0xFF, ref i0, ref i1, ref i2, ref i3, ref i4, ref i5, ref i6, ref i7);
            Vector256<float> s = TFormat.Scales(block);
            f0 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(i0), s * Vector256.Create(da[8 * b]), f0);
            f1 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(i1), s * Vector256.Create(da[8 * b + 1]), f1);
            f2 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(i2), s * Vector256.Create(da[8 * b + 2]), f2);
            f3 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(i3), s * Vector256.Create(da[8 * b + 3]), f3);
            f4 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(i4), s * Vector256.Create(da[8 * b + 4]), f4);
            f5 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(i5), s * Vector256.Create(da[8 * b + 5]), f5);
            f6 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(i6), s * Vector256.Create(da[8 * b + 6]), f6);
            f7 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(i7), s * Vector256.Create(da[8 * b + 7]), f7);
        }
        f0.Store(o);
        f1.Store(o + 1 * stride);
        f2.Store(o + 2 * stride);
        f3.Store(o + 3 * stride);
        f4.Store(o + 4 * stride);
        f5.Store(o + 5 * stride);
        f6.Store(o + 6 * stride);
        f7.Store(o + 7 * stride);
    }
    /// <summary>
    /// 8 rows x 4 tokens, as <see cref="Tile8x8"/> for tokens t0..t0+3 of an 8-token run (t0 a multiple of 4): for the few tokens a
    /// mixture's expert gets in a prompt, where a padded 8-token tile would compute twice the work. Same lane arithmetic;
    /// <paramref name="next"/>, when not null, is the group to prefetch meanwhile (the group's only tile, for an expert's 4-6 tokens).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Tile8x4(byte* group, sbyte* a, int k, float* da, int* seeds, int blocks, float* o, int stride, byte* next = null)
    {
        Vector256<float> f0 = default, f1 = default, f2 = default, f3 = default;
        nint kk = k;
        for (int b = 0; b < blocks; b++)
        {
            if (next != null)
                PrefetchBlock(next + (long)b * TFormat.BlockBytes);
            byte* block = group + (long)b * TFormat.BlockBytes;
            sbyte* a0 = a + 32 * b, a1 = a0 + kk, a2 = a1 + kk, a3 = a2 + kk;
            Vector256<int> i0 = Vector256.Create(seeds[8 * b]);
            Vector256<int> i1 = Vector256.Create(seeds[8 * b + 1]);
            Vector256<int> i2 = Vector256.Create(seeds[8 * b + 2]);
            Vector256<int> i3 = Vector256.Create(seeds[8 * b + 3]);
            // Tokens 0 and 1 broadcast each chunk's 4 codes from memory (a load each); tokens 2 and 3 broadcast their 32 codes
            // as two 16-byte halves and pick each chunk's 4 by an in-lane shuffle (as Tile8x2 does). All four from memory made
            // the load ports the limit, all four by shuffle the vector units that also run vpdpbusd; half and half balances
            // them (a mixture's expert with 4 tokens of a prompt: 31.8 GB/s all loads, 35.3 all shuffles, 37.7 mixed).
            Vector256<int> lo2 = Avx2.BroadcastVector128ToVector256((int*)a2), lo3 = Avx2.BroadcastVector128ToVector256((int*)a3);
            Mixed4(TFormat.Chunk(block, 0), a0, a1, lo2, lo3, 0x00, ref i0, ref i1, ref i2, ref i3);
            Mixed4(TFormat.Chunk(block, 1), a0 + 4, a1 + 4, lo2, lo3, 0x55, ref i0, ref i1, ref i2, ref i3);
            Mixed4(TFormat.Chunk(block, 2), a0 + 8, a1 + 8, lo2, lo3, 0xAA, ref i0, ref i1, ref i2, ref i3);
            Mixed4(TFormat.Chunk(block, 3), a0 + 12, a1 + 12, lo2, lo3, 0xFF, ref i0, ref i1, ref i2, ref i3);
            Vector256<int> hi2 = Avx2.BroadcastVector128ToVector256((int*)(a2 + 16)), hi3 = Avx2.BroadcastVector128ToVector256((int*)(a3 + 16));
            Mixed4(TFormat.Chunk(block, 4), a0 + 16, a1 + 16, hi2, hi3, 0x00, ref i0, ref i1, ref i2, ref i3);
            Mixed4(TFormat.Chunk(block, 5), a0 + 20, a1 + 20, hi2, hi3, 0x55, ref i0, ref i1, ref i2, ref i3);
            Mixed4(TFormat.Chunk(block, 6), a0 + 24, a1 + 24, hi2, hi3, 0xAA, ref i0, ref i1, ref i2, ref i3);
            Mixed4(TFormat.Chunk(block, 7), a0 + 28, a1 + 28, hi2, hi3, 0xFF, ref i0, ref i1, ref i2, ref i3);
            Vector256<float> s = TFormat.Scales(block);
            f0 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(i0), s * Vector256.Create(da[8 * b]), f0);
            f1 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(i1), s * Vector256.Create(da[8 * b + 1]), f1);
            f2 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(i2), s * Vector256.Create(da[8 * b + 2]), f2);
            f3 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(i3), s * Vector256.Create(da[8 * b + 3]), f3);
        }
        f0.Store(o);
        f1.Store(o + 1 * stride);
        f2.Store(o + 2 * stride);
        f3.Store(o + 3 * stride);
    }

    /// <summary>
    /// 8 rows x 3 tokens, t0..t0+2 of an 8-token run (t0 % 8 ≤ 5), as <see cref="Tile8x4"/> without a padded fourth token: the
    /// 3 tokens a mixture's expert most often gets of a prompt (a padded 4-token tile spent a quarter of its work on nothing).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Tile8x3(byte* group, sbyte* a, int k, float* da, int* seeds, int blocks, float* o, int stride, byte* next = null)
    {
        Vector256<float> f0 = default, f1 = default, f2 = default;
        nint kk = k;
        for (int b = 0; b < blocks; b++)
        {
            if (next != null)
                PrefetchBlock(next + (long)b * TFormat.BlockBytes);
            byte* block = group + (long)b * TFormat.BlockBytes;
            sbyte* a0 = a + 32 * b, a1 = a0 + kk, a2 = a1 + kk;
            Vector256<int> i0 = Vector256.Create(seeds[8 * b]);
            Vector256<int> i1 = Vector256.Create(seeds[8 * b + 1]);
            Vector256<int> i2 = Vector256.Create(seeds[8 * b + 2]);
            Vector256<int> lo2 = Avx2.BroadcastVector128ToVector256((int*)a2);
            Mixed3(TFormat.Chunk(block, 0), a0, a1, lo2, 0x00, ref i0, ref i1, ref i2);
            Mixed3(TFormat.Chunk(block, 1), a0 + 4, a1 + 4, lo2, 0x55, ref i0, ref i1, ref i2);
            Mixed3(TFormat.Chunk(block, 2), a0 + 8, a1 + 8, lo2, 0xAA, ref i0, ref i1, ref i2);
            Mixed3(TFormat.Chunk(block, 3), a0 + 12, a1 + 12, lo2, 0xFF, ref i0, ref i1, ref i2);
            Vector256<int> hi2 = Avx2.BroadcastVector128ToVector256((int*)(a2 + 16));
            Mixed3(TFormat.Chunk(block, 4), a0 + 16, a1 + 16, hi2, 0x00, ref i0, ref i1, ref i2);
            Mixed3(TFormat.Chunk(block, 5), a0 + 20, a1 + 20, hi2, 0x55, ref i0, ref i1, ref i2);
            Mixed3(TFormat.Chunk(block, 6), a0 + 24, a1 + 24, hi2, 0xAA, ref i0, ref i1, ref i2);
            Mixed3(TFormat.Chunk(block, 7), a0 + 28, a1 + 28, hi2, 0xFF, ref i0, ref i1, ref i2);
            Vector256<float> s = TFormat.Scales(block);
            f0 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(i0), s * Vector256.Create(da[8 * b]), f0);
            f1 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(i1), s * Vector256.Create(da[8 * b + 1]), f1);
            f2 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(i2), s * Vector256.Create(da[8 * b + 2]), f2);
        }
        f0.Store(o);
        f1.Store(o + 1 * stride);
        f2.Store(o + 2 * stride);
    }

    /// <summary>One chunk against eight tokens: the first four's 4 codes broadcast from memory (token t's at <c>p + t·kk</c>), the others' picked from their broadcast halves.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Mixed8(Vector256<byte> x, sbyte* p, nint kk, Vector256<int> half4, Vector256<int> half5, Vector256<int> half6, Vector256<int> half7, [ConstantExpected] byte pick,
        ref Vector256<int> i0, ref Vector256<int> i1, ref Vector256<int> i2, ref Vector256<int> i3, ref Vector256<int> i4, ref Vector256<int> i5, ref Vector256<int> i6, ref Vector256<int> i7)
    {
        i0 = LegacyGemmX8.Dot4(i0, x, p);
        i1 = LegacyGemmX8.Dot4(i1, x, p + kk);
        i2 = LegacyGemmX8.Dot4(i2, x, p + 2 * kk);
        i3 = LegacyGemmX8.Dot4(i3, x, p + 3 * kk);
        i4 = LegacyGemmX8.Dot4(i4, x, Avx2.Shuffle(half4, pick));
        i5 = LegacyGemmX8.Dot4(i5, x, Avx2.Shuffle(half5, pick));
        i6 = LegacyGemmX8.Dot4(i6, x, Avx2.Shuffle(half6, pick));
        i7 = LegacyGemmX8.Dot4(i7, x, Avx2.Shuffle(half7, pick));
    }

    /// <summary>One chunk against three tokens: the first two's 4 codes broadcast from memory, the third's picked from its broadcast half.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Mixed3(Vector256<byte> x, sbyte* p0, sbyte* p1, Vector256<int> half2, [ConstantExpected] byte pick,
        ref Vector256<int> i0, ref Vector256<int> i1, ref Vector256<int> i2)
    {
        i0 = LegacyGemmX8.Dot4(i0, x, p0);
        i1 = LegacyGemmX8.Dot4(i1, x, p1);
        i2 = LegacyGemmX8.Dot4(i2, x, Avx2.Shuffle(half2, pick));
    }

    /// <summary>One chunk against four tokens: the first two's 4 codes broadcast from memory, the others' picked from their broadcast halves.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Mixed4(Vector256<byte> x, sbyte* p0, sbyte* p1, Vector256<int> half2, Vector256<int> half3, [ConstantExpected] byte pick,
        ref Vector256<int> i0, ref Vector256<int> i1, ref Vector256<int> i2, ref Vector256<int> i3)
    {
        i0 = LegacyGemmX8.Dot4(i0, x, p0);
        i1 = LegacyGemmX8.Dot4(i1, x, p1);
        i2 = LegacyGemmX8.Dot4(i2, x, Avx2.Shuffle(half2, pick));
        i3 = LegacyGemmX8.Dot4(i3, x, Avx2.Shuffle(half3, pick));
    }


    /// <summary>
    /// 8 rows x 2 tokens, t0 and t0+1 of an 8-token run (t0 % 8 ≤ 6): for the 1-2 tokens a mixture's expert most often gets of a
    /// prompt (and a 2-sequence decode), each chunk and the scales decoded once for both instead of once per single-token
    /// pass. Streams the group as <see cref="Group8x1"/> does; same lane arithmetic.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Tile8x2(byte* group, sbyte* a, int k, float* da, int* seeds, int blocks, float* o, int stride)
    {
        Vector256<float> f0 = default, f1 = default;
        int ahead = WeightPrefetch.Distance;
        for (int b = 0; b < blocks; b++)
        {
            byte* block = group + (long)b * TFormat.BlockBytes;
            LegacyGemmX8.PrefetchLines(block + ahead, TFormat.BlockBytes);
            sbyte* a0 = a + 32 * b, a1 = a0 + k;
            Vector256<int> i0 = Vector256.Create(seeds[8 * b]), i1 = Vector256.Create(seeds[8 * b + 1]);
            Vector256<int> lo0 = Avx2.BroadcastVector128ToVector256((int*)a0), hi0 = Avx2.BroadcastVector128ToVector256((int*)(a0 + 16));
            Vector256<int> lo1 = Avx2.BroadcastVector128ToVector256((int*)a1), hi1 = Avx2.BroadcastVector128ToVector256((int*)(a1 + 16));
            Chunk2(TFormat.Chunk(block, 0), lo0, lo1, 0x00, ref i0, ref i1);
            Chunk2(TFormat.Chunk(block, 1), lo0, lo1, 0x55, ref i0, ref i1);
            Chunk2(TFormat.Chunk(block, 2), lo0, lo1, 0xAA, ref i0, ref i1);
            Chunk2(TFormat.Chunk(block, 3), lo0, lo1, 0xFF, ref i0, ref i1);
            Chunk2(TFormat.Chunk(block, 4), hi0, hi1, 0x00, ref i0, ref i1);
            Chunk2(TFormat.Chunk(block, 5), hi0, hi1, 0x55, ref i0, ref i1);
            Chunk2(TFormat.Chunk(block, 6), hi0, hi1, 0xAA, ref i0, ref i1);
            Chunk2(TFormat.Chunk(block, 7), hi0, hi1, 0xFF, ref i0, ref i1);
            Vector256<float> s = TFormat.Scales(block);
            f0 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(i0), s * Vector256.Create(da[8 * b]), f0);
            f1 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(i1), s * Vector256.Create(da[8 * b + 1]), f1);
        }
        f0.Store(o);
        f1.Store(o + stride);
    }

    /// <summary>One chunk against two tokens' 4 codes, picked by <paramref name="pick"/> from their broadcast 16-byte halves.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Chunk2(Vector256<byte> x, Vector256<int> half0, Vector256<int> half1, [ConstantExpected] byte pick, ref Vector256<int> i0, ref Vector256<int> i1)
    {
        i0 = LegacyGemmX8.Dot4(i0, x, Avx2.Shuffle(half0, pick));
        i1 = LegacyGemmX8.Dot4(i1, x, Avx2.Shuffle(half1, pick));
    }

    /// <summary>Chunk <paramref name="c"/> of a block (4 codes of each of 8 rows) against 8 tokens' codes at <c>ab + 4c + t·kk</c>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Chunk8(byte* block, int c, sbyte* ab, nint kk,
        ref Vector256<int> i0, ref Vector256<int> i1, ref Vector256<int> i2, ref Vector256<int> i3, ref Vector256<int> i4, ref Vector256<int> i5, ref Vector256<int> i6, ref Vector256<int> i7)
    {
        LegacyGemmX8.Dot4x8(TFormat.Chunk(block, c), ab + 4 * c, kk, ref i0, ref i1, ref i2, ref i3, ref i4, ref i5, ref i6, ref i7);
    }

    /// <summary>8 rows x 1 token (decode): <c>o[r] = W[r] · a</c>, streaming the group once; same lane arithmetic as the tiles.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Group8x1(byte* group, sbyte* a, float* da, int* seeds, int blocks, float* o)
    {
        Vector256<float> f = default;
        int ahead = WeightPrefetch.Distance;
        for (int b = 0; b < blocks; b++)
        {
            byte* block = group + (long)b * TFormat.BlockBytes;
            LegacyGemmX8.PrefetchLines(block + ahead, TFormat.BlockBytes);
            sbyte* ab = a + 32 * b;
            Vector256<int> i = Vector256.Create(seeds[8 * b]);
            // The block's 32 activation codes as two 16-byte broadcasts, each chunk's 4 picked out by an in-lane shuffle:
            // one broadcast load per chunk made the load ports the limit (in L3, one core 74 -> 89 GB/s, two 148 -> 164).
            Vector256<int> lo = Avx2.BroadcastVector128ToVector256((int*)ab), hi = Avx2.BroadcastVector128ToVector256((int*)(ab + 16));
            i = LegacyGemmX8.Dot4(i, TFormat.Chunk(block, 0), Avx2.Shuffle(lo, 0x00));
            i = LegacyGemmX8.Dot4(i, TFormat.Chunk(block, 1), Avx2.Shuffle(lo, 0x55));
            i = LegacyGemmX8.Dot4(i, TFormat.Chunk(block, 2), Avx2.Shuffle(lo, 0xAA));
            i = LegacyGemmX8.Dot4(i, TFormat.Chunk(block, 3), Avx2.Shuffle(lo, 0xFF));
            i = LegacyGemmX8.Dot4(i, TFormat.Chunk(block, 4), Avx2.Shuffle(hi, 0x00));
            i = LegacyGemmX8.Dot4(i, TFormat.Chunk(block, 5), Avx2.Shuffle(hi, 0x55));
            i = LegacyGemmX8.Dot4(i, TFormat.Chunk(block, 6), Avx2.Shuffle(hi, 0xAA));
            i = LegacyGemmX8.Dot4(i, TFormat.Chunk(block, 7), Avx2.Shuffle(hi, 0xFF));
            f = Fma.MultiplyAdd(Avx.ConvertToVector256Single(i), TFormat.Scales(block) * Vector256.Create(da[8 * b]), f);
        }
        f.Store(o);
    }

    /// <summary>Scalar twin of one row against one token, in the kernels' order (and with their fused multiply-add).</summary>
    public static float DotScalar(byte* group, int row, sbyte* a, float* da, int blocks, int daStride = 1)
    {
        float f = 0;
        for (int b = 0; b < blocks; b++)
        {
            byte* block = group + (long)b * TFormat.BlockBytes;
            int isum = 0;
            for (int e = 0; e < 32; e++)
                isum += TFormat.Code(block, row, e) * a[32 * b + e];
            float dw = TFormat.Scale(block, row);
            f = MathF.FusedMultiplyAdd(isum, dw * da[daStride * b], f);
        }
        return f;
    }
}
