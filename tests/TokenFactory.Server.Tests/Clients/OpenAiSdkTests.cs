using System.ClientModel;
using System.ClientModel.Primitives;
using System.Text;
using System.Text.Json.Nodes;
using OpenAI;
using OpenAI.Chat;
using OpenAI.Models;
using TokenFactory.Server.Tests.Infrastructure;

namespace TokenFactory.Server.Tests.Clients;

/// <summary>The official OpenAI .NET SDK, unmodified, pointed at the server over a real socket.</summary>
[Collection(StoriesServerCollection.Name)]
public sealed class OpenAiSdkTests(StoriesServerFixture fixture)
{
    private ServerInstance Server => fixture.Server;

    private OpenAIClientOptions Options => new() { Endpoint = Server.OpenAiEndpoint };

    private ChatClient Chat(string model = ServerInstance.ModelName) => new(model, new ApiKeyCredential("not-needed"), Options);

    private static ChatCompletionOptions Greedy(int maxTokens) => new() { Temperature = 0, MaxOutputTokenCount = maxTokens };

    [Fact]
    public async Task Chat_completion()
    {
        ChatCompletion completion = await Chat().CompleteChatAsync(
            [new SystemChatMessage("You tell stories."), new UserChatMessage("Tell me a story.")], Greedy(12));
        Assert.Equal(ChatMessageRole.Assistant, completion.Role);
        Assert.False(string.IsNullOrEmpty(completion.Content[0].Text));
        Assert.Equal(ChatFinishReason.Length, completion.FinishReason);
        Assert.Equal(12, completion.Usage.OutputTokenCount);
        Assert.Equal(completion.Usage.InputTokenCount + 12, completion.Usage.TotalTokenCount);
        Assert.Equal(ServerInstance.ModelName, completion.Model);
        Assert.StartsWith("chatcmpl-", completion.Id);
    }

    [Fact]
    public async Task Streaming_chat_completion_equals_the_non_streaming_one()
    {
        ChatMessage[] messages = [new UserChatMessage("Once upon a time")];
        ChatCompletion whole = await Chat().CompleteChatAsync(messages, Greedy(16));

        var text = new StringBuilder();
        ChatFinishReason? finish = null;
        ChatTokenUsage? usage = null;
        int updates = 0;
        await foreach (StreamingChatCompletionUpdate update in Chat().CompleteChatStreamingAsync(messages, Greedy(16)))
        {
            updates++;
            foreach (var part in update.ContentUpdate)
                text.Append(part.Text);
            finish ??= update.FinishReason;
            usage ??= update.Usage;
        }
        Assert.True(updates > 2, "tokens arrive as separate events");
        Assert.Equal(whole.Content[0].Text, text.ToString());
        Assert.Equal(ChatFinishReason.Length, finish);
        Assert.NotNull(usage); // the SDK asks for include_usage itself
        Assert.Equal(16, usage.OutputTokenCount);
    }

    [Fact]
    public async Task Chat_logprobs()
    {
        var options = Greedy(4);
        options.IncludeLogProbabilities = true;
        options.TopLogProbabilityCount = 2;
        ChatCompletion completion = await Chat().CompleteChatAsync([new UserChatMessage("Hi")], options);
        Assert.Equal(4, completion.ContentTokenLogProbabilities.Count);
        Assert.All(completion.ContentTokenLogProbabilities, t => Assert.Equal(2, t.TopLogProbabilities.Count));
    }

    [Fact]
    public async Task Legacy_completion()
    {
        // The SDK (2.15) keeps its LegacyCompletionClient internal, so the request goes through the SDK's own
        // pipeline (transport, auth header, retries, error classification) as that client would send it.
        ClientPipeline pipeline = Chat().Pipeline;
        using PipelineMessage message = pipeline.CreateMessage();
        message.Request.Method = "POST";
        message.Request.Uri = new Uri(Server.OpenAiEndpoint + "/completions");
        message.Request.Headers.Set("Content-Type", "application/json");
        message.Request.Content = BinaryContent.Create(BinaryData.FromString("""{"model": "stories260K", "prompt": "Once upon a time", "max_tokens": 8, "temperature": 0}"""));
        message.ResponseClassifier = PipelineMessageClassifier.Create([200]);
        await pipeline.SendAsync(message);
        Assert.False(message.Response!.IsError);
        var result = ClientResult.FromResponse(message.Response);
        var json = JsonNode.Parse(result.GetRawResponse().Content.ToString())!;
        Assert.StartsWith(", there was a little girl", (string)json["choices"]![0]!["text"]!);
    }

    [Fact]
    public async Task Model_listing()
    {
        var client = new OpenAIModelClient(new ApiKeyCredential("not-needed"), Options);
        OpenAIModelCollection models = await client.GetModelsAsync();
        var model = Assert.Single(models);
        Assert.Equal(ServerInstance.ModelName, model.Id);
        Assert.Equal("tokenfactory", model.OwnedBy);
        OpenAIModel same = await client.GetModelAsync(ServerInstance.ModelName);
        Assert.Equal(model.Id, same.Id);
    }

    [Fact]
    public async Task Unknown_model_surfaces_as_a_404_ClientResultException()
    {
        var e = await Assert.ThrowsAsync<ClientResultException>(() => Chat("gpt-4o").CompleteChatAsync([new UserChatMessage("Hi")], Greedy(4)));
        Assert.Equal(404, e.Status);
        Assert.Contains("model_not_found", e.Message);
    }

    [Fact]
    public async Task Invalid_parameter_surfaces_as_a_400_ClientResultException()
    {
        var options = Greedy(4);
        options.Temperature = 5;
        var e = await Assert.ThrowsAsync<ClientResultException>(() => Chat().CompleteChatAsync([new UserChatMessage("Hi")], options));
        Assert.Equal(400, e.Status);
        Assert.Contains("temperature", e.Message);
    }
}
