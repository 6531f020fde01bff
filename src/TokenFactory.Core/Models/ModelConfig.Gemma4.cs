using TokenFactory.Gguf;

namespace TokenFactory.Models;

/// <summary>One block's attention shape: query and key/value heads, their size, and how many of a head's dimensions rotate.</summary>
public readonly record struct AttentionGeometry(int Heads, int KvHeads, int HeadSize, int RopeDimensions)
{
    public int QueryDimension => Heads * HeadSize;
    public int KvDimension => KvHeads * HeadSize;
}

public sealed partial record ModelConfig
{
    /// <summary>Sliding layers' head size when it differs from global layers' (gemma4: 256 against 512); 0: the same.</summary>
    public int HeadSizeSliding { get; init; }
    /// <summary>Sliding layers' key/value heads when they differ (gemma4); 0: the same.</summary>
    public int KvHeadCountSliding { get; init; }
    /// <summary>Sliding layers' rotated dimensions when they differ (gemma4); 0: the same.</summary>
    public int RopeDimensionsSliding { get; init; }
    /// <summary>Per block, whether it slides (gemma4's <c>attention.sliding_window_pattern</c> array); null: <see cref="SlidingPattern"/>.</summary>
    public IReadOnlyList<bool>? SlidingLayers { get; init; }
    /// <summary>
    /// The last this-many blocks keep no keys and values of their own (gemma4's <c>attention.shared_kv_layers</c>): they attend
    /// over the cache of the last earlier block of their kind (<see cref="KvSourceBlock"/>).
    /// </summary>
    public int SharedKvLayers { get; init; }
    /// <summary>Width of each block's per-layer token embedding (gemma4's <c>embedding_length_per_layer_input</c>); 0: none.</summary>
    public int PerLayerEmbeddingLength { get; init; }
    /// <summary>Per block, its feed-forward width when blocks differ (gemma4); null: <see cref="FeedForwardLength"/> everywhere.</summary>
    public IReadOnlyList<int>? FeedForwardLengths { get; init; }

    public int FeedForwardLengthOf(int layer) => FeedForwardLengths?[layer] ?? FeedForwardLength;

    /// <summary>Attention logits' scale; 0: 1/√head-size. gemma4: 1 (its queries and keys are RMS-normalised).</summary>
    public float AttentionScale { get; init; }
    /// <summary>gemma4: values are RMS-normalised per head (no weight); global blocks without a value projection use their keys.</summary>
    public bool IsGemma4 => Architecture == "gemma4";

    /// <summary>The attention shape of block <paramref name="layer"/>.</summary>
    public AttentionGeometry AttentionOf(int layer) => IsSliding(layer) ? SlidingAttention : new(HeadCount, KvHeadCount, HeadSize, RopeDimensions);

    private AttentionGeometry SlidingAttention => new(HeadCount, KvHeadCountSliding > 0 ? KvHeadCountSliding : KvHeadCount,
        HeadSizeSliding > 0 ? HeadSizeSliding : HeadSize, RopeDimensionsSliding > 0 ? RopeDimensionsSliding : RopeDimensions);

    /// <summary>The block whose cached keys and values block <paramref name="layer"/> attends over: itself, or for gemma4's shared blocks the last earlier block of its kind.</summary>
    public int KvSourceBlock(int layer)
    {
        int own = BlockCount - SharedKvLayers;
        return layer < own ? layer : own - (IsSliding(layer) ? 2 : 1);
    }

