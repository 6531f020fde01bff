using System.Text.Json.Serialization;

namespace TokenFactory.Server.CommandCenter;

/// <summary>GET /v1/factory/now, and each event of /v1/factory/stream (docs/command-center.md).</summary>
public sealed record FactoryNow
{
    public string Object { get; init; } = "factory.now";
    public required string Mode { get; init; }
    public required string Role { get; init; }
    public double Time { get; init; }
    public FactorySample? Sample { get; init; }
    public required FactoryTotals Totals { get; init; }
    public required FactoryPower Power { get; init; }
    public required IReadOnlyList<FactoryClass> Classes { get; init; }
    public required IReadOnlyList<FactoryReplicaView> Replicas { get; init; }
    public required IReadOnlyList<FactoryModel> Models { get; init; }
}

public sealed record FactoryPower(string Source, bool Estimated);

public sealed record FactoryClass(string Name, double TtftTargetS, double TpotTargetS);

public sealed record FactoryReplicaView
{
    public required string Id { get; init; }
    public required string Name { get; init; }
    public string? Url { get; init; }
    public bool Healthy { get; init; }
    public required string State { get; init; }
    public required IReadOnlyList<string> Models { get; init; }
    public int Running { get; init; }
    public int Waiting { get; init; }
    public long KvUsedTokens { get; init; }
    public long KvCapacityTokens { get; init; }
    public double OutputTps { get; init; }
}

/// <summary>GET /v1/factory/history.</summary>
public sealed record FactoryHistory(int WindowS, IReadOnlyList<FactorySample> Samples)
{
    public string Object { get; init; } = "factory.history";
}

/// <summary>GET /v1/factory/teams: the ledger's view of the current day or month.</summary>
public sealed record FactoryTeams
{
    public string Object { get; init; } = "factory.teams";
    public required string Period { get; init; }
    public double From { get; init; }
    public double To { get; init; }
    public required IReadOnlyList<FactorySpender> Teams { get; init; }
    public required IReadOnlyList<FactorySpender> Keys { get; init; }
    public required IReadOnlyList<FactoryBudget> Budgets { get; init; }
    public required IReadOnlyList<FactoryRefusals> Refusals { get; init; }
}

public sealed record FactorySpender
{
    public required string Id { get; init; }
    public string? Name { get; init; }
    public string? TeamId { get; init; }
    public long Requests { get; init; }
    public long Refused { get; init; }
    public long PromptTokens { get; init; }
    public long CompletionTokens { get; init; }
    public double Usd { get; init; }
}

public sealed record FactoryBudget
{
    public required string Id { get; init; }
    public required string Scope { get; init; }
    public required string ScopeId { get; init; }
    public required string Period { get; init; }
    public required string Unit { get; init; }
    public double Hard { get; init; }
    public double? Soft { get; init; }
    public double Spent { get; init; }
    public double Reserved { get; init; }
    public double WindowStart { get; init; }
    public required string State { get; init; }
}

public sealed record FactoryRefusals(string Reason, int Status, long Count);

/// <summary>POST /dashboard/session.</summary>
public sealed record DashboardSignIn
{
    public string? Key { get; init; }
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower, NumberHandling = JsonNumberHandling.Strict)]
[JsonSerializable(typeof(FactoryNow))]
[JsonSerializable(typeof(FactoryHistory))]
[JsonSerializable(typeof(FactoryTeams))]
[JsonSerializable(typeof(DashboardSignIn))]
public sealed partial class FactoryJson : JsonSerializerContext;
