namespace TokenFactory.Planning;

/// <summary>
/// One replica's setup: a model at a precision on devices of one kind, <see cref="TensorParallel"/> × <see cref="ExpertParallel"/>
/// of them. With expert parallelism (a mixture only) the replica runs <see cref="ExpertParallel"/> attention groups of
/// <see cref="TensorParallel"/> devices, each with its own copy of the dense weights and its share of the sequences, and
/// spreads the routed experts over all its devices; tokens travel to their experts' devices and back (all-to-all) in every
/// mixture layer. Without it (1) the replica is one tensor-parallel group holding everything.
/// </summary>
public sealed record Deployment(ModelProfile Model, HardwareProfile Hardware, Precision Precision, int TensorParallel = 1, int ExpertParallel = 1)
{
    /// <summary>Bytes per cached key/value element: FP8 caches with FP8/FP4 weights (as TensorRT-LLM and vLLM run them), else 16-bit.</summary>
    public double KvBytesPerElement { get; init; } = Precision is Precision.FP8 or Precision.FP4 ? 1 : 2;

    /// <summary>Fraction of device memory the engine may use (the rest: activations, runtime, fragmentation).</summary>
    public double MemoryUtilization { get; init; } = 0.9;

    /// <summary>Devices of one replica.</summary>
    public int Devices => TensorParallel * ExpertParallel;

    /// <summary>Weights the replica holds: the dense part once per attention group, the routed experts once.</summary>
    public double WeightBytes => (Model.TotalParameters + (ExpertParallel - 1) * (Model.TotalParameters - Model.RoutedExpertParameters)) * Precision.BytesPerWeight();

    private double FreeBytes => Devices * Hardware.MemoryBytes * MemoryUtilization - WeightBytes;

    /// <summary>Tokens of KV cache the replica holds after its weights (negative: the weights do not fit).</summary>
    public double KvCapacityTokens => FreeBytes / Math.Max(1e-9, Model.KvBytes(1, KvBytesPerElement));

    /// <summary>Sequences the replica can hold at <paramref name="tokensPerSequence"/>, recurrent state included.</summary>
    public int MaxSequences(double tokensPerSequence)
    {
        double free = FreeBytes;
        double perSequence = Model.KvBytes(tokensPerSequence, KvBytesPerElement) + Model.RecurrentStateBytes;
        return free <= 0 ? 0 : (int)Math.Min(int.MaxValue / 2, Math.Floor(free / perSequence));
    }

    public bool Fits => Devices * Hardware.MemoryBytes * MemoryUtilization > WeightBytes * 1.02;
}
