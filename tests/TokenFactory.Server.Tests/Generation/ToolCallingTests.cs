using System.ClientModel;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using OpenAI;
using OpenAI.Chat;
using TokenFactory.Server.Tests.Infrastructure;

namespace TokenFactory.Server.Tests.Generation;

/// <summary>Tool calls through the whole server, read by the official SDK: scripted Qwen output, and calls forced on a real model.</summary>
public sealed class ToolCallingTests
{
    private static readonly string QwenTemplatePath = Path.Combine(TestPaths.Shared, "fixtures", "chat-templates", "Qwen-Qwen2.5-7B-Instruct.jinja");

    private static Chat.ChatTemplate Qwen() => new(File.ReadAllText(QwenTemplatePath), "", "<|im_end|>");

    private static ChatClient Client(ServerInstance server) =>
        new(ServerInstance.ModelName, new ApiKeyCredential("not-needed"), new OpenAIClientOptions { Endpoint = server.OpenAiEndpoint });

    private static readonly ChatTool Weather = ChatTool.CreateFunctionTool("get_weather", "The weather in a city",
        BinaryData.FromString("""{"type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer"}}, "required": ["city"]}"""));

    private static readonly ChatTool Clock = ChatTool.CreateFunctionTool("get_time", "The time in a zone",
        BinaryData.FromString("""{"type": "object", "properties": {"zone": {"enum": ["UTC", "CET"]}}, "required": ["zone"], "additionalProperties": false}"""));

    /// <summary>Qwen's output for two parallel calls, one token per few characters as a model streams it.</summary>
    private static string[] TwoCallPieces()
    {
        const string answer = "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\", \"days\": 2}}\n</tool_call>\n"
            + "<tool_call>\n{\"name\": \"get_time\", \"arguments\": {\"zone\": \"CET\"}}\n</tool_call>";
        return [.. answer.Chunk(3).Select(c => new string(c))];
    }

    [Fact]
    public async Task The_sdk_reads_parallel_calls_whole_and_streamed_and_the_results_go_back_through_the_template()
    {
        var engine = new ScriptedEngine(Qwen(), TwoCallPieces());
        await using var server = await ServerInstance.StartAsync(engineFactory: engine);
        var chat = Client(server);
        var options = new ChatCompletionOptions { Tools = { Weather, Clock } };
        List<ChatMessage> history = [new UserChatMessage("Weather and time in Paris?")];

        ChatCompletion completion = await chat.CompleteChatAsync(history, options);
        Assert.Equal(ChatFinishReason.ToolCalls, completion.FinishReason);
        Assert.Empty(completion.Content);
        Assert.Equal(["get_weather", "get_time"], completion.ToolCalls.Select(c => c.FunctionName));
        Assert.Equal("Paris", (string?)JsonNode.Parse(completion.ToolCalls[0].FunctionArguments.ToString())!["city"]);
        Assert.Contains("<tools>", engine.LastPrompt); // the tools were rendered into the prompt by Qwen's own template
        Assert.Contains("\"name\": \"get_weather\"", engine.LastPrompt);

        // Streamed: the SDK reassembles each call from its deltas.
        var names = new Dictionary<int, string>();
        var arguments = new Dictionary<int, StringBuilder>();
        ChatFinishReason? finish = null;
        var text = new StringBuilder();
        await foreach (var update in chat.CompleteChatStreamingAsync(history, options))
        {
            foreach (var part in update.ContentUpdate)
                text.Append(part.Text);
            foreach (var call in update.ToolCallUpdates)
            {
                if (call.FunctionName is { } name)
                    names[call.Index] = name;
                (arguments.TryGetValue(call.Index, out var sb) ? sb : arguments[call.Index] = new StringBuilder()).Append(call.FunctionArgumentsUpdate?.ToString());
            }
            finish ??= update.FinishReason;
        }
        Assert.Equal(ChatFinishReason.ToolCalls, finish);
        Assert.Equal("", text.ToString()); // no markup leaked into content
        Assert.Equal(["get_weather", "get_time"], names.OrderBy(kv => kv.Key).Select(kv => kv.Value));
        Assert.Equal("CET", (string?)JsonNode.Parse(arguments[1].ToString())!["zone"]);

        // The agent runs the tools and sends the results back: the template renders both the calls and the results.
        history.Add(new AssistantChatMessage(completion.ToolCalls));
        history.Add(new ToolChatMessage(completion.ToolCalls[0].Id, "{\"temp_c\": 18}"));
        history.Add(new ToolChatMessage(completion.ToolCalls[1].Id, "{\"time\": \"14:05\"}"));
        await chat.CompleteChatAsync(history, options);
        Assert.Contains("<tool_response>\n{\"temp_c\": 18}\n</tool_response>", engine.LastPrompt);
        // The call in history as the model wrote it: arguments an object, not a quoted string (as vLLM renders them).
        Assert.Contains("<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\", \"days\": 2}}\n</tool_call>", engine.LastPrompt);
    }

