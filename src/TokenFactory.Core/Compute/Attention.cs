using System.Numerics.Tensors;
using TokenFactory.Engine;

namespace TokenFactory.Compute;

/// <summary>
/// Causal grouped-query attention over a sequence's cache, parallel over (token, head) pairs.
/// Queries and softmax weights are rounded to half precision before their dot products with the
/// half-precision cache, mirroring llama.cpp's CPU path so scores agree with it to the last bits.
/// </summary>
public sealed class Attention : IParallelWork
{
    private readonly int _headCount;
    private readonly int _kvHeadCount;
    private readonly int _headSize;
    private readonly float _scale;
    private readonly float[][] _scores;
    private readonly float[][] _rowScratch;
    private readonly float[][] _query;

    private KvCache? _cache;
    private int _layer;
    private float[] _q = [];
    private float[] _out = [];
    private int _tokens;
    private int _startPosition;

    public Attention(int headCount, int kvHeadCount, int headSize, int contextLength, int threads)
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
            _rowScratch[i] = new float[Math.Max(headSize, contextLength)];
            _query[i] = new float[headSize];
        }
    }

    /// <summary>
    /// Attends <paramref name="tokens"/> queries (rows of heads × headSize in <paramref name="q"/>) at positions
    /// startPosition.. against the cache, which must already hold their keys and values.
    /// </summary>
    public void Run(ComputePool pool, KvCache cache, int layer, float[] q, int tokens, int startPosition, float[] output)
    {
        _cache = cache;
        _layer = layer;
        _q = q;
        _out = output;
        _tokens = tokens;
        _startPosition = startPosition;
        pool.Run(this);
        _cache = null;
    }

    void IParallelWork.Execute(int thread, int threadCount)
    {
        int items = _tokens * _headCount;
        int start = (int)((long)items * thread / threadCount);
        int end = (int)((long)items * (thread + 1) / threadCount);
        for (int item = start; item < end; item++)
            AttendOne(thread, item / _headCount, item % _headCount);
    }

    private void AttendOne(int thread, int t, int h)
    {
        var cache = _cache!;
        int kvDim = _kvHeadCount * _headSize;
        int kvh = h / (_headCount / _kvHeadCount);
        int position = _startPosition + t;
        int n = position + 1;
        int qOffset = (t * _headCount + h) * _headSize;

        var q = _query[thread].AsSpan(0, _headSize);
        for (int i = 0; i < _headSize; i++)
            q[i] = (float)(Half)_q[qOffset + i];

        var scores = _scores[thread].AsSpan(0, n);
        var row = _rowScratch[thread].AsSpan(0, _headSize);
        for (int p = 0; p < n; p++)
        {
            for (int i = 0; i < _headSize; i++)
                row[i] = (float)cache.KeyAt(_layer, p, kvh * _headSize + i);
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
        var values = cache.AllValues(_layer);
        for (int p = 0; p < n; p++)
        {
            TensorPrimitives.ConvertToSingle(values.Slice(p * kvDim + kvh * _headSize, _headSize), row);
            TensorPrimitives.MultiplyAdd(row, scores[p], output, output);
        }
    }
}
