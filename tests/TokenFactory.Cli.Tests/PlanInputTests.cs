using System.Text.Json.Nodes;

namespace TokenFactory.Cli.Tests;

/// <summary>
/// <c>tokenfactory plan</c> refuses what makes no sense, naming the option, before it plans (a step budget of no tokens
/// looped forever; NaN or zero shares became "feasible" plans of no devices), and says when a plan cannot hold a request.
/// </summary>
public sealed class PlanInputTests
{
    private static readonly string[] Base = ["plan", "--model", "llama-3.1-8b", "--hardware", "h100-sxm", "--json"];

    [Theory]
    [InlineData("--max-batch-tokens", "0")]
    [InlineData("--max-batch-tokens", "-3")]
    [InlineData("--isl", "0")]
    [InlineData("--osl", "-5")]
    [InlineData("--spread", "5")]
    [InlineData("--spread", "NaN")]
    [InlineData("--utilization", "0")]
    [InlineData("--utilization", "NaN")]
    [InlineData("--pue", "NaN")]
    [InlineData("--pue", "0.5")]
    [InlineData("--ttft-p99", "-5")]
    [InlineData("--tpot-p50", "Infinity")]
    [InlineData("--tokens-per-day", "-5")]
    [InlineData("--devices", "0")]
    [InlineData("--usd-per-kwh", "-1")]
    [InlineData("--power-cap-mw", "0")]
    public void A_number_that_makes_no_sense_is_refused_naming_its_option(string option, string value)
    {
        var (code, stdout, stderr) = CliRunner.Run([.. Base, option, value]);
        Assert.Equal(1, code);
        Assert.Equal("", stdout);
        Assert.StartsWith("error: " + option, stderr);
        Assert.DoesNotContain("   at ", stderr);
    }

    [Theory]
    [InlineData("--people and --tokens-per-day", "--people", "100", "--tokens-per-day", "2e9")]
    [InlineData("--salary is part of the token-budget form", "--salary", "300000")]
    [InlineData("--usd-per-mtok must be a positive price", "--people", "100", "--usd-per-mtok", "0")]
    [InlineData("--devices reports what", "--devices", "8", "--tokens-per-day", "2e9")]
    [InlineData("--profile /nonexistent/p.json: no such file", "--profile", "/nonexistent/p.json")]
    public void Options_that_contradict_each_other_or_point_nowhere_are_refused(string message, params string[] args)
    {
        var (code, _, stderr) = CliRunner.Run([.. Base, .. args]);
        Assert.Equal(1, code);
        Assert.Contains(message, stderr);
    }

    [Fact]
    public void A_plan_that_cannot_hold_one_request_is_infeasible_and_says_why()
    {
        JsonObject Plan(params string[] args)
        {
            var (code, stdout, stderr) = CliRunner.Run(["plan", "--json", .. args]);
            Assert.True(code == 0, stderr);
            return JsonNode.Parse(stdout)!.AsObject();
        }
        // Llama 2 70B reads 4,096 tokens.
        var longer = Plan("--model", "llama-2-70b", "--hardware", "h100-sxm", "--precision", "FP8", "--isl", "8000", "--osl", "1000");
        Assert.False((bool)longer["feasible"]!);
        Assert.Contains("context of 4096", (string)longer["why"]!);
        // 70B at FP8 on one 80 GB H100 leaves about 1.5 GB: not one 16,000-token request's cache (about 2.7 GB).
        var crowded = Plan("--model", "llama-3.1-70b", "--hardware", "h100-sxm", "--precision", "FP8", "--tp", "1", "--isl", "16000", "--osl", "256", "--spread", "0");
        Assert.False((bool)crowded["feasible"]!);
        Assert.Contains("no room for one request's cache", (string)crowded["why"]!);
        // Tensor parallelism stays in the 8-GPU NVLink domain.
        var wide = Plan("--model", "llama-3.1-8b", "--hardware", "h100-sxm", "--tp", "16");
        Assert.False((bool)wide["feasible"]!);
        Assert.Contains("8-device interconnect domain", (string)wide["why"]!);
    }

    [Fact]
    public void The_energy_price_is_reported_as_the_energy_cost_of_a_million_tokens()
    {
        double Energy(string price)
        {
            var (code, stdout, stderr) = CliRunner.Run([.. Base, "--devices", "8", "--usd-per-kwh", price]);
            Assert.True(code == 0, stderr);
            var plan = JsonNode.Parse(stdout)!;
            double expected = (double)plan["power_kw"]! * double.Parse(price, System.Globalization.CultureInfo.InvariantCulture) / ((double)plan["tokens_per_second"]! * 3600) * 1e6;
            Assert.Equal(expected, (double)plan["energy_usd_per_million_output_tokens"]!, 1e-9);
            return (double)plan["energy_usd_per_million_output_tokens"]!;
        }
        Assert.Equal(2 * Energy("0.1"), Energy("0.2"), 1e-9);
    }

    [Fact]
    public void A_catalog_entry_that_is_empty_or_missing_a_figure_is_an_error_naming_it()
    {
        string dir = Directory.CreateTempSubdirectory("tf-catalog-").FullName;
        try
        {
            string empty = Path.Combine(dir, "empty.yaml"), noBandwidth = Path.Combine(dir, "bandwidth.yaml");
            File.WriteAllText(empty, "- id: x1\n  name: X1\n  memory_gb: 80\n  memory_bandwidth_tbps: 3\n  peak_tflops: {bf16: 900}\n  tdp_watts: 700\n-\n");
            File.WriteAllText(noBandwidth, "- id: x2\n  name: X2\n  memory_gb: 80\n  peak_tflops: {bf16: 900}\n  tdp_watts: 700\n");
            var (code, _, stderr) = CliRunner.Run("plan", "--model", "llama-3.1-8b", "--hardware", "x1", "--catalog", empty);
            Assert.Equal(1, code);
            Assert.Contains("entry 2 is empty", stderr);
            Assert.DoesNotContain("   at ", stderr);
            (code, _, stderr) = CliRunner.Run("plan", "--model", "llama-3.1-8b", "--hardware", "x2", "--catalog", noBandwidth);
            Assert.Equal(1, code);
            Assert.Contains("entry 1: x2: memory_gb and memory_bandwidth_tbps must be positive", stderr);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void Check_and_calibrate_refuse_what_would_fail_after_minutes_of_measuring()
    {
        var (code, _, stderr) = CliRunner.Run("plan", "check", "--model-file", "/nonexistent/m.gguf");
        Assert.Equal(1, code);
        Assert.StartsWith("error: /nonexistent/m.gguf: no such model file", stderr);
        (code, _, stderr) = CliRunner.Run("plan", "check", "--model-file", CliRunner.Stories260K, "--other-model-file", "/nonexistent/other.gguf");
        Assert.Equal(1, code);
        Assert.Contains("/nonexistent/other.gguf: no such model file", stderr);
        (code, _, stderr) = CliRunner.Run("plan", "check", "--model-file", CliRunner.Stories260K, "--poisson-fraction", "0");
        Assert.Equal(1, code);
        Assert.Contains("--poisson-fraction", stderr);
        (code, _, stderr) = CliRunner.Run("plan", "calibrate", "--model-file", CliRunner.Stories260K, "--out", Path.GetTempPath());
        Assert.Equal(1, code);
        Assert.Contains("is a directory", stderr);
        Assert.DoesNotContain("   at ", stderr);
    }
}
