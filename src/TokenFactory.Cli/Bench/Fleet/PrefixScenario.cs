using System.Text.Json.Nodes;
using TokenFactory.Cli.Fleet;

namespace TokenFactory.Cli.Bench.Fleet;

/// <summary>
/// Prefix-aware routing against round-robin: 2 replicas, 8 distinct shared prefixes of about 1,000 tokens, each asked 16
/// questions (a short suffix) in random order, 4 requests at a time. Each replica's KV cache holds about 4.5 of the 8 prefixes: together
/// the two hold all of them, alone neither does. That is the case a cache-aware router is for: round-robin sends every
/// prefix to both replicas and each evicts what the other half of its traffic needs; the prefix policy keeps each
/// prefix where it is cached. Rounds alternate the policies' order, each with fresh prefixes (no cache carries over).
/// </summary>
internal static class PrefixScenario
{
    public const int Prefixes = 8, QuestionsPerPrefix = 16, PrefixTokens = 1000, Concurrency = 4;

    public static async Task<List<string>> RunAsync(FleetBenchSettings settings, TextWriter output)
    {
        await using var rig = new FleetRig();
        long bytesPerBlock = await BytesPerKvBlockAsync(rig, settings);
        int blocksPerPrefix = (PrefixTokens + 15) / 16 + 1;
        long budget = bytesPerBlock * (9 * blocksPerPrefix / 2 + 2 * Concurrency * 4); // 4.5 prefixes, plus room for the running questions
        output.WriteLine($"KV cache per replica: {budget / 1024} KiB ({budget / bytesPerBlock} blocks of 16 tokens; a prefix is {blocksPerPrefix})");
        var replicas = new List<ChildProcess>();
        for (int i = 0; i < 2; i++)
            replicas.Add(await rig.StartReplicaAsync(settings.Model, settings.Threads, "--ctx", "2048", "--kv-cache-memory", budget.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        var routers = new Dictionary<string, ChildProcess>
        {
            ["round-robin"] = await rig.StartRouterAsync(replicas, "round-robin", "--no-auth", "--model", settings.Model),
            ["prefix"] = await rig.StartRouterAsync(replicas, "prefix", "--no-auth", "--model", settings.Model),
        };
        var text = await PromptText.CalibrateAsync(rig.Http, routers["prefix"].Url, settings.ModelId);
        foreach (var router in routers.Values)
            await WarmAsync(rig, router, settings.ModelId, text);
        var results = routers.Keys.ToDictionary(p => p, _ => new List<FleetResult>());
        var roundMeans = routers.Keys.ToDictionary(p => p, _ => new List<double>());
        for (int round = 0; round < settings.Rounds; round++)
        {
            string[] order = round % 2 == 0 ? ["round-robin", "prefix"] : ["prefix", "round-robin"];
            foreach (string policy in order)
            {
                int seed = 1000 * (round + 1) + (policy == "prefix" ? 1 : 2);
                var round_ = await OneRoundAsync(rig, routers[policy], settings.ModelId, text, seed);
                results[policy].AddRange(round_);
                roundMeans[policy].Add(round_.Average(r => r.TtftMs));
                output.WriteLine($"round {round + 1}, {policy}: mean TTFT {round_.Average(r => r.TtftMs):0.0} ms, {Share(round_):0}% of prompt tokens cached, {round_.Count(r => !r.Ok)} failed");
            }
        }
        var rr = Distribution.Of(results["round-robin"].Select(r => r.TtftMs));
        var px = Distribution.Of(results["prefix"].Select(r => r.TtftMs));
        double paired = Distribution.PairedMedian(roundMeans["round-robin"], roundMeans["prefix"]) ?? double.NaN;
        return
        [
            "| policy | requests | mean TTFT (ms) | p50 | p99 | prompt tokens cached | failed |",
            "|---|---|---|---|---|---|---|",
            Row("round-robin", results["round-robin"], rr),
            Row("prefix", results["prefix"], px),
            $"| **round-robin ÷ prefix** (median of the {settings.Rounds} rounds' mean-TTFT ratios) | | **{paired:0.0}×** | {rr.Median / px.Median:0.0}× | {rr.P99 / px.P99:0.0}× | | |",
        ];
    }

    private static string Row(string policy, List<FleetResult> results, Distribution d) =>
        $"| {policy} | {results.Count} | {d.Mean:0.0} | {d.Median:0.0} | {d.P99:0.0} | {Share(results):0}% | {results.Count(r => !r.Ok)} |";

    private static double Share(List<FleetResult> results) =>
        100.0 * results.Sum(r => r.CachedTokens) / Math.Max(1, results.Sum(r => r.PromptTokens));

    private static async Task<List<FleetResult>> OneRoundAsync(FleetRig rig, ChildProcess router, string model, PromptText text, int seed)
    {
        var prefixes = Enumerable.Range(0, Prefixes).Select(p => text.Make(PrefixTokens, seed * 100 + p)).ToArray();
        var random = new Random(seed);
        var prompts = Enumerable.Range(0, Prefixes * QuestionsPerPrefix)
            .Select(i => $"{prefixes[i % Prefixes]} Question {i / Prefixes}: what happened next?")
            .OrderBy(_ => random.Next()).ToList();
        var url = new Uri(router.Url, "/v1/completions");
        var results = new List<FleetResult>();
        int next = -1;
        await Task.WhenAll(Enumerable.Range(0, Concurrency).Select(async _ =>
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < prompts.Count)
            {
                var body = new JsonObject
                {
                    ["model"] = model, ["prompt"] = prompts[i], ["max_tokens"] = 4, ["temperature"] = 0, ["ignore_eos"] = true,
                    ["stream"] = true, ["stream_options"] = new JsonObject { ["include_usage"] = true },
                };
                var result = await FleetClient.SendAsync(rig.Http, url, body);
                lock (results)
                    results.Add(result);
            }
        }));
        return results;
    }

    /// <summary>Compiles every process's hot paths (the first requests of a .NET process are slow) on prompts no round uses.</summary>
    private static async Task WarmAsync(FleetRig rig, ChildProcess router, string model, PromptText text)
    {
        for (int i = 0; i < 8; i++)
        {
            var body = new JsonObject { ["model"] = model, ["prompt"] = text.Make(PrefixTokens, -1 - i), ["max_tokens"] = 4, ["ignore_eos"] = true, ["stream"] = true };
            await FleetClient.SendAsync(rig.Http, new Uri(router.Url, "/v1/completions"), body);
        }
    }

    /// <summary>The model's KV cache bytes per 16-token block: a probe replica with a 64 MiB budget reports its blocks.</summary>
    private static async Task<long> BytesPerKvBlockAsync(FleetRig rig, FleetBenchSettings settings)
    {
        const long probe = 64L << 20;
        var replica = await rig.StartReplicaAsync(settings.Model, 1, "--ctx", "2048", "--kv-cache-memory", probe.ToString(System.Globalization.CultureInfo.InvariantCulture));
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(replica.Url, "/internal/status"));
        request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", rig.Token);
        using var response = await rig.Http.SendAsync(request);
        long blocks = (long)JsonNode.Parse(await response.Content.ReadAsStringAsync())!["kv_blocks_total"]!;
        await replica.StopAsync(TimeSpan.FromSeconds(10));
        return probe / Math.Max(1, blocks);
    }
}
