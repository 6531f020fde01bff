using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using TokenFactory.Server.Tests.Infrastructure;

namespace TokenFactory.Server.Tests.Api;

/// <summary>
/// Every request is checked once at the edge: Content-Type, valid Unicode in every string, no repeated keys,
/// no unknown or unimplemented parameters, OpenAI's numeric ranges with both edges, and every prompt shape.
/// </summary>
[Collection(StoriesServerCollection.Name)]
public sealed class RequestValidationTests(StoriesServerFixture fixture)
{
    private ServerInstance Server => fixture.Server;

    private const string Hi = "[{\"role\": \"user\", \"content\": \"Hi\"}]";

    private Task<HttpResponseMessage> PostAsync(string path, byte[] body, string? contentType = "application/json")
    {
        var content = new ByteArrayContent(body);
        if (contentType is not null)
            content.Headers.ContentType = MediaTypeHeaderValue.Parse(contentType);
        return Server.Client.PostAsync(path, content);
    }

    private Task<HttpResponseMessage> PostAsync(string path, string json, string? contentType = "application/json") =>
        PostAsync(path, Encoding.UTF8.GetBytes(json), contentType);

    // Where a bad string goes (@), and the parameter the 400 must name. The 21 places the campaign found, and more.
    public static TheoryData<string, string, string> BadStringPlaces => new()
    {
        { "/v1/chat/completions", "{\"messages\": [{\"role\": \"user\", \"content\": @}]}", "messages[0].content" },
        { "/v1/chat/completions", "{\"messages\": [{\"role\": @, \"content\": \"Hi\"}]}", "messages[0].role" },
        { "/v1/chat/completions", "{\"messages\": [{\"role\": \"user\", \"name\": @, \"content\": \"Hi\"}]}", "messages[0].name" },
        { "/v1/chat/completions", "{\"messages\": [{\"role\": \"user\", \"content\": [{\"type\": @, \"text\": \"Hi\"}]}]}", "messages[0].content[0].type" },
        { "/v1/chat/completions", "{\"messages\": [{\"role\": \"user\", \"content\": [{\"type\": \"text\", \"text\": \"a\"}, {\"type\": \"text\", \"text\": @}]}]}", "messages[0].content[1].text" },
        { "/v1/chat/completions", "{\"messages\": [{\"role\": \"system\", \"content\": @}, {\"role\": \"user\", \"content\": \"Hi\"}]}", "messages[0].content" },
        { "/v1/chat/completions", "{\"messages\": " + Hi + ", \"tools\": [{\"type\": \"function\", \"function\": {\"name\": @}}]}", "tools[0].function.name" },
        { "/v1/chat/completions", "{\"messages\": [{\"role\": \"user\", \"content\": \"Hi\"}, {\"role\": \"assistant\", \"content\": null, \"tool_calls\": [{\"id\": \"c1\", \"type\": \"function\", \"function\": {\"name\": \"f\", \"arguments\": @}}]}]}", "messages[1].tool_calls[0].function.arguments" },
        { "/v1/chat/completions", "{\"messages\": [{\"role\": \"tool\", \"tool_call_id\": @, \"content\": \"42\"}]}", "messages[0].tool_call_id" },
        { "/v1/chat/completions", "{\"messages\": " + Hi + ", \"model\": @}", "model" },
        { "/v1/chat/completions", "{\"messages\": " + Hi + ", \"stop\": @}", "stop" },
        { "/v1/chat/completions", "{\"messages\": " + Hi + ", \"stop\": [\"a\", @]}", "stop[1]" },
        { "/v1/chat/completions", "{\"messages\": " + Hi + ", \"user\": @}", "user" },
        { "/v1/chat/completions", "{\"messages\": " + Hi + ", \"chat_template_kwargs\": {\"x\": @}}", "chat_template_kwargs.x" },
        { "/v1/chat/completions", "{\"messages\": " + Hi + ", \"reasoning_format\": @}", "reasoning_format" },
        { "/v1/chat/completions", "{\"messages\": " + Hi + ", \"response_format\": {\"type\": @}}", "response_format.type" },
        { "/v1/chat/completions", "{\"messages\": [{\"role\": \"user\", \"content\": \"Hi\", @: 1}]}", "messages[0]" },
        { "/v1/completions", "{\"prompt\": @}", "prompt" },
        { "/v1/completions", "{\"prompt\": [\"a\", @]}", "prompt[1]" },
        { "/v1/completions", "{\"prompt\": \"Hi\", \"suffix\": @}", "suffix" },
        { "/v1/completions", "{\"prompt\": \"Hi\", \"stop\": [@]}", "stop[0]" },
        { "/tokenize", "{\"content\": @}", "content" },
        { "/apply-template", "{\"messages\": [{\"role\": \"user\", \"content\": @}]}", "messages[0].content" },
    };

