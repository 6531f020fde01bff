using Spectre.Console;

namespace TokenFactory.Cli.Bench;

/// <summary>Runs a workload against a target with a progress bar, then prints the table and writes the JSON.</summary>
public static class BenchRunner
{
    public static async Task<BenchSummary> RunAsync(IBenchTarget target, IReadOnlyList<BenchRequest> requests, int concurrency,
        double? rate, int seed, int warmup, Slo slo, string title, string? jsonPath, IReadOnlyDictionary<string, object?> config)
    {
        for (int i = 0; i < warmup; i++)
        {
            var w = await target.SendAsync(requests[i % requests.Count] with { OutputTokens = Math.Min(8, requests[0].OutputTokens) }, () => { }, CancellationToken.None);
            if (!w.Success)
                throw new TokenFactoryException($"warm-up request failed: {w.Error}");
        }
        List<RequestResult> results = [];
        double duration = 0;
        long expectedTokens = requests.Sum(r => (long)r.OutputTokens);
        var progress = AnsiConsole.Progress().AutoClear(false).HideCompleted(false)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new SpinnerColumn());
        await progress.StartAsync(async ctx =>
        {
            var req = ctx.AddTask("requests", maxValue: requests.Count);
            var tok = ctx.AddTask("tokens", maxValue: Math.Max(1, expectedTokens));
            (results, duration) = await ServingBenchmark.RunAsync(target, requests, concurrency, rate, seed,
                done => req.Value = done, () => tok.Increment(1));
            req.Value = requests.Count;
            tok.Value = tok.MaxValue;
        });
        var summary = BenchSummary.From(results, duration, slo);
        BenchReport.PrintTable(summary, title);
        if (jsonPath != null)
        {
            File.WriteAllText(jsonPath, BenchReport.ToJson(summary, config, results));
            AnsiConsole.MarkupLine($"wrote {Markup.Escape(jsonPath)}");
        }
        return summary;
    }
}
