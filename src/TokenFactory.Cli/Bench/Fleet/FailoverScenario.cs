using System.Diagnostics;
using System.Text.Json.Nodes;
using TokenFactory.Cli.Fleet;

namespace TokenFactory.Cli.Bench.Fleet;

/// <summary>
/// One of 3 replicas killed (SIGKILL, as a crash or the OOM killer) under a steady load: 6 clients back to back, half of
/// the requests streamed (512 tokens each), for 15 s, the kill at 5 s. A request that had not started streaming must not fail (it goes to
/// another replica); a stream under way on the dead replica ends with an <c>upstream_stream_cut</c> event, and is counted.
/// Also measured: how long until the router took the replica out of rotation.
/// </summary>
internal static class FailoverScenario
{
    public const int Clients = 6, OutputTokens = 512;
    public const double Seconds = 15, KillAt = 5;

    public static async Task<List<string>> RunAsync(FleetBenchSettings settings, TextWriter output)
    {
        await using var rig = new FleetRig();
        var replicas = new List<ChildProcess>();
        for (int i = 0; i < 3; i++)
            replicas.Add(await rig.StartReplicaAsync(settings.Model, settings.Threads, "--ctx", "1024"));
        var router = await rig.StartRouterAsync(replicas, "prefix", "--no-auth", "--model", settings.Model);
        var text = await PromptText.CalibrateAsync(rig.Http, router.Url, settings.ModelId);
        var url = new Uri(router.Url, "/v1/chat/completions");
        var results = new List<(FleetResult Result, bool AfterKill)>();
        var clock = Stopwatch.StartNew();
        var killedAt = TimeSpan.MaxValue;
        var clients = Enumerable.Range(0, Clients).Select(async c =>
        {
            for (int i = 0; clock.Elapsed < TimeSpan.FromSeconds(Seconds); i++)
            {
                var body = new JsonObject
                {
                    ["model"] = settings.ModelId,
                    ["messages"] = new JsonArray(new JsonObject { ["role"] = "user", ["content"] = text.Make(100, c * 100_000 + i) }),
                    ["max_tokens"] = OutputTokens, ["ignore_eos"] = true, ["stream"] = (c + i) % 2 == 0,
                };
                var started = clock.Elapsed;
                var r = await FleetClient.SendAsync(rig.Http, url, body);
                lock (results)
                    results.Add((r, started >= killedAt));
            }
        }).ToList();
        await Task.Delay(TimeSpan.FromSeconds(KillAt));
        var victim = replicas[1];
        killedAt = clock.Elapsed;
        victim.Kill();
        var ejected = await EjectedAfterAsync(rig, router, victim, clock, killedAt);
        await Task.WhenAll(clients);

        var cut = results.Where(r => r.Result.CutMidStream).ToList();
        double retried = await RetriesAsync(rig, router);
        var failedBeforeStreaming = results.Where(r => !r.Result.Ok && !r.Result.CutMidStream).ToList();
        output.WriteLine($"{results.Count} requests, {failedBeforeStreaming.Count} failed before streaming, {cut.Count} streams cut; ejected {ejected.TotalMilliseconds:0} ms after the kill");
        foreach (var group in failedBeforeStreaming.GroupBy(r => r.Result.ErrorCode))
            output.WriteLine($"  failed: {group.Key} × {group.Count()}");
        return
        [
            "| requests | of them streamed | failed before streaming | retried on another replica | streams cut mid-way | requests sent after the kill | of them failed | replica out of rotation after |",
            "|---|---|---|---|---|---|---|---|",
            $"| {results.Count} | {results.Count(r => r.Result.Streamed)} | **{failedBeforeStreaming.Count}** | {retried:0} | {cut.Count} | {results.Count(r => r.AfterKill)} | {results.Count(r => r.AfterKill && !r.Result.Ok)} | {ejected.TotalMilliseconds:0} ms |",
        ];
    }

    /// <summary>Requests the router sent to another replica because the first could not take them (its metrics).</summary>
    private static async Task<double> RetriesAsync(FleetRig rig, ChildProcess router)
    {
        string text = await rig.Http.GetStringAsync(new Uri(router.Url, "/metrics"));
        return text.Split('\n').Where(l => l.StartsWith("tokenfactory_fleet_retries_total{", StringComparison.Ordinal) && l.Contains("retried=\"true\"", StringComparison.Ordinal))
            .Sum(l => double.Parse(l[(l.LastIndexOf(' ') + 1)..], System.Globalization.CultureInfo.InvariantCulture));
    }

    /// <summary>How long after the kill /admin/fleet first showed the replica out of rotation.</summary>
    private static async Task<TimeSpan> EjectedAfterAsync(FleetRig rig, ChildProcess router, ChildProcess victim, Stopwatch clock, TimeSpan killedAt)
    {
        string name = victim.Url.Authority;
        while (clock.Elapsed - killedAt < TimeSpan.FromSeconds(10))
        {
            var fleet = await rig.AdminGetAsync(router, "/admin/fleet");
            if (fleet["replicas"]!.AsArray().Any(r => (string?)r!["name"] == name && !(bool)r["available"]!))
                return clock.Elapsed - killedAt;
            await Task.Delay(5);
        }
        throw new TokenFactoryException($"the router still had {name} in rotation 10 s after it was killed");
    }
}
