namespace TokenFactory.Planning;

/// <summary>
/// One device the planner can deploy on (a GPU, or a CPU server measured by <c>plan calibrate</c>), as the hardware
/// catalog describes it, with the efficiency factors that turn its peak figures into what an engine reaches.
/// </summary>
public sealed record HardwareProfile
{
    public required string Id { get; init; }
    public required string Name { get; init; }
    public required double MemoryGb { get; init; }
    public required double MemoryBandwidthTbps { get; init; }
    /// <summary>Dense peak TFLOPS by compute class (bf16, fp8, fp4).</summary>
    public required IReadOnlyDictionary<string, double> PeakTflops { get; init; }

    /// <summary>Peak figures of one rate for 8- and 16-bit weights: a CPU's, measured or fitted, which has no separate FP8 rate.</summary>
    public static IReadOnlyDictionary<string, double> OneRate(double tflops) => new Dictionary<string, double> { ["bf16"] = tflops, ["fp8"] = tflops };
    /// <summary>Devices in one fast interconnect domain (NVLink, Infinity Fabric): tensor parallelism stays within it.</summary>
    public int Domain { get; init; } = 1;
    /// <summary>Per-device interconnect bandwidth in that domain, GB/s.</summary>
    public double LinkGbps { get; init; }
    public double TdpWatts { get; init; }
    /// <summary>The device's share of its server's (or rack's) power at load: CPUs, memory, NICs, fans (not the facility: that is PUE).</summary>
    public double AllInWatts { get; init; }
    public double UsdPerHour { get; init; }
    public int DevicesPerRack { get; init; } = 8;
    /// <summary>Fraction of peak FLOPS large multiplications reach (BF16 and FP8 GEMMs).</summary>
    public double ComputeEfficiency { get; init; } = 0.6;
    /// <summary>
    /// Fraction of the FP4 peak reached: lower than at 8 or 16 bits, since a step's other work (attention, norms, the
    /// quantization of activations) does not run at the 4-bit rate.
    /// </summary>
    public double Fp4Efficiency { get; init; } = 0.35;
    /// <summary>
    /// The rate attention's FLOPs run at, TFLOPS, where it is measured apart from the weight multiplications (a CPU's
    /// paged attention is much slower per FLOP than its matrix kernels); null: derived from the peak figures.
    /// </summary>
    public double? AttentionTflops { get; init; }

    /// <summary>
    /// Where attention runs as its own phase after the weight multiplications (a CPU engine: <c>plan calibrate</c> fits it), the
    /// rate, in cached elements per second, at which it reads a sequence's keys and values into the working precision: once per
    /// decoding token and per block of 16 prompt tokens, per KV head. Its cost grows with the cache's width (KV heads × head
    /// size) rather than with the FLOPs (query heads), so a model with wider KV heads per query head pays more than its FLOPs
    /// say. Null: attention's work is part of the step's one roofline (GPUs).
    /// </summary>
    public double? CacheReadElementsPerSecond { get; init; }

    /// <summary>
    /// Where a step's per-token work outside the weight multiplications is measured apart (a CPU engine: <c>plan calibrate</c>
    /// fits it), the rate in elements per second at which it goes: norms, RoPE, activations and quantizing each product's
    /// input row, <see cref="ModelProfile.ActivationElementsPerToken"/> per token. It is a larger share of a step for a narrow
    /// model than for a wide one (fewer FLOPs per element), which one compute rate fitted on one shape cannot say. Null:
    /// part of the compute rate (GPUs, and CPU profiles that fit one rate).
    /// </summary>
    public double? ElementsPerSecond { get; init; }

    /// <summary>
    /// Where the engine's products were probed by the rows they multiply (a CPU: <c>plan calibrate</c>), their rate at a step's
    /// rows, in place of the peak figures (see <see cref="Planning.ProductRates"/>). Null: <see cref="EffectiveFlops"/> for any rows.
    /// </summary>
    public ProductRates? ProductRates { get; init; }

    /// <summary>Relative efficiency of expert GEMMs (many small grouped multiplications) against dense ones.</summary>
    public double MoeEfficiency { get; init; } = 0.5;
    /// <summary>Fraction of peak bandwidth a step's weight and cache reads reach.</summary>
    public double MemoryEfficiency { get; init; } = 0.8;
    /// <summary>Fixed time per engine step (kernel launches, scheduling, sampling), milliseconds.</summary>
    public double StepOverheadMs { get; init; } = 0.5;
    /// <summary>
    /// Fixed time per engine step and per block of the model, milliseconds, on top of <see cref="StepOverheadMs"/>: a CPU
    /// engine's per-operation costs (each product and norm of a block starts and ends with the compute threads meeting), which
    /// grow with the model's depth rather than its bytes. <c>plan calibrate</c> fits this one instead of a fixed step cost.
    /// </summary>
    public double LayerOverheadMs { get; init; }
    /// <summary>
    /// CPU profiles: the share of the smaller of a step's multiplications and its weight reads that does not overlap the larger
    /// (0: they overlap perfectly, the roofline's max). On a CPU the same cores stream the weights and compute with them, so a
    /// batch where both are about equal takes longer than either: 8 sequences decoding measured 12.3 ms a step where the
    /// roofline gave 9.6.
    /// </summary>
    public double UnoverlappedShare { get; init; }
    /// <summary>Fraction of link bandwidth all-reduces reach, and their latency per call (microseconds).</summary>
    public double LinkEfficiency { get; init; } = 0.7;
    public double LinkLatencyUs { get; init; } = 8;
    public string? Source { get; init; }
    public bool Announced { get; init; }

    /// <summary>The FLOPS a step's weight multiplications reach at <paramref name="precision"/>: peak × the format's efficiency.</summary>
    public double EffectiveFlops(Precision precision) =>
        PeakFlops(precision) * (precision == Precision.FP4 && PeakTflops.ContainsKey("fp4") ? Fp4Efficiency : ComputeEfficiency);

    public double PeakFlops(Precision precision)
    {
        string wanted = precision.ComputeClass();
        // A device without the format's own rate runs it at the next wider one it has (FP4 on H100 at FP8, FP8 on a CPU at BF16).
        foreach (string c in wanted switch { "fp4" => new[] { "fp4", "fp8", "bf16" }, "fp8" => ["fp8", "bf16"], _ => ["bf16"] })
        {
            if (PeakTflops.TryGetValue(c, out double tflops) && tflops > 0)
                return tflops * 1e12;
        }
        throw new TokenFactoryException($"{Id} has no peak figure for {precision} in the catalog.");
    }

    public double MemoryBytes => MemoryGb * 1e9;
    public double BandwidthBytesPerSecond => MemoryBandwidthTbps * 1e12;
}
