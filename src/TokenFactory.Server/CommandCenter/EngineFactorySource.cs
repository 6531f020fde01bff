using TokenFactory.Models;
using TokenFactory.Server.Hosting;

namespace TokenFactory.Server.CommandCenter;

/// <summary>A single server's factory: its one engine, shown as the replica "local".</summary>
internal sealed class EngineFactorySource(EngineHost host) : IFactorySource
{
    private FactoryModel? _model; // read from the file once: the model does not change while it is served

    public string Mode => "serve";

    public int Queued => 0;

    public IReadOnlyList<FactoryReplica> Replicas()
    {
        var state = host.State;
        var engine = host.Engine;
        var status = engine?.Status ?? default;
        var load = engine?.Load ?? default;
        return
        [
            new FactoryReplica
            {
                Id = FactoryReplicaIds.Local,
                Name = FactoryReplicaIds.Local,
                Healthy = state == EngineState.Ready,
                State = state.ToString().ToLowerInvariant(),
                Models = host.Source is { } source ? [source.Name] : [],
                Running = load.Running,
                Waiting = load.Waiting,
                KvUsedTokens = load.KvCacheUsedTokens,
                KvCapacityTokens = load.KvCacheCapacityTokens,
                KvBytesPerToken = status.KvBytesPerToken,
                StateBytesPerSequence = status.StateBytesPerSequence,
                Counters = engine?.Counters,
            },
        ];
    }

    public IReadOnlyList<FactoryModel> Models()
    {
        if (_model is { } known)
            return [known];
        if (host.Engine is not { } engine || host.Source is not { } source)
            return [];
        var status = engine.Status;
        return [_model = Describe(engine.Model, source.Name, engine.ContextLength) with
        {
            KvBytesPerToken = status.KvBytesPerToken,
            RecurrentStateBytes = status.StateBytesPerSequence,
        }];
    }

    /// <summary>A model's shape from its file: parameters and weight bytes summed over tensors, the quantization the most bytes use.</summary>
    internal static FactoryModel Describe(IModelFile model, string id, int contextLength)
    {
        long parameters = 0, bytes = 0;
        var bytesByType = new Dictionary<Gguf.GgmlType, long>();
        foreach (var tensor in model.File.Tensors)
        {
            parameters += tensor.ElementCount;
            bytes += tensor.ByteSize;
            if (tensor.Dimensions.Length >= 2)
                bytesByType[tensor.Type] = bytesByType.GetValueOrDefault(tensor.Type) + tensor.ByteSize;
        }
        return new FactoryModel
        {
            Id = id,
            Replica = FactoryReplicaIds.Local,
            Architecture = model.Architecture,
            Quantization = bytesByType.Count == 0 ? null : bytesByType.MaxBy(kv => kv.Value).Key.ToString(),
            Parameters = parameters,
            ContextLength = contextLength,
            WeightsBytes = bytes,
        };
    }
}
