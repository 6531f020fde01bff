using System.Text.Json.Nodes;
using System.Net.Http.Json;
using TokenFactory.Engine;
using TokenFactory.Server.Tests.Infrastructure;

namespace TokenFactory.Server.Tests.Generation;

public sealed class DisconnectTests
{
    private static HttpRequestMessage StreamingChat(int maxTokens, bool ignoreEos = false) => new(HttpMethod.Post, "/v1/chat/completions")
    {
        Content = JsonContent.Create(new
        {
            messages = new[] { new { role = "user", content = "Tell me a story." } },
            max_tokens = maxTokens,
            temperature = 0,
            stream = true,
            ignore_eos = ignoreEos,
        }),
    };

    [Fact]
    public async Task Disconnecting_mid_stream_cancels_the_generation_at_the_next_step()
    {
        var engine = new GatedEngine();
        await using var server = await ServerInstance.StartAsync(engineFactory: engine);
        var sending = server.Client.SendAsync(StreamingChat(100), HttpCompletionOption.ResponseHeadersRead);
        await engine.Started.Task;
        engine.Step(2); // headers go out with the first token
        var response = await sending;
        var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
        Assert.StartsWith("data: ", await reader.ReadLineAsync()); // the stream is live

        response.Dispose(); // the client goes away; no further step is ever released
        var summary = await engine.Finished.Task.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(FinishReason.Cancelled, summary.FinishReason);
        Assert.Equal(2, summary.CompletionTokens);
        Assert.Equal(0, engine.Load.Running);
        // The request counts as the ledger has it (499), not as the 200 its headers said.
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (await server.MetricAsync("tokenfactory_http_requests_total", ("endpoint", "/v1/chat/completions"), ("status", "499")) == 0 && DateTime.UtcNow < deadline)
            await Task.Delay(20);
        Assert.Equal(1, await server.MetricAsync("tokenfactory_http_requests_total", ("endpoint", "/v1/chat/completions"), ("status", "499")));
        Assert.Equal(0, await server.MetricAsync("tokenfactory_http_requests_total", ("endpoint", "/v1/chat/completions"), ("status", "200")));
    }

    [Fact]
    public async Task Disconnecting_frees_the_real_engine_long_before_max_tokens()
    {
        await using var server = await ServerInstance.StartAsync(new() { ["TokenFactory:ContextLength"] = "2048" });
        // stories260K decodes one sequence at about 9,000 tokens/s: 1,900 tokens of one choice could all be made before the
        // disconnect is seen. Thirty-two choices of 1,900 tokens are seconds of steps; the disconnect comes after the first token.
        int maxTokens = 1900, choices = 32;
        var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions")
        {
            Content = JsonContent.Create(new
            {
                messages = new[] { new { role = "user", content = "Tell me a story." } },
                max_tokens = maxTokens, temperature = 1, seed = 1, n = choices, stream = true, ignore_eos = true,
            }),
        };
        var response = await server.Client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
        Assert.StartsWith("data: ", await reader.ReadLineAsync());
        response.Dispose();

        // Bounded wait for the server to record the cancelled generations, then for the engine to be idle.
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (await Finished(server, "cancelled") < choices && DateTime.UtcNow < deadline)
            await Task.Delay(10);
        Assert.Equal(choices, await Finished(server, "cancelled"));
        Assert.Equal(0, await Finished(server, "length"));
        await server.WaitForIdleAsync();
        Assert.InRange(await server.MetricAsync("tokenfactory_generation_tokens_total"), 1, choices * maxTokens / 2);

        // The engine serves the next request normally.
        using var next = await server.PostJsonAsync("/v1/completions", new { prompt = "Once upon a time", max_tokens = 4, temperature = 0 });
        Assert.True(next.IsSuccessStatusCode);
    }

    [Fact]
    public async Task A_stream_with_nothing_to_send_yet_gets_keep_alive_comments_so_proxies_do_not_cut_it()
    {
        var engine = new GatedEngine();
        await using var server = await ServerInstance.StartAsync(new() { ["TokenFactory:StreamKeepAliveSeconds"] = "0.5" }, engineFactory: engine);
        // The engine has taken the request but produces nothing (a long prompt's prefill): after the quiet interval the
        // headers and a comment go out, which SSE readers skip.
        var sending = server.Client.SendAsync(StreamingChat(10), HttpCompletionOption.ResponseHeadersRead);
        await engine.Started.Task;
        var response = await sending.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
        Assert.Equal(": keep-alive", await reader.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(10)));
        // Then the answer as usual, its events whole.
        engine.Step(10);
        var rest = await reader.ReadToEndAsync();
        var stream = Sse.Parse(rest.TrimStart('\n'));
        Assert.True(stream.Done);
        Assert.Contains(stream.Chunks, c => c["choices"] is JsonArray { Count: > 0 } choices && choices[0]!["delta"]!["content"] is not null);
        response.Dispose();
    }

    [Theory]
    [InlineData(15, 15)]
    [InlineData(0, 0)]
    [InlineData(-1, 0)]
    [InlineData(1e7, 0)] // beyond a day: off, not a timer the runtime refuses
    [InlineData(double.NaN, 0)]
    public void The_keep_alive_setting_is_an_interval_or_off(double seconds, double expected) =>
        Assert.Equal(TimeSpan.FromSeconds(expected), ServerOptions.KeepAliveInterval(seconds));

    private static Task<double> Finished(ServerInstance server, string reason) =>
        server.MetricAsync("tokenfactory_generations_finished_total", ("finish_reason", reason));
}
