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
/// A gpt-oss model (synthetic, tiny, MXFP4 experts) served with gpt-oss's own chat template through the default batching engine:
/// answers streamed concurrently equal the sequential ones, and nothing stays held. (Its 512-token context leaves no room for a
/// tool-call prompt in this template; harmony tool calls are tested on the default model in <c>HarmonyTests</c>.)
/// </summary>
public sealed class GptOssServingTests
{
    private static readonly string TemplatePath = Path.Combine(TestPaths.Shared, "fixtures", "chat-templates", "openai-gpt-oss-120b.jinja");

    /// <summary>Written fresh (3 MB, milliseconds) so a file from an older writer is never served.</summary>
    private static string WriteModel()
    {
        string path = Path.Combine(TestPaths.TempDir(), "gpt-oss-tiny-MXFP4.gguf");
        using var vocab = GgufFile.Open(TestPaths.Stories260K);
        SyntheticModelWriter.Write("gpt-oss", ModelShape.Find("gpt-oss-tiny"), GgmlType.MXFP4, vocab.Metadata, path);
        return path;
    }

    [Fact]
    public async Task Chat_streams_and_batches_through_its_own_template()
    {
        await using var server = await ServerInstance.StartAsync(new()
        {
            ["TokenFactory:Model"] = WriteModel(), ["TokenFactory:Threads"] = "2", ["TokenFactory:ChatTemplateFile"] = TemplatePath,
            ["TokenFactory:ContextLength"] = "512",
        });
        var engine = Assert.IsType<BatchingEngine>(server.Engine);
        var chat = new ChatClient(ServerInstance.ModelName, new ApiKeyCredential("not-needed"), new OpenAIClientOptions { Endpoint = server.OpenAiEndpoint });
        var options = new ChatCompletionOptions { Temperature = 0, MaxOutputTokenCount = 12 };
        string[] questions = ["Tell me a story.", "Once upon a time", "The little dog"];

        var sequential = new List<string>();
        foreach (var q in questions)
        {
            ChatCompletion c = await chat.CompleteChatAsync([new UserChatMessage(q)], options);
            Assert.Equal(12, c.Usage.OutputTokenCount);
            sequential.Add(c.Content.Count > 0 ? c.Content[0].Text : "");
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
        Assert.Equal(sequential, await Task.WhenAll(questions.Select(Stream)));

        await server.WaitForIdleAsync();
        Assert.Equal(engine.Counters.KvBlocksTotal, engine.Counters.KvBlocksFree);
    }
}
