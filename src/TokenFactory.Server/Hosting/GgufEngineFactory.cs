using Microsoft.Extensions.Options;
using TokenFactory.Engine;
using TokenFactory.Floor;
using TokenFactory.Engine.Batching;
using TokenFactory.Engine.Embeddings;
using TokenFactory.Gguf;
using TokenFactory.Models;
using TokenFactory.Models.Bert;

namespace TokenFactory.Server.Hosting;

/// <summary>Loads the GGUF file and serves it with the batching engine.</summary>
internal sealed class GgufEngineFactory(IOptions<ServerOptions> options, FloorService floor) : IEngineFactory
{
    public IInferenceEngine Create(ModelSource source)
    {
        var o = options.Value;
        var pooling = string.IsNullOrWhiteSpace(o.Pooling) ? (PoolingType?)null : PoolingTypes.Parse(o.Pooling);
        string? architecture;
        using (var probe = GgufFile.Open(source.Path)) // a mapping and the header: cheap, and the model loads its own
            architecture = probe.Architecture;
        if (architecture == BertConfig.Architecture)
            return Encoder(source, o, pooling);
        var model = TransformerModel.Load(source.Path);
        try
        {
            var engineOptions = new EngineOptions
            {
                ContextLength = o.ContextLength,
                Threads = o.Threads,
                MaxWaitingRequests = o.MaxWaitingRequests,
                KvCacheMemory = string.IsNullOrWhiteSpace(o.KvCacheMemory) ? 0 : ByteSize.Parse(o.KvCacheMemory),
                RecurrentSnapshotMemory = string.IsNullOrWhiteSpace(o.StateCacheMemory) ? EngineOptions.DefaultRecurrentSnapshotMemory : ByteSize.Parse(o.StateCacheMemory),
                MaxBatchTokens = o.MaxBatchTokens,
                MaxRunningSequences = o.MaxRunningSequences,
                BurstGather = o.BurstGatherMs switch
                {
                    null => null,
                    >= 0 and <= 60_000 and var ms => TimeSpan.FromMilliseconds(ms),
                    var ms => throw new TokenFactoryException($"TokenFactory:BurstGatherMs is {ms}: it must be from 0 to 60000 milliseconds (or absent for the default)."),
                },
                PrefixCaching = o.PrefixCaching,
                SlidingWindowCache = o.SlidingWindowCache,
                EnergyMeter = floor.EnergyMeter,
                ChatTemplateSource = string.IsNullOrWhiteSpace(o.ChatTemplateFile) ? null : File.ReadAllText(o.ChatTemplateFile),
                Pooling = pooling,
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

    /// <summary>A BERT encoder: embeddings only, batched up to the context (or more, with --max-batch-tokens).</summary>
    private IInferenceEngine Encoder(ModelSource source, ServerOptions o, PoolingType? pooling)
    {
        var model = BertModel.Load(source.Path, pooling);
        try
        {
            return new EncoderEngine(model, o.Threads, o.MaxBatchTokens, Math.Max(1, o.MaxWaitingRequests) * 64, floor.EnergyMeter);
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }
}
