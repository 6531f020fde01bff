using System.Text.Json;
using System.Text.Json.Serialization;
using TokenFactory.Server.Contracts;

namespace TokenFactory.Router.Api;

/// <summary>GET /admin/fleet: the routing policy, what waits at the router, and every replica as the router sees it.</summary>
public sealed class FleetBody
{
    public required string Policy { get; init; }
    public int QueuedRequests { get; init; }
    public required List<FleetReplicaBody> Replicas { get; init; }
}

public sealed class FleetReplicaBody
{
    public required string Name { get; init; }
    public required string Url { get; init; }
    public bool Available { get; init; }
    public required string ActiveHealth { get; init; }
    public required string PassiveHealth { get; init; }
    public required List<string> Models { get; init; }
    public bool ReportsStatus { get; init; }
    public string? State { get; init; }
    public int? Running { get; init; }
    public int? Waiting { get; init; }
    public int InFlightSequences { get; init; }
    public long QueuedPrefillTokens { get; init; }
    public double? PrefillTokensPerSecond { get; init; }
    public int CachedBlocksBelieved { get; init; }
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(FleetBody))]
public sealed partial class FleetJson : JsonSerializerContext;

/// <summary>The one field the router reads of an inspection request: which model's replica answers it.</summary>
public sealed class InspectionModel : IRequestBody
{
    public string? Model { get; set; }

    /// <summary>The rest is the replica's to read: nothing is refused here.</summary>
    [JsonExtensionData]
    public Dictionary<string, JsonElement>? Rest { get; set; }

    Dictionary<string, JsonElement>? IRequestBody.Unrecognized => null;
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
[JsonSerializable(typeof(InspectionModel))]
internal sealed partial class InspectionJson : JsonSerializerContext;
