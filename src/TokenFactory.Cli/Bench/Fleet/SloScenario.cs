using System.Diagnostics;
using System.Text.Json.Nodes;
using TokenFactory.Cli.Fleet;

namespace TokenFactory.Cli.Bench.Fleet;

/// <summary>
/// A mixed load above the fleet's capacity: 2 replicas of 4 running slots each; 64 batch clients send long requests
/// back to back (there is always batch work waiting), while interactive requests arrive at random (Poisson, 4 a second)
/// with short prompts. Run twice, alternating: with classes (interactive keys, batch keys: the router orders by
/// deadline, the replicas by class) and without (everyone on a standard key: first come, first served). Reported: the
/// interactive TTFT against its 2 s target, and goodput for both (requests meeting their class's TTFT and TPOT targets).
/// </summary>
internal static class SloScenario
{
    public const int BatchClients = 64, BatchPromptTokens = 400, BatchOutputTokens = 256, InteractivePromptTokens = 40, InteractiveOutputTokens = 16;
    public const double InteractivePerSecond = 4, Seconds = 20;
    private static readonly (double Ttft, double Tpot) InteractiveTarget = (2000, 200), BatchTarget = (600_000, 5000);

    public static async Task<List<string>> RunAsync(FleetBenchSettings settings, TextWriter output)
    {
        await using var rig = new FleetRig();
        var replicas = new List<ChildProcess>();
        for (int i = 0; i < 2; i++)
            replicas.Add(await rig.StartReplicaAsync(settings.Model, settings.Threads, "--ctx", "1024", "--max-running", "4"));
        var router = await rig.StartRouterAsync(replicas, "prefix", "--model", settings.Model, "--max-queued", "1024");
        var keys = new Dictionary<string, string>
        {
            ["interactive"] = await rig.KeyAsync(router, "interactive"),
            ["batch"] = await rig.KeyAsync(router, "batch"),
            ["standard"] = await rig.KeyAsync(router, "standard"),
        };
        var text = await PromptText.CalibrateAsync(rig.Http, router.Url, settings.ModelId, keys["standard"]); // the router has keys on
        // Warm every process (a .NET process's first requests are slow) on both paths.
        await OneRunAsync(rig, router, settings.ModelId, text, keys["interactive"], keys["batch"], seed: -1, seconds: 3);
        var modes = new Dictionary<string, (List<FleetResult> Interactive, List<FleetResult> Batch)>
        {
            ["classes"] = ([], []),
            ["one class (FIFO)"] = ([], []),
        };
        for (int round = 0; round < settings.Rounds; round++)
        {
            string[] order = round % 2 == 0 ? ["classes", "one class (FIFO)"] : ["one class (FIFO)", "classes"];
            foreach (string mode in order)
            {
                bool classes = mode == "classes";
                var (interactive, batch) = await OneRunAsync(rig, router, settings.ModelId, text, classes ? keys["interactive"] : keys["standard"],
                    classes ? keys["batch"] : keys["standard"], seed: round * 10 + (classes ? 1 : 2));
                modes[mode].Interactive.AddRange(interactive);
                modes[mode].Batch.AddRange(batch);
                var d = Distribution.Of(interactive.Where(r => r.Ok).Select(r => r.TtftMs));
                output.WriteLine($"round {round + 1}, {mode}: interactive TTFT p50 {d.Median:0} ms p99 {d.P99:0} ms; {batch.Count(r => r.Ok)} batch requests done");
            }
        }
        var lines = new List<string>
        {
            "| mode | class | requests | refused | TTFT p50 (ms) | TTFT p99 (ms) | TPOT p50 (ms) | goodput (met TTFT and TPOT targets) | output tokens/s |",
            "|---|---|---|---|---|---|---|---|---|",
        };
        double seconds = Seconds * settings.Rounds;
        foreach (var (mode, (interactive, batch)) in modes)
        {
            lines.Add(Row(mode, "interactive", interactive, InteractiveTarget, seconds));
            lines.Add(Row(mode, "batch", batch, BatchTarget, seconds));
        }
        return lines;
    }

    private static string Row(string mode, string @class, List<FleetResult> results, (double Ttft, double Tpot) target, double seconds)
    {
        var ok = results.Where(r => r.Ok).ToList();
        var ttft = Distribution.Of(ok.Select(r => r.TtftMs));
        var tpot = Distribution.Of(ok.Where(r => r.Tokens > 1).Select(Tpot));
        int met = ok.Count(r => r.TtftMs <= target.Ttft && (r.Tokens <= 1 || Tpot(r) <= target.Tpot));
        int refused = results.Count(r => r.ErrorCode is "slo_unattainable" or "server_overloaded" or "rate_limit_exceeded");
        return $"| {mode} | {@class} | {results.Count} | {refused} | {ttft.Median:0} | {ttft.P99:0} | {tpot.Median:0.0} | {met} of {results.Count} ({100.0 * met / Math.Max(1, results.Count):0}%) | {ok.Sum(r => r.Tokens) / seconds:0} |";
    }

    private static double Tpot(FleetResult r) => (r.E2eMs - r.TtftMs) / Math.Max(1, r.Tokens - 1);

    private static async Task<(List<FleetResult> Interactive, List<FleetResult> Batch)> OneRunAsync(FleetRig rig, ChildProcess router, string model, PromptText text,
        string interactiveKey, string batchKey, int seed, double seconds = Seconds)
    {
        var chat = new Uri(router.Url, "/v1/chat/completions");
        var interactive = new List<FleetResult>();
        var batch = new List<FleetResult>();
        var clock = Stopwatch.StartNew();
        var end = TimeSpan.FromSeconds(seconds);
        JsonObject Body(string prompt, int maxTokens) => new()
        {
            ["model"] = model, ["messages"] = new JsonArray(new JsonObject { ["role"] = "user", ["content"] = prompt }),
            ["max_tokens"] = maxTokens, ["ignore_eos"] = true, ["stream"] = true,
        };
        var batchClients = Enumerable.Range(0, BatchClients).Select(async c =>
        {
            for (int i = 0; clock.Elapsed < end; i++)
            {
                var r = await FleetClient.SendAsync(rig.Http, chat, Body(text.Make(BatchPromptTokens, seed * 100_000 + c * 1000 + i), BatchOutputTokens), batchKey);
                lock (batch)
                    batch.Add(r);
            }
        }).ToList();
        // Interactive arrivals: open loop, exponential gaps, so they come when they come, not when the fleet is ready.
        var random = new Random(seed);
        var sent = new List<Task>();
        double at = 0;
        for (int i = 0; ; i++)
        {
            at += -Math.Log(1 - random.NextDouble()) / InteractivePerSecond;
            if (at >= seconds)
                break;
            var wait = TimeSpan.FromSeconds(at) - clock.Elapsed;
            if (wait > TimeSpan.Zero)
                await Task.Delay(wait);
            string prompt = text.Make(InteractivePromptTokens, seed * 7919 + i);
            sent.Add(Task.Run(async () =>
            {
                var r = await FleetClient.SendAsync(rig.Http, chat, Body(prompt, InteractiveOutputTokens), interactiveKey);
                lock (interactive)
                    interactive.Add(r);
            }));
        }
        await Task.WhenAll(sent);
        await Task.WhenAll(batchClients);
        return (interactive, batch);
    }
}
