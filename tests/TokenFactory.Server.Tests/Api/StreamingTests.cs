using System.Net.Http.Json;
using System.Text.Json.Nodes;
using TokenFactory.Server.Tests.Infrastructure;

namespace TokenFactory.Server.Tests.Api;

[Collection(StoriesServerCollection.Name)]
public sealed class StreamingTests(StoriesServerFixture fixture)
{
    private ServerInstance Server => fixture.Server;

    private async Task<Sse.Stream> StreamAsync(string path, object body)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = JsonContent.Create(body) };
        using var response = await Server.Client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(System.Net.HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("no-cache", response.Headers.CacheControl?.ToString());
        return await Sse.ReadAllAsync(response);
    }

    private static object Chat(bool stream, object? streamOptions = null, int n = 1) => new
    {
        model = ServerInstance.ModelName,
        messages = new[] { new { role = "user", content = "Tell me a story." } },
        max_tokens = 10,
        temperature = 0,
        stream,
        stream_options = streamOptions,
        n,
    };

    [Fact]
    public async Task Chat_stream_starts_with_the_role_ends_with_finish_reason_then_DONE_and_matches_non_streaming()
    {
        var s = await StreamAsync("/v1/chat/completions", Chat(stream: true));
        Assert.True(s.Done);
        var chunks = s.Chunks;
        Assert.All(chunks, c => Assert.Equal("chat.completion.chunk", (string)c["object"]!));
        Assert.Single(chunks.Select(c => (string)c["id"]!).Distinct());
        Assert.Equal("assistant", (string)chunks[0]["choices"]![0]!["delta"]!["role"]!);
        var last = chunks[^1]["choices"]![0]!;
        Assert.Equal("length", (string)last["finish_reason"]!);
        Assert.All(chunks[..^1], c => Assert.Null(c["choices"]![0]!["finish_reason"]));
        Assert.DoesNotContain(chunks, c => c.ContainsKey("usage"));
        string streamed = string.Concat(chunks.Select(c => (string?)c["choices"]![0]!["delta"]!["content"] ?? ""));

        using var full = await Server.PostJsonAsync("/v1/chat/completions", Chat(stream: false));
        var body = JsonNode.Parse(await full.Content.ReadAsStringAsync())!;
        Assert.Equal((string)body["choices"]![0]!["message"]!["content"]!, streamed);
    }

    [Fact]
    public async Task Include_usage_adds_a_usage_chunk_with_no_choices_before_DONE()
    {
        var s = await StreamAsync("/v1/chat/completions", Chat(stream: true, new { include_usage = true }));
        Assert.True(s.Done);
        var usageChunk = s.Chunks[^1];
        Assert.Empty(usageChunk["choices"]!.AsArray());
        Assert.Equal(10, (int)usageChunk["usage"]!["completion_tokens"]!);
        Assert.Equal((int)usageChunk["usage"]!["prompt_tokens"]! + 10, (int)usageChunk["usage"]!["total_tokens"]!);
    }

    [Fact]
    public async Task Streamed_choices_of_n_each_get_role_content_and_finish()
    {
        var s = await StreamAsync("/v1/chat/completions", Chat(stream: true, n: 2));
        foreach (int index in new[] { 0, 1 })
        {
            var mine = s.Chunks.Where(c => (int)c["choices"]![0]!["index"]! == index).Select(c => c["choices"]![0]!).ToList();
            Assert.Equal("assistant", (string)mine[0]["delta"]!["role"]!);
            Assert.Equal("length", (string)mine[^1]["finish_reason"]!);
        }
    }

    [Fact]
    public async Task Completions_stream_text_and_finish()
    {
        var s = await StreamAsync("/v1/completions", new { prompt = "Once upon a time", max_tokens = 8, temperature = 0, stream = true, stream_options = new { include_usage = true } });
        Assert.True(s.Done);
        Assert.All(s.Chunks, c => Assert.Equal("text_completion", (string)c["object"]!));
        string text = string.Concat(s.Chunks.Where(c => c["choices"]!.AsArray().Count > 0).Select(c => (string)c["choices"]![0]!["text"]!));
        Assert.StartsWith(", there was a little girl", text);
        Assert.Equal("length", (string)s.Chunks[^2]["choices"]![0]!["finish_reason"]!);
        Assert.Equal(8, (int)s.Chunks[^1]["usage"]!["completion_tokens"]!);
    }

    [Fact]
    public async Task Streamed_logprobs_arrive_with_each_token()
    {
        var s = await StreamAsync("/v1/chat/completions", new
        {
            messages = new[] { new { role = "user", content = "Hi" } }, max_tokens = 5, temperature = 0, stream = true, logprobs = true, top_logprobs = 2,
        });
        var entries = s.Chunks.Select(c => c["choices"]![0]!["logprobs"]).Where(l => l is not null).SelectMany(l => l!["content"]!.AsArray()).ToList();
        Assert.Equal(5, entries.Count);
        Assert.All(entries, e => Assert.Equal(2, e!["top_logprobs"]!.AsArray().Count));
    }
}
