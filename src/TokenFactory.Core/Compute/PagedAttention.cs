using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using TokenFactory.Kv;

namespace TokenFactory.Compute;

/// <summary>
/// Causal grouped-query attention for a batch of tokens from many sequences, reading keys and values
/// through each sequence's block table in the <see cref="KvBlockPool"/>. The only attention the engine runs: one
/// sequence decoding alone is a batch of one.
/// <para>
/// Work items are (run of consecutive tokens of one sequence, KV head, block of up to 16 of those tokens): the item
/// widens its sequence's cached keys (transposed) and values for its KV head once, and every query head of the group
/// and every token of the block reuses them (<see cref="AttentionKernels"/>). A token's result depends only on its own
/// query and its sequence's cache, so a sequence gets bit-identical results whatever batch it runs in. Head sizes the
/// SIMD kernel does not take use <see cref="AttendGroupScalarOrder"/> (per token and KV head, the scalar reference's
/// arithmetic step for step: queries and softmax weights rounded to half precision, softmax summed in double).
/// </para>
/// </summary>
public sealed unsafe class PagedAttention : IParallelWork
{
    private const int TokenBlock = 16;

    private readonly int _headCount;
    private readonly int _kvHeadCount;
    private readonly int _headSize;
    private readonly int _group;
    private readonly int _contextLength;
    private int _window;
    private readonly int _contextPadded;
    private readonly float _scale;
    private readonly bool _fast;
    // Fast path, per thread: transposed keys, values, scores, rounded query.
    private readonly float[][] _keysT;
    private readonly float[][] _values;
    private readonly float[][] _scoresFast;
    private readonly float[][] _queryFast;
    // Scalar-order path, per thread.
    private readonly float[][] _scores;
    private readonly float[][] _rowScratch;
    private readonly float[][] _query;
    // Work items of the current call (fast path): first token, end token (exclusive), grown to the largest batch.
    private int[] _itemStart = [];
    private int[] _itemEnd = [];
    private int _items;

    private KvBlockPool? _pool;
    private StepBatch? _batch;
    private int _layer;
    private float[] _q = [];
    private float[] _out = [];
    private float[]? _sinks;
    private bool _slidingTables;

    /// <param name="scale">Attention logits' scale; 0: 1/√<paramref name="headSize"/> (gemma4 uses 1).</param>
    public PagedAttention(int headCount, int kvHeadCount, int headSize, int contextLength, int threads, float scale = 0f)
    {
        _headCount = headCount;
        _kvHeadCount = kvHeadCount;
        _headSize = headSize;
        _group = headCount / kvHeadCount;
        _contextLength = contextLength;
        _contextPadded = AttentionKernels.PaddedContext(contextLength);
        _scale = scale > 0 ? scale : 1f / MathF.Sqrt(headSize);
        _fast = AttentionKernels.IsAccelerated(headSize);
        _keysT = new float[threads][];
        _values = new float[threads][];
        _scoresFast = new float[threads][];
        _queryFast = new float[threads][];
        _scores = new float[threads][];
        _rowScratch = new float[threads][];
        _query = new float[threads][];
        for (int i = 0; i < threads; i++)
        {
            if (_fast)
            {
                _keysT[i] = GC.AllocateArray<float>(headSize * _contextPadded, pinned: true);
                _values[i] = GC.AllocateArray<float>(contextLength * headSize, pinned: true);
                _scoresFast[i] = GC.AllocateArray<float>(AttentionKernels.ScoreScratch(_contextPadded), pinned: true);
                _queryFast[i] = GC.AllocateArray<float>(AttentionKernels.HeadBlock * headSize, pinned: true);
                continue;
            }
            _scores[i] = new float[_group * contextLength];
            _rowScratch[i] = new float[headSize];
            _query[i] = new float[_group * headSize];
        }
    }

    /// <summary>
    /// Attends every token of <paramref name="batch"/> (query rows of heads × headSize in <paramref name="q"/>)
    /// over positions 0..its own in its sequence's blocks, which must already hold the step's keys and values.
    /// </summary>
    /// <param name="window">A sliding layer's window (tokens seen, the token's own included); 0: all earlier positions.</param>
    /// <param name="sinks">Per query head, an attention sink's logit (gpt-oss): it joins each softmax's normalisation, attending to nothing.</param>
    /// <param name="slidingTables">Read the blocks through <see cref="StepBatch.SlidingBlockTables"/> (the sliding-window cache), whose
    /// blocks behind the window are gone: only a window's blocks are read.</param>
    public void Run(ComputePool compute, KvBlockPool pool, StepBatch batch, int layer, float[] q, float[] output, int window = 0, float[]? sinks = null,
        bool slidingTables = false)
    {
        if (slidingTables && window <= 0)
            throw new ArgumentException("The sliding-window cache is read with a window.", nameof(window));
        _slidingTables = slidingTables;
        if (sinks != null && sinks.Length != _headCount)
            throw new ArgumentException($"{sinks.Length} attention sinks for {_headCount} heads.", nameof(sinks));
        _window = window;
        _sinks = sinks;
        _pool = pool;
        _batch = batch;
        _layer = layer;
        _q = q;
        _out = output;
        if (_fast)
            PlanItems(batch);
        compute.Run(this);
        _pool = null;
        _batch = null;
        _q = _out = [];
        _sinks = null;
    }

