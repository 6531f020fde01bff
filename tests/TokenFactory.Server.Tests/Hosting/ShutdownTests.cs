using System.Net.Http.Json;
using TokenFactory.Engine;
using TokenFactory.Server.Tests.Infrastructure;

namespace TokenFactory.Server.Tests.Hosting;

/// <summary>SIGTERM/Ctrl-C call the host's StopAsync; these tests call it directly.</summary>
public sealed class ShutdownTests
{
    private static HttpRequestMessage StreamingChat(int maxTokens) => new(HttpMethod.Post, "/v1/chat/completions")
    {
        Content = JsonContent.Create(new { messages = new[] { new { role = "user", content = "Hi" } }, max_tokens = maxTokens, stream = true }),
    };

    /// <summary>A streamed chat of <paramref name="maxTokens"/> whose first token the engine has made: its headers are out.</summary>
    private static async Task<HttpResponseMessage> FirstTokenAsync(ServerInstance server, GatedEngine engine, int maxTokens)
    {
        var sending = server.Client.SendAsync(StreamingChat(maxTokens), HttpCompletionOption.ResponseHeadersRead);
        await engine.Started.Task;
        engine.Step(1); // headers go out with the first token
        return await sending;
    }

    [Fact]
    public async Task In_flight_requests_finish_within_the_deadline()
    {
        var engine = new GatedEngine();
        await using var server = await ServerInstance.StartAsync(new() { ["TokenFactory:ShutdownTimeoutSeconds"] = "60" }, engine);
        using var response = await FirstTokenAsync(server, engine, 3);

        var stopping = server.App.StopAsync();
        Assert.False(stopping.IsCompleted);
        engine.Step(2); // the generation completes after shutdown began

        var stream = await Sse.ReadAllAsync(response);
        Assert.True(stream.Done);
        Assert.Equal("length", (string)stream.Chunks[^1]["choices"]![0]!["finish_reason"]!);
        await stopping;
        Assert.Equal(FinishReason.Length, (await engine.Finished.Task).FinishReason);
    }

    [Fact]
    public async Task Requests_still_running_at_the_deadline_are_cancelled()
    {
        var engine = new GatedEngine();
        await using var server = await ServerInstance.StartAsync(new() { ["TokenFactory:ShutdownTimeoutSeconds"] = "0.2" }, engine);
        using var response = await FirstTokenAsync(server, engine, 100);

        await server.App.StopAsync(); // no step is ever released: only the deadline can end the generation
        var summary = await engine.Finished.Task.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(FinishReason.Cancelled, summary.FinishReason);
        Assert.Equal(0, engine.Load.Running);
    }

    [Fact]
    public async Task At_the_deadline_requests_are_answered_as_stopped_by_the_server_not_dropped()
    {
        var engine = new GatedEngine();
        await using var server = await ServerInstance.StartAsync(new() { ["TokenFactory:ShutdownTimeoutSeconds"] = "0.3" }, engine);
        using var stream = await FirstTokenAsync(server, engine, 100);
        var whole = server.Client.PostAsJsonAsync("/v1/completions", new { prompt = "One day", max_tokens = 50 });
        for (int i = 0; i < 500 && engine.Load.Running < 2; i++)
            await Task.Delay(10);
        Assert.Equal(2, engine.Load.Running);

        // No step is ever released again: at the deadline the engine is told to end both while their connections stand.
        var stopping = server.App.StopAsync();
        using (var stopped = await whole)
        {
            Assert.Equal(System.Net.HttpStatusCode.ServiceUnavailable, stopped.StatusCode);
            Assert.True(stopped.Headers.RetryAfter?.Delta > TimeSpan.Zero);
            Assert.Equal("server_shutting_down", (string?)(await stopped.Content.ReadFromJsonAsync<System.Text.Json.Nodes.JsonObject>())!["error"]!["code"]);
        }
        var events = await Sse.ReadAllAsync(stream);
        Assert.True(events.Done); // its error event, then [DONE]: not cut off
        Assert.Equal("server_shutting_down", (string?)events.Chunks[^1]["error"]!["code"]);
        await stopping;
    }
}