    [Theory]
    [MemberData(nameof(BadStringPlaces))]
    public async Task Invalid_UTF8_anywhere_is_400_naming_the_field_never_500(string path, string template, string param)
    {
        int faultsBefore = Server.Logs.Faults().Count;
        string[] parts = template.Split('@');
        byte[][] bad =
        [
            [(byte)'"', 0xFF, (byte)'"'],                                   // a byte that is never UTF-8
            [(byte)'"', 0xC0, 0x80, (byte)'"'],                             // an overlong encoding
            [(byte)'"', 0xED, 0xA0, 0x80, (byte)'"'],                       // a surrogate encoded as UTF-8
            Encoding.ASCII.GetBytes("\"\\ud800\""),                         // an escaped lone high surrogate
            Encoding.ASCII.GetBytes("\"x\\udc00y\""),                       // an escaped lone low surrogate
        ];
        foreach (var value in bad)
        {
            byte[] body = [.. Encoding.UTF8.GetBytes(parts[0]), .. value, .. Encoding.UTF8.GetBytes(parts[1])];
            using var r = await PostAsync(path, body);
            await ErrorTests.AssertErrorAsync(r, HttpStatusCode.BadRequest, param, "invalid_string");
        }
        Assert.Equal(faultsBefore, Server.Logs.Faults().Count);
    }

    [Fact]
    public async Task A_valid_surrogate_pair_and_non_ASCII_text_are_accepted()
    {
        using var r = await PostAsync("/v1/chat/completions", "{\"messages\": [{\"role\": \"user\", \"content\": \"caf\u00e9 \\ud83d\\ude00\"}], \"max_tokens\": 1}");
        Assert.Equal(HttpStatusCode.OK, r.StatusCode);
    }

    [Theory]
    [InlineData("{\"messages\": " + Hi + ", \"temperature\": 0.5, \"temperature\": 3}", "temperature")]
    [InlineData("{\"messages\": [{\"role\": \"user\", \"role\": \"system\", \"content\": \"Hi\"}]}", "messages[0].role")]
    public async Task A_repeated_key_is_400_naming_it(string json, string param)
    {
        using var r = await PostAsync("/v1/chat/completions", json);
        await ErrorTests.AssertErrorAsync(r, HttpStatusCode.BadRequest, param, "duplicate_key");
    }

    [Theory]
    [InlineData("text/plain")]
    [InlineData("text/plain; charset=utf-8")]
    [InlineData("application/x-www-form-urlencoded")]
    [InlineData("multipart/form-data; boundary=x")]
    [InlineData("application/xml")]
    [InlineData("application/json; charset=utf-16")]
    [InlineData(null)]
    public async Task A_body_not_declared_as_JSON_is_415(string? contentType)
    {
        foreach (var path in new[] { "/v1/chat/completions", "/v1/completions", "/tokenize" })
        {
            using var r = await PostAsync(path, "{\"messages\": " + Hi + ", \"prompt\": \"Hi\", \"content\": \"Hi\"}", contentType);
            await ErrorTests.AssertErrorAsync(r, HttpStatusCode.UnsupportedMediaType, null, "unsupported_media_type");
        }
    }

    [Theory]
    [InlineData("application/json")]
    [InlineData("application/json; charset=utf-8")]
    [InlineData("Application/JSON; charset=UTF-8")]
    public async Task JSON_with_or_without_a_UTF8_charset_is_accepted(string contentType)
    {
        using var r = await PostAsync("/v1/chat/completions", "{\"messages\": " + Hi + ", \"max_tokens\": 1}", contentType);
        Assert.Equal(HttpStatusCode.OK, r.StatusCode);
    }

