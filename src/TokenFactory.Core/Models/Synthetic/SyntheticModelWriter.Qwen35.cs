using TokenFactory.Gguf;
using TokenFactory.Tensors;

namespace TokenFactory.Models.Synthetic;

public static partial class SyntheticModelWriter
{
    /// <summary>
    /// A Qwen3.5 file (qwen35, or qwen35moe with experts), tensors named and shaped as llama.cpp's converter writes them. DeltaNet
    /// blocks: <c>attn_qkv</c> (queries, keys, values), <c>attn_gate</c> (z), <c>ssm_beta</c>, <c>ssm_alpha</c>, the convolution
    /// (no bias), <c>ssm_dt.bias</c>, <c>ssm_a</c>, a per-head <c>ssm_norm</c> and <c>ssm_out</c>. Attention blocks: a query
    /// projection twice the query width (each head's query, then its output gate), q/k norms. Every block: the feed-forward's input
    /// norm named <c>post_attention_norm</c>, then SwiGLU or experts plus a gated shared expert. Small tensors stay F32.
    /// A mixture (Q4_K_M, Q5_K_M) follows llama.cpp's quantizer: the DeltaNet <c>attn_qkv</c> one K-quant up (Q5_K, Q6_K), every
    /// feed-forward down matrix (experts' and the shared one's) of the layers <see cref="MoreBits"/> picks and those attention
    /// blocks' values in Q6_K, the output in Q6_K.
    /// </summary>
    private static GgufWriter BuildQwen35(string a, ModelShape shape, GgmlType type, string? mixture, GgufMetadata vocabulary, int vocab, ulong seed)
    {
        var d = shape.DeltaNet ?? throw new TokenFactoryException($"Shape '{shape.Name}' has no DeltaNet layout.");
        var moe = shape.Moe;
        if ((a == "qwen35moe") != (moe != null))
            throw new TokenFactoryException($"Shape '{shape.Name}' does not fit {a}.");
        var w = new GgufWriter();
        var m = w.Metadata;
        int e = shape.EmbeddingLength, headSize = shape.ResolvedHeadSize, q = shape.HeadCount * headSize, kv = shape.KvHeadCount * headSize;
        int f = shape.FeedForwardLength;
        SetGeneral(m, a, shape, mixture ?? type.ToString(), (uint)(mixture == "Q5_K_M" ? 17 : mixture == "Q4_K_M" ? 15 : FileType(type)), seed);
        bool mixed = mixture != null;
        var qkvType = mixed ? (type == GgmlType.Q5_K ? GgmlType.Q6_K : GgmlType.Q5_K) : type;
        GgmlType DownType(int layer) => mixed && MoreBits(layer, shape.BlockCount) ? GgmlType.Q6_K : type;
        int attentionBlocks = shape.BlockCount / d.FullAttentionInterval, attentionBlock = 0;
        m.Set($"{a}.context_length", GgufValue.Of((uint)shape.ContextLength));
        m.Set($"{a}.embedding_length", GgufValue.Of((uint)e));
        m.Set($"{a}.block_count", GgufValue.Of((uint)shape.BlockCount));
        m.Set($"{a}.feed_forward_length", GgufValue.Of((uint)f));
        m.Set($"{a}.attention.head_count", GgufValue.Of((uint)shape.HeadCount));
        m.Set($"{a}.attention.head_count_kv", GgufValue.Of((uint)shape.KvHeadCount));
        m.Set($"{a}.attention.key_length", GgufValue.Of((uint)headSize));
        m.Set($"{a}.attention.value_length", GgufValue.Of((uint)headSize));
        m.Set($"{a}.attention.layer_norm_rms_epsilon", GgufValue.Of(shape.RmsEpsilon));
        m.Set($"{a}.rope.freq_base", GgufValue.Of(shape.RopeFreqBase));
        m.Set($"{a}.rope.dimension_count", GgufValue.Of((uint)d.RopeDimensions));
        // Time, height and width sections of the rotated pairs, in Qwen's 11:11:10 proportions; text uses one position for all three.
        int pairs = d.RopeDimensions / 2, t = (pairs * 11 + 31) / 32, hgt = (pairs * 11 + 31) / 32;
        m.Set($"{a}.rope.dimension_sections", GgufValue.Of(new[] { t, hgt, pairs - t - hgt, 0 }));
        m.Set($"{a}.ssm.conv_kernel", GgufValue.Of((uint)d.ConvKernel));
        m.Set($"{a}.ssm.state_size", GgufValue.Of((uint)d.HeadSize));
        m.Set($"{a}.ssm.group_count", GgufValue.Of((uint)d.KeyHeads));
        m.Set($"{a}.ssm.time_step_rank", GgufValue.Of((uint)d.ValueHeads));
        m.Set($"{a}.ssm.inner_size", GgufValue.Of((uint)d.ValueDimension));
        m.Set($"{a}.full_attention_interval", GgufValue.Of((uint)d.FullAttentionInterval));
        if (moe != null)
        {
            m.Set($"{a}.expert_count", GgufValue.Of((uint)moe.Experts));
            m.Set($"{a}.expert_used_count", GgufValue.Of((uint)moe.ExpertsUsed));
            m.Set($"{a}.expert_feed_forward_length", GgufValue.Of((uint)moe.ExpertFeedForwardLength));
            m.Set($"{a}.expert_shared_feed_forward_length", GgufValue.Of((uint)d.SharedFeedForwardLength));
        }
        m.Set($"{a}.vocab_size", GgufValue.Of((uint)vocab));
        CopyTokenizer(m, vocabulary);

        var rng = new WeightGenerator(seed);
        ulong embeddingStream = rng.Next();
        AddMatrix(w, "token_embd.weight", e, vocab, type, embeddingStream, 1.0f);
        AddVector(w, "output_norm.weight", e, rng.Next(), 1f, 0.1f);
        AddOutput(w, e, vocab, shape.OutputInF16 && type is not (GgmlType.F32 or GgmlType.F16) ? GgmlType.F16 : mixed ? GgmlType.Q6_K : type, embeddingStream, rng.Next());
        int heads = d.ValueHeads, channels = d.ConvChannels, inner = d.ValueDimension;
        for (int l = 0; l < shape.BlockCount; l++)
        {
            string p = $"blk.{l}.";
            AddVector(w, p + "attn_norm.weight", e, rng.Next(), 1f, 0.1f);
            if ((l + 1) % d.FullAttentionInterval != 0)
            {
                AddMatrix(w, p + "attn_qkv.weight", e, channels, qkvType, rng.Next(), 1f / MathF.Sqrt(e));
                AddMatrix(w, p + "attn_gate.weight", e, inner, type, rng.Next(), 1f / MathF.Sqrt(e));
                AddMatrix(w, p + "ssm_beta.weight", e, heads, type, rng.Next(), 1f / MathF.Sqrt(e));
                AddMatrix(w, p + "ssm_alpha.weight", e, heads, type, rng.Next(), 1f / MathF.Sqrt(e));
                AddF32(w, p + "ssm_conv1d.weight", [d.ConvKernel, channels], rng.Next(), 0f, 0.5f);
                // dt bias around -1: decays of a few tenths per token, so the state mixes a handful of recent tokens.
                AddVector(w, p + "ssm_dt.bias", heads, rng.Next(), -1f, 0.5f);
                AddDecay(w, p + "ssm_a", heads, rng.Next(), [heads]);
                AddVector(w, p + "ssm_norm.weight", d.HeadSize, rng.Next(), 1f, 0.1f);
                AddMatrix(w, p + "ssm_out.weight", inner, e, type, rng.Next(), 0.5f / MathF.Sqrt(inner));
            }
            else
            {
                AddMatrix(w, p + "attn_q.weight", e, 2 * q, type, rng.Next(), 1.5f / MathF.Sqrt(e));
                AddMatrix(w, p + "attn_k.weight", e, kv, type, rng.Next(), 1.5f / MathF.Sqrt(e));
                AddMatrix(w, p + "attn_v.weight", e, kv, mixed && MoreBits(attentionBlock++, attentionBlocks) ? GgmlType.Q6_K : type, rng.Next(), 1f / MathF.Sqrt(e));
                AddMatrix(w, p + "attn_output.weight", q, e, type, rng.Next(), 0.5f / MathF.Sqrt(q));
                AddVector(w, p + "attn_q_norm.weight", headSize, rng.Next(), 1f, 0.1f);
                AddVector(w, p + "attn_k_norm.weight", headSize, rng.Next(), 1f, 0.1f);
            }
            AddVector(w, p + "post_attention_norm.weight", e, rng.Next(), 1f, 0.1f);
            if (moe != null)
            {
                int x = moe.Experts, ef = moe.ExpertFeedForwardLength, sf = d.SharedFeedForwardLength;
                AddMatrix(w, p + "ffn_gate_inp.weight", e, x, GgmlType.F32, rng.Next(), 3f / MathF.Sqrt(e));
                AddMatrix(w, p + "ffn_gate_exps.weight", e, ef * x, type, rng.Next(), 1f / MathF.Sqrt(e), dims: [e, ef, x]);
                AddMatrix(w, p + "ffn_up_exps.weight", e, ef * x, type, rng.Next(), 1f / MathF.Sqrt(e), dims: [e, ef, x]);
                AddMatrix(w, p + "ffn_down_exps.weight", ef, e * x, DownType(l), rng.Next(), 0.5f / MathF.Sqrt(ef), dims: [ef, e, x]);
                AddVector(w, p + "ffn_gate_inp_shexp.weight", e, rng.Next(), 0f, 1f / MathF.Sqrt(e));
                AddMatrix(w, p + "ffn_gate_shexp.weight", e, sf, type, rng.Next(), 1f / MathF.Sqrt(e));
                AddMatrix(w, p + "ffn_up_shexp.weight", e, sf, type, rng.Next(), 1f / MathF.Sqrt(e));
                AddMatrix(w, p + "ffn_down_shexp.weight", sf, e, DownType(l), rng.Next(), 0.5f / MathF.Sqrt(sf));
                continue;
            }
            AddMatrix(w, p + "ffn_gate.weight", e, f, type, rng.Next(), 1f / MathF.Sqrt(e));
            AddMatrix(w, p + "ffn_up.weight", e, f, type, rng.Next(), 1f / MathF.Sqrt(e));
            AddMatrix(w, p + "ffn_down.weight", f, e, DownType(l), rng.Next(), 0.5f / MathF.Sqrt(f));
        }
        return w;
    }
}
