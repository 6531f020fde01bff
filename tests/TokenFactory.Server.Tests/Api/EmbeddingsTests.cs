using System.ClientModel;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Numerics.Tensors;
using System.Text.Json.Nodes;
using OpenAI;
using OpenAI.Embeddings;
using TokenFactory.Engine.Embeddings;
using TokenFactory.Gguf;
using TokenFactory.Models;
using TokenFactory.Models.Bert;
using TokenFactory.Models.Synthetic;
using TokenFactory.Server.Tests.Floor;
using TokenFactory.Server.Tests.Infrastructure;
using TokenFactory.Tensors;
using TokenFactory.Tokenization;

namespace TokenFactory.Server.Tests.Api;

/// <summary>
/// POST /v1/embeddings over a BERT encoder (synthetic bert-tiny) and over a decoder given a pooling: the OpenAI SDK's
/// vectors are the encoder's own, normalized; both encodings carry the same floats; many inputs share one pass; bad input
/// is a 400 naming it; the ledger charges the inputs' tokens.
/// </summary>
public sealed class EmbeddingsTests
{
    /// <summary>A synthetic bert-tiny (Q8_0, 5 MB), written once per test run.</summary>
    internal static readonly Lazy<string> BertFile = new(() =>
    {
        string path = Path.Combine(TestPaths.TempDir(), "bert-tiny-Q8_0.gguf");
        using var vocab = GgufFile.Open(TestPaths.Vocab("bert-bge"));
        SyntheticModelWriter.Write("bert", ModelShape.Find("bert-tiny"), GgmlType.Q8_0, vocab.Metadata, path);
        return path;
    });

    private static readonly string[] Texts = ["Hello world", "The quick brown fox jumps over the lazy dog.", "x", "A factory budgets in tokens, not GPUs."];

    private static Task<ServerInstance> BertServerAsync(Dictionary<string, string?>? more = null)
    {
        var settings = new Dictionary<string, string?> { ["TokenFactory:Model"] = BertFile.Value, ["TokenFactory:Threads"] = "2" };
        foreach (var (k, v) in more ?? [])
            settings[k] = v;
        return ServerInstance.StartAsync(settings);
    }

    /// <summary>What the encoder computes for each text alone, normalized: the reference every answer must equal.</summary>
    private static float[][] Expected(string path, IReadOnlyList<string> texts)
    {
        using var model = BertModel.Load(path);
        var tokenizer = Tokenizer.FromMetadata(model.File.Metadata);
        using var encoder = new BertEncoder(model, threads: 1);
        return [.. texts.Select(text =>
        {
            var v = new float[encoder.Dimensions];
            encoder.Encode([tokenizer.Encode(text)], v);
            TensorPrimitives.Divide(v, TensorPrimitives.Norm(v), v);
            return v;
        })];
    }

    [Fact]
    public async Task Openai_sdk_gets_the_encoders_vectors_normalized_with_usage()
    {
        await using var server = await BertServerAsync();
        var client = new EmbeddingClient(ServerInstance.ModelName, new ApiKeyCredential("unused"), new OpenAIClientOptions { Endpoint = server.OpenAiEndpoint });
        OpenAIEmbeddingCollection result = await client.GenerateEmbeddingsAsync(Texts);

        var expected = Expected(BertFile.Value, Texts);
        var tokenizer = server.Engine.Tokenizer;
        Assert.Equal(Texts.Length, result.Count);
        for (int i = 0; i < Texts.Length; i++)
        {
            Assert.Equal(i, result[i].Index);
            float[] actual = result[i].ToFloats().ToArray();
            Assert.Equal(128, actual.Length);
            // Batched with the others in one pass, yet each vector is what the encoder gives the text alone.
            Assert.Equal(expected[i], actual, (a, b) => Math.Abs(a - b) <= 1e-6f);
            Assert.Equal(1f, TensorPrimitives.Norm(actual), 1e-5f);
        }
        Assert.Equal(Texts.Sum(t => tokenizer.Encode(t).Length), result.Usage.InputTokenCount);
        Assert.Equal(result.Usage.InputTokenCount, result.Usage.TotalTokenCount);
        Assert.NotEqual(result[0].ToFloats().ToArray(), result[2].ToFloats().ToArray());
    }

