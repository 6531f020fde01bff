using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using TokenFactory.Engine;
using TokenFactory.Floor;
using TokenFactory.Server.Contracts;
using TokenFactory.Server.Fleet;

namespace TokenFactory.Server.Generation;

/// <summary><c>usage.tokenfactory</c>: the engine's measured work, for requests of the fleet's router only.</summary>
internal static class EngineWorkUsage
{
    /// <returns>Null unless the fleet's router sent the request: other callers never see it.</returns>
    public static TokenFactoryUsage? For(HttpContext context, IEnumerable<GenerationSummary> finals)
    {
        if (FleetRequest.Of(context) is null)
            return null;
        double queue = 0, firstToken = 0, prefill = 0, decode = 0, joules = 0;
        foreach (var f in finals)
        {
            // Choices wait and start together: the request waited as long as its slowest choice.
            queue = Math.Max(queue, f.QueueTime.TotalSeconds);
            firstToken = Math.Max(firstToken, f.TimeToFirstToken.TotalSeconds);
            prefill += f.Work.PrefillSeconds;
            decode += f.Work.DecodeSeconds;
            joules += f.Work.Joules;
        }
        return new TokenFactoryUsage
        {
            QueueSeconds = queue,
            PrefillSeconds = prefill,
            DecodeSeconds = decode,
            EnergyJoules = joules,
            EnergyEstimated = context.RequestServices.GetRequiredService<FloorService>().EnergyMeter?.IsEstimated ?? false,
            TimeToFirstTokenSeconds = firstToken,
        };
    }
}
