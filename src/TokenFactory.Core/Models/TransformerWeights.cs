using TokenFactory.Compute;
using TokenFactory.Gguf;
using TokenFactory.Tensors;

namespace TokenFactory.Models;

/// <summary>One decoder block's tensors. Matrices stay in the mapped file; small vectors are copied out as floats.</summary>
/// <remarks>Hybrid (Nemotron-H) blocks set only what their <see cref="Kind"/> uses; absent matrices are default.</remarks>
public sealed class LayerWeights
{
    public LayerKind Kind { get; init; } = LayerKind.Transformer;
    public required float[] AttentionNorm { get; init; }
    public WeightMatrix Query { get; init; }
    public WeightMatrix Key { get; init; }
    public WeightMatrix Value { get; init; }
    public WeightMatrix Output { get; init; }
    public float[]? QueryBias { get; init; }
    public float[]? KeyBias { get; init; }
    public float[]? ValueBias { get; init; }
    /// <summary>Added to the attention output projection (gpt-oss).</summary>
    public float[]? OutputBias { get; init; }
    /// <summary>Per query head, a learned logit that joins the attention softmax and attends to nothing (gpt-oss).</summary>
    public float[]? AttentionSinks { get; init; }
    public float[]? QueryNorm { get; init; }
    public float[]? KeyNorm { get; init; }
    public float[] FeedForwardNorm { get; init; } = [];
    /// <summary>Gemma's sandwich norms: RMSNorm of the attention output and of the feed-forward output before each residual add.</summary>
    public float[]? AttentionPostNorm { get; init; }
    public float[]? FeedForwardPostNorm { get; init; }
    public WeightMatrix Gate { get; init; }
    public WeightMatrix Up { get; init; }
    public WeightMatrix Down { get; init; }
    public MambaWeights? Mamba { get; init; }
    public DeltaNetWeights? DeltaNet { get; init; }
    /// <summary>gemma4's per-layer embedding: input → gate (GELU, times the block's per-layer input) → projection → norm, added to the residual.</summary>
    public WeightMatrix PerLayerGate { get; init; }
    public WeightMatrix PerLayerProjection { get; init; }
    public float[]? PerLayerPostNorm { get; init; }
    /// <summary>gemma4's mixture-of-experts blocks: the experts' input norm, and the norms of the dense MLP's and the experts' outputs before they are summed.</summary>
    public float[]? ExpertInputNorm { get; init; }
    public float[]? DenseOutputNorm { get; init; }
    public float[]? ExpertOutputNorm { get; init; }
    /// <summary>Multiplies the residual stream at the block's end (gemma4's <c>layer_output_scale</c>).</summary>
    public float OutputScale { get; init; } = 1f;
    public ExpertWeights? Experts { get; init; }
}

/// <summary>All tensors of a llama-family model, checked against the configuration's shapes.</summary>
public sealed partial class TransformerWeights
{
    private TransformerWeights(WeightMatrix embedding, float[] outputNorm, WeightMatrix output, bool tied, LayerWeights[] layers, float[]? ropeFactors)
    {
        TokenEmbedding = embedding;
        OutputNorm = outputNorm;
        Output = output;
        OutputTied = tied;
        Layers = layers;
        RopeFreqFactors = ropeFactors;
    }

    public WeightMatrix TokenEmbedding { get; }
    public float[] OutputNorm { get; }
    public WeightMatrix Output { get; }
    public bool OutputTied { get; }
    public IReadOnlyList<LayerWeights> Layers { get; }
    public float[]? RopeFreqFactors { get; }
    /// <summary>gemma4: per token, every block's per-layer embedding (blocks × width), looked up like <see cref="TokenEmbedding"/>.</summary>
    public WeightMatrix PerLayerTokenEmbedding { get; private init; }
    /// <summary>gemma4: the scaled token embedding → every block's per-layer input, added to the lookup.</summary>
    public WeightMatrix PerLayerModelProjection { get; private init; }
    public float[]? PerLayerProjectionNorm { get; private init; }

