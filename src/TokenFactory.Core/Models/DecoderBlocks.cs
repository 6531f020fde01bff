using System.Numerics.Tensors;
using TokenFactory.Compute;

namespace TokenFactory.Models;

/// <summary>
/// The part of a forward pass that does not touch the cache: embedding lookup, and per block RMSNorm, the Q/K/V/output projections, the residual adds and the SwiGLU
/// feed-forward, each a single matrix multiplication over all rows. Where the keys and values live
/// is the caller's business (<see cref="BatchForward"/>: the paged pool), supplied as <see cref="IAttentionStep"/>. Buffers are allocated once; a run allocates nothing.
/// </summary>
internal sealed class DecoderBlocks
{
    private readonly TransformerWeights _w;
    private readonly ModelConfig _c;
    private readonly float[] _x, _xb, _q, _k, _v, _att, _gate, _up;
    private readonly float[] _queryAndGate = [], _attentionGate = [];
    private readonly float[] _perLayer = [], _perLayerGate = []; // gemma4: every token's per-layer inputs; one block's gate rows
    private readonly float[] _expertRows = [], _routerRows = [], _ones = []; // gemma4's experts beside the MLP: their input, the router's
    private readonly MambaMixer? _mamba;
    private readonly DeltaNetMixer? _deltaNet;
    private readonly ExpertFeedForward? _feedForward;

    public DecoderBlocks(TransformerModel model, MatMul matmul, int maxTokens)
    {
        _w = model.Weights;
        _c = model.Config;
        MatMul = matmul;
        int e = _c.EmbeddingLength;
        _x = new float[maxTokens * e];
        _xb = new float[maxTokens * Math.Max(e, _c.QueryDimension)];
        _q = new float[maxTokens * _c.QueryDimension];
        _k = new float[maxTokens * _c.KvDimension];
        _v = new float[maxTokens * _c.KvDimension];
        _att = new float[maxTokens * _c.QueryDimension];
        bool hybrid = _c.IsNemotronH;
        _gate = hybrid ? [] : new float[maxTokens * _c.FeedForwardLength];
        _up = hybrid ? [] : new float[maxTokens * _c.FeedForwardLength];
        if (_c.AttentionOutputGate)
        {
            _queryAndGate = new float[maxTokens * 2 * _c.QueryDimension];
            _attentionGate = new float[maxTokens * _c.QueryDimension];
        }
        if (_c.IsGemma4 && _c.Moe != null)
        {
            _expertRows = new float[maxTokens * e];
            _routerRows = new float[maxTokens * e];
            _ones = Enumerable.Repeat(1f, e).ToArray(); // the router's norm has no weight
        }
        if (_c.PerLayerEmbeddingLength > 0)
        {
            _perLayer = new float[maxTokens * _c.BlockCount * _c.PerLayerEmbeddingLength];
            _perLayerGate = new float[maxTokens * _c.BlockCount * _c.PerLayerEmbeddingLength];
        }
        if (_c.Ssm != null && _c.LayerKindsOverride!.Contains(LayerKind.Mamba))
            _mamba = new MambaMixer(_c.Ssm, _c.RmsEpsilon, maxTokens);
        if (_c.Ssm != null && _c.LayerKindsOverride!.Contains(LayerKind.DeltaNet))
            _deltaNet = new DeltaNetMixer(_c.Ssm, _c.RmsEpsilon, maxTokens);
        if (hybrid || _c.Moe != null)
            _feedForward = new ExpertFeedForward(_c, maxTokens);
    }

    public MatMul MatMul { get; }

    /// <summary>The residual stream after <see cref="Run"/>: one row of embedding-length floats per token.</summary>
    public float[] Hidden => _x;

    /// <summary>Scratch rows as wide as the residual stream, free to use after <see cref="Run"/>.</summary>
    public float[] Scratch => _xb;

