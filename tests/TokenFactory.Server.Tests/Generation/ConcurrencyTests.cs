using System.Net;
using System.Text.Json.Nodes;
using TokenFactory.Engine;
using TokenFactory.Server.Tests.Infrastructure;

namespace TokenFactory.Server.Tests.Generation;

public sealed class ConcurrencyTests
{
    private static readonly string[] Prompts =
    [
        "Once upon a time", "One day", "Lily and Ben", "The little dog", "There was a big tree", "Tom had a red ball",
        "The sun was shining", "A girl named Sue",
    ];

    private static async Task<string> CompleteAsync(ServerInstance server, string prompt, bool stream)
    {
        using var r = await server.PostJsonAsync("/v1/completions", new { prompt, max_tokens = 24, temperature = 0, stream });
        Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        if (!stream)
            return (string)JsonNode.Parse(await r.Content.ReadAsStringAsync())!["choices"]![0]!["text"]!;
        var s = await Sse.ReadAllAsync(r);
        return string.Concat(s.Chunks.Select(c => (string)c["choices"]![0]!["text"]!));
    }

    [Fact]
    public async Task Concurrent_requests_each_get_exactly_their_own_output()
    {
        await using var server = await ServerInstance.StartAsync();
        var expected = new List<string>();
        foreach (var p in Prompts)
            expected.Add(await CompleteAsync(server, p, stream: false));
        Assert.True(expected.Distinct().Count() > 1);

        // Each prompt twice at once, streaming and not, all in flight together.
        var tasks = Prompts.SelectMany((p, i) => new[] { CompleteAsync(server, p, stream: false), CompleteAsync(server, p, stream: true) }).ToArray();
        var results = await Task.WhenAll(tasks);
        for (int i = 0; i < Prompts.Length; i++)
        {
            Assert.Equal(expected[i], results[2 * i]);
            Assert.Equal(expected[i], results[2 * i + 1]);
        }
        await server.WaitForIdleAsync();
    }

    [Fact]
    public async Task A_full_wait_queue_answers_503_with_Retry_After()
    {
        // No waiting slot at all: every request is refused by the engine's bounded queue.
        // The engine only refuses; the Retry-After it is answered with is the server's setting.
        var factory = new ServerInstance.EngineFactory(new EngineOptions { ContextLength = 256, Threads = 1, MaxWaitingRequests = 0 });
        await using var server = await ServerInstance.StartAsync(new() { ["TokenFactory:RetryAfterSeconds"] = "3" }, engineFactory: factory);
        foreach (bool stream in new[] { false, true })
        {
            using var r = await server.PostJsonAsync("/v1/chat/completions", new { messages = new[] { new { role = "user", content = "Hi" } }, max_tokens = 4, stream });
            Assert.Equal(TimeSpan.FromSeconds(3), r.Headers.RetryAfter?.Delta);
            await Api.ErrorTests.AssertErrorAsync(r, HttpStatusCode.ServiceUnavailable, null, "server_overloaded");
        }
    }
}
