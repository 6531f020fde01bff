using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using Spectre.Console;

namespace TokenFactory.Cli.Bench;

/// <summary>Prints a summary as a table (vLLM benchmark_serving's layout) and writes it as JSON.</summary>
public static class BenchReport
{
    private static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    public static void PrintTable(BenchSummary s, string title)
    {
        var table = new Table().Title(title).AddColumn("metric").AddColumn(new TableColumn("value").RightAligned());
        void Row(string name, string value) => table.AddRow(Markup.Escape(name), Markup.Escape(value));
        string F(double v, int digits = 2) => v.ToString("F" + digits, CultureInfo.InvariantCulture);
        Row("Successful requests", s.Completed.ToString(CultureInfo.InvariantCulture));
        Row("Failed requests", s.Failed.ToString(CultureInfo.InvariantCulture));
        Row("Benchmark duration (s)", F(s.DurationSeconds));
        Row("Total input tokens", s.TotalInputTokens.ToString(CultureInfo.InvariantCulture));
        Row("Total generated tokens", s.TotalOutputTokens.ToString(CultureInfo.InvariantCulture));
        Row("Request throughput (req/s)", F(s.RequestThroughput, 3));
        Row("Output token throughput (tok/s)", F(s.OutputThroughput));
        Row("Total token throughput (tok/s)", F(s.TotalTokenThroughput));
        if (s.Goodput is double g)
            Row("Request goodput (req/s)", F(g, 3));
        foreach (var (name, d) in new[] { ("TTFT", s.Ttft), ("TPOT", s.Tpot), ("ITL", s.Itl), ("E2E latency", s.E2el) })
        {
            Row($"Mean {name} (ms)", F(d.Mean));
            Row($"Median {name} (ms)", F(d.Median));
            Row($"P90 {name} (ms)", F(d.P90));
            Row($"P99 {name} (ms)", F(d.P99));
        }
        AnsiConsole.Write(table);
        foreach (var e in s.Errors)
            AnsiConsole.MarkupLine($"[red]error:[/] {Markup.Escape(e)}");
    }

    public static string ToJson(BenchSummary s, IReadOnlyDictionary<string, object?> config, IReadOnlyList<RequestResult>? results = null)
    {
        var doc = new Dictionary<string, object?>
        {
            ["config"] = config,
            ["completed"] = s.Completed,
            ["failed"] = s.Failed,
            ["duration_s"] = s.DurationSeconds,
            ["total_input_tokens"] = s.TotalInputTokens,
            ["total_output_tokens"] = s.TotalOutputTokens,
            ["request_throughput"] = s.RequestThroughput,
            ["output_throughput"] = s.OutputThroughput,
            ["total_token_throughput"] = s.TotalTokenThroughput,
            ["request_goodput"] = s.Goodput,
            ["ttft_ms"] = s.Ttft,
            ["tpot_ms"] = s.Tpot,
            ["itl_ms"] = s.Itl,
            ["e2el_ms"] = s.E2el,
            ["errors"] = s.Errors,
        };
        if (results != null)
            doc["requests"] = results.Select(r => new { r.Success, r.Error, r.PromptTokens, r.OutputTokens, r.TtftMs, r.TpotMs, r.LatencyMs });
        return JsonSerializer.Serialize(doc, Json);
    }
}
