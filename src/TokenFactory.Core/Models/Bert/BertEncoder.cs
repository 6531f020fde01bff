using System.Numerics.Tensors;
using TokenFactory.Compute;

namespace TokenFactory.Models.Bert;

/// <summary>
/// BERT's forward pass over a batch of whole sequences: embeddings (token + type + position, then LayerNorm), and per
/// block bidirectional attention within each sequence, output projection, residual and LayerNorm, GELU feed-forward,
/// residual and LayerNorm; then each sequence is pooled. Every weight is read once per batch (one matrix
/// multiplication for all rows); there is no KV cache, since an encoder sees its whole input at once. Buffers are
/// allocated once for <see cref="MaxBatchTokens"/>; a pass allocates nothing.
/// </summary>
public sealed class BertEncoder : IEmbeddingModel
{
    private readonly BertModel _model;
    private readonly BertConfig _c;
    private readonly ComputePool _pool;
    private readonly bool _ownsPool;
    private readonly MatMul _matmul;
    private readonly float[] _x, _xb, _q, _k, _v, _att, _up;
    private readonly SequenceAttention _attention;

    /// <param name="maxBatchTokens">Most tokens per pass; at least the context length so any one input fits.</param>
    public BertEncoder(BertModel model, int maxBatchTokens = 0, ComputePool? pool = null, int threads = 0)
    {
        _model = model;
        _c = model.Config;
        MaxBatchTokens = Math.Max(maxBatchTokens, _c.ContextLength);
        _ownsPool = pool == null;
        _pool = pool ?? new ComputePool(threads > 0 ? threads : ComputePool.DefaultThreadCount);
        _matmul = new MatMul(_pool);
        int rows = MaxBatchTokens, e = _c.EmbeddingLength;
        _x = new float[rows * e];
        _xb = new float[rows * e];
        _q = new float[rows * e];
        _k = new float[rows * e];
        _v = new float[rows * e];
        _att = new float[rows * e];
        _up = new float[rows * _c.FeedForwardLength];
        _attention = new SequenceAttention(_c.HeadCount, _c.HeadSize, _c.ContextLength, _pool.ThreadCount, MaxBatchTokens);
    }

    public int Dimensions => _c.EmbeddingLength;
    public int ContextLength => _c.ContextLength;
    public int MaxBatchTokens { get; }

    /// <summary>Every input has at least one token, so the token bound is the input bound too.</summary>
    public int MaxBatchInputs => MaxBatchTokens;
    public PoolingType Pooling => _c.Pooling;

    public void Encode(IReadOnlyList<ReadOnlyMemory<int>> inputs, Span<float> output)
    {
        int e = _c.EmbeddingLength, f = _c.FeedForwardLength;
        int n = _attention.Layout(inputs, ContextLength, _model.Config.VocabSize);
        if (n > MaxBatchTokens)
            throw new ArgumentException($"A pass of {n} tokens exceeds the encoder's {MaxBatchTokens}.", nameof(inputs));
        if (output.Length < inputs.Count * e)
            throw new ArgumentException("The output holds fewer vectors than there are inputs.", nameof(output));
        var w = _model.Weights;

        Embed(inputs);
        for (int l = 0; l < _c.BlockCount; l++)
        {
            var layer = w.Layers[l];
            _matmul.MultiplyShared([layer.Query, layer.Key, layer.Value], _x, n, [_q, _k, _v]);
            AddBias(_q, n, layer.QueryBias);
            AddBias(_k, n, layer.KeyBias);
            AddBias(_v, n, layer.ValueBias);
            _attention.Run(_pool, _q, _k, _v, _att);

            _matmul.Multiply(layer.Output, _att, 0, n, _xb, 0);
            AddBias(_xb, n, layer.OutputBias);
            AddAndNormalize(n, layer.AttentionNorm, layer.AttentionNormBias);

            _matmul.Multiply(layer.Up, _x, 0, n, _up, 0);
            AddBias(_up, n, layer.UpBias);
            // Row by row, so each element's lanes (and bits) do not depend on how many rows share the pass.
            for (int t = 0; t < n; t++)
                FusedOps.GeluTanh(_up.AsSpan(t * f, f));
            _matmul.Multiply(layer.Down, _up, 0, n, _xb, 0);
            AddBias(_xb, n, layer.DownBias);
            AddAndNormalize(n, layer.OutputNorm, layer.OutputNormBias);
        }
        Pool(inputs.Count, output);
    }

    private void Embed(IReadOnlyList<ReadOnlyMemory<int>> inputs)
    {
        int e = _c.EmbeddingLength, row = 0;
        var w = _model.Weights;
        Span<float> position = e <= 4096 ? stackalloc float[e] : new float[e];
        foreach (var input in inputs)
        {
            var tokens = input.Span;
            for (int p = 0; p < tokens.Length; p++, row++)
            {
                var x = _xb.AsSpan(row * e, e);
                w.TokenEmbedding.DequantizeRow(tokens[p], x);
                w.PositionEmbedding.DequantizeRow(p, position);
                TensorPrimitives.Add(x, position, x);
                TensorPrimitives.Add(x, w.TokenType, x);
                Norms.LayerNorm(x, w.EmbeddingNorm, w.EmbeddingNormBias, _c.LayerNormEpsilon, _x.AsSpan(row * e, e));
            }
        }
    }

    private static void AddBias(float[] rows, int n, float[] bias)
    {
        int width = bias.Length;
        for (int t = 0; t < n; t++)
        {
            var r = rows.AsSpan(t * width, width);
            TensorPrimitives.Add(r, bias, r);
        }
    }

    /// <summary>x ← LayerNorm(sublayer output in _xb + x): BERT's post-norm residual.</summary>
    private void AddAndNormalize(int n, float[] weight, float[] bias)
    {
        int e = _c.EmbeddingLength;
        for (int t = 0; t < n; t++)
        {
            var sum = _xb.AsSpan(t * e, e);
            var x = _x.AsSpan(t * e, e);
            TensorPrimitives.Add(sum, x, sum);
            Norms.LayerNorm(sum, weight, bias, _c.LayerNormEpsilon, x);
        }
    }

    private void Pool(int sequences, Span<float> output)
    {
        int e = _c.EmbeddingLength;
        for (int s = 0; s < sequences; s++)
        {
            int start = _attention.Start(s), length = _attention.Length(s);
            var destination = output.Slice(s * e, e);
            switch (_c.Pooling)
            {
                case PoolingType.Cls:
                    _x.AsSpan(start * e, e).CopyTo(destination);
                    break;
                case PoolingType.Last:
                    _x.AsSpan((start + length - 1) * e, e).CopyTo(destination);
                    break;
                default:
                    destination.Clear();
                    for (int t = start; t < start + length; t++)
                        TensorPrimitives.Add(destination, _x.AsSpan(t * e, e), destination);
                    TensorPrimitives.Multiply(destination, 1f / length, destination);
                    break;
            }
        }
    }

    public void Dispose()
    {
        if (_ownsPool)
            _pool.Dispose();
    }
}
