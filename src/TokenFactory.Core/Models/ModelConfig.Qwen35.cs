using TokenFactory.Compute;
using TokenFactory.Gguf;

namespace TokenFactory.Models;

public sealed partial record ModelConfig
{
    /// <summary>
    /// Qwen3.5: three gated DeltaNet blocks to one gated-attention block, each followed by a SwiGLU feed-forward (qwen35) or a
    /// mixture of experts with a gated shared expert (qwen35moe). Attention queries carry a per-head output gate
    /// (sigmoid(gate) · attention) and rotate only their first <c>rope.dimension_count</c> dimensions.
    /// </summary>
    public bool IsQwen35 => Architecture is "qwen35" or "qwen35moe";

    /// <summary>Whether attention blocks' query projection also yields a sigmoid gate on the attention output, per head (qwen35).</summary>
    public bool AttentionOutputGate => IsQwen35;

    /// <summary>
    /// Reads <c>qwen35.*</c>/<c>qwen35moe.*</c> as llama.cpp does: the DeltaNet geometry in <c>ssm.*</c> (state_size = key and value
    /// head size, group_count = key heads, time_step_rank = value heads, inner_size = value heads × head size), the recurrent blocks
    /// from <c>attention.recurrent_layers</c> or else every block but each <c>full_attention_interval</c>-th (default 4), and the
    /// multi-token-prediction blocks counted in block_count (<c>nextn_predict_layers</c>) left unread.
    /// </summary>
    private static ModelConfig FromQwen35Metadata(GgufMetadata m, string arch)
    {
        string Key(string k) => $"{arch}.{k}";
        int Req(string key) => m.GetInt32OrNull(Key(key))
            ?? throw new TokenFactoryException($"{m.Source}: required metadata '{Key(key)}' for architecture '{arch}' is missing.");
        int allBlocks = Req("block_count"), embd = Req("embedding_length"), ctx = Req("context_length"), heads = Req("attention.head_count");
        int kvHeads = m.GetInt32OrDefault(Key("attention.head_count_kv"), heads);
        if (allBlocks <= 0 || embd <= 0 || ctx <= 0 || heads <= 0 || kvHeads <= 0 || heads % kvHeads != 0)
            throw new TokenFactoryException($"{m.Source}: inconsistent hyperparameters (blocks {allBlocks}, width {embd}, context {ctx}, heads {heads}/{kvHeads}).");
        int headSize = m.GetInt32OrDefault(Key("attention.key_length"), embd / heads);
        if (m.GetInt32OrDefault(Key("attention.value_length"), headSize) != headSize || headSize <= 0)
            throw new TokenFactoryException($"{m.Source}: attention key and value lengths must be equal and positive.");
        int ropeDims = m.GetInt32OrDefault(Key("rope.dimension_count"), headSize);
        if (ropeDims <= 0 || ropeDims > headSize || ropeDims % 2 != 0)
            throw new TokenFactoryException($"{m.Source}: rope.dimension_count {ropeDims} must be even and at most the head size {headSize}.");
        RequireTextRope(m, Key("rope.dimension_sections"), ropeDims);
        if (!m.ContainsKey(Key("attention.layer_norm_rms_epsilon")))
            throw new TokenFactoryException($"{m.Source}: required metadata '{Key("attention.layer_norm_rms_epsilon")}' for architecture '{arch}' is missing.");

        int draftBlocks = m.GetInt32OrDefault(Key("nextn_predict_layers"), 0);
        if (draftBlocks < 0 || draftBlocks >= allBlocks)
            throw new TokenFactoryException($"{m.Source}: '{Key("nextn_predict_layers")}' = {draftBlocks} must be in 0..{allBlocks - 1}.");
        int blocks = allBlocks - draftBlocks;
        var kinds = new LayerKind[blocks];
        if (m.ContainsKey(Key("attention.recurrent_layers")))
        {
            var recurrent = m.GetArray<int>(Key("attention.recurrent_layers"));
            if (recurrent.Length < blocks)
                throw new TokenFactoryException($"{m.Source}: '{Key("attention.recurrent_layers")}' has {recurrent.Length} entries for {blocks} blocks.");
            for (int i = 0; i < blocks; i++)
                kinds[i] = recurrent[i] != 0 ? LayerKind.DeltaNet : LayerKind.Transformer;
        }
        else
        {
            int interval = m.GetInt32OrDefault(Key("full_attention_interval"), 4);
            if (interval <= 0)
                throw new TokenFactoryException($"{m.Source}: '{Key("full_attention_interval")}' = {interval} must be positive.");
            for (int i = 0; i < blocks; i++)
                kinds[i] = (i + 1) % interval != 0 ? LayerKind.DeltaNet : LayerKind.Transformer;
        }

        // DeltaNet: key heads (group_count) and value heads (time_step_rank) of one size (state_size); values heads tile the key heads.
        var ssm = new SsmConfig(Req("ssm.conv_kernel"), Req("ssm.inner_size"), Req("ssm.state_size"), Req("ssm.time_step_rank"), Req("ssm.group_count"));
        if (ssm.ConvKernel < 1 || ssm.StateSize <= 0 || ssm.HeadCount <= 0 || ssm.GroupCount <= 0
            || ssm.InnerSize != ssm.HeadCount * ssm.StateSize || ssm.HeadCount % ssm.GroupCount != 0)
            throw new TokenFactoryException($"{m.Source}: inconsistent ssm.* hyperparameters ({ssm}): inner_size must be time_step_rank × state_size "
                + "(value heads of the key heads' size) and time_step_rank a multiple of group_count.");

        MoeConfig? moe = null;
        int ffn = m.GetInt32OrDefault(Key("feed_forward_length"), 0);
        if (arch == "qwen35moe")
        {
            int experts = Req("expert_count"), used = Req("expert_used_count");
            int expertFfn = m.GetInt32OrDefault(Key("expert_feed_forward_length"), used > 0 ? ffn / used : 0);
            int sharedFfn = m.GetInt32OrDefault(Key("expert_shared_feed_forward_length"), ffn);
            if (used <= 0 || used > experts || expertFfn <= 0 || sharedFfn <= 0)
                throw new TokenFactoryException($"{m.Source}: expert_used_count {used} must be in 1..{experts}, expert and shared feed-forward lengths positive.");
            // Softmax over all experts, top-k, renormalised; the shared expert is SwiGLU, scaled by its own sigmoid gate.
            moe = new MoeConfig(experts, used, expertFfn, sharedFfn, NormalizeWeights: true,
                WeightsScale: m.GetFloatOrDefault(Key("expert_weights_scale"), 1f), ExpertGating.Softmax);
            ffn = Math.Max(ffn, Math.Max(expertFfn, sharedFfn));
        }
        else if (ffn <= 0)
            throw new TokenFactoryException($"{m.Source}: required metadata '{Key("feed_forward_length")}' for architecture '{arch}' is missing or not positive.");

        return new ModelConfig
        {
            Architecture = arch,
            EmbeddingLength = embd,
            BlockCount = blocks,
            FeedForwardLength = ffn,
            HeadCount = heads,
            KvHeadCount = kvHeads,
            HeadSize = headSize,
            ContextLength = ctx,
            RmsEpsilon = m.GetFloat(Key("attention.layer_norm_rms_epsilon")),
            RopeFreqBase = m.GetFloatOrDefault(Key("rope.freq_base"), 10000f),
            RopeDimensions = ropeDims,
            RopeStyle = RopeStyle.NeoX,
            VocabSize = m.GetInt32OrDefault(Key("vocab_size"), m.GetArrayOrNull<string>("tokenizer.ggml.tokens")?.Length ?? 0),
            LayerKindsOverride = kinds,
            Ssm = ssm,
            Moe = moe,
        };
    }

