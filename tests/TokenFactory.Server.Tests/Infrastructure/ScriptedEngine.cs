using System.Runtime.CompilerServices;
using TokenFactory.Chat;
using TokenFactory.Engine;
using TokenFactory.Models;
using TokenFactory.Server.Hosting;
using TokenFactory.Tokenization;

namespace TokenFactory.Server.Tests.Infrastructure;

/// <summary>
/// An engine that "generates" a fixed list of text pieces (one per token) under a real chat template, so a test can
/// drive exact model output (a reasoning block split across tokens, say) through the whole server.
/// </summary>
public sealed class ScriptedEngine(ChatTemplate template, params string[] pieces) : IInferenceEngine, IEngineFactory
{
    private readonly TransformerModel _model = TransformerModel.Load(TestPaths.Stories260K);

    /// <summary>The Nemotron 3 Nano template from the shared fixtures (its generation prompt opens a &lt;think&gt; block).</summary>
    public static ChatTemplate Nemotron3Nano() =>
        new(File.ReadAllText(Path.Combine(TestPaths.Shared, "fixtures", "chat-templates", "nvidia-Nemotron-3-Nano.jinja")), "<s>", "</s>");

    public string? LastPrompt { get; private set; }
    /// <summary>The last request as the server built it (its constraints among the rest).</summary>
    public GenerationRequest? LastRequest { get; private set; }

    public IModelFile Model => _model;
    public Tokenizer Tokenizer => field ??= Tokenizer.FromMetadata(_model.File.Metadata);
    public ChatTemplate ChatTemplate => template;
    public bool HasOwnChatTemplate => true;
    public int ContextLength => 4096;
    public EngineLoad Load => new(0, 0, 0, ContextLength);

    public IInferenceEngine Create(ModelSource source) => this;

    /// <summary>Whom the server asked the engine to share itself fairly with, for the last request.</summary>
    public string? LastTenant { get; private set; }

    public IReadOnlyList<IAsyncEnumerable<GenerationUpdate>> Submit(GenerationGroup group, CancellationToken cancellation = default)
    {
        LastTenant = group.Tenant;
        return [.. group.Choices.Select(choice => GenerateAsync(choice, cancellation))];
    }

    public async IAsyncEnumerable<GenerationUpdate> GenerateAsync(GenerationRequest request, [EnumeratorCancellation] CancellationToken cancellation = default)
    {
        LastPrompt = Tokenizer.Decode(request.PromptTokens.ToArray());
        LastRequest = request;
        int produced = 0;
        foreach (var piece in pieces.Take(request.MaxTokens))
        {
            await Task.Yield();
            cancellation.ThrowIfCancellationRequested();
            produced++;
            yield return new GenerationUpdate { Token = 100 + produced, Text = piece };
        }
        yield return new GenerationUpdate
        {
            Final = new GenerationSummary
            {
                FinishReason = produced < request.MaxTokens ? FinishReason.Stop : FinishReason.Length,
                PromptTokens = request.PromptTokens.Count,
                CompletionTokens = produced,
            },
        };
    }

    public void Dispose() => _model.Dispose();
}
