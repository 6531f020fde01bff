using TokenFactory.Engine;

namespace TokenFactory.Floor.Energy;

public static class EnergyMeters
{
    /// <summary>
    /// The meter <see cref="EnergyOptions.Meter"/> asks for. <c>auto</c> sums whatever real counters are
    /// readable and falls back to the estimate; asking for a specific counter that is not there is an error.
    /// </summary>
    /// <param name="engineThreads">Compute threads the engine uses (0: all cores), for the estimate's utilization.</param>
    public static IEnergyMeter? Create(EnergyOptions options, int engineThreads, TimeProvider time)
    {
        string kind = options.Meter.Trim().ToLowerInvariant();
        int cores = Environment.ProcessorCount;
        double utilization = engineThreads <= 0 ? 1 : Math.Min(1, (double)engineThreads / cores);
        IEnergyMeter Estimate() => new EstimatedEnergyMeter(options.EstimatedWatts, utilization, time);
        switch (kind)
        {
            case "none":
                return null;
            case "estimated":
                return Estimate();
            case "rapl":
                return RaplEnergyMeter.TryOpen(options.PowercapRoot)
                    ?? throw new TokenFactoryException($"No readable RAPL counter under {options.PowercapRoot} (energy_uj is often root-only); use Meter=auto or estimated.");
            case "nvml":
                return NvmlEnergyMeter.TryOpen() ?? throw new TokenFactoryException("NVML (libnvidia-ml.so.1) is not available or reports no GPU energy.");
            case "auto":
                var real = new List<IEnergyMeter>();
                if (RaplEnergyMeter.TryOpen(options.PowercapRoot) is { } rapl)
                    real.Add(rapl);
                if (NvmlEnergyMeter.TryOpen() is { } nvml)
                    real.Add(nvml);
                return real.Count switch { 0 => Estimate(), 1 => real[0], _ => new SumEnergyMeter(real) };
            default:
                throw new TokenFactoryException($"Unknown energy meter '{options.Meter}': use auto, rapl, nvml, estimated or none.");
        }
    }
}
