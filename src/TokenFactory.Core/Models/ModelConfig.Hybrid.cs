using TokenFactory.Compute;
using TokenFactory.Gguf;

namespace TokenFactory.Models;

/// <summary>What one block of a model does between its input norm and its residual add.</summary>
public enum LayerKind
{
    /// <summary>A llama-family block: attention then a SwiGLU feed-forward, each with its own norm.</summary>
    Transformer,
    /// <summary>Attention only (hybrid models).</summary>
    Attention,
    /// <summary>A Mamba-2 state-space mixer (hybrid models).</summary>
    Mamba,
    /// <summary>A feed-forward block only: squared-ReLU MLP, or mixture of experts when the model has experts.</summary>
    FeedForward,
    /// <summary>A gated DeltaNet linear-attention mixer, then the block's feed-forward, each with its own norm (qwen35).</summary>
    DeltaNet,
}

/// <summary>
/// Recurrent-mixer hyperparameters (<c>{arch}.ssm.*</c>). Mamba-2: heads of HeadDim channels sharing B and C within a group.
/// Gated DeltaNet (qwen35): HeadCount value heads and GroupCount key heads, both StateSize wide, so HeadDim = StateSize; the
/// convolution runs over queries, keys and values (ConvChannels), and a head's state is HeadDim × StateSize as Mamba's.
/// </summary>
public sealed record SsmConfig(int ConvKernel, int InnerSize, int StateSize, int HeadCount, int GroupCount)
{
    public int HeadDim => InnerSize / HeadCount;
    /// <summary>Channels that go through the causal convolution: x, B and C.</summary>
    public int ConvChannels => InnerSize + 2 * GroupCount * StateSize;
    /// <summary>Width of the input projection: z, xBC and dt.</summary>
    public int InProjection => 2 * InnerSize + 2 * GroupCount * StateSize + HeadCount;
    /// <summary>Floats of one sequence's rolling convolution state in one layer (the last kernel-1 inputs).</summary>
    public int ConvStateLength => (ConvKernel - 1) * ConvChannels;
    /// <summary>Floats of one sequence's SSM state in one layer: per head, head-dim × state-size.</summary>
    public int SsmStateLength => HeadCount * HeadDim * StateSize;
}

public enum ExpertGating
{
    /// <summary>Probabilities are the softmax over all experts' logits; top-k of them.</summary>
    Softmax = 1,
    /// <summary>Probabilities are each logit's sigmoid; top-k of them.</summary>
    Sigmoid = 2,
    /// <summary>Top-k of the raw logits; the weights are the softmax over just those k (gpt-oss).</summary>
    SoftmaxOfTopK = 3,
}

/// <summary>Mixture-of-experts hyperparameters (<c>{arch}.expert_*</c>).</summary>
/// <param name="ClampedSwiGlu">
/// gpt-oss's expert activation: g = min(gate, 7), u = clamp(up, −7, 7), g·σ(1.702·g)·(u + 1), instead of SiLU(gate)·up.
/// </param>
/// <param name="GeluExperts">gemma4's experts: GELU(gate)·up (ggml's tabulated GELU) instead of SiLU(gate)·up.</param>
public sealed record MoeConfig(int ExpertCount, int UsedCount, int ExpertFeedForwardLength, int SharedFeedForwardLength,
    bool NormalizeWeights, float WeightsScale, ExpertGating Gating, bool ClampedSwiGlu = false, bool GeluExperts = false);

public sealed partial record ModelConfig
{
    /// <summary>Per block; all <see cref="LayerKind.Transformer"/> for llama-family models.</summary>
    public IReadOnlyList<LayerKind>? LayerKindsOverride { get; init; }
    public SsmConfig? Ssm { get; init; }
    public MoeConfig? Moe { get; init; }
    public bool UsesRope { get; init; } = true;

    public LayerKind KindOf(int layer) => LayerKindsOverride?[layer] ?? LayerKind.Transformer;

    /// <summary>Whether any block keeps per-sequence recurrent state (Mamba-2 or DeltaNet), in <see cref="RecurrentState"/> slots.</summary>
    public bool HasRecurrentState => Ssm != null && RecurrentLayerCount > 0;

