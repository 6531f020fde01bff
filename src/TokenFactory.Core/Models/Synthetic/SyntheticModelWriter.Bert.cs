using TokenFactory.Gguf;
using TokenFactory.Tensors;

namespace TokenFactory.Models.Synthetic;

public static partial class SyntheticModelWriter
{
    /// <summary>
    /// A BERT encoder as llama.cpp's converter writes one: <c>bert.*</c> keys (pooling from the shape), learned position and
    /// token-type tables, biases on every projection, LayerNorm weights and biases. Tables, norms and biases stay F32 (as
    /// llama.cpp's quantizer leaves them); the projections take the requested type. The vocabulary must be WordPiece.
    /// </summary>
    private static GgufWriter BuildBert(ModelShape shape, GgmlType type, GgufMetadata vocabulary, int vocab, ulong seed)
    {
        const string a = "bert";
        if (vocabulary.GetStringOrNull("tokenizer.ggml.model") != "bert")
            throw new TokenFactoryException($"{vocabulary.Source}: a BERT encoder needs a WordPiece vocabulary (tokenizer.ggml.model = bert), such as ggml-vocab-bert-bge.gguf.");
        var w = new GgufWriter();
        var m = w.Metadata;
        int e = shape.EmbeddingLength, f = shape.FeedForwardLength;
        SetGeneral(m, a, shape, type.ToString(), (uint)FileType(type), seed);
        m.Set($"{a}.context_length", GgufValue.Of((uint)shape.ContextLength));
        m.Set($"{a}.embedding_length", GgufValue.Of((uint)e));
        m.Set($"{a}.block_count", GgufValue.Of((uint)shape.BlockCount));
        m.Set($"{a}.feed_forward_length", GgufValue.Of((uint)f));
        m.Set($"{a}.attention.head_count", GgufValue.Of((uint)shape.HeadCount));
        m.Set($"{a}.attention.layer_norm_epsilon", GgufValue.Of(shape.RmsEpsilon));
        m.Set($"{a}.attention.causal", GgufValue.Of(false));
        m.Set($"{a}.pooling_type", GgufValue.Of((uint)shape.EncoderPooling!.Value));
        CopyTokenizer(m, vocabulary);
        if (!m.ContainsKey("tokenizer.ggml.token_type_count"))
            m.Set("tokenizer.ggml.token_type_count", GgufValue.Of(2u));

        var rng = new WeightGenerator(seed);
        AddMatrix(w, "token_embd.weight", e, vocab, type, rng.Next(), 1f);
        AddMatrix(w, "position_embd.weight", e, shape.ContextLength, GgmlType.F32, rng.Next(), 0.5f);
        AddMatrix(w, "token_types.weight", e, 2, GgmlType.F32, rng.Next(), 0.5f);
        AddVector(w, "token_embd_norm.weight", e, rng.Next(), 1f, 0.1f);
        AddVector(w, "token_embd_norm.bias", e, rng.Next(), 0f, 0.1f);
        float inScale = 1f / MathF.Sqrt(e);
        for (int l = 0; l < shape.BlockCount; l++)
        {
            string p = $"blk.{l}.";
            foreach (var name in new[] { "attn_q", "attn_k", "attn_v", "attn_output" })
            {
                // Queries and keys a little larger than 1/sqrt(fan-in), so attention is not uniform.
                AddMatrix(w, p + name + ".weight", e, e, type, rng.Next(), name is "attn_q" or "attn_k" ? 2f * inScale : inScale);
                AddVector(w, p + name + ".bias", e, rng.Next(), 0f, 0.1f);
            }
            AddVector(w, p + "attn_output_norm.weight", e, rng.Next(), 1f, 0.1f);
            AddVector(w, p + "attn_output_norm.bias", e, rng.Next(), 0f, 0.1f);
            AddMatrix(w, p + "ffn_up.weight", e, f, type, rng.Next(), inScale);
            AddVector(w, p + "ffn_up.bias", f, rng.Next(), 0f, 0.1f);
            AddMatrix(w, p + "ffn_down.weight", f, e, type, rng.Next(), 1f / MathF.Sqrt(f));
            AddVector(w, p + "ffn_down.bias", e, rng.Next(), 0f, 0.1f);
            AddVector(w, p + "layer_output_norm.weight", e, rng.Next(), 1f, 0.1f);
            AddVector(w, p + "layer_output_norm.bias", e, rng.Next(), 0f, 0.1f);
        }
        return w;
    }
}
