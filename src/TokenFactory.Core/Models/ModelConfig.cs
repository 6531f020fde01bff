using TokenFactory.Compute;
using TokenFactory.Gguf;

namespace TokenFactory.Models;

/// <summary>Hyperparameters of a decoder-only transformer, read from <c>{arch}.*</c> GGUF metadata.</summary>
public sealed partial record ModelConfig
{
    public static IReadOnlyList<string> SupportedArchitectures { get; } = ["llama", "qwen2", "qwen3", "qwen3moe", "gpt-oss", "mistral3", "gemma3", "gemma4", "qwen35", "qwen35moe", "nemotron_h", "nemotron_h_moe"];

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
    /// <summary>YaRN scaling (<c>rope.scaling.type = yarn</c>), or null.</summary>
    public Rope.Yarn? RopeYarn { get; init; }
    /// <summary>
    /// Attention temperature (mistral3's <c>attention.temperature_scale</c>): queries are multiplied by
    /// 1 + scale · ln(⌊position / <see cref="AttentionTemperatureFloor"/>⌋ + 1), so far positions attend more sharply. 0: off.
    /// </summary>
    public float AttentionTemperatureScale { get; init; }
    public int AttentionTemperatureFloor { get; init; }

    /// <summary>Sliding-window attention (gemma3): tokens a sliding layer sees, its own included; 0: every layer attends to all.</summary>
    public int SlidingWindow { get; init; }
    /// <summary>Every this-many layers one is global (attends to all), the rest slide: gemma3's 6 (layers 5, 11, … global).</summary>
    public int SlidingPattern { get; init; }
    /// <summary>RoPE base of sliding layers (gemma3: unscaled; gpt-oss: scaled as the global layers, the same base unless the file says).</summary>
    public float RopeFreqBaseSliding { get; init; } = 10000f;
    /// <summary>gpt-oss: attention sinks, biases on every projection, a softmax-after-top-k router and clamped SwiGLU experts.</summary>
    public bool IsGptOss => Architecture == "gpt-oss";
    /// <summary>Gemma: embeddings multiplied by √(embedding length); sandwich norms after attention and feed-forward; GeGLU.</summary>
    public bool IsGemma => Architecture is "gemma3" or "gemma4";
    /// <summary>Logits soft-capped as tanh(l / cap) · cap when positive.</summary>
    public float FinalLogitSoftcap { get; init; }

    /// <summary>Whether layer <paramref name="layer"/> attends within <see cref="SlidingWindow"/> (llama.cpp's pattern: all but every n-th).</summary>
    public bool IsSliding(int layer) =>
        SlidingWindow > 0 && (SlidingLayers != null ? SlidingLayers[layer] : SlidingPattern == 0 || layer % SlidingPattern < SlidingPattern - 1);
    public int VocabSize { get; init; }

    /// <summary>The widest query row of any block (gemma4's global and sliding heads differ in size).</summary>
    public int QueryDimension => HeadCount * Math.Max(HeadSize, HeadSizeSliding);
    /// <summary>The widest key (and value) row of any block: the KV cache's row.</summary>
    public int KvDimension => Math.Max(KvHeadCount * HeadSize, SlidingAttention.KvHeads * SlidingAttention.HeadSize);

    /// <summary>
    /// The families read apart (hybrids, Qwen3.5, Gemma 4) rotate at their own bases only: a file asking for rope scaling
    /// would load and answer wrongly at long context, so it is refused naming the key.
    /// </summary>
    private static void RefuseRopeScaling(GgufMetadata m, string arch)
    {
        string key = $"{arch}.rope.scaling.type";
        if (!m.ContainsKey(key))
            return;
        string? scaling = m.GetStringOrNull(key);
        float factor = m.GetFloatOrDefault($"{arch}.rope.scaling.factor", 1f);
        if (scaling is "none" || (scaling is not null && factor == 1f))
            return;
        throw new TokenFactoryException($"{m.Source}: '{key}' = {(scaling is null ? "(not a string)" : $"'{scaling}' (factor {factor})")}: rope scaling is not implemented for {arch}; re-convert without it.");
    }

    public static ModelConfig FromMetadata(GgufMetadata m)
    {
        var config = Read(m);
        config.CheckSizes(m.Source);
        return config;
    }

