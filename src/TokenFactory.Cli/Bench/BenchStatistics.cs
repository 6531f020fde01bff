namespace TokenFactory.Cli.Bench;

/// <summary>Mean, median and tail percentiles of a metric, in milliseconds.</summary>
public sealed record Distribution(double Mean, double Median, double P90, double P99, double Std, int Count)
{
    public static Distribution Empty { get; } = new(0, 0, 0, 0, 0, 0);

    public static Distribution Of(IEnumerable<double> values)
    {
        var sorted = values.OrderBy(v => v).ToArray();
        if (sorted.Length == 0)
            return Empty;
        double mean = sorted.Average();
        double std = Math.Sqrt(sorted.Sum(v => (v - mean) * (v - mean)) / sorted.Length);
        return new(mean, Percentile(sorted, 50), Percentile(sorted, 90), Percentile(sorted, 99), std, sorted.Length);
    }

    /// <summary>
    /// Median over repetitions of ours ÷ peer within the repetition: the two runs of a repetition are seconds apart, so
    /// a neighbour's burst that slows one repetition of both engines cancels, where it skews a ratio of means.
    /// </summary>
    public static double? PairedMedian(IReadOnlyList<double> ours, IReadOnlyList<double> peer)
    {
        int n = Math.Min(ours.Count, peer.Count);
        if (n == 0)
            return null;
        return Percentile(Enumerable.Range(0, n).Select(i => ours[i] / peer[i]).Order().ToArray(), 50);
    }

    /// <summary>Linear interpolation between closest ranks (numpy's default), on sorted values.</summary>
    public static double Percentile(IReadOnlyList<double> sorted, double p)
    {
        if (sorted.Count == 0)
            return 0;
        double rank = p / 100 * (sorted.Count - 1);
        int lo = (int)Math.Floor(rank), hi = (int)Math.Ceiling(rank);
        return sorted[lo] + (sorted[hi] - sorted[lo]) * (rank - lo);
    }
}

/// <summary>Service-level objectives for goodput: a request counts when it meets every one given.</summary>
public sealed record Slo(double? TtftMs = null, double? TpotMs = null, double? E2eMs = null)
{
    public bool Any => TtftMs != null || TpotMs != null || E2eMs != null;

    /// <summary>Parses <c>ttft:MS tpot:MS e2el:MS</c> pairs (vLLM's --goodput syntax).</summary>
    public static Slo Parse(IEnumerable<string> pairs)
    {
        var slo = new Slo();
        foreach (var pair in pairs)
        {
            var parts = pair.Split(':', 2);
            if (parts.Length != 2 || !double.TryParse(parts[1], System.Globalization.CultureInfo.InvariantCulture, out double ms) || ms <= 0)
                throw new TokenFactoryException($"--goodput expects NAME:MILLISECONDS pairs (ttft, tpot, e2el), not '{pair}'.");
            slo = parts[0].ToLowerInvariant() switch
            {
                "ttft" => slo with { TtftMs = ms },
                "tpot" => slo with { TpotMs = ms },
                "e2el" => slo with { E2eMs = ms },
                _ => throw new TokenFactoryException($"--goodput: unknown metric '{parts[0]}' (ttft, tpot, e2el)."),
            };
        }
        return slo;
    }

    public bool IsMetBy(RequestResult r) =>
        r.Success
        && (TtftMs == null || r.TtftMs <= TtftMs)
        && (TpotMs == null || (r.TpotMs ?? 0) <= TpotMs)
        && (E2eMs == null || r.LatencyMs <= E2eMs);
}

/// <summary>The aggregate figures of a benchmark run, as vLLM's benchmark_serving reports them.</summary>
public sealed record BenchSummary
{
    public required int Completed { get; init; }
    public required int Failed { get; init; }
    public required double DurationSeconds { get; init; }
    public required long TotalInputTokens { get; init; }
    public required long TotalOutputTokens { get; init; }
    public double RequestThroughput => DurationSeconds > 0 ? Completed / DurationSeconds : 0;
    public double OutputThroughput => DurationSeconds > 0 ? TotalOutputTokens / DurationSeconds : 0;
    public double TotalTokenThroughput => DurationSeconds > 0 ? (TotalInputTokens + TotalOutputTokens) / DurationSeconds : 0;
    /// <summary>Requests per second that met every SLO; null when no SLO was given.</summary>
    public double? Goodput { get; init; }
    public required Distribution Ttft { get; init; }
    public required Distribution Tpot { get; init; }
    public required Distribution Itl { get; init; }
    public required Distribution E2el { get; init; }
    public IReadOnlyList<string> Errors { get; init; } = [];

    public static BenchSummary From(IReadOnlyList<RequestResult> results, double durationSeconds, Slo? slo = null)
    {
        var ok = results.Where(r => r.Success).ToList();
        return new BenchSummary
        {
            Completed = ok.Count,
            Failed = results.Count - ok.Count,
            DurationSeconds = durationSeconds,
            TotalInputTokens = ok.Sum(r => (long)r.PromptTokens),
            TotalOutputTokens = ok.Sum(r => (long)r.OutputTokens),
            Goodput = slo is { Any: true } && durationSeconds > 0 ? ok.Count(slo.IsMetBy) / durationSeconds : null,
            Ttft = Distribution.Of(ok.Select(r => r.TtftMs)),
            Tpot = Distribution.Of(ok.Where(r => r.TpotMs != null).Select(r => r.TpotMs!.Value)),
            Itl = Distribution.Of(ok.SelectMany(r => r.InterTokenMs)),
            E2el = Distribution.Of(ok.Select(r => r.LatencyMs)),
            Errors = results.Where(r => !r.Success).Select(r => r.Error ?? "unknown error").Distinct().Take(5).ToList(),
        };
    }
}
