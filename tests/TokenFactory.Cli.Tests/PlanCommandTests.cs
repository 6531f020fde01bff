using System.Globalization;
using System.Text.Json.Nodes;

namespace TokenFactory.Cli.Tests;

/// <summary><c>tokenfactory plan</c>'s scriptable interface: the catalogs, one JSON object with the documented fields, a GGUF model, errors.</summary>
public sealed class PlanCommandTests
{
    [Fact]
    public void The_catalogs_list_their_names()
    {
        var (code, stdout, _) = CliRunner.Run("plan", "--list-hardware");
        Assert.Equal(0, code);
        foreach (var id in new[] { "h100-sxm", "h200-sxm", "b200", "gb200-nvl72", "gb300-nvl72", "vera-rubin-nvl72", "mi325x", "mi355x" })
            Assert.Contains(id, stdout);
        (code, stdout, _) = CliRunner.Run("plan", "--list-models");
        Assert.Equal(0, code);
        foreach (var name in new[] { "llama-3.1-405b", "qwen3-235b-a22b", "gpt-oss-120b", "nemotron-3-nano-30b-a3b", "deepseek-r1" })
            Assert.Contains(name, stdout);
    }

    [Fact]
    public void Json_has_the_scriptable_fields_and_they_agree_with_each_other()
    {
        var (code, stdout, stderr) = CliRunner.Run("plan", "--model", "llama-3.1-8b", "--hardware", "h100-sxm", "--devices", "8", "--precision", "FP8",
            "--isl", "1024", "--osl", "256", "--scenario", "offline", "--tpot-p99", "50", "--json");
        Assert.True(code == 0, stderr);
        var plan = JsonNode.Parse(stdout)!.AsObject();
        foreach (var field in new[] { "tokens_per_second", "tokens_per_second_per_device", "ttft_p99_ms", "tpot_p99_ms", "power_kw", "usd_per_million_output_tokens", "joules_per_token" })
            Assert.True((double)plan[field]! > 0, field);
        Assert.Equal(8, (int)plan["devices"]!);
        Assert.True((double)plan["tpot_p99_ms"]! <= 50);
        Assert.Equal((double)plan["tokens_per_second"]! / 8, (double)plan["tokens_per_second_per_device"]!, 1e-6);
        Assert.Equal((double)plan["power_kw"]! * 1000 / (double)plan["tokens_per_second"]!, (double)plan["joules_per_token"]!, 1e-6);
        Assert.Single(plan["options"]!.AsArray());
    }

    [Fact]
    public void A_gguf_files_own_shape_and_precision_are_planned_and_the_frontier_is_drawn()
    {
        string svg = Path.Combine(Path.GetTempPath(), $"frontier-{Guid.NewGuid():N}.svg");
        var (code, stdout, stderr) = CliRunner.Run("plan", "--model", CliRunner.Stories260K, "--hardware", "h100-sxm", "--isl", "64", "--osl", "32", "--json", "--svg", svg);
        Assert.True(code == 0, stderr);
        var plan = JsonNode.Parse(stdout)!.AsObject();
        Assert.Equal("stories260K", (string?)plan["model"]);
        Assert.Equal("F32", (string?)plan["precision"]);
        Assert.StartsWith("<svg", File.ReadAllText(svg));
    }

