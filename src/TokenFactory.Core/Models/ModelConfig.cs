using TokenFactory.Compute;
using TokenFactory.Gguf;

namespace TokenFactory.Models;

/// <summary>Hyperparameters of a decoder-only transformer, read from <c>{arch}.*</c> GGUF metadata.</summary>
public sealed partial record ModelConfig
{
    public static IReadOnlyList<string> SupportedArchitectures { get; } = ["llama", "qwen2", "qwen3", "qwen3moe", "nemotron_h", "nemotron_h_moe"];

    public required string Architecture { get; init; }
    public required int EmbeddingLength { get; init; }
    public required int BlockCount { get; init; }
    public required int FeedForwardLength { get; init; }
    public required int HeadCount { get; init; }
    public required int KvHeadCount { get; init; }
    public required int HeadSize { get; init; }
    public required int ContextLength { get; init; }
    public required float RmsEpsilon { get; init; }
    public required float RopeFreqBase { get; init; }
    public required int RopeDimensions { get; init; }
    public required RopeStyle RopeStyle { get; init; }
    public float RopeLinearScale { get; init; } = 1f;
    public int VocabSize { get; init; }

    public int QueryDimension => HeadCount * HeadSize;
    public int KvDimension => KvHeadCount * HeadSize;

    public static ModelConfig FromMetadata(GgufMetadata m)
    {
        string arch = m.GetStringOrNull("general.architecture")
            ?? throw new TokenFactoryException($"{m.Source}: metadata 'general.architecture' is missing; this is not a model file (a vocabulary-only GGUF?).");
        if (!SupportedArchitectures.Contains(arch))
            throw new TokenFactoryException($"{m.Source}: unknown architecture '{arch}'. Supported: {string.Join(", ", SupportedArchitectures)}.");
        if (IsHybridArchitecture(arch))
            return FromHybridMetadata(m, arch);

        int Req(string key) => m.GetInt32OrNull($"{arch}.{key}")
            ?? throw new TokenFactoryException($"{m.Source}: required metadata '{arch}.{key}' for architecture '{arch}' is missing.");

        int embd = Req("embedding_length");
        int heads = Req("attention.head_count");
        if (heads <= 0 || embd <= 0)
            throw new TokenFactoryException($"{m.Source}: '{arch}.embedding_length' and '{arch}.attention.head_count' must be positive.");
        int kvHeads = m.GetInt32OrDefault($"{arch}.attention.head_count_kv", heads);
        if (kvHeads <= 0 || heads % kvHeads != 0)
            throw new TokenFactoryException($"{m.Source}: head_count {heads} is not a multiple of head_count_kv {kvHeads}.");
        int headSize = m.GetInt32OrDefault($"{arch}.attention.key_length", embd / heads);
        int ropeDims = m.GetInt32OrDefault($"{arch}.rope.dimension_count", headSize);
        if (!m.ContainsKey($"{arch}.attention.layer_norm_rms_epsilon"))
            throw new TokenFactoryException($"{m.Source}: required metadata '{arch}.attention.layer_norm_rms_epsilon' for architecture '{arch}' is missing.");

        float linearScale = 1f;
        string? scaling = m.GetStringOrNull($"{arch}.rope.scaling.type");
        float factor = m.GetFloatOrDefault($"{arch}.rope.scaling.factor", 0f);
        if (scaling == "linear" && factor > 0)
            linearScale = 1f / factor;
        else if (scaling is not (null or "none" or "linear" or "llama3"))
            throw new TokenFactoryException($"{m.Source}: rope scaling '{scaling}' is not supported (supported: none, linear, llama3).");

        int blocks = Req("block_count");
        int ffn = Req("feed_forward_length");
        int ctx = Req("context_length");
        if (blocks <= 0 || ffn <= 0 || ctx <= 0 || headSize <= 0 || ropeDims <= 0 || ropeDims > headSize || ropeDims % 2 != 0)
            throw new TokenFactoryException($"{m.Source}: inconsistent hyperparameters (blocks {blocks}, ffn {ffn}, context {ctx}, head size {headSize}, rope dims {ropeDims}).");

        MoeConfig? moe = null;
        if (arch == "qwen3moe")
        {
            // Qwen3's MoE: softmax over the router's logits, top-k, the chosen probabilities renormalised; SwiGLU experts, none shared.
            int experts = Req("expert_count"), used = Req("expert_used_count"), expertFfn = Req("expert_feed_forward_length");
            if (used <= 0 || used > experts || expertFfn <= 0)
                throw new TokenFactoryException($"{m.Source}: expert_used_count {used} must be in 1..{experts}, expert_feed_forward_length positive.");
            moe = new MoeConfig(experts, used, expertFfn, 0, NormalizeWeights: true, WeightsScale: 1f, ExpertGating.Softmax);
        }

        return new ModelConfig
        {
            Architecture = arch,
            Moe = moe,
            EmbeddingLength = embd,
            BlockCount = blocks,
            FeedForwardLength = ffn,
            HeadCount = heads,
            KvHeadCount = kvHeads,
            HeadSize = headSize,
            ContextLength = ctx,
            RmsEpsilon = m.GetFloat($"{arch}.attention.layer_norm_rms_epsilon"),
            RopeFreqBase = m.GetFloatOrDefault($"{arch}.rope.freq_base", 10000f),
            RopeDimensions = ropeDims,
            RopeStyle = arch == "llama" ? RopeStyle.Normal : RopeStyle.NeoX,
            RopeLinearScale = linearScale,
            VocabSize = m.GetInt32OrDefault($"{arch}.vocab_size", m.GetArrayOrNull<string>("tokenizer.ggml.tokens")?.Length ?? 0),
        };
    }
}
