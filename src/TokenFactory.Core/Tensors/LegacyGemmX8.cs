using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using TokenFactory.Platform;

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

    /// <summary>
    /// The 16-row tiles (<see cref="LegacyGemmX8{TFormat}.Tile16"/>: <c>vpmaddubsw</c> on 512 bits, twice the byte products per
    /// instruction of the 256-bit <c>vpdpbusd</c>) can run: AVX-512BW, for 4-bit formats whose codes are small enough
    /// (<see cref="WideMaxCode"/>), unless <see cref="KernelOptions.LegacyWide"/> turns them off.
    /// </summary>
    public static bool WideSupported => IsSupported && Avx512BW.IsSupported && Avx512F.IsSupported;

    /// <summary>
    /// The largest code the 16-row tiles take: they add four pair sums of code × activation (each at most 2 · 31 · 128 = 7936)
    /// in a 16-bit lane, 31744 &lt; 32768, so every block sum stays exact.
    /// </summary>
    public const int WideMaxCode = 31;

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

    /// <summary>The largest value <see cref="Chunk"/> gives (value + zero point).</summary>
    static abstract int MaxCode { get; }

    /// <summary>
    /// Where a group block's codes start when they are 4-bit, stored as <see cref="Q4_0x8.Nibbles"/> reads them (chunk j &lt; 4 in
    /// the low nibbles of stored chunk j, chunk j ≥ 4 in the high nibbles of j − 4); −1 for a format of whole bytes.
    /// </summary>
    static abstract int NibbleOffset { get; }

    /// <summary>A 4-bit format's chunk values (value + zero point) from its raw nibbles, 64 at a time (each 128-bit lane alike).</summary>
    static abstract Vector512<byte> NibbleValues(Vector512<byte> nibbles);

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

    public static int MaxCode => 255;

    public static int NibbleOffset => -1;

    public static Vector512<byte> NibbleValues(Vector512<byte> nibbles) => throw new NotSupportedException("Q8_0 codes are whole bytes.");

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

    public static int MaxCode => 15;

    public static int NibbleOffset => LegacyGemmX8.ScaleBytes;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<byte> NibbleValues(Vector512<byte> nibbles) => nibbles;

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

    /// <summary>Whether <see cref="Tile16"/> runs for this format on this CPU with these settings (a constant once compiled).</summary>
    private static readonly bool s_wide = LegacyGemmX8.WideSupported && TFormat.NibbleOffset >= 0 && TFormat.MaxCode <= LegacyGemmX8.WideMaxCode
        && KernelOptions.Current.LegacyWide;

    /// <summary>Whether prompt tiles of 3-8 tokens take two groups at a time on 512 bits (<see cref="Tile16"/>) for this format here.</summary>
    public static bool Wide => s_wide;

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
    public static void Tile8x8(byte* group, sbyte* a, int k, float* da, int* seeds, int blocks, float* o, int stride, byte* next)
        => Tile<Tokens8>(group, a, k, da, seeds, blocks, o, stride, next);

    /// <summary>
    /// 8 rows x <paramref name="count"/> (3-7) tokens t0.. of an 8-token run (t0 % 8 + count ≤ 8), as <see cref="Tile8x8"/>
    /// with only those tokens' products: the few tokens a mixture's expert gets of a prompt, or a batch of a few sequences
    /// decoding (a padded tile computed the missing tokens for nothing, a 4-token tile and single passes decoded the group's
    /// codes again). <paramref name="next"/>, when not null, is the group to prefetch meanwhile.
    /// </summary>
    public static void TileFew(byte* group, sbyte* a, int k, float* da, int* seeds, int blocks, float* o, int stride, byte* next, int count)
    {
        switch (count)
        {
            case 3: Tile<Tokens3>(group, a, k, da, seeds, blocks, o, stride, next); break;
            case 4: Tile<Tokens4>(group, a, k, da, seeds, blocks, o, stride, next); break;
            case 5: Tile<Tokens5>(group, a, k, da, seeds, blocks, o, stride, next); break;
            case 6: Tile<Tokens6>(group, a, k, da, seeds, blocks, o, stride, next); break;
            case 7: Tile<Tokens7>(group, a, k, da, seeds, blocks, o, stride, next); break;
            default: throw new ArgumentOutOfRangeException(nameof(count), count, "a few-token tile takes 3 to 7 tokens");
        }
    }

    /// <summary>
    /// 16 rows (the 8 of <paramref name="groupA"/>, then <paramref name="groupB"/>'s) × <paramref name="count"/> (3-8) tokens t0.. of
    /// an 8-token run: <c>o[t·stride + r]</c>, r in 0..15, as <see cref="Tile8x8"/> and <see cref="TileFew"/> compute them, on 512-bit
    /// <c>vpmaddubsw</c>, where <see cref="Wide"/>. <paramref name="nextA"/> and <paramref name="nextB"/>, when not null, are the
    /// groups to prefetch meanwhile.
    /// </summary>
    public static void Tile16(byte* groupA, byte* groupB, sbyte* a, int k, float* da, int* seeds, int blocks, float* o, int stride, byte* nextA, byte* nextB, int count)
    {
        switch (count)
        {
            case 3: Tile16<Tokens3>(groupA, groupB, a, k, da, seeds, blocks, o, stride, nextA, nextB); break;
            case 4: Tile16<Tokens4>(groupA, groupB, a, k, da, seeds, blocks, o, stride, nextA, nextB); break;
            case 5: Tile16<Tokens5>(groupA, groupB, a, k, da, seeds, blocks, o, stride, nextA, nextB); break;
            case 6: Tile16<Tokens6>(groupA, groupB, a, k, da, seeds, blocks, o, stride, nextA, nextB); break;
            case 7: Tile16<Tokens7>(groupA, groupB, a, k, da, seeds, blocks, o, stride, nextA, nextB); break;
            case 8: Tile16<Tokens8>(groupA, groupB, a, k, da, seeds, blocks, o, stride, nextA, nextB); break;
            default: throw new ArgumentOutOfRangeException(nameof(count), count, "a 16-row tile takes 3 to 8 tokens");
        }
    }

    /// <summary>
    /// The 16-row tile. A 512-bit vector holds chunk j of both groups (16 rows × 4 codes), so one broadcast of a token's 4 codes
    /// meets 16 rows in one <c>vpmaddubsw</c> (64 byte products where a 256-bit <c>vpdpbusd</c> does 32, at the same rate). Its
    /// pair sums add up over the block's chunks in 16-bit lanes, exactly: a pair sum is at most 2 · code · 128, so eight of them
    /// fit for codes up to 15 (Q4_0), and formats with codes up to 31 (MXFP4) add four at a time into two sums. One
    /// <c>vpmaddwd</c> then widens each row's two lanes; plus the seed, that is the block's exact integer sum, so the float
    /// steps, and every result, are those of the 8-row kernels.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Tile16<TTokens>(byte* groupA, byte* groupB, sbyte* a, int k, float* da, int* seeds, int blocks, float* o, int stride, byte* nextA, byte* nextB)
        where TTokens : struct, ITileTokens
    {
        int n = TTokens.Count;
        Vector512<float> f0 = default, f1 = default, f2 = default, f3 = default, f4 = default, f5 = default, f6 = default, f7 = default;
        nint kk = k;
        int codes = TFormat.NibbleOffset;
        var low = Vector512.Create((byte)0x0F);
        for (int b = 0; b < blocks; b++)
        {
            long at = (long)b * TFormat.BlockBytes;
            if (nextA != null)
            {
                PrefetchBlock(nextA + at);
                PrefetchBlock(nextB + at);
            }
            byte* pa = groupA + at, pb = groupB + at;
            // Stored chunk s of both groups: chunk s in the low nibbles, chunk s + 4 in the high ones.
            Vector512<byte> s0 = Join(pa + codes, pb + codes), s1 = Join(pa + codes + 32, pb + codes + 32);
            Vector512<byte> s2 = Join(pa + codes + 64, pb + codes + 64), s3 = Join(pa + codes + 96, pb + codes + 96);
            var c = new Chunks16(
                TFormat.NibbleValues(s0 & low), TFormat.NibbleValues(s1 & low), TFormat.NibbleValues(s2 & low), TFormat.NibbleValues(s3 & low),
                TFormat.NibbleValues((s0.AsUInt16() >>> 4).AsByte() & low), TFormat.NibbleValues((s1.AsUInt16() >>> 4).AsByte() & low),
                TFormat.NibbleValues((s2.AsUInt16() >>> 4).AsByte() & low), TFormat.NibbleValues((s3.AsUInt16() >>> 4).AsByte() & low));
            Vector512<float> s = Avx512F.InsertVector256(TFormat.Scales(pa).ToVector512Unsafe(), TFormat.Scales(pb), 1);
            sbyte* ab = a + 32 * b;
            int* z = seeds + 8 * b;
            float* d = da + 8 * b;
            f0 = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(BlockSum16(c, ab) + Vector512.Create(z[0])), s * Vector512.Create(d[0]), f0);
            f1 = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(BlockSum16(c, ab + kk) + Vector512.Create(z[1])), s * Vector512.Create(d[1]), f1);
            f2 = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(BlockSum16(c, ab + 2 * kk) + Vector512.Create(z[2])), s * Vector512.Create(d[2]), f2);
            if (n > 3)
                f3 = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(BlockSum16(c, ab + 3 * kk) + Vector512.Create(z[3])), s * Vector512.Create(d[3]), f3);
            if (n > 4)
                f4 = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(BlockSum16(c, ab + 4 * kk) + Vector512.Create(z[4])), s * Vector512.Create(d[4]), f4);
            if (n > 5)
                f5 = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(BlockSum16(c, ab + 5 * kk) + Vector512.Create(z[5])), s * Vector512.Create(d[5]), f5);
            if (n > 6)
                f6 = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(BlockSum16(c, ab + 6 * kk) + Vector512.Create(z[6])), s * Vector512.Create(d[6]), f6);
            if (n > 7)
                f7 = Avx512F.FusedMultiplyAdd(Avx512F.ConvertToVector512Single(BlockSum16(c, ab + 7 * kk) + Vector512.Create(z[7])), s * Vector512.Create(d[7]), f7);
        }
        f0.Store(o);
        f1.Store(o + stride);
        f2.Store(o + 2 * stride);
        if (n > 3)
            f3.Store(o + 3 * stride);
        if (n > 4)
            f4.Store(o + 4 * stride);
        if (n > 5)
            f5.Store(o + 5 * stride);
        if (n > 6)
            f6.Store(o + 6 * stride);
        if (n > 7)
            f7.Store(o + 7 * stride);
    }

    /// <summary>32 bytes at <paramref name="low"/>, then 32 at <paramref name="high"/> (a load and an insert from memory; <c>Vector512.Create</c> of two loads inserted both).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<byte> Join(byte* low, byte* high) => Avx512F.InsertVector256(Vector256.Load(low).ToVector512Unsafe(), Vector256.Load(high), 1);

    /// <summary>A block's 8 chunks of 16 rows (chunk j: element 4j+i of row r in byte 4r+i, rows 8-15 in the high half).</summary>
    private readonly struct Chunks16(Vector512<byte> c0, Vector512<byte> c1, Vector512<byte> c2, Vector512<byte> c3,
        Vector512<byte> c4, Vector512<byte> c5, Vector512<byte> c6, Vector512<byte> c7)
    {
        public readonly Vector512<byte> C0 = c0, C1 = c1, C2 = c2, C3 = c3, C4 = c4, C5 = c5, C6 = c6, C7 = c7;
    }

    /// <summary>One token's block against 16 rows: lane r, the exact Σ code·a of row r over the block (without the seed).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<int> BlockSum16(in Chunks16 c, sbyte* ab)
    {
        var ones = Vector512.Create((short)1);
        Vector512<short> first = Avx512BW.MultiplyAddAdjacent(c.C0, Vector512.Create(*(int*)ab).AsSByte());
        first += Avx512BW.MultiplyAddAdjacent(c.C1, Vector512.Create(*(int*)(ab + 4)).AsSByte());
        first += Avx512BW.MultiplyAddAdjacent(c.C2, Vector512.Create(*(int*)(ab + 8)).AsSByte());
        first += Avx512BW.MultiplyAddAdjacent(c.C3, Vector512.Create(*(int*)(ab + 12)).AsSByte());
        Vector512<short> second = Avx512BW.MultiplyAddAdjacent(c.C4, Vector512.Create(*(int*)(ab + 16)).AsSByte());
        second += Avx512BW.MultiplyAddAdjacent(c.C5, Vector512.Create(*(int*)(ab + 20)).AsSByte());
        second += Avx512BW.MultiplyAddAdjacent(c.C6, Vector512.Create(*(int*)(ab + 24)).AsSByte());
        second += Avx512BW.MultiplyAddAdjacent(c.C7, Vector512.Create(*(int*)(ab + 28)).AsSByte());
        // Eight pair sums per lane fit 16 bits for codes up to 15; larger codes widen each half on its own.
        return TFormat.MaxCode <= 15
            ? Avx512BW.MultiplyAddAdjacent(first + second, ones)
            : Avx512BW.MultiplyAddAdjacent(first, ones) + Avx512BW.MultiplyAddAdjacent(second, ones);
    }

    /// <summary>
    /// 8 rows × <typeparamref name="TTokens"/>' count (3-8) of tokens, compiled per count (the other tokens' work drops out).
    /// The first half of the tokens (rounded up) broadcast each chunk's 4 activation codes from memory, a load each; the
    /// others broadcast their 32 codes as two 16-byte halves and pick each chunk's 4 by an in-lane shuffle (as
    /// <see cref="Tile8x2"/> does). All from memory made the load ports the limit, all by shuffle the vector units that also
    /// run <c>vpdpbusd</c>; half and half balances them (an expert of Nemotron 3 Nano's shape with 4 tokens: 31.8 GB/s all
    /// loads, 35.3 all shuffles, 37.7 mixed). Each chunk index is a constant once inlined, so Q4_0's nibble choice folds away.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Tile<TTokens>(byte* group, sbyte* a, int k, float* da, int* seeds, int blocks, float* o, int stride, byte* next)
        where TTokens : struct, ITileTokens
    {
        int n = TTokens.Count;
        Vector256<float> f0 = default, f1 = default, f2 = default, f3 = default, f4 = default, f5 = default, f6 = default, f7 = default;
        nint kk = k;
        for (int b = 0; b < blocks; b++)
        {
            if (next != null)
                PrefetchBlock(next + (long)b * TFormat.BlockBytes);
            byte* block = group + (long)b * TFormat.BlockBytes;
            sbyte* ab = a + 32 * b;
            int* z = seeds + 8 * b;
            Vector256<int> i0 = Vector256.Create(z[0]), i1 = Vector256.Create(z[1]), i2 = Vector256.Create(z[2]);
            Vector256<int> i3 = n > 3 ? Vector256.Create(z[3]) : default, i4 = n > 4 ? Vector256.Create(z[4]) : default;
            Vector256<int> i5 = n > 5 ? Vector256.Create(z[5]) : default, i6 = n > 6 ? Vector256.Create(z[6]) : default;
            Vector256<int> i7 = n > 7 ? Vector256.Create(z[7]) : default;
            Halves<TTokens>(ab, kk, 0, out var h1, out var h2, out var h3, out var h4, out var h5, out var h6, out var h7);
            Chunk<TTokens>(TFormat.Chunk(block, 0), ab, kk, h1, h2, h3, h4, h5, h6, h7, 0x00, ref i0, ref i1, ref i2, ref i3, ref i4, ref i5, ref i6, ref i7);
            Chunk<TTokens>(TFormat.Chunk(block, 1), ab + 4, kk, h1, h2, h3, h4, h5, h6, h7, 0x55, ref i0, ref i1, ref i2, ref i3, ref i4, ref i5, ref i6, ref i7);
            Chunk<TTokens>(TFormat.Chunk(block, 2), ab + 8, kk, h1, h2, h3, h4, h5, h6, h7, 0xAA, ref i0, ref i1, ref i2, ref i3, ref i4, ref i5, ref i6, ref i7);
            Chunk<TTokens>(TFormat.Chunk(block, 3), ab + 12, kk, h1, h2, h3, h4, h5, h6, h7, 0xFF, ref i0, ref i1, ref i2, ref i3, ref i4, ref i5, ref i6, ref i7);
            Halves<TTokens>(ab, kk, 16, out h1, out h2, out h3, out h4, out h5, out h6, out h7);
            Chunk<TTokens>(TFormat.Chunk(block, 4), ab + 16, kk, h1, h2, h3, h4, h5, h6, h7, 0x00, ref i0, ref i1, ref i2, ref i3, ref i4, ref i5, ref i6, ref i7);
            Chunk<TTokens>(TFormat.Chunk(block, 5), ab + 20, kk, h1, h2, h3, h4, h5, h6, h7, 0x55, ref i0, ref i1, ref i2, ref i3, ref i4, ref i5, ref i6, ref i7);
            Chunk<TTokens>(TFormat.Chunk(block, 6), ab + 24, kk, h1, h2, h3, h4, h5, h6, h7, 0xAA, ref i0, ref i1, ref i2, ref i3, ref i4, ref i5, ref i6, ref i7);
            Chunk<TTokens>(TFormat.Chunk(block, 7), ab + 28, kk, h1, h2, h3, h4, h5, h6, h7, 0xFF, ref i0, ref i1, ref i2, ref i3, ref i4, ref i5, ref i6, ref i7);
            Vector256<float> s = TFormat.Scales(block);
            float* d = da + 8 * b;
            f0 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(i0), s * Vector256.Create(d[0]), f0);
            f1 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(i1), s * Vector256.Create(d[1]), f1);
            f2 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(i2), s * Vector256.Create(d[2]), f2);
            if (n > 3)
                f3 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(i3), s * Vector256.Create(d[3]), f3);
            if (n > 4)
                f4 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(i4), s * Vector256.Create(d[4]), f4);
            if (n > 5)
                f5 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(i5), s * Vector256.Create(d[5]), f5);
            if (n > 6)
                f6 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(i6), s * Vector256.Create(d[6]), f6);
            if (n > 7)
                f7 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(i7), s * Vector256.Create(d[7]), f7);
        }
        f0.Store(o);
        f1.Store(o + stride);
        f2.Store(o + 2 * stride);
        if (n > 3)
            f3.Store(o + 3 * stride);
        if (n > 4)
            f4.Store(o + 4 * stride);
        if (n > 5)
            f5.Store(o + 5 * stride);
        if (n > 6)
            f6.Store(o + 6 * stride);
        if (n > 7)
            f7.Store(o + 7 * stride);
    }

    /// <summary>Whether token <paramref name="t"/> of a tile of <typeparamref name="TTokens"/> picks its codes by shuffle (the second half) rather than from memory.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool Shuffled<TTokens>(int t) where TTokens : struct, ITileTokens => t >= (TTokens.Count + 1) / 2 && t < TTokens.Count;

    /// <summary>The 16-byte half at <paramref name="offset"/> (0 or 16) of each shuffled token's block codes, broadcast to both lanes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Halves<TTokens>(sbyte* ab, nint kk, int offset, out Vector256<int> h1, out Vector256<int> h2, out Vector256<int> h3,
        out Vector256<int> h4, out Vector256<int> h5, out Vector256<int> h6, out Vector256<int> h7) where TTokens : struct, ITileTokens
    {
        h1 = Shuffled<TTokens>(1) ? Avx2.BroadcastVector128ToVector256((int*)(ab + kk + offset)) : default;
        h2 = Shuffled<TTokens>(2) ? Avx2.BroadcastVector128ToVector256((int*)(ab + 2 * kk + offset)) : default;
        h3 = Shuffled<TTokens>(3) ? Avx2.BroadcastVector128ToVector256((int*)(ab + 3 * kk + offset)) : default;
        h4 = Shuffled<TTokens>(4) ? Avx2.BroadcastVector128ToVector256((int*)(ab + 4 * kk + offset)) : default;
        h5 = Shuffled<TTokens>(5) ? Avx2.BroadcastVector128ToVector256((int*)(ab + 5 * kk + offset)) : default;
        h6 = Shuffled<TTokens>(6) ? Avx2.BroadcastVector128ToVector256((int*)(ab + 6 * kk + offset)) : default;
        h7 = Shuffled<TTokens>(7) ? Avx2.BroadcastVector128ToVector256((int*)(ab + 7 * kk + offset)) : default;
    }

    /// <summary>Token <paramref name="t"/>'s products of one chunk: its 4 codes at <paramref name="p"/> broadcast from memory, or picked from its broadcast half.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> Dot<TTokens>(int t, Vector256<int> acc, Vector256<byte> x, sbyte* p, Vector256<int> half, [ConstantExpected] byte pick)
        where TTokens : struct, ITileTokens
        => Shuffled<TTokens>(t) ? LegacyGemmX8.Dot4(acc, x, Avx2.Shuffle(half, pick)) : LegacyGemmX8.Dot4(acc, x, p);

    /// <summary>One chunk (4 codes of each of 8 rows) against the tile's tokens, token t's codes at <c>p + t·kk</c> (token 0 always from memory).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Chunk<TTokens>(Vector256<byte> x, sbyte* p, nint kk, Vector256<int> h1, Vector256<int> h2, Vector256<int> h3, Vector256<int> h4,
        Vector256<int> h5, Vector256<int> h6, Vector256<int> h7, [ConstantExpected] byte pick,
        ref Vector256<int> i0, ref Vector256<int> i1, ref Vector256<int> i2, ref Vector256<int> i3, ref Vector256<int> i4, ref Vector256<int> i5, ref Vector256<int> i6, ref Vector256<int> i7)
        where TTokens : struct, ITileTokens
    {
        int n = TTokens.Count;
        i0 = LegacyGemmX8.Dot4(i0, x, p);
        i1 = Dot<TTokens>(1, i1, x, p + kk, h1, pick);
        i2 = Dot<TTokens>(2, i2, x, p + 2 * kk, h2, pick);
        if (n > 3)
            i3 = Dot<TTokens>(3, i3, x, p + 3 * kk, h3, pick);
        if (n > 4)
            i4 = Dot<TTokens>(4, i4, x, p + 4 * kk, h4, pick);
        if (n > 5)
            i5 = Dot<TTokens>(5, i5, x, p + 5 * kk, h5, pick);
        if (n > 6)
            i6 = Dot<TTokens>(6, i6, x, p + 6 * kk, h6, pick);
        if (n > 7)
            i7 = Dot<TTokens>(7, i7, x, p + 7 * kk, h7, pick);
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