    // (endpoint, parameter, JSON value) at the very edge of OpenAI's documented range: accepted.
    [Theory]
    [InlineData("chat", "temperature", "0")]
    [InlineData("chat", "temperature", "2")]
    [InlineData("chat", "top_p", "0")]
    [InlineData("chat", "top_p", "1")]
    [InlineData("chat", "presence_penalty", "-2")]
    [InlineData("chat", "presence_penalty", "2")]
    [InlineData("chat", "frequency_penalty", "-2")]
    [InlineData("chat", "frequency_penalty", "2")]
    [InlineData("chat", "min_p", "0")]
    [InlineData("chat", "min_p", "1")]
    [InlineData("chat", "top_k", "0")]
    [InlineData("chat", "repeat_penalty", "0.0001")]
    [InlineData("chat", "n", "1")]
    [InlineData("chat", "max_tokens", "1")]
    [InlineData("chat", "max_completion_tokens", "1")]
    [InlineData("chat", "seed", "-9223372036854775808")]
    [InlineData("chat", "seed", "9223372036854775807")]
    [InlineData("chat", "top_logprobs", "0")]
    [InlineData("chat", "top_logprobs", "20")]
    [InlineData("completions", "max_tokens", "0")]
    [InlineData("completions", "logprobs", "0")]
    [InlineData("completions", "logprobs", "5")]
    [InlineData("completions", "temperature", "2")]
    [InlineData("completions", "top_p", "0")]
    public async Task Values_on_the_edge_of_the_range_are_accepted(string endpoint, string param, string value)
    {
        using var r = await PostAsync(Path(endpoint), Body(endpoint, param, value));
        string text = await r.Content.ReadAsStringAsync();
        Assert.True(r.StatusCode == HttpStatusCode.OK, $"{param}={value}: {(int)r.StatusCode} {text}");
    }

    // Just past the edge: refused, naming the parameter.
    [Theory]
    [InlineData("chat", "temperature", "-0.0000001")]
    [InlineData("chat", "temperature", "2.0000001")]
    [InlineData("chat", "temperature", "3")]
    [InlineData("chat", "top_p", "-0.0000001")]
    [InlineData("chat", "top_p", "1.0000001")]
    [InlineData("chat", "presence_penalty", "-2.0000001")]
    [InlineData("chat", "presence_penalty", "2.0000001")]
    [InlineData("chat", "frequency_penalty", "-2.0000001")]
    [InlineData("chat", "frequency_penalty", "2.0000001")]
    [InlineData("chat", "min_p", "-0.0000001")]
    [InlineData("chat", "min_p", "1.0000001")]
    [InlineData("chat", "top_k", "-1")]
    [InlineData("chat", "repeat_penalty", "0")]
    [InlineData("chat", "n", "0")]
    [InlineData("chat", "n", "129")]
    [InlineData("chat", "max_tokens", "0")]
    [InlineData("chat", "max_completion_tokens", "0")]
    [InlineData("chat", "top_logprobs", "-1")]
    [InlineData("chat", "top_logprobs", "21")]
    [InlineData("completions", "max_tokens", "-1")]
    [InlineData("completions", "logprobs", "-1")]
    [InlineData("completions", "logprobs", "6")]
    [InlineData("completions", "temperature", "2.0000001")]
    [InlineData("completions", "n", "129")]
    public async Task Values_just_past_the_edge_are_400_naming_the_parameter(string endpoint, string param, string value)
    {
        using var r = await PostAsync(Path(endpoint), Body(endpoint, param, value));
        await ErrorTests.AssertErrorAsync(r, HttpStatusCode.BadRequest, param);
    }

    [Theory]
    [InlineData("seed", "9223372036854775808")]
    [InlineData("n", "1.5")]
    [InlineData("max_tokens", "1e10")]
    public async Task Numbers_that_do_not_fit_the_type_are_400_invalid_type(string param, string value)
    {
        using var r = await PostAsync("/v1/chat/completions", Body("chat", param, value));
        await ErrorTests.AssertErrorAsync(r, HttpStatusCode.BadRequest, param, "invalid_type");
    }

    private static string Path(string endpoint) => endpoint == "chat" ? "/v1/chat/completions" : "/v1/completions";

    private static string Body(string endpoint, string param, string value)
    {
        string logprobs = param == "top_logprobs" ? ", \"logprobs\": true" : "";
        string max = param is "max_tokens" or "max_completion_tokens" ? "" : ", \"max_tokens\": 1";
        return endpoint == "chat"
            ? $"{{\"messages\": {Hi}{max}{logprobs}, \"{param}\": {value}}}"
            : $"{{\"prompt\": \"Once upon a time\"{max}, \"{param}\": {value}}}";
    }

