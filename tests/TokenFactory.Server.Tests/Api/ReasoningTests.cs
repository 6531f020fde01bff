using System.ClientModel;
using System.Net;
using System.Text.Json.Nodes;
using OpenAI;
using OpenAI.Chat;
using TokenFactory.Server.Tests.Infrastructure;

namespace TokenFactory.Server.Tests.Api;

/// <summary>
/// A reasoning model's thinking comes back in <c>reasoning_content</c> and its answer in <c>content</c>, streamed or
/// not, with the Nemotron 3 Nano template (whose generation prompt opens the &lt;think&gt; block).
/// </summary>
public sealed class ReasoningTests
{
    // The closing tag arrives split over three tokens, with the template's whitespace around it.
    private static readonly string[] Output = ["The user", " says hi.", "\n</", "thi", "nk>", "\n\n", "Hello", "!"];

    private static object Body(bool stream, string? format = null) => new Dictionary<string, object?>
    {
        ["messages"] = new[] { new { role = "user", content = "Hi" } },
        ["max_tokens"] = 50,
        ["stream"] = stream,
        ["reasoning_format"] = format,
    };

    [Fact]
    public async Task Thinking_and_answer_are_separate_fields()
    {
        var engine = new ScriptedEngine(ScriptedEngine.Nemotron3Nano(), Output);
        await using var server = await ServerInstance.StartAsync(engineFactory: engine);
        using var response = await server.PostJsonAsync("/v1/chat/completions", Body(stream: false));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var message = JsonNode.Parse(await response.Content.ReadAsStringAsync())!["choices"]![0]!["message"]!;
        Assert.Equal("The user says hi.", (string)message["reasoning_content"]!);
        Assert.Equal("Hello!", (string)message["content"]!);
        Assert.EndsWith("<|im_start|>assistant\n<think>\n", engine.LastPrompt);
    }

    [Fact]
    public async Task The_responses_usage_counts_the_thinking_tokens()
    {
        var engine = new ScriptedEngine(ScriptedEngine.Nemotron3Nano(), Output);
        await using var server = await ServerInstance.StartAsync(engineFactory: engine);
        using var response = await server.PostJsonAsync("/v1/responses", new { input = "Hi", max_output_tokens = 50 });
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var usage = JsonNode.Parse(await response.Content.ReadAsStringAsync())!["usage"]!;
        Assert.Equal(Output.Length, (int)usage["output_tokens"]!);
        // The five tokens before the answer: the thinking and its closing tag (split over three of them).
        Assert.Equal(5, (int)usage["output_tokens_details"]!["reasoning_tokens"]!);
    }

    [Fact]
    public async Task Streamed_deltas_carry_reasoning_then_content_and_never_a_piece_of_the_tag()
    {
        var engine = new ScriptedEngine(ScriptedEngine.Nemotron3Nano(), Output);
        await using var server = await ServerInstance.StartAsync(engineFactory: engine);
        using var response = await server.PostJsonAsync("/v1/chat/completions", Body(stream: true));
        var s = await Sse.ReadAllAsync(response);
        Assert.True(s.Done);
        string reasoning = "", content = "";
        bool contentStarted = false;
        foreach (var chunk in s.Chunks)
        {
            if (chunk["choices"] is not JsonArray { Count: > 0 } choices)
                continue;
            var delta = choices[0]!["delta"]!;
            if ((string?)delta["reasoning_content"] is { } r)
            {
                Assert.False(contentStarted, "reasoning after the answer started");
                reasoning += r;
            }
            if ((string?)delta["content"] is { Length: > 0 } c)
            {
                contentStarted = true;
                content += c;
            }
        }
        Assert.Equal("The user says hi.", reasoning);
        Assert.Equal("Hello!", content);
        Assert.DoesNotContain("<", reasoning + content);
    }

    [Fact]
    public async Task Reasoning_format_none_returns_the_raw_text_and_other_values_are_rejected()
    {
        var engine = new ScriptedEngine(ScriptedEngine.Nemotron3Nano(), Output);
        await using var server = await ServerInstance.StartAsync(engineFactory: engine);
        using var raw = await server.PostJsonAsync("/v1/chat/completions", Body(stream: false, format: "none"));
        var message = JsonNode.Parse(await raw.Content.ReadAsStringAsync())!["choices"]![0]!["message"]!;
        Assert.Equal(string.Concat(Output), (string)message["content"]!);
        Assert.Null(message["reasoning_content"]);
        using var bad = await server.PostJsonAsync("/v1/chat/completions", Body(stream: false, format: "xml"));
        await ErrorTests.AssertErrorAsync(bad, HttpStatusCode.BadRequest, "reasoning_format");
    }

