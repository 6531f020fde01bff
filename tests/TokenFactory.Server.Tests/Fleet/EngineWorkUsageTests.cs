using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using TokenFactory.Server.Tests.Infrastructure;
using static TokenFactory.Server.Tests.Fleet.ReplicaServer;

namespace TokenFactory.Server.Tests.Fleet;

/// <summary><c>usage.tokenfactory</c>: the engine's measured work, for the router's ledger, and for nobody else.</summary>
public sealed class EngineWorkUsageTests
{
    private static readonly string[] Fields =
        ["queue_seconds", "prefill_seconds", "decode_seconds", "energy_joules", "energy_estimated", "time_to_first_token_seconds"];

    private static void AssertMeasured(JsonNode? usage)
    {
        var work = usage?["tokenfactory"]?.AsObject() ?? throw new Xunit.Sdk.XunitException($"no usage.tokenfactory in {usage?.ToJsonString()}");
        Assert.Equal(Fields.Order(), work.Select(kv => kv.Key).Order());
        Assert.True((double)work["prefill_seconds"]! > 0);
        Assert.True((double)work["decode_seconds"]! > 0);
        Assert.True((double)work["time_to_first_token_seconds"]! > 0);
        Assert.True((double)work["queue_seconds"]! >= 0);
        Assert.True((double)work["energy_joules"]! > 0); // the tests' meter is the estimate
        Assert.True((bool)work["energy_estimated"]!);
    }

    [Fact]
    public async Task The_router_gets_the_measured_work_in_bodies_and_usage_chunks_of_both_endpoints()
    {
        await using var server = await ReplicaServer.StartAsync();
        using (var chat = await server.Client.SendAsync(ChatRequest(new { messages = new[] { new { role = "user", content = "Hello" } }, max_tokens = 4, n = 2 })))
        {
            var usage = JsonNode.Parse(await chat.Content.ReadAsStringAsync())!["usage"];
            AssertMeasured(usage);
        }
        using (var stream = await server.Client.SendAsync(ChatRequest(Hello(stream: true))))
        {
            var chunks = (await Sse.ReadAllAsync(stream)).Chunks;
            AssertMeasured(chunks[^1]["usage"]);
            Assert.All(chunks.SkipLast(1), c => Assert.Null(c["usage"]));
        }
        foreach (bool streamed in new[] { false, true })
        {
            using var completion = await server.Client.SendAsync(new HttpRequestMessage(HttpMethod.Post, "/v1/completions")
            {
                Content = JsonContent.Create(streamed
                    ? new { prompt = "Once", max_tokens = 3, stream = true, stream_options = new { include_usage = true } }
                    : (object)new { prompt = "Once", max_tokens = 3 }),
                Headers = { { "Authorization", "Bearer " + Token } },
            });
            AssertMeasured(streamed ? (await Sse.ReadAllAsync(completion)).Chunks[^1]["usage"] : JsonNode.Parse(await completion.Content.ReadAsStringAsync())!["usage"]);
        }
    }

    [Fact]
    public async Task Other_callers_never_see_it()
    {
        await using var server = await ServerInstance.StartAsync();
        using var chat = await server.PostJsonAsync("/v1/chat/completions", Hello());
        Assert.Equal(HttpStatusCode.OK, chat.StatusCode);
        var usage = JsonNode.Parse(await chat.Content.ReadAsStringAsync())!["usage"]!.AsObject();
        Assert.Equal(4, (int)usage["completion_tokens"]!);
        Assert.False(usage.ContainsKey("tokenfactory"));
        using var stream = await server.PostJsonAsync("/v1/chat/completions", Hello(stream: true));
        var last = (await Sse.ReadAllAsync(stream)).Chunks[^1]["usage"]!.AsObject();
        Assert.Equal(4, (int)last["completion_tokens"]!);
        Assert.False(last.ContainsKey("tokenfactory"));
    }
}
