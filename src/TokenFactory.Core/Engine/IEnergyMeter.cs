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

/// <summary>How the engines read a meter: a reading that fails (a counter file gone, a driver error) costs that step its energy figure, never the step.</summary>
public static class EnergyReadings
{
    /// <summary>The meter's reading; 0 without a meter; NaN when it failed.</summary>
    public static double Read(IEnergyMeter? meter)
    {
        if (meter is null)
            return 0;
        try
        {
            return meter.ReadJoules();
        }
        catch (Exception)
        {
            return double.NaN; // whatever the meter threw: the step goes on unmetered
        }
    }

    /// <summary>The meter's reading; null without a meter or when it failed (a sample or status then has no energy figure).</summary>
    public static double? TryRead(IEnergyMeter? meter) =>
        meter is not null && Read(meter) is var joules && double.IsFinite(joules) ? joules : null;

    /// <summary>Joules between two readings: 0 when either failed (unknown, not charged) or the counter went back.</summary>
    public static double Between(double before, double after) =>
        double.IsFinite(before) && double.IsFinite(after) ? Math.Max(0, after - before) : 0;
}