    /// <summary>Blocks with attention, i.e. the layers of the KV cache.</summary>
    public int CacheLayerCount => LayerKindsOverride == null ? BlockCount - SharedKvLayers : LayerKindsOverride.Count(k => k is LayerKind.Transformer or LayerKind.Attention);

    /// <summary>Blocks with a recurrent mixer (Mamba-2 or DeltaNet), i.e. the layers of <see cref="RecurrentState"/>.</summary>
    public int RecurrentLayerCount => LayerKindsOverride?.Count(k => k is LayerKind.Mamba or LayerKind.DeltaNet) ?? 0;

    /// <summary>Nemotron-H's block structure: every block one mixer (attention, Mamba-2, MLP or experts) between a norm and a residual add.</summary>
    public bool IsNemotronH => IsHybridArchitecture(Architecture);

    public static bool IsHybridArchitecture(string arch) => arch is "nemotron_h" or "nemotron_h_moe";

    /// <summary>
    /// Nemotron-H: per-block arrays say what each block is: attention where head_count_kv[i] &gt; 0,
    /// feed-forward where feed_forward_length[i] &gt; 0, Mamba-2 where both are 0 (as llama.cpp reads them).
    /// </summary>
    private static ModelConfig FromHybridMetadata(GgufMetadata m, string arch)
    {
        string Key(string k) => $"{arch}.{k}";
        int Req(string key) => m.GetInt32OrNull(Key(key))
            ?? throw new TokenFactoryException($"{m.Source}: required metadata '{Key(key)}' for architecture '{arch}' is missing.");
        int blocks = Req("block_count");
        int embd = Req("embedding_length");
        int ctx = Req("context_length");
        if (blocks <= 0 || embd <= 0 || ctx <= 0)
            throw new TokenFactoryException($"{m.Source}: block_count, embedding_length and context_length must be positive.");

        int[] PerLayer(string key, bool required)
        {
            if (!m.ContainsKey(Key(key)))
            {
                if (required)
                    throw new TokenFactoryException($"{m.Source}: required metadata '{Key(key)}' for architecture '{arch}' is missing.");
                return new int[blocks];
            }
            if (m[Key(key)].Type == GgufValueType.Array)
            {
                var values = m.GetArray<int>(Key(key));
                if (values.Length != blocks)
                    throw new TokenFactoryException($"{m.Source}: '{Key(key)}' has {values.Length} entries for {blocks} blocks.");
                return values;
            }
            return Enumerable.Repeat(m.GetInt32(Key(key)), blocks).ToArray();
        }

        var kvHeads = PerLayer("attention.head_count_kv", required: true);
        var ffn = PerLayer("feed_forward_length", required: true);
        var heads = PerLayer("attention.head_count", required: true);
        // Multi-token-prediction (draft) blocks are counted in block_count after the main stack, as llama.cpp
        // counts them; generation uses the main stack only, so they are left unread.
        int draftBlocks = m.GetInt32OrDefault(Key("nextn_predict_layers"), 0);
        if (draftBlocks < 0 || draftBlocks >= blocks)
            throw new TokenFactoryException($"{m.Source}: '{Key("nextn_predict_layers")}' = {draftBlocks} must be in 0..{blocks - 1}.");
        blocks -= draftBlocks;
        if (m.GetInt32OrDefault(Key("moe_latent_size"), 0) > 0)
            throw new TokenFactoryException($"{m.Source}: latent mixture-of-experts ('{Key("moe_latent_size")}', Nemotron 3 Super) is not supported yet.");
        var kinds = new LayerKind[blocks];
        for (int i = 0; i < blocks; i++)
        {
            if (kvHeads[i] < 0 || ffn[i] < 0)
                throw new TokenFactoryException($"{m.Source}: block {i} has a negative head_count_kv or feed_forward_length.");
            kinds[i] = kvHeads[i] == 0 && ffn[i] == 0 ? LayerKind.Mamba : ffn[i] == 0 ? LayerKind.Attention : LayerKind.FeedForward;
            if (kvHeads[i] > 0 && ffn[i] > 0)
                throw new TokenFactoryException($"{m.Source}: block {i} declares both attention and a feed-forward length; a Nemotron-H block is one or the other.");
        }

        // Attention geometry: the same for every attention block (the KV cache has one row width).
        int headCount = heads.FirstOrDefault(h => h > 0);
        var kvDistinct = kinds.Select((k, i) => (k, i)).Where(p => p.k == LayerKind.Attention).Select(p => kvHeads[p.i]).Distinct().ToArray();
        var headsDistinct = kinds.Select((k, i) => (k, i)).Where(p => p.k == LayerKind.Attention).Select(p => heads[p.i]).Distinct().ToArray();
        if (kvDistinct.Length > 1 || headsDistinct.Length > 1)
            throw new TokenFactoryException($"{m.Source}: attention blocks with different head counts are not supported.");
        if (headsDistinct.Length == 1)
            headCount = headsDistinct[0];
        int kvHeadCount = kvDistinct.Length == 1 ? kvDistinct[0] : Math.Max(1, headCount);
        if (headCount <= 0 || headCount % kvHeadCount != 0)
            throw new TokenFactoryException($"{m.Source}: head_count {headCount} is not a positive multiple of head_count_kv {kvHeadCount}.");
        int headSize = m.GetInt32OrDefault(Key("attention.key_length"), embd / headCount);
        if (m.GetInt32OrDefault(Key("attention.value_length"), headSize) != headSize || headSize <= 0)
            throw new TokenFactoryException($"{m.Source}: attention key and value lengths must be equal and positive.");
        if (!m.ContainsKey(Key("attention.layer_norm_rms_epsilon")))
            throw new TokenFactoryException($"{m.Source}: required metadata '{Key("attention.layer_norm_rms_epsilon")}' for architecture '{arch}' is missing.");

        var ssm = new SsmConfig(Req("ssm.conv_kernel"), Req("ssm.inner_size"), Req("ssm.state_size"), Req("ssm.time_step_rank"), Req("ssm.group_count"));
        if (ssm.ConvKernel < 1 || ssm.InnerSize <= 0 || ssm.StateSize <= 0 || ssm.HeadCount <= 0 || ssm.GroupCount <= 0
            || ssm.InnerSize % ssm.HeadCount != 0 || ssm.HeadCount % ssm.GroupCount != 0 || ssm.InnerSize % ssm.GroupCount != 0)
            throw new TokenFactoryException($"{m.Source}: inconsistent ssm.* hyperparameters ({ssm}).");

        MoeConfig? moe = null;
        int experts = m.GetInt32OrDefault(Key("expert_count"), 0);
        if (experts > 0)
        {
            int used = Req("expert_used_count");
            int expertFfn = m.GetInt32OrDefault(Key("expert_feed_forward_length"), 0);
            if (expertFfn == 0)
                expertFfn = ffn.Max() / Math.Max(1, used);
            int gating = m.GetInt32OrDefault(Key("expert_gating_func"), (int)ExpertGating.Sigmoid);
            if (gating is not ((int)ExpertGating.Softmax or (int)ExpertGating.Sigmoid))
                throw new TokenFactoryException($"{m.Source}: expert_gating_func {gating} is not supported (1 softmax, 2 sigmoid).");
            if (used <= 0 || used > experts || expertFfn <= 0)
                throw new TokenFactoryException($"{m.Source}: expert_used_count {used} must be in 1..{experts}, expert FFN length positive.");
            moe = new MoeConfig(experts, used, expertFfn, m.GetInt32OrDefault(Key("expert_shared_feed_forward_length"), 0),
                m.GetBoolOrDefault(Key("expert_weights_norm"), false), m.GetFloatOrDefault(Key("expert_weights_scale"), 1f), (ExpertGating)gating);
        }

        return new ModelConfig
        {
            Architecture = arch,
            EmbeddingLength = embd,
            BlockCount = blocks,
            FeedForwardLength = Math.Max(1, ffn.Max()),
            HeadCount = headCount,
            KvHeadCount = kvHeadCount,
            HeadSize = headSize,
            ContextLength = ctx,
            RmsEpsilon = m.GetFloat(Key("attention.layer_norm_rms_epsilon")),
            RopeFreqBase = 10000f,
            RopeDimensions = headSize - headSize % 2,
            RopeStyle = RopeStyle.NeoX,
            UsesRope = false,
            VocabSize = m.GetInt32OrDefault(Key("vocab_size"), m.GetArrayOrNull<string>("tokenizer.ggml.tokens")?.Length ?? 0),
            LayerKindsOverride = kinds,
            Ssm = ssm,
            Moe = moe,
        };
    }
}
