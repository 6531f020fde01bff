using TokenFactory.Engine;
using TokenFactory.Server.Api;

namespace TokenFactory.Server.Hosting;

public enum EngineState
{
    Loading,
    Ready,
    Failed,
    /// <summary>Shutting down: generations in flight finish, new ones are refused (503 server_draining).</summary>
    Draining,
}

/// <summary>
/// Holds the engine once the background load finishes. Endpoints ask it for the engine and get a 503
/// while the model is still loading; it owns the engine and disposes it when the host shuts down.
/// </summary>
public sealed partial class EngineHost : IDisposable, Floor.IGenerationHost
{
    private readonly Lock _lock = new();
    private IInferenceEngine? _engine;
    private bool _disposed;
    private EngineState _state = EngineState.Loading;

    /// <summary>Draining from the moment shutdown begins, whatever the load had reached; else loading, ready or failed.</summary>
    public EngineState State => IsDraining && _state != EngineState.Failed ? EngineState.Draining : _state;

    public ModelSource? Source { get; private set; }

    string? Floor.IGenerationHost.ModelName => Source?.Name;

    public string? FailureMessage { get; private set; }

    /// <summary>The engine, or null while loading.</summary>
    public IInferenceEngine? Engine => Volatile.Read(ref _engine);

    /// <summary>A stable id of what is served, for <c>system_fingerprint</c>.</summary>
    public string SystemFingerprint { get; private set; } = "";

    /// <exception cref="OpenAiException">503 while loading (or draining before the load finished), 500 when the load failed.</exception>
    public IInferenceEngine GetReadyEngine() => State switch
    {
        EngineState.Ready => _engine!,
        EngineState.Draining when _engine is { } engine => engine,
        EngineState.Draining => throw Draining(1),
        EngineState.Failed => throw new OpenAiException(500, $"The model failed to load: {FailureMessage}", OpenAiErrorTypes.Server, code: "model_load_failed"),
        _ => throw new OpenAiException(503, "The model is still loading; retry shortly.", OpenAiErrorTypes.Unavailable, code: "model_loading") { RetryAfterSeconds = 1 },
    };

    /// <summary>The ready engine, if its model generates text.</summary>
    /// <exception cref="OpenAiException">As <see cref="GetReadyEngine"/>; 400 for an embedding-only model.</exception>
    public IInferenceEngine GetGeneratingEngine()
    {
        var engine = GetReadyEngine();
        if (!engine.Generates)
            throw OpenAiException.Invalid($"The model '{Source?.Name}' ({engine.Model.Architecture}) is an embedding model: it serves /v1/embeddings, not text generation.",
                "model", "model_not_generative");
        return engine;
    }

    /// <summary>The ready engine's embeddings.</summary>
    /// <exception cref="OpenAiException">As <see cref="GetReadyEngine"/>; 400 for a model that computes none.</exception>
    public Engine.Embeddings.IEmbeddingEngine GetEmbeddingEngine() => GetReadyEngine().Embeddings
        ?? throw OpenAiException.Invalid($"The model '{Source?.Name}' computes no embeddings: it declares no pooling_type. " +
            "Serve an embedding model, or give this one a pooling with `serve --pooling mean|cls|last`.", "model", "model_not_embedding");

    /// <summary>Checks a request's <c>model</c>; absent is accepted as the served model (as llama.cpp does).</summary>
    /// <exception cref="OpenAiException">404 model_not_found.</exception>
    public void EnsureModel(string? requested)
    {
        if (requested is null || Source is null || Source.Matches(requested))
            return;
        throw ModelNotFound(requested);
    }

    public static OpenAiException ModelNotFound(string requested) =>
        new(404, $"The model '{requested}' does not exist; this server serves one model (see GET /v1/models).", OpenAiErrorTypes.InvalidRequest, "model", "model_not_found");

    internal void SetSource(ModelSource source) => Source = source;

    internal void SetReady(IInferenceEngine engine)
    {
        lock (_lock)
        {
            if (_disposed)
            {
                DisposeEngine(engine);
                return;
            }
            SystemFingerprint = Fingerprint(engine);
            _engine = engine;
            _state = EngineState.Ready;
        }
    }

    internal void SetFailed(string message)
    {
        FailureMessage = message;
        _state = EngineState.Failed;
    }

    public void Dispose()
    {
        IInferenceEngine? engine;
        lock (_lock)
        {
            _disposed = true;
            engine = _engine;
            _engine = null;
        }
        if (engine != null)
            DisposeEngine(engine);
    }

    private static void DisposeEngine(IInferenceEngine engine)
    {
        var model = engine.Model;
        engine.Dispose();
        model.Dispose();
    }

    private string Fingerprint(IInferenceEngine engine)
    {
        string identity = $"{Source?.Name}|{engine.Model.Architecture}|{engine.ContextLength}|{engine.Tokenizer.VocabSize}|{typeof(EngineHost).Assembly.GetName().Version}";
        var hash = System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(identity));
        return "fp_" + Convert.ToHexStringLower(hash)[..10];
    }
}
