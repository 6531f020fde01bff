using TokenFactory.Engine;

namespace TokenFactory.Floor.Energy;

/// <summary>
/// No counter to read: configured full-load watts × utilization (the engine's threads over the machine's
/// cores) × time. The engine reads it around its steps, so only time spent computing is charged.
/// Always reported as estimated.
/// </summary>
public sealed class EstimatedEnergyMeter(double fullLoadWatts, double utilization, TimeProvider time) : IEnergyMeter
{
    private readonly long _start = time.GetTimestamp();

    public double Watts => fullLoadWatts * Math.Clamp(utilization, 0, 1);
    public bool IsEstimated => true;
    public string Source => "estimated";

    public double ReadJoules() => Watts * time.GetElapsedTime(_start).TotalSeconds;
}

/// <summary>Several real counters added up (a CPU's RAPL packages and its GPUs).</summary>
public sealed class SumEnergyMeter(IReadOnlyList<IEnergyMeter> meters) : IEnergyMeter, IDisposable
{
    public bool IsEstimated => meters.Any(m => m.IsEstimated);
    public string Source => string.Join('+', meters.Select(m => m.Source));

    public double ReadJoules()
    {
        double sum = 0;
        foreach (var m in meters)
            sum += m.ReadJoules();
        return sum;
    }

    public void Dispose()
    {
        foreach (var m in meters)
            (m as IDisposable)?.Dispose();
    }
}
