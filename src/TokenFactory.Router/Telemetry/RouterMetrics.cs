using System.Diagnostics.Metrics;
using TokenFactory.Router.Admission;
using TokenFactory.Router.Proxy;
using TokenFactory.Router.Replicas;
using TokenFactory.Router.Routing;
using TokenFactory.Server.Telemetry;

namespace TokenFactory.Router.Telemetry;

/// <summary>
/// The fleet's metrics (docs/fleet.md), on the same meter and exporter as the server's request metrics: per replica
/// and per class, requests and tokens, TTFT and TPOT as the clients saw them, SLO attainment (goodput), the prefix
/// hits routing expected, health changes, retries and cut streams, and what waits at the router.
/// </summary>
public sealed class RouterMetrics
{
    private const string Prefix = ServerMetrics.Prefix + "fleet_";
    private static readonly double[] TtftBuckets = [0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1, 2, 2.5, 5, 7.5, 10, 20, 40, 80, 160, 600];
    private static readonly double[] TpotBuckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1, 2.5, 5];

    private readonly Counter<long> _requests, _promptTokens, _generationTokens, _slo, _routedTokens, _routedCachedTokens, _healthChanges, _retries, _cut;
    private readonly Histogram<double> _ttft, _tpot;
    private readonly Dictionary<string, int> _queued = new(StringComparer.Ordinal);
    private readonly SloClasses _classes;

    internal RouterMetrics(ServerMetrics server, ReplicaSet replicas, SloClasses classes)
    {
        Server = server;
        _classes = classes;
        var m = server.Meter;
        _requests = m.CreateCounter<long>(Prefix + "requests_total", description: "Generation requests forwarded, by replica, class and the status they ended with.");
        _promptTokens = m.CreateCounter<long>(Prefix + "prompt_tokens_total", description: "Prompt tokens of forwarded requests, by replica.");
        _generationTokens = m.CreateCounter<long>(Prefix + "generation_tokens_total", description: "Tokens generated for forwarded requests, by replica.");
        _slo = m.CreateCounter<long>(Prefix + "slo_requests_total", description: "Forwarded requests by class and whether they met its TTFT and TPOT targets (met=\"true\" is goodput).");
        _routedTokens = m.CreateCounter<long>(Prefix + "routed_prompt_tokens_total", description: "Prompt tokens routed, by replica.");
        _routedCachedTokens = m.CreateCounter<long>(Prefix + "routed_cached_tokens_total",
            description: "Prompt tokens routed to a replica believed to hold them (the routing's expected prefix-cache hits), by replica.");
        _healthChanges = m.CreateCounter<long>(Prefix + "replica_health_changes_total", description: "Replicas going out of rotation (to=\"down\") or back (to=\"up\").");
        _retries = m.CreateCounter<long>(Prefix + "retries_total", description: "Requests sent to another replica because one could not take them, by the replica and reason.");
        _cut = m.CreateCounter<long>(Prefix + "streams_cut_total", description: "Streams a replica stopped mid-way (the client got an error event; the tokens were metered).");
        _ttft = m.CreateHistogram(Prefix + "time_to_first_token_seconds", unit: null, "From arrival at the router to the first token relayed, by class.",
            tags: null, new InstrumentAdvice<double> { HistogramBucketBoundaries = TtftBuckets });
        _tpot = m.CreateHistogram(Prefix + "time_per_output_token_seconds", unit: null, "Time per relayed output token after the first, by class.",
            tags: null, new InstrumentAdvice<double> { HistogramBucketBoundaries = TpotBuckets });
        m.CreateObservableGauge(Prefix + "replica_up", () => replicas.All.Select(r => new Measurement<int>(replicas.IsAvailable(r) && !r.IsDraining ? 1 : 0, Replica(r))),
            description: "1 while a replica takes requests (healthy, not draining), else 0.");
        m.CreateObservableGauge(Prefix + "replica_in_flight_sequences", () => replicas.All.Select(r => new Measurement<int>(r.InFlightSequences, Replica(r))),
            description: "Sequences the router has in flight on each replica.");
        m.CreateObservableGauge(Prefix + "replica_queued_prefill_tokens", () => replicas.All.Select(r => new Measurement<long>(r.QueuedPrefillTokens, Replica(r))),
            description: "Prompt tokens queued on each replica (its report plus what was sent since).");
        m.CreateObservableGauge(Prefix + "queued_requests", QueuedMeasurements, description: "Requests waiting at the router for a replica, by class.");
    }

    /// <summary>The request metrics a single server has too (HTTP statuses, refusals, request latency), at the router.</summary>
    public ServerMetrics Server { get; }

    internal void Routed(Replica replica, RouteRequest request, int matchedBlocks)
    {
        _routedTokens.Add(request.Shape.Tokens, Replica(replica));
        _routedCachedTokens.Add(Math.Min(request.Shape.Tokens, (long)matchedBlocks * PromptShape.BlockTokens), Replica(replica));
    }

    internal void Finished(Replica replica, ForwardedWork work, RelayedUsage usage, int status)
    {
        string priority = work.Route.Priority;
        _requests.Add(1, Replica(replica), new("class", priority), new("status", status.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        _promptTokens.Add(usage.PromptTokens ?? 0, Replica(replica));
        _generationTokens.Add(usage.Completion, Replica(replica));
        if (usage.TimeToFirstToken is { } ttft)
            _ttft.Record(ttft.TotalSeconds, new KeyValuePair<string, object?>("class", priority));
        if (usage.TimePerOutputToken is { } tpot)
            _tpot.Record(tpot.TotalSeconds, new KeyValuePair<string, object?>("class", priority));
        var targets = _classes[priority];
        bool met = status == 200 && usage.TimeToFirstToken is { } t && t.TotalSeconds <= targets.TtftSeconds
            && (usage.TimePerOutputToken is not { } p || p.TotalSeconds <= targets.TpotSeconds);
        _slo.Add(1, new("class", priority), new("met", met ? "true" : "false"));
    }

    internal void HealthChanged(Replica replica, bool up) => _healthChanges.Add(1, Replica(replica), new("to", up ? "up" : "down"));

    internal void Retried(Replica replica, string reason, bool retried) => _retries.Add(1, Replica(replica), new("reason", reason), new("retried", retried ? "true" : "false"));

    internal void StreamCut(Replica replica) => _cut.Add(1, Replica(replica));

    internal void Queued(string priority, int delta)
    {
        lock (_queued)
            _queued[priority] = _queued.GetValueOrDefault(priority) + delta;
    }

    private IEnumerable<Measurement<int>> QueuedMeasurements()
    {
        lock (_queued)
            return [.. _queued.Select(kv => new Measurement<int>(kv.Value, new KeyValuePair<string, object?>("class", kv.Key)))];
    }

    private static KeyValuePair<string, object?> Replica(Replica r) => new("replica", r.Name);
}
