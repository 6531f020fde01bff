using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using TokenFactory.Router.Tests.Infrastructure;
using TokenFactory.Server.Tests.Infrastructure;

namespace TokenFactory.Router.Tests;

/// <summary>Tool calls and structured output through the router: forwarded to the replica, refused at the door when malformed.</summary>
public sealed class ToolCallingTests
{
    [Fact]
    public async Task A_forced_tool_call_comes_back_through_the_router_and_a_bad_tool_is_refused_before_it_queues()
    {
        await using var replica = await ServerInstance.StartAsync(new()
        {
            ["TokenFactory:Fleet:InternalToken"] = RouterInstance.InternalToken,
            ["TokenFactory:ChatTemplateFile"] = Path.Combine(TestPaths.Shared, "fixtures", "chat-templates", "Qwen-Qwen2.5-7B-Instruct.jinja"),
            ["TokenFactory:ContextLength"] = "2048",
        });
        await using var router = await RouterInstance.StartAsync([replica.BaseAddress], new() { ["TokenFactory:Router:Models:stories260K"] = TestPaths.Stories260K });
        var tools = new JsonArray(JsonNode.Parse("""
            {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object", "properties": {"zone": {"enum": ["UTC", "CET"]}}, "required": ["zone"], "additionalProperties": false}}}
            """));
        var body = new JsonObject
        {
            ["model"] = "stories260K", ["messages"] = new JsonArray(new JsonObject { ["role"] = "user", ["content"] = "Time?" }),
            ["tools"] = tools, ["tool_choice"] = "required", ["max_tokens"] = 600, ["temperature"] = 1, ["seed"] = 4,
        };
        using (var response = await router.Client.PostAsJsonAsync("/v1/chat/completions", body))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            var choice = (await response.Content.ReadFromJsonAsync<JsonObject>())!["choices"]![0]!;
            Assert.Equal("tool_calls", (string?)choice["finish_reason"]);
            var call = choice["message"]!["tool_calls"]![0]!["function"]!;
            Assert.Equal("get_time", (string?)call["name"]);
            Assert.Contains((string?)JsonNode.Parse((string)call["arguments"]!)!["zone"], new[] { "UTC", "CET" });
        }
        // A malformed tool list is refused by the router itself: the replica behind it never sees the request.
        await using var stub = await StubReplica.StartAsync("stories260K");
        await using var door = await RouterInstance.StartAsync([stub.BaseAddress]);
        body["tool_choice"] = JsonNode.Parse("""{"type": "function", "function": {"name": "nope"}}""");
        using var refused = await door.Client.PostAsJsonAsync("/v1/chat/completions", body);
        Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode);
        Assert.Equal("tool_choice.function.name", (string?)(await refused.Content.ReadFromJsonAsync<JsonObject>())!["error"]!["param"]);
        Assert.DoesNotContain(stub.Requests, r => r.Path.EndsWith("chat/completions", StringComparison.Ordinal));
    }
}
