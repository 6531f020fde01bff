using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using TokenFactory.Tensors;

namespace TokenFactory.Compute;

/// <summary>
/// Multiplies a weight matrix by a batch of activation rows: <c>out[t, r] = W[r] · x[t]</c>.
/// As llama.cpp does, activations are first converted to the weight type's dot-product partner
/// (Q8_0, Q8_K, F16, …) so the inner loop is an integer or half-precision dot product and our logits
/// track llama.cpp's.
/// <para>
/// Q8_0, Q4_0 and Q4_K weights (the common formats), repacked at load into groups of 8 rows (see
/// <see cref="WeightMatrix"/>), take a tiled path: activations are quantized once per call, in parallel, into a split
/// layout (<see cref="ActivationPacking"/>); threads take chunks of row groups as they go and multiply each group by
/// 8 (or 4) tokens at a time in registers (<see cref="LegacyGemmX8"/>, <see cref="GemmQ4_Kx8"/>), so every loaded
/// weight block serves 8 tokens and every activation block 8 rows; decode (one token) streams each group once.
/// Other formats, or CPUs without AVX-VNNI, use the row kernels of <see cref="VecDot"/>.
/// </para>
/// Nothing is allocated once the buffers have grown to the largest call.
/// </summary>
public sealed unsafe class MatMul : IParallelWork
{
    private enum Kind : byte { Rows, Q8_0, Q4_0, Q4_K }

    private enum Phase : byte { Quantize, Multiply }

    private readonly ComputePool _pool;
    // Row-kernel path.
    private byte[] _activations = [];
    private int _actRowBytes;
    // Tiled path: activation codes, per-block scales (and Q8_K sub-block sums), per-thread group scratch.
    private byte[] _codes = [];
    private float[] _scales = [];
    private int[] _sums = [];
    private readonly byte[][] _scratch;

    private Kind _kind;
    private Phase _phase;
    private WeightMatrix _w;
    private float[] _x = [];
    private int _xOffset;
    private float[] _out = [];
    private int _outOffset;
    private int _tokens;
    // Next row group to hand out (tiled paths): threads take chunks as they go, so a core that loses time to a
    // neighbouring process does not hold up the other at the end of every matmul.
    private int _nextGroup;

    public MatMul(ComputePool pool)
    {
        _pool = pool;
        _scratch = new byte[pool.ThreadCount][];
        for (int i = 0; i < _scratch.Length; i++)
            _scratch[i] = [];
    }

    public ComputePool Pool => _pool;

    /// <summary>Whether <paramref name="w"/> takes the tiled path on this CPU (false: the row kernels).</summary>
    public static bool IsTiled(in WeightMatrix w) => KindOf(w) != Kind.Rows;

    private static Kind KindOf(in WeightMatrix w)
    {
        if (w.Packed != null)
            return w.Type switch { GgmlType.Q8_0 => Kind.Q8_0, GgmlType.Q4_0 => Kind.Q4_0, _ => Kind.Q4_K };
        return Kind.Rows;
    }

    /// <param name="x">Activations, <paramref name="tokens"/> rows of <c>w.Columns</c> floats starting at <paramref name="xOffset"/>.</param>
    /// <param name="output">Receives <paramref name="tokens"/> rows of <c>w.Rows</c> floats starting at <paramref name="outOffset"/>.</param>
    public void Multiply(in WeightMatrix w, float[] x, int xOffset, int tokens, float[] output, int outOffset)
    {
        if (tokens <= 0)
            return;
        ArgumentOutOfRangeException.ThrowIfGreaterThan((long)xOffset + (long)tokens * w.Columns, x.Length, nameof(x));
        ArgumentOutOfRangeException.ThrowIfGreaterThan((long)outOffset + (long)tokens * w.Rows, output.Length, nameof(output));
        _w = w;
        _x = x;
        _xOffset = xOffset;
        _out = output;
        _outOffset = outOffset;
        _tokens = tokens;
        _kind = KindOf(w);
        try
        {
            if (_kind == Kind.Rows)
            {
                MultiplyRows();
                return;
            }
            EnsureTiledBuffers();
            _phase = Phase.Quantize;
            if (tokens < 4)
                Quantize(0, 1);
            else
                _pool.Run(this);
            _phase = Phase.Multiply;
            _nextGroup = 0;
            _pool.Run(this);
        }
        finally
        {
            _out = [];
            _x = [];
        }
    }

