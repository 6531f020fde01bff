using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;
using TokenFactory.Cli.Bench;

namespace TokenFactory.Cli.Tests;

/// <summary>The HTTP client end to end against a tiny in-test SSE server that streams like an OpenAI server.</summary>
public sealed class OpenAiTargetTests
{
    private sealed class FakeServer : IDisposable
    {
        private readonly HttpListener _listener = new();
        private readonly Task _loop;
        public readonly List<JsonNode> Bodies = [];

        public FakeServer()
        {
            int port = FreePort();
            Url = new Uri($"http://127.0.0.1:{port}/");
            _listener.Prefixes.Add(Url.ToString());
            _listener.Start();
            _loop = Task.Run(Loop);
        }

        public Uri Url { get; }

        private static int FreePort()
        {
            using var l = new TcpListener(IPAddress.Loopback, 0);
            l.Start();
            return ((IPEndPoint)l.LocalEndpoint).Port;
        }

        private async Task Loop()
        {
            while (_listener.IsListening)
            {
                HttpListenerContext ctx;
                try
                {
                    ctx = await _listener.GetContextAsync();
                }
                catch (Exception)
                {
                    return;
                }
                _ = Task.Run(() => Serve(ctx));
            }
        }

        private async Task Serve(HttpListenerContext ctx)
        {
            using var reader = new StreamReader(ctx.Request.InputStream);
            var body = JsonNode.Parse(await reader.ReadToEndAsync())!;
            lock (Bodies)
                Bodies.Add(body);
            if (body["model"]?.GetValue<string>() == "busy")
            {
                ctx.Response.StatusCode = 503;
                await ctx.Response.OutputStream.WriteAsync("{\"error\":{\"message\":\"overloaded\"}}"u8.ToArray());
                ctx.Response.Close();
                return;
            }
            bool chat = ctx.Request.Url!.AbsolutePath.EndsWith("chat/completions", StringComparison.Ordinal);
            int n = body["max_tokens"]!.GetValue<int>();
            ctx.Response.ContentType = "text/event-stream";
            var output = ctx.Response.OutputStream;
            async Task Send(string json)
            {
                await output.WriteAsync(Encoding.UTF8.GetBytes($"data: {json}\n\n"));
                await output.FlushAsync();
            }
            if (chat)
                await Send("{\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}");
            for (int i = 0; i < n; i++)
            {
                await Task.Delay(5);
                string piece = $" w{i}";
                await Send(chat
                    ? $"{{\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"{piece}\"}}}}]}}"
                    : $"{{\"choices\":[{{\"index\":0,\"text\":\"{piece}\"}}]}}");
            }
            await Send($"{{\"choices\":[],\"usage\":{{\"prompt_tokens\":42,\"completion_tokens\":{n}}}}}");
            await output.WriteAsync("data: [DONE]\n\n"u8.ToArray());
            ctx.Response.Close();
        }

        public void Dispose()
        {
            _listener.Stop();
            _listener.Close();
            _loop.Wait(TimeSpan.FromSeconds(5));
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Streams_tokens_and_measures_ttft_itl_and_usage(bool chat)
    {
        using var server = new FakeServer();
        using var http = new HttpClient();
        var target = new OpenAiTarget(http, server.Url, "m", chat);
        int seen = 0;
        var r = await target.SendAsync(new BenchRequest("hello there", 6), () => seen++, CancellationToken.None);
        Assert.True(r.Success, r.Error);
        Assert.Equal(6, seen);
        Assert.Equal(6, r.OutputTokens);
        Assert.Equal(42, r.PromptTokens);
        Assert.Equal(5, r.InterTokenMs.Count);
        Assert.True(r.TtftMs > 0 && r.TtftMs <= r.LatencyMs);
        Assert.All(r.InterTokenMs, gap => Assert.True(gap >= 0));
        var body = server.Bodies.Single();
        Assert.True(body["stream"]!.GetValue<bool>());
        Assert.True(body["ignore_eos"]!.GetValue<bool>());
        Assert.Equal(6, body["max_tokens"]!.GetValue<int>());
        Assert.Equal(chat, body["messages"] != null);
    }

    [Fact]
    public async Task Benchmark_run_reports_successes_and_http_failures()
    {
        using var server = new FakeServer();
        using var http = new HttpClient();
        var good = new OpenAiTarget(http, server.Url, "m", chat: false);
        var requests = BenchWorkload.Synthetic(8, 4, 5, 0, seed: 3);
        var (results, duration) = await ServingBenchmark.RunAsync(good, requests, concurrency: 3, requestRate: 200, seed: 1, _ => { }, () => { });
        var s = BenchSummary.From(results, duration);
        Assert.Equal(8, s.Completed);
        Assert.Equal(40, s.TotalOutputTokens);
        Assert.True(s.OutputThroughput > 0);

        var busy = new OpenAiTarget(http, server.Url, "busy", chat: false);
        var (failed, _) = await ServingBenchmark.RunAsync(busy, requests[..2], 2, null, 1, _ => { }, () => { });
        Assert.All(failed, f => Assert.False(f.Success));
        Assert.Contains("503", failed[0].Error);
    }
}
