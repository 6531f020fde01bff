using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using TokenFactory.Server.Tests.Infrastructure;

namespace TokenFactory.Server.Tests.Api;

[Collection(StoriesServerCollection.Name)]
public sealed class ErrorTests(StoriesServerFixture fixture)
{
    private ServerInstance Server => fixture.Server;

    private static readonly object[] OneMessage = [new { role = "user", content = "Hi" }];

    /// <summary>Asserts OpenAI's error shape (all four fields present) and returns the error object.</summary>
    internal static async Task<JsonObject> AssertErrorAsync(HttpResponseMessage response, HttpStatusCode status, string? param, string? code = null)
    {
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(status == response.StatusCode, $"{(int)response.StatusCode}: {text}");
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        var error = JsonNode.Parse(text)!["error"]!.AsObject();
        Assert.False(string.IsNullOrWhiteSpace((string)error["message"]!));
        Assert.False(string.IsNullOrWhiteSpace((string)error["type"]!));
        Assert.True(error.ContainsKey("param") && error.ContainsKey("code"), text);
        Assert.Equal(param, (string?)error["param"]);
        if (code is not null)
            Assert.Equal(code, (string?)error["code"]);
        return error;
    }

    private Task<HttpResponseMessage> PostRawAsync(string path, string json) =>
        Server.Client.PostAsync(path, new StringContent(json, Encoding.UTF8, "application/json"));

    [Theory]
    [InlineData("{\"messages\": [")]
    [InlineData("not json")]
    [InlineData("")]
    [InlineData("null")]
    public async Task Invalid_json_is_400(string body)
    {
        using var r = await PostRawAsync("/v1/chat/completions", body);
        var error = await AssertErrorAsync(r, HttpStatusCode.BadRequest, null);
        Assert.Equal("invalid_request_error", (string)error["type"]!);
    }

    [Theory]
    [InlineData("temperature", "\"hot\"")]
    [InlineData("max_tokens", "\"ten\"")]
    [InlineData("n", "1.5")]
    [InlineData("stop", "42")]
    [InlineData("messages", "\"hello\"")]
    [InlineData("stream", "\"yes\"")]
    public async Task Wrong_type_is_400_naming_the_parameter(string param, string value)
    {
        string json = param == "messages"
            ? $"{{\"messages\": {value}}}"
            : $"{{\"messages\": [{{\"role\": \"user\", \"content\": \"Hi\"}}], \"{param}\": {value}}}";
        using var r = await PostRawAsync("/v1/chat/completions", json);
        await AssertErrorAsync(r, HttpStatusCode.BadRequest, param, "invalid_type");
    }

    [Theory]
    [InlineData("temperature", 2.5)]
    [InlineData("temperature", -1)]
    [InlineData("top_p", 1.5)]
    [InlineData("min_p", 2)]
    [InlineData("top_k", -1)]
    [InlineData("presence_penalty", 3)]
    [InlineData("frequency_penalty", -3)]
    [InlineData("n", 0)]
    [InlineData("n", 1000)]
    [InlineData("max_tokens", 0)]
    [InlineData("max_completion_tokens", -5)]
    public async Task Out_of_range_value_is_400_naming_the_parameter(string param, double value)
    {
        var body = new JsonObject { ["messages"] = new JsonArray(new JsonObject { ["role"] = "user", ["content"] = "Hi" }), [param] = value };
        if (param is "top_k" or "n" or "max_tokens" or "max_completion_tokens")
            body[param] = (int)value;
        using var r = await Server.PostJsonAsync("/v1/chat/completions", body);
        await AssertErrorAsync(r, HttpStatusCode.BadRequest, param);
    }

    [Fact]
    public async Task More_than_four_stop_strings_is_400()
    {
        using var r = await Server.PostJsonAsync("/v1/chat/completions", new { messages = OneMessage, stop = new[] { "a", "b", "c", "d", "e" } });
        await AssertErrorAsync(r, HttpStatusCode.BadRequest, "stop");
    }

