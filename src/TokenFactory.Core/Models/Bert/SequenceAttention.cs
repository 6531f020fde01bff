using System.Numerics.Tensors;
using TokenFactory.Compute;

namespace TokenFactory.Models.Bert;

/// <summary>
/// Bidirectional (unmasked) attention within each sequence of a batch laid out row after row: every token attends to
/// every token of its own sequence and to none of the others. Work is split across the pool by (sequence, head) pairs;
/// each thread keeps its own score row.
/// </summary>
internal sealed class SequenceAttention : IParallelWork
{
    private readonly int _heads, _headSize, _width;
    private readonly float _scale;
    private readonly float[][] _scores;
    private readonly int[] _starts, _lengths;
    private int _sequences;
    private float[] _q = [], _k = [], _v = [], _out = [];

    public SequenceAttention(int heads, int headSize, int contextLength, int threads, int maxTokens)
    {
        _heads = heads;
        _headSize = headSize;
        _width = heads * headSize;
        _scale = 1f / MathF.Sqrt(headSize);
        _scores = new float[threads][];
        for (int i = 0; i < threads; i++)
            _scores[i] = new float[contextLength];
        _starts = new int[maxTokens];
        _lengths = new int[maxTokens];
    }

    public int Start(int sequence) => _starts[sequence];

    public int Length(int sequence) => _lengths[sequence];

    /// <summary>Records where each input's rows sit and checks each input; returns the rows in all.</summary>
    /// <exception cref="ArgumentException">An input is empty, longer than the context, or holds a token outside the vocabulary.</exception>
    public int Layout(IReadOnlyList<ReadOnlyMemory<int>> inputs, int contextLength, int vocabSize)
    {
        if (inputs.Count > _starts.Length)
            throw new ArgumentException($"{inputs.Count} inputs exceed the pass's {_starts.Length}.", nameof(inputs));
        int rows = 0;
        for (int s = 0; s < inputs.Count; s++)
        {
            var tokens = inputs[s].Span;
            if (tokens.Length == 0 || tokens.Length > contextLength)
                throw new ArgumentException($"Input {s} has {tokens.Length} tokens; an input holds 1 to {contextLength}.", nameof(inputs));
            foreach (int token in tokens)
            {
                if ((uint)token >= (uint)vocabSize)
                    throw new ArgumentException($"Input {s} holds token {token}, outside the vocabulary of {vocabSize}.", nameof(inputs));
            }
            _starts[s] = rows;
            _lengths[s] = tokens.Length;
            rows += tokens.Length;
        }
        _sequences = inputs.Count;
        return rows;
    }

    public void Run(ComputePool pool, float[] q, float[] k, float[] v, float[] output)
    {
        (_q, _k, _v, _out) = (q, k, v, output);
        pool.Run(this);
        (_q, _k, _v, _out) = ([], [], [], []);
    }

    public void Execute(int thread, int threadCount)
    {
        var scores = _scores[thread];
        for (int item = thread; item < _sequences * _heads; item += threadCount)
        {
            int s = item / _heads, h = item % _heads, start = _starts[s], length = _lengths[s];
            var row = scores.AsSpan(0, length);
            for (int i = start; i < start + length; i++)
            {
                var qi = _q.AsSpan(i * _width + h * _headSize, _headSize);
                for (int j = 0; j < length; j++)
                    row[j] = TensorPrimitives.Dot(qi, _k.AsSpan((start + j) * _width + h * _headSize, _headSize)) * _scale;
                float max = TensorPrimitives.Max(row);
                TensorPrimitives.Subtract(row, max, row);
                TensorPrimitives.Exp(row, row);
                TensorPrimitives.Multiply(row, 1f / TensorPrimitives.Sum(row), row);
                var oi = _out.AsSpan(i * _width + h * _headSize, _headSize);
                oi.Clear();
                for (int j = 0; j < length; j++)
                    TensorPrimitives.MultiplyAdd(_v.AsSpan((start + j) * _width + h * _headSize, _headSize), row[j], oi, oi);
            }
        }
    }
}
