using System.Collections.Concurrent;
using TokenFactory.Chat;
using TokenFactory.Engine;
using TokenFactory.Engine.Batching;
using TokenFactory.Models;
using TokenFactory.Server.Hosting;
using TokenFactory.Tokenization;

namespace TokenFactory.Server.Tests.Infrastructure;

/// <summary>A real <see cref="BatchingEngine"/> over stories260K that records every request the server submits.</summary>
public sealed class RecordingEngine : IInferenceEngine, IEngineFactory
{
    private readonly BatchingEngine _inner = new(TransformerModel.Load(TestPaths.Stories260K), new EngineOptions { ContextLength = 512, Threads = 1 });

    public ConcurrentQueue<GenerationRequest> Requests { get; } = new();

    /// <summary>Every request as submitted: its choices, tenant and priority class.</summary>
    public ConcurrentQueue<GenerationGroup> Groups { get; } = new();

    public IModelFile Model => _inner.Model;
    public Tokenizer Tokenizer => _inner.Tokenizer;
    public ChatTemplate ChatTemplate => _inner.ChatTemplate;
    public bool HasOwnChatTemplate => _inner.HasOwnChatTemplate;
    public int ContextLength => _inner.ContextLength;
    public EngineLoad Load => _inner.Load;

    public IInferenceEngine Create(ModelSource source) => this;

    public IAsyncEnumerable<GenerationUpdate> GenerateAsync(GenerationRequest request, CancellationToken cancellation = default)
    {
        Requests.Enqueue(request);
        return _inner.GenerateAsync(request, cancellation);
    }

    public IReadOnlyList<IAsyncEnumerable<GenerationUpdate>> Submit(GenerationGroup group, CancellationToken cancellation = default)
    {
        Groups.Enqueue(group);
        foreach (var choice in group.Choices)
            Requests.Enqueue(choice);
        return _inner.Submit(group, cancellation);
    }

    public void Dispose() => _inner.Dispose();
}
