using System.CommandLine;
using TokenFactory.Cli.Bench;

namespace TokenFactory.Cli.Commands;

/// <summary>
/// <c>tokenfactory bench serve</c>: load-tests any OpenAI-compatible server (ours, llama.cpp's, vLLM's)
/// with streaming completions and reports throughput, goodput and TTFT/TPOT/ITL/E2E latency percentiles.
/// </summary>
internal static class BenchServeCommand
{
    public static Command Create()
    {
        var url = new Option<string>("--url") { Description = "Server base URL", DefaultValueFactory = _ => "http://127.0.0.1:8080" };
        var model = new Option<string>("--model", "-m") { Description = "Model name sent in requests", DefaultValueFactory = _ => "default" };
        var endpoint = new Option<string>("--endpoint") { Description = "completions or chat", DefaultValueFactory = _ => "completions" };
        endpoint.AcceptOnlyFromAmong("completions", "chat");
        var timeout = new Option<int>("--timeout") { Description = "Per-request timeout in seconds", DefaultValueFactory = _ => 600 }.AtLeast(1);
        var workload = new BenchWorkloadOptions();
        var cmd = new Command("serve", "Benchmark an OpenAI-compatible server: throughput, goodput, TTFT/TPOT/ITL/E2E percentiles. "
            + "The API key comes from $OPENAI_API_KEY (sent as Authorization: Bearer when set).")
        {
            url, model, endpoint, timeout,
        };
        workload.AddTo(cmd);
        cmd.SetAction(async (r, cancellation) =>
        {
            try
            {
                var baseUrl = new Uri(r.GetValue(url)!.TrimEnd('/') + "/");
                using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 1024, PooledConnectionLifetime = TimeSpan.FromMinutes(10) })
                {
                    Timeout = TimeSpan.FromSeconds(r.GetValue(timeout)),
                };
                // A server with API keys (tokenfactory serve without --no-auth) needs one; the variable keeps it out of `ps`.
                if (Environment.GetEnvironmentVariable("OPENAI_API_KEY") is { Length: > 0 } apiKey)
                    http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", apiKey);
                var target = new OpenAiTarget(http, baseUrl, r.GetValue(model)!, r.GetValue(endpoint) == "chat");
                await workload.RunAsync(r, target, $"Serving benchmark: {baseUrl}", new()
                {
                    ["url"] = baseUrl.ToString(),
                    ["model"] = r.GetValue(model),
                    ["endpoint"] = r.GetValue(endpoint),
                });
                return 0;
            }
            catch (Exception e) when (e is TokenFactoryException or HttpRequestException or IOException or UriFormatException)
            {
                Console.Error.WriteLine($"error: {e.Message}");
                return 1;
            }
        });
        return cmd;
    }
}
