using TokenFactory.Gguf;
using TokenFactory.Tensors;

namespace TokenFactory.Models.Synthetic;

public static partial class SyntheticModelWriter
{
    /// <summary>
    /// Spread of each hybrid block's output projection (× 1/sqrt(fan-in)). Smaller than the transformer
    /// writer's 0.5: a Nemotron-H stack adds one mixer per block, many more blocks, and with larger
    /// updates the residual stream forgets the token, the "successor" structure of the vocabulary
    /// projection fades and greedy margins shrink to rounding noise.
    /// </summary>
    private const float OutputScale = 0.15f;

    /// <summary>
    /// A Nemotron-H file: per-block arrays say which blocks are attention (head_count_kv &gt; 0), feed-forward
    /// (feed_forward_length &gt; 0) or Mamba-2 (both 0), tensors named as llama.cpp's converter names them.
    /// Small tensors (norms, convolution, A, D, dt bias, router, expert bias) stay F32 as llama.cpp's quantizer leaves them.
    /// </summary>
    /// <remarks>
    /// A mixture (Q4_K_M, Q5_K_M) follows llama.cpp's quantizer: every feed-forward down matrix (dense, experts', shared) of the layers
    /// <see cref="MoreBits"/> picks, and those attention blocks' values, in Q6_K; the output in Q6_K.
    /// </remarks>
    private static GgufWriter BuildHybrid(string a, ModelShape shape, GgmlType type, string? mixture, GgufMetadata vocabulary, int vocab, ulong seed)
    {
        var h = shape.Hybrid!;
        if (h.Pattern.Length != shape.BlockCount || h.Pattern.Any(ch => ch is not ('M' or '*' or '-' or 'E')))
            throw new TokenFactoryException($"Shape '{shape.Name}': pattern '{h.Pattern}' must have one of M * - E per block.");
        var w = new GgufWriter();
        var m = w.Metadata;
        int e = shape.EmbeddingLength, headSize = shape.ResolvedHeadSize, f = shape.FeedForwardLength;
        SetGeneral(m, a, shape, mixture ?? type.ToString(), (uint)(mixture == "Q5_K_M" ? 17 : mixture == "Q4_K_M" ? 15 : FileType(type)), seed);
        bool mixed = mixture != null;
        GgmlType DownType(int layer) => mixed && MoreBits(layer, shape.BlockCount) ? GgmlType.Q6_K : type;
        int attentionBlocks = h.Pattern.Count(ch => ch == '*'), attentionBlock = 0;
        m.Set($"{a}.context_length", GgufValue.Of((uint)shape.ContextLength));
        m.Set($"{a}.embedding_length", GgufValue.Of((uint)e));
        m.Set($"{a}.block_count", GgufValue.Of((uint)shape.BlockCount));
        m.Set($"{a}.feed_forward_length", GgufValue.Of(h.Pattern.Select(ch => ch is '-' or 'E' ? f : 0).ToArray()));
        m.Set($"{a}.attention.head_count", GgufValue.Of((uint)shape.HeadCount));
        m.Set($"{a}.attention.head_count_kv", GgufValue.Of(h.Pattern.Select(ch => ch == '*' ? shape.KvHeadCount : 0).ToArray()));
        m.Set($"{a}.attention.key_length", GgufValue.Of((uint)headSize));
        m.Set($"{a}.attention.value_length", GgufValue.Of((uint)headSize));
        m.Set($"{a}.attention.layer_norm_rms_epsilon", GgufValue.Of(shape.RmsEpsilon));
        m.Set($"{a}.attention.layer_norm_epsilon", GgufValue.Of(shape.RmsEpsilon));
        m.Set($"{a}.ssm.conv_kernel", GgufValue.Of((uint)h.ConvKernel));
        m.Set($"{a}.ssm.inner_size", GgufValue.Of((uint)h.SsmInner));
        m.Set($"{a}.ssm.state_size", GgufValue.Of((uint)h.SsmState));
        m.Set($"{a}.ssm.time_step_rank", GgufValue.Of((uint)h.SsmHeads));
        m.Set($"{a}.ssm.group_count", GgufValue.Of((uint)h.SsmGroups));
        if (h.Experts > 0)
        {
            m.Set($"{a}.expert_count", GgufValue.Of((uint)h.Experts));
            m.Set($"{a}.expert_used_count", GgufValue.Of((uint)h.ExpertsUsed));
            m.Set($"{a}.expert_feed_forward_length", GgufValue.Of((uint)f));
            m.Set($"{a}.expert_shared_feed_forward_length", GgufValue.Of((uint)h.SharedFeedForwardLength));
            m.Set($"{a}.expert_shared_count", GgufValue.Of(1u));
            m.Set($"{a}.expert_weights_norm", GgufValue.Of(true));
            m.Set($"{a}.expert_weights_scale", GgufValue.Of(h.ExpertWeightsScale));
            m.Set($"{a}.expert_gating_func", GgufValue.Of((uint)ExpertGating.Sigmoid));
        }
        m.Set($"{a}.vocab_size", GgufValue.Of((uint)vocab));
        CopyTokenizer(m, vocabulary);

        var rng = new WeightGenerator(seed);
        ulong embeddingStream = rng.Next();
        Func<GgmlType, int, GgmlType> typeFor = HybridTypeFor;
        AddMatrix(w, "token_embd.weight", e, vocab, type, embeddingStream, 1.0f, typeFor: typeFor);
        AddVector(w, "output_norm.weight", e, rng.Next(), 1f, 0.1f);
        var outputType = shape.OutputInF16 && type is not (GgmlType.F32 or GgmlType.F16) ? GgmlType.F16 : HybridTypeFor(mixed ? GgmlType.Q6_K : type, e);
        AddOutput(w, e, vocab, outputType, embeddingStream, rng.Next());

        int inner = h.SsmInner, convChannels = inner + 2 * h.SsmGroups * h.SsmState;
        int inProj = 2 * inner + 2 * h.SsmGroups * h.SsmState + h.SsmHeads;
        int q = shape.HeadCount * headSize, kv = shape.KvHeadCount * headSize;
        for (int l = 0; l < shape.BlockCount; l++)
        {
            string p = $"blk.{l}.";
            AddVector(w, p + "attn_norm.weight", e, rng.Next(), 1f, 0.1f);
            switch (h.Pattern[l])
            {
                case 'M':
                    AddMatrix(w, p + "ssm_in.weight", e, inProj, type, rng.Next(), 1f / MathF.Sqrt(e), typeFor: typeFor);
                    AddF32(w, p + "ssm_conv1d.weight", [h.ConvKernel, convChannels], rng.Next(), 0f, 0.5f);
                    AddVector(w, p + "ssm_conv1d.bias", convChannels, rng.Next(), 0f, 0.1f);
                    // dt bias around -3: softplus(dt) of a few hundredths, a state that remembers tens of tokens.
                    AddVector(w, p + "ssm_dt.bias", h.SsmHeads, rng.Next(), -3f, 1f);
                    AddDecay(w, p + "ssm_a", h.SsmHeads, rng.Next());
                    AddF32(w, p + "ssm_d", [1, h.SsmHeads], rng.Next(), 1f, 0.1f);
                    AddF32(w, p + "ssm_norm.weight", [inner / h.SsmGroups, h.SsmGroups], rng.Next(), 1f, 0.1f);
                    AddMatrix(w, p + "ssm_out.weight", inner, e, type, rng.Next(), OutputScale / MathF.Sqrt(inner), typeFor: typeFor);
                    break;
                case '*':
                    AddMatrix(w, p + "attn_q.weight", e, q, type, rng.Next(), 1.5f / MathF.Sqrt(e), typeFor: typeFor);
                    AddMatrix(w, p + "attn_k.weight", e, kv, type, rng.Next(), 1.5f / MathF.Sqrt(e), typeFor: typeFor);
                    AddMatrix(w, p + "attn_v.weight", e, kv, mixed && MoreBits(attentionBlock++, attentionBlocks) ? GgmlType.Q6_K : type, rng.Next(), 1f / MathF.Sqrt(e), typeFor: typeFor);
                    AddMatrix(w, p + "attn_output.weight", q, e, type, rng.Next(), OutputScale / MathF.Sqrt(q), typeFor: typeFor);
                    break;
                case '-':
                    AddMatrix(w, p + "ffn_up.weight", e, f, type, rng.Next(), 1f / MathF.Sqrt(e), typeFor: typeFor);
                    AddMatrix(w, p + "ffn_down.weight", f, e, DownType(l), rng.Next(), OutputScale / MathF.Sqrt(f), typeFor: typeFor);
                    break;
                case 'E':
                    int n = h.Experts, sf = h.SharedFeedForwardLength;
                    AddF32(w, p + "ffn_gate_inp.weight", [e, n], rng.Next(), 0f, 1f / MathF.Sqrt(e));
                    AddVector(w, p + "exp_probs_b.bias", n, rng.Next(), 0f, 0.05f);
                    AddMatrix(w, p + "ffn_up_exps.weight", e, f * n, type, rng.Next(), 1f / MathF.Sqrt(e), [e, f, n], typeFor);
                    AddMatrix(w, p + "ffn_down_exps.weight", f, e * n, DownType(l), rng.Next(), OutputScale / h.ExpertWeightsScale / MathF.Sqrt(f), [f, e, n], typeFor);
                    AddMatrix(w, p + "ffn_up_shexp.weight", e, sf, type, rng.Next(), 1f / MathF.Sqrt(e), typeFor: typeFor);
                    AddMatrix(w, p + "ffn_down_shexp.weight", sf, e, DownType(l), rng.Next(), OutputScale / MathF.Sqrt(sf), typeFor: typeFor);
                    break;
            }
        }
        return w;
    }

