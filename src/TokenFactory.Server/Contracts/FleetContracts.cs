using System.Text.Json.Serialization;

namespace TokenFactory.Server.Contracts;

/// <summary>GET /internal/status: what a fleet's router reads, every 200 ms, to place requests on this replica.</summary>
public sealed class ReplicaStatus
{
    /// <summary>The served model's id (as in /v1/models).</summary>
    public required string Model { get; init; }
    /// <summary><c>loading</c>, <c>ready</c>, <c>draining</c> or <c>failed</c>.</summary>
    public required string State { get; init; }
    public required int ContextLength { get; init; }
    public required int KvBlockSize { get; init; }
    public required int KvBlocksTotal { get; init; }
    public required int KvBlocksFree { get; init; }
    public required int Running { get; init; }
    public required int MaxRunning { get; init; }
    /// <summary>Sequences waiting (to start, or to be recomputed after preemption).</summary>
    public required int Waiting { get; init; }
    /// <summary>Requests in the wait queue (a request's choices count once) and its capacity.</summary>
    public required int WaitingRequests { get; init; }
    public required int MaxWaitingRequests { get; init; }
    public required long PendingPrefillTokens { get; init; }
    public required double PrefillTokensPerSecond { get; init; }
    public required double DecodeTokensPerSecond { get; init; }
    public required bool PrefixCaching { get; init; }
    public required bool Draining { get; init; }
    /// <summary>For the router's command center: cumulative engine counters and the model's shape, read with the rest.</summary>
    public ReplicaEngineReport? Engine { get; init; }
}

/// <summary>What a replica's engine has done since it started, and what its model is (the command center's per-replica figures).</summary>
public sealed class ReplicaEngineReport
{
    public double BusySeconds { get; init; }
    public long Steps { get; init; }
    public long ScheduledSequences { get; init; }
    public long PrefixCacheQueryTokens { get; init; }
    public long PrefixCacheHitTokens { get; init; }
    public long KvBytesPerToken { get; init; }
    public long StateBytesPerSequence { get; init; }
    /// <summary>The machine it runs on: replicas on one machine read one machine's power meter, which counts once.</summary>
    public string? Host { get; init; }
    /// <summary>The replica's energy meter, cumulative joules; null without one.</summary>
    public double? EnergyJoules { get; init; }
    public bool EnergyEstimated { get; init; }
    public string? Architecture { get; init; }
    public string? Quantization { get; init; }
    public long? Parameters { get; init; }
    public long? WeightsBytes { get; init; }
}

/// <summary>
/// The engine's measured work for one request, in <c>usage.tokenfactory</c> of requests from the fleet's router only,
/// so the router's ledger records what this replica measured. Seconds and joules are summed over the choices; queue time
/// and time to first token are the longest of any choice.
/// </summary>
public sealed class TokenFactoryUsage
{
    public required double QueueSeconds { get; init; }
    public required double PrefillSeconds { get; init; }
    public required double DecodeSeconds { get; init; }
    public required double EnergyJoules { get; init; }
    /// <summary>The energy is an estimate (configured watts × utilization), not a meter reading.</summary>
    public required bool EnergyEstimated { get; init; }
    public required double TimeToFirstTokenSeconds { get; init; }
}
