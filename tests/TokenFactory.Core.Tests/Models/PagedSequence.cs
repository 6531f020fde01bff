using TokenFactory.Kv;
using TokenFactory.Models;

namespace TokenFactory.Tests.Models;

/// <summary>
/// One sequence through <see cref="BatchForward"/> over the paged KV cache — the forward pass every engine step runs —
/// with every logits row in reach: the parity and bit-exactness tests compare logits, which the engine only samples
/// from. Prompts run in chunks of <c>chunk</c> tokens (a step's token budget), each token at its position in the
/// sequence's block table.
/// </summary>
internal sealed class PagedSequence : IDisposable, ILogitsConsumer
{
    private readonly KvBlockPool _pool;
    private readonly RecurrentState? _states;
    private readonly StepBatch _batch;
    private readonly BatchForward _forward;
    private readonly List<int> _blocks = [];
    private readonly int _vocab;
    private readonly int _chunk;
    private int _slot = -1;
    private float[]? _allLogits;
    private int _chunkFirst, _chunkTokens;

    public PagedSequence(TransformerModel model, int contextLength, int chunk = 64, int threads = 2)
    {
        var c = model.Config;
        ContextLength = Math.Min(contextLength, c.ContextLength);
        _chunk = chunk;
        _vocab = model.VocabSize;
        _pool = new KvBlockPool(Math.Max(1, c.CacheLayerCount), c.KvDimension, (ContextLength + KvBlockPool.DefaultBlockSize - 1) / KvBlockPool.DefaultBlockSize);
        _states = c.HasRecurrentState ? new RecurrentState(c.Ssm!, c.RecurrentLayerCount, 1) : null;
        _batch = new StepBatch(chunk, 1);
        _forward = new BatchForward(model, _pool, ContextLength, chunk, chunk, threads: threads, states: _states);
        Logits = new float[_vocab];
        Reset();
    }

    public int ContextLength { get; }

    /// <summary>Positions evaluated so far.</summary>
    public int Position { get; private set; }

    /// <summary>Logits after the last token evaluated.</summary>
    public float[] Logits { get; }

    /// <summary>Empties the cache (blocks back to the pool) and the recurrent state.</summary>
    public void Reset()
    {
        foreach (int b in _blocks)
            _pool.Release(b);
        _blocks.Clear();
        if (_states != null)
        {
            if (_slot >= 0)
                _states.Release(_slot);
            _slot = _states.Allocate();
        }
        Position = 0;
    }

    /// <summary>
    /// Evaluates <paramref name="tokens"/> at the next positions; <see cref="Logits"/> then holds the last token's, and
    /// <paramref name="allLogits"/>, if given, every token's (tokens × vocabulary).
    /// </summary>
    public void Evaluate(ReadOnlySpan<int> tokens, float[]? allLogits = null)
    {
        if (Position + tokens.Length > ContextLength)
            throw new InvalidOperationException($"{Position + tokens.Length} positions exceed the context of {ContextLength}.");
        _allLogits = allLogits;
        for (int done = 0; done < tokens.Length; done += _chunk)
        {
            int n = Math.Min(_chunk, tokens.Length - done);
            while (_blocks.Count * _pool.BlockSize < Position + n)
                _blocks.Add(_pool.Allocate());
            _batch.Clear();
            int sequence = _batch.AddSequence(_blocks, _slot);
            for (int t = 0; t < n; t++)
                _batch.AddToken(sequence, tokens[done + t], Position + t, wantLogits: allLogits != null || t == n - 1);
            _chunkFirst = done;
            _chunkTokens = n;
            _forward.Run(_batch, this);
            Position += n;
        }
        _allLogits = null;
    }

    void ILogitsConsumer.Consume(int firstRow, int count, float[] logits)
    {
        for (int r = 0; r < count; r++)
        {
            int token = _batch.LogitRows[firstRow + r];
            var row = logits.AsSpan(r * _vocab, _vocab);
            if (_allLogits != null)
                row.CopyTo(_allLogits.AsSpan((_chunkFirst + token) * _vocab, _vocab));
            if (token == _chunkTokens - 1)
                row.CopyTo(Logits);
        }
    }

    public void Dispose() => _forward.Dispose();
}