    [Fact]
    public async Task Strict_functions_under_auto_constrain_a_call_once_the_model_opens_one()
    {
        var engine = new ScriptedEngine(Qwen(), TwoCallPieces());
        await using var server = await ServerInstance.StartAsync(engineFactory: engine);
        var strictWeather = ChatTool.CreateFunctionTool("get_weather", "The weather in a city",
            BinaryData.FromString("""{"type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer"}}, "required": ["city", "days"], "additionalProperties": false}"""),
            functionSchemaIsStrict: true);
        ChatCompletion completion = await Client(server).CompleteChatAsync([new UserChatMessage("Weather in Paris?")], new ChatCompletionOptions { Tools = { strictWeather, Clock } });
        Assert.Equal(2, completion.ToolCalls.Count); // the scripted answer is read as ever: the constraint is the engine's to apply

        var triggered = engine.LastRequest!.TriggeredSchema!;
        Assert.Null(engine.LastRequest.OutputSchema); // the answer itself is free
        Assert.Equal("<tool_call>", triggered.Trigger);
        // A call written while thinking is not watched: Qwen's <think> block, which this prompt does not open.
        Assert.Equal(("<think>", "</think>", false), (triggered.Reasoning!.Open, triggered.Reasoning.Close, triggered.Reasoning.StartsInside));
        bool Allows(string call) => Constraints.JsonMatcher.Start(triggered.Schema).Advance(Encoding.UTF8.GetBytes(call)) is { CanEnd: true };
        Assert.True(Allows("<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\", \"days\": 2}}\n</tool_call>"));
        Assert.False(Allows("<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": 5, \"days\": 2}}\n</tool_call>")); // strict: its schema
        Assert.False(Allows("<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>"));
        Assert.True(Allows("<tool_call>\n{\"name\": \"get_time\", \"arguments\": {\"zone\": 5}}\n</tool_call>")); // not strict: any object
        Assert.False(Allows("<tool_call>\n{\"name\": \"launch\", \"arguments\": {}}\n</tool_call>")); // only the tools given

        // Without strict, or with a forced choice, no triggered schema.
        await Client(server).CompleteChatAsync([new UserChatMessage("Weather in Paris?")], new ChatCompletionOptions { Tools = { Weather, Clock } });
        Assert.Null(engine.LastRequest!.TriggeredSchema);

        // A strict schema keyword the grammar cannot enforce: served (the SDKs send such schemas), that function's
        // arguments left free, and the header says so.
        using var partial = await server.PostJsonAsync("/v1/chat/completions", new
        {
            messages = new[] { new { role = "user", content = "Weather in Paris?" } },
            tools = new object[]
            {
                new { type = "function", function = new { name = "get_weather", strict = true, parameters = new { type = "object", properties = new { city = new { type = "string", pattern = "^[A-Z]" } }, required = new[] { "city" } } } },
                new { type = "function", function = new { name = "get_time", strict = true, parameters = new { type = "object", properties = new { zone = new { type = "string" } }, required = new[] { "zone" } } } },
            },
        });
        Assert.Equal(HttpStatusCode.OK, partial.StatusCode);
        Assert.StartsWith("partial; arguments not constrained for tools[0].function.parameters", partial.Headers.GetValues("x-tokenfactory-strict-tools").Single());
        var schema = engine.LastRequest!.TriggeredSchema!.Schema;
        bool AllowsPartial(string call) => Constraints.JsonMatcher.Start(schema).Advance(Encoding.UTF8.GetBytes(call)) is { CanEnd: true };
        Assert.True(AllowsPartial("<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": 5}}\n</tool_call>")); // free: its pattern cannot be enforced
        Assert.False(AllowsPartial("<tool_call>\n{\"name\": \"get_time\", \"arguments\": {\"zone\": 5}}\n</tool_call>")); // still strict
    }

