using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using TokenFactory.Engine;
using TokenFactory.Engine.Embeddings;
using TokenFactory.Floor;
using TokenFactory.Floor.Identity;
using TokenFactory.Server.Api;
using TokenFactory.Server.Telemetry;

namespace TokenFactory.Server.Floor;

/// <summary>
/// An admitted embedding request, run as the response: its inputs go to the embedding engine; a completed request is
/// settled with its tokens before the response is written, a failed one (or one whose client left, or whose line the
/// ledger refused) is settled with its status, and one the engine's full queue refused is withdrawn (no ledger line) and
/// counted as a refusal.
/// </summary>
internal sealed class MeteredEmbedding(IEmbeddingEngine engine, IReadOnlyList<int[]> inputs, MeteredRequest metered, IMeteredWork work,
    Func<HttpContext, EmbeddingResult, Task> respond) : IResult
{
    public async Task ExecuteAsync(HttpContext context)
    {
        var services = context.RequestServices;
        var metrics = services.GetRequiredService<ServerMetrics>();
        var floor = services.GetRequiredService<FloorService>();
        EmbeddingResult result;
        try
        {
            result = await engine.EmbedAsync(inputs, context.RequestAborted);
        }
        catch (EngineOverloadedException e)
        {
            if (metered.Admission is { } admission)
            {
                await metered.WithdrawAsync(work.Id, services.GetRequiredService<ILogger<MeteredEmbedding>>());
                FloorFilter.RecordRefusal(floor, metrics, admission.Caller, admission.Model, admission.Endpoint, ErrorMapper.StatusOf(context, e), e);
            }
            else
                FloorFilter.RecordRefusal(floor, metrics, Caller.Internal, work.Model, "/v1/embeddings", ErrorMapper.StatusOf(context, e), e);
            throw;
        }
        catch (Exception e)
        {
            if (e is EmbeddingCancelledException partial)
                metered.OnEmbedded(partial.Tokens, partial.Work, partial.QueueTime); // the passes that finished ran: charged
            Settle(context, floor, services, ErrorMapper.StatusOf(context, e));
            throw;
        }
        metered.OnEmbedded(result.Tokens, result.Work, result.QueueTime);
        metrics.RecordEmbeddings(inputs.Count, result.Tokens);
        try
        {
            await metered.SettleAsync(work.Id, 200);
        }
        catch (Exception e)
        {
            // The ledger refused the line: the client gets 503 ledger_unavailable, and the line follows at that
            // status (retried in the background) with the reservation's release.
            Settle(context, floor, services, ErrorMapper.StatusOf(context, e));
            throw;
        }
        await respond(context, result);
    }

    private void Settle(HttpContext context, FloorService floor, IServiceProvider services, int status) =>
        metered.SettleWhenStopped(Task.CompletedTask, work.Id, status, floor, services.GetRequiredService<ILogger<MeteredEmbedding>>());
}
