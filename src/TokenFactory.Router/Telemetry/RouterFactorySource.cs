using TokenFactory.Engine;
using TokenFactory.Router.Admission;
using TokenFactory.Router.Replicas;
using TokenFactory.Server.CommandCenter;

namespace TokenFactory.Router.Telemetry;

/// <summary>
/// The fleet as the command center sees it: each replica's health (YARP's view, plus draining), its last reported
/// load and engine counters, and what it serves. Everything is read from what the status poller already holds, so a
/// sample never waits on the network; a third-party replica (no status endpoint) shows health and models only.
/// </summary>
internal sealed class RouterFactorySource(ReplicaSet replicas, Dispatcher dispatcher) : IFactorySource
{
    public string Mode => "route";

    public int Queued => dispatcher.Queued;

    public IReadOnlyList<FactoryReplica> Replicas() => [.. replicas.All.Select(r =>
    {
        var status = r.Status;
        var engine = status?.Engine;
        bool up = replicas.IsAvailable(r) && !r.IsDraining;
        long blockSize = status?.KvBlockSize ?? 0;
        return new FactoryReplica
        {
            Id = r.Name,
            Name = r.Name,
            Url = r.Url.ToString(),
            Healthy = up,
            State = !replicas.IsAvailable(r) ? "down" : status?.State ?? (r.ReportsStatus ? "unknown" : "ready"),
            Models = [.. r.Models.Order(StringComparer.Ordinal)],
            Running = status?.Running ?? r.InFlightSequences,
            Waiting = status?.Waiting ?? 0,
            KvUsedTokens = status is null ? 0 : (status.KvBlocksTotal - status.KvBlocksFree) * blockSize,
            KvCapacityTokens = status is null ? 0 : status.KvBlocksTotal * blockSize,
            KvBytesPerToken = engine?.KvBytesPerToken ?? 0,
            StateBytesPerSequence = engine?.StateBytesPerSequence ?? 0,
            Counters = engine is null ? null : new EngineCounters
            {
                BusySeconds = engine.BusySeconds,
                Steps = engine.Steps,
                ScheduledSequences = engine.ScheduledSequences,
                PrefixCacheQueryTokens = engine.PrefixCacheQueryTokens,
                PrefixCacheHitTokens = engine.PrefixCacheHitTokens,
            },
            Host = engine?.Host,
            EnergyJoules = engine?.EnergyJoules,
            EnergyEstimated = engine?.EnergyEstimated ?? false,
        };
    })];

    public IReadOnlyList<FactoryModel> Models() => [.. replicas.All.SelectMany(r => r.Models.Order(StringComparer.Ordinal).Select(model =>
    {
        var status = r.Status;
        var engine = status?.Engine;
        bool described = status is not null && string.Equals(status.Model, model, StringComparison.OrdinalIgnoreCase);
        return new FactoryModel
        {
            Id = model,
            Replica = r.Name,
            Architecture = described ? engine?.Architecture : null,
            Quantization = described ? engine?.Quantization : null,
            Parameters = described ? engine?.Parameters : null,
            ContextLength = described && status!.ContextLength > 0 ? status.ContextLength : null,
            WeightsBytes = described ? engine?.WeightsBytes : null,
            KvBytesPerToken = described ? engine?.KvBytesPerToken : null,
            RecurrentStateBytes = described ? engine?.StateBytesPerSequence : null,
        };
    }))];
}
