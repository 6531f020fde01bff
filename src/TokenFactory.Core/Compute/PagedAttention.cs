using System.Numerics.Tensors;
using TokenFactory.Engine.Batching;

namespace TokenFactory.Compute;

/// <summary>
/// Causal grouped-query attention for a batch of tokens from many sequences, reading keys and values
/// through each sequence's block table in the <see cref="KvBlockPool"/>. Parallel over (token, head).
/// The arithmetic is <see cref="Attention"/>'s, step for step (half-rounded query and softmax weights,
/// same summation order), so a sequence gets bit-identical results whatever batch it runs in.
/// </summary>
public sealed class PagedAttention : IParallelWork
{
    private readonly int _headCount;
    private readonly int _kvHeadCount;
    private readonly int _headSize;
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
        _scale = 1f / MathF.Sqrt(headSize);
        _scores = new float[threads][];
        _rowScratch = new float[threads][];
        _query = new float[threads][];
        for (int i = 0; i < threads; i++)
        {
            _scores[i] = new float[contextLength];
            _rowScratch[i] = new float[headSize];
            _query[i] = new float[headSize];
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
        int items = _batch!.TokenCount * _headCount;
        int start = (int)((long)items * thread / threadCount);
        int end = (int)((long)items * (thread + 1) / threadCount);
        for (int item = start; item < end; item++)
            AttendOne(thread, item / _headCount, item % _headCount);
    }

    private void AttendOne(int thread, int t, int h)
    {
        var pool = _pool!;
        var batch = _batch!;
        int blockSize = pool.BlockSize;
        var table = batch.BlockTables[batch.TokenSequence[t]];
        int kvh = h / (_headCount / _kvHeadCount);
        int n = batch.Positions[t] + 1;
        int qOffset = (t * _headCount + h) * _headSize;
        int headOffset = kvh * _headSize;

        var q = _query[thread].AsSpan(0, _headSize);
        for (int i = 0; i < _headSize; i++)
            q[i] = (float)(Half)_q[qOffset + i];

        var scores = _scores[thread].AsSpan(0, n);
        var row = _rowScratch[thread].AsSpan(0, _headSize);
        var keys = pool.Keys(_layer).AsSpan();
        for (int p = 0; p < n; p++)
        {
            int at = pool.Offset(table[p / blockSize], p % blockSize) + headOffset;
            TensorPrimitives.ConvertToSingle(keys.Slice(at, _headSize), row);
            scores[p] = TensorPrimitives.Dot(q, row) * _scale;
        }

        float max = TensorPrimitives.Max(scores);
        double sum = 0;
        for (int p = 0; p < n; p++)
        {
            float e = MathF.Exp(scores[p] - max);
            scores[p] = e;
            sum += e;
        }
        float inv = (float)(1.0 / sum);
        for (int p = 0; p < n; p++)
            scores[p] = (float)(Half)(scores[p] * inv);

        var output = _out.AsSpan(qOffset, _headSize);
        output.Clear();
        var values = pool.Values(_layer).AsSpan();
        for (int p = 0; p < n; p++)
        {
            int at = pool.Offset(table[p / blockSize], p % blockSize) + headOffset;
            TensorPrimitives.ConvertToSingle(values.Slice(at, _headSize), row);
            TensorPrimitives.MultiplyAdd(row, scores[p], output, output);
        }
    }
}
