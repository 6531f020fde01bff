using System.Text.Json.Nodes;

namespace TokenFactory.Cli.Tests;

/// <summary><c>bench model</c> on a real (tiny) file: the figures, the interleaved and bracketed rooflines and the JSON it writes.</summary>
public sealed class BenchModelCommandTests
{
    [Fact]
    public void Reports_pp_tg_the_paired_roofline_and_peak_rss_as_json()
    {
        string json = Path.Combine(Path.GetTempPath(), $"tf-bench-model-{Guid.NewGuid():N}.json");
        try
        {
            var (code, stdout, stderr) = CliRunner.Run("bench", "model", "--model", CliRunner.Stories260K,
                "-t", "2", "-p", "16", "-n", "8", "--reps", "2", "--bandwidth-mib", "64", "--json", json);
            Assert.True(code == 0, stderr);
            Assert.Contains("memory read bandwidth during our generation runs (one pass every 16 tokens):", stdout);
            Assert.Contains("best-of-3 readings just before and after each run", stdout);
            Assert.Matches(@"tokenfactory\s+[\d.]+ ± [\d.]+\s+[\d.]+ ± [\d.]+\s+[\d.]+ %", stdout);

            var o = JsonNode.Parse(File.ReadAllText(json))!;
            var ours = o["tokenfactory"]!;
            Assert.Equal(2, ours["pp"]!["runs"]!.AsArray().Count);
            Assert.Equal(2, ours["tg"]!["runs"]!.AsArray().Count);
            Assert.True(ours["pp"]!["mean"]!.GetValue<double>() > 0);
            Assert.True(ours["tg"]!["mean"]!.GetValue<double>() > 0);
            var bandwidths = o["bandwidthRuns"]!.AsArray();
            Assert.Equal(2, bandwidths.Count);
            Assert.All(bandwidths, b => Assert.True(b!.GetValue<double>() > 1e8));
            // The percentage is each run's tokens/s over its own roofline (bandwidth ÷ bytes per token), averaged.
            double bytesPerToken = o["bytesPerGeneratedToken"]!.GetValue<double>();
            var tg = ours["tg"]!["runs"]!.AsArray().Select(v => v!.GetValue<double>()).ToArray();
            double expected = 100 * (tg[0] * bytesPerToken / bandwidths[0]!.GetValue<double>() + tg[1] * bytesPerToken / bandwidths[1]!.GetValue<double>()) / 2;
            Assert.Equal(expected, ours["tgPercentOfRoofline"]!.GetValue<double>(), 0.2);
            // The bracketed figure (best of 3 passes before and after each run) pairs the same runs with those readings.
            Assert.Equal(16, o["bandwidthInterleaveTokens"]!.GetValue<int>());
            var brackets = o["bandwidthBracketRuns"]!.AsArray();
            Assert.Equal(2, brackets.Count);
            double bracketed = 100 * (tg[0] * bytesPerToken / brackets[0]!.GetValue<double>() + tg[1] * bytesPerToken / brackets[1]!.GetValue<double>()) / 2;
            Assert.Equal(bracketed, ours["tgPercentOfRooflineBracketed"]!.GetValue<double>(), 0.2);
            // By default the probe reads the model's matrices in place: what a token reads, no more than the file holds.
            Assert.Equal("weights", o["bandwidthOver"]!.GetValue<string>());
            long probeBytes = o["bandwidthProbeBytes"]!.GetValue<long>();
            Assert.InRange(probeBytes, 1, new FileInfo(CliRunner.Stories260K).Length);
            Assert.Contains("reading the model's", stdout);
            // Each run's probe names the read loop it chose, one of the candidates the report lists.
            var loops = o["bandwidthReadLoops"]!.AsArray().Select(l => l!.GetValue<string>()).ToList();
            Assert.Equal(2, loops.Count);
            Assert.All(loops, l => Assert.Contains(l, TokenFactory.Compute.MemoryBandwidth.ReadVariants.Select(v => v.ToString())));
            Assert.Contains("streaming read loop (fastest of no prefetch, prefetch 4 KiB ahead", stdout);
            Assert.True(ours["peakRssBytes"]!.GetValue<long>() > 0);
        }
        finally
        {
            File.Delete(json);
        }
    }