    // Recognized but not implemented: refused by name unless the value asks for nothing.
    [Theory]
    [InlineData("chat", "\"response_format\": {\"type\": \"json_schema\", \"json_schema\": {\"name\": \"x\", \"schema\": {\"type\": \"string\", \"pattern\": \"a\"}}}", "response_format.json_schema.schema.pattern")]
    [InlineData("chat", "\"response_format\": {\"type\": \"json_schema\", \"json_schema\": {\"name\": \"x\", \"schema\": {\"properties\": {\"n\": {\"type\": \"integer\", \"maximum\": 9}}}}}", "response_format.json_schema.schema.properties.n.maximum")]
    [InlineData("chat", "\"response_format\": {\"type\": \"json_schema\", \"json_schema\": {\"schema\": {}}}", "response_format.json_schema.name")]
    [InlineData("chat", "\"response_format\": {\"type\": \"json_schema\"}", "response_format.json_schema")]
    [InlineData("chat", "\"response_format\": {\"type\": \"json_object\", \"strict\": true}", "response_format.strict")]
    [InlineData("chat", "\"response_format\": {\"type\": \"yaml\"}", "response_format.type")]
    [InlineData("chat", "\"tool_choice\": \"required\"", "tool_choice")]
    [InlineData("chat", "\"tool_choice\": \"auto\"", "tool_choice")]
    [InlineData("chat", "\"tools\": [{\"type\": \"function\", \"function\": {\"name\": \"f\"}}]", "tools")]
    [InlineData("chat", "\"parallel_tool_calls\": false", "parallel_tool_calls")]
    [InlineData("chat", "\"modalities\": [\"text\", \"audio\"]", "modalities")]
    [InlineData("chat", "\"logit_bias\": {\"13\": 100.0001}", "logit_bias")]
    [InlineData("chat", "\"logit_bias\": {\"13\": -101}", "logit_bias")]
    [InlineData("chat", "\"logit_bias\": {\"x\": 5}", "logit_bias")]
    [InlineData("chat", "\"logit_bias\": {\"-1\": 5}", "logit_bias")]
    [InlineData("chat", "\"logit_bias\": {\"99999\": 5}", "logit_bias")]
    [InlineData("completions", "\"logit_bias\": {\"13\": \"5\"}", "logit_bias.13")]
    [InlineData("chat", "\"store\": true", "store")]
    [InlineData("chat", "\"metadata\": {\"k\": \"v\"}", "metadata")]
    [InlineData("chat", "\"service_tier\": \"priority\"", "service_tier")]
    [InlineData("chat", "\"stream_options\": {\"include_usage\": true}", "stream_options")]
    [InlineData("chat", "\"stream\": true, \"stream_options\": {\"include_obfuscation\": true}", "stream_options.include_obfuscation")]
    [InlineData("chat", "\"functions\": [{\"name\": \"f\"}]", "functions")]
    [InlineData("chat", "\"audio\": {\"voice\": \"alloy\"}", "audio")]
    [InlineData("chat", "\"reasoning_effort\": \"low\"", "reasoning_effort")]
    [InlineData("chat", "\"Temperature\": 1", "Temperature")]
    [InlineData("completions", "\"suffix\": \"end\"", "suffix")]
    [InlineData("completions", "\"best_of\": 2", "best_of")]
    [InlineData("completions", "\"cache_prompt\": true", "cache_prompt")]
    [InlineData("chat", "\"max_completion_tokens\": 5", "max_tokens")] // beside max_tokens 1: one of them would be ignored
    [InlineData("chat", "\"stop\": [\"\"]", "stop")]
    [InlineData("chat", "\"stop\": [\"a\", \"b\", \"c\", \"d\", \"\"]", "stop")]
    [InlineData("completions", "\"stop\": \"\"", "stop")]
    [InlineData("chat", "\"logit_bias\": {\"13\": 5, \"013\": -5}", "logit_bias")]
    public async Task Parameters_not_implemented_or_out_of_range_are_refused_by_name(string endpoint, string field, string param)
    {
        string json = endpoint == "chat" ? $"{{\"messages\": {Hi}, \"max_tokens\": 1, {field}}}" : $"{{\"prompt\": \"Hi\", \"max_tokens\": 1, {field}}}";
        using var r = await PostAsync(Path(endpoint), json);
        await ErrorTests.AssertErrorAsync(r, HttpStatusCode.BadRequest, param);
    }