    /// <summary>Runs <paramref name="tokens"/> through every block, leaving the result in <see cref="Hidden"/>.</summary>
    /// <param name="states">Recurrent state of hybrid models' Mamba blocks; <paramref name="slots"/> gives each token's slot.</param>
    public void Run(ReadOnlySpan<int> tokens, IAttentionStep attention, RecurrentState? states = null, ReadOnlySpan<int> slots = default)
    {
        int n = tokens.Length, e = _c.EmbeddingLength;
        for (int t = 0; t < n; t++)
            _w.TokenEmbedding.DequantizeRow(tokens[t], _x.AsSpan(t * e, e));
        if (_c.IsGemma)
            TensorPrimitives.Multiply(_x.AsSpan(0, n * e), MathF.Sqrt(e), _x.AsSpan(0, n * e)); // Gemma scales embeddings by √d

        var residual = _x.AsSpan(0, n * e);
        if (_c.IsNemotronH)
        {
            RunHybrid(n, attention, states, slots);
            return;
        }
        if (_c.PerLayerEmbeddingLength > 0)
            PerLayerInputs(tokens);
        int attentionBlocks = 0, recurrentLayer = 0;
        for (int l = 0; l < _c.BlockCount; l++)
        {
            var layer = _w.Layers[l];
            NormalizeRows(n, layer.AttentionNorm);
            if (layer.Kind == LayerKind.DeltaNet)
            {
                // qwen35's linear-attention blocks in place of attention; the feed-forward below is the same.
                if (states == null || slots.Length < n)
                    throw new InvalidOperationException("A model's DeltaNet blocks need recurrent state slots for every token.");
                _deltaNet!.Run(MatMul, layer.DeltaNet!, recurrentLayer++, _xb, n, states, slots, _xb);
            }
            else
            {
                // qwen35 numbers its attention blocks' cache layers in order; gemma4's shared blocks read an earlier block's.
                int cacheLayer = _c.LayerKindsOverride != null ? attentionBlocks++ : _c.KvSourceBlock(l);
                bool ownKv = _c.LayerKindsOverride != null || cacheLayer == l;
                MultiplyQkv(layer, n, ownKv);
                attention.Attend(l, cacheLayer, ownKv, layer, _q, _k, _v, n, _att);
                if (_c.AttentionOutputGate)
                    FusedOps.SigmoidMultiply(_att.AsSpan(0, n * _c.QueryDimension), _attentionGate);
                MatMul.Multiply(layer.Output, _att, 0, n, _xb, 0);
            }
            if (layer.OutputBias != null)
                FusedOps.AddToRows(_xb.AsSpan(0, n * e), layer.OutputBias);
            if (layer.AttentionPostNorm != null)
                NormalizeInPlace(_xb, n, layer.AttentionPostNorm);
            TensorPrimitives.Add(residual, _xb.AsSpan(0, n * e), residual);

            NormalizeRows(n, layer.FeedForwardNorm);
            if (layer.Experts != null && layer.ExpertInputNorm == null)
            {
                _feedForward!.Experts(MatMul, layer.Experts, _xb, n, _xb);
                TensorPrimitives.Add(residual, _xb.AsSpan(0, n * e), residual);
                continue;
            }
            MatMul.MultiplyShared([layer.Gate, layer.Up], _xb, n, [_gate, _up]);
            var g = _gate.AsSpan(0, n * layer.Gate.Rows);
            if (_c.IsGemma)
                FusedOps.GeluHalfTableMultiply(g, _up.AsSpan(0, g.Length)); // GeGLU, GELU as ggml tabulates it
            else
            {
                // SiLU(g) = g * sigmoid(g), gated by up, vectorised; FusedOps keeps every element's value
                // independent of its position so a token's result does not depend on its batch.
                FusedOps.SiluMultiply(g, _up.AsSpan(0, g.Length));
            }
            MatMul.Multiply(layer.Down, _gate, 0, n, _xb, 0);
            if (layer.ExpertInputNorm != null)
                AddExpertsBeside(layer, n);
            if (layer.FeedForwardPostNorm != null)
                NormalizeInPlace(_xb, n, layer.FeedForwardPostNorm);
            TensorPrimitives.Add(residual, _xb.AsSpan(0, n * e), residual);
            if (layer.PerLayerPostNorm != null)
                AddPerLayerEmbedding(l, layer, n);
            if (layer.OutputScale != 1f)
                TensorPrimitives.Multiply(residual, layer.OutputScale, residual);
        }
    }

