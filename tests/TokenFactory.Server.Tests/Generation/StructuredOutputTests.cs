using System.ClientModel;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using OpenAI;
using OpenAI.Chat;
using TokenFactory.Server.Tests.Infrastructure;

namespace TokenFactory.Server.Tests.Generation;

/// <summary>
/// response_format through the real server and engine, on stories260K: a model that has never seen JSON, sampling at
/// temperature 1, still answers with JSON the schema allows.
/// </summary>
[Collection(StoriesServerCollection.Name)]
public sealed class StructuredOutputTests(StoriesServerFixture fixture)
{
    private ServerInstance Server => fixture.Server;

    private const string Pet = """
        {"type": "object", "additionalProperties": false, "required": ["kind", "age", "indoor"],
         "properties": {"kind": {"enum": ["cat", "dog", "bird"]}, "age": {"type": "integer"}, "indoor": {"type": "boolean"},
                        "vet": {"type": "null"}, "scores": {"type": "array", "items": {"type": "number"}, "maxItems": 2}}}
        """;

    private static void AssertPet(string content)
    {
        var pet = JsonNode.Parse(content)!.AsObject();
        Assert.Contains((string?)pet["kind"], new[] { "cat", "dog", "bird" });
        Assert.Equal(JsonValueKind.Number, pet["age"]!.GetValueKind());
        Assert.DoesNotContain('.', pet["age"]!.ToJsonString());
        Assert.Contains(pet["indoor"]!.GetValueKind(), new[] { JsonValueKind.True, JsonValueKind.False });
        Assert.All(pet.Select(kv => kv.Key), k => Assert.Contains(k, new[] { "kind", "age", "indoor", "vet", "scores" }));
        if (pet["scores"] is JsonArray scores)
            Assert.InRange(scores.Count, 0, 2);
    }

    [Fact]
    public async Task The_official_sdk_gets_json_its_schema_allows_from_a_model_that_never_saw_json()
    {
        var chat = new ChatClient(ServerInstance.ModelName, new ApiKeyCredential("not-needed"), new OpenAIClientOptions { Endpoint = Server.OpenAiEndpoint });
        for (int seed = 1; seed <= 5; seed++)
        {
            var options = new ChatCompletionOptions
            {
                Temperature = 1, MaxOutputTokenCount = 460, // room for the longest values the schema allows (16-digit numbers, bounded whitespace), within the 512-token context
                ResponseFormat = ChatResponseFormat.CreateJsonSchemaFormat("pet", BinaryData.FromString(Pet), jsonSchemaIsStrict: true),
            };
#pragma warning disable OPENAI001 // the seed is marked experimental in the SDK
            options.Seed = seed;
#pragma warning restore OPENAI001
            ChatCompletion completion = await chat.CompleteChatAsync([new UserChatMessage("Describe a pet.")], options);
            Assert.Equal(ChatFinishReason.Stop, completion.FinishReason); // the value closed: generation stopped there
            AssertPet(completion.Content[0].Text);
        }
    }

    [Fact]
    public async Task Streamed_and_with_several_choices_every_choice_is_valid()
    {
        var body = new JsonObject
        {
            ["model"] = ServerInstance.ModelName, ["messages"] = new JsonArray(new JsonObject { ["role"] = "user", ["content"] = "A pet?" }),
            ["temperature"] = 1, ["seed"] = 42, ["n"] = 3, ["max_tokens"] = 300, ["stream"] = true,
            ["response_format"] = new JsonObject { ["type"] = "json_schema", ["json_schema"] = new JsonObject { ["name"] = "pet", ["schema"] = JsonNode.Parse(Pet) } },
        };
        using var response = await Server.Client.PostAsync("/v1/chat/completions", new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json"));
        var stream = await Sse.ReadAllAsync(response);
        var texts = new Dictionary<int, StringBuilder>();
        var finishes = new Dictionary<int, string?>();
        foreach (var chunk in stream.Chunks)
        {
            foreach (var choice in chunk["choices"]!.AsArray())
            {
                int index = (int)choice!["index"]!;
                (texts.TryGetValue(index, out var sb) ? sb : texts[index] = new StringBuilder()).Append((string?)choice["delta"]?["content"]);
                if ((string?)choice["finish_reason"] is { } finish)
                    finishes[index] = finish;
            }
        }
        Assert.Equal(3, texts.Count);
        Assert.Equal(3, finishes.Count);
        Assert.All(finishes.Values, f => Assert.Equal("stop", f));
        foreach (var text in texts.Values)
            AssertPet(text.ToString());
    }

    [Fact]
    public async Task A_stop_string_cannot_cut_structured_output()
    {
        using var response = await Server.PostJsonAsync("/v1/chat/completions", new
        {
            model = ServerInstance.ModelName, messages = new[] { new { role = "user", content = "JSON" } }, stop = new[] { "}" },
            response_format = new { type = "json_object" },
        });
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("stop", (string?)(await response.Content.ReadFromJsonAsync<JsonObject>())!["error"]!["param"]);
    }

    [Fact]
    public async Task Json_object_output_is_one_object_or_a_valid_prefix_of_one_at_the_length_limit()
    {
        for (int seed = 1; seed <= 4; seed++)
        {
            using var response = await Server.PostJsonAsync("/v1/chat/completions", new
            {
                model = ServerInstance.ModelName, messages = new[] { new { role = "user", content = "JSON please" } },
                temperature = 1, seed, max_tokens = 60, response_format = new { type = "json_object" },
            });
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            var choice = (await response.Content.ReadFromJsonAsync<JsonObject>())!["choices"]![0]!;
            string content = (string)choice["message"]!["content"]!;
            if ((string?)choice["finish_reason"] == "stop")
                Assert.IsType<JsonObject>(JsonNode.Parse(content));
            else
            {
                Assert.Equal("length", (string?)choice["finish_reason"]);
                // Cut short: still a prefix the grammar allows (stories260K's strings rarely end within 60 tokens).
                Assert.NotNull(TokenFactory.Constraints.JsonMatcher.Start(TokenFactory.Constraints.JsonSchemaCompiler.AnyObject).Advance(Encoding.UTF8.GetBytes(content)));
                Assert.StartsWith("{", content.TrimStart());
            }
        }
    }
}
