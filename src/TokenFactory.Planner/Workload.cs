namespace TokenFactory.Planning;

/// <summary>
/// Requests to simulate: input and output lengths (means, spread uniformly ±<see cref="Spread"/> around them), and
/// how they arrive — all at once at a fixed concurrency (offline, closed loop) or as a Poisson process at a rate (server).
/// </summary>
public sealed record Workload
{
    public required int InputTokens { get; init; }
    public required int OutputTokens { get; init; }
    /// <summary>Relative half-width of the uniform spread of lengths (0: every request the same).</summary>
    public double Spread { get; init; }
    /// <summary>Closed loop: this many requests in flight (offline scenario).</summary>
    public int Concurrency { get; init; }
    /// <summary>Open loop: Poisson arrivals per second (server scenario); used when positive.</summary>
    public double ArrivalRate { get; init; }
    public int Requests { get; init; } = 256;
    public int Seed { get; init; } = 1;
    /// <summary>
    /// Open loop from a trace: each request's arrival, seconds from the start (a measured or generated trace, so a prediction and a
    /// measurement see the same arrivals); overrides <see cref="ArrivalRate"/> and <see cref="Requests"/> when set.
    /// </summary>
    public IReadOnlyList<double>? Arrivals { get; init; }

    /// <summary>
    /// Each request's input and output tokens from a dataset (request i takes entry i modulo the count); overrides the means and
    /// <see cref="Spread"/> when set.
    /// </summary>
    public IReadOnlyList<RequestLength>? Lengths { get; init; }

    /// <summary>
    /// Priority classes, highest first: each request belongs to class c with probability <c>ClassShares[c]</c> (drawn with the seed).
    /// Waiting requests are admitted and their prompts computed class by class, as the engine's scheduler orders them; null: one class.
    /// </summary>
    public IReadOnlyList<double>? ClassShares { get; init; }

    /// <summary>Whether requests arrive on their own (Poisson or a trace) rather than as a closed loop of clients.</summary>
    public bool OpenLoop => ArrivalRate > 0 || Arrivals != null;

    /// <summary>Poisson arrival times for <paramref name="count"/> requests at <paramref name="rate"/> per second, from <paramref name="seed"/>.</summary>
    public static double[] PoissonArrivals(double rate, int count, int seed)
    {
        var random = new Random(seed);
        var arrivals = new double[count];
        double t = 0;
        for (int i = 0; i < count; i++)
            arrivals[i] = t += -Math.Log(1 - random.NextDouble()) / rate;
        return arrivals;
    }
}

/// <summary>One request's prompt and output lengths, in tokens.</summary>
public readonly record struct RequestLength(int Input, int Output);

/// <summary>What a simulated run gives: output throughput, per-request latencies, how busy the replica was.</summary>
public sealed record SimulationResult
{
    public required double OutputTokensPerSecond { get; init; }
    public required double InputTokensPerSecond { get; init; }
    public required double TtftMean { get; init; }
    public required double TtftP50 { get; init; }
    public required double TtftP99 { get; init; }
    public required double TpotP50 { get; init; }
    public required double TpotP99 { get; init; }
    public required double TpotMean { get; init; }
    /// <summary>Fraction of the simulated time a step was running.</summary>
    public required double Utilization { get; init; }
    /// <summary>Fraction of busy time spent on prompt tokens (their share of a step, by token count).</summary>
    public required double PrefillShare { get; init; }
    public required double MeanBatch { get; init; }
    public required long Steps { get; init; }
    public required double Seconds { get; init; }
    /// <summary>Per priority class, in the workload's order (empty without classes).</summary>
    public IReadOnlyList<ClassLatency> Classes { get; init; } = [];
}

/// <summary>One priority class's share of a simulated run: its requests' latency percentiles (seconds) and output tokens/s.</summary>
public sealed record ClassLatency(int Requests, double TtftP50, double TtftP99, double TpotP50, double TpotP99, double OutputTokensPerSecond);
