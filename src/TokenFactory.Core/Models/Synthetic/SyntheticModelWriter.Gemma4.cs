using TokenFactory.Gguf;
using TokenFactory.Tensors;

namespace TokenFactory.Models.Synthetic;

public static partial class SyntheticModelWriter
{
    /// <summary>
    /// A Gemma 4 file, tensors and keys as llama.cpp's converter writes them: per-block sliding flags and KV head counts, sliding
    /// heads' own size and rotation, the shared-KV blocks without key or value projections, global blocks without value
    /// projections, <c>rope_freqs</c> that leave all but the first quarter of a global head unrotated, sandwich norms, per-layer
    /// embeddings (table, model projection and norm; per block gate, projection and norm), <c>layer_output_scale</c> and the
    /// final-logit soft-cap. Norms, scales and <c>rope_freqs</c> stay F32. A mixture (Q4_K_M, Q5_K_M) gives the down matrices (dense
    /// and experts') of the layers <see cref="MoreBits"/> picks and those value projections Q6_K, the output Q6_K.
    /// </summary>
    private static GgufWriter BuildGemma4(ModelShape shape, GgmlType type, string? mixture, GgufMetadata vocabulary, int vocab, ulong seed)
    {
        const string a = "gemma4";
        var g = shape.Gemma4 ?? throw new TokenFactoryException($"Shape '{shape.Name}' has no Gemma 4 layout.");
        int blocks = shape.BlockCount, e = shape.EmbeddingLength, hs = shape.ResolvedHeadSize, shs = g.SlidingHeadSize, pl = g.PerLayerEmbedding;
        if (g.Pattern.Length != blocks || g.Pattern.Any(c => c is not ('S' or 'G')))
            throw new TokenFactoryException($"Shape '{shape.Name}': pattern '{g.Pattern}' must have one S or G per block.");
        bool Sliding(int l) => g.Pattern[l] == 'S';
        var w = new GgufWriter();
        var m = w.Metadata;
        SetGeneral(m, a, shape, mixture ?? type.ToString(), (uint)(mixture == "Q5_K_M" ? 17 : mixture == "Q4_K_M" ? 15 : FileType(type)), seed);
        bool mixed = mixture != null;
        GgmlType DownType(int layer) => mixed && MoreBits(layer, blocks) ? GgmlType.Q6_K : type;
        int valueBlocks = Enumerable.Range(0, blocks - g.SharedKvLayers).Count(Sliding), valueBlock = 0;
        m.Set($"{a}.context_length", GgufValue.Of((uint)shape.ContextLength));
        m.Set($"{a}.embedding_length", GgufValue.Of((uint)e));
        m.Set($"{a}.block_count", GgufValue.Of((uint)blocks));
        m.Set($"{a}.feed_forward_length", GgufValue.Of((uint)shape.FeedForwardLength));
        m.Set($"{a}.attention.head_count", GgufValue.Of((uint)shape.HeadCount));
        m.Set($"{a}.attention.head_count_kv", GgufValue.Of(Enumerable.Range(0, blocks).Select(l => Sliding(l) ? g.SlidingKvHeads : shape.KvHeadCount).ToArray()));
        m.Set($"{a}.attention.key_length", GgufValue.Of((uint)hs));
        m.Set($"{a}.attention.value_length", GgufValue.Of((uint)hs));
        m.Set($"{a}.attention.key_length_swa", GgufValue.Of((uint)shs));
        m.Set($"{a}.attention.value_length_swa", GgufValue.Of((uint)shs));
        m.Set($"{a}.attention.layer_norm_rms_epsilon", GgufValue.Of(shape.RmsEpsilon));
        m.Set($"{a}.attention.sliding_window", GgufValue.Of((uint)shape.SlidingWindow));
        m.Set($"{a}.attention.sliding_window_pattern", GgufValue.Of(Enumerable.Range(0, blocks).Select(Sliding).ToArray()));
        m.Set($"{a}.attention.shared_kv_layers", GgufValue.Of((uint)g.SharedKvLayers));
        m.Set($"{a}.rope.freq_base", GgufValue.Of(shape.RopeFreqBase));
        m.Set($"{a}.rope.freq_base_swa", GgufValue.Of(10000f));
        m.Set($"{a}.rope.dimension_count", GgufValue.Of((uint)hs));
        m.Set($"{a}.rope.dimension_count_swa", GgufValue.Of((uint)shs));
        m.Set($"{a}.embedding_length_per_layer_input", GgufValue.Of((uint)pl));
        m.Set($"{a}.final_logit_softcapping", GgufValue.Of(g.SoftCap));
        if (g.Experts > 0)
        {
            m.Set($"{a}.expert_count", GgufValue.Of((uint)g.Experts));
            m.Set($"{a}.expert_used_count", GgufValue.Of((uint)g.ExpertsUsed));
            m.Set($"{a}.expert_feed_forward_length", GgufValue.Of((uint)g.ExpertFeedForward));
        }
        m.Set($"{a}.vocab_size", GgufValue.Of((uint)vocab));
        CopyTokenizer(m, vocabulary);

        var rng = new WeightGenerator(seed);
        ulong embeddingStream = rng.Next();
        AddMatrix(w, "token_embd.weight", e, vocab, type, embeddingStream, 1.0f);
        AddMatrix(w, "per_layer_token_embd.weight", pl * blocks, vocab, type, rng.Next(), 1.0f);
        AddMatrix(w, "per_layer_model_proj.weight", e, pl * blocks, type, rng.Next(), 1f / MathF.Sqrt(e));
        AddVector(w, "per_layer_proj_norm.weight", pl, rng.Next(), 1f, 0.1f);
        AddVector(w, "output_norm.weight", e, rng.Next(), 1f, 0.1f);
        if (!shape.TiedOutput)
            AddOutput(w, e, vocab, shape.OutputInF16 && type is not (GgmlType.F32 or GgmlType.F16) ? GgmlType.F16 : mixed ? GgmlType.Q6_K : type, embeddingStream, rng.Next());
        // Proportional RoPE: the first quarter of a global head's pairs rotate; the rest get a huge divisor, an angle of ~0.
        int rotated = (int)(hs / 2 * g.RotatedFraction);
        AddVector(w, "rope_freqs.weight", hs / 2, rng.Next(), 0f, 0f, adjust: f =>
        {
            for (int i = 0; i < f.Length; i++)
                f[i] = i < rotated ? 1f : 1e30f;
        });
        int own = blocks - g.SharedKvLayers, f = shape.FeedForwardLength;
        for (int l = 0; l < blocks; l++)
        {
            string p = $"blk.{l}.";
            int size = Sliding(l) ? shs : hs, kv = (Sliding(l) ? g.SlidingKvHeads : shape.KvHeadCount) * size, q = shape.HeadCount * size;
            AddVector(w, p + "attn_norm.weight", e, rng.Next(), 1f, 0.1f);
            AddMatrix(w, p + "attn_q.weight", e, q, type, rng.Next(), 1f / MathF.Sqrt(e));
            if (l < own)
            {
                AddMatrix(w, p + "attn_k.weight", e, kv, type, rng.Next(), 1f / MathF.Sqrt(e));
                if (Sliding(l))
                    AddMatrix(w, p + "attn_v.weight", e, kv, mixed && MoreBits(valueBlock++, valueBlocks) ? GgmlType.Q6_K : type, rng.Next(), 1f / MathF.Sqrt(e));
                AddVector(w, p + "attn_k_norm.weight", size, rng.Next(), 1f, 0.1f);
            }
            AddMatrix(w, p + "attn_output.weight", q, e, type, rng.Next(), 0.5f / MathF.Sqrt(q));
            // Normalised queries and keys meet at scale 1: weights around 1/√size keep the logits a few units wide.
            AddVector(w, p + "attn_q_norm.weight", size, rng.Next(), 1f / MathF.Sqrt(MathF.Sqrt(size)), 0.05f);
            AddVector(w, p + "post_attention_norm.weight", e, rng.Next(), 1f, 0.1f);
            AddVector(w, p + "ffn_norm.weight", e, rng.Next(), 1f, 0.1f);
            AddMatrix(w, p + "ffn_gate.weight", e, f, type, rng.Next(), 1f / MathF.Sqrt(e));
            AddMatrix(w, p + "ffn_up.weight", e, f, type, rng.Next(), 1f / MathF.Sqrt(e));
            AddMatrix(w, p + "ffn_down.weight", f, e, DownType(l), rng.Next(), 0.5f / MathF.Sqrt(f));
            AddVector(w, p + "post_ffw_norm.weight", e, rng.Next(), 1f, 0.1f);
            if (g.Experts > 0)
            {
                // The router reads a unit-RMS input × 1/√d: weights of spread 3 give logits a few units apart.
                int x = g.Experts, ef = g.ExpertFeedForward;
                AddMatrix(w, p + "ffn_gate_inp.weight", e, x, GgmlType.F32, rng.Next(), 3f);
                AddVector(w, p + "ffn_gate_inp.scale", e, rng.Next(), 1f, 0.1f);
                AddVector(w, p + "pre_ffw_norm_2.weight", e, rng.Next(), 1f, 0.1f);
                AddVector(w, p + "post_ffw_norm_1.weight", e, rng.Next(), 1f, 0.1f);
                AddVector(w, p + "post_ffw_norm_2.weight", e, rng.Next(), 1f, 0.1f);
                // Gate and up in one stack, as Gemma 4's converter writes them (its checkpoints keep them fused): expert x's gate rows, then its up rows.
                AddMatrix(w, p + "ffn_gate_up_exps.weight", e, 2 * ef * x, type, rng.Next(), 1f / MathF.Sqrt(e), dims: [e, 2 * ef, x]);
                AddMatrix(w, p + "ffn_down_exps.weight", ef, e * x, DownType(l), rng.Next(), 0.5f / MathF.Sqrt(ef), dims: [ef, e, x]);
                AddVector(w, p + "ffn_down_exps.scale", x, rng.Next(), 1f, 0.1f);
            }
            AddMatrix(w, p + "inp_gate.weight", e, pl, type, rng.Next(), 1f / MathF.Sqrt(e));
            AddMatrix(w, p + "proj.weight", pl, e, type, rng.Next(), 0.5f / MathF.Sqrt(pl));
            AddVector(w, p + "post_norm.weight", e, rng.Next(), 0.5f, 0.05f);
            AddVector(w, p + "layer_output_scale.weight", 1, rng.Next(), 0.9f, 0.05f);
        }
        return w;
    }
}
