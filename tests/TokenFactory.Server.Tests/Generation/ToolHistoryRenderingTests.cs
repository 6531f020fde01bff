using System.Net.Http.Json;
using System.Text.Json.Nodes;
using TokenFactory.Server.Tests.Infrastructure;

namespace TokenFactory.Server.Tests.Generation;

/// <summary>
/// A conversation with tool calls, sent as OpenAI clients send it (arguments as JSON text), renders through the model's own
/// template byte for byte as Python's Jinja2 renders the fixture: Functionary adds the arguments to a string, so it gets
/// them as text; templates that write them with tojson get the object (else the text would be quoted twice).
/// </summary>
public sealed class ToolHistoryRenderingTests
{
    private static string Fixture(string name) => Path.Combine(TestPaths.RepoRoot, "tests", "TokenFactory.Core.Tests", "Fixtures", "chat-templates", name);

    [Fact]
    public async Task Functionary_gets_the_arguments_as_text_and_renders_as_jinja2_does()
    {
        var expected = JsonNode.Parse(await File.ReadAllTextAsync(Fixture("meetkai-functionary-medium-v3.1.expected.json")))!["cases"]!.AsArray()
            .Single(c => (string?)c!["case"] == "parallel_calls_text_arguments")!;
        var rendered = await ApplyAsync("meetkai-functionary-medium-v3.1.jinja", expected["context"]!);
        // The server's BOS is the vocabulary's (stories260K's <s>), the fixture's Llama 3's: the rest must be the same bytes.
        Assert.Equal(((string)expected["expected"]!).Replace("<|begin_of_text|>", "", StringComparison.Ordinal), rendered[rendered.IndexOf("<|start_header_id|>", StringComparison.Ordinal)..]);
        Assert.Contains("<function=get_weather>{\"city\": \"Paris\"}</function><function=get_time>{\"zone\": \"CET\"}</function>", rendered);
    }

    [Fact]
    public async Task A_tojson_template_gets_the_arguments_as_an_object()
    {
        var context = JsonNode.Parse(await File.ReadAllTextAsync(Fixture("CohereForAI-c4ai-command-r7b-12-2024-tool_use.expected.json")))!["cases"]!.AsArray()
            .Single(c => (string?)c!["case"] == "parallel_calls_text_arguments")!["context"]!;
        var rendered = await ApplyAsync("CohereForAI-c4ai-command-r7b-12-2024-tool_use.jinja", context);
        Assert.Contains("\"tool_name\": \"get_weather\", \"parameters\": {\"city\": \"Paris\"}}", rendered);
        Assert.DoesNotContain("\\\"city\\\"", rendered);
    }

    [Fact]
    public void A_tool_calling_turn_s_null_content_reaches_the_template_as_none_unless_the_template_fails_on_it()
    {
        var messages = TokenFactory.Server.Generation.ChatPrompt.Normalize(JsonNode.Parse("""
            [{"role": "user", "content": "Weather in Paris?"},
             {"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}}]},
             {"role": "tool", "tool_call_id": "call_1", "content": "Sunny"}]
            """)!.AsArray());
        // DeepSeek-R1's distills write earlier calls only when content is none (given "", the call vanished from the history).
        var r1 = new TokenFactory.Chat.ChatTemplate(File.ReadAllText(Path.Combine(TestPaths.Shared, "fixtures", "chat-templates", "deepseek-ai-DeepSeek-R1-Distill-Qwen-32B.jinja")), "", "");
        Assert.Contains("get_weather", TokenFactory.Server.Generation.ChatPrompt.Render(r1, messages, null, addGenerationPrompt: true, null));
        // ChatML adds content to a string, which fails on none: rendered with "" as before.
        Assert.Contains("<|im_start|>assistant\n<|im_end|>", TokenFactory.Server.Generation.ChatPrompt.Render(TokenFactory.Chat.ChatTemplate.ChatMl, messages, null, true, null));
    }

    private static async Task<string> ApplyAsync(string template, JsonNode context)
    {
        await using var server = await ServerInstance.StartAsync(new() { ["TokenFactory:ChatTemplateFile"] = Fixture(template), ["TokenFactory:ContextLength"] = "4096" });
        using var response = await server.Client.PostAsJsonAsync("/apply-template", new JsonObject
        {
            ["messages"] = context["messages"]!.DeepClone(),
            ["tools"] = context["tools"]!.DeepClone(),
        });
        var body = (await response.Content.ReadFromJsonAsync<JsonObject>())!;
        Assert.True(response.IsSuccessStatusCode, body.ToJsonString());
        return (string)body["prompt"]!;
    }
}
