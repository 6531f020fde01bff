namespace TokenFactory.Server.Metrics;

/// <summary>A Prometheus histogram: fixed upper bounds, cumulative on output.</summary>
public sealed class Histogram(string name, string help, double[] bounds)
{
    private readonly Lock _lock = new();
    private readonly long[] _counts = new long[bounds.Length + 1];
    private double _sum;
    private long _count;

    public string Name { get; } = name;
    public string Help { get; } = help;
    public IReadOnlyList<double> Bounds { get; } = bounds;

    public void Observe(double value)
    {
        int bucket = 0;
        while (bucket < bounds.Length && value > bounds[bucket])
            bucket++;
        lock (_lock)
        {
            _counts[bucket]++;
            _sum += value;
            _count++;
        }
    }

    public (long[] Cumulative, double Sum, long Count) Snapshot()
    {
        lock (_lock)
        {
            var cumulative = new long[_counts.Length];
            long running = 0;
            for (int i = 0; i < _counts.Length; i++)
                cumulative[i] = running += _counts[i];
            return (cumulative, _sum, _count);
        }
    }
}
