using System.Diagnostics.Metrics;
using TokenFactory.Engine;
using TokenFactory.Floor;
using TokenFactory.Server.Hosting;

namespace TokenFactory.Server.Telemetry;

/// <summary>
/// Everything GET /metrics reports (documented in docs/metrics.md), as <see cref="System.Diagnostics.Metrics"/>
/// instruments on the <c>TokenFactory</c> meter: OpenTelemetry's Prometheus exporter writes them in the text
/// format, and an OTLP exporter sends the same when one is configured. Latencies are measured by the server
/// with the injected <see cref="TimeProvider"/>; queue time comes from the engine, which alone knows it; the
/// engine's load and counters and the floor's totals are read when a scrape asks for them.
/// </summary>
public sealed class ServerMetrics : IDisposable
{
    public const string MeterName = "TokenFactory";
    public const string Prefix = "tokenfactory_";

    // Latency buckets (seconds) follow vLLM's choices so dashboards built for it read the same ranges.
    private static readonly double[] TtftBuckets = [0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 20, 40, 80];
    private static readonly double[] ItlBuckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1, 2.5, 5, 10];
    private static readonly double[] RequestBuckets = [0.01, 0.05, 0.1, 0.3, 0.5, 0.8, 1, 1.5, 2, 2.5, 5, 10, 15, 20, 30, 40, 50, 60, 120, 240];

    private readonly Meter _meter;
    private readonly CommandCenter.FactoryRecorder? _recorder;
    private readonly Counter<long> _httpRequests, _promptTokens, _generationTokens, _finished, _refusals, _embeddingInputs, _embeddingTokens;
    private readonly Histogram<double> _timeToFirstToken, _interTokenLatency, _requestDuration, _queueTime;

    /// <param name="scope">Tells this server's meter apart from another's in the same process (tests run many servers).</param>
    /// <param name="host">The engine whose load and counters are reported; null where there is none (a router).</param>
    internal ServerMetrics(EngineHost? host, FloorService floor, TelemetryScope scope, CommandCenter.FactoryRecorder? recorder = null)
    {
        _recorder = recorder;
        _meter = new Meter(new MeterOptions(MeterName) { Version = typeof(ServerMetrics).Assembly.GetName().Version?.ToString(), Scope = scope });
        _httpRequests = _meter.CreateCounter<long>(Prefix + "http_requests_total", description: "HTTP requests answered, by endpoint (route pattern) and status code.");
        _promptTokens = _meter.CreateCounter<long>(Prefix + "prompt_tokens_total", description: "Prompt tokens of finished generations (each choice counts its prompt).");
        _generationTokens = _meter.CreateCounter<long>(Prefix + "generation_tokens_total", description: "Tokens generated.");
        _finished = _meter.CreateCounter<long>(Prefix + "generations_finished_total", description: "Generations (one per choice) by finish reason: stop, length, cancelled.");
        _refusals = _meter.CreateCounter<long>(Prefix + "requests_refused_total",
            description: "Generation requests refused before they ran, by endpoint and reason (the error code: rate_limit_exceeded, insufficient_quota, server_overloaded, invalid_type, …).");
        _timeToFirstToken = Histogram(Prefix + "time_to_first_token_seconds", "From the request's arrival to its first generated token.", TtftBuckets);
        _interTokenLatency = Histogram(Prefix + "inter_token_latency_seconds", "Between consecutive generated tokens of one choice.", ItlBuckets);
        _requestDuration = Histogram(Prefix + "e2e_request_latency_seconds", "From a generation request's arrival to its last byte.", RequestBuckets);
        _queueTime = Histogram(Prefix + "request_queue_time_seconds", "Time a generation waited in the engine's queue before its prompt started.", RequestBuckets);
        _embeddingInputs = _meter.CreateCounter<long>(Prefix + "embedding_inputs_total", description: "Inputs embedded (/v1/embeddings).");
        _embeddingTokens = _meter.CreateCounter<long>(Prefix + "embedding_tokens_total", description: "Tokens of embedded inputs.");
        // Unlabelled counters say 0 from the start, so dashboards see they exist before the first request.
        _promptTokens.Add(0);
        _generationTokens.Add(0);
        _embeddingInputs.Add(0);
        _embeddingTokens.Add(0);

        if (host is not null)
            EngineGauges(host);

        // Energy and cost of what this process settled since it started (the ledger has the durable history).
        var meter = floor.EnergyMeter;
        string source = meter?.Source ?? "none";
        bool estimated = meter?.IsEstimated ?? false;
        var t = floor.Totals;
        Counter("energy_joules_total", $"Energy charged to generations (meter: {source}{(estimated ? ", estimated from configured watts × utilization" : "")}).", () => t.EnergyJoules);
        Gauge("energy_estimated", "1 when energy figures are estimated from configured power instead of measured (RAPL, NVML).", () => estimated ? 1 : 0);
        Gauge("joules_per_token", "Energy per prompt or generated token of settled requests.", () => t.JoulesPerToken);
        Counter("cost_usd_total", "Cost of settled requests: machine time plus energy × price × PUE, or the model's list prices.", () => t.InputUsd + t.OutputUsd);
        Gauge("cost_per_million_input_tokens_usd", "Cost of prompt work per million prompt tokens.", () => t.UsdPerMillionInputTokens);
        Gauge("cost_per_million_output_tokens_usd", "Cost of generation per million generated tokens.", () => t.UsdPerMillionOutputTokens);
        _meter.CreateObservableCounter(Prefix + "team_spend_usd_total",
            () => t.TeamSpendUsd.Select(kv => new Measurement<double>(kv.Value, new KeyValuePair<string, object?>("team", kv.Key))),
            description: "Cost of settled requests by team (\"\" without keys).");
    }

    /// <summary>The meter, for the router's own instruments (one meter, one scope, one exporter).</summary>
    public Meter Meter => _meter;

    private void EngineGauges(EngineHost host)
    {
        Gauge("requests_running", "Generations the engine is running now.", () => host.Engine?.Load.Running ?? 0);
        Gauge("requests_waiting", "Generations waiting in the engine's queue.", () => host.Engine?.Load.Waiting ?? 0);
        Gauge("kv_cache_usage_ratio", "Fraction of the KV cache in use (0..1).", () => host.Engine?.Load.KvCacheUsage ?? 0);
        Gauge("kv_cache_used_tokens", "KV cache positions in use.", () => host.Engine?.Load.KvCacheUsedTokens ?? 0);
        Gauge("kv_cache_capacity_tokens", "KV cache positions available in all.", () => host.Engine?.Load.KvCacheCapacityTokens ?? 0);
        Gauge("kv_sliding_blocks_capacity", "Blocks of the sliding-window cache (sliding layers' keys and values kept apart; 0 without one).",
            () => Counters(host).SlidingKvBlocksTotal);
        Gauge("kv_sliding_blocks_free", "Free blocks of the sliding-window cache.", () => Counters(host).SlidingKvBlocksFree);
        Counter("prefix_cache_queries_total", "Prompt tokens looked up in the prefix cache.", () => Counters(host).PrefixCacheQueryTokens);
        Counter("prefix_cache_hits_total", "Prompt tokens served from the prefix cache instead of being computed.", () => Counters(host).PrefixCacheHitTokens);
        Counter("preemptions_total", "Running sequences preempted (KV blocks freed, recomputed later) because the cache was full.", () => Counters(host).Preemptions);
        Counter("engine_steps_total", "Batching steps run.", () => Counters(host).Steps);
        Gauge("engine_mean_batch_sequences", "Mean sequences per batching step since start.", () => Counters(host).MeanBatchSequences);
        Gauge("model_ready", "1 once the model is loaded and requests are served, else 0.", () => host.State == EngineState.Ready ? 1 : 0);
    }

    public void CountHttpRequest(string endpoint, int status) =>
        _httpRequests.Add(1, new("endpoint", endpoint), new("status", status.ToString(System.Globalization.CultureInfo.InvariantCulture)));

    public void CountRefusal(string endpoint, string reason)
    {
        _refusals.Add(1, new("endpoint", endpoint), new("reason", reason));
        _recorder?.Refused();
    }

    /// <summary>A choice ended: its tokens, its queue time and its finish reason.</summary>
    public void RecordFinal(GenerationSummary final)
    {
        _promptTokens.Add(final.PromptTokens);
        _generationTokens.Add(final.CompletionTokens);
        _queueTime.Record(final.QueueTime.TotalSeconds);
        _finished.Add(1, new KeyValuePair<string, object?>("finish_reason", final.FinishReason.ToString().ToLowerInvariant()));
    }

    public void RecordTimeToFirstToken(TimeSpan elapsed) => _timeToFirstToken.Record(elapsed.TotalSeconds);

    public void RecordInterTokenLatency(TimeSpan elapsed)
    {
        _interTokenLatency.Record(elapsed.TotalSeconds);
        _recorder?.InterToken(elapsed.TotalSeconds);
    }

    public void RecordEmbeddings(int inputs, long tokens)
    {
        _embeddingInputs.Add(inputs);
        _embeddingTokens.Add(tokens);
    }

    public void RecordRequestDuration(TimeSpan elapsed) => _requestDuration.Record(elapsed.TotalSeconds);

    public void Dispose() => _meter.Dispose();

    private static EngineCounters Counters(EngineHost host) => host.Engine?.Counters ?? default;

    private Histogram<double> Histogram(string name, string help, double[] buckets) =>
        _meter.CreateHistogram(name, unit: null, help, tags: null, new InstrumentAdvice<double> { HistogramBucketBoundaries = buckets });

    private void Gauge(string name, string help, Func<double> read) => _meter.CreateObservableGauge(Prefix + name, read, description: help);

    private void Counter(string name, string help, Func<double> read) => _meter.CreateObservableCounter(Prefix + name, read, description: help);
}

/// <summary>The identity of one server's meter and activity source, so its exporters take its instruments only.</summary>
internal sealed class TelemetryScope;
