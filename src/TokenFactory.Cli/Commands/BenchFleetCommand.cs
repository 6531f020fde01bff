using System.CommandLine;
using TokenFactory.Cli.Bench;
using TokenFactory.Cli.Bench.Fleet;

namespace TokenFactory.Cli.Commands;

/// <summary>
/// <c>tokenfactory bench fleet</c>: the fleet router's benchmarks, each on real processes over loopback (replicas as
/// <c>serve</c>, routers as <c>route</c>), printing Markdown tables for docs/benchmarks.md.
/// </summary>
internal static class BenchFleetCommand
{
    public static Command Create()
    {
        var scenario = new Option<string>("--scenario") { Description = "prefix (vs round-robin), slo (interactive + batch above capacity), overhead (added latency at 1,000 req/s), failover (kill 1 of 3), or all", DefaultValueFactory = _ => "all" };
        scenario.AcceptOnlyFromAmong("prefix", "slo", "overhead", "failover", "all");
        var model = new Option<string?>("--model", "-m") { Description = "GGUF model the replicas serve (default: the built-in model)" };
        var threads = new Option<int>("--threads", "-t") { Description = "Compute threads per replica", DefaultValueFactory = _ => 1 };
        var rounds = new Option<int>("--rounds") { Description = "Alternating rounds per comparison", DefaultValueFactory = _ => 3 };
        var cmd = new Command("fleet", "Benchmark the fleet router: prefix-aware vs round-robin TTFT, SLO classes under overload, the router's added latency, a replica killed under load")
        {
            scenario, model, threads, rounds,
        };
        cmd.SetAction(async (r, cancellation) =>
        {
            try
            {
                string path = r.GetValue(model) ?? BuiltInModel.Resolve().Path;
                if (!File.Exists(path))
                    throw new TokenFactoryException($"model file not found: {path}");
                var settings = new FleetBenchSettings(Path.GetFullPath(path), Math.Max(1, r.GetValue(threads)), Math.Max(1, r.GetValue(rounds)));
                string which = r.GetValue(scenario)!;
                Console.WriteLine($"Fleet benchmarks: {settings.Model}, {settings.Threads} thread(s) per replica, {settings.Rounds} rounds, {Environment.ProcessorCount} cores");
                foreach (var (name, run) in new (string, Func<FleetBenchSettings, TextWriter, Task<List<string>>>)[]
                {
                    ("prefix", PrefixScenario.RunAsync), ("slo", SloScenario.RunAsync), ("overhead", OverheadScenario.RunAsync), ("failover", FailoverScenario.RunAsync),
                })
                {
                    if (which != "all" && which != name)
                        continue;
                    Console.WriteLine();
                    Console.WriteLine($"## {name}");
                    var table = await run(settings, Console.Out);
                    Console.WriteLine();
                    foreach (string line in table)
                        Console.WriteLine(line);
                }
                return 0;
            }
            catch (Exception e) when (e is TokenFactoryException or HttpRequestException or IOException)
            {
                Console.Error.WriteLine($"error: {e.Message}");
                return 1;
            }
        });
        return cmd;
    }
}
