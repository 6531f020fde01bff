using System.CommandLine;
using System.Globalization;
using TokenFactory.Cli.Bench;

namespace TokenFactory.Cli.Commands;

/// <summary>The workload options <c>bench serve</c> and <c>bench engine</c> share, and how they become requests.</summary>
internal sealed class BenchWorkloadOptions
{
    public Option<int> Concurrency { get; } = new("--concurrency", "-c") { Description = "Requests in flight at most", DefaultValueFactory = _ => 1 };
    public Option<int> Requests { get; } = new("--requests", "-n") { Description = "Requests to send", DefaultValueFactory = _ => 16 };
    public Option<double?> Rate { get; } = new("--request-rate") { Description = "Poisson arrivals at this many requests/s (default: all at once)" };
    public Option<int> InputLen { get; } = new("--input-len") { Description = "Prompt length in words (about one token each)", DefaultValueFactory = _ => 16 };
    public Option<int> OutputLen { get; } = new("--output-len") { Description = "Tokens to generate per request", DefaultValueFactory = _ => 128 };
    public Option<int> SharedPrefix { get; } = new("--shared-prefix") { Description = "Words of a prefix every prompt starts with (prefix caching)", DefaultValueFactory = _ => 0 };
    public Option<string?> Dataset { get; } = new("--dataset") { Description = "JSON lines {\"prompt\": ..., \"output_len\": K} instead of synthetic prompts" };
    public Option<string[]> Goodput { get; } = new("--goodput") { Description = "SLOs for goodput, e.g. ttft:500 tpot:100 (e2el:MS too)", AllowMultipleArgumentsPerToken = true };
    public Option<string?> Json { get; } = new Option<string?>("--json") { Description = "Write the results as JSON to this file" }.WritableFile();
    public Option<int> Seed { get; } = new("--seed") { Description = "Seed for prompts and arrivals", DefaultValueFactory = _ => 0 };
    public Option<int> Warmup { get; } = new("--warmup") { Description = "Warm-up requests (8 tokens, not counted)", DefaultValueFactory = _ => 1 };

    public void AddTo(Command cmd)
    {
        foreach (var o in new Option[] { Concurrency, Requests, Rate, InputLen, OutputLen, SharedPrefix, Dataset, Goodput, Json, Seed, Warmup })
            cmd.Options.Add(o);
    }

    public List<BenchRequest> Build(ParseResult r)
    {
        if (r.GetValue(Requests) < 1 || r.GetValue(Concurrency) < 1)
            throw new TokenFactoryException("--requests and --concurrency must be at least 1.");
        string? dataset = r.GetValue(Dataset);
        return dataset != null
            ? BenchWorkload.FromDataset(dataset, r.GetValue(Requests), r.GetValue(OutputLen))
            : BenchWorkload.Synthetic(r.GetValue(Requests), r.GetValue(InputLen), r.GetValue(OutputLen), r.GetValue(SharedPrefix), r.GetValue(Seed));
    }

    public Dictionary<string, object?> Config(ParseResult r) => new()
    {
        ["concurrency"] = r.GetValue(Concurrency),
        ["requests"] = r.GetValue(Requests),
        ["request_rate"] = r.GetValue(Rate),
        ["input_len"] = r.GetValue(Dataset) == null ? r.GetValue(InputLen) : null,
        ["output_len"] = r.GetValue(OutputLen),
        ["shared_prefix"] = r.GetValue(SharedPrefix),
        ["dataset"] = r.GetValue(Dataset),
        ["goodput"] = string.Join(' ', r.GetValue(Goodput) ?? []),
        ["seed"] = r.GetValue(Seed),
        ["started"] = DateTime.UtcNow.ToString("o", CultureInfo.InvariantCulture),
    };

    public Task<BenchSummary> RunAsync(ParseResult r, IBenchTarget target, string title, Dictionary<string, object?> extraConfig)
    {
        var requests = Build(r);
        var config = Config(r);
        foreach (var (k, v) in extraConfig)
            config[k] = v;
        return BenchRunner.RunAsync(target, requests, r.GetValue(Concurrency), r.GetValue(Rate), r.GetValue(Seed), r.GetValue(Warmup),
            Slo.Parse(r.GetValue(Goodput) ?? []), title, r.GetValue(Json), config);
    }
}
