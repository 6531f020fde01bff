using System.Numerics.Tensors;
using TokenFactory.Compute;
using TokenFactory.Kv;

namespace TokenFactory.Models;

/// <summary>
/// Embeddings from a decoder (Qwen3-Embedding and other <c>{arch}.pooling_type</c> decoders, or any decoder given a
/// pooling): the prompt runs through the model causally, as a prefill does, and the final-normed hidden state of the
/// pooled positions is read instead of logits. Inputs of a pass share steps of up to <see cref="StepTokens"/> tokens; their
/// keys and values live in a private paged cache for the pass only, sized for <see cref="MaxBatchTokens"/>.
/// </summary>
public sealed class DecoderEmbedder : IEmbeddingModel
{
    private const int StepTokens = 512;
    private readonly TransformerModel _model;
    private readonly KvBlockPool _cache;
    private readonly BatchForward _forward;
    private readonly StepBatch _batch;
    private readonly float[] _rows;
    private readonly List<int>[] _tables;
    private readonly int[] _inputOf; // per sequence of the step: which input it is

    /// <param name="contextLength">The longest input (and the most tokens per pass).</param>
    public DecoderEmbedder(TransformerModel model, PoolingType pooling, int contextLength, int threads = 0)
    {
        if (model.Config.HasRecurrentState)
            throw new TokenFactoryException($"{model.Architecture}: embeddings from hybrid (Mamba) models are not supported.");
        if (pooling is PoolingType.None or PoolingType.Rank)
            throw new TokenFactoryException($"Pooling '{pooling.Name()}' gives no single embedding per input; use mean, cls or last.");
        _model = model;
        Pooling = pooling;
        ContextLength = MaxBatchTokens = contextLength;
        int blockSize = KvBlockPool.DefaultBlockSize;
        int sequences = Math.Min(MaxBatchTokens, 256);
        // Every input's last block may be partly empty: one spare block per sequence.
        _cache = new KvBlockPool(model.Config.BlockCount, model.Config.KvDimension, MaxBatchTokens / blockSize + sequences + 1, blockSize);
        int step = Math.Min(StepTokens, MaxBatchTokens);
        _forward = new BatchForward(model, _cache, contextLength, step, maxLogitRows: 1, threads: threads);
        _batch = new StepBatch(step, sequences);
        _rows = new float[step * model.Config.EmbeddingLength];
        _tables = new List<int>[sequences];
        for (int i = 0; i < sequences; i++)
            _tables[i] = [];
        _inputOf = new int[sequences];
    }

    public int Dimensions => _model.Config.EmbeddingLength;
    public int ContextLength { get; }
    public int MaxBatchTokens { get; }
    public int MaxBatchInputs => _tables.Length;
    public PoolingType Pooling { get; }

    public void Encode(IReadOnlyList<ReadOnlyMemory<int>> inputs, Span<float> output)
    {
        int e = Dimensions;
        if (inputs.Count > _tables.Length)
            throw new ArgumentException($"{inputs.Count} inputs exceed the pass's {_tables.Length}.", nameof(inputs));
        long total = 0;
        foreach (var input in inputs)
        {
            if (input.Length == 0 || input.Length > ContextLength)
                throw new ArgumentException($"An input holds 1 to {ContextLength} tokens, not {input.Length}.", nameof(inputs));
            total += input.Length;
        }
        if (total > MaxBatchTokens)
            throw new ArgumentException($"A pass of {total} tokens exceeds the embedder's {MaxBatchTokens}.", nameof(inputs));
        output[..(inputs.Count * e)].Clear();
        try
        {
            for (int s = 0; s < inputs.Count; s++)
            {
                var table = _tables[s];
                for (int b = 0; b < (inputs[s].Length + _cache.BlockSize - 1) / _cache.BlockSize; b++)
                    table.Add(_cache.Allocate());
            }
            RunSteps(inputs, output);
        }
        finally
        {
            for (int s = 0; s < inputs.Count; s++)
            {
                foreach (int block in _tables[s])
                    _cache.Release(block);
                _tables[s].Clear();
            }
        }
        if (Pooling == PoolingType.Mean)
        {
            for (int s = 0; s < inputs.Count; s++)
                TensorPrimitives.Multiply(output.Slice(s * e, e), 1f / inputs[s].Length, output.Slice(s * e, e));
        }
    }

    /// <summary>Runs every input's tokens in steps of at most the forward pass's size, pooling the wanted rows as they come.</summary>
    private void RunSteps(IReadOnlyList<ReadOnlyMemory<int>> inputs, Span<float> output)
    {
        int e = Dimensions, s = 0, position = 0;
        while (s < inputs.Count)
        {
            _batch.Clear();
            while (s < inputs.Count && _batch.TokenCount < _batch.MaxTokens)
            {
                var tokens = inputs[s].Span;
                int sequence = _batch.AddSequence(_tables[s]);
                _inputOf[sequence] = s;
                for (; position < tokens.Length && _batch.TokenCount < _batch.MaxTokens; position++)
                    _batch.AddToken(sequence, tokens[position], position, Wanted(position, tokens.Length));
                if (position < tokens.Length)
                    break; // the rest of this input starts the next step
                s++;
                position = 0;
            }
            _forward.RunHidden(_batch, _rows);
            for (int r = 0; r < _batch.LogitRowCount; r++)
            {
                int input = _inputOf[_batch.TokenSequence[_batch.LogitRows[r]]];
                var into = output.Slice(input * e, e);
                TensorPrimitives.Add(into, _rows.AsSpan(r * e, e), into);
            }
        }
    }

    private bool Wanted(int position, int length) => Pooling switch
    {
        PoolingType.Cls => position == 0,
        PoolingType.Last => position == length - 1,
        _ => true,
    };

    public void Dispose() => _forward.Dispose();
}
