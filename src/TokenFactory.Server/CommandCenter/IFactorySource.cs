namespace TokenFactory.Server.CommandCenter;

/// <summary>
/// What serves the factory's requests, read once a second by the command center: the local engine for
/// <c>serve</c>, the replicas behind <c>route</c>. Reads must not wait on an engine step or the network.
/// </summary>
public interface IFactorySource
{
    /// <summary><c>serve</c> or <c>route</c>.</summary>
    string Mode { get; }

    /// <summary>The replicas (one, "local", for a single server) as of now.</summary>
    IReadOnlyList<FactoryReplica> Replicas();

    /// <summary>What each replica serves.</summary>
    IReadOnlyList<FactoryModel> Models();

    /// <summary>Requests waiting at a router for a replica (0 for a single server).</summary>
    int Queued { get; }
}

/// <summary>One replica as the page shows it. Engine counters are cumulative (null where the replica does not report them).</summary>
public sealed record FactoryReplica
{
    public required string Id { get; init; }
    public required string Name { get; init; }
    public string? Url { get; init; }
    public bool Healthy { get; init; }
    /// <summary><c>ready</c>, <c>loading</c>, <c>draining</c>, <c>failed</c> or <c>down</c>.</summary>
    public required string State { get; init; }
    public IReadOnlyList<string> Models { get; init; } = [];
    public int Running { get; init; }
    public int Waiting { get; init; }
    public long KvUsedTokens { get; init; }
    public long KvCapacityTokens { get; init; }
    public long KvBytesPerToken { get; init; }
    public long StateBytesPerSequence { get; init; }
    /// <summary>Cumulative engine counters of a local engine, for rates (batch size, prefix hits, utilization).</summary>
    public Engine.EngineCounters? Counters { get; init; }
    /// <summary>The machine it runs on (null when unknown): one machine's power is counted once, however many replicas share it.</summary>
    public string? Host { get; init; }
    /// <summary>The replica's own energy meter, cumulative (a router's replicas report it; null when unknown).</summary>
    public double? EnergyJoules { get; init; }
    public bool EnergyEstimated { get; init; }
}

public static class FactoryReplicaIds
{
    /// <summary>The one replica of a single server (its ledger lines name no replica).</summary>
    public const string Local = "local";
}

public sealed record FactoryModel
{
    public required string Id { get; init; }
    public required string Replica { get; init; }
    public string? Architecture { get; init; }
    public string? Quantization { get; init; }
    public long? Parameters { get; init; }
    public int? ContextLength { get; init; }
    public long? WeightsBytes { get; init; }
    public long? KvBytesPerToken { get; init; }
    public long? RecurrentStateBytes { get; init; }
}
