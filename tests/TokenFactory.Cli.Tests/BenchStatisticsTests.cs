using TokenFactory.Cli.Bench;

namespace TokenFactory.Cli.Tests;

public sealed class BenchStatisticsTests
{
    [Fact]
    public void Percentiles_interpolate_between_ranks_like_numpy()
    {
        double[] sorted = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
        Assert.Equal(5.5, Distribution.Percentile(sorted, 50), 9);
        Assert.Equal(9.1, Distribution.Percentile(sorted, 90), 9);
        Assert.Equal(9.91, Distribution.Percentile(sorted, 99), 9);
        Assert.Equal(7, Distribution.Percentile([7], 99));
        var d = Distribution.Of([10, 0, 5]);
        Assert.Equal(5, d.Mean);
        Assert.Equal(5, d.Median);
        Assert.Equal(3, d.Count);
        Assert.Equal(Distribution.Empty, Distribution.Of([]));
    }

    private static RequestResult Ok(double ttft, double latency, int tokens, int prompt = 10) => new()
    {
        Success = true, PromptTokens = prompt, OutputTokens = tokens, TtftMs = ttft, LatencyMs = latency,
        InterTokenMs = Enumerable.Repeat((latency - ttft) / Math.Max(1, tokens - 1), tokens - 1).ToList(),
    };

    [Fact]
    public void Summary_counts_throughput_tpot_and_goodput()
    {
        var results = new List<RequestResult>
        {
            Ok(100, 1100, 11),   // TPOT 100
            Ok(300, 800, 11),    // TPOT 50
            Ok(900, 1400, 11),   // TPOT 50, TTFT too slow
            new() { Success = false, Error = "HTTP 503" },
        };
        var slo = Slo.Parse(["ttft:500", "tpot:60"]);
        var s = BenchSummary.From(results, durationSeconds: 2, slo);
        Assert.Equal(3, s.Completed);
        Assert.Equal(1, s.Failed);
        Assert.Equal(33, s.TotalOutputTokens);
        Assert.Equal(16.5, s.OutputThroughput, 9);
        Assert.Equal((30 + 33) / 2.0, s.TotalTokenThroughput, 9);
        Assert.Equal(1.5, s.RequestThroughput, 9);
        Assert.Equal(0.5, s.Goodput); // only the second meets both
        Assert.Equal(200.0 / 3, s.Tpot.Mean, 9);
        Assert.Equal(30, s.Itl.Count);
        Assert.Equal(["HTTP 503"], s.Errors);
        Assert.Null(BenchSummary.From(results, 2).Goodput);
    }

    [Fact]
    public void Goodput_syntax_errors_are_explained()
    {
        Assert.Throws<TokenFactoryException>(() => Slo.Parse(["ttft=5"]));
        Assert.Throws<TokenFactoryException>(() => Slo.Parse(["latency:5"]));
        Assert.Equal(new Slo(E2eMs: 2000), Slo.Parse(["e2el:2000"]));
    }

    [Fact]
    public void Synthetic_workload_is_deterministic_and_shares_its_prefix()
    {
        var a = BenchWorkload.Synthetic(3, 16, 8, sharedPrefix: 20, seed: 1);
        var b = BenchWorkload.Synthetic(3, 16, 8, sharedPrefix: 20, seed: 1);
        Assert.Equal(a, b);
        Assert.All(a, r => Assert.Equal(36, r.Prompt.Split(' ').Length));
        string prefix = string.Join(' ', a[0].Prompt.Split(' ')[..20]);
        Assert.All(a, r => Assert.StartsWith(prefix, r.Prompt));
        Assert.NotEqual(a[0].Prompt, a[1].Prompt);
    }
}
