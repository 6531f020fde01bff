using System.ClientModel;
using System.Text;
using OpenAI;
using OpenAI.Chat;
using TokenFactory.Engine.Batching;
using TokenFactory.Gguf;
using TokenFactory.Models.Synthetic;
using TokenFactory.Server.Tests.Infrastructure;

namespace TokenFactory.Server.Tests.Clients;

/// <summary>
/// Model families other than llama (synthetic, tiny) served exactly like a Llama model: the default batching engine, the
/// OpenAI SDK, concurrent streams equal to sequential answers, nothing left held. A Nemotron-H mixture of experts, and
/// gpt-oss (MXFP4 experts) with its own chat template (its 512-token context leaves no room for a tool-call prompt in that
/// template; harmony tool calls are tested on the default model in <c>HarmonyTests</c>).
/// </summary>
public sealed class SyntheticModelServingTests
{
    private static string Template(string name) => Path.Combine(TestPaths.Shared, "fixtures", "chat-templates", name + ".jinja");

    /// <summary>Written fresh (a few MB, milliseconds) so a file from an older writer is never served.</summary>
    private static string WriteModel(string arch, string shape, GgmlType type)
    {
        string path = Path.Combine(TestPaths.TempDir(), $"{shape}-{type}.gguf");
        using var vocab = GgufFile.Open(TestPaths.Stories260K);
        SyntheticModelWriter.Write(arch, ModelShape.Find(shape), type, vocab.Metadata, path);
        return path;
    }

    [Theory]
    [InlineData("nemotron_h_moe", "nemotron-h-moe-tiny", GgmlType.Q8_0, null, 20)]
    [InlineData("gpt-oss", "gpt-oss-tiny", GgmlType.MXFP4, "openai-gpt-oss-120b", 12)]
    [InlineData("qwen35moe", "qwen35moe-tiny", GgmlType.Q8_0, "Qwen3.5-4B", 20)]
    [InlineData("gemma4", "gemma4-tiny", GgmlType.Q8_0, "google-gemma-4-31B-it", 20)]
    [InlineData("gemma4", "gemma4-moe-tiny", GgmlType.Q8_0, null, 20)]
    public async Task Chat_completions_stream_and_batch_like_a_llama_model(string arch, string shape, GgmlType type, string? template, int maxTokens)
    {
        var settings = new Dictionary<string, string?> { ["TokenFactory:Model"] = WriteModel(arch, shape, type), ["TokenFactory:Threads"] = "2" };
        if (template != null)
            settings["TokenFactory:ChatTemplateFile"] = Template(template);
        await using var server = await ServerInstance.StartAsync(settings);
        var engine = Assert.IsType<BatchingEngine>(server.Engine);
        var chat = new ChatClient(ServerInstance.ModelName, new ApiKeyCredential("not-needed"), new OpenAIClientOptions { Endpoint = server.OpenAiEndpoint });
        var options = new ChatCompletionOptions { Temperature = 0, MaxOutputTokenCount = maxTokens };
        string[] questions = ["Tell me a story.", "Once upon a time", "The little dog", "Lily wanted to"];

        var sequential = new List<string>();
        foreach (var q in questions)
        {
            ChatCompletion c = await chat.CompleteChatAsync([new UserChatMessage(q)], options);
            Assert.Equal(maxTokens, c.Usage.OutputTokenCount);
            Assert.Equal(ChatFinishReason.Length, c.FinishReason);
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
        var concurrent = await Task.WhenAll(questions.Select(Stream));
        Assert.Equal(sequential, concurrent);

        await server.WaitForIdleAsync();
        Assert.Equal(engine.StateSlots, engine.FreeStateSlots);
        Assert.Equal(engine.Counters.KvBlocksTotal, engine.Counters.KvBlocksFree);
        Assert.Equal(engine.Counters.SlidingKvBlocksTotal, engine.Counters.SlidingKvBlocksFree);
    }
}