    public static TransformerWeights Load(GgufFile file, ModelConfig c)
    {
        int vocab = c.VocabSize;
        var embedding = Matrix(file, "token_embd.weight", c.EmbeddingLength, vocab > 0 ? vocab : null, forMultiplication: false);
        var outputNorm = Vector(file, "output_norm.weight", c.EmbeddingLength);
        var outInfo = file.FindTensor("output.weight");
        // A tied output matrix is the embedding table multiplied (so possibly repacked); lookups keep the file's rows.
        var output = Matrix(file, outInfo != null ? "output.weight" : "token_embd.weight", c.EmbeddingLength, embedding.Rows);
        // gemma4's global blocks' proportional RoPE: a factor per pair of their (wider) heads, only the rotated ones read.
        var ropeFactors = file.FindTensor("rope_freqs.weight") != null ? Vector(file, "rope_freqs.weight", (c.IsGemma4 ? c.HeadSize : c.RopeDimensions) / 2) : null;

        var layers = new LayerWeights[c.BlockCount];
        if (c.IsNemotronH)
        {
            for (int l = 0; l < c.BlockCount; l++)
                layers[l] = LoadHybridLayer(file, c, l);
            return new TransformerWeights(embedding, outputNorm, output, outInfo == null, layers, null);
        }
        if (c.IsGemma4)
            return LoadGemma4(file, c, embedding, outputNorm, output, outInfo == null, ropeFactors);
        for (int l = 0; l < c.BlockCount; l++)
        {
            string p = $"blk.{l}.";
            bool experts = c.Moe != null; // qwen3moe, qwen35moe, gpt-oss: every block's feed-forward is a mixture of experts
            // gpt-oss and qwen35 name their feed-forward input norm post_attention_norm (it is not a sandwich norm).
            string feedForwardNorm = c.IsGptOss || c.IsQwen35 ? "post_attention_norm.weight" : "ffn_norm.weight";
            if (c.KindOf(l) == LayerKind.DeltaNet)
            {
                layers[l] = new LayerWeights
                {
                    Kind = LayerKind.DeltaNet,
                    AttentionNorm = Vector(file, p + "attn_norm.weight", c.EmbeddingLength),
                    DeltaNet = LoadDeltaNet(file, c.Ssm!, c.EmbeddingLength, p),
                    FeedForwardNorm = Vector(file, p + feedForwardNorm, c.EmbeddingLength),
                    Gate = experts ? default : Matrix(file, p + "ffn_gate.weight", c.EmbeddingLength, c.FeedForwardLength),
                    Up = experts ? default : Matrix(file, p + "ffn_up.weight", c.EmbeddingLength, c.FeedForwardLength),
                    Down = experts ? default : Matrix(file, p + "ffn_down.weight", c.FeedForwardLength, c.EmbeddingLength),
                    Experts = experts ? LoadExperts(file, c.Moe!, c.EmbeddingLength, p) : null,
                };
                continue;
            }
            layers[l] = new LayerWeights
            {
                AttentionNorm = Vector(file, p + "attn_norm.weight", c.EmbeddingLength),
                // qwen35: each head's query rows are followed by its output gate's.
                Query = Matrix(file, p + "attn_q.weight", c.EmbeddingLength, c.AttentionOutputGate ? 2 * c.QueryDimension : c.QueryDimension),
                Key = Matrix(file, p + "attn_k.weight", c.EmbeddingLength, c.KvDimension),
                Value = Matrix(file, p + "attn_v.weight", c.EmbeddingLength, c.KvDimension),
                Output = Matrix(file, p + "attn_output.weight", c.QueryDimension, c.EmbeddingLength),
                QueryBias = OptionalVector(file, p + "attn_q.bias", c.QueryDimension),
                KeyBias = OptionalVector(file, p + "attn_k.bias", c.KvDimension),
                ValueBias = OptionalVector(file, p + "attn_v.bias", c.KvDimension),
                QueryNorm = OptionalVector(file, p + "attn_q_norm.weight", c.HeadSize),
                KeyNorm = OptionalVector(file, p + "attn_k_norm.weight", c.HeadSize),
                OutputBias = OptionalVector(file, p + "attn_output.bias", c.EmbeddingLength),
                AttentionSinks = c.IsGptOss ? Vector(file, p + "attn_sinks.weight", c.HeadCount) : null,
                FeedForwardNorm = Vector(file, p + feedForwardNorm, c.EmbeddingLength),
                Gate = experts ? default : Matrix(file, p + "ffn_gate.weight", c.EmbeddingLength, c.FeedForwardLength),
                Up = experts ? default : Matrix(file, p + "ffn_up.weight", c.EmbeddingLength, c.FeedForwardLength),
                Down = experts ? default : Matrix(file, p + "ffn_down.weight", c.FeedForwardLength, c.EmbeddingLength),
                Experts = experts ? LoadExperts(file, c.Moe!, c.EmbeddingLength, p) : null,
                AttentionPostNorm = c.IsGemma ? Vector(file, p + "post_attention_norm.weight", c.EmbeddingLength) : null,
                FeedForwardPostNorm = c.IsGemma ? Vector(file, p + "post_ffw_norm.weight", c.EmbeddingLength) : null,
            };
            if ((c.Architecture is "qwen3" or "qwen3moe" or "gemma3" || c.IsQwen35) && (layers[l].QueryNorm == null || layers[l].KeyNorm == null))
                throw new TokenFactoryException($"{file.Path}: {c.Architecture} layer {l} lacks attn_q_norm/attn_k_norm.");
        }
        return new TransformerWeights(embedding, outputNorm, output, outInfo == null, layers, ropeFactors);
    }

    internal static WeightMatrix Matrix(GgufFile file, string name, int columns, int? rows, bool forMultiplication = true)
    {
        var info = file.GetTensorInfo(name);
        if (info.RowLength != columns || (rows != null && info.RowCount != rows) || info.Dimensions.Length != 2)
            throw new GgufFormatException(file.Path, -1, $"tensor '{name}' has shape {info.ShapeText}; expected [{columns}, {rows?.ToString() ?? "?"}]");
        RequireComputable(file, info);
        return new WeightMatrix(file, info, forMultiplication: forMultiplication);
    }

    private static void RequireComputable(GgufFile file, GgufTensorInfo info)
    {
        if (!Dequantizer.IsSupported(info.Type))
            throw new GgufFormatException(file.Path, -1,
                $"tensor '{info.Name}' is {info.Type}, which this engine cannot compute yet (supported: F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K..Q6_K, IQ4_NL, IQ4_XS, MXFP4)");
    }

    internal static float[]? OptionalVector(GgufFile file, string name, int length) =>
        file.FindTensor(name) != null ? Vector(file, name, length) : null;

    internal static float[] Vector(GgufFile file, string name, int length)
    {
        var info = file.GetTensorInfo(name);
        if (info.ElementCount != length)
            throw new GgufFormatException(file.Path, -1, $"tensor '{name}' has {info.ElementCount} elements; expected {length}");
        RequireComputable(file, info);
        var result = new float[length];
        Dequantizer.DequantizeRow(info.Type, file.TensorBytes(info), result);
        return result;
    }
}
