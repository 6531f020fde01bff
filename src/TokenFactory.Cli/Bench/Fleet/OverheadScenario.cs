using System.Diagnostics;
using System.Text;

namespace TokenFactory.Cli.Bench.Fleet;

/// <summary>
/// The router's own cost: an open-loop load of 1,000 requests a second for 5 s, sent to a stub upstream that answers at
/// once, directly and through a <c>tokenfactory route</c> process in front of it (its floor on: authentication off,
/// admission, the ledger line for every request in SQLite), alternating. The latency added at each percentile is the
/// router's: the extra loopback hop, the floor, YARP, the relay and the ledger write.
/// </summary>
internal static class OverheadScenario
{
    public const int RequestsPerSecond = 1000;
    public const double Seconds = 5;

    private static readonly byte[] Body = Encoding.UTF8.GetBytes("""{"model":"stub","messages":[{"role":"user","content":"Say ok."}],"max_tokens":1}""");

    public static async Task<List<string>> RunAsync(FleetBenchSettings settings, TextWriter output)
    {
        await using var stub = await StubUpstream.StartAsync();
        await using var rig = new FleetRig();
        var router = await rig.StartRouterAsync([], "prefix", "--no-auth", "--replica", stub.Url.GetLeftPart(UriPartial.Authority));
        var targets = new Dictionary<string, Uri>
        {
            ["direct"] = new(stub.Url, "/v1/chat/completions"),
            ["router"] = new(router.Url, "/v1/chat/completions"),
        };
        foreach (var url in targets.Values)
            await LoadAsync(rig.Http, url, 10); // warm: tiered JIT reaching its final code, connection pools, SQLite
        var latencies = targets.Keys.ToDictionary(t => t, _ => new List<double>());
        var addedP50 = new List<double>();
        var addedP99 = new List<double>();
        int failed = 0;
        for (int round = 0; round < settings.Rounds; round++)
        {
            string[] order = round % 2 == 0 ? ["direct", "router"] : ["router", "direct"];
            var p = new Dictionary<string, Distribution>();
            foreach (string target in order)
            {
                var (ok, errors) = await LoadAsync(rig.Http, targets[target], Seconds);
                failed += errors;
                latencies[target].AddRange(ok);
                p[target] = Distribution.Of(ok);
            }
            addedP50.Add(p["router"].Median - p["direct"].Median);
            addedP99.Add(p["router"].P99 - p["direct"].P99);
            output.WriteLine($"round {round + 1}: direct p50 {p["direct"].Median * 1000:0} µs p99 {p["direct"].P99 * 1000:0} µs; router p50 {p["router"].Median * 1000:0} µs p99 {p["router"].P99 * 1000:0} µs");
        }
        var direct = Distribution.Of(latencies["direct"]);
        var routed = Distribution.Of(latencies["router"]);
        return
        [
            "| path | requests | p50 (µs) | p90 (µs) | p99 (µs) | failed |",
            "|---|---|---|---|---|---|",
            $"| client → stub | {direct.Count} | {direct.Median * 1000:0} | {direct.P90 * 1000:0} | {direct.P99 * 1000:0} | |",
            $"| client → router → stub | {routed.Count} | {routed.Median * 1000:0} | {routed.P90 * 1000:0} | {routed.P99 * 1000:0} | {failed} |",
            $"| **added by the router** (median of {settings.Rounds} rounds) | | **{Median(addedP50) * 1000:0}** | | **{Median(addedP99) * 1000:0}** | |",
        ];
    }

    private static double Median(List<double> values) => Distribution.Percentile([.. values.Order()], 50);

    /// <summary>Open loop: requests leave on schedule whether or not earlier ones have answered. Latencies in ms.</summary>
    private static async Task<(List<double> Ok, int Failed)> LoadAsync(HttpClient http, Uri url, double seconds)
    {
        int total = (int)(seconds * RequestsPerSecond);
        var latencies = new double[total];
        int failed = 0;
        var tasks = new Task[total];
        var clock = Stopwatch.StartNew();
        for (int i = 0; i < total; i++)
        {
            var due = TimeSpan.FromSeconds((double)i / RequestsPerSecond);
            if (due - clock.Elapsed is { TotalMilliseconds: > 1 } wait)
                await Task.Delay(wait);
            int n = i;
            tasks[i] = Task.Run(async () =>
            {
                long start = Stopwatch.GetTimestamp();
                try
                {
                    using var content = new ByteArrayContent(Body);
                    content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");
                    using var response = await http.PostAsync(url, content);
                    await response.Content.LoadIntoBufferAsync();
                    latencies[n] = response.IsSuccessStatusCode ? Stopwatch.GetElapsedTime(start).TotalMilliseconds : double.NaN;
                }
                catch (HttpRequestException)
                {
                    latencies[n] = double.NaN;
                }
                if (double.IsNaN(latencies[n]))
                    Interlocked.Increment(ref failed);
            });
        }
        await Task.WhenAll(tasks);
        return ([.. latencies.Where(l => !double.IsNaN(l))], failed);
    }
}
