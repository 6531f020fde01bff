using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using TokenFactory.Gguf;
using TokenFactory.Tensors;

namespace TokenFactory.Compute;

/// <summary>
/// Multiplies a weight matrix by a batch of activation rows: <c>out[t, r] = W[r] · x[t]</c>.
/// As llama.cpp does, activations are first converted to the weight type's dot-product partner
/// (Q8_0, Q8_K, F16, …) so the inner loop is an integer or half-precision dot product and our logits
/// track llama.cpp's.
/// <para>
/// Q8_0, Q4_0, Q4_K, Q5_K and Q6_K weights (the common formats), repacked at load into groups of 8 rows (see
/// <see cref="WeightMatrix"/>), take a tiled path: activations are quantized once per call, in parallel, into a split
/// layout (<see cref="ActivationPacking"/>); each thread streams through its own run of row groups, taking over half of
/// another's when its own is done (<see cref="GroupRanges"/>), and multiplies each group by 8 tokens at a time in registers (<see cref="LegacyGemmX8"/>, <see cref="GemmQ4_Kx8"/>, <see cref="GemmQ5_Kx8"/>, <see cref="GemmQ6_Kx8"/>), so every loaded
/// weight block serves 8 tokens and every activation block 8 rows; decode (one token) streams each group once.
/// Other formats, or CPUs without the kernels' instructions (AVX-VNNI for Q8_0/Q4_0, AVX-VNNI or AVX-512BW+VBMI for Q4_K,
/// AVX-512BW+VBMI for Q5_K, AVX-512BW for Q6_K), use the row kernels of <see cref="VecDot"/>.
/// </para>
/// Nothing is allocated once the buffers have grown to the largest call.
/// </summary>
public sealed unsafe partial class MatMul : IParallelWork
{
    private enum Kind : byte { Rows, Q8_0, Q4_0, IQ4_NL, MXFP4, Q4_K, Q5_K, Q6_K }

    /// <summary>The 32-element block formats of <see cref="LegacyGemmX8"/> (Q8_0 activations, one scale and seed per block).</summary>
    private static bool IsLegacy(Kind kind) => kind is Kind.Q8_0 or Kind.Q4_0 or Kind.IQ4_NL or Kind.MXFP4;


    private static int ZeroPoint(Kind kind) => kind switch
    {
        Kind.Q8_0 => Q8_0x8.ZeroPoint,
        Kind.Q4_0 => Q4_0x8.ZeroPoint,
        Kind.IQ4_NL => IQ4_NLx8.ZeroPoint,
        _ => MXFP4x8.ZeroPoint,
    };

    private enum Phase : byte { Quantize, Multiply }

    private readonly ComputePool _pool;
    // Row-kernel path.
    private byte[] _activations = [];
    private int _actRowBytes;
    // F16/BF16 weights on AVX-512: the rounded activations widened back to floats once per call (see MultiplyRows).
    private float[] _widened = [];
    private int _widenedStart;
    private bool _halfRows;
    // Tiled path: activation codes, per-block scales (and Q8_K sub-block sums), per-thread group scratch.
    private byte[] _codes = [];
    private float[] _scales = [];
    private int[] _sums = [];
    private readonly byte[][] _scratch;

    private Kind _kind;
    private Phase _phase;
    // The call's matrices: one, or up to MaxParts multiplying the same activations (MultiplyShared). Part p owns row
    // groups [_groupEnds[p - 1], _groupEnds[p]) of the run's group numbering.
    private const int MaxSharedParts = 3;

    /// <summary>Most matrices one <see cref="MultiplyParts"/> call runs together.</summary>
    public const int MaxParts = 16;
    private readonly WeightMatrix[] _parts = new WeightMatrix[MaxParts];
    private readonly float[][] _outputs = [[], [], []];
    private readonly int[] _groupEnds = new int[MaxParts];
    private int _partCount;
    // MultiplyParts: part p multiplies activation row _partToken[p] into _partOutput at _partOffset[p].
    private bool _perPart;
    private readonly int[] _partToken = new int[MaxParts];
    private readonly int[] _partOffset = new int[MaxParts];
    private float[] _partOutput = [];
    private float[] _x = [];
    private int _xOffset;
    private int _outOffset;
    private int _tokens;
    // Row groups still to do (tiled paths), taken by the threads as they go (see GroupRanges), so a core that loses
    // time to a neighbouring process does not hold up the other at the end of every matmul.
    private readonly GroupRanges _ranges;

