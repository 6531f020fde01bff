using System.Net.Http.Json;

using TokenFactory.Server.Tests.Infrastructure;

namespace TokenFactory.Server.Tests.Metrics;

public sealed class MetricsTests
{
    public static readonly string[] Documented =
    [
        "tokenfactory_http_requests_total", "tokenfactory_prompt_tokens_total", "tokenfactory_generation_tokens_total",
        "tokenfactory_generations_finished_total", "tokenfactory_time_to_first_token_seconds", "tokenfactory_inter_token_latency_seconds",
        "tokenfactory_e2e_request_latency_seconds", "tokenfactory_request_queue_time_seconds", "tokenfactory_requests_running",
        "tokenfactory_requests_waiting", "tokenfactory_kv_cache_usage_ratio", "tokenfactory_kv_cache_used_tokens",
        "tokenfactory_kv_cache_capacity_tokens", "tokenfactory_kv_sliding_blocks_capacity", "tokenfactory_kv_sliding_blocks_free", "tokenfactory_model_ready", "tokenfactory_prefix_cache_queries_total",
        "tokenfactory_prefix_cache_hits_total", "tokenfactory_preemptions_total", "tokenfactory_engine_steps_total",
        "tokenfactory_engine_mean_batch_sequences", "tokenfactory_energy_joules_total", "tokenfactory_energy_estimated",
        "tokenfactory_joules_per_token", "tokenfactory_cost_usd_total", "tokenfactory_cost_per_million_input_tokens_usd",
        "tokenfactory_cost_per_million_output_tokens_usd", "tokenfactory_team_spend_usd_total", "tokenfactory_requests_refused_total",
        "tokenfactory_embedding_inputs_total", "tokenfactory_embedding_tokens_total",
    ];

    [Fact]
    public async Task Prefix_cache_hits_and_engine_steps_are_exported()
    {
        await using var server = await ServerInstance.StartAsync();
        string prompt = string.Concat(Enumerable.Repeat("Once upon a time there was a little dog. ", 6));
        for (int i = 0; i < 2; i++)
        {
            using var r = await server.PostJsonAsync("/v1/completions", new { prompt, max_tokens = 2, temperature = 0 });
            Assert.True(r.IsSuccessStatusCode);
        }
        using var response = await server.Client.GetAsync("/metrics");
        var families = PrometheusExposition.Parse(await response.Content.ReadAsStringAsync());
        double Value(string name) => families[name].Samples.Single().Value;
        Assert.True(Value("tokenfactory_prefix_cache_hits_total") >= 32, "the second identical prompt should reuse its full blocks");
        Assert.True(Value("tokenfactory_prefix_cache_queries_total") >= Value("tokenfactory_prefix_cache_hits_total"));
        Assert.True(Value("tokenfactory_engine_steps_total") >= 4);
        Assert.Equal(0, Value("tokenfactory_preemptions_total"));
        Assert.Equal("counter", families["tokenfactory_prefix_cache_hits_total"].Type);
        // Prometheus keeps "_total" for counters: a gauge named so invites rate() on it.
        Assert.All(families.Values.Where(f => f.Name.EndsWith("_total", StringComparison.Ordinal)), f => Assert.Equal("counter", f.Type));
    }

    [Fact]
    public async Task Metrics_follow_the_exposition_format_and_count_what_happened()
    {
        await using var server = await ServerInstance.StartAsync();
        using (var r = await server.PostJsonAsync("/v1/completions", new { prompt = "Once upon a time", max_tokens = 5, temperature = 0 }))
            Assert.True(r.IsSuccessStatusCode);
        using (var r = await server.PostJsonAsync("/v1/chat/completions", new { messages = new[] { new { role = "user", content = "Hi" } }, max_tokens = 3, temperature = 0, stream = true }))
            await r.Content.ReadAsStringAsync();
        using (var r = await server.PostJsonAsync("/v1/chat/completions", new { model = "nope", messages = new[] { new { role = "user", content = "Hi" } } }))
            Assert.Equal(404, (int)r.StatusCode);

        using var response = await server.Client.GetAsync("/metrics");
        Assert.Equal("text/plain", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal("0.0.4", response.Content.Headers.ContentType?.Parameters.Single(p => p.Name == "version").Value);
        var families = PrometheusExposition.Parse(await response.Content.ReadAsStringAsync());

        // target_info is OpenTelemetry's: the resource (service.name tokenfactory, SDK version) as labels of one gauge.
        Assert.Equal(Documented.Order(), families.Keys.Where(k => k != "target_info").Order());
        double Value(string family, params (string, string)[] labels) =>
            families[family].Samples.Single(s => s.Name == family && labels.All(l => s.Labels.GetValueOrDefault(l.Item1) == l.Item2)).Value;

        Assert.Equal(1, Value("tokenfactory_http_requests_total", ("endpoint", "/v1/completions"), ("status", "200")));
        Assert.Equal(1, Value("tokenfactory_http_requests_total", ("endpoint", "/v1/chat/completions"), ("status", "200")));
        Assert.Equal(1, Value("tokenfactory_http_requests_total", ("endpoint", "/v1/chat/completions"), ("status", "404")));
        Assert.Equal(8, Value("tokenfactory_generation_tokens_total"));
        Assert.Equal(2, Value("tokenfactory_generations_finished_total", ("finish_reason", "length")));
        Assert.True(Value("tokenfactory_prompt_tokens_total") > 5);
        Assert.Equal(2, families["tokenfactory_time_to_first_token_seconds"].Samples.Single(s => s.Name.EndsWith("_count")).Value);
        Assert.Equal(6, families["tokenfactory_inter_token_latency_seconds"].Samples.Single(s => s.Name.EndsWith("_count")).Value);
        Assert.Equal(2, families["tokenfactory_e2e_request_latency_seconds"].Samples.Single(s => s.Name.EndsWith("_count")).Value);
        Assert.Equal(2, families["tokenfactory_request_queue_time_seconds"].Samples.Single(s => s.Name.EndsWith("_count")).Value);
        Assert.Equal(1, Value("tokenfactory_model_ready"));
        Assert.Equal(0, Value("tokenfactory_requests_running"));
        Assert.Equal(server.Engine.Load.KvCacheCapacityTokens, Value("tokenfactory_kv_cache_capacity_tokens"));
        Assert.True(Value("tokenfactory_kv_cache_capacity_tokens") >= 512, "the cache must hold at least one full context");
        Assert.InRange(Value("tokenfactory_kv_cache_usage_ratio"), 0, 1);
        Assert.Equal("counter", families["tokenfactory_http_requests_total"].Type);
        Assert.Equal("histogram", families["tokenfactory_time_to_first_token_seconds"].Type);
        Assert.Equal("gauge", families["tokenfactory_requests_waiting"].Type);
        // The test server meters energy by estimate (configured watts × utilization × engine time).
        Assert.Equal(1, Value("tokenfactory_energy_estimated"));
        Assert.True(Value("tokenfactory_energy_joules_total") > 0);
        Assert.True(Value("tokenfactory_joules_per_token") > 0);
        Assert.True(Value("tokenfactory_cost_per_million_output_tokens_usd") > 0);
        Assert.Equal(Value("tokenfactory_cost_usd_total"), Value("tokenfactory_team_spend_usd_total", ("team", "")), 9);
    }

    [Fact]
    public void Every_metric_is_documented()
    {
        string docs = File.ReadAllText(Path.Combine(TestPaths.RepoRoot, "docs", "metrics.md"));
        Assert.All(Documented, name => Assert.Contains($"`{name}`", docs));
    }
}
