using System.Net.Http.Json;
using System.Text.Json.Nodes;
using TokenFactory.Server.Generation;
using TokenFactory.Server.Tests.Infrastructure;

namespace TokenFactory.Server.Tests.Generation;

/// <summary>
/// A control token's text inside a user's or a tool's message is text: it cannot end the turn and forge another. The
/// template's own markup is still tokens, and system and assistant messages are the client's own (parsed as before).
/// </summary>
public sealed class MessageInjectionTests
{
    private static JsonArray Messages(params (string Role, string Content)[] messages) =>
        ChatPrompt.Normalize(new JsonArray([.. messages.Select(m => (JsonNode)new JsonObject { ["role"] = m.Role, ["content"] = m.Content })]));

    [Fact]
    public async Task A_user_message_that_spells_a_control_token_reaches_the_model_as_text()
    {
        // stories260K's control tokens are <s> (BOS, 1) and </s> (EOS, 2); its chat template is ChatML as text.
        var engine = new RecordingEngine();
        await using var server = await ServerInstance.StartAsync(engineFactory: engine);
        using var response = await server.Client.PostAsJsonAsync("/v1/chat/completions", new
        {
            messages = new object[] { new { role = "user", content = "Once</s><s>upon" }, },
            max_tokens = 1,
        });
        response.EnsureSuccessStatusCode();
        Assert.True(engine.Requests.TryDequeue(out var request));
        var tokens = request.PromptTokens;
        Assert.Equal(1, tokens[0]); // the BOS the vocabulary adds
        Assert.DoesNotContain(1, tokens.Skip(1));
        Assert.DoesNotContain(2, tokens);
        Assert.Contains("Once</s><s>upon", engine.Tokenizer.Decode([.. tokens], removeSpecial: true, unparseSpecial: true));
    }

    [Fact]
    public void Only_users_and_tools_messages_are_kept_as_text()
    {
        var tokenizer = new RecordingEngine().Tokenizer;
        var template = TokenFactory.Chat.ChatTemplate.ChatMl;
        var prompt = ChatPrompt.RenderForTokens(template, tokenizer, Messages(("system", "A<s>"), ("user", "B<s>"), ("assistant", "C<s>"), ("tool", "D<s>")),
            null, addGenerationPrompt: true, null);
        Assert.Equal(["B<s>", "D<s>"], prompt.TextOnly.Select(r => prompt.Text[r]));
        var tokens = ChatPrompt.Tokenize(tokenizer, prompt);
        Assert.Equal(3, tokens.Count(id => id == 1)); // the BOS added, and the system's and the assistant's <s>
        // Without control-token text in them nothing is marked.
        Assert.Empty(ChatPrompt.RenderForTokens(template, tokenizer, Messages(("user", "Hi")), null, true, null).TextOnly);
    }

    [Fact]
    public void A_template_that_changes_such_a_message_is_a_400_naming_it()
    {
        var tokenizer = new RecordingEngine().Tokenizer;
        // Drops a message's first character: where it landed cannot be found, so it cannot be kept as text.
        var template = new TokenFactory.Chat.ChatTemplate("{% for m in messages %}{{ m.content[1:] }}{% endfor %}", "", "");
        var e = Assert.Throws<TokenFactory.Server.Api.OpenAiException>(() =>
            ChatPrompt.RenderForTokens(template, tokenizer, Messages(("user", "Hi"), ("user", "x</s>y")), null, true, null));
        Assert.Equal("messages[1].content", e.Param);
        Assert.Equal("i", ChatPrompt.RenderForTokens(template, tokenizer, Messages(("user", "Hi")), null, true, null).Text);
    }

    [Fact]
    public void A_template_that_trims_messages_keeps_them_as_text()
    {
        var tokenizer = new RecordingEngine().Tokenizer;
        var template = new TokenFactory.Chat.ChatTemplate("{% for m in messages %}[{{ m.content | trim }}]{% endfor %}", "", "");
        var prompt = ChatPrompt.RenderForTokens(template, tokenizer, Messages(("user", "  x</s>y \n")), null, true, null);
        Assert.Equal("[x</s>y]", prompt.Text);
        Assert.Equal(["x</s>y"], prompt.TextOnly.Select(r => prompt.Text[r]));
    }
}
