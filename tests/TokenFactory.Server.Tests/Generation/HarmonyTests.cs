using System.ClientModel;
using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using OpenAI;
using OpenAI.Chat;
using TokenFactory.Server.Tests.Infrastructure;

namespace TokenFactory.Server.Tests.Generation;

/// <summary>
/// gpt-oss's harmony format through the whole server with its own template (the shared fixture): the analysis channel comes back as
/// <c>reasoning_content</c>, the final channel as <c>content</c>, a message to <c>functions.NAME</c> as a tool call the official SDK
/// reads, and the call and its result go back through the template as gpt-oss writes them.
/// </summary>
public sealed class HarmonyTests
{
    private static readonly string TemplatePath = Path.Combine(TestPaths.Shared, "fixtures", "chat-templates", "openai-gpt-oss-120b.jinja");

    private static Chat.ChatTemplate GptOss() => new(File.ReadAllText(TemplatePath), "<|startoftext|>", "<|return|>");

    // The markers arrive split across tokens, as a tokenizer that spells them out would produce them.
    private static readonly string[] Answer =
        ["<|chan", "nel|>analysis<|mess", "age|>The user", " says hi.<|e", "nd|><|start|>assistant", "<|channel|>final<|message|>", "Hel", "lo!"];

    private static readonly string[] CallAnswer =
        ["<|channel|>analysis<|message|>Need the weather.<|end|>", "<|start|>assistant<|channel|>commentary to=functions.get_weather", " <|constrain|>json<|message|>",
         "{\"city\":", " \"Paris\"}"];

    private static readonly ChatTool Weather = ChatTool.CreateFunctionTool("get_weather", "Get the current weather in a city",
        BinaryData.FromString("""{"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}"""));

    private static ChatClient Client(ServerInstance server) =>
        new(ServerInstance.ModelName, new ApiKeyCredential("not-needed"), new OpenAIClientOptions { Endpoint = server.OpenAiEndpoint });

    [Fact]
    public async Task Analysis_is_reasoning_and_final_is_content_whole_and_streamed()
    {
        var engine = new ScriptedEngine(GptOss(), Answer);
        await using var server = await ServerInstance.StartAsync(engineFactory: engine);
        object Body(bool stream) => new { messages = new[] { new { role = "user", content = "Hi" } }, max_tokens = 50, stream };

        using var response = await server.PostJsonAsync("/v1/chat/completions", Body(stream: false));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var message = JsonNode.Parse(await response.Content.ReadAsStringAsync())!["choices"]![0]!["message"]!;
        Assert.Equal("The user says hi.", (string)message["reasoning_content"]!);
        Assert.Equal("Hello!", (string)message["content"]!);
        Assert.EndsWith("<|start|>user<|message|>Hi<|end|><|start|>assistant", engine.LastPrompt);

        using var streamed = await server.PostJsonAsync("/v1/chat/completions", Body(stream: true));
        var s = await Sse.ReadAllAsync(streamed);
        string reasoning = "", content = "";
        foreach (var chunk in s.Chunks)
        {
            if (chunk["choices"] is not JsonArray { Count: > 0 } choices)
                continue;
            reasoning += (string?)choices[0]!["delta"]!["reasoning_content"] ?? "";
            content += (string?)choices[0]!["delta"]!["content"] ?? "";
        }
        Assert.Equal("The user says hi.", reasoning);
        Assert.Equal("Hello!", content);
    }

    [Fact]
    public async Task A_strict_function_under_auto_is_served_and_the_header_says_harmony_calls_are_not_constrained()
    {
        var engine = new ScriptedEngine(GptOss(), Answer);
        await using var server = await ServerInstance.StartAsync(engineFactory: engine);
        using var response = await server.PostJsonAsync("/v1/chat/completions", new
        {
            messages = new[] { new { role = "user", content = "Hi" } }, max_tokens = 50,
            tools = new[] { new { type = "function", function = new { name = "get_weather", description = "The weather", parameters = new { type = "object", properties = new { city = new { type = "string" } } }, strict = true } } },
        });
        Assert.True(response.StatusCode == HttpStatusCode.OK, await response.Content.ReadAsStringAsync()); // the SDKs send strict by default: not refused
        Assert.StartsWith("not-enforced; ", response.Headers.GetValues("x-tokenfactory-strict-tools").Single());
    }