    /// <summary>
    /// Gemma 4 (E2B, E4B, 31B): sliding and global blocks of their own head sizes, key/value heads, rotated dimensions and RoPE
    /// bases (global blocks scale their frequencies by <c>rope_freqs</c>), per-block sliding flags, the last
    /// <c>attention.shared_kv_layers</c> blocks reading earlier blocks' caches, per-layer token embeddings, attention scale 1,
    /// value normalisation, and Gemma's √d embeddings, sandwich norms, GeGLU and final-logit soft-capping.
    /// </summary>
    private static ModelConfig FromGemma4Metadata(GgufMetadata m, string arch)
    {
        string Key(string k) => $"{arch}.{k}";
        int Req(string key) => m.GetInt32OrNull(Key(key))
            ?? throw new TokenFactoryException($"{m.Source}: required metadata '{Key(key)}' for architecture '{arch}' is missing.");
        int blocks = Req("block_count"), embd = Req("embedding_length"), ctx = Req("context_length"), window = Req("attention.sliding_window");
        if (blocks <= 0 || embd <= 0 || ctx <= 0 || window <= 0)
            throw new TokenFactoryException($"{m.Source}: block_count, embedding_length, context_length and attention.sliding_window must be positive.");
        MoeConfig? moe = null;
        int experts = m.GetInt32OrDefault(Key("expert_count"), 0);
        if (experts > 0)
        {
            // 26B-A4B: experts beside each block's dense MLP; softmax over all, top-k renormalised, GeGLU experts.
            int used = Req("expert_used_count"), expertFfn = Req("expert_feed_forward_length");
            if (used <= 0 || used > experts || expertFfn <= 0)
                throw new TokenFactoryException($"{m.Source}: expert_used_count {used} must be in 1..{experts}, expert_feed_forward_length positive.");
            moe = new MoeConfig(experts, used, expertFfn, 0, NormalizeWeights: true, WeightsScale: 1f, ExpertGating.Softmax, GeluExperts: true);
        }
        if (!m.ContainsKey(Key("attention.layer_norm_rms_epsilon")))
            throw new TokenFactoryException($"{m.Source}: required metadata '{Key("attention.layer_norm_rms_epsilon")}' for architecture '{arch}' is missing.");

        int[] PerBlock(string key)
        {
            if (!m.ContainsKey(Key(key)))
                throw new TokenFactoryException($"{m.Source}: required metadata '{Key(key)}' for architecture '{arch}' is missing.");
            if (m[Key(key)].Type != GgufValueType.Array)
                return Enumerable.Repeat(m.GetInt32(Key(key)), blocks).ToArray();
            var values = m.GetArray<int>(Key(key));
            if (values.Length != blocks)
                throw new TokenFactoryException($"{m.Source}: '{Key(key)}' has {values.Length} entries for {blocks} blocks.");
            return values;
        }
        var sliding = PerBlock("attention.sliding_window_pattern").Select(x => x != 0).ToArray();
        var heads = PerBlock("attention.head_count");
        var kvHeads = PerBlock("attention.head_count_kv");
        var ffn = PerBlock("feed_forward_length");
        if (heads.Distinct().Count() != 1 || ffn.Any(f => f <= 0))
            throw new TokenFactoryException($"{m.Source}: blocks with different head counts, or without a feed-forward, are not supported.");
        int Uniform(bool slidingKind)
        {
            var kinds = kvHeads.Where((_, i) => sliding[i] == slidingKind).Distinct().ToArray();
            if (kinds.Length > 1)
                throw new TokenFactoryException($"{m.Source}: {(slidingKind ? "sliding" : "global")} blocks with different head_count_kv are not supported.");
            return kinds.Length == 1 ? kinds[0] : 0;
        }
        int kvGlobal = Uniform(false), kvSliding = Uniform(true);
        int headCount = heads[0];
        int headSize = m.GetInt32OrDefault(Key("attention.key_length"), headCount > 0 ? embd / headCount : 0); // 0: refused below
        int headSizeSliding = m.GetInt32OrDefault(Key("attention.key_length_swa"), headSize);
        if (m.GetInt32OrDefault(Key("attention.value_length"), headSize) != headSize
            || m.GetInt32OrDefault(Key("attention.value_length_swa"), headSizeSliding) != headSizeSliding)
            throw new TokenFactoryException($"{m.Source}: gemma4 needs key and value lengths equal (global and sliding).");
        int ropeDims = m.GetInt32OrDefault(Key("rope.dimension_count"), headSize);
        int ropeDimsSliding = m.GetInt32OrDefault(Key("rope.dimension_count_swa"), ropeDims);
        if (kvGlobal == 0)
            kvGlobal = kvSliding;
        if (kvSliding == 0)
            kvSliding = kvGlobal;
        if (headCount <= 0 || kvGlobal <= 0 || headCount % kvGlobal != 0 || headCount % kvSliding != 0 || headSize <= 0 || headSizeSliding <= 0
            || ropeDims <= 0 || ropeDims > headSize || ropeDims % 2 != 0 || ropeDimsSliding <= 0 || ropeDimsSliding > headSizeSliding || ropeDimsSliding % 2 != 0)
            throw new TokenFactoryException($"{m.Source}: inconsistent attention hyperparameters (heads {headCount}, KV heads {kvGlobal}/{kvSliding}, head sizes {headSize}/{headSizeSliding}, rotated {ropeDims}/{ropeDimsSliding}).");

        int shared = m.GetInt32OrDefault(Key("attention.shared_kv_layers"), 0);
        if (shared < 0 || shared > blocks - 2)
            throw new TokenFactoryException($"{m.Source}: attention.shared_kv_layers = {shared} must be in 0..{blocks - 2}.");
        // llama.cpp's rule: shared sliding blocks read the second-last block with a cache, shared global ones the last; those must be of that kind.
        if (shared > 0 && (!sliding[blocks - shared - 2] || sliding[blocks - shared - 1]))
            throw new TokenFactoryException($"{m.Source}: with {shared} shared-KV blocks, block {blocks - shared - 2} must slide and block {blocks - shared - 1} be global.");

        return new ModelConfig
        {
            Architecture = arch,
            EmbeddingLength = embd,
            BlockCount = blocks,
            FeedForwardLength = ffn.Max(),
            FeedForwardLengths = ffn.Distinct().Count() > 1 ? ffn : null,
            HeadCount = headCount,
            KvHeadCount = kvGlobal,
            HeadSize = headSize,
            HeadSizeSliding = headSizeSliding,
            KvHeadCountSliding = kvSliding,
            RopeDimensions = ropeDims,
            RopeDimensionsSliding = ropeDimsSliding,
            ContextLength = ctx,
            RmsEpsilon = m.GetFloat(Key("attention.layer_norm_rms_epsilon")),
            RopeFreqBase = m.GetFloatOrDefault(Key("rope.freq_base"), 10000f),
            RopeFreqBaseSliding = m.GetFloatOrDefault(Key("rope.freq_base_swa"), 10000f),
            RopeStyle = Compute.RopeStyle.NeoX,
            SlidingWindow = window,
            SlidingLayers = sliding,
            SharedKvLayers = shared,
            PerLayerEmbeddingLength = m.GetInt32OrDefault(Key("embedding_length_per_layer_input"), 0),
            AttentionScale = 1f,
            Moe = moe,
            FinalLogitSoftcap = m.GetFloatOrDefault(Key("final_logit_softcapping"), 0f),
            VocabSize = m.GetInt32OrDefault(Key("vocab_size"), m.GetArrayOrNull<string>("tokenizer.ggml.tokens")?.Length ?? 0),
        };
    }
}
