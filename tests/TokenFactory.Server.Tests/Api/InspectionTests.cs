using System.Net;
using System.Text.Json.Nodes;
using TokenFactory.Server.Tests.Infrastructure;

namespace TokenFactory.Server.Tests.Api;

[Collection(StoriesServerCollection.Name)]
public sealed class InspectionTests(StoriesServerFixture fixture)
{
    private ServerInstance Server => fixture.Server;

    private async Task<JsonNode> PostAsync(string path, object body)
    {
        using var r = await Server.PostJsonAsync(path, body);
        var text = await r.Content.ReadAsStringAsync();
        Assert.True(r.IsSuccessStatusCode, text);
        return JsonNode.Parse(text)!;
    }

    [Fact]
    public async Task Tokenize_matches_the_tokenizer_and_adds_BOS_only_when_asked()
    {
        var tokenizer = Server.Engine.Tokenizer;
        var plain = await PostAsync("/tokenize", new { content = "Once upon a time" });
        Assert.Equal(tokenizer.Encode("Once upon a time", addSpecial: false), plain["tokens"]!.AsArray().Select(t => (int)t!));
        var special = await PostAsync("/tokenize", new { content = "Once upon a time", add_special = true });
        Assert.Equal(tokenizer.Bos, (int)special["tokens"]![0]!);
    }

    [Fact]
    public async Task Tokenize_with_pieces_gives_id_and_piece()
    {
        var r = await PostAsync("/tokenize", new { content = "Once upon", with_pieces = true });
        var tokens = r["tokens"]!.AsArray();
        Assert.Equal(" Once upon", string.Concat(tokens.Select(t => (string)t!["piece"]!)));
        Assert.All(tokens, t => Assert.Equal(Server.Engine.Tokenizer.TokenPiece((int)t!["id"]!), (string)t["piece"]!));
    }

    [Fact]
    public async Task Tokenize_with_pieces_gives_bytes_for_partial_characters()
    {
        // stories260K has no token for "🙂": four byte-fallback tokens spell it, each an incomplete UTF-8 sequence.
        var r = await PostAsync("/tokenize", new { content = "🙂", with_pieces = true });
        var pieces = r["tokens"]!.AsArray().Select(t => t!["piece"]!).ToList();
        Assert.Equal([240, 159, 153, 130], pieces.OfType<JsonArray>().Select(p => (int)p.Single()!));
    }

    [Fact]
    public async Task Detokenize_inverts_tokenize()
    {
        var ids = (await PostAsync("/tokenize", new { content = "Lily loved to play." }))["tokens"]!.AsArray().Select(t => (int)t!).ToArray();
        var r = await PostAsync("/detokenize", new { tokens = ids });
        Assert.Equal(Server.Engine.Tokenizer.Decode(ids), (string)r["content"]!);
        Assert.Equal("Lily loved to play.", ((string)r["content"]!).TrimStart());
    }

    [Fact]
    public async Task Detokenize_rejects_unknown_ids()
    {
        using var r = await Server.PostJsonAsync("/detokenize", new { tokens = new[] { 1, 100000 } });
        await ErrorTests.AssertErrorAsync(r, HttpStatusCode.BadRequest, "tokens");
    }

    [Fact]
    public async Task Apply_template_returns_the_exact_ChatML_prompt()
    {
        var messages = new object[] { new { role = "system", content = "Be brief." }, new { role = "user", content = "Hi" } };
        var withPrompt = await PostAsync("/apply-template", new { messages });
        Assert.Equal("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n", (string)withPrompt["prompt"]!);
        var without = await PostAsync("/apply-template", new { messages, add_generation_prompt = false });
        Assert.Equal("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n", (string)without["prompt"]!);
    }

    [Fact]
    public async Task A_developer_message_is_a_system_message_for_a_template_without_the_role()
    {
        var messages = new object[] { new { role = "developer", content = "Be brief." }, new { role = "user", content = "Hi" } };
        var r = await PostAsync("/apply-template", new { messages });
        Assert.Equal("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n", (string)r["prompt"]!);
    }

    [Theory]
    [InlineData("Qwen-Qwen2.5-7B-Instruct", "<|im_start|>system\nBe brief.<|im_end|>")] // it dropped the message and wrote its default system prompt
    [InlineData("openai-gpt-oss-120b", null)] // names the role: as sent
    public void A_real_template_gets_the_developer_message_as_its_system_prompt_unless_it_names_the_role(string template, string? expected)
    {
        var source = File.ReadAllText(Path.Combine(TestPaths.Shared, "fixtures", "chat-templates", template + ".jinja"));
        var chat = new TokenFactory.Chat.ChatTemplate(source, "<s>", "</s>");
        var messages = new System.Text.Json.Nodes.JsonArray(
            new System.Text.Json.Nodes.JsonObject { ["role"] = "developer", ["content"] = "Be brief." },
            new System.Text.Json.Nodes.JsonObject { ["role"] = "user", ["content"] = "Hi" });
        string prompt = TokenFactory.Server.Generation.ChatPrompt.Render(chat, messages, null, addGenerationPrompt: true, null);
        if (expected is null)
            Assert.Equal(chat.Render(messages, addGenerationPrompt: true), prompt);
        else
        {
            Assert.Contains(expected, prompt);
            Assert.DoesNotContain("You are Qwen", prompt);
        }
    }

    [Fact]
    public async Task A_history_call_whose_arguments_name_a_key_twice_reaches_the_template_as_its_text()
    {
        var messages = new object[]
        {
            new { role = "user", content = "Weather?" },
            new { role = "assistant", content = (string?)null, tool_calls = new[] { new { id = "call_1", type = "function", function = new { name = "get_weather", arguments = "{\"city\": \"Paris\", \"city\": \"Rome\"}" } } } },
            new { role = "tool", tool_call_id = "call_1", content = "Sunny" },
        };
        var source = "{% for m in messages %}{% if m.tool_calls %}{{ m.tool_calls[0].function.arguments | tojson }}{% endif %}{% endfor %}";
        var chat = new TokenFactory.Chat.ChatTemplate(source, "", "");
        var parsed = System.Text.Json.Nodes.JsonNode.Parse(System.Text.Json.JsonSerializer.Serialize(messages))!.AsArray();
        string prompt = TokenFactory.Server.Generation.ChatPrompt.Render(chat, TokenFactory.Server.Generation.ChatPrompt.Normalize(parsed), null, addGenerationPrompt: false, null);
        Assert.Equal("\"{\\\"city\\\": \\\"Paris\\\", \\\"city\\\": \\\"Rome\\\"}\"", prompt);
    }
}
