using TokenFactory.Compute;
using TokenFactory.Gguf;

namespace TokenFactory.Models;

public sealed partial class TransformerWeights
{
    /// <summary>
    /// Gemma 4's tensors as llama.cpp's converter names them: per block its own attention shape (sliding or global), no key or
    /// value projections in the shared-KV blocks, an optional value projection (global blocks use their keys), sandwich norms,
    /// GeGLU, the per-layer embedding's gate, projection and norm, and <c>layer_output_scale</c>; the per-layer token table,
    /// its model projection and norm.
    /// </summary>
    private static TransformerWeights LoadGemma4(GgufFile file, ModelConfig c, WeightMatrix embedding, float[] outputNorm, WeightMatrix output,
        bool tied, float[]? ropeFactors)
    {
        int e = c.EmbeddingLength, pl = c.PerLayerEmbeddingLength;
        if (file.FindTensor("blk.0.attn_qkv.weight") != null)
            throw new TokenFactoryException($"{file.Path}: fused 'attn_qkv' projections are not supported for gemma4; convert with separate Q, K and V.");
        var layers = new LayerWeights[c.BlockCount];
        for (int l = 0; l < c.BlockCount; l++)
        {
            string p = $"blk.{l}.";
            var g = c.AttentionOf(l);
            bool ownKv = c.KvSourceBlock(l) == l;
            int ffn = c.FeedForwardLengthOf(l);
            bool experts = c.Moe != null && file.FindTensor(p + "ffn_gate_inp.weight") != null;
            if (experts && file.FindTensor(p + "ffn_gate_inp.scale") == null)
                throw new GgufFormatException(file.Path, -1, $"tensor '{p}ffn_gate_inp.scale' (gemma4's router input scale) is missing");
            layers[l] = new LayerWeights
            {
                AttentionNorm = Vector(file, p + "attn_norm.weight", e),
                Query = Matrix(file, p + "attn_q.weight", e, g.QueryDimension),
                Key = ownKv ? Matrix(file, p + "attn_k.weight", e, g.KvDimension) : default,
                Value = ownKv && file.FindTensor(p + "attn_v.weight") != null ? Matrix(file, p + "attn_v.weight", e, g.KvDimension) : default,
                Output = Matrix(file, p + "attn_output.weight", g.QueryDimension, e),
                QueryNorm = Vector(file, p + "attn_q_norm.weight", g.HeadSize),
                KeyNorm = ownKv ? Vector(file, p + "attn_k_norm.weight", g.HeadSize) : null,
                AttentionPostNorm = Vector(file, p + "post_attention_norm.weight", e),
                FeedForwardNorm = Vector(file, p + "ffn_norm.weight", e),
                Gate = Matrix(file, p + "ffn_gate.weight", e, ffn),
                Up = Matrix(file, p + "ffn_up.weight", e, ffn),
                Down = Matrix(file, p + "ffn_down.weight", ffn, e),
                FeedForwardPostNorm = Vector(file, p + "post_ffw_norm.weight", e),
                PerLayerGate = pl > 0 ? Matrix(file, p + "inp_gate.weight", e, pl) : default,
                PerLayerProjection = pl > 0 ? Matrix(file, p + "proj.weight", pl, e) : default,
                PerLayerPostNorm = pl > 0 ? Vector(file, p + "post_norm.weight", e) : null,
                OutputScale = file.FindTensor(p + "layer_output_scale.weight") != null ? Vector(file, p + "layer_output_scale.weight", 1)[0] : 1f,
                Experts = experts ? LoadExperts(file, c.Moe!, e, p) : null,
                ExpertInputNorm = experts ? Vector(file, p + "pre_ffw_norm_2.weight", e) : null,
                DenseOutputNorm = experts ? Vector(file, p + "post_ffw_norm_1.weight", e) : null,
                ExpertOutputNorm = experts ? Vector(file, p + "post_ffw_norm_2.weight", e) : null,
            };
        }
        return new TransformerWeights(embedding, outputNorm, output, tied, layers, ropeFactors)
        {
            PerLayerTokenEmbedding = pl > 0 ? Matrix(file, "per_layer_token_embd.weight", pl * c.BlockCount, embedding.Rows, forMultiplication: false) : default,
            PerLayerModelProjection = pl > 0 ? Matrix(file, "per_layer_model_proj.weight", e, pl * c.BlockCount) : default,
            PerLayerProjectionNorm = pl > 0 ? Vector(file, "per_layer_proj_norm.weight", pl) : null,
        };
    }
}
