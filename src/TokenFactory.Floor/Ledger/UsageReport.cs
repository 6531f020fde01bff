namespace TokenFactory.Floor.Ledger;

public enum UsageGrouping { Key, Team, Model, Day, Replica }

public sealed record UsageQuery(UsageGrouping GroupBy, DateTimeOffset? From = null, DateTimeOffset? To = null, string? TeamId = null, string? KeyId = null);

/// <summary>Ledger totals for one group (a key, team, model or UTC day).</summary>
public sealed record UsageRow
{
    public required string Group { get; init; }
    /// <summary>Requests admitted and run (each one ledger line).</summary>
    public long Requests { get; init; }
    /// <summary>Requests refused before they ran (bad input, rate limit, budget, overload), from the refusal counts.</summary>
    public long Refused { get; init; }
    public long PromptTokens { get; init; }
    public long CachedPromptTokens { get; init; }
    public long CompletionTokens { get; init; }
    public double EnergyJoules { get; init; }
    /// <summary>Some of the energy in this group is an estimate (no RAPL/NVML counter was readable).</summary>
    public bool EnergyEstimated { get; init; }
    public double InputCostUsd { get; init; }
    public double OutputCostUsd { get; init; }

    public double CostUsd => InputCostUsd + OutputCostUsd;
    public double JoulesPerToken => PromptTokens + CompletionTokens > 0 ? EnergyJoules / (PromptTokens + CompletionTokens) : 0;
    public double UsdPerMillionInputTokens => PromptTokens > 0 ? InputCostUsd / PromptTokens * 1e6 : 0;
    public double UsdPerMillionOutputTokens => CompletionTokens > 0 ? OutputCostUsd / CompletionTokens * 1e6 : 0;
}
