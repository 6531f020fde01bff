namespace TokenFactory.Server.CommandCenter;

/// <summary>
/// The factory over one interval (a second, or a minute rolled up from seconds): rates per second, gauges as read at
/// its end (a minute: their mean), latency percentiles of the requests that finished in it. docs/command-center.md
/// names the metric or ledger query behind each field.
/// </summary>
public sealed record FactorySample
{
    /// <summary>End of the interval, Unix seconds.</summary>
    public double T { get; init; }
    public int SpanS { get; init; }
    /// <summary>Counts in the interval (the rates divide them by the interval's measured length).</summary>
    public long Requests { get; init; }
    public long Refusals { get; init; }
    public long PromptTokens { get; init; }
    public long CompletionTokens { get; init; }
    public double InputTps { get; init; }
    public double OutputTps { get; init; }
    public double RequestsPs { get; init; }
    public double RefusalsPs { get; init; }
    public double Running { get; init; }
    public double Waiting { get; init; }
    /// <summary>Requests waiting at a router for a replica (0 for a single server).</summary>
    public double Queued { get; init; }
    public double KvUsedTokens { get; init; }
    public double KvCapacityTokens { get; init; }
    public double KvUsage { get; init; }
    public double KvBytes { get; init; }
    public double StateBytes { get; init; }
    public double BatchMean { get; init; }
    public double PrefixHitRate { get; init; }
    public double Utilization { get; init; }
    public double? PowerW { get; init; }
    public bool PowerEstimated { get; init; }
    public double JoulesPerToken { get; init; }
    public double UsdPerMInput { get; init; }
    public double UsdPerMOutput { get; init; }
    public Percentiles? Ttft { get; init; }
    public Percentiles? Tpot { get; init; }
    public Percentiles? Itl { get; init; }
    public Dictionary<string, SloCount> Slo { get; init; } = [];
    public Dictionary<string, ReplicaSample> Replicas { get; init; } = [];
}

public sealed record Percentiles(double P50, double P90, double P99)
{
    /// <summary>Nearest-rank percentiles; null for no observations. Sorts <paramref name="values"/> in place.</summary>
    public static Percentiles? Of(List<double> values)
    {
        if (values.Count == 0)
            return null;
        values.Sort();
        return new Percentiles(Rank(values, 0.50), Rank(values, 0.90), Rank(values, 0.99));
    }

    private static double Rank(List<double> sorted, double q) => sorted[Math.Clamp((int)Math.Ceiling(q * sorted.Count) - 1, 0, sorted.Count - 1)];
}

public sealed record ReplicaSample
{
    public bool Healthy { get; init; }
    public double OutputTps { get; init; }
    public double Running { get; init; }
    public double Waiting { get; init; }
    /// <summary>Busy fraction of its engine over the interval; null where the replica does not report it.</summary>
    public double? Utilization { get; init; }
}