    public MatMul(ComputePool pool)
    {
        // The kernels read their prefetch distances and shuffle controls from static readonly fields and are compiled
        // fully optimised at their first call. Compiled before their class is initialised, they keep a class-init
        // check, and around that helper call the JIT kept the block accumulator on the stack: a store and a reload on
        // every block's dependency chain (Q8_0 decode in L3, one core: 70 -> 81-92 GB/s once initialised first).
        RuntimeHelpers.RunClassConstructor(typeof(WeightPrefetch).TypeHandle);
        RuntimeHelpers.RunClassConstructor(typeof(LegacyGemmX8).TypeHandle);
        RuntimeHelpers.RunClassConstructor(typeof(GemmQ4_Kx8).TypeHandle);
        RuntimeHelpers.RunClassConstructor(typeof(GemmQ5_Kx8).TypeHandle);
        RuntimeHelpers.RunClassConstructor(typeof(GemmQ6_Kx8).TypeHandle);
        RuntimeHelpers.RunClassConstructor(typeof(ActivationPacking).TypeHandle);
        _pool = pool;
        _ranges = new GroupRanges(pool.ThreadCount);
        _scratch = new byte[pool.ThreadCount][];
        for (int i = 0; i < _scratch.Length; i++)
            _scratch[i] = [];
    }

    public ComputePool Pool => _pool;

    private static Kind KindOf(in WeightMatrix w)
    {
        if (w.Packed != null)
            return w.Type switch
            {
                GgmlType.Q8_0 => Kind.Q8_0, GgmlType.Q4_0 => Kind.Q4_0, GgmlType.IQ4_NL => Kind.IQ4_NL, GgmlType.MXFP4 => Kind.MXFP4,
                GgmlType.Q5_K => Kind.Q5_K, GgmlType.Q6_K => Kind.Q6_K, _ => Kind.Q4_K,
            };
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
        _parts[0] = w;
        _outputs[0] = output;
        _partCount = 1;
        Run(x, xOffset, tokens, outOffset);
    }

    /// <summary>
    /// Multiplies the same activations (<paramref name="tokens"/> rows of <paramref name="x"/> from its start) by each of
    /// <paramref name="weights"/> (Q, K and V, or gate and up), into the matching <paramref name="outputs"/>. Matrices of
    /// one repacked format and width share one quantization of the activations and one parallel run (a llama block's
    /// decode step waits at 4 barriers instead of 7); other combinations run one by one. Every result has the same bits as
    /// <see cref="Multiply"/> gives it.
    /// </summary>
    public void MultiplyShared(ReadOnlySpan<WeightMatrix> weights, float[] x, int tokens, ReadOnlySpan<float[]> outputs)
    {
        if (weights.Length != outputs.Length)
            throw new ArgumentException("Every matrix needs an output.", nameof(outputs));
        if (weights.Length == 0 || tokens <= 0)
            return;
        var kind = KindOf(weights[0]);
        bool shared = kind != Kind.Rows && weights.Length <= MaxSharedParts;
        for (int i = 1; i < weights.Length && shared; i++)
            shared = KindOf(weights[i]) == kind && weights[i].Columns == weights[0].Columns;
        if (!shared)
        {
            for (int i = 0; i < weights.Length; i++)
                Multiply(weights[i], x, 0, tokens, outputs[i], 0);
            return;
        }
        ArgumentOutOfRangeException.ThrowIfGreaterThan((long)tokens * weights[0].Columns, x.Length, nameof(x));
        for (int i = 0; i < weights.Length; i++)
        {
            ArgumentOutOfRangeException.ThrowIfGreaterThan((long)tokens * weights[i].Rows, outputs[i].Length, nameof(outputs));
            _parts[i] = weights[i];
            _outputs[i] = outputs[i];
        }
        _partCount = weights.Length;
        Run(x, 0, tokens, 0);
    }

