using TokenFactory.Chat;
using TokenFactory.Models;
using TokenFactory.Models.Bert;
using TokenFactory.Tokenization;

namespace TokenFactory.Engine.Embeddings;

/// <summary>
/// Serves an encoder (BERT) model: embeddings only. Hosts see it as any engine; generation is refused with
/// <see cref="ModelCannotGenerateException"/>, and <see cref="Embeddings"/> does the work.
/// </summary>
public sealed class EncoderEngine : IInferenceEngine
{
    private readonly BertModel _model;
    private readonly EmbeddingEngine _embeddings;

    /// <param name="maxBatchTokens">Most tokens per forward pass (at least the model's context).</param>
    public EncoderEngine(BertModel model, int threads = 0, int maxBatchTokens = 0, int maxWaitingInputs = 4096, IEnergyMeter? energyMeter = null)
    {
        _model = model;
        Tokenizer = Tokenizer.FromMetadata(model.File.Metadata);
        _embeddings = new EmbeddingEngine(new BertEncoder(model, maxBatchTokens, threads: threads), Tokenizer, maxWaitingInputs, metering: new MeterSharing(energyMeter));
        (ChatTemplate, HasOwnChatTemplate) = ChatTemplates.ForModel(model.File.Metadata, Tokenizer, null);
    }

    public IModelFile Model => _model;
    public Tokenizer Tokenizer { get; }
    public ChatTemplate ChatTemplate { get; }
    public bool HasOwnChatTemplate { get; }
    public int ContextLength => _embeddings.ContextLength;
    public EngineLoad Load => _embeddings.Load;
    public bool Generates => false;
    public IEmbeddingEngine Embeddings => _embeddings;

    public IAsyncEnumerable<GenerationUpdate> GenerateAsync(GenerationRequest request, CancellationToken cancellation = default) =>
        throw new ModelCannotGenerateException(_model.Architecture);

    public IReadOnlyList<IAsyncEnumerable<GenerationUpdate>> Submit(GenerationGroup group, CancellationToken cancellation = default) =>
        throw new ModelCannotGenerateException(_model.Architecture);

    public void CancelAll() => _embeddings.CancelAll();

    public void Dispose() => _embeddings.Dispose();
}