    /// <summary>
    /// A streamed call that turns out malformed keeps the index its events gave it, with status incomplete, in the final
    /// output too: it was announced "completed" and then dropped, so the later message's index moved.
    /// </summary>
    [Fact]
    public async Task A_malformed_streamed_call_keeps_its_index_and_says_it_is_incomplete()
    {
        var engine = new ScriptedEngine(Qwen(), "<tool_call>", "\n{\"name\": \"get_time\", \"arguments\": {\"zone\": UTC}}", "\n</tool_call>", "\nSorry.");
        await using var server = await ServerInstance.StartAsync(engineFactory: engine);
        using var response = await server.PostJsonAsync("/v1/responses", new
        {
            input = "Time?", stream = true,
            tools = new[] { new { type = "function", name = "get_time", strict = false, parameters = new { type = "object", properties = new { zone = new { type = "string" } } } } },
        });
        string body = await response.Content.ReadAsStringAsync();
        var events = body.Split('\n').Where(l => l.StartsWith("data: ", StringComparison.Ordinal)).Select(l => JsonNode.Parse(l["data: ".Length..])!).ToList();
        var output = events.Single(e => (string?)e["type"] == "response.completed")["response"]!["output"]!.AsArray();
        var done = events.Where(e => (string?)e["type"] == "response.output_item.done").ToList();
        Assert.Equal(2, done.Count);
        Assert.All(done, d => Assert.Equal((string?)d["item"]!["id"], (string?)output[(int)d["output_index"]!]!["id"]));
        var call = output.Single(i => (string?)i!["type"] == "function_call")!;
        Assert.Equal("incomplete", (string?)call["status"]);
        Assert.Equal("incomplete", (string?)done.Single(d => (string?)d["item"]!["type"] == "function_call")["item"]!["status"]);
    }

    /// <summary>
    /// A call's last argument piece and the text after its closing markup can arrive in one update (one token spelling
    /// both): the arguments end whole, in the item, in the done event and in the deltas, before the message begins.
    /// </summary>
    [Fact]
    public async Task A_calls_last_arguments_arriving_with_later_text_stay_in_the_call()
    {
        var engine = new ScriptedEngine(Qwen(), "<tool_call>", "\n{\"name\": \"get_time\", \"arguments\": {\"zone\": \"CE", "T\"}}\n</tool_call>\nDone.");
        await using var server = await ServerInstance.StartAsync(engineFactory: engine);
        var tools = new[] { new { type = "function", name = "get_time", strict = false, parameters = new { type = "object", properties = new { zone = new { type = "string" } } } } };
        using (var whole = await server.PostJsonAsync("/v1/responses", new { input = "Time?", tools }))
        {
            var output = JsonNode.Parse(await whole.Content.ReadAsStringAsync())!["output"]!.AsArray();
            var call = output.Single(i => (string?)i!["type"] == "function_call")!;
            Assert.Equal("CET", (string?)JsonNode.Parse((string)call["arguments"]!)!["zone"]);
            Assert.Equal("completed", (string?)call["status"]);
        }
        using var streamed = await server.PostJsonAsync("/v1/responses", new { input = "Time?", tools, stream = true });
        var events = (await streamed.Content.ReadAsStringAsync()).Split('\n').Where(l => l.StartsWith("data: ", StringComparison.Ordinal))
            .Select(l => JsonNode.Parse(l["data: ".Length..])!).ToList();
        string Type(JsonNode e) => (string)e["type"]!;
        string deltas = string.Concat(events.Where(e => Type(e) == "response.function_call_arguments.delta").Select(e => (string)e["delta"]!));
        var done = events.Single(e => Type(e) == "response.function_call_arguments.done");
        Assert.Equal("CET", (string?)JsonNode.Parse((string)done["arguments"]!)!["zone"]);
        Assert.Equal((string)done["arguments"]!, deltas);
        Assert.True(events.IndexOf(done) < events.FindIndex(e => Type(e) == "response.output_text.delta"), "the call ends before the message's text");
        Assert.True(events.FindLastIndex(e => Type(e) == "response.function_call_arguments.delta") < events.IndexOf(done), "no argument delta after the call's done event");
        var final = events.Single(e => Type(e) == "response.completed")["response"]!["output"]!.AsArray();
        Assert.Equal((string)done["arguments"]!, (string)final.Single(i => (string?)i!["type"] == "function_call")!["arguments"]!);
    }