    [Fact]
    public void A_dataset_gives_each_request_its_lengths_and_bad_lines_are_errors_naming_the_line()
    {
        string dir = Path.Combine(Path.GetTempPath(), $"plan-dataset-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        try
        {
            // Mostly short chats and a long document every fourth request: the same means as --isl 753 --osl 110.
            string mixed = Path.Combine(dir, "mixed.jsonl");
            File.WriteAllLines(mixed,
            [
                """{"prompt": "a b c d e f g h i j", "output_len": 40}""",
                """{"prompt": "k l m n o p q r s t", "max_tokens": 40}""",
                "",
                """{"input_len": 10, "output_len": 40}""",
                """{"input_len": 2982, "output_len": 320}""",
            ]);
            string[] common = ["--model", "llama-3.1-8b", "--hardware", "h100-sxm", "--scenario", "offline", "--tpot-p99", "30", "--ttft-p99", "300", "--json"];
            var (code, stdout, stderr) = CliRunner.Run(["plan", "--dataset", mixed, .. common]);
            Assert.True(code == 0, stderr);
            var fromDataset = JsonNode.Parse(stdout)!.AsObject();
            Assert.Equal(753, (int)fromDataset["input_tokens"]!);
            Assert.Equal(110, (int)fromDataset["output_tokens"]!);
            (code, stdout, stderr) = CliRunner.Run(["plan", "--isl", "753", "--osl", "110", "--spread", "0", .. common]);
            Assert.True(code == 0, stderr);
            var fromMeans = JsonNode.Parse(stdout)!.AsObject();
            // The long quarter of the requests sets the first-token tail: the mix is planned differently from its means.
            Assert.NotEqual((double)fromMeans["ttft_p99_ms"]!, (double)fromDataset["ttft_p99_ms"]!);

            (code, _, stderr) = CliRunner.Run(["plan", "--dataset", mixed, "--isl", "100", .. common]);
            Assert.NotEqual(0, code);
            Assert.Contains("--isl and --dataset cannot be used together", stderr);
            string bad = Path.Combine(dir, "bad.jsonl");
            File.WriteAllLines(bad, ["""{"input_len": 10}""", """{"output_len": 5}"""]);
            (code, _, stderr) = CliRunner.Run(["plan", "--dataset", bad, .. common]);
            Assert.NotEqual(0, code);
            Assert.Contains("line 2", stderr);
            Assert.Contains("\"input_len\"", stderr);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void Priority_classes_are_planned_and_bad_ones_are_errors()
    {
        var (code, stdout, stderr) = CliRunner.Run("plan", "--model", "llama-3.1-70b", "--hardware", "h100-sxm", "--precision", "FP8", "--isl", "1000",
            "--osl", "200", "--tokens-per-day", "2e9", "--class", "interactive:0.3:ttft-p99=500:tpot-p99=30", "--class", "batch:0.7:ttft-p99=60000", "--json");
        Assert.True(code == 0, stderr);
        var classes = JsonNode.Parse(stdout)!["classes"]!.AsArray();
        Assert.Equal(["interactive", "batch"], classes.Select(c => (string)c!["name"]!));
        Assert.True((double)classes[0]!["ttft_p99_ms"]! <= 500);
        Assert.True((bool)classes[0]!["met"]!);
        // The text answer names each class and whether it meets its targets.
        (code, stdout, stderr) = CliRunner.Run("plan", "--model", "llama-3.1-70b", "--hardware", "h100-sxm", "--precision", "FP8", "--isl", "1000",
            "--osl", "200", "--tokens-per-day", "2e9", "--class", "interactive:0.3:ttft-p99=500:tpot-p99=30", "--class", "batch:0.7:ttft-p99=60000");
        Assert.True(code == 0, stderr);
        Assert.Contains("class interactive (0.3):", stdout);
        Assert.Contains("meets its targets", stdout);
        foreach (var (args, message) in new (string[], string)[]
        {
            (["--class", "a:x"], "the share 'x' must be a positive number"),
            (["--class", "a:1:ttft=3"], "unknown target 'ttft'"),
            (["--class", "a:1", "--ttft-p99", "5"], "--ttft-p99 and --class cannot be used together"),
            (["--class", "a:1", "--class", "a:2"], "each class needs its own name"),
            (["--class", "a:1:ttft-p99=5:ttft-p99=9"], "'ttft-p99' is given twice"),
        })
        {
            (code, _, stderr) = CliRunner.Run(["plan", "--model", "llama-3.1-70b", "--hardware", "h100-sxm", .. args]);
            Assert.NotEqual(0, code);
            Assert.Contains(message, stderr);
        }
    }

    [Fact]
    public void Calibration_measures_every_workload_each_round_with_the_bandwidth_around_it_and_saves_a_profile()
    {
        string profile = Path.Combine(Path.GetTempPath(), $"planner-cpu-{Guid.NewGuid():N}.json");
        try
        {
            var (code, stdout, stderr) = CliRunner.Run("plan", "calibrate", "--model-file", CliRunner.Stories260K, "--threads", "1", "--rounds", "2", "--out", profile);
            Assert.True(code == 0, stderr);
            Assert.Contains("saved", stdout);
            // Six workloads, two measured rounds each (the warm-up round is not reported), each with the bandwidth and the products' rate probed around it.
            var runs = stderr.Split('\n').Where(l => l.Contains("output tokens/s")).ToList();
            Assert.Equal(12, runs.Count);
            Assert.All(runs, l => Assert.Matches(@"[0-9.]+ GB/s around it, products at [0-9]+ GFLOPS", l));
            Assert.Equal(runs.Take(6).Select(l => l.Split(':')[0]), runs.Skip(6).Select(l => l.Split(':')[0]));
            var saved = JsonNode.Parse(File.ReadAllText(profile))!.AsObject();
            Assert.True((double)saved["memory_bandwidth_tbps"]! > 0);
            Assert.InRange((double)saved["memory_efficiency"]!, 0.01, 1);
            Assert.True((double)saved["effective_tflops"]! > 0); // the products, probed
            // ... by the rows they multiply, the effective rate being the most rows'
            var rates = saved["product_rates"]!["points"]!.AsArray();
            Assert.Equal([16, 32, 64, 128], rates.Select(p => (int)p!["tokens"]!));
            Assert.All(rates, p => Assert.True((double)p!["tflops"]! > 0));
            Assert.Equal((double)saved["effective_tflops"]!, (double)rates[^1]!["tflops"]!);
            Assert.True((double)saved["elements_per_second"]! > 0); // the rest of a token's work, fitted beside them
            Assert.InRange((double)saved["unoverlapped_share"]!, 0, 1);
            Assert.True((double)saved["layer_overhead_ms"]! >= 0);
            (code, _, stderr) = CliRunner.Run("plan", "calibrate", "--model-file", CliRunner.Stories260K, "--rounds", "0", "--out", profile);
            Assert.NotEqual(0, code);
            Assert.Contains("--rounds must be at least 1", stderr);
        }
        finally
        {
            File.Delete(profile);
        }
    }

    [Fact]
    public void Check_predicts_and_measures_each_held_out_workload_of_both_models_and_reports_the_errors()
    {
        // The other model: the same small file under another name (a shape of its own would only slow the test).
        string dir = Path.Combine(Path.GetTempPath(), $"plan-check-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        string other = Path.Combine(dir, "other.gguf");
        File.Copy(CliRunner.Stories260K, other);
        try
        {
            var (code, stdout, stderr) = CliRunner.Run("plan", "check", "--model-file", CliRunner.Stories260K, "--other-model-file", other, "--threads", "1", "--rounds", "1");
            Assert.True(code == 0, stderr);
            Assert.Matches(@"calibrated on stories260K\.gguf: products 16: [0-9]+, 32: [0-9]+, 64: [0-9]+, 128: [0-9]+ GFLOPS by rows", stdout);
            // Three held-out closed loops and a Poisson trace per model, each a table row of 13 cells with the probes around it.
            var rows = stdout.Split('\n').Where(l => l.StartsWith("| stories260K.gguf |", StringComparison.Ordinal) || l.StartsWith("| other.gguf |", StringComparison.Ordinal)).ToList();
            Assert.Equal(8, rows.Count);
            foreach (var row in rows)
            {
                var cells = row.Trim().Trim('|').Split('|').Select(c => c.Trim()).ToArray();
                Assert.Equal(13, cells.Length);
                Assert.True(double.Parse(cells[2], CultureInfo.InvariantCulture) > 0, row); // GB/s probed around it
                Assert.True(double.Parse(cells[3], CultureInfo.InvariantCulture) > 0, row); // the products' rate around it
                Assert.True(double.Parse(cells[5], CultureInfo.InvariantCulture) > 0, row); // measured tokens/s
            }
            Assert.Equal(2, rows.Count(r => r.Contains("Poisson", StringComparison.Ordinal)));
            Assert.Matches(@"mean \|error\| [0-9.]+ %, worst [0-9.]+ % over 24 figures", stdout);
            Assert.Matches(@"with the products' rates as probed once rather than around each run: mean [0-9.]+ %", stdout);
            Assert.Matches(@"other\.gguf: products probed at 16: [0-9]+", stdout); // the other model's own rates
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void Expert_parallelism_is_reported_fixed_on_request_and_refused_where_it_cannot_apply()
    {
        var (code, stdout, stderr) = CliRunner.Run("plan", "--model", "deepseek-r1", "--hardware", "b200", "--devices", "8", "--precision", "FP4",
            "--isl", "800", "--osl", "1000", "--scenario", "offline", "--tp", "2", "--ep", "4", "--json");
        Assert.True(code == 0, stderr);
        var plan = JsonNode.Parse(stdout)!.AsObject();
        Assert.Equal(2, (int)plan["tensor_parallel"]!);
        Assert.Equal(4, (int)plan["expert_parallel"]!);
        Assert.Equal(8, (int)plan["devices"]!);
        Assert.All(plan["frontier"] is null ? plan["options"]![0]!["frontier"]!.AsArray() : plan["frontier"]!.AsArray(), p => Assert.Equal(4, (int)p!["expert_parallel"]!));

        (code, stdout, stderr) = CliRunner.Run("plan", "--model", "deepseek-r1", "--hardware", "b200", "--devices", "8", "--precision", "FP4", "--isl", "800", "--osl", "1000", "--scenario", "offline");
        Assert.True(code == 0, stderr);
        // The text row: hardware, TP, EP, replicas, devices.
        var row = System.Text.RegularExpressions.Regex.Match(stdout, @"^b200\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)", System.Text.RegularExpressions.RegexOptions.Multiline);
        Assert.True(row.Success, stdout);
        Assert.True(int.Parse(row.Groups[2].Value) > 1, stdout);
        Assert.Equal(8, int.Parse(row.Groups[4].Value));

        (code, _, stderr) = CliRunner.Run("plan", "--model", "llama-3.1-8b", "--hardware", "b200", "--ep", "2");
        Assert.NotEqual(0, code);
        Assert.Contains("--ep 2", stderr);
        Assert.Contains("mixture", stderr);
        (code, _, stderr) = CliRunner.Run("plan", "--model", "mixtral-8x7b", "--hardware", "b200", "--ep", "16");
        Assert.NotEqual(0, code);
        Assert.Contains("8 routed experts", stderr);
        // An expert-parallel degree the hardware cannot take is an infeasible option with the reason, not a crash.
        (code, stdout, stderr) = CliRunner.Run("plan", "--model", "deepseek-r1", "--hardware", "b200", "--ep", "16", "--json");
        Assert.True(code == 0, stderr);
        Assert.False((bool)JsonNode.Parse(stdout)!["feasible"]!);
        Assert.Contains("expert parallelism of 16", (string?)JsonNode.Parse(stdout)!["why"]);
        (code, _, stderr) = CliRunner.Run("plan", "--model", "mixtral-8x7b", "--hardware", "b200", "--ep", "0");
        Assert.NotEqual(0, code);
        Assert.Contains("--ep must be at least 1", stderr);
    }

    [Fact]
    public void Unknown_names_are_errors_that_list_the_catalog()
    {
        var (code, _, stderr) = CliRunner.Run("plan", "--model", "llama-9", "--hardware", "h100-sxm");
        Assert.NotEqual(0, code);
        Assert.Contains("llama-3.1-8b", stderr);
        (code, _, stderr) = CliRunner.Run("plan", "--model", "llama-3.1-8b", "--hardware", "tpu-v9");
        Assert.NotEqual(0, code);
        Assert.Contains("h100-sxm", stderr);
        (code, _, stderr) = CliRunner.Run("plan", "--model", "llama-3.1-8b", "--hardware", "this-machine", "--profile", "/nonexistent/profile.json");
        Assert.NotEqual(0, code);
        Assert.Contains("plan calibrate", stderr);
    }
}
