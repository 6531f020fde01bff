using System.Text.Json.Serialization;

namespace TokenFactory.Router.Replicas;

/// <summary>What a TokenFactory replica reports at <c>GET /internal/status</c> (docs/server.md): its load and its measured speed.</summary>
public sealed class ReplicaStatus
{
    public string? Model { get; set; }
    /// <summary><c>loading</c>, <c>ready</c>, <c>draining</c> or <c>failed</c>.</summary>
    public string? State { get; set; }
    public int ContextLength { get; set; }
    public int KvBlockSize { get; set; }
    public long KvBlocksTotal { get; set; }
    public long KvBlocksFree { get; set; }
    public int Running { get; set; }
    public int MaxRunning { get; set; }
    public int Waiting { get; set; }
    public int WaitingRequests { get; set; }
    public int MaxWaitingRequests { get; set; }
    public long PendingPrefillTokens { get; set; }
    public double PrefillTokensPerSecond { get; set; }
    public double DecodeTokensPerSecond { get; set; }
    public bool PrefixCaching { get; set; }
    public bool Draining { get; set; }
    /// <summary>A TokenFactory replica's engine counters and model shape (the command center's per-replica figures).</summary>
    public Server.Contracts.ReplicaEngineReport? Engine { get; set; }
}

/// <summary>An OpenAI <c>GET /v1/models</c> answer, as much of it as the router reads (third-party replicas).</summary>
public sealed class UpstreamModelList
{
    public List<UpstreamModel>? Data { get; set; }
}

public sealed class UpstreamModel
{
    public string? Id { get; set; }
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(ReplicaStatus))]
[JsonSerializable(typeof(UpstreamModelList))]
internal sealed partial class RouterJson : JsonSerializerContext;
