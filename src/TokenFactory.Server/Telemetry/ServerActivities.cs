using System.Diagnostics;
using TokenFactory.Engine;

namespace TokenFactory.Server.Telemetry;

/// <summary>
/// Request spans on the <c>TokenFactory</c> activity source, children of ASP.NET Core's request span:
/// <c>tokenfactory.admission</c> (the floor: authenticate was before it, rate limits and budgets here), one
/// <c>tokenfactory.generation</c> per choice with <c>tokenfactory.queue</c>, <c>tokenfactory.prefill</c> and
/// <c>tokenfactory.decode</c> inside it (timed by the engine, which alone sees them), and
/// <c>tokenfactory.settle</c> (the ledger write). Exported over OTLP when OTEL_EXPORTER_OTLP_ENDPOINT is set;
/// nothing is recorded when nobody listens.
/// </summary>
public sealed class ServerActivities : IDisposable
{
    public const string SourceName = "TokenFactory";

    internal ServerActivities() =>
        Source = new ActivitySource(SourceName, typeof(ServerActivities).Assembly.GetName().Version?.ToString());

    public ActivitySource Source { get; }

    public Activity? StartAdmission(string endpoint, string model, long promptTokens, long maxCompletionTokens)
    {
        var activity = Source.StartActivity("tokenfactory.admission");
        activity?.SetTag("tokenfactory.endpoint", endpoint);
        activity?.SetTag("gen_ai.request.model", model);
        activity?.SetTag("tokenfactory.prompt_tokens", promptTokens);
        activity?.SetTag("tokenfactory.max_completion_tokens", maxCompletionTokens);
        return activity;
    }

    /// <param name="submitted">When the choice was handed to the engine, which times its phases from then.</param>
    public Activity? StartGeneration(int choice, DateTime submitted)
    {
        var activity = Source.StartActivity("tokenfactory.generation", ActivityKind.Internal, parentContext: default, startTime: submitted);
        activity?.SetTag("tokenfactory.choice", choice);
        return activity;
    }

    /// <summary>
    /// Ends a choice's span with its usage, and lays the engine's phases inside it from the times the engine
    /// measured from submission: queue until the prompt started, prefill until the first token, decode to the end.
    /// </summary>
    public void EndGeneration(Activity? generation, GenerationSummary final)
    {
        if (generation is null)
            return;
        generation.SetTag("gen_ai.usage.input_tokens", final.PromptTokens);
        generation.SetTag("gen_ai.usage.output_tokens", final.CompletionTokens);
        generation.SetTag("tokenfactory.cached_prompt_tokens", final.CachedPromptTokens);
        generation.SetTag("gen_ai.response.finish_reasons", final.FinishReason.ToString().ToLowerInvariant());
        var submitted = generation.StartTimeUtc;
        Phase(generation, "tokenfactory.queue", submitted, final.QueueTime);
        var firstToken = final.TimeToFirstToken >= final.QueueTime ? final.TimeToFirstToken : final.QueueTime;
        Phase(generation, "tokenfactory.prefill", submitted + final.QueueTime, firstToken - final.QueueTime);
        Phase(generation, "tokenfactory.decode", submitted + firstToken, final.TotalTime - firstToken);
        generation.Stop();
    }

    public Activity? StartSettlement(string requestId, int status)
    {
        var activity = Source.StartActivity("tokenfactory.settle");
        activity?.SetTag("tokenfactory.request_id", requestId);
        activity?.SetTag("http.response.status_code", status);
        return activity;
    }

    private void Phase(Activity parent, string name, DateTime start, TimeSpan duration)
    {
        if (duration < TimeSpan.Zero)
            return;
        using var phase = Source.StartActivity(name, ActivityKind.Internal, parent.Context, startTime: start);
        phase?.SetEndTime(start + (duration > TimeSpan.Zero ? duration : TimeSpan.FromTicks(1))); // a zero duration would make Stop() end it now
    }

    public void Dispose() => Source.Dispose();
}