    /// <summary>
    /// Several matrices, each against its own row of <paramref name="x"/>, in one parallel run: part p writes
    /// <c>weights[p] · x[rows[p]·k ..]</c> to <c>output[offsets[p] ..]</c>. For the experts of a one-token step (every chosen
    /// expert's gate and up against the token, then each down against its own hidden row): one quantization of the rows and
    /// one barrier instead of one per matrix, with the bits each part gets from <see cref="Multiply"/>. Returns false, doing
    /// nothing, when the matrices are not of one repacked format and width (the caller multiplies them one by one).
    /// </summary>
    /// <param name="x">Activation rows of k = <c>weights[0].Columns</c> floats; <paramref name="inputRows"/> of them are read.</param>
    public bool MultiplyParts(ReadOnlySpan<WeightMatrix> weights, float[] x, int inputRows, ReadOnlySpan<int> rows, float[] output, ReadOnlySpan<int> offsets)
    {
        if (weights.Length == 0 || weights.Length > MaxParts || rows.Length != weights.Length || offsets.Length != weights.Length || inputRows <= 0)
            return false;
        var kind = KindOf(weights[0]);
        if (kind == Kind.Rows)
            return false;
        int k = weights[0].Columns;
        for (int i = 1; i < weights.Length; i++)
        {
            if (KindOf(weights[i]) != kind || weights[i].Columns != k)
                return false;
        }
        ArgumentOutOfRangeException.ThrowIfGreaterThan((long)inputRows * k, x.Length, nameof(x));
        for (int i = 0; i < weights.Length; i++)
        {
            if (rows[i] < 0 || rows[i] >= inputRows)
                throw new ArgumentOutOfRangeException(nameof(rows), $"part {i} reads row {rows[i]} of {inputRows}.");
            ArgumentOutOfRangeException.ThrowIfGreaterThan((long)offsets[i] + weights[i].Rows, output.Length, nameof(offsets));
            _parts[i] = weights[i];
            _partToken[i] = rows[i];
            _partOffset[i] = offsets[i];
        }
        _partCount = weights.Length;
        _partOutput = output;
        _perPart = true;
        try
        {
            Run(x, 0, inputRows, 0);
        }
        finally
        {
            _perPart = false;
            _partOutput = [];
        }
        return true;
    }

