using System.Runtime.CompilerServices;
using TokenFactory.Chat;
using TokenFactory.Engine;
using TokenFactory.Models;
using TokenFactory.Server.Hosting;
using TokenFactory.Tokenization;

namespace TokenFactory.Server.Tests.Infrastructure;

/// <summary>
/// An engine that makes one token per <see cref="Step"/>, so a test decides exactly how far a generation gets
/// and can prove the server cancelled it: nothing here depends on timing.
/// </summary>
public sealed class GatedEngine : IInferenceEngine, IEngineFactory
{
    private readonly SemaphoreSlim _steps = new(0);
    private readonly CancellationTokenSource _cancelAll = new();
    private int _running;

    public GatedEngine()
    {
        Model = TransformerModel.Load(TestPaths.Stories260K);
        Tokenizer = Tokenizer.FromMetadata(Model.File.Metadata);
    }

    public IModelFile Model { get; }
    public Tokenizer Tokenizer { get; }
    public ChatTemplate ChatTemplate => ChatTemplate.ChatMl;
    public bool HasOwnChatTemplate => false;
    public int ContextLength => 512;
    public EngineLoad Load => new(Volatile.Read(ref _running), 0, 0, ContextLength);

    /// <summary>Completes when a generation starts.</summary>
    public TaskCompletionSource Started { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Completes with the summary of the first generation that ends.</summary>
    public TaskCompletionSource<GenerationSummary> Finished { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public void Step(int tokens = 1) => _steps.Release(tokens);

    /// <summary>When set, the next step throws this instead of making a token (an engine failure mid-generation).</summary>
    public Exception? FailWith { get; set; }

    public IInferenceEngine Create(ModelSource source) => this;

    /// <summary>Every generation under way ends as cancelled, as the batching engine's do.</summary>
    public void CancelAll() => _cancelAll.Cancel();

    public async IAsyncEnumerable<GenerationUpdate> GenerateAsync(GenerationRequest request, [EnumeratorCancellation] CancellationToken cancellation = default)
    {
        Interlocked.Increment(ref _running);
        Started.TrySetResult();
        int produced = 0;
        var finish = FinishReason.Length;
        int token = Tokenizer.Vocabulary.TokenToId("▁la") ?? 100;
        try
        {
            while (produced < request.MaxTokens)
            {
                try
                {
                    using var either = CancellationTokenSource.CreateLinkedTokenSource(cancellation, _cancelAll.Token);
                    await _steps.WaitAsync(either.Token);
                }
                catch (OperationCanceledException)
                {
                    finish = FinishReason.Cancelled;
                    break;
                }
                if (FailWith is { } failure)
                    throw failure;
                produced++;
                yield return new GenerationUpdate { Token = token, Text = Tokenizer.TokenPiece(token) };
            }
        }
        finally
        {
            Interlocked.Decrement(ref _running);
        }
        var summary = new GenerationSummary { FinishReason = finish, PromptTokens = request.PromptTokens.Count, CompletionTokens = produced };
        Finished.TrySetResult(summary);
        yield return new GenerationUpdate { Final = summary };
    }

    // The server disposes its engine and model at shutdown; the test may dispose again.
    public void Dispose() => _steps.Dispose();
}
