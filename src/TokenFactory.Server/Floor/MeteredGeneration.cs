using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using TokenFactory.Engine;
using TokenFactory.Floor;
using TokenFactory.Floor.Identity;
using TokenFactory.Server.Api;
using TokenFactory.Server.Generation;
using TokenFactory.Server.Telemetry;

namespace TokenFactory.Server.Floor;

/// <summary>
/// An admitted generation, run as the response: starts its choices, lets the work stream or collect them, and
/// however that ends settles the admission once (complete, failed with the mapped status, or 499 when the
/// client left) with the usage the engine reported. A request of the fleet's router has no admission here: it is
/// run and measured the same way, and settled by the router.
/// </summary>
internal sealed class MeteredGeneration(GenerationWork work, MeteredRequest metered, string tenant, PriorityClass priority) : IResult
{
    public async Task ExecuteAsync(HttpContext context)
    {
        var services = context.RequestServices;
        var metrics = services.GetRequiredService<ServerMetrics>();
        var time = services.GetRequiredService<TimeProvider>();
        var floor = services.GetRequiredService<FloorService>();
        var settlement = new Settlement(metered, work.Id);
        try
        {
            ChoiceRunner runner;
            try
            {
                runner = new ChoiceRunner(work.Engine, work.Requests, tenant, metrics, services.GetRequiredService<ServerActivities>(), time, work.Started,
                    context.RequestAborted, metered, work.ChoicesPerPrompt, priority, paced: work.Streams);
            }
            catch (Exception e)
            {
                // The engine refused the group as one unit, so none of it runs: a full queue, a request only the engine
                // can judge (a logit_bias id outside the vocabulary), an engine being disposed. The client gets that
                // error (a 400, a 503) and the admission is withdrawn: no ledger line, nothing reserved or taken.
                await WithdrawAsync(context, floor, metrics, e);
                throw;
            }
            await using (runner)
            {
                bool withdrawn = false;
                try
                {
                    await work.RespondAsync(context, runner, settlement);
                    if (settlement.Error is EngineOverloadedException displaced && metered.NothingRan)
                    {
                        // Displaced before any of it ran, after a keep-alive had sent the headers: the stream ended with the
                        // error event; for the floor it is a refusal, as it would have been before the headers.
                        withdrawn = true;
                        await WithdrawAsync(context, floor, metrics, displaced);
                    }
                }
                catch (EngineOverloadedException e) when (metered.NothingRan)
                {
                    // Displaced from the engine's queue by another caller's request before any of it ran.
                    withdrawn = true;
                    await WithdrawAsync(context, floor, metrics, e);
                    throw;
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
                    if (context.Response.HasStarted)
                        Telemetry.MetricsMiddleware.EndedWith(context, status);
                    if (!withdrawn)
                        metered.SettleWhenStopped(runner.Completion, work.Id, status, floor, services.GetRequiredService<ILogger<MeteredGeneration>>());
                }
            }
        }
        finally
        {
            metrics.RecordRequestDuration(time.GetElapsedTime(work.Started));
        }
    }

    /// <summary>The engine refused it after the floor admitted it: no ledger line, the reservation released, a refusal counted.</summary>
    private async Task WithdrawAsync(HttpContext context, FloorService floor, ServerMetrics metrics, Exception e)
    {
        if (metered.Admission is not { } admission)
        {
            FloorFilter.RecordRefusal(floor, metrics, Caller.Internal, work.Model, context.GetEndpoint()?.Metadata.GetMetadata<GenerationEndpoint>()?.Name ?? "",
                ErrorMapper.StatusOf(context, e), e);
            return;
        }
        await metered.WithdrawAsync(work.Id, context.RequestServices.GetRequiredService<ILogger<MeteredGeneration>>());
        FloorFilter.RecordRefusal(floor, metrics, admission.Caller, admission.Model, admission.Endpoint, ErrorMapper.StatusOf(context, e), e);
    }
}
