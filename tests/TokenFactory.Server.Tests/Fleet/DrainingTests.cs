using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using TokenFactory.Engine;
using TokenFactory.Server.Fleet;
using TokenFactory.Server.Tests.Infrastructure;

namespace TokenFactory.Server.Tests.Fleet;

/// <summary>
/// SIGTERM and Ctrl-C reach the host as <c>StopApplication()</c>, the start of a drain: the server keeps serving what
/// runs while it tells everyone else it is going (health, status, 503 server_draining), then stops.
/// </summary>
public sealed class DrainingTests
{
    private static HttpRequestMessage StreamingChat(int maxTokens) => new(HttpMethod.Post, "/v1/chat/completions")
    {
        Content = JsonContent.Create(new { messages = new[] { new { role = "user", content = "Hi" } }, max_tokens = maxTokens, stream = true }),
    };

    [Fact]
    public async Task A_draining_server_finishes_its_streams_refuses_new_generations_and_says_so()
    {
        var engine = new GatedEngine();
        await using var server = await ServerInstance.StartAsync(new() { ["TokenFactory:ShutdownTimeoutSeconds"] = "60", ["TokenFactory:RetryAfterSeconds"] = "2" }, engine);
        var sending = server.Client.SendAsync(StreamingChat(3), HttpCompletionOption.ResponseHeadersRead);
        await engine.Started.Task;
        engine.Step(1);
        using var response = await sending;

        server.App.Lifetime.StopApplication(); // what SIGTERM does
        var stopping = server.App.StopAsync(); // and then the host stops: it waits for the drain

        using (var refused = await server.PostJsonAsync("/v1/chat/completions", new { messages = new[] { new { role = "user", content = "Hi" } }, max_tokens = 2 }))
        {
            await Api.ErrorTests.AssertErrorAsync(refused, HttpStatusCode.ServiceUnavailable, null, "server_draining");
            Assert.Equal(TimeSpan.FromSeconds(2), refused.Headers.RetryAfter?.Delta);
        }
        using (var completion = await server.PostJsonAsync("/v1/completions", new { prompt = "Once", max_tokens = 2 }))
            await Api.ErrorTests.AssertErrorAsync(completion, HttpStatusCode.ServiceUnavailable, null, "server_draining");
        using (var health = await server.Client.GetAsync(ReplicaEndpoints.Health))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, health.StatusCode);
            Assert.Equal("draining", (string)JsonNode.Parse(await health.Content.ReadAsStringAsync())!["status"]!);
        }
        var status = JsonNode.Parse(await server.Client.GetStringAsync(ReplicaEndpoints.Status))!;
        Assert.Equal(("draining", true, 1), ((string)status["state"]!, (bool)status["draining"]!, (int)status["running"]!));
        // Requests that do not generate still work: a router may be finishing its own bookkeeping.
        using (var tokenize = await server.PostJsonAsync("/tokenize", new { content = "Hi" }))
            Assert.Equal(HttpStatusCode.OK, tokenize.StatusCode);
        Assert.False(stopping.IsCompleted);

        engine.Step(2);
        var stream = await Sse.ReadAllAsync(response);
        Assert.True(stream.Done);
        Assert.Equal("length", (string)stream.Chunks[^1]["choices"]![0]!["finish_reason"]!);
        await stopping.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(FinishReason.Length, (await engine.Finished.Task).FinishReason);
    }

    [Fact]
    public async Task An_idle_server_stops_at_once()
    {
        await using var server = await ServerInstance.StartAsync(new() { ["TokenFactory:ShutdownTimeoutSeconds"] = "60" }, new GatedEngine());
        var started = DateTime.UtcNow;
        await server.App.StopAsync();
        Assert.True(DateTime.UtcNow - started < TimeSpan.FromSeconds(20), "an idle drain waited for the deadline");
    }
}