    [Theory]
    [InlineData("chat", "\"response_format\": {\"type\": \"text\"}")]
    [InlineData("chat", "\"logit_bias\": {\"13\": 100, \"14\": -100}")]
    [InlineData("completions", "\"logit_bias\": {}")]
    [InlineData("chat", "\"tools\": []")]
    [InlineData("chat", "\"tool_choice\": \"none\"")]
    [InlineData("chat", "\"modalities\": [\"text\"]")]
    [InlineData("chat", "\"store\": false, \"metadata\": {}, \"service_tier\": \"auto\"")]
    [InlineData("chat", "\"user\": \"u1\", \"safety_identifier\": \"s1\", \"prompt_cache_key\": \"k\"")]
    [InlineData("chat", "\"stream\": true, \"stream_options\": {\"include_usage\": true, \"include_obfuscation\": false}")]
    [InlineData("completions", "\"suffix\": \"\"")]
    [InlineData("completions", "\"best_of\": 2, \"n\": 2")]
    [InlineData("chat", "\"max_completion_tokens\": 1")]
    public async Task Values_that_ask_for_nothing_unimplemented_are_accepted(string endpoint, string field)
    {
        string json = endpoint == "chat" ? $"{{\"messages\": {Hi}, \"max_tokens\": 1, {field}}}" : $"{{\"prompt\": \"Hi\", \"max_tokens\": 1, {field}}}";
        using var r = await PostAsync(Path(endpoint), json);
        Assert.True(r.StatusCode == HttpStatusCode.OK, $"{field}: {(int)r.StatusCode} {await r.Content.ReadAsStringAsync()}");
    }

    [Fact]
    public async Task A_token_id_prompt_of_any_length_is_one_prompt()
    {
        var ids = Enumerable.Range(0, 300).Select(i => 100 + i % 300).ToArray();
        using var r = await Server.PostJsonAsync("/v1/completions", new { prompt = ids, max_tokens = 1 });
        var text = await r.Content.ReadAsStringAsync();
        Assert.True(r.StatusCode == HttpStatusCode.OK, text);
        var body = JsonNode.Parse(text)!;
        Assert.Single(body["choices"]!.AsArray());
        Assert.Equal(300, (int)body["usage"]!["prompt_tokens"]!);
    }

    [Fact]
    public async Task A_batch_is_one_choice_per_prompt_and_is_bounded()
    {
        using (var two = await Server.PostJsonAsync("/v1/completions", new { prompt = new[] { new[] { 1, 400 }, new[] { 1, 401, 402 } }, max_tokens = 1 }))
        {
            var body = JsonNode.Parse(await two.Content.ReadAsStringAsync())!;
            Assert.Equal(2, body["choices"]!.AsArray().Count);
            Assert.Equal(5, (int)body["usage"]!["prompt_tokens"]!);
        }
        using (var strings = await Server.PostJsonAsync("/v1/completions", new { prompt = Enumerable.Repeat("Hi", 128).ToArray(), max_tokens = 1 }))
            Assert.Equal(128, JsonNode.Parse(await strings.Content.ReadAsStringAsync())!["choices"]!.AsArray().Count);
        using (var tooMany = await Server.PostJsonAsync("/v1/completions", new { prompt = Enumerable.Repeat("Hi", 129).ToArray(), max_tokens = 1 }))
            await ErrorTests.AssertErrorAsync(tooMany, HttpStatusCode.BadRequest, "prompt");
        using (var times = await Server.PostJsonAsync("/v1/completions", new { prompt = new[] { "a", "b" }, n = 65, max_tokens = 1 }))
            await ErrorTests.AssertErrorAsync(times, HttpStatusCode.BadRequest, "n");
    }

    [Theory]
    [InlineData("[]", "prompt")]
    [InlineData("[[]]", "prompt[0]")]
    [InlineData("[[1, 2], []]", "prompt[1]")]
    [InlineData("[\"a\", 1]", "prompt")]
    [InlineData("[1, \"a\"]", "prompt")]
    [InlineData("[[1], \"a\"]", "prompt")]
    [InlineData("[1.5]", "prompt[0]")]
    [InlineData("[-1]", "prompt[0]")]
    [InlineData("[1, 99999]", "prompt[1]")]
    [InlineData("[[1, [2]]]", "prompt[0][1]")]
    [InlineData("[null]", "prompt")]
    [InlineData("{\"text\": \"Hi\"}", "prompt")]
    [InlineData("42", "prompt")]
    [InlineData("null", "prompt")]
    public async Task Malformed_prompt_shapes_are_400(string prompt, string param)
    {
        using var r = await PostAsync("/v1/completions", $"{{\"prompt\": {prompt}, \"max_tokens\": 1}}");
        await ErrorTests.AssertErrorAsync(r, HttpStatusCode.BadRequest, param);
    }

    [Fact]
    public async Task An_empty_string_prompt_is_generated_from_the_start_of_a_document()
    {
        using var r = await Server.PostJsonAsync("/v1/completions", new { prompt = "", max_tokens = 2 });
        Assert.Equal(HttpStatusCode.OK, r.StatusCode);
    }
}
