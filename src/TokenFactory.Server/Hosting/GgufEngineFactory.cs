using Microsoft.Extensions.Options;
using TokenFactory.Engine;
using TokenFactory.Models;

namespace TokenFactory.Server.Hosting;

/// <summary>Loads the GGUF file and serves it with the project's engine.</summary>
internal sealed class GgufEngineFactory(IOptions<ServerOptions> options) : IEngineFactory
{
    public IInferenceEngine Create(ModelSource source)
    {
        var o = options.Value;
        var model = TransformerModel.Load(source.Path);
        try
        {
            return new SerialEngine(model, new EngineOptions
            {
                ContextLength = o.ContextLength,
                Threads = o.Threads,
                MaxWaitingRequests = o.MaxWaitingRequests,
                RetryAfter = TimeSpan.FromSeconds(Math.Max(1, o.RetryAfterSeconds)),
            });
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }
}
