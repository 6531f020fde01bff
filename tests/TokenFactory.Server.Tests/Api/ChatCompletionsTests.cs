using System.Net;
using System.Text.Json.Nodes;
using TokenFactory.Engine;
using TokenFactory.Server.Generation;
using TokenFactory.Server.Tests.Infrastructure;

namespace TokenFactory.Server.Tests.Api;

[Collection(StoriesServerCollection.Name)]
public sealed class ChatCompletionsTests(StoriesServerFixture fixture)
{
    private ServerInstance Server => fixture.Server;

    private static object Chat(string content, int maxTokens = 12, object? extra = null)
    {
        var body = new JsonObject
        {
            ["model"] = ServerInstance.ModelName,
            ["messages"] = new JsonArray(new JsonObject { ["role"] = "user", ["content"] = content }),
            ["max_tokens"] = maxTokens,
            ["temperature"] = 0,
        };
        if (extra is not null)
            foreach (var (k, v) in (JsonObject)JsonNode.Parse(System.Text.Json.JsonSerializer.Serialize(extra))!)
                body[k] = v?.DeepClone();
        return body;
    }

    private async Task<JsonObject> PostAsync(object body, HttpStatusCode expected = HttpStatusCode.OK)
    {
        using var response = await Server.PostJsonAsync("/v1/chat/completions", body);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(expected == response.StatusCode, $"{(int)response.StatusCode}: {text}");
        return JsonNode.Parse(text)!.AsObject();
    }

    [Fact]
    public async Task Non_streaming_response_has_OpenAIs_shape_and_usage()
    {
        var r = await PostAsync(Chat("Tell me a story.", 12));
        Assert.StartsWith("chatcmpl-", (string)r["id"]!);
        Assert.Equal("chat.completion", (string)r["object"]!);
        Assert.Equal(ServerInstance.ModelName, (string)r["model"]!);
        Assert.StartsWith("fp_", (string)r["system_fingerprint"]!);
        Assert.InRange((long)r["created"]!, DateTimeOffset.UtcNow.AddMinutes(-5).ToUnixTimeSeconds(), DateTimeOffset.UtcNow.AddMinutes(5).ToUnixTimeSeconds());
        var choice = r["choices"]!.AsArray().Single()!;
        Assert.Equal(0, (int)choice["index"]!);
        Assert.Equal("assistant", (string)choice["message"]!["role"]!);
        Assert.False(string.IsNullOrEmpty((string)choice["message"]!["content"]!));
        Assert.Equal("length", (string)choice["finish_reason"]!);
        var usage = r["usage"]!;
        Assert.Equal(12, (int)usage["completion_tokens"]!);
        Assert.Equal((int)usage["prompt_tokens"]! + 12, (int)usage["total_tokens"]!);
    }

    [Fact]
    public async Task Prompt_is_the_rendered_template_tokenized_with_one_BOS()
    {
        var engine = Server.Engine;
        string rendered = engine.ChatTemplate.Render(new JsonArray(new JsonObject { ["role"] = "user", ["content"] = "Hi" }), addGenerationPrompt: true);
        var expected = ChatPrompt.Tokenize(engine.Tokenizer, rendered);
        Assert.Equal(engine.Tokenizer.Bos, expected[0]);
        Assert.NotEqual(engine.Tokenizer.Bos, expected[1]);
        var r = await PostAsync(Chat("Hi", 1));
        Assert.Equal(expected.Length, (int)r["usage"]!["prompt_tokens"]!);
    }

    [Fact]
    public async Task Greedy_output_equals_the_engine_run_directly()
    {
        var engine = Server.Engine;
        string rendered = engine.ChatTemplate.Render(new JsonArray(new JsonObject { ["role"] = "user", ["content"] = "Once upon a time" }), addGenerationPrompt: true);
        var tokens = ChatPrompt.Tokenize(engine.Tokenizer, rendered);
        var text = new System.Text.StringBuilder();
        await foreach (var u in engine.GenerateAsync(new GenerationRequest { PromptTokens = tokens, MaxTokens = 20, Sampling = SamplingParameters.Greedy, Stop = ["<|im_end|>"] }))
            text.Append(u.Text);
        var r = await PostAsync(Chat("Once upon a time", 20));
        Assert.Equal(text.ToString(), (string)r["choices"]![0]!["message"]!["content"]!);
    }

