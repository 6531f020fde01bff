using System.Text.Json.Serialization;

namespace TokenFactory.Planning;

/// <summary>The best configuration found on one kind of hardware, sized for the demand.</summary>
public sealed record PlanOption
{
    public required string Hardware { get; init; }
    public required string HardwareName { get; init; }
    public required bool Feasible { get; init; }
    public string? Why { get; init; }
    public int TensorParallel { get; init; }
    /// <summary>Attention groups per replica, over whose devices the routed experts are spread (1: no expert parallelism; 0 with <see cref="TensorParallel"/> 0: no configuration).</summary>
    public int ExpertParallel { get; init; }
    public int Replicas { get; init; }
    public int Devices { get; init; }
    public double Racks { get; init; }
    /// <summary>Sequences in flight per replica at the chosen point.</summary>
    public int Concurrency { get; init; }
    public double TokensPerSecond { get; init; }
    public double TokensPerSecondPerDevice { get; init; }
    public double TokensPerSecondPerUser { get; init; }
    public double TtftP50Ms { get; init; }
    public double TtftP99Ms { get; init; }
    public double TpotP50Ms { get; init; }
    public double TpotP99Ms { get; init; }
    public double PowerKw { get; init; }
    public double Megawatts => PowerKw / 1000;
    public double TokensPerSecondPerMegawatt { get; init; }
    public double JoulesPerToken { get; init; }
    public double UsdPerHour { get; init; }
    public double UsdPerMillionOutputTokens { get; init; }
    /// <summary>What the energy of a million output tokens costs at the site's price (PUE included): part of the hourly price, reported apart.</summary>
    public double EnergyUsdPerMillionOutputTokens { get; init; }
    public double UsdPerMillionInputTokens { get; init; }
    public double Utilization { get; init; }
    public IReadOnlyList<FrontierPoint> Frontier { get; init; } = [];
    /// <summary>Per priority class at the chosen point (empty without classes).</summary>
    public IReadOnlyList<ClassOutcome> Classes { get; init; } = [];
}

/// <summary>
/// A priority class at the chosen operating point: its latencies, its share of the output, whether its targets hold, and how
/// many simulated requests its percentiles come from.
/// </summary>
public sealed record ClassOutcome(string Name, double Share, double TtftP50Ms, double TtftP99Ms, double TpotP50Ms, double TpotP99Ms, double OutputTokensPerSecond, bool Met,
    int SimulatedRequests);

/// <summary>One point of the throughput-vs-interactivity curve: a batch size, what each user sees and what each device gives.</summary>
public sealed record FrontierPoint(int TensorParallel, int Concurrency, double TokensPerSecondPerUser, double TokensPerSecondPerDevice, double TtftP99Ms, double TpotP99Ms,
    double TtftP50Ms = 0, double TpotP50Ms = 0)
{
    /// <summary>Expert-parallel degree of the replica (its devices are <see cref="TensorParallel"/> × this).</summary>
    public int ExpertParallel { get; init; } = 1;

    [JsonIgnore]
    public double Interactivity => TokensPerSecondPerUser;
}

public sealed record PlanResult
{
    public required string Model { get; init; }
    public required string Precision { get; init; }
    public required int InputTokens { get; init; }
    public required int OutputTokens { get; init; }
    public required string Scenario { get; init; }
    public double? OutputTokensPerDay { get; init; }
    public required IReadOnlyList<PlanOption> Options { get; init; }
}