    /// <summary>A stand-in for llama.cpp's llama-bench: logs its arguments, prints its JSON array (pp 100 tok/s, tg 10 tok/s).</summary>
    private static string FakeLlamaBench(string dir, bool withPp = true, string beforeRun = "")
    {
        string script = Path.Combine(dir, "llama-bench");
        string pp = withPp ? """{"build_commit": "abc1234", "n_prompt": 16, "n_gen": 0, "avg_ts": 100.0},""" : "";
        File.WriteAllText(script, "#!/usr/bin/env bash\n" +
            $"echo \"$*\" >> '{Path.Combine(dir, "args.log")}'\n" + beforeRun + "\n" +
            $"echo '[{pp} {{\"build_commit\": \"abc1234\", \"n_prompt\": 0, \"n_gen\": 8, \"avg_ts\": 10.0}}]'\n");
        if (!OperatingSystem.IsWindows())
            File.SetUnixFileMode(script, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        return script;
    }

    [Fact]
    public void Runs_a_llama_bench_executable_as_the_peer_once_per_repetition()
    {
        string dir = Directory.CreateTempSubdirectory("tf-llama-bench-").FullName;
        string json = Path.Combine(dir, "out.json");
        try
        {
            string exe = FakeLlamaBench(dir);
            var (code, stdout, stderr) = CliRunner.Run("bench", "model", "--model", CliRunner.Stories260K,
                "-t", "2", "-p", "16", "-n", "8", "--reps", "2", "--bandwidth-mib", "64", "--peer", "llama-bench=" + exe, "--json", json);
            Assert.True(code == 0, stderr);
            Assert.Contains("(llama.cpp abc1234 through llama-bench, same file and threads, alternating per repetition)", stdout);
            Assert.Matches(@"llama\.cpp\s+100\.00 ± 0\.00\s+10\.00 ± 0\.00", stdout);

            // One call per repetition, same file (absolute) and threads, one run each, JSON out.
            string expectedArgs = $"-m {Path.GetFullPath(CliRunner.Stories260K)} -t 2 -p 16 -n 8 -r 1 -o json";
            Assert.Equal([expectedArgs, expectedArgs], File.ReadAllLines(Path.Combine(dir, "args.log")));

            var o = JsonNode.Parse(File.ReadAllText(json))!;
            var peer = o["llama.cpp"]!;
            Assert.Equal("llama-bench", peer["via"]!.GetValue<string>());
            Assert.Equal("abc1234", peer["version"]!.GetValue<string>());
            Assert.Equal([100.0, 100.0], peer["pp"]!["runs"]!.AsArray().Select(v => v!.GetValue<double>()));
            Assert.Equal([10.0, 10.0], peer["tg"]!["runs"]!.AsArray().Select(v => v!.GetValue<double>()));
            double oursTg = o["tokenfactory"]!["tg"]!["mean"]!.GetValue<double>();
            Assert.Equal(Math.Round(oursTg / 10.0, 3), o["ratio"]!["tg"]!.GetValue<double>(), 0.002);
            Assert.False(peer.AsObject().ContainsKey("peakRssBytes") && peer["peakRssBytes"] != null);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void A_llama_bench_peer_that_is_missing_or_lacks_a_test_is_a_clear_error()
    {
        var (code, _, stderr) = CliRunner.Run("bench", "model", "--model", CliRunner.Stories260K, "-p", "16", "-n", "8",
            "--peer", "llama-bench=/nonexistent/llama-bench");
        Assert.NotEqual(0, code);
        Assert.Contains("no llama-bench executable at '/nonexistent/llama-bench'", stderr);

        string dir = Directory.CreateTempSubdirectory("tf-llama-bench-").FullName;
        try
        {
            string exe = FakeLlamaBench(dir, withPp: false);
            (code, _, stderr) = CliRunner.Run("bench", "model", "--model", CliRunner.Stories260K, "-t", "2", "-p", "16", "-n", "8",
                "--reps", "1", "--bandwidth-mib", "0", "--peer", "llama-bench=" + exe);
            Assert.NotEqual(0, code);
            Assert.Contains("llama-bench output lacks the pp16 or tg8 test", stderr);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }

        (code, _, stderr) = CliRunner.Run("bench", "model", "--model", CliRunner.Stories260K, "--peer", "vllm");
        Assert.NotEqual(0, code);
        Assert.Contains("unknown --peer 'vllm'", stderr);
    }

    [Fact]
    public void One_engine_at_a_time_releases_the_model_before_each_peer_run_and_loads_it_again_after()
    {
        string dir = Directory.CreateTempSubdirectory("tf-llama-bench-").FullName;
        try
        {
            // The peer logs how many of its parent's (the benchmark's) mappings are the model file while it runs.
            string model = Path.GetFullPath(CliRunner.Stories260K);
            string exe = FakeLlamaBench(dir, beforeRun: $"grep -c -F '{model}' /proc/$PPID/maps >> '{Path.Combine(dir, "mapped.log")}'");
            string[] args = ["bench", "model", "--model", CliRunner.Stories260K, "-t", "2", "-p", "16", "-n", "8", "--reps", "3",
                "--bandwidth-mib", "0", "--peer", "llama-bench=" + exe];

            var (code, stdout, stderr) = CliRunner.Run([.. args, "--one-engine-at-a-time"]);
            Assert.True(code == 0, stderr);
            Assert.Contains("one engine at a time: ours is loaded afresh for each repetition", stdout);
            Assert.Equal(["0", "0", "0"], File.ReadAllLines(Path.Combine(dir, "mapped.log")));
            // Our load evicts the file's pages: the peer reads its weights into memory rather than fault them in while timed.
            Assert.All(File.ReadAllLines(Path.Combine(dir, "args.log")), a => Assert.EndsWith("-r 1 -o json --load-mode none", a));
            Assert.Equal(3, stderr.Split('\n').Count(l => l.StartsWith("rep ") && l.Contains("tokenfactory: pp ")));

            // Without it the model stays mapped while the peer runs (what the check above would have seen), and the peer maps it too.
            File.Delete(Path.Combine(dir, "mapped.log"));
            File.Delete(Path.Combine(dir, "args.log"));
            (code, _, stderr) = CliRunner.Run(args);
            Assert.True(code == 0, stderr);
            Assert.All(File.ReadAllLines(Path.Combine(dir, "mapped.log")), n => Assert.True(int.Parse(n) > 0));
            Assert.All(File.ReadAllLines(Path.Combine(dir, "args.log")), a => Assert.EndsWith("-r 1 -o json", a));

            (code, _, stderr) = CliRunner.Run("bench", "model", "--model", CliRunner.Stories260K, "-p", "16", "-n", "8", "--peer", "llama.cpp", "--one-engine-at-a-time");
            Assert.NotEqual(0, code);
            Assert.Contains("--one-engine-at-a-time needs --peer llama-bench=PATH", stderr);

            (code, _, stderr) = CliRunner.Run("bench", "model", "--model", CliRunner.Stories260K, "-p", "16", "-n", "8", "--one-engine-at-a-time");
            Assert.NotEqual(0, code);
            Assert.Contains("--one-engine-at-a-time alternates with a peer: give --peer too", stderr);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void The_probe_can_read_a_buffer_of_its_own_instead()
    {
        string json = Path.Combine(Path.GetTempPath(), $"tf-bench-model-{Guid.NewGuid():N}.json");
        try
        {
            var (code, stdout, stderr) = CliRunner.Run("bench", "model", "--model", CliRunner.Stories260K,
                "-t", "2", "-p", "0", "-n", "8", "--reps", "1", "--bandwidth-over", "buffer", "--bandwidth-mib", "16", "--json", json);
            Assert.True(code == 0, stderr);
            Assert.Contains("16 MiB buffer", stdout);
            var o = JsonNode.Parse(File.ReadAllText(json))!;
            Assert.Equal("buffer", o["bandwidthOver"]!.GetValue<string>());
            Assert.Equal(16L << 20, o["bandwidthProbeBytes"]!.GetValue<long>());
        }
        finally
        {
            File.Delete(json);
        }

        var (bad, _, error) = CliRunner.Run("bench", "model", "--model", CliRunner.Stories260K, "--bandwidth-over", "disk");
        Assert.NotEqual(0, bad);
        Assert.Contains("disk", error);
    }

    [Fact]
    public void Nothing_to_measure_is_a_clear_error()
    {
        var (code, _, stderr) = CliRunner.Run("bench", "model", "--model", CliRunner.Stories260K, "-p", "0", "-n", "0");
        Assert.NotEqual(0, code);
        Assert.Contains("nothing to measure", stderr);
    }
}

public sealed class PairedRatioTests
{
    [Fact]
    public void Paired_median_compares_runs_of_the_same_repetition()
    {
        // Repetition 2 was slowed for both engines by a neighbour: the ratio of means moves (1.21), the paired median does not.
        double[] ours = [200, 100, 210], peer = [100, 50, 105];
        Assert.Equal(2.0, Bench.Distribution.PairedMedian(ours, peer)!.Value, 9);
        Assert.Equal(1.75, Bench.Distribution.PairedMedian([150, 200], [100, 100])!.Value, 9);
        Assert.Null(Bench.Distribution.PairedMedian([], [1.0]));
    }
}