    [Fact]
    public async Task Thinking_off_through_chat_template_kwargs_and_history_reasoning_reaches_the_template()
    {
        var engine = new ScriptedEngine(ScriptedEngine.Nemotron3Nano(), "Direct.");
        await using var server = await ServerInstance.StartAsync(engineFactory: engine);
        using var response = await server.PostJsonAsync("/v1/chat/completions", new
        {
            messages = new object[]
            {
                new { role = "user", content = "Hi" },
                new { role = "assistant", content = "Hello!", reasoning_content = "They greet me." },
                new { role = "user", content = "Bye" },
            },
            chat_template_kwargs = new { enable_thinking = false },
        });
        var message = JsonNode.Parse(await response.Content.ReadAsStringAsync())!["choices"]![0]!["message"]!;
        Assert.Equal("Direct.", (string)message["content"]!);
        Assert.Null(message["reasoning_content"]);
        Assert.EndsWith("<|im_start|>assistant\n<think></think>", engine.LastPrompt);
    }

    /// <summary>
    /// A constraint over the whole answer (structured output, a forced call) holds from the first token, so the model
    /// answers at once: the prompt is the template's thinking-off rendering, and the constrained text is the content (or
    /// the call), not reasoning.
    /// </summary>
    [Fact]
    public async Task A_constrained_answer_starts_with_thinking_off_and_lands_in_content()
    {
        var engine = new ScriptedEngine(ScriptedEngine.Nemotron3Nano(), "{\"a\":", "1}");
        await using var server = await ServerInstance.StartAsync(engineFactory: engine);
        using var json = await server.PostJsonAsync("/v1/chat/completions", new
        {
            messages = new[] { new { role = "user", content = "Hi" } },
            response_format = new { type = "json_object" },
        });
        Assert.Equal(HttpStatusCode.OK, json.StatusCode);
        var message = JsonNode.Parse(await json.Content.ReadAsStringAsync())!["choices"]![0]!["message"]!;
        Assert.Equal("{\"a\":1}", (string)message["content"]!);
        Assert.Null(message["reasoning_content"]);
        Assert.EndsWith("<|im_start|>assistant\n<think></think>", engine.LastPrompt);

        var calling = new ScriptedEngine(ScriptedEngine.Nemotron3Nano(), "<tool_call>\n{\"name\": \"f\", \"arguments\": {}}\n</tool_call>");
        await using var toolServer = await ServerInstance.StartAsync(engineFactory: calling);
        using var forced = await toolServer.PostJsonAsync("/v1/chat/completions", new
        {
            messages = new[] { new { role = "user", content = "Hi" } },
            tools = new[] { new { type = "function", function = new { name = "f", parameters = new { type = "object", properties = new { } } } } },
            tool_choice = "required",
        });
        string body = await forced.Content.ReadAsStringAsync();
        Assert.Equal(HttpStatusCode.OK, forced.StatusCode);
        var choice = JsonNode.Parse(body)!["choices"]![0]!;
        Assert.Equal("tool_calls", (string)choice["finish_reason"]!);
        Assert.Equal("f", (string)choice["message"]!["tool_calls"]![0]!["function"]!["name"]!);
        Assert.Null(choice["message"]!["reasoning_content"]);
    }

    [Fact]
    public async Task The_official_sdk_reads_the_answer_of_a_reasoning_model()
    {
        var engine = new ScriptedEngine(ScriptedEngine.Nemotron3Nano(), Output);
        await using var server = await ServerInstance.StartAsync(engineFactory: engine);
        var client = new ChatClient(ServerInstance.ModelName, new ApiKeyCredential("unused"), new OpenAIClientOptions { Endpoint = server.OpenAiEndpoint });
        ChatCompletion completion = await client.CompleteChatAsync([new UserChatMessage("Hi")]);
        Assert.Equal("Hello!", completion.Content[0].Text);
    }
}
