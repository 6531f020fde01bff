using Microsoft.Extensions.Options;
using TokenFactory.Engine;
using TokenFactory.Floor;
using TokenFactory.Engine.Batching;
using TokenFactory.Models;

namespace TokenFactory.Server.Hosting;

/// <summary>Loads the GGUF file and serves it with the batching engine.</summary>
internal sealed class GgufEngineFactory(IOptions<ServerOptions> options, FloorService floor) : IEngineFactory
{
    public IInferenceEngine Create(ModelSource source)
    {
        var o = options.Value;
        var model = TransformerModel.Load(source.Path);
        try
        {
            var engineOptions = new EngineOptions
            {
                ContextLength = o.ContextLength,
                Threads = o.Threads,
                MaxWaitingRequests = o.MaxWaitingRequests,
                KvCacheMemory = string.IsNullOrWhiteSpace(o.KvCacheMemory) ? 0 : ByteSize.Parse(o.KvCacheMemory),
                MaxBatchTokens = o.MaxBatchTokens,
                MaxRunningSequences = o.MaxRunningSequences,
                PrefixCaching = o.PrefixCaching,
                EnergyMeter = floor.EnergyMeter,
                ChatTemplateSource = string.IsNullOrWhiteSpace(o.ChatTemplateFile) ? null : File.ReadAllText(o.ChatTemplateFile),
            };
            var engine = new BatchingEngine(model, engineOptions);
            // Structured output's token masker sorts the vocabulary once (tens of ms for 150k tokens): build it now, off the
            // engine thread, so the first constrained request does not stall every running sequence.
            _ = Task.Run(() => Constraints.TokenMasker.For(engine.Tokenizer));
            return engine;
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }
}
