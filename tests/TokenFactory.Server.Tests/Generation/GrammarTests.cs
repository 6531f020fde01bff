using System.Net;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using TokenFactory.Server.Tests.Infrastructure;

namespace TokenFactory.Server.Tests.Generation;

/// <summary>
/// The <c>grammar</c> field (GBNF) on completions and chat: stories260K, which writes stories, answers in the grammar's
/// language at temperature 1, whole and streamed; bad grammars and conflicting constraints are a 400 naming the field.
/// </summary>
[Collection(StoriesServerCollection.Name)]
public sealed class GrammarTests(StoriesServerFixture fixture)
{
    private ServerInstance Server => fixture.Server;

    private const string Answer = """
        root ::= ("yes" | "no") ", " name " is " [0-9]{1,2} "."
        name ::= [A-Z] [a-z]{1,8}
        """;

    private static readonly Regex Language = new(@"^(yes|no), [A-Z][a-z]{1,8} is [0-9]{1,2}\.$");

    [Fact]
    public async Task Completions_follow_the_grammar_at_temperature_1()
    {
        for (int seed = 1; seed <= 6; seed++)
        {
            var answer = await PostAsync("/v1/completions", new JsonObject
            {
                ["prompt"] = "Once upon a time", ["max_tokens"] = 60, ["temperature"] = 1, ["seed"] = seed, ["grammar"] = Answer,
            });
            var choice = answer["choices"]![0]!;
            Assert.Matches(Language, (string)choice["text"]!);
            Assert.Equal("stop", (string?)choice["finish_reason"]);
        }
    }

    [Fact]
    public async Task A_streamed_chat_answer_follows_the_grammar()
    {
        using var response = await Server.PostJsonAsync("/v1/chat/completions", new JsonObject
        {
            ["messages"] = new JsonArray(new JsonObject { ["role"] = "user", ["content"] = "Is Lily happy?" }),
            ["max_tokens"] = 60, ["temperature"] = 1, ["seed"] = 3, ["grammar"] = Answer, ["stream"] = true,
        });
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var stream = await Sse.ReadAllAsync(response);
        Assert.True(stream.Done);
        string content = string.Concat(stream.Chunks.Where(c => c["choices"]!.AsArray().Count > 0).Select(c => (string?)c["choices"]![0]!["delta"]!["content"] ?? ""));
        Assert.Matches(Language, content);
    }

    [Theory]
    [InlineData("/v1/completions", """{"prompt": "Hi", "grammar": "root ::= missing"}""", "grammar", "invalid_grammar")]
    [InlineData("/v1/completions", """{"prompt": "Hi", "grammar": "root ::= \"a\"", "stop": ["x"]}""", "stop", null)]
    [InlineData("/v1/chat/completions", """{"messages": [{"role": "user", "content": "Hi"}], "grammar": "root ::= \"a", "max_tokens": 5}""", "grammar", "invalid_grammar")]
    [InlineData("/v1/chat/completions", """{"messages": [{"role": "user", "content": "Hi"}], "grammar": "root ::= \"a\"", "response_format": {"type": "json_object"}}""", "grammar", null)]
    public async Task Bad_grammars_and_conflicts_are_a_400_naming_the_field(string path, string body, string param, string? code)
    {
        using var response = await Server.Client.PostAsync(path, new StringContent(body, System.Text.Encoding.UTF8, "application/json"));
        var error = JsonNode.Parse(await response.Content.ReadAsStringAsync())!["error"]!;
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal(param, (string?)error["param"]);
        if (code is not null)
            Assert.Equal(code, (string?)error["code"]);
    }

    [Fact]
    public async Task The_error_says_where_the_grammar_is_wrong()
    {
        using var response = await Server.PostJsonAsync("/v1/completions", new JsonObject { ["prompt"] = "Hi", ["grammar"] = "root ::= \"a\"\nitem ::= [z-a]" });
        string message = (string)JsonNode.Parse(await response.Content.ReadAsStringAsync())!["error"]!["message"]!;
        Assert.Contains("backwards", message);
        Assert.Contains("line 2", message);
    }

    private async Task<JsonNode> PostAsync(string path, JsonObject body)
    {
        using var response = await Server.PostJsonAsync(path, body);
        string text = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, text);
        return JsonNode.Parse(text)!;
    }
}
