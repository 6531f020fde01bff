namespace TokenFactory.Engine;

/// <summary>
/// A monotonic energy counter the engine reads around each step, so the step's energy can be shared among
/// the sequences in it. Implementations (RAPL, NVML, an estimate from power × utilization) live in
/// TokenFactory.Floor; the engine only needs the reading. Must be cheap (a few microseconds) and thread-safe.
/// </summary>
public interface IEnergyMeter
{
    /// <summary>Joules consumed since an arbitrary origin; never decreases.</summary>
    double ReadJoules();

    /// <summary>False for real counters (RAPL, NVML); true when the figure is computed from configured power.</summary>
    bool IsEstimated { get; }

    /// <summary>What is measured, e.g. <c>rapl</c>, <c>nvml</c>, <c>rapl+nvml</c>, <c>estimated</c>.</summary>
    string Source { get; }
}