    /// <summary>Splits the batch into runs of one sequence's consecutive positions, cut into blocks of 16 tokens.</summary>
    private void PlanItems(StepBatch batch)
    {
        int tokens = batch.TokenCount;
        if (_itemStart.Length < tokens)
        {
            _itemStart = new int[tokens];
            _itemEnd = new int[tokens];
        }
        _items = 0;
        int t = 0;
        while (t < tokens)
        {
            int end = t + 1;
            while (end < tokens && end - t < TokenBlock && batch.TokenSequence[end] == batch.TokenSequence[t]
                   && batch.Positions[end] == batch.Positions[end - 1] + 1)
                end++;
            _itemStart[_items] = t;
            _itemEnd[_items] = end;
            _items++;
            t = end;
        }
    }

    void IParallelWork.Execute(int thread, int threadCount)
    {
        int items = (_fast ? _items : _batch!.TokenCount) * _kvHeadCount;
        int start = (int)((long)items * thread / threadCount);
        int end = (int)((long)items * (thread + 1) / threadCount);
        for (int item = start; item < end; item++)
        {
            if (_fast)
                AttendBlock(thread, item / _kvHeadCount, item % _kvHeadCount);
            else
                AttendGroupScalarOrder(thread, item / _kvHeadCount, item % _kvHeadCount);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void AttendBlock(int thread, int item, int kvh)
    {
        var pool = _pool!;
        var batch = _batch!;
        int hs = _headSize, cp = _contextPadded, blockSize = pool.BlockSize, headOffset = kvh * hs;
        int t0 = _itemStart[item], t1 = _itemEnd[item];
        var table = _slidingTables ? batch.SlidingBlockTables[batch.TokenSequence[t0]] : batch.BlockTables[batch.TokenSequence[t0]];
        int nMax = batch.Positions[t1 - 1] + 1;
        // A sliding layer reads from its item's first token's window on: earlier blocks are neither widened nor read (and in the
        // sliding-window cache they are gone).
        int firstBlock = _window > 0 ? Math.Max(0, batch.Positions[t0] + 1 - _window) / blockSize : 0;
        fixed (float* kt = _keysT[thread], vf = _values[thread], sp = _scoresFast[thread], qp = _queryFast[thread], outp = _out, qs = _q, sinks = _sinks)
        fixed (Half* kh = pool.Keys(_layer), vh = pool.Values(_layer))
        {
            // Keys come block by block, already channel-major (see KvBlockPool.Keys): 16 positions per vector.
            for (int bi = firstBlock, p0 = firstBlock * blockSize; p0 < nMax; bi++, p0 += blockSize)
            {
                int block = table[bi], pEnd = Math.Min(nMax, p0 + blockSize);
                ushort* keys = (ushort*)(kh + pool.BlockOffset(block)) + (long)headOffset * blockSize;
                if (blockSize == AttentionKernels.KeyRun)
                {
                    AttentionKernels.WidenKeyRun(keys, kt, cp, p0, hs);
                }
                else
                {
                    for (int i = 0; i < hs; i++)
                        for (int p = p0; p < pEnd; p++)
                            kt[i * cp + p] = (float)*(Half*)(keys + i * blockSize + p - p0);
                }
                for (int p = p0; p < pEnd; p++)
                    AttentionKernels.WidenRow((ushort*)(vh + pool.Offset(block, p - p0) + headOffset), vf + p * hs, hs);
            }
            AttentionKernels.PadKeys(kt, cp, hs, nMax); // also clears the unwritten slots of a partial last block
            if (hs % 64 == 0)
            {
                AttendRows(t0, t1, kvh, kt, cp, vf, sp, qp, qs, outp, sinks);
                return;
            }
            for (int t = t0; t < t1; t++)
            {
                long first = ((long)t * _headCount + kvh * _group) * hs;
                int n = batch.Positions[t] + 1, lo = _window > 0 ? Math.Max(0, n - _window) : 0;
                // A sliding window starts the key and value rows at its first position (the kernels load unaligned).
                AttentionKernels.AttendHeads(kt + lo, cp, vf + (long)lo * hs, sp, qp, qs + first, outp + first, _group, hs, n - lo, _scale,
                    sinks == null ? null : sinks + kvh * _group);
            }
        }
    }

    /// <summary>
    /// The item's query rows — each token's heads of this KV group — four at a time (<see cref="AttentionKernels.AttendRows{TRows}"/>):
    /// without a window, rows of consecutive tokens go together, so a group of 1-3 heads still reads the widened keys and values
    /// once per four rows; with one, each token's rows start at its own window, so they go together only within a token. A row
    /// gets the same bits however it was grouped.
    /// </summary>
    private void AttendRows(int t0, int t1, int kvh, float* kt, int cp, float* vf, float* sp, float* qp, float* qs, float* outp, float* sinks)
    {
        var batch = _batch!;
        int hs = _headSize, group = _group;
        var rows = new AttentionRows();
        int count = 0, lo = 0;
        for (int t = t0; t < t1; t++)
        {
            int n = batch.Positions[t] + 1, tokenLo = _window > 0 ? Math.Max(0, n - _window) : 0;
            if (count > 0 && tokenLo != lo)
            {
                AttendRows(count, kt + lo, cp, vf + (long)lo * hs, sp, qp, rows);
                count = 0;
            }
            lo = tokenLo;
            for (int g = 0; g < group; g++)
            {
                long at = ((long)t * _headCount + kvh * group + g) * hs;
                rows.Set(count++, qs + at, outp + at, n - lo, AttentionKernels.Sink(sinks, kvh * group + g));
                if (count == AttentionKernels.HeadBlock)
                {
                    AttendRows(count, kt + lo, cp, vf + (long)lo * hs, sp, qp, rows);
                    count = 0;
                }
            }
        }
        if (count > 0)
            AttendRows(count, kt + lo, cp, vf + (long)lo * hs, sp, qp, rows);
    }

    private void AttendRows(int count, float* kt, int cp, float* vf, float* sp, float* qp, in AttentionRows rows) =>
        AttentionKernels.AttendRows(count, kt, cp, vf, sp, qp, rows, _headSize, _scale);

    private void AttendGroupScalarOrder(int thread, int t, int kvh)
    {
        var pool = _pool!;
        var batch = _batch!;
        int blockSize = pool.BlockSize;
        var table = _slidingTables ? batch.SlidingBlockTables[batch.TokenSequence[t]] : batch.BlockTables[batch.TokenSequence[t]];
        int n = batch.Positions[t] + 1, lo = _window > 0 ? Math.Max(0, n - _window) : 0;
        int headOffset = kvh * _headSize;
        int firstHead = kvh * _group;

        var queries = _query[thread];
        for (int g = 0; g < _group; g++)
        {
            int qOffset = (t * _headCount + firstHead + g) * _headSize;
            for (int i = 0; i < _headSize; i++)
                queries[g * _headSize + i] = (float)(Half)_q[qOffset + i];
        }

        var scores = _scores[thread];
        var row = _rowScratch[thread].AsSpan(0, _headSize);
        for (int p = lo; p < n; p++)
        {
            int block = table[p / blockSize], slot = p % blockSize;
            for (int i = 0; i < _headSize; i++)
                row[i] = (float)pool.KeyAt(_layer, block, slot, headOffset + i);
            for (int g = 0; g < _group; g++)
                scores[g * _contextLength + p] = TensorPrimitives.Dot(queries.AsSpan(g * _headSize, _headSize), row) * _scale;
        }

        for (int g = 0; g < _group; g++)
        {
            var s = scores.AsSpan(g * _contextLength + lo, n - lo);
            float sink = _sinks?[firstHead + g] ?? float.NegativeInfinity;
            float max = MathF.Max(TensorPrimitives.Max(s), sink);
            double sum = MathF.Exp(sink - max); // 0 without a sink
            for (int p = 0; p < s.Length; p++)
            {
                float e = MathF.Exp(s[p] - max);
                s[p] = e;
                sum += e;
            }
            float inv = (float)(1.0 / sum);
            for (int p = 0; p < s.Length; p++)
                s[p] = (float)(Half)(s[p] * inv);
            _out.AsSpan((t * _headCount + firstHead + g) * _headSize, _headSize).Clear();
        }

        var values = pool.Values(_layer).AsSpan();
        for (int p = lo; p < n; p++)
        {
            int at = pool.Offset(table[p / blockSize], p % blockSize) + headOffset;
            TensorPrimitives.ConvertToSingle(values.Slice(at, _headSize), row);
            for (int g = 0; g < _group; g++)
            {
                var output = _out.AsSpan((t * _headCount + firstHead + g) * _headSize, _headSize);
                TensorPrimitives.MultiplyAdd(row, scores[g * _contextLength + p], output, output);
            }
        }
    }
}
