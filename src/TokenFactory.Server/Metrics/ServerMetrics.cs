using TokenFactory.Engine;
using TokenFactory.Floor;
using TokenFactory.Server.Hosting;

namespace TokenFactory.Server.Metrics;

/// <summary>
/// Everything GET /metrics reports (documented in docs/metrics.md). Latencies are measured by the server
/// with the injected <see cref="TimeProvider"/>; queue time comes from the engine, which alone knows it.
/// </summary>
public sealed class ServerMetrics
{
    public const string Prefix = "tokenfactory_";

    // Latency buckets (seconds) follow vLLM's choices so dashboards built for it read the same ranges.
    private static readonly double[] TtftBuckets = [0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 20, 40, 80];
    private static readonly double[] ItlBuckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1, 2.5, 5, 10];
    private static readonly double[] RequestBuckets = [0.01, 0.05, 0.1, 0.3, 0.5, 0.8, 1, 1.5, 2, 2.5, 5, 10, 15, 20, 30, 40, 50, 60, 120, 240];

    public LabeledCounter HttpRequests { get; } = new(Prefix + "http_requests_total", "HTTP requests answered, by endpoint (route pattern) and status code.", "endpoint", "status");
    public LabeledCounter PromptTokens { get; } = new(Prefix + "prompt_tokens_total", "Prompt tokens of finished generations (each choice counts its prompt).");
    public LabeledCounter GenerationTokens { get; } = new(Prefix + "generation_tokens_total", "Tokens generated.");
    public LabeledCounter FinishedGenerations { get; } = new(Prefix + "generations_finished_total", "Generations (one per choice) by finish reason: stop, length, cancelled.", "finish_reason");
    public LabeledCounter Refusals { get; } = new(Prefix + "requests_refused_total", "Generation requests refused before they ran, by endpoint and reason (the error code: rate_limit_exceeded, insufficient_quota, server_overloaded, invalid_type, …).", "endpoint", "reason");
    public Histogram TimeToFirstToken { get; } = new(Prefix + "time_to_first_token_seconds", "From the request's arrival to its first generated token.", TtftBuckets);
    public Histogram InterTokenLatency { get; } = new(Prefix + "inter_token_latency_seconds", "Between consecutive generated tokens of one choice.", ItlBuckets);
    public Histogram RequestDuration { get; } = new(Prefix + "e2e_request_latency_seconds", "From a generation request's arrival to its last byte.", RequestBuckets);
    public Histogram QueueTime { get; } = new(Prefix + "request_queue_time_seconds", "Time a generation waited in the engine's queue before its prompt started.", RequestBuckets);

    public string Render(EngineHost host, FloorService? floor = null)
    {
        var w = new PrometheusTextWriter();
        w.Counter(HttpRequests);
        w.Counter(PromptTokens);
        w.Counter(GenerationTokens);
        w.Counter(FinishedGenerations);
        w.Counter(Refusals);
        w.Histogram(TimeToFirstToken);
        w.Histogram(InterTokenLatency);
        w.Histogram(RequestDuration);
        w.Histogram(QueueTime);
        var load = host.Engine?.Load ?? default(EngineLoad);
        w.Gauge(Prefix + "requests_running", "Generations the engine is running now.", load.Running);
        w.Gauge(Prefix + "requests_waiting", "Generations waiting in the engine's queue.", load.Waiting);
        w.Gauge(Prefix + "kv_cache_usage_ratio", "Fraction of the KV cache in use (0..1).", load.KvCacheUsage);
        w.Gauge(Prefix + "kv_cache_used_tokens", "KV cache positions in use.", load.KvCacheUsedTokens);
        w.Gauge(Prefix + "kv_cache_capacity_tokens", "KV cache positions available in all.", load.KvCacheCapacityTokens);
        var c = host.Engine?.Counters ?? default;
        w.CounterValue(Prefix + "prefix_cache_queries_total", "Prompt tokens looked up in the prefix cache.", c.PrefixCacheQueryTokens);
        w.CounterValue(Prefix + "prefix_cache_hits_total", "Prompt tokens served from the prefix cache instead of being computed.", c.PrefixCacheHitTokens);
        w.CounterValue(Prefix + "preemptions_total", "Running sequences preempted (KV blocks freed, recomputed later) because the cache was full.", c.Preemptions);
        w.CounterValue(Prefix + "engine_steps_total", "Batching steps run.", c.Steps);
        w.Gauge(Prefix + "engine_mean_batch_sequences", "Mean sequences per batching step since start.", c.MeanBatchSequences);
        if (floor is not null)
            RenderFloor(w, floor);
        w.Gauge(Prefix + "model_ready", "1 once the model is loaded and requests are served, else 0.", host.State == EngineState.Ready ? 1 : 0);
        return w.ToString();
    }

    /// <summary>Energy and cost of what this process settled since it started (the ledger has the durable history).</summary>
    private static void RenderFloor(PrometheusTextWriter w, FloorService floor)
    {
        var t = floor.Totals;
        bool estimated = floor.EnergyMeter?.IsEstimated ?? false;
        string source = floor.EnergyMeter?.Source ?? "none";
        w.CounterValue(Prefix + "energy_joules_total", $"Energy charged to generations (meter: {source}{(estimated ? ", estimated from configured watts × utilization" : "")}).", t.EnergyJoules);
        w.Gauge(Prefix + "energy_estimated", "1 when energy figures are estimated from configured power instead of measured (RAPL, NVML).", estimated ? 1 : 0);
        w.Gauge(Prefix + "joules_per_token", "Energy per prompt or generated token of settled requests.", t.JoulesPerToken);
        w.CounterValue(Prefix + "cost_usd_total", "Cost of settled requests: machine time plus energy × price × PUE, or the model's list prices.", t.InputUsd + t.OutputUsd);
        w.Gauge(Prefix + "cost_per_million_input_tokens_usd", "Cost of prompt work per million prompt tokens.", t.UsdPerMillionInputTokens);
        w.Gauge(Prefix + "cost_per_million_output_tokens_usd", "Cost of generation per million generated tokens.", t.UsdPerMillionOutputTokens);
        w.CounterValues(Prefix + "team_spend_usd_total", "Cost of settled requests by team (\"\" without keys).", "team", t.TeamSpendUsd);
    }
}
