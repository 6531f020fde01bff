using Microsoft.AspNetCore.Http;
using TokenFactory.Engine;
using TokenFactory.Server.Floor;
using TokenFactory.Server.Generation;
using TokenFactory.Server.Metrics;

namespace TokenFactory.Server.Api;

/// <summary>The run shared by the completion endpoints once a request is admitted.</summary>
internal static class MeteredResponse
{
    /// <summary>
    /// Starts the choices and hands them to <paramref name="respond"/> (stream, or collect, settle and write). However
    /// that ends, the floor's record is settled once the engine has stopped every choice (a failure or a client that
    /// left included; a response that settled itself is left as it is) and the request's duration is observed.
    /// </summary>
    public static async Task RunAsync(HttpContext context, IInferenceEngine engine, IReadOnlyList<GenerationRequest> requests, ServerMetrics metrics,
        TimeProvider time, long started, MeteredRequest metered, int choicesPerPrompt, string responseId, Func<ChoiceRunner, Task> respond)
    {
        try
        {
            await using var runner = new ChoiceRunner(engine, requests, metrics, time, started, context.RequestAborted, metered, choicesPerPrompt);
            try
            {
                await respond(runner);
            }
            catch (Exception e) when (FloorStatus.Failed(context, e))
            {
                throw; // never reached: the filter only records the status
            }
            finally
            {
                metered.SettleWhenStopped(runner.Completion, responseId, FloorStatus.Of(context), FloorStatus.Floor(context), FloorStatus.Logger(context));
            }
        }
        finally
        {
            metrics.RequestDuration.Observe(time.GetElapsedTime(started).TotalSeconds);
        }
    }
}