    /// <summary>
    /// gemma4's mixture blocks: the dense MLP's output (in the scratch rows) is normalised and joined by the experts', computed on
    /// the block's residual stream normalised their own way, routed on it RMS-normalised without a weight × 1/√d × the router's
    /// per-channel scale, and normalised on the way out.
    /// </summary>
    private void AddExpertsBeside(LayerWeights layer, int n)
    {
        int e = _c.EmbeddingLength;
        NormalizeInPlace(_xb, n, layer.DenseOutputNorm!);
        var scale = layer.Experts!.RouterInputScale!;
        float inverseRoot = 1f / MathF.Sqrt(e);
        for (int t = 0; t < n; t++)
        {
            var x = _x.AsSpan(t * e, e);
            Norms.RmsNorm(x, layer.ExpertInputNorm!, _c.RmsEpsilon, _expertRows.AsSpan(t * e, e));
            var r = _routerRows.AsSpan(t * e, e);
            Norms.RmsNorm(x, _ones, _c.RmsEpsilon, r);
            TensorPrimitives.Multiply(r, inverseRoot, r);
            TensorPrimitives.Multiply(r, scale, r);
        }
        _feedForward!.Experts(MatMul, layer.Experts, _expertRows, n, _expertRows, _routerRows);
        NormalizeInPlace(_expertRows, n, layer.ExpertOutputNorm!);
        TensorPrimitives.Add(_xb.AsSpan(0, n * e), _expertRows.AsSpan(0, n * e), _xb.AsSpan(0, n * e));
    }

    /// <summary>
    /// gemma4: every block's per-layer input for each token, as llama.cpp computes it: the per-layer table's row × √width, plus the
    /// scaled embedding's projection × 1/√d, RMS-normalised per block; the sum × 1/√2. Token t's block l input is at (t·blocks + l)·width.
    /// </summary>
    private void PerLayerInputs(ReadOnlySpan<int> tokens)
    {
        int n = tokens.Length, e = _c.EmbeddingLength, width = _c.PerLayerEmbeddingLength, row = _c.BlockCount * width;
        MatMul.Multiply(_w.PerLayerModelProjection, _x, 0, n, _perLayer, 0);
        var lookup = _perLayerGate.AsSpan(0, row);
        float projectionScale = 1f / MathF.Sqrt(e), lookupScale = MathF.Sqrt(width), sumScale = 1f / MathF.Sqrt(2f);
        for (int t = 0; t < n; t++)
        {
            _w.PerLayerTokenEmbedding.DequantizeRow(tokens[t], lookup);
            TensorPrimitives.Multiply(lookup, lookupScale, lookup);
            var inputs = _perLayer.AsSpan(t * row, row);
            TensorPrimitives.Multiply(inputs, projectionScale, inputs);
            for (int l = 0; l < _c.BlockCount; l++)
            {
                var block = inputs.Slice(l * width, width);
                Norms.RmsNorm(block, _w.PerLayerProjectionNorm, _c.RmsEpsilon, block);
            }
            TensorPrimitives.Add(inputs, lookup, inputs);
            TensorPrimitives.Multiply(inputs, sumScale, inputs);
        }
    }

    /// <summary>gemma4, after block <paramref name="l"/>'s feed-forward: residual += norm(proj(GELU(gate · residual) ⊙ the block's per-layer input)).</summary>
    private void AddPerLayerEmbedding(int l, LayerWeights layer, int n)
    {
        int e = _c.EmbeddingLength, width = _c.PerLayerEmbeddingLength, row = _c.BlockCount * width;
        MatMul.Multiply(layer.PerLayerGate, _x, 0, n, _perLayerGate, 0);
        for (int t = 0; t < n; t++)
            FusedOps.GeluHalfTableMultiply(_perLayerGate.AsSpan(t * width, width), _perLayer.AsSpan(t * row + l * width, width));
        MatMul.Multiply(layer.PerLayerProjection, _perLayerGate, 0, n, _xb, 0);
        NormalizeInPlace(_xb, n, layer.PerLayerPostNorm!);
        TensorPrimitives.Add(_x.AsSpan(0, n * e), _xb.AsSpan(0, n * e), _x.AsSpan(0, n * e));
    }

