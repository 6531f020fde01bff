namespace TokenFactory.Planning;

/// <summary>One replica's setup: a model at a precision on <see cref="TensorParallel"/> devices of one kind.</summary>
public sealed record Deployment(ModelProfile Model, HardwareProfile Hardware, Precision Precision, int TensorParallel = 1)
{
    /// <summary>Bytes per cached key/value element: FP8 caches with FP8/FP4 weights (as TensorRT-LLM and vLLM run them), else 16-bit.</summary>
    public double KvBytesPerElement { get; init; } = Precision is Precision.FP8 or Precision.FP4 ? 1 : 2;

    /// <summary>Fraction of device memory the engine may use (the rest: activations, runtime, fragmentation).</summary>
    public double MemoryUtilization { get; init; } = 0.9;

    public double WeightBytes => Model.TotalParameters * Precision.BytesPerWeight();

    /// <summary>Tokens of KV cache the replica holds after its weights (negative: the weights do not fit).</summary>
    public double KvCapacityTokens
    {
        get
        {
            double free = TensorParallel * Hardware.MemoryBytes * MemoryUtilization - WeightBytes;
            return free / Math.Max(1e-9, Model.KvBytes(1, KvBytesPerElement));
        }
    }

    /// <summary>Sequences the replica can hold at <paramref name="tokensPerSequence"/>, recurrent state included.</summary>
    public int MaxSequences(double tokensPerSequence)
    {
        double free = TensorParallel * Hardware.MemoryBytes * MemoryUtilization - WeightBytes;
        double perSequence = Model.KvBytes(tokensPerSequence, KvBytesPerElement) + Model.RecurrentStateBytes;
        return free <= 0 ? 0 : (int)Math.Min(int.MaxValue / 2, Math.Floor(free / perSequence));
    }

    public bool Fits => TensorParallel * Hardware.MemoryBytes * MemoryUtilization > WeightBytes * 1.02;
}
