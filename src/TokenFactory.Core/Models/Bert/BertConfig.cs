using TokenFactory.Gguf;

namespace TokenFactory.Models.Bert;

/// <summary>
/// Hyperparameters of a BERT encoder (<c>general.architecture = bert</c>: BGE, MiniLM, e5, all-MiniLM…) as llama.cpp's
/// converter writes them: <c>bert.*</c> keys, learned absolute positions, post-norm blocks with biases, bidirectional attention.
/// </summary>
public sealed record BertConfig
{
    public const string Architecture = "bert";

    public required int EmbeddingLength { get; init; }
    public required int BlockCount { get; init; }
    public required int HeadCount { get; init; }
    public required int FeedForwardLength { get; init; }

    /// <summary>Positions the file has embeddings for: the longest input it can encode.</summary>
    public required int ContextLength { get; init; }
    public required float LayerNormEpsilon { get; init; }
    public required PoolingType Pooling { get; init; }
    public required int VocabSize { get; init; }

    public int HeadSize => EmbeddingLength / HeadCount;

    /// <param name="poolingOverride">The operator's choice, for files that declare none (or declare one the operator replaces).</param>
    public static BertConfig FromMetadata(GgufMetadata m, PoolingType? poolingOverride = null)
    {
        const string a = Architecture;
        int Req(string key) => m.GetInt32OrNull($"{a}.{key}")
            ?? throw new TokenFactoryException($"{m.Source}: required metadata '{a}.{key}' for architecture 'bert' is missing.");
        int embd = Req("embedding_length"), heads = Req("attention.head_count"), blocks = Req("block_count");
        int ffn = Req("feed_forward_length"), ctx = Req("context_length");
        if (embd <= 0 || heads <= 0 || blocks <= 0 || ffn <= 0 || ctx <= 0 || embd % heads != 0)
            throw new TokenFactoryException($"{m.Source}: inconsistent BERT hyperparameters (embedding {embd}, heads {heads}, blocks {blocks}, ffn {ffn}, context {ctx}).");
        if (blocks > ModelConfig.MaxBlocks) // the layer table is sized by it before any tensor is looked up
            throw new TokenFactoryException($"{m.Source}: '{a}.block_count' = {blocks} is more blocks than any model has (at most {ModelConfig.MaxBlocks}); the header is corrupt.");
        int kvHeads = m.GetInt32OrDefault($"{a}.attention.head_count_kv", heads);
        if (kvHeads != heads)
            throw new TokenFactoryException($"{m.Source}: a BERT encoder with {kvHeads} key/value heads for {heads} query heads is not supported.");
        if (m.GetBoolOrDefault($"{a}.attention.causal", false))
            throw new TokenFactoryException($"{m.Source}: '{a}.attention.causal' is true; a BERT encoder attends both ways.");
        if (!m.ContainsKey($"{a}.attention.layer_norm_epsilon"))
            throw new TokenFactoryException($"{m.Source}: required metadata '{a}.attention.layer_norm_epsilon' is missing.");

        var pooling = poolingOverride ?? PoolingTypes.FromMetadata(m, a)
            ?? throw new TokenFactoryException($"{m.Source}: the file declares no '{a}.pooling_type'; choose one (mean, cls or last) with --pooling.");
        if (pooling is PoolingType.None or PoolingType.Rank)
            throw new TokenFactoryException($"{m.Source}: pooling '{pooling.Name()}' gives no single embedding per input " +
                "(none: one per token; rank: a reranker's score); serve it with --pooling mean, cls or last.");
        return new BertConfig
        {
            EmbeddingLength = embd,
            BlockCount = blocks,
            HeadCount = heads,
            FeedForwardLength = ffn,
            ContextLength = ctx,
            LayerNormEpsilon = m.GetFloat($"{a}.attention.layer_norm_epsilon"),
            Pooling = pooling,
            VocabSize = m.GetArrayOrNull<string>("tokenizer.ggml.tokens")?.Length ?? 0,
        };
    }
}