    /// <summary>
    /// Nemotron-H: every block is norm → one mixer (attention without RoPE, Mamba-2, squared-ReLU MLP or
    /// experts) → residual add. Attention blocks use KV cache layers 0.. in order, Mamba blocks state layers 0...
    /// </summary>
    private void RunHybrid(int n, IAttentionStep attention, RecurrentState? states, ReadOnlySpan<int> slots)
    {
        int e = _c.EmbeddingLength;
        var residual = _x.AsSpan(0, n * e);
        int cacheLayer = 0, mambaLayer = 0;
        for (int l = 0; l < _c.BlockCount; l++)
        {
            var layer = _w.Layers[l];
            NormalizeRows(n, layer.AttentionNorm);
            switch (layer.Kind)
            {
                case LayerKind.Attention:
                    MultiplyQkv(layer, n);
                    attention.Attend(l, cacheLayer++, true, layer, _q, _k, _v, n, _att);
                    MatMul.Multiply(layer.Output, _att, 0, n, _xb, 0);
                    break;
                case LayerKind.Mamba:
                    if (states == null || slots.Length < n)
                        throw new InvalidOperationException("A hybrid model's Mamba blocks need recurrent state slots for every token.");
                    _mamba!.Run(MatMul, layer.Mamba!, mambaLayer++, _xb, n, states, slots, _xb);
                    break;
                default:
                    if (layer.Experts != null)
                        _feedForward!.Experts(MatMul, layer.Experts, _xb, n, _xb);
                    else
                        _feedForward!.Dense(MatMul, layer.Up, layer.Down, _xb, n, _xb);
                    break;
            }
            TensorPrimitives.Add(residual, _xb.AsSpan(0, n * e), residual);
        }
    }

    private void MultiplyQkv(LayerWeights layer, int n, bool ownKv = true)
    {
        if (!ownKv)
        {
            MatMul.Multiply(layer.Query, _xb, 0, n, _q, 0); // gemma4's shared-KV blocks: queries only
            return;
        }
        if (layer.Value.Rows == 0)
        {
            // gemma4's global blocks without a value projection attend over their keys as values (normalised apart).
            MatMul.MultiplyShared([layer.Query, layer.Key], _xb, n, [_q, _k]);
            _k.AsSpan(0, n * layer.Key.Rows).CopyTo(_v);
            return;
        }
        if (!_c.AttentionOutputGate)
        {
            MatMul.MultiplyShared([layer.Query, layer.Key, layer.Value], _xb, n, [_q, _k, _v]);
            return;
        }
        // qwen35: each head's query is followed by its output gate; split them into the query rows and the gate rows.
        MatMul.MultiplyShared([layer.Query, layer.Key, layer.Value], _xb, n, [_queryAndGate, _k, _v]);
        int size = _c.HeadSize;
        for (int t = 0; t < n; t++)
        {
            for (int h = 0; h < _c.HeadCount; h++)
            {
                int from = (t * _c.HeadCount + h) * 2 * size, to = (t * _c.HeadCount + h) * size;
                _queryAndGate.AsSpan(from, size).CopyTo(_q.AsSpan(to, size));
                _queryAndGate.AsSpan(from + size, size).CopyTo(_attentionGate.AsSpan(to, size));
            }
        }
    }

    private void NormalizeInPlace(float[] rows, int n, float[] weight)
    {
        int e = _c.EmbeddingLength;
        for (int t = 0; t < n; t++)
            Norms.RmsNorm(rows.AsSpan(t * e, e), weight, _c.RmsEpsilon, rows.AsSpan(t * e, e));
    }

    private void NormalizeRows(int n, float[] weight)
    {
        int e = _c.EmbeddingLength;
        for (int t = 0; t < n; t++)
            Norms.RmsNorm(_x.AsSpan(t * e, e), weight, _c.RmsEpsilon, _xb.AsSpan(t * e, e));
    }
}

/// <summary>Attention for one block of a <see cref="DecoderBlocks"/> run, over whatever cache the caller keeps.</summary>
internal interface IAttentionStep
{
    /// <summary>
    /// Given the raw projections of <paramref name="tokens"/> rows of block <paramref name="block"/>, prepares them (biases, q/k
    /// norm, RoPE), stores each token's key and value in cache layer <paramref name="cacheLayer"/> (unless <paramref name="ownKv"/>
    /// is false: gemma4's shared blocks only read an earlier block's), and writes the attention output rows to <paramref name="output"/>.
    /// </summary>
    void Attend(int block, int cacheLayer, bool ownKv, LayerWeights weights, float[] q, float[] k, float[] v, int tokens, float[] output);
}