    [Fact]
    public async Task Top_logprobs_without_logprobs_is_400()
    {
        using var r = await Server.PostJsonAsync("/v1/chat/completions", new { messages = OneMessage, top_logprobs = 2 });
        await AssertErrorAsync(r, HttpStatusCode.BadRequest, "top_logprobs");
    }

    [Theory]
    [InlineData("{\"messages\": []}", "messages")]
    [InlineData("{}", "messages")]
    [InlineData("{\"messages\": [{\"content\": \"Hi\"}]}", "messages[0].role")]
    [InlineData("{\"messages\": [{\"role\": \"wizard\", \"content\": \"Hi\"}]}", "messages[0].role")]
    [InlineData("{\"messages\": [{\"role\": \"user\"}]}", "messages[0].content")]
    [InlineData("{\"messages\": [{\"role\": \"user\", \"content\": [{\"type\": \"image_url\", \"image_url\": {\"url\": \"x\"}}]}]}", "messages[0].content[0].type")]
    [InlineData("{\"messages\": [\"Hi\"]}", "messages[0]")]
    public async Task Bad_messages_are_400_naming_the_message(string json, string param)
    {
        using var r = await PostRawAsync("/v1/chat/completions", json);
        await AssertErrorAsync(r, HttpStatusCode.BadRequest, param);
    }

    [Fact]
    public async Task Unknown_fields_are_refused_naming_them()
    {
        using var r = await PostRawAsync("/v1/chat/completions",
            "{\"messages\": [{\"role\": \"user\", \"content\": \"Hi\"}], \"max_tokens\": 2, \"some_future_field\": {\"x\": [1, 2]}}");
        var error = await AssertErrorAsync(r, HttpStatusCode.BadRequest, "some_future_field", "unknown_parameter");
        Assert.Contains("Unrecognized request argument supplied: some_future_field", (string)error["message"]!);
        using var nested = await PostRawAsync("/v1/completions", "{\"prompt\": \"Hi\", \"stream\": true, \"stream_options\": {\"include_usage\": true, \"chunk\": 1}}");
        await AssertErrorAsync(nested, HttpStatusCode.BadRequest, "stream_options.chunk", "unknown_parameter");
        // A key that happens to be the name of a non-JSON member of the request type is still unknown.
        using var chatNested = await PostRawAsync("/v1/chat/completions", "{\"messages\": [{\"role\": \"user\", \"content\": \"Hi\"}], \"max_tokens\": 2, \"nested\": {\"x\": 1}}");
        await AssertErrorAsync(chatNested, HttpStatusCode.BadRequest, "nested", "unknown_parameter");
        using var completionNested = await PostRawAsync("/v1/completions", "{\"prompt\": \"Hi\", \"max_tokens\": 2, \"nested\": 1}");
        await AssertErrorAsync(completionNested, HttpStatusCode.BadRequest, "nested", "unknown_parameter");
    }

    [Theory]
    [InlineData("[1]", "messages[1].tool_calls[0]")]
    [InlineData("[\"x\"]", "messages[1].tool_calls[0]")]
    [InlineData("{\"id\": \"c\"}", "messages[1].tool_calls")]
    [InlineData("[{\"id\": \"c\", \"type\": \"function\"}]", "messages[1].tool_calls[0]")]
    [InlineData("[{\"id\": \"c\", \"type\": \"web\", \"function\": {\"name\": \"f\", \"arguments\": \"{}\"}}]", "messages[1].tool_calls[0].type")]
    [InlineData("[{\"id\": \"c\", \"type\": \"function\", \"function\": {\"name\": 5, \"arguments\": \"{}\"}}]", "messages[1].tool_calls[0].function.name")]
    [InlineData("[{\"id\": \"c\", \"type\": \"function\", \"function\": {\"name\": \"f\", \"arguments\": {\"a\": 1}}}]", "messages[1].tool_calls[0].function.arguments")]
    public async Task A_malformed_earlier_tool_call_is_a_400_naming_it_never_500(string calls, string param)
    {
        int faultsBefore = Server.Logs.Faults().Count;
        string messages = "[{\"role\": \"user\", \"content\": \"Hi\"}, {\"role\": \"assistant\", \"content\": null, \"tool_calls\": " + calls + "}]";
        foreach (string path in new[] { "/v1/chat/completions", "/apply-template" })
        {
            using var r = await PostRawAsync(path, "{\"messages\": " + messages + (path == "/apply-template" ? "}" : ", \"max_tokens\": 1}"));
            await AssertErrorAsync(r, HttpStatusCode.BadRequest, param);
        }
        Assert.Equal(faultsBefore, Server.Logs.Faults().Count);
    }

