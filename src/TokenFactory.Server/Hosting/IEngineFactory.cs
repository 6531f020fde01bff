using TokenFactory.Engine;

namespace TokenFactory.Server.Hosting;

/// <summary>
/// Builds the engine for a model. The server owns what it returns and disposes the engine and its
/// <see cref="IInferenceEngine.Model"/> at shutdown. Tests replace it to inject an engine.
/// </summary>
public interface IEngineFactory
{
    IInferenceEngine Create(ModelSource source);
}
