using TokenFactory.Floor.Ledger;

namespace TokenFactory.Server.CommandCenter;

/// <summary>
/// Collects what happens between two samples: ledger lines as they are settled (tokens, cost, energy, latencies,
/// SLO outcomes), refusals and inter-token gaps. <see cref="FactoryMonitor"/> takes the interval once a second.
/// Writers are request threads; one lock, held for a few additions, is cheaper than the HTTP work around each call.
/// </summary>
public sealed class FactoryRecorder
{
    /// <summary>Latency observations kept per interval: beyond it a uniform sample of them (<see cref="Reservoir"/>).</summary>
    public const int MaxObservations = 20_000;

    private readonly Lock _lock = new();
    private FactoryInterval _current = new();

    /// <summary>A request ran and its ledger line was written.</summary>
    public void Settled(UsageRecord record, string priority, ClassTarget? target)
    {
        double? tpot = record.CompletionTokens > 1 && record.DurationSeconds > record.TimeToFirstTokenSeconds
            ? (record.DurationSeconds - record.TimeToFirstTokenSeconds) / (record.CompletionTokens - 1)
            : null;
        bool served = record.Status == 200;
        lock (_lock)
        {
            var i = _current;
            i.Requests++;
            i.PromptTokens += record.PromptTokens;
            i.CompletionTokens += record.CompletionTokens;
            i.InputUsd += record.InputCostUsd;
            i.OutputUsd += record.OutputCostUsd;
            i.EnergyJoules += record.EnergyJoules;
            string replica = record.Replica ?? FactoryReplicaIds.Local;
            i.CompletionByReplica[replica] = i.CompletionByReplica.GetValueOrDefault(replica) + record.CompletionTokens;
            if (served && record.CompletionTokens > 0)
                i.Ttft.Add(record.TimeToFirstTokenSeconds);
            if (served && tpot is { } t)
                i.Tpot.Add(t);
            if (target is not null)
            {
                var slo = i.Slo.TryGetValue(priority, out var s) ? s : i.Slo[priority] = new SloCount();
                slo.Requests++;
                if (served && record.TimeToFirstTokenSeconds <= target.TtftSeconds)
                    slo.MetTtft++;
                if (served && (tpot is not { } p || p <= target.TpotSeconds))
                    slo.MetTpot++;
                if (target.Met(record.Status, record.TimeToFirstTokenSeconds, tpot))
                    slo.Met++;
            }
        }
    }

    /// <summary>A request was refused before it ran (any reason: rate limit, budget, overload, bad input).</summary>
    public void Refused()
    {
        lock (_lock)
            _current.Refusals++;
    }

    /// <summary>The gap between two generated tokens of one choice.</summary>
    public void InterToken(double seconds)
    {
        lock (_lock)
            _current.Itl.Add(seconds);
    }

    /// <summary>Everything since the last call; the next interval starts empty.</summary>
    internal FactoryInterval Take()
    {
        lock (_lock)
        {
            var taken = _current;
            _current = new FactoryInterval();
            return taken;
        }
    }
}

/// <summary>What one interval collected (owned by the monitor once taken).</summary>
internal sealed class FactoryInterval
{
    public long Requests;
    public long Refusals;
    public long PromptTokens;
    public long CompletionTokens;
    public double InputUsd;
    public double OutputUsd;
    public double EnergyJoules;
    public readonly Reservoir Ttft = new(FactoryRecorder.MaxObservations);
    public readonly Reservoir Tpot = new(FactoryRecorder.MaxObservations);
    public readonly Reservoir Itl = new(FactoryRecorder.MaxObservations);
    public readonly Dictionary<string, SloCount> Slo = new(StringComparer.Ordinal);
    public readonly Dictionary<string, long> CompletionByReplica = new(StringComparer.Ordinal);
}

/// <summary>Requests of one class in an interval, and how many met each target (<see cref="Met"/>: both, the goodput).</summary>
public sealed class SloCount
{
    public long Requests { get; set; }
    public long MetTtft { get; set; }
    public long MetTpot { get; set; }
    public long Met { get; set; }

    public void Add(SloCount other)
    {
        Requests += other.Requests;
        MetTtft += other.MetTtft;
        MetTpot += other.MetTpot;
        Met += other.Met;
    }
}
