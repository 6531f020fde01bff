using TokenFactory.Compute;
using TokenFactory.Gguf;

namespace TokenFactory.Models.Bert;

/// <summary>One BERT block: projections with biases, and the two post-norms (after attention, after the feed-forward).</summary>
public sealed class BertLayerWeights
{
    public required WeightMatrix Query { get; init; }
    public required WeightMatrix Key { get; init; }
    public required WeightMatrix Value { get; init; }
    public required WeightMatrix Output { get; init; }
    public required float[] QueryBias { get; init; }
    public required float[] KeyBias { get; init; }
    public required float[] ValueBias { get; init; }
    public required float[] OutputBias { get; init; }
    public required float[] AttentionNorm { get; init; }
    public required float[] AttentionNormBias { get; init; }
    public required WeightMatrix Up { get; init; }
    public required float[] UpBias { get; init; }
    public required WeightMatrix Down { get; init; }
    public required float[] DownBias { get; init; }
    public required float[] OutputNorm { get; init; }
    public required float[] OutputNormBias { get; init; }
}

/// <summary>
/// All tensors of a BERT encoder, named as llama.cpp's converter names them, checked against the configuration.
/// Biases the converter may leave out (a checkpoint without them) load as zeros.
/// </summary>
public sealed class BertWeights
{
    public required WeightMatrix TokenEmbedding { get; init; }
    public required WeightMatrix PositionEmbedding { get; init; }

    /// <summary>Row 0 of the token-type table ("sentence A"), added to every token; zeros when the file has no table.</summary>
    public required float[] TokenType { get; init; }
    public required float[] EmbeddingNorm { get; init; }
    public required float[] EmbeddingNormBias { get; init; }
    public required IReadOnlyList<BertLayerWeights> Layers { get; init; }

    public static BertWeights Load(GgufFile file, BertConfig c)
    {
        int e = c.EmbeddingLength, f = c.FeedForwardLength;
        if (file.FindTensor("blk.0.attn_qkv.weight") != null)
            throw new TokenFactoryException($"{file.Path}: fused attn_qkv BERT tensors are not supported; convert the model with separate attn_q/attn_k/attn_v.");
        var tokens = TransformerWeights.Matrix(file, "token_embd.weight", e, c.VocabSize > 0 ? c.VocabSize : null, forMultiplication: false);
        var positions = TransformerWeights.Matrix(file, "position_embd.weight", e, null, forMultiplication: false);
        if (positions.Rows < c.ContextLength)
            throw new TokenFactoryException($"{file.Path}: position_embd has {positions.Rows} rows for a context of {c.ContextLength}.");

        var tokenType = new float[e];
        if (file.FindTensor("token_types.weight") is { } types)
        {
            if (types.RowLength != e)
                throw new GgufFormatException(file.Path, -1, $"tensor 'token_types.weight' has shape {types.ShapeText}; expected [{e}, N]");
            new WeightMatrix(file, types, forMultiplication: false).DequantizeRow(0, tokenType);
        }

        var layers = new BertLayerWeights[c.BlockCount];
        for (int l = 0; l < c.BlockCount; l++)
        {
            string p = $"blk.{l}.";
            layers[l] = new BertLayerWeights
            {
                Query = TransformerWeights.Matrix(file, p + "attn_q.weight", e, e),
                Key = TransformerWeights.Matrix(file, p + "attn_k.weight", e, e),
                Value = TransformerWeights.Matrix(file, p + "attn_v.weight", e, e),
                Output = TransformerWeights.Matrix(file, p + "attn_output.weight", e, e),
                QueryBias = Bias(file, p + "attn_q.bias", e),
                KeyBias = Bias(file, p + "attn_k.bias", e),
                ValueBias = Bias(file, p + "attn_v.bias", e),
                OutputBias = Bias(file, p + "attn_output.bias", e),
                AttentionNorm = TransformerWeights.Vector(file, p + "attn_output_norm.weight", e),
                AttentionNormBias = TransformerWeights.Vector(file, p + "attn_output_norm.bias", e),
                Up = TransformerWeights.Matrix(file, p + "ffn_up.weight", e, f),
                UpBias = Bias(file, p + "ffn_up.bias", f),
                Down = TransformerWeights.Matrix(file, p + "ffn_down.weight", f, e),
                DownBias = Bias(file, p + "ffn_down.bias", e),
                OutputNorm = TransformerWeights.Vector(file, p + "layer_output_norm.weight", e),
                OutputNormBias = TransformerWeights.Vector(file, p + "layer_output_norm.bias", e),
            };
        }
        return new BertWeights
        {
            TokenEmbedding = tokens,
            PositionEmbedding = positions,
            TokenType = tokenType,
            EmbeddingNorm = TransformerWeights.Vector(file, "token_embd_norm.weight", e),
            EmbeddingNormBias = TransformerWeights.Vector(file, "token_embd_norm.bias", e),
            Layers = layers,
        };
    }

    private static float[] Bias(GgufFile file, string name, int length) =>
        TransformerWeights.OptionalVector(file, name, length) ?? new float[length];
}
