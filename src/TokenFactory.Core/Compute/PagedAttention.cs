using System.Numerics.Tensors;
using TokenFactory.Engine.Batching;

namespace TokenFactory.Compute;

/// <summary>
/// Causal grouped-query attention for a batch of tokens from many sequences, reading keys and values
/// through each sequence's block table in the <see cref="KvBlockPool"/>. Parallel over (token, KV head):
/// each cached key and value row is widened from half precision once and used by every query head of
/// its group (8 in TinyLlama), which was most of the cost when each head widened the rows itself. The
/// arithmetic per head is <see cref="Attention"/>'s, step for step (half-rounded query and softmax
/// weights, same summation order), so a sequence gets bit-identical results whatever batch it runs in.
/// </summary>
public sealed class PagedAttention : IParallelWork
{
    private readonly int _headCount;
    private readonly int _kvHeadCount;
    private readonly int _headSize;
    private readonly int _group;
    private readonly int _contextLength;
    private readonly float _scale;
    private readonly float[][] _scores;
    private readonly float[][] _rowScratch;
    private readonly float[][] _query;

    private KvBlockPool? _pool;
    private StepBatch? _batch;
    private int _layer;
    private float[] _q = [];
    private float[] _out = [];

    public PagedAttention(int headCount, int kvHeadCount, int headSize, int contextLength, int threads)
    {
        _headCount = headCount;
        _kvHeadCount = kvHeadCount;
        _headSize = headSize;
        _group = headCount / kvHeadCount;
        _contextLength = contextLength;
        _scale = 1f / MathF.Sqrt(headSize);
        _scores = new float[threads][];
        _rowScratch = new float[threads][];
        _query = new float[threads][];
        for (int i = 0; i < threads; i++)
        {
            _scores[i] = new float[_group * contextLength];
            _rowScratch[i] = new float[headSize];
            _query[i] = new float[_group * headSize];
        }
    }

    /// <summary>
    /// Attends every token of <paramref name="batch"/> (query rows of heads × headSize in <paramref name="q"/>)
    /// over positions 0..its own in its sequence's blocks, which must already hold the step's keys and values.
    /// </summary>
    public void Run(ComputePool compute, KvBlockPool pool, StepBatch batch, int layer, float[] q, float[] output)
    {
        _pool = pool;
        _batch = batch;
        _layer = layer;
        _q = q;
        _out = output;
        compute.Run(this);
        _pool = null;
        _batch = null;
    }

    void IParallelWork.Execute(int thread, int threadCount)
    {
        int items = _batch!.TokenCount * _kvHeadCount;
        int start = (int)((long)items * thread / threadCount);
        int end = (int)((long)items * (thread + 1) / threadCount);
        for (int item = start; item < end; item++)
            AttendGroup(thread, item / _kvHeadCount, item % _kvHeadCount);
    }

    private void AttendGroup(int thread, int t, int kvh)
    {
        var pool = _pool!;
        var batch = _batch!;
        int blockSize = pool.BlockSize;
        var table = batch.BlockTables[batch.TokenSequence[t]];
        int n = batch.Positions[t] + 1;
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
        var keys = pool.Keys(_layer).AsSpan();
        for (int p = 0; p < n; p++)
        {
            int at = pool.Offset(table[p / blockSize], p % blockSize) + headOffset;
            TensorPrimitives.ConvertToSingle(keys.Slice(at, _headSize), row);
            for (int g = 0; g < _group; g++)
                scores[g * _contextLength + p] = TensorPrimitives.Dot(queries.AsSpan(g * _headSize, _headSize), row) * _scale;
        }

        for (int g = 0; g < _group; g++)
        {
            var s = scores.AsSpan(g * _contextLength, n);
            float max = TensorPrimitives.Max(s);
            double sum = 0;
            for (int p = 0; p < n; p++)
            {
                float e = MathF.Exp(s[p] - max);
                s[p] = e;
                sum += e;
            }
            float inv = (float)(1.0 / sum);
            for (int p = 0; p < n; p++)
                s[p] = (float)(Half)(s[p] * inv);
            _out.AsSpan((t * _headCount + firstHead + g) * _headSize, _headSize).Clear();
        }

        var values = pool.Values(_layer).AsSpan();
        for (int p = 0; p < n; p++)
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
