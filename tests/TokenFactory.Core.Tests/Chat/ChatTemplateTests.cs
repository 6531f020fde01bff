using System.Text.Json.Nodes;
using TokenFactory.Chat;

namespace TokenFactory.Tests.Chat;

public sealed class ChatTemplateTests
{
    private static JsonArray Messages(params (string Role, string Content)[] messages) =>
        new(messages.Select(m => (JsonNode)new JsonObject { ["role"] = m.Role, ["content"] = m.Content }).ToArray());

    [Fact]
    public void ChatMlIsTheDefaultFormat()
    {
        var text = ChatTemplate.ChatMl.Render(Messages(("system", "Be brief."), ("user", "Hi")), addGenerationPrompt: true);
        Assert.Equal("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n", text);
    }

    [Fact]
    public void StrftimeNowUsesTheInjectedClock()
    {
        var clock = new FixedClock(new DateTimeOffset(2024, 2, 5, 13, 4, 5, TimeSpan.Zero));
        var chat = new ChatTemplate("{{ strftime_now('%d %b %Y %H:%M') }}|{{ bos_token }}|{{ eos_token }}", "<s>", "</s>", clock);
        Assert.Equal("05 Feb 2024 13:04|<s>|</s>", chat.Render([], addGenerationPrompt: false));
    }

    [Fact]
    public void RaiseExceptionCarriesTheTemplatesMessage()
    {
        var chat = new ChatTemplate("{% if messages[0].role == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}", "", "");
        var ex = Assert.Throws<TemplateRaisedException>(() => chat.Render(Messages(("system", "x")), false));
        Assert.Equal("System role not supported", ex.Message);
    }

    [Fact]
    public void ToolsAreUndefinedWhenNotGiven()
    {
        var chat = new ChatTemplate("{{ tools is defined }}{% if tools %}{{ tools|length }}{% endif %}", "", "");
        Assert.Equal("False", chat.Render([], false));
        Assert.Equal("True1", chat.Render([], false, [new JsonObject { ["type"] = "function" }]));
    }

    [Fact]
    public void JsonNumbersKeepPythonIntAndFloatDistinction()
    {
        var chat = new ChatTemplate("{% for m in messages %}{{ m.content }} {{ m.content is integer }} {{ m.content|tojson }};{% endfor %}", "", "");
        var messages = JsonNode.Parse("""[{"content": 1}, {"content": 1.0}, {"content": 2.5e3}, {"content": null}]""")!.AsArray();
        Assert.Equal("1 True 1;1.0 False 1.0;2500.0 False 2500.0;None False null;", chat.Render(messages, false));
    }

    [Fact]
    public void ExtraContextVariablesReachTheTemplate()
    {
        var chat = new ChatTemplate("{{ 'on' if enable_thinking else 'off' }}", "", "");
        Assert.Equal("off", chat.Render([], false, extraContext: new Dictionary<string, JsonNode?> { ["enable_thinking"] = false }));
    }

    [Fact]
    public void ChatTemplateParseErrorsSayWhoseTemplateItIs()
    {
        using var file = TokenFactory.Gguf.GgufFile.Open(TestPaths.Stories260K);
        var tokenizer = TokenFactory.Tokenization.Tokenizer.FromMetadata(file.Metadata);
        var metadata = new TokenFactory.Gguf.GgufMetadata("/models/broken.gguf");
        metadata.Set("tokenizer.chat_template", TokenFactory.Gguf.GgufValue.Of("{{ a + }}"));
        var own = Assert.ThrowsAny<TemplateException>(() => ChatTemplates.ForModel(metadata, tokenizer));
        Assert.StartsWith("The model's chat template (tokenizer.chat_template in /models/broken.gguf) does not parse: ", own.Message, StringComparison.Ordinal);
        Assert.Contains("(line 1, column", own.Message, StringComparison.Ordinal);
        var given = Assert.ThrowsAny<TemplateException>(() => ChatTemplates.ForModel(metadata, tokenizer, "{% if %}"));
        Assert.StartsWith("The chat template given by the operator does not parse: ", given.Message, StringComparison.Ordinal);
    }
}
