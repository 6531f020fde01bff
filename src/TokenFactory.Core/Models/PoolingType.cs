using TokenFactory.Gguf;

namespace TokenFactory.Models;

/// <summary>
/// How a sequence's hidden states become one embedding vector: the <c>{arch}.pooling_type</c> GGUF key, with
/// llama.cpp's numbering (0 none, 1 mean, 2 CLS, 3 last token, 4 rank).
/// </summary>
public enum PoolingType
{
    /// <summary>One vector per token: not one embedding per input, so /v1/embeddings cannot serve it.</summary>
    None = 0,
    /// <summary>The mean of every token's final hidden state (most sentence-transformers BERT models).</summary>
    Mean = 1,
    /// <summary>The first token's ([CLS]) final hidden state (BGE).</summary>
    Cls = 2,
    /// <summary>The last token's final (normed) hidden state: decoder embedding models such as Qwen3-Embedding.</summary>
    Last = 3,
    /// <summary>A reranker's relevance score (a classifier head over CLS): not an embedding.</summary>
    Rank = 4,
}

public static class PoolingTypes
{
    /// <summary>The file's declared pooling, or null when it declares none (a plain generative model).</summary>
    /// <exception cref="TokenFactoryException">The key holds a value outside llama.cpp's numbering.</exception>
    public static PoolingType? FromMetadata(GgufMetadata m, string architecture)
    {
        int? value = m.GetInt32OrNull($"{architecture}.pooling_type");
        if (value is null)
            return null;
        if (value is < 0 or > 4)
            throw new TokenFactoryException($"{m.Source}: '{architecture}.pooling_type' is {value}; known: 0 none, 1 mean, 2 cls, 3 last, 4 rank.");
        return (PoolingType)value.Value;
    }

    /// <summary>Parses an operator's override (<c>mean</c>, <c>cls</c>, <c>last</c>).</summary>
    public static PoolingType Parse(string text) => text.Trim().ToLowerInvariant() switch
    {
        "mean" => PoolingType.Mean,
        "cls" => PoolingType.Cls,
        "last" => PoolingType.Last,
        _ => throw new TokenFactoryException($"Unknown pooling '{text}'. Supported: mean, cls, last."),
    };

    public static string Name(this PoolingType pooling) => pooling.ToString().ToLowerInvariant();
}