    private void Run(float[] x, int xOffset, int tokens, int outOffset)
    {
        _x = x;
        _xOffset = xOffset;
        _outOffset = outOffset;
        _tokens = tokens;
        _kind = KindOf(_parts[0]);
        int groups = 0;
        for (int p = 0; p < _partCount; p++)
            _groupEnds[p] = groups += LegacyGemmX8.Groups(_parts[p].Rows);
        if (_segmented)
            groups = SegmentGroups;
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
            _ranges.Reset(groups, _pool.ThreadCount, GroupStep(groups, _pool.ThreadCount));
            _pool.Run(this);
        }
        finally
        {
            for (int p = 0; p < Math.Min(_partCount, MaxSharedParts); p++)
                _outputs[p] = [];
            _x = [];
        }
    }

    private void MultiplyRows()
    {
        var w = _parts[0];
        var actType = VecDot.ActivationType(w.Type);
        _actRowBytes = (int)GgmlTypeInfo.RowSize(actType, w.Columns);
        int need = _actRowBytes * _tokens;
        if (_activations.Length < need)
            _activations = new byte[Math.Max(need, _activations.Length * 2)];
        for (int t = 0; t < _tokens; t++)
            Quantizer.QuantizeRow(actType, _x.AsSpan(_xOffset + t * w.Columns, w.Columns), _activations.AsSpan(t * _actRowBytes, _actRowBytes));
        // F16/BF16 rows dot the activations rounded to F16/BF16, as llama.cpp does; those values widen to floats exactly,
        // so widening them once here instead of in every row gives the same products and sums (VecDotAvx512.HalfTimesSingle).
        _halfRows = w.Type is GgmlType.F16 or GgmlType.BF16 && VecDotIsaInfo.Best == VecDotIsa.Avx512;
        if (_halfRows)
        {
            int widenedNeed = _tokens * w.Columns + 16;
            if (_widened.Length < widenedNeed)
            {
                // Pinned, and used from its first 64-byte boundary: rows of activations that straddle cache lines made
                // every vector load of the prefill kernel a split load (2048² x 64 tokens on one core: 34 against 47-49 GMAC/s).
                _widened = GC.AllocateUninitializedArray<float>(Math.Max(widenedNeed, _widened.Length * 2), pinned: true);
                _widenedStart = (int)((64 - ((nint)Ptr(_widened) & 63)) & 63) / sizeof(float);
            }
            for (int t = 0; t < _tokens; t++)
                Dequantizer.DequantizeRow(actType, _activations.AsSpan(t * _actRowBytes, _actRowBytes), _widened.AsSpan(_widenedStart + t * w.Columns, w.Columns));
            // Each thread's block of rows widened to floats (MultiplyHalfRows), from the scratch's first 64-byte boundary.
            int whole = w.Columns / 32 * 32;
            if (_tokens >= VecDotAvx512.WidenedTileTokens)
                for (int i = 0; i < _scratch.Length; i++)
                    _scratch[i] = Grow(_scratch[i], (long)HalfBlockRows(whole) * whole * sizeof(float) + 64);
        }
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
        int k = _parts[0].Columns, tokens = _tokens;
        _codes = Grow(_codes, (long)tokens * k);
        long preparedBytes;
        if (IsLegacy(_kind))
        {
            int nb = k / 32, runs = (tokens + 7) / 8;
            _scales = Grow(_scales, (long)runs * 8 * nb); // laid out by LegacyGemmX8.TokenIndex
            _sums = Grow(_sums, (long)runs * 8 * nb);
            preparedBytes = 0;
        }
        else
        {
            int nsb = k / 256, runs = (tokens + 7) / 8;
            _scales = Grow(_scales, (long)runs * 8 * nsb); // laid out by LegacyGemmX8.TokenIndex
            _sums = Grow(_sums, (long)runs * 8 * nsb * SumsPerBlock(_kind)); // int16 pairs of sub-block sums
            preparedBytes = _kind switch { Kind.Q6_K => 0, Kind.Q5_K => Q5_KKernel.PreparedBytes(k), _ => Q4_KKernel.PreparedBytes(k) };
        }
        for (int i = 0; i < _scratch.Length; i++)
            _scratch[i] = Grow(_scratch[i], preparedBytes + 4 * 8 * 8); // a prepared group, then an 8x8 result tile
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static T* Ptr<T>(T[] a) where T : unmanaged => (T*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(a));

    private static byte* Aligned64(byte* p) => p + ((64 - ((nint)p & 63)) & 63);

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
                MultiplyGroups<LegacyKernel<Q8_0x8>>(thread, threadCount);
                break;
            case Kind.Q4_0:
                MultiplyGroups<LegacyKernel<Q4_0x8>>(thread, threadCount);
                break;
            case Kind.IQ4_NL:
                MultiplyGroups<LegacyKernel<IQ4_NLx8>>(thread, threadCount);
                break;
            case Kind.MXFP4:
                MultiplyGroups<LegacyKernel<MXFP4x8>>(thread, threadCount);
                break;
            case Kind.Q4_K:
                MultiplyGroups<Q4_KKernel>(thread, threadCount);
                break;
            case Kind.Q5_K:
                MultiplyGroups<Q5_KKernel>(thread, threadCount);
                break;
            case Kind.Q6_K:
                MultiplyGroups<Q6_KKernel>(thread, threadCount);
                break;
            default:
                MultiplyRowsShare(thread, threadCount);
                break;
        }
    }

    /// <summary>
    /// Quantizes this thread's share of the tokens (in runs of 4): codes, and per block the scale and the kernels' seed (Q8_0/Q4_0)
    /// or the scale and sub-block sums (Q4_K), laid out by <see cref="LegacyGemmX8.TokenIndex"/>. Nothing is padded: every
    /// kind has tiles of any 2-8 tokens.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void Quantize(int thread, int threadCount)
    {
        int k = _parts[0].Columns, tokens = _tokens, tiles = (tokens + 3) / 4;
        int t0 = 4 * (int)((long)tiles * thread / threadCount), t1 = Math.Min(tokens, 4 * (int)((long)tiles * (thread + 1) / threadCount));
        sbyte* codes = (sbyte*)Ptr(_codes);
        float* scales = Ptr(_scales);
        int* sums = Ptr(_sums);
        fixed (float* x = _x)
        {
            float* xs = x + _xOffset;
            if (IsLegacy(_kind))
            {
                int nb = k / 32, zeroPoint = ZeroPoint(_kind);
                float* rowScales = stackalloc float[nb];
                int* rowSums = stackalloc int[nb];
                for (int t = t0; t < t1; t++)
                {
                    ActivationPacking.Q8_0(xs + (long)t * k, k, codes + (long)t * k, rowScales, rowSums);
                    for (int b = 0; b < nb; b++)
                    {
                        long at = LegacyGemmX8.TokenIndex(t, b, nb);
                        scales[at] = rowScales[b];
                        sums[at] = -zeroPoint * rowSums[b];
                    }
                }
            }
            else
            {
                int nsb = k / 256, perBlock = SumsPerBlock(_kind);
                var layout = ActivationLayout(_kind);
                float* rowScales = stackalloc float[nsb];
                int* rowSums = stackalloc int[8 * nsb];
                for (int t = t0; t < t1; t++)
                {
                    ActivationPacking.Q8_KBlocks(xs + (long)t * k, k, codes + (long)t * k, rowScales, rowSums, layout);
                    for (int b = 0; b < nsb; b++)
                    {
                        long at = LegacyGemmX8.TokenIndex(t, b, nsb);
                        scales[at] = rowScales[b];
                        int* ps = rowSums + 8 * b;
                        // Q6_K's 8 ints are already int16 pairs of 16-element sums; Q4_K/Q5_K pack their 8 sums of 32 into 4
                        // int16 pairs. Either way the kernels' vpdpwssd takes them as they lie.
                        for (int i = 0; i < perBlock; i++)
                            sums[perBlock * at + i] = perBlock == 8 ? ps[i] : (ps[2 * i] & 0xFFFF) | (ps[2 * i + 1] << 16);
                    }
                }
            }
        }
    }

    /// <summary>
    /// The activation layout a K-quant kind's kernels read: sub-block pairs interleaved for the 512-bit Q4_K and the Q5_K
    /// kernels, quads for Q6_K, slot order for the 256-bit Q4_K ones.
    /// </summary>
    private static ActivationPacking.KLayout ActivationLayout(Kind kind) => kind switch
    {
        Kind.Q6_K => ActivationPacking.KLayout.Quads,
        Kind.Q5_K => ActivationPacking.KLayout.Pairs,
        _ => GemmQ4_Kx8.UseWide ? ActivationPacking.KLayout.Pairs : ActivationPacking.KLayout.Slots,
    };

    /// <summary>Ints of sub-block sums per token and block: Q8_0/Q4_0 one seed, Q4_K/Q5_K four int16 pairs of 32-element sums, Q6_K eight of 16-element sums.</summary>
    private static int SumsPerBlock(Kind kind) => kind switch { Kind.Q4_K or Kind.Q5_K => 4, Kind.Q6_K => 8, _ => 1 };

    /// <summary>
    /// Row groups per take from <see cref="GroupRanges"/>: about 16 takes per thread, so the threads end a matmul within
    /// ~1/16 of it of each other. Each take is a locked instruction, and smaller takes measured slower: tinyllama Q4_K
    /// decode, alternating every 8 tokens in one process, took 18.34 ms/token with 64 takes per thread against
    /// 17.18-17.72 with 16 or 32 and 17.21-18.13 with 4 or 8. An even count of at least 2, so the 16-row tiles
    /// (<see cref="GroupPairTokens{TKernel}"/>, which pair only groups of one take) find their pairs in every take; every
    /// format shares the rounding (one group more a take at most: within the 16-32 range above).
    /// </summary>
    private static int GroupStep(int groups, int threads) => Math.Max(2, (groups / (16 * threads) + 1) & ~1);

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
    private void MultiplyRowsShare(int thread, int threadCount)
    {
        var w = _parts[0];
        int start = (int)((long)w.Rows * thread / threadCount);
        int end = (int)((long)w.Rows * (thread + 1) / threadCount);
        var acts = _activations;
        var output = _outputs[0];
        int rows = w.Rows;
        if (_halfRows)
        {
            MultiplyHalfRows(w, start, end, thread);
            return;
        }
        for (int r = start; r < end; r++)
        {
            var row = w.Row(r);
            for (int t = 0; t < _tokens; t++)
                output[_outOffset + t * rows + r] = VecDot.Dot(w.Type, row, acts.AsSpan(t * _actRowBytes, _actRowBytes), w.Columns);
        }
    }

    // Prefill over F16/BF16 rows widens a block of rows to floats once (into the thread's scratch, in L2) and multiplies
    // it by six tokens at a time, two rows and 1024 columns at a time: the six tokens' 1024 activations (24 KiB) stay in
    // L1 for the block's rows, and the block's widened rows in L2 for all tokens. A block is at most 32 rows and 512 KiB
    // (2048 x 2048 x 512 tokens on one core: 16 rows 63-66, 32 rows 71 GMAC/s; 1024-column pieces against 512 or 2048:
    // 66 against 58 and 52).
    private const int HalfRowBlock = 32, HalfColumnPiece = 1024, WidenedBlockBytes = 512 * 1024;

    /// <summary>Rows per widened block for rows of <paramref name="whole"/> whole 32-column pieces: even, 2 to <see cref="HalfRowBlock"/>.</summary>
    private static int HalfBlockRows(int whole) => Math.Clamp(WidenedBlockBytes / Math.Max(1, whole * sizeof(float)), 2, HalfRowBlock) & ~1;

    private void MultiplyHalfRows(in WeightMatrix w, int start, int end, int thread)
    {
        bool brain = w.Type == GgmlType.BF16;
        int k = w.Columns, rows = w.Rows, tokens = _tokens, whole = k / 32 * 32;
        var output = _outputs[0];
        const int T = VecDotAvx512.WidenedTileTokens, A = VecDotAvx512.WidenedTileAccumulators;
        if (tokens < T || whole == 0)
        {
            for (int r = start; r < end; r++)
            {
                var row = MemoryMarshal.Cast<byte, ushort>(w.Row(r))[..k];
                for (int t = 0; t < tokens; t++)
                    output[_outOffset + t * rows + r] = VecDotAvx512.HalfTimesSingle(row, _widened.AsSpan(_widenedStart + t * k, k), brain);
            }
            return;
        }
        int blockRows = HalfBlockRows(whole);
        Vector512<float>* acc = stackalloc Vector512<float>[HalfRowBlock / 2 * A];
        float* results = stackalloc float[T];
        float* wide = (float*)Aligned64(Ptr(_scratch[thread]));
        fixed (float* widened = _widened)
        {
            for (int r0 = start; r0 < end; r0 += blockRows)
            {
                int n = Math.Min(end - r0, blockRows), pairs = (n + 1) / 2;
                // Widened in the order the kernel reads: piece by piece, pair by pair, each 32 columns of the pair's two rows
                // side by side, so six tokens' pass over the block reads one sequential stream. An odd last row is
                // widened into both rows of its pair (the second's results are dropped).
                for (int r = 0; r < 2 * pairs; r++)
                    fixed (byte* row = w.Row(r0 + Math.Min(r, n - 1)))
                        for (int c = 0; c < whole; c += HalfColumnPiece)
                        {
                            int len = Math.Min(whole, c + HalfColumnPiece) - c;
                            VecDotAvx512.WidenHalves((ushort*)row + c, wide + (long)c * 2 * pairs + (r >> 1) * 2 * len + (r & 1) * 32, len, 64, brain);
                        }
                // Tokens go six at a time; the last six start at tokens - 6 and recompute some of the previous ones with the
                // same bits, rather than a slower path for the rest.
                for (int t = 0, last = tokens - T; ; t = Math.Min(t + T, last))
                {
                    float* y = widened + _widenedStart + (long)t * k;
                    new Span<Vector512<float>>(acc, pairs * A).Clear();
                    for (int c = 0; c < whole; c += HalfColumnPiece)
                    {
                        int cEnd = Math.Min(whole, c + HalfColumnPiece);
                        // The first six tokens fetch the next block's rows from memory into L2 as they go: the hardware
                        // prefetchers do not follow many rows read a piece at a time.
                        if (t == 0)
                            for (int r = r0 + blockRows; r < Math.Min(end, r0 + 2 * blockRows); r++)
                                PrefetchToL2(w.Row(r)[(2 * c)..(2 * cEnd)]);
                        for (int p = 0; p < pairs; p++)
                            VecDotAvx512.Widened2x6Columns(wide + (long)c * 2 * pairs + p * 2 * (cEnd - c), y, k, acc + p * A, c, cEnd);
                    }
                    for (int r = 0; r < n; r++)
                    {
                        fixed (byte* row = w.Row(r0 + r))
                            VecDotAvx512.HalfTimesSingleFinish((ushort*)row, y, k, brain, acc + r / 2 * A + (r & 1) * (A / 2), T, k, results);
                        for (int j = 0; j < T; j++)
                            output[_outOffset + (t + j) * rows + r0 + r] = results[j];
                    }
                    if (t == last)
                        break;
                }
            }
        }
    }

    private static void PrefetchToL2(ReadOnlySpan<byte> bytes)
    {
        fixed (byte* p = bytes)
            for (int b = 0; b < bytes.Length; b += 64)
                Sse.Prefetch1(p + b);
    }
}
