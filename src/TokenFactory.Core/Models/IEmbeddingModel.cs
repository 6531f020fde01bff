namespace TokenFactory.Models;

/// <summary>
/// A forward pass that turns token sequences into one pooled vector each (an encoder, or a decoder read at its
/// pooling position). One caller at a time: it owns its buffers. Vectors are returned as pooled, not normalized.
/// </summary>
public interface IEmbeddingModel : IDisposable
{
    /// <summary>Floats per embedding.</summary>
    int Dimensions { get; }

    /// <summary>The longest input, in tokens.</summary>
    int ContextLength { get; }

    /// <summary>Most tokens one <see cref="Encode"/> call takes (the inputs' lengths summed).</summary>
    int MaxBatchTokens { get; }

    /// <summary>Most inputs one <see cref="Encode"/> call takes (a decoder's pass has a sequence slot per input).</summary>
    int MaxBatchInputs { get; }

    PoolingType Pooling { get; }

    /// <summary>Encodes every input in one pass; input i's vector goes to <c>output[i·Dimensions ..]</c>.</summary>
    void Encode(IReadOnlyList<ReadOnlyMemory<int>> inputs, Span<float> output);
}