    [Fact]
    public async Task Content_as_text_parts_equals_the_same_string_content()
    {
        var asString = await PostAsync(Chat("Hello there", 8));
        var parts = await PostAsync(new
        {
            messages = new object[] { new { role = "user", content = new object[] { new { type = "text", text = "Hello there" } } } },
            max_tokens = 8,
            temperature = 0,
        });
        Assert.Equal((string)asString["choices"]![0]!["message"]!["content"]!, (string)parts["choices"]![0]!["message"]!["content"]!);
        Assert.Equal((int)asString["usage"]!["prompt_tokens"]!, (int)parts["usage"]!["prompt_tokens"]!);
    }

    [Fact]
    public async Task All_roles_are_accepted_and_rendered()
    {
        var messages = new object[]
        {
            new { role = "system", content = "You tell stories." },
            new { role = "user", content = "Start one." },
            new { role = "assistant", content = (string?)null, tool_calls = new object[] { new { id = "call_1", type = "function", function = new { name = "story", arguments = "{}" } } } },
            new { role = "tool", tool_call_id = "call_1", content = "Once upon a time" },
        };
        var r = await PostAsync(new { messages, max_tokens = 4, temperature = 0, user = "user-1234" });
        Assert.Equal(4, (int)r["usage"]!["completion_tokens"]!);
        using var applied = await Server.PostJsonAsync("/apply-template", new { messages });
        string prompt = (string)JsonNode.Parse(await applied.Content.ReadAsStringAsync())!["prompt"]!;
        Assert.Contains("<|im_start|>system\nYou tell stories.<|im_end|>", prompt);
        Assert.Contains("<|im_start|>tool\nOnce upon a time<|im_end|>", prompt);
    }

    [Fact]
    public async Task Max_completion_tokens_is_the_limit_and_a_different_max_tokens_beside_it_is_refused()
    {
        var r = await PostAsync(Chat("Hi", 3, new { max_completion_tokens = 3 }));
        Assert.Equal(3, (int)r["usage"]!["completion_tokens"]!);
        // Two different limits: one would be ignored, so neither is guessed.
        var refused = await PostAsync(Chat("Hi", 10, new { max_completion_tokens = 3 }), HttpStatusCode.BadRequest);
        Assert.Equal("max_tokens", (string?)refused["error"]!["param"]);
    }

    [Fact]
    public async Task Without_max_tokens_generation_may_fill_the_context_and_stops_on_its_own()
    {
        var r = await PostAsync(new { messages = new[] { new { role = "user", content = "Hi" } }, temperature = 0 });
        var usage = r["usage"]!;
        Assert.True((int)usage["total_tokens"]! <= Server.Engine.ContextLength);
        string finish = (string)r["choices"]![0]!["finish_reason"]!;
        Assert.True(finish == "stop" || (int)usage["total_tokens"]! == Server.Engine.ContextLength, $"finish {finish}, usage {usage}");
    }

    [Fact]
    public async Task Stop_string_ends_the_completion_before_the_stop_text()
    {
        var full = (string)(await PostAsync(Chat("Once upon a time", 30)))["choices"]![0]!["message"]!["content"]!;
        int at = full.IndexOf(' ', 3);
        Assert.True(at > 0, full);
        string stop = full.Substring(at, 2);
        var r = await PostAsync(Chat("Once upon a time", 30, new { stop }));
        var choice = r["choices"]![0]!;
        Assert.Equal("stop", (string)choice["finish_reason"]!);
        Assert.Equal(full[..full.IndexOf(stop, StringComparison.Ordinal)], (string)choice["message"]!["content"]!);
        var asArray = await PostAsync(Chat("Once upon a time", 30, new { stop = new[] { "zzzz", stop } }));
        Assert.Equal((string)choice["message"]!["content"]!, (string)asArray["choices"]![0]!["message"]!["content"]!);
    }

    [Fact]
    public async Task N_choices_are_indexed_and_seeded_reproducibly()
    {
        var body = Chat("Tell me a story.", 16, new { n = 3, temperature = 1.0, seed = 42 });
        var a = await PostAsync(body);
        var b = await PostAsync(body);
        var choices = a["choices"]!.AsArray();
        Assert.Equal([0, 1, 2], choices.Select(c => (int)c!["index"]!));
        var texts = choices.Select(c => (string)c!["message"]!["content"]!).ToList();
        Assert.Equal(texts, b["choices"]!.AsArray().Select(c => (string)c!["message"]!["content"]!));
        Assert.True(texts.Distinct().Count() > 1, "seed+i should give the choices different samples");
        Assert.Equal(48, (int)a["usage"]!["completion_tokens"]!);
    }