    private static ModelConfig Read(GgufMetadata m)
    {
        string arch = m.GetStringOrNull("general.architecture")
            ?? throw new TokenFactoryException($"{m.Source}: metadata 'general.architecture' is missing; this is not a model file (a vocabulary-only GGUF?).");
        if (!SupportedArchitectures.Contains(arch))
            throw new TokenFactoryException($"{m.Source}: unknown architecture '{arch}'. Supported: {string.Join(", ", SupportedArchitectures)}.");
        CheckBlockCount(m, arch);
        if (IsHybridArchitecture(arch) || arch is "qwen35" or "qwen35moe" or "gemma4")
        {
            RefuseRopeScaling(m, arch);
            return IsHybridArchitecture(arch) ? FromHybridMetadata(m, arch) : arch == "gemma4" ? FromGemma4Metadata(m, arch) : FromQwen35Metadata(m, arch);
        }

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
        int originalContext = m.GetInt32OrDefault($"{arch}.rope.scaling.original_context_length", 0);
        Rope.Yarn? yarn = null;
        if (scaling == "linear" && factor > 0)
            linearScale = 1f / factor;
        else if (scaling == "yarn" && factor > 0)
            yarn = ReadYarn(m, arch, factor, originalContext);
        else if (scaling is not (null or "none" or "linear" or "llama3" or "yarn"))
            throw new TokenFactoryException($"{m.Source}: rope scaling '{scaling}' is not supported (supported: none, linear, llama3, yarn).");
        float temperature = m.GetFloatOrDefault($"{arch}.attention.temperature_scale", 0f);
        if (temperature != 0f && originalContext <= 0)
            throw new TokenFactoryException($"{m.Source}: attention.temperature_scale needs rope.scaling.original_context_length (its floor).");

        int blocks = Req("block_count");
        int ffn = Req("feed_forward_length");
        int ctx = Req("context_length");
        if (blocks <= 0 || ffn <= 0 || ctx <= 0 || headSize <= 0 || ropeDims <= 0 || ropeDims > headSize || ropeDims % 2 != 0)
            throw new TokenFactoryException($"{m.Source}: inconsistent hyperparameters (blocks {blocks}, ffn {ffn}, context {ctx}, head size {headSize}, rope dims {ropeDims}).");

        MoeConfig? moe = null;
        if (arch is "qwen3moe" or "gpt-oss")
        {
            // Qwen3's MoE: softmax over the router's logits, top-k, the chosen probabilities renormalised; SwiGLU experts, none shared.
            // gpt-oss: top-k of the (biased) logits, a softmax over just those k; clamped SwiGLU experts with biases.
            int experts = Req("expert_count"), used = Req("expert_used_count"), expertFfn = Req("expert_feed_forward_length");
            if (used <= 0 || used > experts || expertFfn <= 0)
                throw new TokenFactoryException($"{m.Source}: expert_used_count {used} must be in 1..{experts}, expert_feed_forward_length positive.");
            moe = arch == "gpt-oss"
                ? new MoeConfig(experts, used, expertFfn, 0, NormalizeWeights: false, WeightsScale: 1f, ExpertGating.SoftmaxOfTopK, ClampedSwiGlu: true)
                : new MoeConfig(experts, used, expertFfn, 0, NormalizeWeights: true, WeightsScale: 1f, ExpertGating.Softmax);
        }
        if (arch == "gpt-oss" && !m.ContainsKey($"{arch}.attention.sliding_window"))
            throw new TokenFactoryException($"{m.Source}: required metadata '{arch}.attention.sliding_window' for architecture '{arch}' is missing.");
        float ropeBase = m.GetFloatOrDefault($"{arch}.rope.freq_base", 10000f);

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
            RopeFreqBase = ropeBase,
            RopeDimensions = ropeDims,
            RopeStyle = arch is "llama" or "mistral3" ? RopeStyle.Normal : RopeStyle.NeoX,
            SlidingWindow = m.GetInt32OrDefault($"{arch}.attention.sliding_window", 0),
            // llama.cpp's defaults: gemma3 slides five layers in six, gpt-oss every other one (the even layers).
            SlidingPattern = m.GetInt32OrDefault($"{arch}.attention.sliding_window_pattern", arch switch { "gemma3" => 6, "gpt-oss" => 2, _ => 0 }),
            RopeFreqBaseSliding = m.GetFloatOrDefault($"{arch}.rope.freq_base_swa", arch == "gpt-oss" ? ropeBase : 10000f),
            FinalLogitSoftcap = m.GetFloatOrDefault($"{arch}.final_logit_softcapping", 0f),
            RopeLinearScale = linearScale,
            RopeYarn = yarn,
            AttentionTemperatureScale = temperature,
            AttentionTemperatureFloor = originalContext,
            VocabSize = m.GetInt32OrDefault($"{arch}.vocab_size", m.GetArrayOrNull<string>("tokenizer.ggml.tokens")?.Length ?? 0),
        };
    }

    /// <summary>
    /// YaRN's parameters, and its magnitude factor as llama.cpp settles it: mscale(factor, 1) / mscale(factor, log_mul)
    /// (or mscale(factor, 1) without a log multiplier), divided by 1 + 0.1·ln(factor) (the rotation multiplies that back),
    /// times <c>rope.scaling.attn_factor</c>; in float, in that order, so the angles' magnitudes match bit for bit.
    /// </summary>
    private static Rope.Yarn ReadYarn(GgufMetadata m, string arch, float factor, int originalContext)
    {
        if (originalContext <= 0)
            throw new TokenFactoryException($"{m.Source}: yarn rope scaling needs '{arch}.rope.scaling.original_context_length'.");
        static float MScale(float scale, float mscale) => scale <= 1.0f ? 1.0f : 0.1f * mscale * MathF.Log(scale) + 1.0f;
        float logMul = m.GetFloatOrDefault($"{arch}.rope.scaling.yarn_log_multiplier", 0f);
        float attention = logMul != 0f ? MScale(factor, 1.0f) / MScale(factor, logMul) : MScale(factor, 1.0f);
        attention *= 1.0f / (1.0f + 0.1f * MathF.Log(factor));
        attention *= m.GetFloatOrDefault($"{arch}.rope.scaling.attn_factor", 1f);
        return new Rope.Yarn(factor, originalContext, m.GetFloatOrDefault($"{arch}.rope.scaling.yarn_beta_fast", 32f),
            m.GetFloatOrDefault($"{arch}.rope.scaling.yarn_beta_slow", 1f), attention);
    }
}