    private void MultiplyRows()
    {
        var w = _w;
        var actType = VecDot.ActivationType(w.Type);
        _actRowBytes = (int)GgmlTypeInfo.RowSize(actType, w.Columns);
        int need = _actRowBytes * _tokens;
        if (_activations.Length < need)
            _activations = new byte[Math.Max(need, _activations.Length * 2)];
        for (int t = 0; t < _tokens; t++)
            Quantizer.QuantizeRow(actType, _x.AsSpan(_xOffset + t * w.Columns, w.Columns), _activations.AsSpan(t * _actRowBytes, _actRowBytes));
        _phase = Phase.Multiply;
        _pool.Run(this);
    }

    private static T[] Grow<T>(T[] a, long need) where T : unmanaged
    {
        if (a.Length >= need)
            return a;
        return GC.AllocateUninitializedArray<T>((int)Math.Max(need, Math.Min(int.MaxValue / 2, (long)a.Length * 2)), pinned: true);
    }

    private void EnsureTiledBuffers()
    {
        int k = _w.Columns, tokens = _tokens, tiles = (tokens + 3) / 4;
        if (_kind is Kind.Q8_0 or Kind.Q4_0)
        {
            int nb = k / 32, padded = PaddedTokensQ8_0(tokens), runs = (padded + 7) / 8;
            _codes = Grow(_codes, (long)padded * k);
            _scales = Grow(_scales, (long)runs * 8 * nb); // laid out by LegacyGemmX8.TokenIndex
            _sums = Grow(_sums, (long)runs * 8 * nb);
            for (int i = 0; i < _scratch.Length; i++)
                _scratch[i] = Grow(_scratch[i], 4 * 8 * 8); // an 8x8 result tile for groups past the matrix's last row
        }
        else
        {
            int nsb = k / 256, padded = PaddedTokensQ4_K(tokens);
            _codes = Grow(_codes, (long)padded * k);
            _scales = Grow(_scales, (long)padded * nsb);
            _sums = Grow(_sums, (long)padded * nsb * 8);
            for (int i = 0; i < _scratch.Length; i++)
                _scratch[i] = Grow(_scratch[i], (long)GemmQ4_Kx8.PreparedBytes * nsb + 4 * 8 * 8); // prepared group, then an 8x8 result tile
}
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static T* Ptr<T>(T[] a) where T : unmanaged => (T*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(a));

    void IParallelWork.Execute(int thread, int threadCount)
    {
        if (_phase == Phase.Quantize)
        {
            Quantize(thread, threadCount);
            return;
        }
        switch (_kind)
        {
            case Kind.Q8_0:
                MultiplyLegacy<Q8_0x8>(thread, threadCount);
                break;
            case Kind.Q4_0:
                MultiplyLegacy<Q4_0x8>(thread, threadCount);
                break;
            case Kind.Q4_K:
                MultiplyQ4_K(thread, threadCount);
                break;
            default:
                MultiplyRowsShare(thread, threadCount);
                break;
        }
    }

    /// <summary>
    /// Quantizes this thread's share of 4-token tiles: codes, and per block the scale and the kernels' seed (Q8_0/Q4_0,
    /// laid out by <see cref="LegacyGemmX8.TokenIndex"/>) or the scale and sub-block sums (Q4_K, per token).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void Quantize(int thread, int threadCount)
    {
        int k = _w.Columns, tokens = _tokens, tiles = (tokens + 3) / 4;
        int tile0 = (int)((long)tiles * thread / threadCount), tile1 = (int)((long)tiles * (thread + 1) / threadCount);
        fixed (float* x = _x)
        {
            float* xs = x + _xOffset;
            if (_kind is Kind.Q8_0 or Kind.Q4_0)
            {
                int nb = k / 32, zeroPoint = _kind == Kind.Q8_0 ? Q8_0x8.ZeroPoint : Q4_0x8.ZeroPoint;
                sbyte* codes = (sbyte*)Ptr(_codes);
                float* da = Ptr(_scales);
                int* seeds = Ptr(_sums);
                float* rowScales = stackalloc float[nb];
                int* rowSums = stackalloc int[nb];
                for (int t = 4 * tile0; t < Math.Min(tokens, 4 * tile1); t++)
                {
                    ActivationPacking.Q8_0(xs + (long)t * k, k, codes + (long)t * k, rowScales, rowSums);
                    for (int b = 0; b < nb; b++)
                    {
                        long at = LegacyGemmX8.TokenIndex(t, b, nb);
                        da[at] = rowScales[b];
                        seeds[at] = -zeroPoint * rowSums[b];
                    }
                }
                // Padding tokens (see PaddedTokensQ8_0) repeat the last token; their results are dropped.
                int padded = PaddedTokensQ8_0(tokens);
                if (tokens < padded && 4 * tile1 >= padded)
                {
                    int last = tokens - 1;
                    for (int t = tokens; t < padded; t++)
                    {
                        Buffer.MemoryCopy(codes + (long)last * k, codes + (long)t * k, k, k);
                        for (int b = 0; b < nb; b++)
                        {
                            da[LegacyGemmX8.TokenIndex(t, b, nb)] = da[LegacyGemmX8.TokenIndex(last, b, nb)];
                            seeds[LegacyGemmX8.TokenIndex(t, b, nb)] = seeds[LegacyGemmX8.TokenIndex(last, b, nb)];
                        }
                    }
                }
            }
            else
            {
                int nsb = k / 256;
                sbyte* codes = (sbyte*)Ptr(_codes);
                for (int t = 4 * tile0; t < Math.Min(tokens, 4 * tile1); t++)
                {
                    int* sums = Ptr(_sums) + (long)t * nsb * 8;
                    ActivationPacking.Q8_K(xs + (long)t * k, k, codes + (long)t * k, Ptr(_scales) + (long)t * nsb, sums);
                    // Sub-block sums as int16 pairs in the first 4 ints of each block, for GemmQ4_Kx8's vpdpwssd.
                    for (int sb = 0; sb < nsb; sb++)
                    {
                        int* ps = sums + 8 * sb;
                        for (int pair = 0; pair < 4; pair++)
                            ps[pair] = (ps[2 * pair] & 0xFFFF) | (ps[2 * pair + 1] << 16);
                    }
                }
                // Padding tokens (see PaddedTokensQ4_K) repeat the last token; their results are dropped.
                int padded = PaddedTokensQ4_K(tokens);
                if (thread == threadCount - 1)
                {
                    int last = tokens - 1;
                    for (int t = tokens; t < padded; t++)
                    {
                        Buffer.MemoryCopy(codes + (long)last * k, codes + (long)t * k, k, k);
                        Buffer.MemoryCopy(Ptr(_scales) + (long)last * nsb, Ptr(_scales) + (long)t * nsb, 4L * nsb, 4L * nsb);
                        Buffer.MemoryCopy(Ptr(_sums) + (long)last * nsb * 8, Ptr(_sums) + (long)t * nsb * 8, 32L * nsb, 32L * nsb);
                    }
                }
            }
        }
    }

    /// <summary>
    /// Tokens the Q8_0 tiles cover: a remainder of 2 or 3 tokens past the 4-token tiles is padded to a full tile
    /// (one 8x4 tile costs less than two <see cref="LegacyGemmX8{TFormat}.Group8x1"/> passes with hot weights), except for
    /// a batch of exactly 2 tokens, where two streaming single-token passes are cheaper. Each (row, token) result is
    /// computed the same way in either kernel, so padding does not change any token's bits.
    /// </summary>
    internal static int PaddedTokensQ8_0(int tokens)
    {
        int rem = tokens & 3;
        return rem >= 2 && tokens != 2 ? tokens + 4 - rem : tokens;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void MultiplyLegacy<TFormat>(int thread, int threadCount) where TFormat : struct, ILegacyGroupFormat
    {
        var w = _w;
        int k = w.Columns, nb = k / 32, rows = w.Rows, tokens = _tokens, padded = PaddedTokensQ8_0(tokens);
        int groups = LegacyGemmX8.Groups(rows);
        int chunk = GroupChunk(groups, threadCount);
        float* res = (float*)Ptr(_scratch[thread]);
        sbyte* codes = (sbyte*)Ptr(_codes);
        float* scales = Ptr(_scales);
        int* sums = Ptr(_sums);
        long groupBytes = (long)nb * TFormat.BlockBytes;
        fixed (float* outBase = _out)
        {
            float* o = outBase + _outOffset;
            int g0;
            while ((g0 = NextChunk(chunk)) < groups)
            {
                int g1 = Math.Min(groups, g0 + chunk);
                for (int g = g0; g < g1; g++)
                {
                    byte* group = w.Packed + g * groupBytes;
                    int r0 = 8 * g, valid = Math.Min(8, rows - r0);
                    // 8 tokens at a time, then 4, over the padded tokens (see PaddedTokensQ8_0); tiles whose rows or
                    // tokens run past the matrix go through res. The first tile of each group prefetches the next.
                    byte* next = g + 1 < groups ? group + groupBytes : null;
                    int t0 = 0;
                    for (; t0 + 8 <= padded; t0 += 8, next = null)
                    {
                        int count = Math.Min(8, tokens - t0);
                        bool direct = valid == 8 && count == 8;
                        long at = LegacyGemmX8.TokenIndex(t0, 0, nb);
                        LegacyGemmX8<TFormat>.Tile8x8(group, codes + (long)t0 * k, k, scales + at, sums + at, nb,
                            direct ? o + (long)t0 * rows + r0 : res, direct ? rows : 8, next);
                        if (!direct)
                            Scatter8(o, rows, r0, valid, t0, count, res);
                    }
                    for (; t0 + 4 <= padded; t0 += 4, next = null)
                    {
                        int count = Math.Min(4, tokens - t0);
                        bool direct = valid == 8 && count == 4;
                        long at = LegacyGemmX8.TokenIndex(t0, 0, nb);
                        LegacyGemmX8<TFormat>.Tile8x4(group, codes + (long)t0 * k, k, scales + at, sums + at, nb,
                            direct ? o + (long)t0 * rows + r0 : res, direct ? rows : 8, next);
                        if (!direct)
                            Scatter8(o, rows, r0, valid, t0, count, res);
                    }
                    for (int t = t0; t < tokens; t++)
                    {
                        bool direct = valid == 8;
                        long at = LegacyGemmX8.TokenIndex(t, 0, nb);
                        LegacyGemmX8<TFormat>.Group8x1(group, codes + (long)t * k, scales + at, sums + at, nb,
                            direct ? o + (long)t * rows + r0 : res);
                        if (!direct)
                            Scatter8(o, rows, r0, valid, t, 1, res);
                    }
                }
            }
        }
    }

    /// <summary>Row groups per chunk handed out: about 8 chunks per thread, so the tail imbalance stays small.</summary>
    private static int GroupChunk(int groups, int threads) => Math.Max(1, groups / (8 * threads));

    private int NextChunk(int chunk) => Interlocked.Add(ref _nextGroup, chunk) - chunk;

    /// <summary>Writes <c>res[8t + r]</c> for a group's valid rows and <paramref name="count"/> tokens from <paramref name="t0"/>.</summary>
    private static void Scatter8(float* o, int rows, int r0, int valid, int t0, int count, float* res)
    {
        for (int t = 0; t < count; t++)
        {
            float* dst = o + (long)(t0 + t) * rows + r0;
            if (valid == 8)
            {
                Vector256.Load(res + 8 * t).Store(dst);
                continue;
            }
            for (int r = 0; r < valid; r++)
                dst[r] = res[8 * t + r];
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void MultiplyQ4_K(int thread, int threadCount)
    {
        var w = _w;
        int k = w.Columns, nsb = k / 256, rows = w.Rows, tokens = _tokens, fullTiles = PaddedTokensQ4_K(tokens) / 8;
        int groups = GemmQ4_Kx8.Groups(rows);
        int chunk = GroupChunk(groups, threadCount);
        byte* prepared = Ptr(_scratch[thread]);
        float* res = (float*)(prepared + (long)GemmQ4_Kx8.PreparedBytes * nsb);
        sbyte* codes = (sbyte*)Ptr(_codes);
        float* scales = Ptr(_scales);
        int* sums = Ptr(_sums);
        long groupBytes = (long)nsb * GemmQ4_Kx8.BlockBytes;
        fixed (float* outBase = _out)
        {
            float* o = outBase + _outOffset;
            int g0;
            while ((g0 = NextChunk(chunk)) < groups)
            {
                int g1 = Math.Min(groups, g0 + chunk);
                for (int g = g0; g < g1; g++)
                {
                    byte* group = w.Packed + g * groupBytes;
                    int r0 = 8 * g, valid = Math.Min(8, rows - r0);
                    if (fullTiles > 0)
                        GemmQ4_Kx8.PrepareGroup(group, nsb, prepared);
                    byte* next = g + 1 < g1 ? group + groupBytes : null; // prefetched by the group's first tile
                    for (int tt = 0; tt < fullTiles; tt++, next = null)
                    {
                        int t0 = 8 * tt, count = Math.Min(8, tokens - t0);
                        bool direct = valid == 8 && count == 8;
                        GemmQ4_Kx8.Tile8x8(group, prepared, codes + (long)t0 * k, k, scales + (long)t0 * nsb, sums + (long)t0 * nsb * 8, nsb,
                            direct ? o + (long)t0 * rows + r0 : res, direct ? rows : 8, next);
                        if (!direct)
                            Scatter8(o, rows, r0, valid, t0, count, res);
                    }
                    for (int t = 8 * fullTiles; t < tokens; t++)
                    {
                        bool direct = valid == 8;
                        GemmQ4_Kx8.Group8x1(group, codes + (long)t * k, scales + (long)t * nsb, sums + (long)t * nsb * 8, nsb, direct ? o + (long)t * rows + r0 : res);
                        if (!direct)
                            Scatter8(o, rows, r0, valid, t, 1, res);
                    }
                }
            }
        }
    }

    /// <summary>
    /// Tokens the Q4_K tiles cover: a remainder of 4-7 tokens past the 8-token tiles is padded to a full tile (cheaper
    /// than 4-7 single-token passes, which unpack the nibbles each time; measured on Zen 5); 1-3 run one by one. Either kernel computes a
    /// (row, token) result the same way, so padding does not change any token's bits.
    /// </summary>
    internal static int PaddedTokensQ4_K(int tokens)
    {
        int rem = tokens & 7;
        return rem >= 4 ? tokens + 8 - rem : tokens;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void MultiplyRowsShare(int thread, int threadCount)
    {
        var w = _w;
        int start = (int)((long)w.Rows * thread / threadCount);
        int end = (int)((long)w.Rows * (thread + 1) / threadCount);
        var acts = _activations;
        var output = _out;
        int rows = w.Rows;
        for (int r = start; r < end; r++)
        {
            var row = w.Row(r);
            for (int t = 0; t < _tokens; t++)
                output[_outOffset + t * rows + r] = VecDot.Dot(w.Type, row, acts.AsSpan(t * _actRowBytes, _actRowBytes), w.Columns);
        }
    }
}