    [Fact]
    public async Task Float_and_base64_answers_carry_the_same_floats_and_token_arrays_embed_as_given()
    {
        await using var server = await BertServerAsync();
        var tokens = server.Engine.Tokenizer.Encode(Texts[1]);
        var asFloats = await PostAsync(server, new { input = Texts[1], encoding_format = "float" });
        var asBase64 = await PostAsync(server, new { input = Texts[1], encoding_format = "base64" });
        var asTokens = await PostAsync(server, new { input = tokens });
        var asTokenBatch = await PostAsync(server, new { input = new[] { tokens, tokens } });

        float[] floats = [.. asFloats["data"]![0]!["embedding"]!.AsArray().Select(v => (float)v!)];
        float[] decoded = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(Convert.FromBase64String((string)asBase64["data"]![0]!["embedding"]!)).ToArray();
        Assert.Equal(floats, decoded);
        Assert.Equal(floats, Floats(asTokens));
        Assert.Equal(2, asTokenBatch["data"]!.AsArray().Count);
        Assert.Equal(floats, Floats(asTokenBatch, 1));
        Assert.Equal("list", (string?)asFloats["object"]);
        Assert.Equal("embedding", (string?)asFloats["data"]![0]!["object"]);
        Assert.Equal(ServerInstance.ModelName, (string?)asFloats["model"]);
        Assert.Equal(tokens.Length, (int)asFloats["usage"]!["prompt_tokens"]!);
    }

    [Fact]
    public async Task Many_inputs_of_one_request_share_one_forward_pass()
    {
        await using var server = await BertServerAsync();
        var before = server.Engine.Embeddings!.Counters;
        var inputs = Enumerable.Range(0, 40).Select(i => $"sentence number {i} about tokens").ToArray();
        var answer = await PostAsync(server, new { input = inputs });
        var after = server.Engine.Embeddings!.Counters;
        Assert.Equal(40, answer["data"]!.AsArray().Count);
        Assert.Equal(40, after.Inputs - before.Inputs);
        Assert.Equal(1, after.Passes - before.Passes);
        Assert.Equal(40, await server.MetricAsync("tokenfactory_embedding_inputs_total"));
        // The end-to-end latency histogram is the generation requests' (documented so): millisecond embeddings stay out.
        Assert.Equal(0, await server.MetricAsync("tokenfactory_e2e_request_latency_seconds_count"));
    }