    /// <summary>
    /// Qwen3.5 rotates with interleaved multimodal RoPE: its sections give each rotated pair the time, height or width position.
    /// A text token has all three equal, so the rotation is NeoX's over the rotated dimensions, provided every pair falls in a
    /// section (else llama.cpp gives it the fourth, "extra" position, which text does not define); files that leave pairs out are refused.
    /// </summary>
    private static void RequireTextRope(GgufMetadata m, string key, int ropeDims)
    {
        if (!m.ContainsKey(key))
            return;
        var s = m.GetArray<int>(key);
        if (s.Length < 3 || s.Any(x => x < 0))
            throw new TokenFactoryException($"{m.Source}: '{key}' must hold at least three non-negative section sizes.");
        int total = s.Sum(), pairs = ropeDims / 2;
        for (int sector = 0; sector < pairs; sector++)
        {
            int within = total > 0 ? sector % total : sector;
            bool covered = (within % 3 == 0 && within < 3 * s[0]) || (within % 3 == 1 && within < 3 * s[1]) || (within % 3 == 2 && within < 3 * s[2]);
            if (!covered)
                throw new TokenFactoryException($"{m.Source}: '{key}' = [{string.Join(", ", s)}] leaves rotated pair {sector} to the extra (vision) position; only text sections are supported.");
        }
    }
}