    [Theory]
    [InlineData("/v1/chat/completions")]
    [InlineData("/v1/completions")]
    public async Task Unknown_model_is_404_model_not_found(string path)
    {
        object body = path == "/v1/completions" ? new { model = "gpt-4o", prompt = "Hi" } : new { model = "gpt-4o", messages = OneMessage };
        using var r = await Server.PostJsonAsync(path, body);
        var error = await AssertErrorAsync(r, HttpStatusCode.NotFound, "model", "model_not_found");
        Assert.Contains("gpt-4o", (string)error["message"]!);
    }

    [Theory]
    [InlineData("stories260K.gguf")]
    [InlineData("STORIES260K")]
    public async Task File_name_and_case_variants_of_the_model_are_accepted(string model)
    {
        using var r = await Server.PostJsonAsync("/v1/chat/completions", new { model, messages = OneMessage, max_tokens = 1 });
        Assert.Equal(HttpStatusCode.OK, r.StatusCode);
    }

    [Fact]
    public async Task Prompt_plus_max_tokens_over_the_context_is_400_context_length_exceeded()
    {
        using var r = await Server.PostJsonAsync("/v1/chat/completions", new { messages = OneMessage, max_tokens = Server.Engine.ContextLength });
        var error = await AssertErrorAsync(r, HttpStatusCode.BadRequest, "messages", "context_length_exceeded");
        Assert.Contains(Server.Engine.ContextLength.ToString(), (string)error["message"]!);
    }

    [Fact]
    public async Task Prompt_alone_over_the_context_is_400_context_length_exceeded()
    {
        using var r = await Server.PostJsonAsync("/v1/completions", new { prompt = string.Concat(Enumerable.Repeat("Once upon a time ", 200)) });
        await AssertErrorAsync(r, HttpStatusCode.BadRequest, "prompt", "context_length_exceeded");
    }

    [Fact]
    public async Task Body_over_the_limit_is_413_in_OpenAIs_shape()
    {
        string big = new('a', 4 * StoriesServerFixture.MaxRequestBodyBytes);
        using var r = await PostRawAsync("/v1/chat/completions", $"{{\"messages\": [{{\"role\": \"user\", \"content\": \"{big}\"}}]}}");
        await AssertErrorAsync(r, HttpStatusCode.RequestEntityTooLarge, null, "request_too_large");
    }

    [Fact]
    public async Task Chunked_body_over_the_limit_is_413()
    {
        var content = new StreamContent(new MemoryStream(Encoding.UTF8.GetBytes($"{{\"messages\": \"{new string('a', 4 * StoriesServerFixture.MaxRequestBodyBytes)}\"}}")));
        content.Headers.ContentType = new("application/json");
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions") { Content = content };
        request.Headers.TransferEncodingChunked = true;
        using var r = await Server.Client.SendAsync(request);
        await AssertErrorAsync(r, HttpStatusCode.RequestEntityTooLarge, null, "request_too_large");
    }

    [Fact]
    public async Task Unknown_path_is_404_in_OpenAIs_shape()
    {
        using var r = await Server.Client.GetAsync("/v1/engines");
        await AssertErrorAsync(r, HttpStatusCode.NotFound, null, "unknown_url");
    }

    [Fact]
    public async Task Bad_completions_prompt_is_400()
    {
        using var r = await Server.PostJsonAsync("/v1/completions", new { prompt = new object[] { "a", 1 } });
        await AssertErrorAsync(r, HttpStatusCode.BadRequest, "prompt");
        using var ids = await Server.PostJsonAsync("/v1/completions", new { prompt = new[] { 1, 99999 } });
        await AssertErrorAsync(ids, HttpStatusCode.BadRequest, "prompt[1]");
    }
}
