using System.Numerics.Tensors;
using TokenFactory.Compute;
using TokenFactory.Engine;

namespace TokenFactory.Models;

/// <summary>
/// Runs tokens of one sequence through the model, appending to its KV cache. Prompts are processed
/// in chunks of up to <see cref="MaxBatch"/> tokens so every weight row is read once per chunk, not
/// once per token. All buffers are allocated here, once; a step allocates nothing.
/// </summary>
public sealed class ForwardPass : IDisposable, IAttentionStep
{
    public const int MaxBatch = 64;

    private readonly TransformerModel _model;
    private readonly ModelConfig _c;
    private readonly ComputePool _pool;
    private readonly bool _ownsPool;
    private readonly MatMul _matmul;
    private readonly DecoderBlocks _blocks;
    private readonly GroupedAttention _attention;
    private readonly Rope _rope;
    private readonly float[] _last;
    private readonly RecurrentState? _states;
    private readonly int[] _slots = new int[MaxBatch];
    private int _chunkStart;

    public ForwardPass(TransformerModel model, int contextLength, ComputePool? pool = null, int threads = 0)
    {
        _model = model;
        _c = model.Config;
        _ownsPool = pool == null;
        _pool = pool ?? new ComputePool(threads > 0 ? threads : ComputePool.DefaultThreadCount);
        _matmul = new MatMul(_pool);
        ContextLength = Math.Min(contextLength > 0 ? contextLength : _c.ContextLength, _c.ContextLength);
        Cache = new KvCache(_c.CacheLayerCount, ContextLength, _c.KvDimension);
        if (_c.HasRecurrentState)
        {
            _states = new RecurrentState(_c.Ssm!, _c.MambaLayerCount, 1);
            _states.Allocate();
        }
        _attention = new GroupedAttention(_c.HeadCount, _c.KvHeadCount, _c.HeadSize, ContextLength, _pool.ThreadCount);
        _rope = new Rope(_c.RopeDimensions, _c.RopeFreqBase, _c.RopeStyle, _c.RopeLinearScale, model.Weights.RopeFreqFactors);
        _blocks = new DecoderBlocks(model, _matmul, MaxBatch);
        _last = new float[_c.EmbeddingLength];
        Logits = new float[model.VocabSize];
    }

    public int ContextLength { get; }
    public KvCache Cache { get; }
    public int Position => Cache.Length;
    public int Threads => _pool.ThreadCount;

    /// <summary>Logits after the last token evaluated.</summary>
    public float[] Logits { get; }

    public void Reset()
    {
        Cache.Clear();
        _states?.Clear(0);
    }

    /// <summary>
    /// Drops cached positions at and after <paramref name="length"/> (to reuse a shared prompt prefix) and
    /// returns how many are kept. Recurrent state cannot be rewound: a hybrid model keeps everything or nothing.
    /// </summary>
    public int Truncate(int length)
    {
        length = Math.Clamp(length, 0, Cache.Length);
        if (_states != null && length < Cache.Length)
        {
            Reset();
            return 0;
        }
        Cache.Length = length;
        return length;
    }

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
        int n = tokens.Length, e = _c.EmbeddingLength;
        var w = _model.Weights;
        int start = _chunkStart = Cache.Length;
        _blocks.Run(tokens, this, _states, _slots);
        var x = _blocks.Hidden;
        var xb = _blocks.Scratch;
        Cache.Length = start + n;

        if (allLogits != null)
        {
            for (int t = 0; t < n; t++)
                Norms.RmsNorm(x.AsSpan(t * e, e), w.OutputNorm, _c.RmsEpsilon, xb.AsSpan(t * e, e));
            // The vocabulary projection is the largest matrix; Logits (one row) bounces each token's row out.
            for (int t = 0; t < n; t++)
            {
                _matmul.Multiply(w.Output, xb, t * e, 1, Logits, 0);
                Logits.CopyTo(allLogits, (long)(logitsRow + t) * Logits.Length);
            }
        }
        else
        {
            Norms.RmsNorm(x.AsSpan((n - 1) * e, e), w.OutputNorm, _c.RmsEpsilon, _last);
            _matmul.Multiply(w.Output, _last, 0, 1, Logits, 0);
        }
    }

    void IAttentionStep.Attend(int layer, LayerWeights weights, float[] q, float[] k, float[] v, int tokens, float[] output)
    {
        for (int t = 0; t < tokens; t++)
        {
            int position = _chunkStart + t;
            var kt = k.AsSpan(t * _c.KvDimension, _c.KvDimension);
            var vt = v.AsSpan(t * _c.KvDimension, _c.KvDimension);
            AttentionInputs.Prepare(weights, _c, _rope, q.AsSpan(t * _c.QueryDimension, _c.QueryDimension), kt, vt, position);
            Cache.WriteKey(layer, position, kt);
            TensorPrimitives.ConvertToHalf(vt, Cache.Values(layer, position));
        }
        _attention.Run(_pool, Cache, layer, q, tokens, _chunkStart, output);
    }

    public void Dispose()
    {
        if (_ownsPool)
            _pool.Dispose();
    }
}
