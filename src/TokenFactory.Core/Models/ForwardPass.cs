using System.Numerics.Tensors;
using TokenFactory.Compute;
using TokenFactory.Engine;

namespace TokenFactory.Models;

/// <summary>
/// Runs tokens of one sequence through the model, appending to its KV cache. Prompts are processed
/// in chunks of up to <see cref="MaxBatch"/> tokens so every weight row is read once per chunk, not
/// once per token. All buffers are allocated here, once; a step allocates nothing.
/// </summary>
public sealed class ForwardPass : IDisposable
{
    public const int MaxBatch = 64;

    private readonly TransformerModel _model;
    private readonly ModelConfig _c;
    private readonly ComputePool _pool;
    private readonly bool _ownsPool;
    private readonly MatMul _matmul;
    private readonly GroupedAttention _attention;
    private readonly Rope _rope;
    private readonly float[] _x, _xb, _q, _k, _v, _att, _gate, _up, _last;

    public ForwardPass(TransformerModel model, int contextLength, ComputePool? pool = null, int threads = 0)
    {
        _model = model;
        _c = model.Config;
        _ownsPool = pool == null;
        _pool = pool ?? new ComputePool(threads > 0 ? threads : ComputePool.DefaultThreadCount);
        _matmul = new MatMul(_pool);
        ContextLength = Math.Min(contextLength > 0 ? contextLength : _c.ContextLength, _c.ContextLength);
        Cache = new KvCache(_c.BlockCount, ContextLength, _c.KvDimension);
        _attention = new GroupedAttention(_c.HeadCount, _c.KvHeadCount, _c.HeadSize, ContextLength, _pool.ThreadCount);
        _rope = new Rope(_c.RopeDimensions, _c.RopeFreqBase, _c.RopeStyle, _c.RopeLinearScale, model.Weights.RopeFreqFactors);
        _x = new float[MaxBatch * _c.EmbeddingLength];
        _xb = new float[MaxBatch * Math.Max(_c.EmbeddingLength, _c.QueryDimension)];
        _q = new float[MaxBatch * _c.QueryDimension];
        _k = new float[MaxBatch * _c.KvDimension];
        _v = new float[MaxBatch * _c.KvDimension];
        _att = new float[MaxBatch * _c.QueryDimension];
        _gate = new float[MaxBatch * _c.FeedForwardLength];
        _up = new float[MaxBatch * _c.FeedForwardLength];
        _last = new float[_c.EmbeddingLength];
        Logits = new float[model.VocabSize];
    }

    public int ContextLength { get; }
    public KvCache Cache { get; }
    public int Position => Cache.Length;
    public int Threads => _pool.ThreadCount;

    /// <summary>Logits after the last token evaluated.</summary>
    public float[] Logits { get; }

    public void Reset() => Cache.Clear();

    /// <summary>Drops cached positions at and after <paramref name="length"/> (to reuse a shared prompt prefix).</summary>
    public void Truncate(int length) => Cache.Length = Math.Clamp(length, 0, Cache.Length);

    /// <summary>
    /// Evaluates <paramref name="tokens"/> at the next positions. <see cref="Logits"/> then holds the last
    /// token's logits; if <paramref name="allLogits"/> is given it receives every token's logits
    /// (tokens.Length × vocab).
    /// </summary>
    public void Evaluate(ReadOnlySpan<int> tokens, float[]? allLogits = null)
    {
        if (Cache.Length + tokens.Length > ContextLength)
            throw new TokenFactoryException($"Sequence of {Cache.Length + tokens.Length} tokens exceeds the context length {ContextLength}.");
        for (int i = 0; i < tokens.Length; i++)
        {
            if ((uint)tokens[i] >= (uint)_model.Weights.TokenEmbedding.Rows)
                throw new TokenFactoryException($"Token id {tokens[i]} is outside the vocabulary (0..{_model.Weights.TokenEmbedding.Rows - 1}).");
        }
        for (int done = 0; done < tokens.Length; done += MaxBatch)
        {
            int n = Math.Min(MaxBatch, tokens.Length - done);
            EvaluateChunk(tokens.Slice(done, n), allLogits, done);
        }
    }

    private void EvaluateChunk(ReadOnlySpan<int> tokens, float[]? allLogits, int logitsRow)
    {
        int n = tokens.Length, e = _c.EmbeddingLength, start = Cache.Length;
        var w = _model.Weights;
        for (int t = 0; t < n; t++)
            w.TokenEmbedding.DequantizeRow(tokens[t], _x.AsSpan(t * e, e));

        for (int l = 0; l < _c.BlockCount; l++)
        {
            var layer = w.Layers[l];
            for (int t = 0; t < n; t++)
                Norms.RmsNorm(_x.AsSpan(t * e, e), layer.AttentionNorm, _c.RmsEpsilon, _xb.AsSpan(t * e, e));
            _matmul.Multiply(layer.Query, _xb, 0, n, _q, 0);
            _matmul.Multiply(layer.Key, _xb, 0, n, _k, 0);
            _matmul.Multiply(layer.Value, _xb, 0, n, _v, 0);
            for (int t = 0; t < n; t++)
                PrepareQkv(layer, t, start + t, l);
            _attention.Run(_pool, Cache, l, _q, n, start, _att);
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
        Cache.Length = start + n;

        if (allLogits != null)
        {
            for (int t = 0; t < n; t++)
                Norms.RmsNorm(_x.AsSpan(t * e, e), w.OutputNorm, _c.RmsEpsilon, _xb.AsSpan(t * e, e));
            // The vocabulary projection is the largest matrix; reuse Logits as a bounce buffer one token at a time.
            for (int t = 0; t < n; t++)
            {
                _xb.AsSpan(t * e, e).CopyTo(_last);
                _matmul.Multiply(w.Output, _last, 0, 1, Logits, 0);
                Logits.CopyTo(allLogits, (long)(logitsRow + t) * Logits.Length);
            }
        }
        else
        {
            Norms.RmsNorm(_x.AsSpan((n - 1) * e, e), w.OutputNorm, _c.RmsEpsilon, _last);
            _matmul.Multiply(w.Output, _last, 0, 1, Logits, 0);
        }
    }

    private void PrepareQkv(LayerWeights layer, int t, int position, int l)
    {
        var q = _q.AsSpan(t * _c.QueryDimension, _c.QueryDimension);
        var k = _k.AsSpan(t * _c.KvDimension, _c.KvDimension);
        var v = _v.AsSpan(t * _c.KvDimension, _c.KvDimension);
        AttentionInputs.Prepare(layer, _c, _rope, q, k, v, position);
        TensorPrimitives.ConvertToHalf(k, Cache.Keys(l, position));
        TensorPrimitives.ConvertToHalf(v, Cache.Values(l, position));
    }

    public void Dispose()
    {
        if (_ownsPool)
            _pool.Dispose();
    }
}
