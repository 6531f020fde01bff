using System.Numerics.Tensors;
using TokenFactory.Compute;
using TokenFactory.Engine.Batching;

namespace TokenFactory.Models;

/// <summary>Receives logits rows of a step, a group at a time (rows <paramref name="firstRow"/>.., each vocab floats).</summary>
public interface ILogitsConsumer
{
    void Consume(int firstRow, int count, float[] logits);
}

/// <summary>
/// Runs one engine step — tokens of many sequences at their own positions — through the model with
/// one matrix multiplication per weight for the whole step, so each weight row is read once per step
/// rather than once per sequence. Keys and values go to, and attention reads from, the paged
/// <see cref="KvBlockPool"/>. Per token the arithmetic is <see cref="ForwardPass"/>'s exactly (matmul
/// rows, RoPE, half-precision cache and attention are all row-independent), so results do not depend
/// on what else is in the batch. Buffers are allocated once; a step allocates nothing.
/// </summary>
public sealed class BatchForward : IDisposable
{
    private readonly TransformerModel _model;
    private readonly ModelConfig _c;
    private readonly KvBlockPool _cache;
    private readonly ComputePool _pool;
    private readonly bool _ownsPool;
    private readonly MatMul _matmul;
    private readonly PagedAttention _attention;
    private readonly Rope _rope;
    private readonly float[] _x, _xb, _q, _k, _v, _att, _gate, _up, _last;

    /// <param name="maxTokens">Most tokens in one step.</param>
    /// <param name="maxLogitRows">Logits rows computed per output-matrix pass (more are done in groups).</param>
    public BatchForward(TransformerModel model, KvBlockPool cache, int contextLength, int maxTokens, int maxLogitRows, ComputePool? pool = null, int threads = 0)
    {
        _model = model;
        _c = model.Config;
        _cache = cache;
        _ownsPool = pool == null;
        _pool = pool ?? new ComputePool(threads > 0 ? threads : ComputePool.DefaultThreadCount);
        _matmul = new MatMul(_pool);
        MaxTokens = maxTokens;
        MaxLogitRows = maxLogitRows;
        _attention = new PagedAttention(_c.HeadCount, _c.KvHeadCount, _c.HeadSize, contextLength, _pool.ThreadCount);
        _rope = new Rope(_c.RopeDimensions, _c.RopeFreqBase, _c.RopeStyle, _c.RopeLinearScale, model.Weights.RopeFreqFactors);
        int e = _c.EmbeddingLength;
        _x = new float[maxTokens * e];
        _xb = new float[maxTokens * Math.Max(e, _c.QueryDimension)];
        _q = new float[maxTokens * _c.QueryDimension];
        _k = new float[maxTokens * _c.KvDimension];
        _v = new float[maxTokens * _c.KvDimension];
        _att = new float[maxTokens * _c.QueryDimension];
        _gate = new float[maxTokens * _c.FeedForwardLength];
        _up = new float[maxTokens * _c.FeedForwardLength];
        _last = new float[maxLogitRows * e];
        Logits = new float[maxLogitRows * model.VocabSize];
    }

    public int MaxTokens { get; }
    public int MaxLogitRows { get; }
    public int Threads => _pool.ThreadCount;
    public ComputePool Pool => _pool;

    /// <summary>The latest group of logits rows (also handed to the consumer).</summary>
    public float[] Logits { get; }

    /// <summary>Evaluates the step; the consumer receives the logits of <see cref="StepBatch.LogitRows"/> in order.</summary>
    public void Run(StepBatch batch, ILogitsConsumer consumer)
    {
        int n = batch.TokenCount, e = _c.EmbeddingLength;
        if (n == 0)
            return;
        if (n > MaxTokens)
            throw new InvalidOperationException($"A step of {n} tokens exceeds the forward pass's {MaxTokens}.");
        var w = _model.Weights;
        for (int t = 0; t < n; t++)
            w.TokenEmbedding.DequantizeRow(batch.Tokens[t], _x.AsSpan(t * e, e));

        for (int l = 0; l < _c.BlockCount; l++)
        {
            var layer = w.Layers[l];
            for (int t = 0; t < n; t++)
                Norms.RmsNorm(_x.AsSpan(t * e, e), layer.AttentionNorm, _c.RmsEpsilon, _xb.AsSpan(t * e, e));
            _matmul.Multiply(layer.Query, _xb, 0, n, _q, 0);
            _matmul.Multiply(layer.Key, _xb, 0, n, _k, 0);
            _matmul.Multiply(layer.Value, _xb, 0, n, _v, 0);
            for (int t = 0; t < n; t++)
                PrepareQkv(layer, batch, t, l);
            _attention.Run(_pool, _cache, batch, l, _q, _att);
            _matmul.Multiply(layer.Output, _att, 0, n, _xb, 0);
            TensorPrimitives.Add(_x.AsSpan(0, n * e), _xb.AsSpan(0, n * e), _x.AsSpan(0, n * e));

            for (int t = 0; t < n; t++)
                Norms.RmsNorm(_x.AsSpan(t * e, e), layer.FeedForwardNorm, _c.RmsEpsilon, _xb.AsSpan(t * e, e));
            _matmul.Multiply(layer.Gate, _xb, 0, n, _gate, 0);
            _matmul.Multiply(layer.Up, _xb, 0, n, _up, 0);
            var g = _gate.AsSpan(0, n * _c.FeedForwardLength);
            // SiLU(g) = g * sigmoid(g), gated by up; vectorised (FusedOps), the same function in both forward paths.
            FusedOps.SiluMultiply(g, _up.AsSpan(0, g.Length));
            _matmul.Multiply(layer.Down, _gate, 0, n, _xb, 0);
            TensorPrimitives.Add(_x.AsSpan(0, n * e), _xb.AsSpan(0, n * e), _x.AsSpan(0, n * e));
        }

        // The vocabulary projection is the largest matrix: one pass per group of rows, normally one per step.
        for (int first = 0; first < batch.LogitRowCount; first += MaxLogitRows)
        {
            int rows = Math.Min(MaxLogitRows, batch.LogitRowCount - first);
            for (int r = 0; r < rows; r++)
                Norms.RmsNorm(_x.AsSpan(batch.LogitRows[first + r] * e, e), w.OutputNorm, _c.RmsEpsilon, _last.AsSpan(r * e, e));
            _matmul.Multiply(w.Output, _last, 0, rows, Logits, 0);
            consumer.Consume(first, rows, Logits);
        }
    }

    private void PrepareQkv(LayerWeights layer, StepBatch batch, int t, int l)
    {
        var q = _q.AsSpan(t * _c.QueryDimension, _c.QueryDimension);
        var k = _k.AsSpan(t * _c.KvDimension, _c.KvDimension);
        var v = _v.AsSpan(t * _c.KvDimension, _c.KvDimension);
        int position = batch.Positions[t];
        AttentionInputs.Prepare(layer, _c, _rope, q, k, v, position);
        var table = batch.BlockTables[batch.TokenSequence[t]];
        int at = _cache.Offset(table[position / _cache.BlockSize], position % _cache.BlockSize);
        TensorPrimitives.ConvertToHalf(k, _cache.Keys(l).AsSpan(at, _c.KvDimension));
        TensorPrimitives.ConvertToHalf(v, _cache.Values(l).AsSpan(at, _c.KvDimension));
    }

    public void Dispose()
    {
        if (_ownsPool)
            _pool.Dispose();
    }
}
