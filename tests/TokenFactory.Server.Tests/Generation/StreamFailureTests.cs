using System.Net;
using System.Net.Http.Json;
using TokenFactory.Server.Tests.Infrastructure;

namespace TokenFactory.Server.Tests.Generation;

public sealed class StreamFailureTests
{
    [Fact]
    public async Task An_engine_failure_after_the_stream_started_arrives_as_an_error_event_then_DONE()
    {
        var engine = new GatedEngine();
        await using var server = await ServerInstance.StartAsync(engineFactory: engine);
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions")
        {
            Content = JsonContent.Create(new { messages = new[] { new { role = "user", content = "Hi" } }, max_tokens = 10, stream = true }),
        };
        var sending = server.Client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        await engine.Started.Task;
        engine.Step(1);
        using var response = await sending; // the stream has started with the first token
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        engine.FailWith = new InvalidOperationException("boom");
        engine.Step(1);
        var s = await Sse.ReadAllAsync(response);
        Assert.True(s.Done);
        var error = s.Chunks[^1]["error"]!;
        Assert.Equal("server_error", (string)error["type"]!);
        Assert.DoesNotContain("boom", (string)error["message"]!); // internal details stay in the log
    }

    [Fact]
    public async Task An_engine_failure_before_any_token_is_a_plain_HTTP_500()
    {
        var engine = new GatedEngine { FailWith = new InvalidOperationException("boom") };
        await using var server = await ServerInstance.StartAsync(engineFactory: engine);
        var sending = server.Client.PostAsJsonAsync("/v1/chat/completions", new { messages = new[] { new { role = "user", content = "Hi" } }, max_tokens = 10, stream = true });
        await engine.Started.Task;
        engine.Step(1);
        using var response = await sending;
        await Api.ErrorTests.AssertErrorAsync(response, HttpStatusCode.InternalServerError, null);
    }
}
