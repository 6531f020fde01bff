using System.Collections.Concurrent;
using TokenFactory.Floor.Ledger;

namespace TokenFactory.Floor;

/// <summary>Since-start sums of what this process settled, for /metrics (the ledger holds the durable truth).</summary>
public sealed class FloorTotals
{
    private readonly Lock _lock = new();
    private readonly ConcurrentDictionary<string, double> _teamSpend = new();

    public double EnergyJoules { get; private set; }
    public long PromptTokens { get; private set; }
    public long CompletionTokens { get; private set; }
    public double InputUsd { get; private set; }
    public double OutputUsd { get; private set; }

    public IReadOnlyDictionary<string, double> TeamSpendUsd => _teamSpend;

    public void Add(UsageRecord r)
    {
        lock (_lock)
        {
            EnergyJoules += r.EnergyJoules;
            PromptTokens += r.PromptTokens;
            CompletionTokens += r.CompletionTokens;
            InputUsd += r.InputCostUsd;
            OutputUsd += r.OutputCostUsd;
        }
        _teamSpend.AddOrUpdate(r.TeamId ?? "", r.CostUsd, (_, v) => v + r.CostUsd);
    }

    public double JoulesPerToken { get { lock (_lock) return PromptTokens + CompletionTokens > 0 ? EnergyJoules / (PromptTokens + CompletionTokens) : 0; } }
    public double UsdPerMillionInputTokens { get { lock (_lock) return PromptTokens > 0 ? InputUsd / PromptTokens * 1e6 : 0; } }
    public double UsdPerMillionOutputTokens { get { lock (_lock) return CompletionTokens > 0 ? OutputUsd / CompletionTokens * 1e6 : 0; } }
}
