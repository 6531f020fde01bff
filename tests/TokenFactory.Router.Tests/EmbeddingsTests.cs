using System.Net;
using System.Net.Http.Json;
using System.Numerics.Tensors;
using System.Text.Json.Nodes;
using TokenFactory.Router.Tests.Infrastructure;
using TokenFactory.Server.Tests.Infrastructure;

namespace TokenFactory.Router.Tests;

/// <summary>/v1/embeddings through the router: forwarded to a BERT replica, metered in the router's ledger, refused at the door when too long.</summary>
public sealed class EmbeddingsTests
{
    [Fact]
    public async Task Embeddings_pass_through_the_router_metered_as_prompt_tokens()
    {
        string bert = Path.Combine(TestPaths.TempDir(), "bert-tiny-Q8_0.gguf");
        using (var vocab = TokenFactory.Gguf.GgufFile.Open(TestPaths.Vocab("bert-bge")))
            TokenFactory.Models.Synthetic.SyntheticModelWriter.Write("bert", TokenFactory.Models.Synthetic.ModelShape.Find("bert-tiny"), TokenFactory.Gguf.GgmlType.Q8_0, vocab.Metadata, bert);
        await using var replica = await ServerInstance.StartAsync(new()
        {
            ["TokenFactory:Fleet:InternalToken"] = RouterInstance.InternalToken,
            ["TokenFactory:Model"] = bert,
        });
        await using var router = await RouterInstance.StartAsync([replica.BaseAddress], new() { ["TokenFactory:Router:Models:stories260K"] = bert });

        using var response = await router.Client.PostAsJsonAsync("/v1/embeddings", new { model = "stories260K", input = new[] { "Hello world", "x" } });
        var answer = (await response.Content.ReadFromJsonAsync<JsonObject>())!;
        Assert.True(response.StatusCode == HttpStatusCode.OK, answer.ToJsonString());
        Assert.True(response.Headers.Contains("x-tokenfactory-replica"));
        var data = answer["data"]!.AsArray();
        Assert.Equal(2, data.Count);
        float[] first = [.. data[0]!["embedding"]!.AsArray().Select(v => (float)v!)];
        Assert.Equal(128, first.Length);
        Assert.Equal(1f, TensorPrimitives.Norm(first), 1e-5f);
        var usage = answer["usage"]!.AsObject();
        Assert.False(usage.ContainsKey("tokenfactory"), "the replica's work report is for the router only");
        long promptTokens = (long)usage["prompt_tokens"]!;
        Assert.Equal(replica.Engine.Tokenizer.Encode("Hello world").Length + replica.Engine.Tokenizer.Encode("x").Length, promptTokens);

        var line = Assert.Single(await router.LedgerAsync(), l => (string?)l["endpoint"] == "/v1/embeddings");
        Assert.Equal(200, (int)line["status"]!);
        Assert.Equal(promptTokens, (long)line["prompt_tokens"]!);
        Assert.Equal(0, (long)line["completion_tokens"]!);
        Assert.True((double)line["energy_joules"]! > 0, "the replica's measured energy reaches the router's ledger");
        // The end-to-end latency histogram is the generation requests' (as a replica's is): embeddings stay out.
        Assert.Equal(0, await router.MetricAsync("tokenfactory_e2e_request_latency_seconds_count"));

        // With the model's tokenizer the router counts exactly, and refuses a too-long input itself.
        using var tooLong = await router.Client.PostAsJsonAsync("/v1/embeddings", new { input = new[] { "ok", string.Join(' ', Enumerable.Repeat("tokens", 600)) } });
        Assert.Equal(HttpStatusCode.BadRequest, tooLong.StatusCode);
        Assert.Equal("input[1]", (string?)(await tooLong.Content.ReadFromJsonAsync<JsonObject>())!["error"]!["param"]);
    }
}