    [Theory]
    [InlineData("""{"input":""}""", "input", null)]
    [InlineData("""{"input":[]}""", "input", null)]
    [InlineData("""{"input":["fine",""]}""", "input[1]", null)]
    [InlineData("""{"input":[1,2,999999]}""", "input", null)]
    [InlineData("""{"input":[[1,2],[]]}""", "input[1]", null)]
    [InlineData("""{"input":[1,"a"]}""", "input", null)]
    [InlineData("""{"input":"hi","encoding_format":"int8"}""", "encoding_format", null)]
    [InlineData("""{"input":"hi","dimensions":64}""", "dimensions", null)]
    [InlineData("""{"input":"hi","truncate":true}""", "truncate", "unknown_parameter")]
    [InlineData("""{"input":"hi","model":"other"}""", "model", "model_not_found")]
    public async Task Bad_input_is_a_400_naming_it(string body, string param, string? code)
    {
        await using var server = await BertServerAsync();
        using var response = await server.Client.PostAsync("/v1/embeddings", new StringContent(body, MediaTypeHeaderValue.Parse("application/json")));
        var error = JsonNode.Parse(await response.Content.ReadAsStringAsync())!["error"]!;
        Assert.Equal(param == "model" ? HttpStatusCode.NotFound : HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal(param, (string?)error["param"]);
        if (code != null)
            Assert.Equal(code, (string?)error["code"]);
    }

    [Fact]
    public async Task An_input_longer_than_the_context_is_refused_naming_it_and_generation_is_refused()
    {
        await using var server = await BertServerAsync();
        string longText = string.Join(' ', Enumerable.Repeat("tokens", 600));
        using var tooLong = await server.PostJsonAsync("/v1/embeddings", new { input = new[] { "short", longText } });
        var error = JsonNode.Parse(await tooLong.Content.ReadAsStringAsync())!["error"]!;
        Assert.Equal(HttpStatusCode.BadRequest, tooLong.StatusCode);
        Assert.Equal(("input[1]", "context_length_exceeded"), ((string?)error["param"], (string?)error["code"]));

        using var chat = await server.PostJsonAsync("/v1/chat/completions", new { messages = new[] { new { role = "user", content = "hi" } } });
        var chatError = JsonNode.Parse(await chat.Content.ReadAsStringAsync())!["error"]!;
        Assert.Equal(HttpStatusCode.BadRequest, chat.StatusCode);
        Assert.Equal(("model", "model_not_generative"), ((string?)chatError["param"], (string?)chatError["code"]));
    }

    [Fact]
    public async Task A_matryoshka_model_keeps_the_leading_dimensions_renormalized()
    {
        await using var server = await BertServerAsync(new() { ["TokenFactory:Matryoshka"] = "true" });
        var full = Floats(await PostAsync(server, new { input = Texts[0] }));
        var cut = Floats(await PostAsync(server, new { input = Texts[0], dimensions = 16 }));
        Assert.Equal(16, cut.Length);
        var expected = full[..16];
        TensorPrimitives.Divide(expected, TensorPrimitives.Norm(expected), expected);
        Assert.Equal(expected, cut, (a, b) => Math.Abs(a - b) <= 1e-6f);
        using var tooMany = await server.PostJsonAsync("/v1/embeddings", new { input = "hi", dimensions = 129 });
        Assert.Equal(HttpStatusCode.BadRequest, tooMany.StatusCode);
    }

    [Fact]
    public async Task A_decoder_serves_embeddings_only_when_given_a_pooling()
    {
        await using (var plain = await ServerInstance.StartAsync())
        {
            using var refused = await plain.PostJsonAsync("/v1/embeddings", new { input = "Once upon a time" });
            Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode);
            Assert.Equal("model_not_embedding", (string?)JsonNode.Parse(await refused.Content.ReadAsStringAsync())!["error"]!["code"]);
        }

        await using var pooled = await ServerInstance.StartAsync(new() { ["TokenFactory:Pooling"] = "last" });
        var answer = Floats(await PostAsync(pooled, new { input = "Once upon a time" }));

        using var model = TransformerModel.Load(TestPaths.Stories260K);
        using var embedder = new DecoderEmbedder(model, PoolingType.Last, 512, threads: 1);
        var expected = new float[embedder.Dimensions];
        embedder.Encode([pooled.Engine.Tokenizer.Encode("Once upon a time")], expected);
        TensorPrimitives.Divide(expected, TensorPrimitives.Norm(expected), expected);
        Assert.Equal(expected, answer, (a, b) => Math.Abs(a - b) <= 1e-6f);
        // Still a generative model.
        using var chat = await pooled.PostJsonAsync("/v1/completions", new { prompt = "Once upon a time", max_tokens = 4 });
        Assert.Equal(HttpStatusCode.OK, chat.StatusCode);
    }

    [Fact]
    public async Task The_ledger_charges_an_embedding_requests_tokens_to_its_key()
    {
        await using var floor = await FloorServer.StartAsync(settings: new() { ["TokenFactory:Model"] = BertFile.Value });
        var key = await floor.NewKeyAsync();
        var client = new EmbeddingClient(ServerInstance.ModelName, new ApiKeyCredential(key.Secret!), new OpenAIClientOptions { Endpoint = floor.Server.OpenAiEndpoint });
        OpenAIEmbeddingCollection result = await client.GenerateEmbeddingsAsync(Texts);

        var line = Assert.Single(await floor.LedgerAsync(key.Team));
        Assert.Equal(("/v1/embeddings", 200, ServerInstance.ModelName), (line.Endpoint, line.Status, line.Model));
        Assert.Equal(result.Usage.InputTokenCount, line.PromptTokens);
        Assert.Equal(0, line.CompletionTokens);
        Assert.True(line.EnergyJoules > 0, "the passes' energy is charged to the request");

        using var anonymous = await floor.Server.PostJsonAsync("/v1/embeddings", new { input = "hi" });
        Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
    }

    private static float[] Floats(JsonNode answer, int index = 0) => [.. answer["data"]![index]!["embedding"]!.AsArray().Select(v => (float)v!)];

    private static async Task<JsonNode> PostAsync(ServerInstance server, object body)
    {
        using var response = await server.PostJsonAsync("/v1/embeddings", body);
        string text = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, text);
        return JsonNode.Parse(text)!;
    }
}
