using TokenFactory.Engine;
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
    public static IResult Get(EngineHost host, TokenFactory.Floor.FloorService floor, CommandCenter.IFactorySource source)
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
            Engine = Report(engine, status, floor, source),
        }, OpenAiJson.Default.ReplicaStatus);
    }

    private static ReplicaEngineReport? Report(Engine.IInferenceEngine? engine, Engine.EngineStatus status, TokenFactory.Floor.FloorService floor, CommandCenter.IFactorySource source)
    {
        if (engine is null)
            return null;
        var counters = engine.Counters;
        var model = source.Models().FirstOrDefault();
        return new ReplicaEngineReport
        {
            BusySeconds = counters.BusySeconds,
            Steps = counters.Steps,
            ScheduledSequences = counters.ScheduledSequences,
            PrefixCacheQueryTokens = counters.PrefixCacheQueryTokens,
            PrefixCacheHitTokens = counters.PrefixCacheHitTokens,
            KvBytesPerToken = status.KvBytesPerToken,
            StateBytesPerSequence = status.StateBytesPerSequence,
            Host = Environment.MachineName,
            EnergyJoules = EnergyReadings.TryRead(floor.EnergyMeter), // a failing meter is no reading, not a failed status
            EnergyEstimated = floor.EnergyMeter?.IsEstimated ?? false,
            Architecture = model?.Architecture,
            Quantization = model?.Quantization,
            Parameters = model?.Parameters,
            WeightsBytes = model?.WeightsBytes,
        };
    }
}
