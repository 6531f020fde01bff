using System.Numerics.Tensors;
using TokenFactory.Compute;
using TokenFactory.Kv;

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
/// <see cref="KvBlockPool"/>. Matmul rows, RoPE, the half-precision cache and attention are all
/// row-independent, so a token's results do not depend on what else is in the batch: one sequence alone
/// gets the bits it gets among many. Buffers are allocated once; a step allocates nothing.
/// </summary>
public sealed class BatchForward : IDisposable, IAttentionStep
{
    private readonly TransformerModel _model;
    private readonly ModelConfig _c;
    private readonly KvBlockPool _cache;
    private readonly KvBlockPool? _slidingCache;
    // Per cache layer: whether it lives in the sliding-window cache, and its layer index in the pool it lives in.
    private readonly bool[] _inSliding;
    private readonly int[] _poolLayer;
    private readonly ComputePool _pool;
    private readonly bool _ownsPool;
    private readonly MatMul _matmul;
    private readonly DecoderBlocks _blocks;
    private readonly PagedAttention _attention;
    private readonly PagedAttention _slidingAttention; // gemma4's sliding blocks have their own head shape; else the same instance
    private readonly float[] _valueNorm = []; // gemma4: values are RMS-normalised without a weight (ones)
    private readonly Rope _rope;
    private readonly Rope? _slidingRope; // sliding layers' own base, unscaled (gemma3)
    private readonly float[] _last;
    private readonly RecurrentState? _states;
    private readonly int[] _tokenSlots;
    private StepBatch? _batch;

    /// <param name="maxTokens">Most tokens in one step.</param>
    /// <param name="maxLogitRows">Logits rows computed per output-matrix pass (more are done in groups).</param>
    /// <param name="states">Recurrent state of a hybrid model's Mamba blocks, indexed by the step's <see cref="StepBatch.StateSlots"/>.</param>
    /// <param name="slidingCache">
    /// Sliding layers' keys and values, apart from <paramref name="cache"/> (which then holds the other layers), addressed through
    /// <see cref="StepBatch.SlidingBlockTables"/>; null: every layer in <paramref name="cache"/>.
    /// </param>
    public BatchForward(TransformerModel model, KvBlockPool cache, int contextLength, int maxTokens, int maxLogitRows, ComputePool? pool = null, int threads = 0,
        RecurrentState? states = null, KvBlockPool? slidingCache = null)
    {
        var config = model.Config;
        int cacheLayers = Math.Max(1, config.CacheLayerCount);
        _inSliding = new bool[cacheLayers];
        _poolLayer = new int[cacheLayers];
        for (int l = 0, apart = 0, other = 0; l < cacheLayers; l++)
        {
            _inSliding[l] = slidingCache != null && IsSlidingCacheLayer(config, l);
            _poolLayer[l] = _inSliding[l] ? apart++ : other++;
        }
        if (slidingCache != null && (slidingCache.Layers != _inSliding.Count(x => x) || cache.Layers != _inSliding.Count(x => !x) || slidingCache.BlockSize != cache.BlockSize))
            throw new ArgumentException("The sliding-window cache must hold exactly the model's sliding layers, the main cache the rest, in blocks of one size.", nameof(slidingCache));
        _slidingCache = slidingCache;
        if (model.Config.HasRecurrentState && states == null)
            throw new ArgumentException($"{model.Config.Architecture} has Mamba blocks: the batched forward pass needs their recurrent state.", nameof(states));
        _states = states;
        _tokenSlots = new int[maxTokens];
        _model = model;
        _c = model.Config;
        _cache = cache;
        _ownsPool = pool == null;
        _pool = pool ?? new ComputePool(threads > 0 ? threads : ComputePool.DefaultThreadCount);
        _matmul = new MatMul(_pool);
        MaxTokens = maxTokens;
        MaxLogitRows = maxLogitRows;
        _attention = new PagedAttention(_c.HeadCount, _c.KvHeadCount, _c.HeadSize, contextLength, _pool.ThreadCount, _c.AttentionScale);
        var sliding = _c.AttentionOf(FirstSlidingBlock(_c));
        _slidingAttention = (sliding.KvHeads, sliding.HeadSize) == (_c.KvHeadCount, _c.HeadSize)
            ? _attention
            : new PagedAttention(sliding.Heads, sliding.KvHeads, sliding.HeadSize, contextLength, _pool.ThreadCount, _c.AttentionScale);
        if (_c.IsGemma4)
            _valueNorm = Enumerable.Repeat(1f, Math.Max(_c.HeadSize, sliding.HeadSize)).ToArray();
        _rope = new Rope(_c.RopeDimensions, _c.RopeFreqBase, _c.RopeStyle, _c.RopeLinearScale, model.Weights.RopeFreqFactors, _c.RopeYarn);
        if (_c.SlidingWindow > 0)
        {
            // gemma3's sliding layers rotate on their own base, unscaled; gpt-oss's on the global base and scaling (YaRN).
            _slidingRope = _c.IsGptOss
                ? new Rope(_c.RopeDimensions, _c.RopeFreqBaseSliding, _c.RopeStyle, _c.RopeLinearScale, model.Weights.RopeFreqFactors, _c.RopeYarn)
                : new Rope(_c.AttentionOf(FirstSlidingBlock(_c)).RopeDimensions, _c.RopeFreqBaseSliding, _c.RopeStyle);
        }
        int e = _c.EmbeddingLength;
        _blocks = new DecoderBlocks(model, _matmul, maxTokens);
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
        if (!RunBlocks(batch))
            return;
        int e = _c.EmbeddingLength;
        var w = _model.Weights;
        var x = _blocks.Hidden;

        // The vocabulary projection is the largest matrix: one pass per group of rows, normally one per step.
        for (int first = 0; first < batch.LogitRowCount; first += MaxLogitRows)
        {
            int rows = Math.Min(MaxLogitRows, batch.LogitRowCount - first);
            for (int r = 0; r < rows; r++)
                Norms.RmsNorm(x.AsSpan(batch.LogitRows[first + r] * e, e), w.OutputNorm, _c.RmsEpsilon, _last.AsSpan(r * e, e));
            _matmul.Multiply(w.Output, _last, 0, rows, Logits, 0);
            if (_c.FinalLogitSoftcap > 0)
                SoftCap(Logits.AsSpan(0, rows * _model.VocabSize), _c.FinalLogitSoftcap);
            consumer.Consume(first, rows, Logits);
        }
    }

