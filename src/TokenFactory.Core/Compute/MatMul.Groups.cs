using System.Runtime.CompilerServices;
using TokenFactory.Tensors;

namespace TokenFactory.Compute;

/// <summary>
/// The tiled path's one loop over row groups, shared by every repacked format: each format supplies its kernels
/// through <see cref="IGroupKernel"/> (specialised by the JIT, so the loop costs nothing per call).
/// </summary>
public sealed unsafe partial class MatMul
{
    /// <summary>One call's quantized activations, as the kernels address them.</summary>
    private readonly struct Activations(sbyte* codes, float* scales, int* sums, int k)
    {
        public readonly sbyte* Codes = codes;
        public readonly float* Scales = scales;
        public readonly int* Sums = sums;
        public readonly int K = k;
    }

    /// <summary>A repacked format's kernels over one group of 8 rows.</summary>
    private interface IGroupKernel
    {
        /// <summary>Per-group scratch <see cref="Prepare"/> fills for the group's tiles (0 when none is needed).</summary>
        static abstract long PreparedBytes(int columns);

        static abstract void Prepare(byte* group, int columns, byte* prepared);

        /// <summary>8 rows × tokens t0..t0+7 into <paramref name="o"/> (row stride <paramref name="stride"/>); prefetches <paramref name="next"/> when not null.</summary>
        static abstract void Tile8x8(byte* group, byte* prepared, in Activations a, int t0, float* o, int stride, byte* next);

        static abstract void Group8x1(byte* group, in Activations a, int t, float* o);

        /// <summary>
        /// 8 rows × tokens t0..t0+count-1 (2 ≤ count ≤ 7) into <paramref name="o"/> (row stride <paramref name="stride"/>), from the
        /// prepared group. t0 % 8 + count, rounded up to even, is at most 8: the K-quant tiles finish tokens in pairs and read an
        /// odd count's next token's scale and sums (never stored). <see cref="GroupTokens"/> starts them at multiples of 8.
        /// </summary>
        static abstract void TileFew(byte* group, byte* prepared, in Activations a, int t0, int count, float* o, int stride, byte* next);

        /// <summary>Whether <see cref="Tile16"/> runs: two whole groups' 16 rows against 3-8 tokens at a time (only the formats that have it say so).</summary>
        static virtual bool PairTiles => false;

        /// <summary>16 rows (<paramref name="groupA"/>'s, then <paramref name="groupB"/>'s) × tokens t0..t0+count-1 (3 ≤ count ≤ 8, within an 8-token run).</summary>
        static virtual void Tile16(byte* groupA, byte* groupB, in Activations a, int t0, int count, float* o, int stride, byte* nextA, byte* nextB)
            => throw new NotSupportedException("This format has no 16-row tile.");
    }

    private long _pairedGroups;

    /// <summary>Pairs of row groups that went through the 16-row tiles since this instance was made (tests check the path is taken).</summary>
    internal long PairedGroups => Interlocked.Read(ref _pairedGroups);

    /// <summary>Adds a take's pairs to <see cref="PairedGroups"/>: once per take, not per pair, to keep the hot loop free of atomics.</summary>
    private void CountPairs(int pairs)
    {
        if (pairs > 0)
            Interlocked.Add(ref _pairedGroups, pairs);
    }

    /// <summary>
    /// Whether group <paramref name="g"/> (rows from <paramref name="r0"/> of a part of <paramref name="rows"/>) and the next go
    /// through the 16-row tiles together: the format has them, there are 3 tokens or more, both groups are whole, in the same
    /// part (implied by the rows) and in this take (<paramref name="end"/>).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool PairsWithNext<TKernel>(int tokens, int g, int end, int r0, int rows) where TKernel : struct, IGroupKernel
        => TKernel.PairTiles && tokens >= 3 && g + 1 < end && r0 + 16 <= rows;

