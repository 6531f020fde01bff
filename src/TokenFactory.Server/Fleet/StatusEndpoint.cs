using Microsoft.AspNetCore.Http;
using TokenFactory.Server.Contracts;
using TokenFactory.Server.Hosting;

namespace TokenFactory.Server.Fleet;

/// <summary>
/// GET /internal/status: the replica's model, state and load for the fleet's router, which polls it every 200 ms. Built
/// from counters the engine thread publishes (<see cref="Engine.EngineStatus"/>), so it never waits on a step; behind the
/// internal token when one is configured, open otherwise (like /metrics).
/// </summary>
internal static class StatusEndpoint
{
    public static IResult Get(EngineHost host)
    {
        var state = host.State;
        var engine = host.Engine;
        var status = engine?.Status ?? default;
        return Results.Json(new ReplicaStatus
        {
            Model = host.Source?.Name ?? "",
            State = state switch
            {
                EngineState.Ready => "ready",
                EngineState.Draining => "draining",
                EngineState.Failed => "failed",
                _ => "loading",
            },
            ContextLength = engine?.ContextLength ?? 0,
            KvBlockSize = status.KvBlockSize,
            KvBlocksTotal = status.KvBlocksTotal,
            KvBlocksFree = status.KvBlocksFree,
            Running = status.Running,
            MaxRunning = status.MaxRunning,
            Waiting = status.Waiting,
            WaitingRequests = status.WaitingRequests,
            MaxWaitingRequests = status.MaxWaitingRequests,
            PendingPrefillTokens = status.PendingPrefillTokens,
            PrefillTokensPerSecond = status.PrefillTokensPerSecond,
            DecodeTokensPerSecond = status.DecodeTokensPerSecond,
            PrefixCaching = status.PrefixCaching,
            Draining = state == EngineState.Draining,
        }, OpenAiJson.Default.ReplicaStatus);
    }
}