    /// <summary>
    /// Evaluates the step without the vocabulary projection: row i of <paramref name="destination"/> receives the final-normed
    /// hidden state of token <see cref="StepBatch.LogitRows"/>[i] (what a decoder embedding model pools).
    /// </summary>
    public void RunHidden(StepBatch batch, Span<float> destination)
    {
        if (!RunBlocks(batch))
            return;
        int e = _c.EmbeddingLength;
        for (int r = 0; r < batch.LogitRowCount; r++)
            Norms.RmsNorm(_blocks.Hidden.AsSpan(batch.LogitRows[r] * e, e), _model.Weights.OutputNorm, _c.RmsEpsilon, destination.Slice(r * e, e));
    }

    private bool RunBlocks(StepBatch batch)
    {
        int n = batch.TokenCount;
        if (n == 0)
            return false;
        if (n > MaxTokens)
            throw new InvalidOperationException($"A step of {n} tokens exceeds the forward pass's {MaxTokens}.");
        _batch = batch;
        for (int t = 0; t < n; t++)
            _tokenSlots[t] = batch.StateSlots[batch.TokenSequence[t]];
        _blocks.Run(batch.Tokens.AsSpan(0, n), this, _states, _tokenSlots.AsSpan(0, n));
        _batch = null;
        return true;
    }

    private static int FirstSlidingBlock(ModelConfig c) => Enumerable.Range(0, c.BlockCount).FirstOrDefault(c.IsSliding);

    /// <summary>
    /// Whether cache layer <paramref name="cacheLayer"/> belongs to a sliding block. Models with sliding layers (gemma3, gemma4,
    /// gpt-oss) number their cache layers by block (gemma4's shared-KV blocks, last, have none).
    /// </summary>
    private static bool IsSlidingCacheLayer(ModelConfig c, int cacheLayer) => c.SlidingWindow > 0 && c.LayerKindsOverride == null && c.IsSliding(cacheLayer);

    /// <summary>How many of the model's cache layers are sliding ones (what a sliding-window cache holds).</summary>
    public static int SlidingCacheLayers(ModelConfig c) => Enumerable.Range(0, Math.Max(1, c.CacheLayerCount)).Count(l => IsSlidingCacheLayer(c, l));

    void IAttentionStep.Attend(int blockIndex, int layer, bool ownKv, LayerWeights weights, float[] q, float[] k, float[] v, int tokens, float[] output)
    {
        var batch = _batch!;
        bool sliding = _c.IsSliding(blockIndex);
        var rope = sliding ? _slidingRope! : _rope;
        var g = _c.AttentionOf(blockIndex);
        int qd = g.QueryDimension, kvd = g.KvDimension;
        bool apart = _inSliding[layer];
        var cache = apart ? _slidingCache! : _cache;
        int index = _poolLayer[layer];
        for (int t = 0; t < tokens; t++)
        {
            int position = batch.Positions[t];
            var qt = q.AsSpan(t * qd, qd);
            if (!ownKv)
            {
                AttentionInputs.PrepareQuery(weights, _c, g, rope, qt, position);
                continue;
            }
            var kt = k.AsSpan(t * kvd, kvd);
            var vt = v.AsSpan(t * kvd, kvd);
            AttentionInputs.Prepare(weights, _c, g, rope, qt, kt, vt, position, _valueNorm);
            var table = apart ? batch.SlidingBlockTables[batch.TokenSequence[t]] : batch.BlockTables[batch.TokenSequence[t]];
            int block = table[position / cache.BlockSize], slot = position % cache.BlockSize;
            cache.WriteKey(index, block, slot, kt);
            TensorPrimitives.ConvertToHalf(vt, cache.Values(index).AsSpan(cache.Offset(block, slot), kvd));
        }
        (sliding ? _slidingAttention : _attention).Run(_pool, cache, batch, index, q, output, sliding ? _c.SlidingWindow : 0, weights.AttentionSinks, apart);
    }

    /// <summary>l ← cap · tanh(l / cap): Gemma's final logit soft-capping.</summary>
    private static void SoftCap(Span<float> logits, float cap)
    {
        TensorPrimitives.Divide(logits, cap, logits);
        TensorPrimitives.Tanh(logits, logits);
        TensorPrimitives.Multiply(logits, cap, logits);
    }

    public void Dispose()
    {
        if (_ownsPool)
            _pool.Dispose();
    }
}
