using TokenFactory.Gguf;

namespace TokenFactory.Models.Synthetic;

public static partial class SyntheticModelWriter
{
    /// <summary>
    /// A gpt-oss file, tensors named and shaped as llama.cpp's converter writes them: biases on Q, K, V and the attention output,
    /// a sink logit per head, the feed-forward input norm named <c>post_attention_norm</c>, a router with a bias, and per-expert
    /// gate, up and down stacks with their biases. <c>--type MXFP4</c> writes what OpenAI publishes: the experts in MXFP4, the
    /// other matrices in Q8_0; other types write every matrix in that type. Norms, biases, sinks and the router stay F32.
    /// </summary>
    private static GgufWriter BuildGptOss(ModelShape shape, GgmlType type, GgufMetadata vocabulary, int vocab, ulong seed)
    {
        const string a = "gpt-oss";
        var moe = shape.Moe ?? throw new TokenFactoryException($"Shape '{shape.Name}' has no experts; gpt-oss needs one of its own shapes.");
        var w = new GgufWriter();
        var m = w.Metadata;
        int e = shape.EmbeddingLength, headSize = shape.ResolvedHeadSize, q = shape.HeadCount * headSize, kv = shape.KvHeadCount * headSize;
        int x = moe.Experts, ef = moe.ExpertFeedForwardLength;
        SetGeneral(m, a, shape, type.ToString(), (uint)FileType(type), seed);
        m.Set($"{a}.context_length", GgufValue.Of((uint)shape.ContextLength));
        m.Set($"{a}.embedding_length", GgufValue.Of((uint)e));
        m.Set($"{a}.block_count", GgufValue.Of((uint)shape.BlockCount));
        m.Set($"{a}.feed_forward_length", GgufValue.Of((uint)shape.FeedForwardLength));
        m.Set($"{a}.attention.head_count", GgufValue.Of((uint)shape.HeadCount));
        m.Set($"{a}.attention.head_count_kv", GgufValue.Of((uint)shape.KvHeadCount));
        m.Set($"{a}.attention.key_length", GgufValue.Of((uint)headSize));
        m.Set($"{a}.attention.value_length", GgufValue.Of((uint)headSize));
        m.Set($"{a}.attention.layer_norm_rms_epsilon", GgufValue.Of(shape.RmsEpsilon));
        m.Set($"{a}.attention.sliding_window", GgufValue.Of((uint)shape.SlidingWindow));
        m.Set($"{a}.rope.freq_base", GgufValue.Of(shape.RopeFreqBase));
        m.Set($"{a}.rope.dimension_count", GgufValue.Of((uint)headSize));
        if (shape.Yarn is { } yarn)
        {
            m.Set($"{a}.rope.scaling.type", GgufValue.Of("yarn"));
            m.Set($"{a}.rope.scaling.factor", GgufValue.Of(yarn.Factor));
            m.Set($"{a}.rope.scaling.original_context_length", GgufValue.Of((uint)yarn.OriginalContext));
        }
        m.Set($"{a}.expert_count", GgufValue.Of((uint)x));
        m.Set($"{a}.expert_used_count", GgufValue.Of((uint)moe.ExpertsUsed));
        m.Set($"{a}.expert_feed_forward_length", GgufValue.Of((uint)ef));
        m.Set($"{a}.vocab_size", GgufValue.Of((uint)vocab));
        CopyTokenizer(m, vocabulary);

        var dense = type == GgmlType.MXFP4 ? GgmlType.Q8_0 : type;
        bool exact = type is GgmlType.F32 or GgmlType.F16 or GgmlType.BF16;
        var rng = new WeightGenerator(seed);
        ulong embeddingStream = rng.Next();
        AddMatrix(w, "token_embd.weight", e, vocab, dense, embeddingStream, 1.0f);
        AddVector(w, "output_norm.weight", e, rng.Next(), 1f, 0.1f);
        AddOutput(w, e, vocab, shape.OutputInF16 && dense is not (GgmlType.F32 or GgmlType.F16) ? GgmlType.F16 : dense, embeddingStream, rng.Next());
        for (int l = 0; l < shape.BlockCount; l++)
        {
            string p = $"blk.{l}.";
            AddVector(w, p + "attn_norm.weight", e, rng.Next(), 1f, 0.1f);
            AddMatrix(w, p + "attn_q.weight", e, q, dense, rng.Next(), 1.5f / MathF.Sqrt(e));
            AddMatrix(w, p + "attn_k.weight", e, kv, dense, rng.Next(), 1.5f / MathF.Sqrt(e));
            AddMatrix(w, p + "attn_v.weight", e, kv, dense, rng.Next(), 1f / MathF.Sqrt(e));
            AddMatrix(w, p + "attn_output.weight", q, e, dense, rng.Next(), 0.5f / MathF.Sqrt(q));
            AddVector(w, p + "attn_q.bias", q, rng.Next(), 0f, 0.1f);
            AddVector(w, p + "attn_k.bias", kv, rng.Next(), 0f, 0.1f);
            AddVector(w, p + "attn_v.bias", kv, rng.Next(), 0f, 0.1f);
            AddVector(w, p + "attn_output.bias", e, rng.Next(), 0f, 0.1f);
            // Sinks of the order of the scores, so they take a real share of each softmax.
            AddVector(w, p + "attn_sinks.weight", shape.HeadCount, rng.Next(), 0.5f, 1f);
            AddVector(w, p + "post_attention_norm.weight", e, rng.Next(), 1f, 0.1f);
            AddMatrix(w, p + "ffn_gate_inp.weight", e, x, GgmlType.F32, rng.Next(), 3f / MathF.Sqrt(e));
            AddVector(w, p + "ffn_gate_inp.bias", x, rng.Next(), 0f, 0.5f);
            // Gate and up spread to a few units so the activation's clamps at ±7 are reached now and then.
            AddMatrix(w, p + "ffn_gate_exps.weight", e, ef * x, type, rng.Next(), 1.5f / MathF.Sqrt(e), dims: [e, ef, x]);
            AddMatrix(w, p + "ffn_up_exps.weight", e, ef * x, type, rng.Next(), 1.5f / MathF.Sqrt(e), dims: [e, ef, x]);
            AddMatrix(w, p + "ffn_down_exps.weight", ef, e * x, type, rng.Next(), 0.15f / MathF.Sqrt(ef), dims: [ef, e, x]);
            // In float files each expert's first channels sit at the activation's limits (gate above 7, up beyond ±7), so every token
            // crosses them where the arithmetic is exact. Quantized files leave them out: those outliers would set their 8-bit blocks' scales
            // and turn rounding noise into greedy flips.
            Action<float[]>? gateLimits = exact ? b => NearLimits(b, ef, 7f, 7f) : null, upLimits = exact ? b => NearLimits(b, ef, 7f, -7f) : null;
            AddVector(w, p + "ffn_gate_exps.bias", ef * x, rng.Next(), 0f, 1f, dims: [ef, x], adjust: gateLimits);
            AddVector(w, p + "ffn_up_exps.bias", ef * x, rng.Next(), 0f, 1f, dims: [ef, x], adjust: upLimits);
            AddVector(w, p + "ffn_down_exps.bias", e * x, rng.Next(), 0f, 0.1f, dims: [e, x]);
        }
        return w;
    }

    /// <summary>Shifts the first four biases of each expert's block of <paramref name="rows"/> to alternate near <paramref name="even"/> and <paramref name="odd"/>.</summary>
    private static void NearLimits(float[] bias, int rows, float even, float odd)
    {
        for (int start = 0; start < bias.Length; start += rows)
        {
            for (int i = 0; i < 4; i++)
                bias[start + i] += i % 2 == 0 ? even : odd;
        }
    }
}