    /// <summary>
    /// Each sampling parameter changes what is generated: the same request without it and with it (other settings
    /// fixed, a seed where sampling is random) gives different tokens, while the same request twice gives the same,
    /// so the difference is the parameter's doing. A parameter that was accepted and ignored would fail here.
    /// </summary>
    [Theory]
    [InlineData("{\"temperature\": 0}", "{\"temperature\": 1.5, \"seed\": 7}")]
    [InlineData("{\"temperature\": 1.5, \"seed\": 7}", "{\"temperature\": 1.5, \"seed\": 8}")]
    [InlineData("{\"temperature\": 1.5, \"seed\": 7}", "{\"temperature\": 1.5, \"seed\": 7, \"top_p\": 0.2}")]
    [InlineData("{\"temperature\": 1.5, \"seed\": 7}", "{\"temperature\": 1.5, \"seed\": 7, \"top_p\": 0}")]
    [InlineData("{\"temperature\": 1.5, \"seed\": 7}", "{\"temperature\": 1.5, \"seed\": 7, \"top_k\": 2}")]
    [InlineData("{\"temperature\": 1.5, \"seed\": 7}", "{\"temperature\": 1.5, \"seed\": 7, \"min_p\": 0.5}")]
    [InlineData("{\"temperature\": 0}", "{\"temperature\": 0, \"presence_penalty\": 2}")]
    [InlineData("{\"temperature\": 0}", "{\"temperature\": 0, \"frequency_penalty\": 2}")]
    [InlineData("{\"temperature\": 0}", "{\"temperature\": 0, \"repeat_penalty\": 1.8}")]
    [InlineData("{\"temperature\": 0}", "{\"temperature\": 0, \"logit_bias\": {\"400\": 100}}")]
    public async Task Each_sampling_parameter_changes_the_output(string baseline, string changed)
    {
        async Task<string> Tokens(string settings)
        {
            var body = JsonNode.Parse(settings)!.AsObject();
            body["prompt"] = "Once upon a time";
            body["max_tokens"] = 40;
            body["ignore_eos"] = true;
            body["logprobs"] = 0; // the token ids' texts, so that ties in text cannot hide a difference
            using var r = await Server.Client.PostAsync("/v1/completions", new StringContent(body.ToJsonString(), System.Text.Encoding.UTF8, "application/json"));
            var json = JsonNode.Parse(await r.Content.ReadAsStringAsync())!;
            Assert.True(r.IsSuccessStatusCode, json.ToJsonString());
            return string.Join("|", json["choices"]![0]!["logprobs"]!["tokens"]!.AsArray().Select(t => (string)t!));
        }
        string before = await Tokens(baseline);
        Assert.Equal(before, await Tokens(baseline)); // reproducible: any difference below is the parameter's
        string after = await Tokens(changed);
        Assert.NotEqual(before, after);
        if (changed.Contains("logit_bias"))
            Assert.All(after.Split('|'), t => Assert.Equal(Server.Engine.Tokenizer.TokenPiece(400), t)); // +100 forces the token
    }

    [Fact]
    public async Task Logprobs_have_OpenAIs_content_shape()
    {
        var r = await PostAsync(Chat("Hi", 5, new { logprobs = true, top_logprobs = 3 }));
        var content = r["choices"]![0]!["logprobs"]!["content"]!.AsArray();
        Assert.Equal(5, content.Count);
        string text = (string)r["choices"]![0]!["message"]!["content"]!;
        Assert.Equal(text, string.Concat(content.Select(c => (string)c!["token"]!)));
        foreach (var c in content)
        {
            float logprob = (float)c!["logprob"]!;
            Assert.True(logprob <= 0);
            var top = c["top_logprobs"]!.AsArray();
            Assert.Equal(3, top.Count);
            // Greedy: the chosen token is the most likely one.
            Assert.Equal((string)c["token"]!, (string)top[0]!["token"]!);
            Assert.Equal(logprob, (float)top[0]!["logprob"]!, 4);
            Assert.Equal(System.Text.Encoding.UTF8.GetBytes((string)c["token"]!), c["bytes"]!.AsArray().Select(b => (byte)(int)b!));
        }
    }
}