    private readonly struct LegacyKernel<TFormat> : IGroupKernel where TFormat : struct, ILegacyGroupFormat
    {
        public static long PreparedBytes(int columns) => 0;

        public static void Prepare(byte* group, int columns, byte* prepared)
        {
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static void Tile8x8(byte* group, byte* prepared, in Activations a, int t0, float* o, int stride, byte* next)
        {
            int nb = a.K / 32;
            long at = LegacyGemmX8.TokenIndex(t0, 0, nb);
            LegacyGemmX8<TFormat>.Tile8x8(group, a.Codes + (long)t0 * a.K, a.K, a.Scales + at, a.Sums + at, nb, o, stride, next);
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static void Group8x1(byte* group, in Activations a, int t, float* o)
        {
            int nb = a.K / 32;
            long at = LegacyGemmX8.TokenIndex(t, 0, nb);
            LegacyGemmX8<TFormat>.Group8x1(group, a.Codes + (long)t * a.K, a.Scales + at, a.Sums + at, nb, o);
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static void TileFew(byte* group, byte* prepared, in Activations a, int t0, int count, float* o, int stride, byte* next)
        {
            int nb = a.K / 32;
            long at = LegacyGemmX8.TokenIndex(t0, 0, nb);
            if (count == 2)
                LegacyGemmX8<TFormat>.Tile8x2(group, a.Codes + (long)t0 * a.K, a.K, a.Scales + at, a.Sums + at, nb, o, stride);
            else
                LegacyGemmX8<TFormat>.TileFew(group, a.Codes + (long)t0 * a.K, a.K, a.Scales + at, a.Sums + at, nb, o, stride, next, count);
        }

        public static bool PairTiles => LegacyGemmX8<TFormat>.Wide;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static void Tile16(byte* groupA, byte* groupB, in Activations a, int t0, int count, float* o, int stride, byte* nextA, byte* nextB)
        {
            int nb = a.K / 32;
            long at = LegacyGemmX8.TokenIndex(t0, 0, nb);
            LegacyGemmX8<TFormat>.Tile16(groupA, groupB, a.Codes + (long)t0 * a.K, a.K, a.Scales + at, a.Sums + at, nb, o, stride, nextA, nextB, count);
        }
    }

    private readonly struct Q4_KKernel : IGroupKernel
    {
        // The 512-bit kernels where the CPU has AVX-512BW and VBMI, which is also when the weights were packed for them (a
        // JIT-time constant, so the other branch is dropped).
        private static bool Wide => GemmQ4_Kx8.UseWide;

        public static long PreparedBytes(int columns) => (long)columns / 256 * (Wide ? GemmQ4_Kx8.WidePreparedBytes : GemmQ4_Kx8.PreparedBytes);

        public static void Prepare(byte* group, int columns, byte* prepared)
        {
            if (Wide)
                GemmQ4_Kx8.PrepareGroupWide(group, columns / 256, prepared);
            else
                GemmQ4_Kx8.PrepareGroup(group, columns / 256, prepared);
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static void Tile8x8(byte* group, byte* prepared, in Activations a, int t0, float* o, int stride, byte* next)
        {
            int nsb = a.K / 256;
            long at = LegacyGemmX8.TokenIndex(t0, 0, nsb);
            if (Wide)
                GemmQ4_Kx8.Tile8x8Wide(group, prepared, a.Codes + (long)t0 * a.K, a.K, a.Scales + at, a.Sums + 4 * at, nsb, o, stride, next);
            else
                GemmQ4_Kx8.Tile8x8(group, prepared, a.Codes + (long)t0 * a.K, a.K, a.Scales + at, a.Sums + 4 * at, nsb, o, stride, next);
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static void TileFew(byte* group, byte* prepared, in Activations a, int t0, int count, float* o, int stride, byte* next)
        {
            int nsb = a.K / 256;
            long at = LegacyGemmX8.TokenIndex(t0, 0, nsb);
            if (Wide)
                GemmQ4_Kx8.TileWideFew<GemmQ4_Kx8.Q4_KPair>(group, prepared, a.Codes + (long)t0 * a.K, a.K, a.Scales + at, a.Sums + 4 * at, nsb, o, stride, next, count);
            else
                GemmQ4_Kx8.TileFew(group, prepared, a.Codes + (long)t0 * a.K, a.K, a.Scales + at, a.Sums + 4 * at, nsb, o, stride, next, count);
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static void Group8x1(byte* group, in Activations a, int t, float* o)
        {
            int nsb = a.K / 256;
            long at = LegacyGemmX8.TokenIndex(t, 0, nsb);
            if (Wide)
                GemmQ4_Kx8.Group8x1Wide(group, a.Codes + (long)t * a.K, a.Scales + at, a.Sums + 4 * at, nsb, o);
            else
                GemmQ4_Kx8.Group8x1(group, a.Codes + (long)t * a.K, a.Scales + at, a.Sums + 4 * at, nsb, o);
        }
    }

    private readonly struct Q5_KKernel : IGroupKernel
    {
        public static long PreparedBytes(int columns) => (long)columns / 256 * GemmQ5_Kx8.PreparedBytes;

        public static void Prepare(byte* group, int columns, byte* prepared) => GemmQ4_Kx8.PrepareGroupWide(group, columns / 256, prepared, GemmQ5_Kx8.BlockBytes);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static void Tile8x8(byte* group, byte* prepared, in Activations a, int t0, float* o, int stride, byte* next)
        {
            int nsb = a.K / 256;
            long at = LegacyGemmX8.TokenIndex(t0, 0, nsb);
            GemmQ5_Kx8.Tile8x8(group, prepared, a.Codes + (long)t0 * a.K, a.K, a.Scales + at, a.Sums + 4 * at, nsb, o, stride, next);
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static void TileFew(byte* group, byte* prepared, in Activations a, int t0, int count, float* o, int stride, byte* next)
        {
            int nsb = a.K / 256;
            long at = LegacyGemmX8.TokenIndex(t0, 0, nsb);
            GemmQ5_Kx8.TileFew(group, prepared, a.Codes + (long)t0 * a.K, a.K, a.Scales + at, a.Sums + 4 * at, nsb, o, stride, next, count);
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static void Group8x1(byte* group, in Activations a, int t, float* o)
        {
            int nsb = a.K / 256;
            long at = LegacyGemmX8.TokenIndex(t, 0, nsb);
            GemmQ5_Kx8.Group8x1(group, a.Codes + (long)t * a.K, a.Scales + at, a.Sums + 4 * at, nsb, o);
        }
    }

    private readonly struct Q6_KKernel : IGroupKernel
    {
        public static long PreparedBytes(int columns) => 0;

        public static void Prepare(byte* group, int columns, byte* prepared)
        {
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static void Tile8x8(byte* group, byte* prepared, in Activations a, int t0, float* o, int stride, byte* next)
        {
            int nsb = a.K / 256;
            long at = LegacyGemmX8.TokenIndex(t0, 0, nsb);
            GemmQ6_Kx8.Tile8x8(group, a.Codes + (long)t0 * a.K, a.K, a.Scales + at, a.Sums + 8 * at, nsb, o, stride, next);
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static void TileFew(byte* group, byte* prepared, in Activations a, int t0, int count, float* o, int stride, byte* next)
        {
            int nsb = a.K / 256;
            long at = LegacyGemmX8.TokenIndex(t0, 0, nsb);
            GemmQ6_Kx8.TileFew(group, a.Codes + (long)t0 * a.K, a.K, a.Scales + at, a.Sums + 8 * at, nsb, o, stride, next, count);
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static void Group8x1(byte* group, in Activations a, int t, float* o)
        {
            int nsb = a.K / 256;
            long at = LegacyGemmX8.TokenIndex(t, 0, nsb);
            GemmQ6_Kx8.Group8x1(group, a.Codes + (long)t * a.K, a.Scales + at, a.Sums + 8 * at, nsb, o);
        }
    }

    /// <summary><see cref="MultiplyParts"/>: each part's row groups against its one activation row, with the single-token kernel.</summary>
    private void MultiplyPartRows<TKernel>(int thread, in Activations a, long groupBytes, float* res) where TKernel : struct, IGroupKernel
    {
        fixed (float* output = _partOutput)
        {
            while (_ranges.Take(thread, out int g0, out int g1))
            {
                int part = 0, partStart = 0;
                for (int g = g0; g < g1; g++)
                {
                    while (g >= _groupEnds[part])
                        partStart = _groupEnds[part++];
                    int rows = _parts[part].Rows, local = g - partStart, r0 = 8 * local, valid = Math.Min(8, rows - r0);
                    float* o = output + _partOffset[part];
                    byte* group = _parts[part].Packed + local * groupBytes;
                    TKernel.Group8x1(group, a, _partToken[part], valid == 8 ? o + r0 : res);
                    if (valid < 8)
                        Scatter8(o, rows, r0, valid, 0, 1, res);
                }
            }
        }
    }

    /// <summary>
    /// This thread's row groups, taken as it goes (<see cref="GroupRanges"/>), each through <see cref="GroupTokens"/>: 8-token
    /// tiles, then a tile of the 2-7 tokens left or single-token passes. Tiles whose rows or tokens run past the matrix go
    /// through a scratch tile. The first tile of each group prefetches the next group.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void MultiplyGroups<TKernel>(int thread, int threadCount) where TKernel : struct, IGroupKernel
    {
        int k = _parts[0].Columns, tokens = _tokens;
        long groupBytes = WeightMatrix.GroupBytes(_parts[0].Type, k);
        byte* prepared = Ptr(_scratch[thread]);
        float* res = (float*)(prepared + TKernel.PreparedBytes(k));
        var a = new Activations((sbyte*)Ptr(_codes), Ptr(_scales), Ptr(_sums), k);
        if (_perPart)
        {
            MultiplyPartRows<TKernel>(thread, a, groupBytes, res);
            return;
        }
        if (_segmented)
        {
            MultiplySegmentGroups<TKernel>(thread, a, groupBytes, prepared, res);
            return;
        }
        fixed (float* out0 = _outputs[0], out1 = _outputs[1], out2 = _outputs[2])
        {
            while (_ranges.Take(thread, out int g0, out int g1))
            {
                int part = 0, partStart = 0, pairs = 0;
                for (int g = g0; g < g1; g++)
                {
                    while (g >= _groupEnds[part])
                        partStart = _groupEnds[part++];
                    int rows = _parts[part].Rows, local = g - partStart;
                    float* o = (part == 0 ? out0 : part == 1 ? out1 : out2) + _outOffset;
                    byte* group = _parts[part].Packed + local * groupBytes;
                    int r0 = 8 * local, valid = Math.Min(8, rows - r0);
                    if (PairsWithNext<TKernel>(tokens, g, g1, r0, rows))
                    {
                        // Two whole groups of this part: 16 rows a tile.
                        byte* nextPair = g + 3 < _groupEnds[part] ? group + 2 * groupBytes : null;
                        GroupPairTokens<TKernel>(group, groupBytes, prepared, a, k, 0, tokens, o, rows, r0, res, nextPair);
                        g++;
                        pairs++;
                        continue;
                    }
                    byte* next = g + 1 < _groupEnds[part] ? group + groupBytes : null;
                    GroupTokens<TKernel>(group, prepared, a, k, 0, tokens, o, rows, r0, valid, res, next);
                }
                CountPairs(pairs);
            }
        }
    }

    /// <summary>
    /// Two whole groups (16 rows from <paramref name="r0"/>, <paramref name="groupA"/> then the one after it) against tokens
    /// <c>[first, first + tokens)</c>, 3 or more, where the format has 16-row tiles: 8-token tiles, then one of the 3-7 tokens
    /// left; 1-2 left go through each group's own kernels. The first tile prefetches the next pair (<paramref name="next"/>).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void GroupPairTokens<TKernel>(byte* groupA, long groupBytes, byte* prepared, in Activations a, int k, int first, int tokens, float* o, int rows, int r0,
        float* res, byte* next) where TKernel : struct, IGroupKernel
    {
        byte* groupB = groupA + groupBytes;
        int t0 = 0;
        for (; t0 < tokens - 2; t0 += 8, next = null)
        {
            int count = Math.Min(8, tokens - t0);
            TKernel.Tile16(groupA, groupB, a, first + t0, count, o + (long)(first + t0) * rows + r0, rows, next, next == null ? null : next + groupBytes);
        }
        if (t0 < tokens)
        {
            GroupTokens<TKernel>(groupA, prepared, a, k, first + t0, tokens - t0, o, rows, r0, 8, res, null);
            GroupTokens<TKernel>(groupB, prepared, a, k, first + t0, tokens - t0, o, rows, r0 + 8, 8, res, null);
        }
    }

    /// <summary>
    /// One group of 8 rows against tokens <c>[first, first + tokens)</c>: 8-token tiles, then one tile of the 2-7 tokens left
    /// or a single-token pass. Results go to
    /// <c>o[t·rows + r0 ..]</c>, through a scratch tile when the group's rows or a tile's tokens run past the matrix.
    /// The first tile prefetches <paramref name="next"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void GroupTokens<TKernel>(byte* group, byte* prepared, in Activations a, int k, int first, int tokens, float* o, int rows, int r0, int valid,
        float* res, byte* next) where TKernel : struct, IGroupKernel
    {
        if (tokens >= 2)
            TKernel.Prepare(group, k, prepared);
        int t0 = 0;
        for (; t0 + 8 <= tokens; t0 += 8, next = null)
        {
            bool direct = valid == 8;
            TKernel.Tile8x8(group, prepared, a, first + t0, direct ? o + (long)(first + t0) * rows + r0 : res, direct ? rows : 8, next);
            if (!direct)
                Scatter8(o, rows, r0, valid, first + t0, 8, res);
        }
        if (tokens - t0 >= 2)
        {
            int count = tokens - t0;
            bool direct = valid == 8;
            TKernel.TileFew(group, prepared, a, first + t0, count, direct ? o + (long)(first + t0) * rows + r0 : res, direct ? rows : 8, next);
            if (!direct)
                Scatter8(o, rows, r0, valid, first + t0, count, res);
            t0 = tokens;
        }
        for (int t = t0; t < tokens; t++)
        {
            bool direct = valid == 8;
            TKernel.Group8x1(group, a, first + t, direct ? o + (long)(first + t) * rows + r0 : res);
            if (!direct)
                Scatter8(o, rows, r0, valid, first + t, 1, res);
        }
    }
}