    [Fact]
    public async Task Unknown_keys_in_a_named_tool_choice_are_refused_by_name()
    {
        var engine = new ScriptedEngine(Qwen(), "It is noon.");
        await using var server = await ServerInstance.StartAsync(engineFactory: engine);
        var tools = new[] { new { type = "function", function = new { name = "get_time" } } };
        using (var extra = await server.PostJsonAsync("/v1/chat/completions", new
        {
            messages = new[] { new { role = "user", content = "Time?" } }, tools,
            tool_choice = new { type = "function", function = new { name = "get_time" }, extra = 1 },
        }))
            await Api.ErrorTests.AssertErrorAsync(extra, HttpStatusCode.BadRequest, "tool_choice.extra", "unknown_parameter");
        using (var inner = await server.PostJsonAsync("/v1/chat/completions", new
        {
            messages = new[] { new { role = "user", content = "Time?" } }, tools,
            tool_choice = new { type = "function", function = new { name = "get_time", strict = true } },
        }))
            await Api.ErrorTests.AssertErrorAsync(inner, HttpStatusCode.BadRequest, "tool_choice.function.strict", "unknown_parameter");
    }

    [Fact]
    public async Task A_keyless_callers_safety_identifier_is_whom_the_engine_shares_itself_with_when_there_is_no_user()
    {
        var engine = new ScriptedEngine(Qwen(), "Hi.");
        await using var server = await ServerInstance.StartAsync(engineFactory: engine);
        using (var r = await server.PostJsonAsync("/v1/chat/completions", new { messages = new[] { new { role = "user", content = "Hi" } }, safety_identifier = "alice" }))
            Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        Assert.Equal("user:alice", engine.LastTenant);
        using (var r = await server.PostJsonAsync("/v1/chat/completions", new { messages = new[] { new { role = "user", content = "Hi" } }, user = "bob", safety_identifier = "alice" }))
            Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        Assert.Equal("user:bob", engine.LastTenant);
    }

    /// <summary>The Responses API's function tools are strict unless they say otherwise (OpenAI's default there; chat's is not).</summary>
    [Fact]
    public async Task Responses_function_tools_are_strict_by_default()
    {
        var engine = new ScriptedEngine(Qwen(), "It is noon.");
        await using var server = await ServerInstance.StartAsync(engineFactory: engine);
        object Tool(bool? strict) => strict is null
            ? new { type = "function", name = "get_time", parameters = new { type = "object", properties = new { zone = new { type = "string" } }, required = new[] { "zone" }, additionalProperties = false } }
            : new { type = "function", name = "get_time", strict, parameters = new { type = "object", properties = new { zone = new { type = "string" } }, required = new[] { "zone" }, additionalProperties = false } };

        using (var unsaid = await server.PostJsonAsync("/v1/responses", new { input = "Time?", tools = new[] { Tool(null) } }))
            Assert.Equal(HttpStatusCode.OK, unsaid.StatusCode);
        var schema = engine.LastRequest!.TriggeredSchema!.Schema;
        Assert.False(Constraints.JsonMatcher.Start(schema).Advance(Encoding.UTF8.GetBytes("<tool_call>\n{\"name\": \"get_time\", \"arguments\": {\"zone\": 5}}\n</tool_call>")) is { CanEnd: true });

        using (var off = await server.PostJsonAsync("/v1/responses", new { input = "Time?", tools = new[] { Tool(false) } }))
            Assert.Equal(HttpStatusCode.OK, off.StatusCode);
        Assert.Null(engine.LastRequest!.TriggeredSchema);
    }