    /// <summary>
    /// Nemotron 3 Nano's rows (2688, 1856) are not multiples of 256: K-quants fall back to the legacy format of
    /// about the same size (Q4_K → Q4_0, Q6_K → Q8_0), so the 30B file stays ~18 GB. (llama.cpp's quantizer picks
    /// Q5_0 for Q4_K; Q4_0 keeps the file within this project's benchmark machines' memory.)
    /// </summary>
    public static GgmlType HybridTypeFor(GgmlType requested, int rowLength)
    {
        if (rowLength % GgmlTypeInfo.BlockSize(requested) == 0)
            return requested;
        var fallback = requested switch
        {
            GgmlType.Q4_K => GgmlType.Q4_0,
            _ => GgmlType.Q8_0,
        };
        return TypeFor(fallback, rowLength);
    }

    private static void AddF32(GgufWriter w, string name, long[] dims, ulong stream, float mean, float std)
    {
        int length = (int)dims.Aggregate(1L, (x, y) => x * y);
        var values = new float[length];
        WeightGenerator.Fill(stream, 0, values, mean, std);
        var bytes = new byte[length * 4];
        Buffer.BlockCopy(values, 0, bytes, 0, bytes.Length);
        w.AddTensor(name, dims, GgmlType.F32, bytes);
    }

    /// <summary>A = -exp(A_log) as converters store it: negative per-head decay rates, here -(0.5 + |N(0, 2)|).</summary>
    private static void AddDecay(GgufWriter w, string name, int heads, ulong stream, long[]? dims = null)
    {
        var values = new float[heads];
        WeightGenerator.Fill(stream, 0, values, 0f, 2f);
        for (int i = 0; i < heads; i++)
            values[i] = -(0.5f + MathF.Abs(values[i]));
        var bytes = new byte[heads * 4];
        Buffer.BlockCopy(values, 0, bytes, 0, bytes.Length);
        w.AddTensor(name, dims ?? [1, heads], GgmlType.F32, bytes);
    }
}
