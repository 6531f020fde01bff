namespace TokenFactory.Server.Fleet;

/// <summary>The paths a fleet's router and an orchestrator (Kubernetes probes, Compose health checks) use on a replica.</summary>
public static class ReplicaEndpoints
{
    /// <summary>200 when ready; 503 while loading or draining; 500 when the model failed to load. Open without the internal token.</summary>
    public const string Health = "/health";

    /// <summary>The replica's model, state and load as JSON (<see cref="Contracts.ReplicaStatus"/>), for the router's placement.</summary>
    public const string Status = "/internal/status";
}
