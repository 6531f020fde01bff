using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using TokenFactory.Server.Tests.Infrastructure;

namespace TokenFactory.Server.Tests.Api;

/// <summary>/v1/responses over the real engine: the response object, the ledger, and what it refuses by name.</summary>
[Collection(StoriesServerCollection.Name)]
public sealed class ResponsesApiTests(StoriesServerFixture fixture)
{
    private ServerInstance Server => fixture.Server;

    [Fact]
    public async Task A_response_holds_the_same_text_as_the_chat_completion_of_the_same_conversation_and_is_in_the_ledger()
    {
        using var responses = await Server.PostJsonAsync("/v1/responses", new
        {
            model = ServerInstance.ModelName, instructions = "You tell stories.", input = new object[]
            {
                new { role = "user", content = new[] { new { type = "input_text", text = "Tell me a story." } } },
            },
            max_output_tokens = 10, temperature = 0, store = false,
        });
        Assert.Equal(HttpStatusCode.OK, responses.StatusCode);
        var response = (await responses.Content.ReadFromJsonAsync<JsonObject>())!;
        using var chat = await Server.PostJsonAsync("/v1/chat/completions", new
        {
            model = ServerInstance.ModelName, max_tokens = 10, temperature = 0,
            messages = new[] { new { role = "system", content = "You tell stories." }, new { role = "user", content = "Tell me a story." } },
        });
        string expected = (string)(await chat.Content.ReadFromJsonAsync<JsonObject>())!["choices"]![0]!["message"]!["content"]!;

        Assert.Equal("response", (string?)response["object"]);
        Assert.Equal("incomplete", (string?)response["status"]);
        Assert.Equal("max_output_tokens", (string?)response["incomplete_details"]!["reason"]);
        var message = Assert.Single(response["output"]!.AsArray())!;
        Assert.Equal("message", (string?)message["type"]);
        Assert.Equal("assistant", (string?)message["role"]);
        Assert.Equal(expected, (string?)message["content"]![0]!["text"]);
        Assert.Equal(10, (int)response["usage"]!["output_tokens"]!);
        Assert.Contains(await Server.Floor.Store.ListUsageAsync(), line => line.RequestId == (string?)response["id"] && line.Endpoint == "/v1/responses");
    }

    [Fact]
    public async Task Previous_response_id_continues_the_stored_conversation_and_store_false_keeps_nothing()
    {
        async Task<JsonObject> Respond(object body)
        {
            using var response = await Server.PostJsonAsync("/v1/responses", body);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            return (await response.Content.ReadFromJsonAsync<JsonObject>())!;
        }
        static string Text(JsonObject r) => (string)r["output"]![0]!["content"]![0]!["text"]!;

        var first = await Respond(new { model = ServerInstance.ModelName, input = "Tell me a story.", max_output_tokens = 6, temperature = 0 });
        Assert.True((bool)first["store"]!);
        var second = await Respond(new { model = ServerInstance.ModelName, input = "And then?", previous_response_id = (string)first["id"]!, max_output_tokens = 6, temperature = 0 });
        Assert.Equal((string?)first["id"], (string?)second["previous_response_id"]);

        // The same as a chat completion of the whole conversation, the first answer included.
        using var chat = await Server.PostJsonAsync("/v1/chat/completions", new
        {
            model = ServerInstance.ModelName, max_tokens = 6, temperature = 0,
            messages = new[]
            {
                new { role = "user", content = "Tell me a story." }, new { role = "assistant", content = Text(first) }, new { role = "user", content = "And then?" },
            },
        });
        var expected = (await chat.Content.ReadFromJsonAsync<JsonObject>())!;
        Assert.Equal((string)expected["choices"]![0]!["message"]!["content"]!, Text(second));
        Assert.Equal((int)expected["usage"]!["prompt_tokens"]!, (int)second["usage"]!["input_tokens"]!);

        var unstored = await Respond(new { model = ServerInstance.ModelName, input = "Hi", max_output_tokens = 2, store = false });
        Assert.False((bool)unstored["store"]!);
        using var missing = await Server.PostJsonAsync("/v1/responses", new { model = ServerInstance.ModelName, input = "More", previous_response_id = (string)unstored["id"]! });
        Assert.Equal(HttpStatusCode.BadRequest, missing.StatusCode);
        Assert.Equal("previous_response_not_found", (string?)(await missing.Content.ReadFromJsonAsync<JsonObject>())!["error"]!["code"]);
    }

    [Theory]
    [InlineData("\"previous_response_id\": \"resp_never_made\"", "previous_response_id")]
    [InlineData("\"tools\": [{\"type\": \"web_search\"}]", "tools[0].type")]
    [InlineData("\"truncation\": \"auto\"", "truncation")]
    [InlineData("\"input\": [{\"type\": \"reasoning\"}]", "input[0].type")]
    [InlineData("\"input\": [{\"role\": \"user\", \"content\": [{\"type\": \"input_image\"}]}]", "input[0].content[0].type")]
    [InlineData("\"text\": {\"format\": {\"type\": \"json_schema\", \"name\": \"x\", \"schema\": {\"type\": \"string\", \"pattern\": \"a\"}}}", "text.format.schema.pattern")]
    [InlineData("\"reasoning\": {\"effort\": \"low\"}", "reasoning")]
    [InlineData("\"input\": [{\"role\": 1, \"content\": \"hi\"}]", "input[0].role")]
    [InlineData("\"input\": [{\"type\": \"function_call_output\", \"call_id\": \"c\", \"output\": [\"x\"]}]", "input[0].output")]
    [InlineData("\"input\": [{\"type\": \"function_call\", \"name\": \"f\", \"arguments\": \"{}\"}]", "input[0].call_id")]
    [InlineData("\"input\": [{\"role\": \"user\", \"content\": [\"hi\"]}]", "input[0].content[0]")]
    [InlineData("\"tools\": [{\"type\": \"function\", \"name\": \"f\"}], \"tool_choice\": {\"type\": \"function\", \"name\": 5}", "tool_choice.name")]
    [InlineData("\"text\": {\"format\": \"json_object\"}", "text.format")]
    [InlineData("\"text\": {\"format\": 5}", "text.format")]
    public async Task What_it_cannot_honour_is_a_400_naming_it(string field, string param)
    {
        string body = field.StartsWith("\"input\"", StringComparison.Ordinal)
            ? $"{{\"model\": \"{ServerInstance.ModelName}\", {field}}}"
            : $"{{\"model\": \"{ServerInstance.ModelName}\", \"input\": \"hi\", {field}}}";
        using var response = await Server.Client.PostAsync("/v1/responses", new StringContent(body, System.Text.Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal(param, (string?)(await response.Content.ReadFromJsonAsync<JsonObject>())!["error"]!["param"]);
    }
}