    [Fact]
    public async Task A_forced_call_from_a_model_that_never_saw_tools_has_arguments_its_schema_allows()
    {
        await using var server = await ServerInstance.StartAsync(new() { ["TokenFactory:ChatTemplateFile"] = QwenTemplatePath, ["TokenFactory:ContextLength"] = "2048" });
        var chat = Client(server);
        for (int seed = 1; seed <= 3; seed++)
        {
            var options = new ChatCompletionOptions { Tools = { Weather, Clock }, ToolChoice = ChatToolChoice.CreateFunctionChoice("get_time"), Temperature = 1, MaxOutputTokenCount = 600 };
#pragma warning disable OPENAI001 // the seed is marked experimental in the SDK
            options.Seed = seed;
#pragma warning restore OPENAI001
            ChatCompletion completion = await chat.CompleteChatAsync([new UserChatMessage("What time is it?")], options);
            Assert.Equal(ChatFinishReason.ToolCalls, completion.FinishReason);
            var call = Assert.Single(completion.ToolCalls);
            Assert.Equal("get_time", call.FunctionName);
            var args = JsonNode.Parse(call.FunctionArguments.ToString())!.AsObject();
            Assert.Contains((string?)args["zone"], new[] { "UTC", "CET" });
            Assert.Single(args);
        }
    }

    [Fact]
    public async Task Tools_for_a_template_that_cannot_show_them_and_a_forced_call_with_a_response_format_are_refused()
    {
        await using var server = await ServerInstance.StartAsync(); // stories260K: no template of its own, ChatML shows no tools
        using (var response = await server.PostJsonAsync("/v1/chat/completions", new
        {
            model = ServerInstance.ModelName, messages = new[] { new { role = "user", content = "hi" } },
            tools = new[] { new { type = "function", function = new { name = "f" } } },
        }))
        {
            Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
            Assert.Equal("tools", (string?)(await response.Content.ReadFromJsonAsync<JsonObject>())!["error"]!["param"]);
        }
        await using var qwen = await ServerInstance.StartAsync(new() { ["TokenFactory:ChatTemplateFile"] = QwenTemplatePath });
        using var both = await qwen.PostJsonAsync("/v1/chat/completions", new
        {
            model = ServerInstance.ModelName, messages = new[] { new { role = "user", content = "hi" } },
            tools = new[] { new { type = "function", function = new { name = "f" } } }, tool_choice = "required", response_format = new { type = "json_object" },
        });
        Assert.Equal(HttpStatusCode.BadRequest, both.StatusCode);
        Assert.Equal("response_format", (string?)(await both.Content.ReadFromJsonAsync<JsonObject>())!["error"]!["param"]);
    }

    [Fact]
    public async Task A_template_that_cannot_render_the_messages_is_a_400_naming_them()
    {
        // The template reads a field of the second message, which this conversation does not have.
        var engine = new ScriptedEngine(new Chat.ChatTemplate("{{ messages[1].content.strip() }}", "", ""), "x");
        await using var server = await ServerInstance.StartAsync(engineFactory: engine);
        using var response = await server.PostJsonAsync("/v1/chat/completions", new { model = ServerInstance.ModelName, messages = new[] { new { role = "user", content = "hi" } } });
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var error = (await response.Content.ReadFromJsonAsync<JsonObject>())!["error"]!;
        Assert.Equal("messages", (string?)error["param"]);
        Assert.Equal("template_error", (string?)error["code"]);
        Assert.Equal("invalid_request_error", (string?)error["type"]);
    }
}