    [Fact]
    public async Task A_call_to_a_function_is_a_tool_call_and_goes_back_through_the_template()
    {
        var engine = new ScriptedEngine(GptOss(), CallAnswer);
        await using var server = await ServerInstance.StartAsync(engineFactory: engine);
        var chat = Client(server);
        var options = new ChatCompletionOptions { Tools = { Weather } };
        List<ChatMessage> history = [new UserChatMessage("What's the weather in Paris?")];

        ChatCompletion completion = await chat.CompleteChatAsync(history, options);
        Assert.Equal(ChatFinishReason.ToolCalls, completion.FinishReason);
        Assert.Empty(completion.Content);
        var call = Assert.Single(completion.ToolCalls);
        Assert.Equal("get_weather", call.FunctionName);
        Assert.Equal("Paris", (string?)JsonNode.Parse(call.FunctionArguments.ToString())!["city"]);
        Assert.Contains("type get_weather = (_: {", engine.LastPrompt); // the tools, in gpt-oss's TypeScript-like form

        // Streamed, the SDK reassembles the call and no markup reaches the content.
        var text = new StringBuilder();
        var arguments = new StringBuilder();
        string? name = null;
        await foreach (var update in chat.CompleteChatStreamingAsync(history, options))
        {
            foreach (var part in update.ContentUpdate)
                text.Append(part.Text);
            foreach (var piece in update.ToolCallUpdates)
            {
                name ??= piece.FunctionName;
                arguments.Append(piece.FunctionArgumentsUpdate?.ToString());
            }
        }
        Assert.Equal("", text.ToString());
        Assert.Equal("get_weather", name);
        Assert.Equal("Paris", (string?)JsonNode.Parse(arguments.ToString())!["city"]);

        history.Add(new AssistantChatMessage(completion.ToolCalls));
        history.Add(new ToolChatMessage(call.Id, "{\"temp\": 18}"));
        await chat.CompleteChatAsync(history, options);
        Assert.Contains("<|start|>assistant to=functions.get_weather<|channel|>commentary json<|message|>{\"city\": \"Paris\"}<|call|>", engine.LastPrompt);
        Assert.Contains("<|start|>functions.get_weather to=assistant<|channel|>commentary<|message|>", engine.LastPrompt);
    }

    [Fact]
    public void A_forced_call_is_constrained_to_the_harmony_message_not_to_hermes_markup()
    {
        var syntax = Server.Generation.Tools.ToolCallSyntax.Detect(File.ReadAllText(TemplatePath));
        Assert.Same(Server.Generation.Tools.ToolCallSyntax.Harmony, syntax);
        var call = Assert.IsType<Constraints.WrappedNode>(syntax.Forced([("get_weather", Constraints.SchemaNode.Any)]));
        Assert.Equal("<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>", Encoding.UTF8.GetString(call.Prefix));
        Assert.Empty(call.Suffix); // generation ends where <|call|> would
        Assert.IsType<Constraints.AnyOfNode>(syntax.Forced([("a", Constraints.SchemaNode.Any), ("b", Constraints.SchemaNode.Any)]));
    }

    [Fact]
    public async Task A_forced_call_from_a_real_model_is_written_in_harmony_and_read_back()
    {
        await using var server = await ServerInstance.StartAsync(new() { ["TokenFactory:ChatTemplateFile"] = TemplatePath, ["TokenFactory:ContextLength"] = "2048" });
        // Seeded: sampled at temperature 1 without one, a tiny model's city string ran past the token limit now and then.
        for (int seed = 1; seed <= 3; seed++)
        {
            var options = new ChatCompletionOptions { Tools = { Weather }, ToolChoice = ChatToolChoice.CreateRequiredChoice(), Temperature = 1, MaxOutputTokenCount = 400 };
#pragma warning disable OPENAI001 // the seed is marked experimental in the SDK
            options.Seed = seed;
#pragma warning restore OPENAI001
            ChatCompletion completion = await Client(server).CompleteChatAsync([new UserChatMessage("Weather?")], options);
            Assert.Equal(ChatFinishReason.ToolCalls, completion.FinishReason);
            var call = Assert.Single(completion.ToolCalls);
            Assert.Equal("get_weather", call.FunctionName);
            Assert.Equal(JsonValueKind.String, JsonDocument.Parse(call.FunctionArguments.ToString()).RootElement.GetProperty("city").ValueKind);
        }
    }
}
