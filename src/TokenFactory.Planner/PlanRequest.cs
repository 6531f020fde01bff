namespace TokenFactory.Planning;

/// <summary>A question for the planner: a model at a precision, a demand and its latency targets, a site; one or all hardware kinds.</summary>
public sealed record PlanRequest
{
    public required ModelProfile Model { get; init; }
    public required IReadOnlyList<HardwareProfile> Hardware { get; init; }
    public required Precision Precision { get; init; }
    public required int InputTokens { get; init; }
    public required int OutputTokens { get; init; }
    /// <summary>Stops the simulations (a client of the HTTP endpoint that left); none on the command line.</summary>
    public CancellationToken Cancellation { get; init; }
    /// <summary>Relative spread of lengths around the means (uniform ±).</summary>
    public double Spread { get; init; } = 0.25;
    /// <summary>Per-request lengths from a dataset (then <see cref="InputTokens"/> and <see cref="OutputTokens"/> are their means).</summary>
    public IReadOnlyList<RequestLength>? Lengths { get; init; }
    /// <summary>offline (throughput at the best batch meeting the targets) or server (Poisson arrivals at the demand).</summary>
    public string Scenario { get; init; } = "server";
    /// <summary>p99 time to first token target, ms (null: none).</summary>
    public double? TtftP99Ms { get; init; }
    /// <summary>p99 time per output token target, ms (null: none).</summary>
    public double? TpotP99Ms { get; init; }
    /// <summary>Median time to first token target, ms (null: none).</summary>
    public double? TtftP50Ms { get; init; }
    /// <summary>Median time per output token target, ms (null: none).</summary>
    public double? TpotP50Ms { get; init; }
    /// <summary>Demand: output tokens per day for the whole deployment (null: size for <see cref="Devices"/> or one replica).</summary>
    public double? OutputTokensPerDay { get; init; }
    /// <summary>A fixed number of devices to report the throughput of (instead of sizing for a demand).</summary>
    public int? Devices { get; init; }
    /// <summary>Fixed tensor-parallel degree (null: the best that fits).</summary>
    public int? TensorParallel { get; init; }
    /// <summary>Fixed expert-parallel degree, a mixture's attention groups per replica (null: the best that fits; 1: none).</summary>
    public int? ExpertParallel { get; init; }
    public Site Site { get; init; } = new();
    public int? MaxBatchTokens { get; init; }
    /// <summary>
    /// Priority classes, highest first, each with its share of the requests and its own targets (which replace the request-wide
    /// ones); the engine admits and prefills them in this order. Empty: one class with the request-wide targets.
    /// </summary>
    public IReadOnlyList<PlanClass> Classes { get; init; } = [];
}

/// <summary>A priority class of a planned workload: its name, share of the requests and latency targets (ms, null: none).</summary>
public sealed record PlanClass(string Name, double Share)
{
    public double? TtftP99Ms { get; init; }
    public double? TpotP99Ms { get; init; }
    public double? TtftP50Ms { get; init; }
    public double? TpotP50Ms { get; init; }
}

/// <summary>Where the fleet runs: facility overhead, energy price, a power cap, how full replicas are run.</summary>
public sealed record Site
{
    public double Pue { get; init; } = 1.2;
    public double UsdPerKwh { get; init; } = 0.08;
    /// <summary>Site power cap, MW (null: none).</summary>
    public double? PowerCapMw { get; init; }
    /// <summary>Fraction of a replica's capacity the demand may use (headroom for bursts).</summary>
    public double Utilization { get; init; } = 0.7;
}

/// <summary>The token-budget form: people × salary × the share of it spent on tokens, at a price per million tokens.</summary>
public sealed record TokenBudget(double People, double SalaryUsd, double ShareOnTokens, double UsdPerMillionTokens)
{
    public double UsdPerYear => People * SalaryUsd * ShareOnTokens;

    public double TokensPerDay => UsdPerYear / 365 / UsdPerMillionTokens * 1e6;
}
