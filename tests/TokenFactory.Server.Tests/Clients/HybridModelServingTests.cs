using System.ClientModel;
using System.Text;
using OpenAI;
using OpenAI.Chat;
using TokenFactory.Engine.Batching;
using TokenFactory.Gguf;
using TokenFactory.Models.Synthetic;
using TokenFactory.Server.Tests.Infrastructure;
using TokenFactory.Tensors;

namespace TokenFactory.Server.Tests.Clients;

/// <summary>
/// A Nemotron-H mixture-of-experts model (synthetic, tiny) served exactly like a Llama model: the default
/// batching engine, the OpenAI SDK, concurrent streams equal to sequential answers, nothing left held.
/// </summary>
public sealed class HybridModelServingTests
{
    /// <summary>Written fresh (2.8 MB, milliseconds) so a file from an older writer is never served.</summary>
    private static string WriteModel()
    {
        string path = Path.Combine(TestPaths.TempDir(), "nemotron-h-moe-tiny-Q8_0.gguf");
        using var vocab = GgufFile.Open(TestPaths.Stories260K);
        SyntheticModelWriter.Write("nemotron_h_moe", ModelShape.Find("nemotron-h-moe-tiny"), GgmlType.Q8_0, vocab.Metadata, path);
        return path;
    }

    [Fact]
    public async Task Chat_completions_stream_and_batch_like_a_llama_model()
    {
        await using var server = await ServerInstance.StartAsync(new() { ["TokenFactory:Model"] = WriteModel(), ["TokenFactory:Threads"] = "2" });
        var engine = Assert.IsType<BatchingEngine>(server.Engine);
        var chat = new ChatClient(ServerInstance.ModelName, new ApiKeyCredential("not-needed"), new OpenAIClientOptions { Endpoint = server.OpenAiEndpoint });
        var options = new ChatCompletionOptions { Temperature = 0, MaxOutputTokenCount = 20 };
        string[] questions = ["Tell me a story.", "Once upon a time", "The little dog", "Lily wanted to"];

        var sequential = new List<string>();
        foreach (var q in questions)
        {
            ChatCompletion c = await chat.CompleteChatAsync([new UserChatMessage(q)], options);
            Assert.Equal(20, c.Usage.OutputTokenCount);
            Assert.Equal(ChatFinishReason.Length, c.FinishReason);
            sequential.Add(c.Content[0].Text);
        }

        async Task<string> Stream(string q)
        {
            var text = new StringBuilder();
            await foreach (var update in chat.CompleteChatStreamingAsync([new UserChatMessage(q)], options))
            {
                foreach (var part in update.ContentUpdate)
                    text.Append(part.Text);
            }
            return text.ToString();
        }
        var concurrent = await Task.WhenAll(questions.Select(Stream));
        Assert.Equal(sequential, concurrent);

        await server.WaitForIdleAsync();
        Assert.Equal(engine.StateSlots, engine.FreeStateSlots);
        Assert.Equal(engine.Counters.KvBlocksTotal, engine.Counters.KvBlocksFree);
    }
}
