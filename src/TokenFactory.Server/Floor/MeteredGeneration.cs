using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using TokenFactory.Floor;
using TokenFactory.Server.Api;
using TokenFactory.Server.Generation;
using TokenFactory.Server.Metrics;

namespace TokenFactory.Server.Floor;

/// <summary>
/// An admitted generation, run as the response: starts its choices, lets the work stream or collect them, and
/// however that ends settles the admission once (complete, failed with the mapped status, or 499 when the
/// client left) with the usage the engine reported.
/// </summary>
internal sealed class MeteredGeneration(GenerationWork work, MeteredRequest metered) : IResult
{
    public async Task ExecuteAsync(HttpContext context)
    {
        var services = context.RequestServices;
        var metrics = services.GetRequiredService<ServerMetrics>();
        var time = services.GetRequiredService<TimeProvider>();
        var settlement = new Settlement(metered, work.Id);
        try
        {
            await using var runner = new ChoiceRunner(work.Engine, work.Requests, metrics, time, work.Started, context.RequestAborted, metered, work.ChoicesPerPrompt);
            try
            {
                await work.RespondAsync(context, runner, settlement);
            }
            catch (Exception e)
            {
                settlement.Failed(ErrorMapper.StatusOf(context, e));
                throw;
            }
            finally
            {
                int status = settlement.Status
                    ?? (context.RequestAborted.IsCancellationRequested ? ErrorMapper.ClientClosedRequest : StatusCodes.Status500InternalServerError);
                metered.SettleWhenStopped(runner.Completion, work.Id, status, services.GetRequiredService<FloorService>(),
                    services.GetRequiredService<ILogger<MeteredGeneration>>());
            }
        }
        finally
        {
            metrics.RequestDuration.Observe(time.GetElapsedTime(work.Started).TotalSeconds);
        }
    }
}
